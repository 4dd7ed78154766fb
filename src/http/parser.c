/*
 * src/http/parser.c - strict HTTP/1.1 request head parser and chunked decoder.
 *
 * The head parser is one forward pass over the buffer that stops at the
 * first byte proving an error, or returns GLY_HTTP_INCOMPLETE when it needs
 * a byte it does not have. Each decision depends only on the bytes before
 * the point where it is made, so a prefix of a request never gets a
 * different error than the whole request (the fuzz target checks this).
 * Limits are windows: the pass never reads at or past max_head bytes, nor
 * past max_request_line bytes while in the request line; needing a byte
 * there is the 431 or 414.
 *
 * When the caller comes back with more bytes (last_len > 0) and the request
 * line was already complete, only the new bytes are searched for the end of
 * the head; the full pass runs again once the head is complete or max_head is
 * passed. So an error in a field line that arrived after the request line is
 * reported when the head completes (or overflows), not at once.
 */
#include <limits.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "http/parser.h"

#define U(c) ((unsigned char)(c))

/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line. */
#define MAX_EMPTY_LINES 4

/* Longest chunk-size line (size and extensions), CRLF excluded. */
#define CHUNK_LINE_MAX 4096

/* tchar (RFC 9110 5.6.2): field names, methods, chunk extensions, codings. */
static const unsigned char tchar[256] = {
    ['!'] = 1,         ['#' ... '\''] = 1, ['*'] = 1,         ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1,  ['^' ... 'z'] = 1, ['|'] = 1, ['~'] = 1,
};

/* Field value bytes: HTAB, SP, VCHAR, obs-text. Everything else ends or breaks a value. */
static const unsigned char vchar[256] = {['\t'] = 1, [0x20 ... 0x7e] = 1, [0x80 ... 0xff] = 1};

/* Request-target bytes: visible ASCII but '#'. */
static const unsigned char tgtchar[256] = {[0x21 ... 0x22] = 1, [0x24 ... 0x7e] = 1};

/* reg-name (RFC 3986): unreserved, sub-delims and '%' (checked for two hex digits after). */
static const unsigned char hostchar[256] = {
    ['!'] = 1, ['$'] = 1,         ['%' ... '.'] = 1, ['0' ... '9'] = 1, [';'] = 1,
    ['='] = 1, ['A' ... 'Z'] = 1, ['_'] = 1,         ['a' ... 'z'] = 1, ['~'] = 1,
};

/* Hex digit value plus one; 0 for other bytes. */
static const unsigned char hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* qdtext (RFC 9110 5.6.4) */
static const unsigned char qdtext[256] = {
    ['\t'] = 1, [' ' ... '!'] = 1, ['#' ... '['] = 1, [']' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static inline bool is_digit(char c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline unsigned char lower(char c)
{
    return (unsigned)(c - 'A') < 26u ? U(c) + 32 : U(c);
}

/* True when p[0..n) equals the lowercase literal lit ignoring ASCII case. */
static bool ieq(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lower(p[i]) != U(lit[i])) {
            return false;
        }
    }
    return true;
}

static int fail(int *status, const char **why, int code, const char *msg)
{
    if (status) {
        *status = code;
    }
    if (why) {
        *why = msg;
    }
    return GLY_HTTP_ERROR;
}

/* Returns the first byte in [p, end) that is not a field value byte, or end. */
static inline const char *scan_value(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i c1f = _mm_set1_epi8(0x1f), c7f = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, c1f), x); /* x <= 0x1f */
        int m = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(x, c7f)));
        if (m == 0) {
            p += 16;
            continue;
        }
        p += __builtin_ctz((unsigned)m);
        if (*p != '\t') {
            return p;
        }
        p++;
    }
#endif
    while (p < end && vchar[U(*p)]) {
        p++;
    }
    return p;
}

/* Returns the first byte in [p, end) that is not a tchar, or end. */
static inline const char *scan_token(const char *p, const char *end)
{
    for (; end - p >= 4; p += 4) {
        if (!tchar[U(p[0])]) {
            return p;
        }
        if (!tchar[U(p[1])]) {
            return p + 1;
        }
        if (!tchar[U(p[2])]) {
            return p + 2;
        }
        if (!tchar[U(p[3])]) {
            return p + 3;
        }
    }
    while (p < end && tchar[U(*p)]) {
        p++;
    }
    return p;
}

/* Returns the first byte in [p, end) that is not a request-target byte, or end. */
static inline const char *scan_target(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i c21 = _mm_set1_epi8(0x21), c7f = _mm_set1_epi8(0x7f), hash = _mm_set1_epi8('#');
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: below 0x21 also catches 0x80..0xff */
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, c21),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, c7f), _mm_cmpeq_epi8(x, hash)));
        int m = _mm_movemask_epi8(bad);
        if (m != 0) {
            return p + __builtin_ctz((unsigned)m);
        }
        p += 16;
    }
#endif
    while (p < end && tgtchar[U(*p)]) {
        p++;
    }
    return p;
}

/* Returns the first "\r\n\r\n" in [p, end), or NULL. */
static const char *find_crlfcrlf(const char *p, const char *end)
{
    if (end - p < 4) {
        return NULL;
    }
    const char *q = p + 3; /* where the LF that ends one can be */
#ifdef __SSE2__
    const __m128i lf = _mm_set1_epi8('\n');
    for (; end - q >= 16; q += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, lf));
        for (; m != 0; m &= m - 1) {
            const char *e = q + __builtin_ctz(m);
            if (e[-1] == '\r' && e[-2] == '\n' && e[-3] == '\r') {
                return e - 3;
            }
        }
    }
#endif
    while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        if (q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r') {
            return q - 3;
        }
        q++;
    }
    return NULL;
}

int gly_http_method_lookup(const char *p, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(p, "GET", 3) == 0) {
            return GLY_GET;
        }
        if (memcmp(p, "PUT", 3) == 0) {
            return GLY_PUT;
        }
        break;
    case 4:
        if (memcmp(p, "POST", 4) == 0) {
            return GLY_POST;
        }
        if (memcmp(p, "HEAD", 4) == 0) {
            return GLY_HEAD;
        }
        break;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0) {
            return GLY_PATCH;
        }
        if (memcmp(p, "TRACE", 5) == 0) {
            return GLY_TRACE;
        }
        break;
    case 6:
        if (memcmp(p, "DELETE", 6) == 0) {
            return GLY_DELETE;
        }
        break;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0) {
            return GLY_OPTIONS;
        }
        if (memcmp(p, "CONNECT", 7) == 0) {
            return GLY_CONNECT;
        }
        break;
    }
    return GLY_METHOD_UNKNOWN;
}

/*
 * Checks uri-host [":" port] (RFC 3986 3.2.2, without userinfo). need_host:
 * the host may not be empty; need_port: ":" 1*DIGIT must follow. Returns
 * true when valid.
 */
static bool check_authority(const char *p, size_t n, bool need_host, bool need_port)
{
    const char *e = p + n, *q = p;

    if (q < e && *q == '[') {
        /* IP-literal: IPv6 or IPvFuture; the characters of both, not the grammar */
        for (q++; q < e && *q != ']'; q++) {
            if (!hostchar[U(*q)] && *q != ':') {
                return false;
            }
        }
        if (q == e || q == p + 1) {
            return false;
        }
        q++;
    } else {
        for (; q < e && hostchar[U(*q)]; q++) {
            if (*q == '%' && (e - q < 3 || !hexval[U(q[1])] || !hexval[U(q[2])])) {
                return false;
            }
        }
    }
    if (need_host && q == p) {
        return false;
    }
    if (q == e) {
        return !need_port;
    }
    if (*q != ':') {
        return false;
    }
    const char *port = ++q;
    while (q < e && is_digit(*q)) {
        q++;
    }
    return q == e && (!need_port || q > port);
}

/* Splits path[?query] at the first '?'. */
static void split_query(struct gly_http_head *h, const char *p, const char *e)
{
    const char *qm = memchr(p, '?', (size_t)(e - p));
    if (qm == NULL) {
        h->path = (gly_str){p, (size_t)(e - p)};
        h->query = GLY_STR_NULL;
    } else {
        h->path = (gly_str){p, (size_t)(qm - p)};
        h->query = (gly_str){qm + 1, (size_t)(e - qm - 1)};
    }
}

/* Classifies the request-target t[0..n) and fills path and query. Returns NULL or a reason. */
static const char *check_target(struct gly_http_head *h, const char *t, size_t n)
{
    const char *e = t + n;

    h->target = (gly_str){t, n};
    if (h->method_id == GLY_CONNECT) {
        /* authority-form, and only that (RFC 9112 3.2.3) */
        if (!check_authority(t, n, true, true)) {
            return "CONNECT needs host:port as target";
        }
        h->path = h->target;
        h->query = GLY_STR_NULL;
        return NULL;
    }
    if (*t == '/') {
        split_query(h, t, e);
        return NULL;
    }
    if (*t == '*') {
        if (n != 1 || h->method_id != GLY_OPTIONS) {
            return n == 1 ? "'*' target is only for OPTIONS" : "invalid request-target";
        }
        h->path = h->target;
        h->query = GLY_STR_NULL;
        return NULL;
    }

    /* absolute-form (RFC 9112 3.2.2), http and https only */
    const char *a;
    if (n >= 7 && ieq(t, "http://", 7)) {
        a = t + 7;
    } else if (n >= 8 && ieq(t, "https://", 8)) {
        a = t + 8;
    } else {
        return "invalid request-target";
    }
    const char *ae = a;
    while (ae < e && *ae != '/' && *ae != '?') {
        ae++;
    }
    /* RFC 9110 4.2.1: an empty host is invalid; 4.2.4: userinfo ('@') is treated as an error */
    if (!check_authority(a, (size_t)(ae - a), true, false)) {
        return "invalid authority in request-target";
    }
    if (ae < e && *ae == '/') {
        split_query(h, ae, e);
        return NULL;
    }
    /* empty path: "/", or "*" for OPTIONS (RFC 9112 3.2.4) */
    h->path = h->method_id == GLY_OPTIONS ? GLY_STR("*") : GLY_STR("/");
    h->query = ae < e ? (gly_str){ae + 1, (size_t)(e - ae - 1)} : GLY_STR_NULL;
    return NULL;
}

/*
 * Parses a Content-Length value: 1*DIGIT, or a list of identical values
 * ("5, 5"). Returns 0 with *v set, or a reason.
 */
static const char *parse_length(const char *p, size_t n, uint64_t *v)
{
    const char *e = p + n;
    bool have = false;

    for (;;) {
        if (p == e || !is_digit(*p)) {
            return "invalid Content-Length";
        }
        uint64_t x = 0;
        do {
            unsigned d = (unsigned)(*p++ - '0');
            if (x > ((uint64_t)INT64_MAX - d) / 10) {
                return "Content-Length too large";
            }
            x = x * 10 + d;
        } while (p < e && is_digit(*p));
        if (have && x != *v) {
            return "differing Content-Length values";
        }
        *v = x;
        have = true;
        while (p < e && is_ws(*p)) {
            p++;
        }
        if (p == e) {
            return NULL;
        }
        if (*p++ != ',') {
            return "invalid Content-Length";
        }
        while (p < e && is_ws(*p)) {
            p++;
        }
    }
}

struct te_state {
    unsigned chunked; /* times "chunked" was listed */
    bool last_chunked;
    bool other; /* a coding other than chunked */
};

/* Returns p past OWS in [p, e). */
static inline const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p)) {
        p++;
    }
    return p;
}

/* Returns p past a token in [p, e) (p itself when there is none). */
static inline const char *skip_token(const char *p, const char *e)
{
    while (p < e && tchar[U(*p)]) {
        p++;
    }
    return p;
}

/* Returns p past a quoted-string starting at p (*p == '"'), or NULL when invalid. */
static const char *skip_quoted(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '"') {
            return p + 1;
        }
        if (*p == '\\') {
            if (++p == e || !(vchar[U(*p)])) {
                return NULL;
            }
        } else if (!qdtext[U(*p)]) {
            return NULL;
        }
    }
    return NULL;
}

/*
 * Adds the codings of one Transfer-Encoding field value (RFC 9112 6.1:
 * #transfer-coding, each a token with optional ;name=value parameters).
 * Empty list elements are ignored (RFC 9110 5.6.1). Returns NULL or a reason.
 */
static const char *parse_te(const char *p, size_t n, struct te_state *te)
{
    const char *e = p + n;

    for (;;) {
        while (p < e && (is_ws(*p) || *p == ',')) {
            p++;
        }
        if (p == e) {
            return NULL;
        }
        const char *c = p;
        p = skip_token(p, e);
        if (p == c) {
            return "invalid Transfer-Encoding";
        }
        bool chunked = p - c == 7 && ieq(c, "chunked", 7);
        bool params = false;
        for (;;) {
            p = skip_ws(p, e);
            if (p == e || *p != ';') {
                break;
            }
            params = true;
            p = skip_ws(p + 1, e);
            const char *nm = p;
            p = skip_token(p, e);
            if (p == nm || p == e || *p != '=') {
                return "invalid Transfer-Encoding";
            }
            p++;
            if (p < e && *p == '"') {
                p = skip_quoted(p, e);
                if (p == NULL) {
                    return "invalid Transfer-Encoding";
                }
            } else {
                const char *v = p;
                p = skip_token(p, e);
                if (p == v) {
                    return "invalid Transfer-Encoding";
                }
            }
        }
        if (p < e && *p != ',') {
            return "invalid Transfer-Encoding";
        }
        if (chunked && params) {
            return "chunked takes no parameters";
        }
        te->chunked += chunked;
        te->last_chunked = chunked;
        te->other |= !chunked;
    }
}

enum { CONN_CLOSE = 1, CONN_KEEP_ALIVE = 2, CONN_UPGRADE = 4 };

/* Adds the options of one Connection field value (#token) to *opts. Returns NULL or a reason. */
static const char *parse_connection(const char *p, size_t n, unsigned *opts)
{
    const char *e = p + n;

    for (;;) {
        while (p < e && (is_ws(*p) || *p == ',')) {
            p++;
        }
        if (p == e) {
            return NULL;
        }
        const char *t = p;
        p = skip_token(p, e);
        size_t len = (size_t)(p - t);
        if (len == 0) {
            return "invalid Connection";
        }
        if (len == 5 && ieq(t, "close", 5)) {
            *opts |= CONN_CLOSE;
        } else if (len == 10 && ieq(t, "keep-alive", 10)) {
            *opts |= CONN_KEEP_ALIVE;
        } else if (len == 7 && ieq(t, "upgrade", 7)) {
            *opts |= CONN_UPGRADE;
        }
        p = skip_ws(p, e);
        if (p < e && *p != ',') {
            return "invalid Connection";
        }
    }
}

/* What the fields seen so far said about framing and the connection. */
struct fields {
    unsigned hosts;
    unsigned te_fields;
    unsigned conn; /* CONN_* */
    bool upgrade;
    struct te_state te;
};

/* Applies the semantics of one field. Returns 0 or an error. */
static int field_semantics(struct gly_http_head *h, struct fields *f, const char *name, size_t nlen,
                           const char *v, size_t vlen, int *status, const char **why)
{
    const char *err = NULL;

    switch (nlen) {
    case 4:
        if (ieq(name, "host", 4)) {
            if (++f->hosts > 1) {
                return fail(status, why, 400, "more than one Host");
            }
            if (!check_authority(v, vlen, false, false)) {
                return fail(status, why, 400, "invalid Host");
            }
            h->host = (gly_str){v, vlen};
        }
        break;
    case 6:
        if (ieq(name, "expect", 6) && vlen == 12 && ieq(v, "100-continue", 12)) {
            h->flags |= GLY_HTTP_EXPECT_CONTINUE;
        }
        break;
    case 7:
        if (ieq(name, "upgrade", 7)) {
            f->upgrade = true;
        }
        break;
    case 10:
        if (ieq(name, "connection", 10)) {
            err = parse_connection(v, vlen, &f->conn);
        }
        break;
    case 14:
        if (ieq(name, "content-length", 14)) {
            uint64_t n = h->content_length;
            err = parse_length(v, vlen, &n);
            if (err == NULL && (h->flags & GLY_HTTP_HAS_LENGTH) && n != h->content_length) {
                err = "differing Content-Length values";
            }
            h->content_length = n;
            h->flags |= GLY_HTTP_HAS_LENGTH;
        }
        break;
    case 17:
        if (ieq(name, "transfer-encoding", 17)) {
            f->te_fields++;
            err = parse_te(v, vlen, &f->te);
        }
        break;
    }
    return err ? fail(status, why, 400, err) : 0;
}

/* The checks that need the whole head. Returns 0 or an error. */
static int head_semantics(struct gly_http_head *h, const struct fields *f, int *status,
                          const char **why)
{
    if (h->minor_version == 1 && f->hosts == 0) {
        return fail(status, why, 400, "missing Host");
    }
    if (f->te_fields) {
        if (h->minor_version == 0) {
            return fail(status, why, 400, "Transfer-Encoding in an HTTP/1.0 request");
        }
        if (h->flags & GLY_HTTP_HAS_LENGTH) {
            return fail(status, why, 400, "both Content-Length and Transfer-Encoding");
        }
        if (f->te.chunked > 1) {
            return fail(status, why, 400, "chunked listed more than once");
        }
        /* RFC 9112 6.3: chunked not final makes the length unknowable: 400 */
        if (!f->te.last_chunked) {
            return fail(status, why, 400, "chunked is not the final transfer coding");
        }
        if (f->te.other) {
            return fail(status, why, 501, "transfer coding not implemented");
        }
        h->flags |= GLY_HTTP_CHUNKED;
    }
    if (h->minor_version == 1 ? !(f->conn & CONN_CLOSE)
                              : (f->conn & (CONN_KEEP_ALIVE | CONN_CLOSE)) == CONN_KEEP_ALIVE) {
        h->flags |= GLY_HTTP_KEEP_ALIVE;
    }
    if (h->minor_version == 0) {
        /* RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored */
        h->flags &= ~(unsigned)GLY_HTTP_EXPECT_CONTINUE;
    }
    if ((f->conn & CONN_UPGRADE) && f->upgrade) {
        h->flags |= GLY_HTTP_UPGRADE;
    }
    return 0;
}

static size_t head_limit(const struct gly_http_limits *lim)
{
    return lim->max_head < (size_t)INT_MAX ? lim->max_head : (size_t)INT_MAX;
}

/* The full pass: see the comment at the top. */
static int parse_head(const char *buf, size_t len, const struct gly_http_limits *lim,
                      struct gly_http_head *h, int *status, const char **why)
{
    const char *p = buf, *end = buf + len;
    const char *hend = len > head_limit(lim) ? buf + head_limit(lim) : end; /* never read here */
    unsigned maxn =
        lim->max_headers < GLY_HTTP_MAX_HEADERS ? lim->max_headers : GLY_HTTP_MAX_HEADERS;
    struct fields f = {0};
    const char *err;

    for (unsigned empty = 0;; empty++) {
        if (p == hend) {
            goto starved;
        }
        if (*p == '\n') {
            return fail(status, why, 400, "bare LF");
        }
        if (*p != '\r') {
            break;
        }
        if (++p == hend) {
            goto starved;
        }
        if (*p++ != '\n') {
            return fail(status, why, 400, "bare CR");
        }
        if (empty == MAX_EMPTY_LINES) {
            return fail(status, why, 400, "too many empty lines before the request line");
        }
    }

    /* request line: method SP request-target SP HTTP-version CRLF */
    const char *rl = p;
    const char *rlim =
        (size_t)(hend - p) > lim->max_request_line ? p + lim->max_request_line : hend;
    while (p < rlim && tchar[U(*p)]) {
        p++;
    }
    if (p == rlim) {
        goto rl_starved;
    }
    if (*p != ' ') {
        return fail(status, why, 400,
                    *p == '\r' || *p == '\n' ? "malformed request line"
                                             : "invalid character in method");
    }
    if (p == rl) {
        return fail(status, why, 400, "empty method");
    }
    h->method = (gly_str){rl, (size_t)(p - rl)};
    h->method_id = gly_http_method_lookup(rl, (size_t)(p - rl));
    if (h->method_id == GLY_METHOD_UNKNOWN) {
        return fail(status, why, 501, "unknown method");
    }

    const char *t = ++p;
    p = scan_target(p, rlim);
    if (p == rlim) {
        goto rl_starved;
    }
    if (*p != ' ' || p == t) {
        return fail(status, why, 400,
                    *p == '\r' || *p == '\n' ? "malformed request line" : "invalid request-target");
    }
    if ((err = check_target(h, t, (size_t)(p - t))) != NULL) {
        return fail(status, why, 400, err);
    }

    const char *v = ++p;
    for (int i = 0; i < 8; i++, p++) {
        if (p == rlim) {
            goto rl_starved;
        }
        if (i < 5 ? *p != "HTTP/"[i] : i == 6 ? *p != '.' : !is_digit(*p)) {
            return fail(status, why, 400, "invalid HTTP version");
        }
    }
    /* the CR may sit right at the request line limit: hend is the window now */
    if (p == hend) {
        goto starved;
    }
    if (*p != '\r') {
        return fail(status, why, 400, "invalid HTTP version");
    }
    if (++p == hend) {
        goto starved;
    }
    if (*p++ != '\n') {
        return fail(status, why, 400, "bare CR");
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        return fail(status, why, 505, "HTTP version not supported");
    }
    h->minor_version = v[7] - '0';
    h->host = GLY_STR_NULL;
    h->content_length = 0;
    h->flags = 0;
    h->nheaders = 0;

    /* field lines, then the empty line */
    for (;;) {
        if (p == hend) {
            goto starved;
        }
        if (*p == '\r') {
            if (++p == hend) {
                goto starved;
            }
            if (*p++ != '\n') {
                return fail(status, why, 400, "bare CR");
            }
            break;
        }
        if (*p == '\n') {
            return fail(status, why, 400, "bare LF");
        }
        if (is_ws(*p)) {
            return fail(status, why, 400, "obsolete line folding");
        }
        if (h->nheaders == maxn) {
            return fail(status, why, 431, "too many header fields");
        }
        const char *name = p;
        p = scan_token(p, hend);
        if (p == hend) {
            goto starved;
        }
        if (*p != ':') {
            return fail(status, why, 400,
                        is_ws(*p) ? "whitespace before colon" : "invalid field name");
        }
        if (p == name) {
            return fail(status, why, 400, "empty field name");
        }
        size_t nlen = (size_t)(p - name);
        p = skip_ws(p + 1, hend);
        const char *val = p;
        p = scan_value(p, hend);
        if (p == hend) {
            goto starved;
        }
        if (*p != '\r') {
            return fail(status, why, 400,
                        *p == '\n' ? "bare LF" : "control character in field value");
        }
        if (p + 1 == hend) {
            p++;
            goto starved;
        }
        if (p[1] != '\n') {
            return fail(status, why, 400, "bare CR");
        }
        const char *ve = p;
        while (ve > val && is_ws(ve[-1])) {
            ve--;
        }
        p += 2;
        struct gly_http_header *hd = &h->headers[h->nheaders++];
        hd->name = (gly_str){name, nlen};
        hd->value = (gly_str){val, (size_t)(ve - val)};
        if (field_semantics(h, &f, name, nlen, val, hd->value.n, status, why) != 0) {
            return GLY_HTTP_ERROR;
        }
    }
    if (head_semantics(h, &f, status, why) != 0) {
        return GLY_HTTP_ERROR;
    }
    return (int)(p - buf);

rl_starved:
    /* needed the byte at p, past the request line window */
    if (p == end) {
        return GLY_HTTP_INCOMPLETE;
    }
    if ((size_t)(p - rl) >= lim->max_request_line) {
        return fail(status, why, 414, "request line too long");
    }
starved:
    if (p == end) {
        return GLY_HTTP_INCOMPLETE;
    }
    return fail(status, why, 431, "request head too large");
}

/*
 * True when the request line may have changed since the previous call saw
 * buf[0..last_len): its CR (the first CR after the empty lines the full pass
 * skips) is missing or was not followed by a byte then. Such a line is parsed
 * again, so a bad method or a line past max_request_line is reported at once;
 * a complete line was parsed by the call that first saw its CRLF.
 */
static bool request_line_open(const char *buf, size_t len, size_t last_len)
{
    size_t s = 0;
    for (int i = 0; i < MAX_EMPTY_LINES && len - s >= 2 && buf[s] == '\r' && buf[s + 1] == '\n';
         i++) {
        s += 2;
    }
    const char *cr = memchr(buf + s, '\r', len - s);
    return cr == NULL || (size_t)(cr - buf) + 1 >= last_len;
}

int gly_http_parse_head(const char *buf, size_t len, size_t last_len,
                        const struct gly_http_limits *lim, struct gly_http_head *h, int *status,
                        const char **why)
{
    if (last_len > 0 && last_len <= len && len <= head_limit(lim)) {
        /* the bytes before last_len - 3 cannot start the final CRLFCRLF */
        size_t from = last_len > 3 ? last_len - 3 : 0;
        if (find_crlfcrlf(buf + from, buf + len) == NULL &&
            !request_line_open(buf, len, last_len)) {
            return GLY_HTTP_INCOMPLETE;
        }
    }
    return parse_head(buf, len, lim, h, status, why);
}

/* ------------------------------------------------------------------------ */
/* Chunked decoder                                                          */
/* ------------------------------------------------------------------------ */

enum {
    CH_SIZE = 0,      /* at a chunk-size line */
    CH_DATA,          /* left bytes of chunk data to go */
    CH_DATA_CRLF,     /* the CRLF after chunk data */
    CH_TRAILER,       /* in the name of a trailer line, left bytes checked (0: line start) */
    CH_TRAILER_VALUE, /* in the value of a trailer line, left bytes checked */
    CH_DONE,
    CH_FAILED,
};

/*
 * Parses the chunk-size line at [s, end) (RFC 9112 7.1, 7.1.1):
 * chunk-size *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF.
 * Returns the line length with CRLF, 0 when more bytes are needed, or -1 with
 * *why set.
 */
static long size_line(const char *s, const char *end, uint64_t *size, const char **why)
{
    /*
     * The scan never reads at w. A line that ends in time (its CR within the
     * first CHUNK_LINE_MAX + 1 bytes) stops at that CR; otherwise the window
     * ends after CHUNK_LINE_MAX bytes and needing one more is the error.
     */
    size_t avail = (size_t)(end - s);
    const char *w = end;
    if (avail > CHUNK_LINE_MAX) {
        w = s + CHUNK_LINE_MAX + (memchr(s, '\r', CHUNK_LINE_MAX + 1) != NULL);
    }
    const char *q = s, *b;
    uint64_t v = 0;
    int digits = 0;

    for (; q < w && hexval[U(*q)]; q++) {
        if (v != 0 || *q != '0') {
            if (++digits > 16) {
                *why = "chunk size too large";
                return -1;
            }
        }
        v = v << 4 | (uint64_t)(hexval[U(*q)] - 1);
    }
    if (q == w) {
        goto starved;
    }
    if (q == s) {
        *why = "invalid chunk size";
        return -1;
    }
    for (;;) {
        b = q;
        q = skip_ws(q, w);
        if (q == w) {
            goto starved;
        }
        if (*q == '\r') {
            if (q != b) {
                *why = "whitespace before CRLF in chunk-size line";
                return -1;
            }
            break;
        }
        if (*q != ';') {
            *why = *q == '\n' ? "bare LF" : "invalid chunk extension";
            return -1;
        }
        q = skip_ws(q + 1, w);
        b = q;
        q = skip_token(q, w);
        if (q == w) {
            goto starved;
        }
        if (q == b) {
            *why = "invalid chunk extension";
            return -1;
        }
        b = q;
        q = skip_ws(q, w);
        if (q == w) {
            goto starved;
        }
        if (*q != '=') {
            q = b; /* the loop head judges the whitespace */
            continue;
        }
        q = skip_ws(q + 1, w);
        if (q == w) {
            goto starved;
        }
        if (*q == '"') {
            for (q++;; q++) {
                if (q == w) {
                    goto starved;
                }
                if (*q == '"') {
                    q++;
                    break;
                }
                if (*q == '\\') {
                    if (++q == w) {
                        goto starved;
                    }
                    if (!vchar[U(*q)]) {
                        *why = "invalid chunk extension";
                        return -1;
                    }
                } else if (!qdtext[U(*q)]) {
                    *why = "invalid chunk extension";
                    return -1;
                }
            }
        } else {
            b = q;
            q = skip_token(q, w);
            if (q == w) {
                goto starved;
            }
            if (q == b) {
                *why = "invalid chunk extension";
                return -1;
            }
        }
    }
    if (q + 1 == end) {
        return 0;
    }
    if (q[1] != '\n') {
        *why = "bare CR";
        return -1;
    }
    *size = v;
    return (long)(q + 2 - s);

starved:
    if (q == end) {
        return 0;
    }
    *why = "chunk-size line too long";
    return -1;
}

int gly_http_chunked_decode(struct gly_http_chunked *d, char *dst, size_t *dst_len, const char *src,
                            size_t *src_len, uint64_t max_body, const struct gly_http_limits *lim,
                            int *status, const char **why)
{
    const char *p = src, *end = src + *src_len;
    char *out = dst;
    const char *msg = NULL;
    int code = 400, ret = 0;

    for (;;) {
        switch (d->state) {
        case CH_SIZE: {
            uint64_t size = 0;
            long n = size_line(p, end, &size, &msg);
            if (n == 0) {
                goto done;
            }
            if (n < 0) {
                goto failed;
            }
            if (size > max_body - d->total) {
                code = 413;
                msg = "body too large";
                goto failed;
            }
            p += n;
            d->left = size;
            d->state = size ? CH_DATA : CH_TRAILER;
            break;
        }
        case CH_DATA: {
            size_t n = (size_t)(end - p);
            if (n == 0) {
                goto done;
            }
            if (n > d->left) {
                n = (size_t)d->left;
            }
            memmove(out, p, n);
            out += n;
            p += n;
            d->left -= n;
            d->total += n;
            if (d->left == 0) {
                d->state = CH_DATA_CRLF;
            }
            break;
        }
        case CH_DATA_CRLF:
            if (p == end) {
                goto done;
            }
            if (*p != '\r') {
                msg = "missing CRLF after chunk data";
                goto failed;
            }
            if (p + 1 == end) {
                goto done;
            }
            if (p[1] != '\n') {
                msg = "missing CRLF after chunk data";
                goto failed;
            }
            p += 2;
            d->state = CH_SIZE;
            break;
        case CH_TRAILER:
        case CH_TRAILER_VALUE: {
            size_t avail = (size_t)(end - p);
            size_t room = lim->max_head -
                          (d->trailer_bytes < lim->max_head ? d->trailer_bytes : lim->max_head);
            const char *w = p + (avail < room ? avail : room); /* never read at w */
            const char *q;

            if (d->left > avail) { /* the caller did not hand the pending line back: rescan */
                d->left = 0;
                d->state = CH_TRAILER;
            }
            q = p + d->left;
            if (d->left == 0) {
                if (q == w) {
                    goto trailer_starved;
                }
                if (*q == '\r') {
                    if (q + 1 == w) {
                        goto trailer_starved;
                    }
                    if (q[1] != '\n') {
                        msg = "bare CR";
                        goto failed;
                    }
                    d->trailer_bytes += 2;
                    p += 2;
                    d->state = CH_DONE;
                    break;
                }
                if (*q == '\n') {
                    msg = "bare LF";
                    goto failed;
                }
                if (is_ws(*q)) {
                    msg = "obsolete line folding";
                    goto failed;
                }
                if (d->trailers >= lim->max_headers) {
                    code = 431;
                    msg = "too many trailer fields";
                    goto failed;
                }
            }
            if (d->state == CH_TRAILER) {
                const char *name = p;
                q = skip_token(q, w);
                if (q == w) {
                    goto trailer_starved;
                }
                if (*q != ':') {
                    msg = is_ws(*q) ? "whitespace before colon" : "invalid field name";
                    goto failed;
                }
                if (q == name) {
                    msg = "empty field name";
                    goto failed;
                }
                q++;
                d->state = CH_TRAILER_VALUE;
            }
            q = scan_value(q, w);
            if (q == w || (*q == '\r' && q + 1 == w)) {
                goto trailer_starved;
            }
            if (*q != '\r') {
                msg = *q == '\n' ? "bare LF" : "control character in field value";
                goto failed;
            }
            if (q[1] != '\n') {
                msg = "bare CR";
                goto failed;
            }
            q += 2;
            d->trailer_bytes += (size_t)(q - p);
            d->trailers++;
            d->left = 0;
            d->state = CH_TRAILER;
            p = q;
            break;

        trailer_starved:
            if (w == end) {
                d->left = (uint64_t)(q - p);
                goto done;
            }
            code = 431;
            msg = "trailer section too large";
            goto failed;
        }
        case CH_DONE:
            ret = 1;
            goto done;
        default:
            msg = "chunked decoder called after an error";
            goto failed;
        }
    }

failed:
    d->state = CH_FAILED;
    ret = fail(status, why, code, msg);
done:
    *src_len = (size_t)(p - src);
    *dst_len = (size_t)(out - dst);
    return ret;
}
