/*
 * src/json/validate.c - declarative validation of JSON documents and request
 * parameters, the 400/422 problem answers, and the JSON Schema output.
 *
 * Patterns are compiled with PCRE2 (UTF mode) on first use and cached per
 * thread: schemas are static const data, so the compiled code cannot live in
 * them, and a per-thread cache needs no lock on the request path.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <inttypes.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/validate.h>

/* ------------------------------------------------------------------------ */
/* Error list                                                               */
/* ------------------------------------------------------------------------ */

void gly_verrors_init(gly_verrors *errs, gly_arena *arena)
{
    memset(errs, 0, sizeof *errs);
    errs->arena = arena;
}

int gly_verrors_add(gly_verrors *errs, const char *field, const char *code, const char *fmt, ...)
{
    if (errs->err) {
        return errs->err;
    }
    errs->total++;
    if (errs->count >= GLY_VERRORS_MAX) {
        return 0;
    }
    if (errs->count == errs->cap) {
        size_t ncap = errs->cap ? errs->cap * 2 : 8;
        gly_verror *n =
            gly_arena_realloc(errs->arena, errs->items, errs->cap * sizeof *n, ncap * sizeof *n);
        if (n == NULL) {
            errs->err = GLY_ENOMEM;
            return errs->err;
        }
        errs->items = n;
        errs->cap = ncap;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gly_verror *e = &errs->items[errs->count];
    e->field = gly_arena_strdup(errs->arena, field ? field : "");
    e->message = gly_arena_strdup(errs->arena, msg);
    e->code = code;
    if (e->field == NULL || e->message == NULL) {
        errs->err = GLY_ENOMEM;
        return errs->err;
    }
    errs->count++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Pattern cache                                                            */
/* ------------------------------------------------------------------------ */

#define RX_SLOTS 32

struct rx_slot {
    const char *key; /* the schema's pattern pointer */
    char *text;      /* a copy, so a reused pointer with other text misses */
    pcre2_code *code;
};

struct rx_cache {
    struct rx_slot slot[RX_SLOTS];
    unsigned next; /* round-robin victim when full */
    pcre2_match_data *md;
};

static _Thread_local struct rx_cache *rx_tls;
static pthread_key_t rx_key;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

static void rx_slot_clear(struct rx_slot *s)
{
    pcre2_code_free(s->code);
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* Frees a thread's cache when the thread exits (the main thread's stays reachable via rx_tls). */
static void rx_cache_free(void *p)
{
    struct rx_cache *c = p;
    for (unsigned i = 0; i < RX_SLOTS; i++) {
        rx_slot_clear(&c->slot[i]);
    }
    pcre2_match_data_free(c->md);
    free(c);
    rx_tls = NULL;
}

static void rx_key_create(void)
{
    (void)pthread_key_create(&rx_key, rx_cache_free);
}

static struct rx_cache *rx_cache_get(void)
{
    if (rx_tls) {
        return rx_tls;
    }
    pthread_once(&rx_once, rx_key_create);
    struct rx_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->md = pcre2_match_data_create(1, NULL);
    if (c->md == NULL) {
        free(c);
        return NULL;
    }
    (void)pthread_setspecific(rx_key, c);
    rx_tls = c;
    return c;
}

/*
 * Returns 1 when s matches pattern, 0 when it does not (invalid UTF-8 or a
 * match limit included), GLY_EINVAL when the pattern does not compile,
 * GLY_ENOMEM.
 */
static int rx_match(const char *pattern, gly_str s)
{
    struct rx_cache *c = rx_cache_get();
    if (c == NULL) {
        return GLY_ENOMEM;
    }
    struct rx_slot *hit = NULL;
    for (unsigned i = 0; i < RX_SLOTS; i++) {
        struct rx_slot *sl = &c->slot[i];
        if (sl->key == pattern && strcmp(sl->text, pattern) == 0) {
            hit = sl;
            break;
        }
    }
    if (hit == NULL) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *code =
            pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
        if (code == NULL) {
            return ec == PCRE2_ERROR_NOMEMORY ? GLY_ENOMEM : GLY_EINVAL;
        }
        char *text = strdup(pattern);
        if (text == NULL) {
            pcre2_code_free(code);
            return GLY_ENOMEM;
        }
        hit = &c->slot[c->next];
        c->next = (c->next + 1) % RX_SLOTS;
        rx_slot_clear(hit);
        hit->key = pattern;
        hit->text = text;
        hit->code = code;
    }
    int rc = pcre2_match(hit->code, (PCRE2_SPTR)(s.p ? s.p : ""), s.n, 0, 0, c->md, NULL);
    if (rc == PCRE2_ERROR_NOMEMORY) {
        return GLY_ENOMEM;
    }
    return rc >= 0;
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */
/* ------------------------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Returns the value of n decimal digits at p, or -1 when one is not a digit. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    return m == 2 && leap ? 29 : days[m - 1];
}

/* RFC 3339 full-date at p[0..10). */
static bool full_date(const char *p)
{
    int y = digits(p, 4), m = digits(p + 5, 2), d = digits(p + 8, 2);
    if (y < 0 || p[4] != '-' || p[7] != '-' || m < 1 || m > 12 || d < 1) {
        return false;
    }
    return d <= days_in_month(y, m);
}

static bool fmt_date(gly_str s)
{
    return s.n == 10 && full_date(s.p);
}

static bool fmt_date_time(gly_str s)
{
    const char *p = s.p;
    if (s.n < 20 || !full_date(p) || (p[10] != 'T' && p[10] != 't')) {
        return false;
    }
    int hh = digits(p + 11, 2), mm = digits(p + 14, 2), ss = digits(p + 17, 2);
    if (hh < 0 || hh > 23 || p[13] != ':' || mm < 0 || mm > 59 || p[16] != ':' || ss < 0 ||
        ss > 60) {
        return false;
    }
    size_t i = 19;
    if (p[i] == '.') {
        size_t start = ++i;
        while (i < s.n && is_digit(p[i])) {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    int off = 0; /* minutes east of UTC */
    if (i < s.n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 == s.n && (p[i] == '+' || p[i] == '-')) {
        int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || oh > 23 || p[i + 3] != ':' || om < 0 || om > 59) {
            return false;
        }
        off = (oh * 60 + om) * (p[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != s.n) {
        return false;
    }
    if (ss == 60) {
        /* a leap second happens at 23:59:60 UTC */
        int utc = ((hh * 60 + mm - off) % 1440 + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

static bool fmt_uuid(gly_str s)
{
    if (s.n != 36) {
        return false;
    }
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s.p[i] != '-' : !is_hex(s.p[i])) {
            return false;
        }
    }
    return true;
}

/* A DNS name of labels of 1..63 letters, digits and inner hyphens; at least two labels. */
static bool domain_name(const char *p, size_t n)
{
    size_t label = 0, labels = 1;
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '.') {
            if (label == 0 || p[i - 1] == '-') {
                return false;
            }
            label = 0;
            labels++;
        } else if (is_alpha(c) || is_digit(c) || c == '-') {
            if (label == 0 && c == '-') {
                return false;
            }
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0 && p[n - 1] != '-' && labels >= 2;
}

static bool fmt_email(gly_str s)
{
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    const char *at = s.n ? memchr(s.p, '@', s.n) : NULL;
    if (at == NULL || s.n > 254) {
        return false;
    }
    size_t ln = (size_t)(at - s.p);
    if (ln == 0 || ln > 64 || s.p[0] == '.' || s.p[ln - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < ln; i++) {
        char c = s.p[i];
        if (c == '.' ? s.p[i + 1] == '.' : !(is_alpha(c) || is_digit(c) || strchr(atext, c))) {
            return false;
        }
    }
    return domain_name(at + 1, s.n - ln - 1);
}

static bool url_char(char c)
{
    return c > 0x20 && c < 0x7f && !strchr("<>\"\\^`{|}", c);
}

static bool fmt_url(gly_str s)
{
    size_t i;
    if (s.n >= 7 && gly_str_ieq((gly_str){s.p, 7}, GLY_STR("http://"))) {
        i = 7;
    } else if (s.n >= 8 && gly_str_ieq((gly_str){s.p, 8}, GLY_STR("https://"))) {
        i = 8;
    } else {
        return false;
    }
    for (size_t k = i; k < s.n; k++) {
        if (!url_char(s.p[k])) {
            return false;
        }
        if (s.p[k] == '%' && (k + 2 >= s.n || !is_hex(s.p[k + 1]) || !is_hex(s.p[k + 2]))) {
            return false;
        }
    }
    size_t end = i;
    while (end < s.n && !strchr("/?#", s.p[end])) {
        end++;
    }
    const char *h = s.p + i, *hend = s.p + end;
    for (const char *q = hend; q > h; q--) {
        if (q[-1] == '@') { /* skip userinfo */
            h = q;
            break;
        }
    }
    const char *port = NULL;
    if (h < hend && *h == '[') {
        const char *close = memchr(h, ']', (size_t)(hend - h));
        if (close == NULL || close == h + 1) {
            return false;
        }
        for (const char *q = h + 1; q < close; q++) {
            if (!is_hex(*q) && *q != ':' && *q != '.') {
                return false;
            }
        }
        if (close + 1 < hend) {
            if (close[1] != ':') {
                return false;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(h, ':', (size_t)(hend - h));
        const char *nend = colon ? colon : hend;
        if (nend == h) {
            return false;
        }
        for (const char *q = h; q < nend; q++) {
            if (!is_alpha(*q) && !is_digit(*q) && *q != '-' && *q != '.') {
                return false;
            }
        }
        if (*h == '.' || *h == '-') {
            return false;
        }
        port = colon ? colon + 1 : NULL;
    }
    if (port) {
        size_t pn = (size_t)(hend - port);
        int v = pn >= 1 && pn <= 5 ? digits(port, (int)pn) : -1;
        if (v < 1 || v > 65535) {
            return false;
        }
    }
    return true;
}

static bool format_ok(gly_format f, gly_str s)
{
    switch (f) {
    case GLY_FMT_EMAIL:
        return fmt_email(s);
    case GLY_FMT_URL:
        return fmt_url(s);
    case GLY_FMT_UUID:
        return fmt_uuid(s);
    case GLY_FMT_DATE_TIME:
        return fmt_date_time(s);
    case GLY_FMT_DATE:
        return fmt_date(s);
    case GLY_FMT_NONE:
        break;
    }
    return true;
}

static const char *format_message(gly_format f)
{
    switch (f) {
    case GLY_FMT_EMAIL:
        return "must be a valid email address";
    case GLY_FMT_URL:
        return "must be an absolute http or https URL";
    case GLY_FMT_UUID:
        return "must be a UUID";
    case GLY_FMT_DATE_TIME:
        return "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z";
    case GLY_FMT_DATE:
        return "must be a date such as 2026-01-31";
    case GLY_FMT_NONE:
        break;
    }
    return "has an invalid format";
}

static const char *format_name(gly_format f)
{
    static const char *const names[] = {NULL, "email", "uri", "uuid", "date-time", "date"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */

#define PATH_MAX_BYTES 512

struct vctx {
    gly_verrors *errs;
    int rc; /* first hard error: GLY_ENOMEM, GLY_EINVAL */
    size_t len;
    char path[PATH_MAX_BYTES];
};

static void fail(struct vctx *c, const char *code, const char *fmt, ...) GLY_PRINTF(3, 4);

static void fail(struct vctx *c, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (gly_verrors_add(c->errs, c->path, code, "%s", msg) != 0 && c->rc == 0) {
        c->rc = GLY_ENOMEM;
    }
}

/* Appends n bytes to the path (truncated at the buffer's end); returns the old length. */
static size_t path_push(struct vctx *c, const char *sep, const char *p, size_t n)
{
    size_t old = c->len;
    size_t room = sizeof c->path - 1 - c->len;
    size_t sn = c->len > 0 ? strlen(sep) : 0;
    if (sn > room) {
        sn = room;
    }
    memcpy(c->path + c->len, sep, sn);
    c->len += sn;
    room -= sn;
    if (n > room) {
        n = room;
    }
    memcpy(c->path + c->len, p, n);
    c->len += n;
    c->path[c->len] = '\0';
    return old;
}

static void path_pop(struct vctx *c, size_t old)
{
    c->len = old;
    c->path[old] = '\0';
}

/* Counts code points; returns false for invalid UTF-8 (only parameters can hold it). */
static bool utf8_count(gly_str s, size_t *out)
{
    size_t count = 0;
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.n;) {
        unsigned char b = p[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xC2 && b <= 0xDF ? 2
                     : (b & 0xF0) == 0xE0     ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        if (len == 0 || i + len > s.n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        if ((b == 0xE0 && p[i + 1] < 0xA0) || (b == 0xED && p[i + 1] > 0x9F) ||
            (b == 0xF0 && p[i + 1] < 0x90) || (b == 0xF4 && p[i + 1] > 0x8F)) {
            return false; /* overlong, surrogate, past U+10FFFF */
        }
        i += len;
        count++;
    }
    *out = count;
    return true;
}

/* Writes d in its shortest round-tripping %g form. */
static void fmt_double(char *buf, size_t n, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            return;
        }
    }
}

static void check_string(struct vctx *c, const gly_field *f, gly_str s)
{
    size_t cps;
    if (!utf8_count(s, &cps)) {
        fail(c, "type", "must be valid UTF-8 text");
        return;
    }
    if (cps < f->min_len) {
        fail(c, "min_length", "must be at least %zu characters long", f->min_len);
        return;
    }
    if (cps > f->max_len) {
        fail(c, "max_length", "must be at most %zu characters long", f->max_len);
        return;
    }
    if (f->enum_values) {
        bool found = false;
        char list[200];
        size_t ll = 0;
        list[0] = '\0';
        for (const char *const *e = f->enum_values; *e; e++) {
            found = found || gly_str_eq(s, gly_str_c(*e));
            if (ll < sizeof list) {
                int w = snprintf(list + ll, sizeof list - ll, "%s%s", ll ? ", " : "", *e);
                ll += w > 0 ? (size_t)w : 0;
            }
        }
        if (!found) {
            fail(c, "enum", "must be one of: %s", list);
            return;
        }
    }
    if (f->format != GLY_FMT_NONE && !format_ok(f->format, s)) {
        fail(c, "format", "%s", format_message(f->format));
        return;
    }
    if (f->pattern) {
        int m = rx_match(f->pattern, s);
        if (m < 0) {
            if (c->rc == 0) {
                c->rc = m;
            }
            return;
        }
        if (m == 0) {
            fail(c, "pattern", "must match the pattern %s", f->pattern);
        }
    }
}

/* Exact comparisons of an int64 with a double bound (NaN is no bound). */
static bool i64_below(int64_t v, double min)
{
    if (!(min > -0x1p63)) {
        return false;
    }
    double cmin = ceil(min);
    return cmin >= 0x1p63 || v < (int64_t)cmin;
}

static bool i64_above(int64_t v, double max)
{
    if (!(max < 0x1p63)) {
        return false;
    }
    double fmax = floor(max);
    return fmax < -0x1p63 || v > (int64_t)fmax;
}

/* Writes a bound for messages: integer fields get the nearest integer inside the bound. */
static void fmt_bound(char *buf, size_t n, const gly_field *f, double b, bool lower)
{
    double r = lower ? ceil(b) : floor(b);
    if (f->type == GLY_TYPE_INTEGER && r > -0x1p63 && r < 0x1p63) {
        snprintf(buf, n, "%" PRId64, (int64_t)r);
    } else {
        fmt_double(buf, n, b);
    }
}

static void check_i64(struct vctx *c, const gly_field *f, int64_t v)
{
    char b[40];
    if (i64_below(v, f->min)) {
        fmt_bound(b, sizeof b, f, f->min, true);
        fail(c, "min", "must be at least %s", b);
    } else if (i64_above(v, f->max)) {
        fmt_bound(b, sizeof b, f, f->max, false);
        fail(c, "max", "must be at most %s", b);
    }
}

static void check_double(struct vctx *c, const gly_field *f, double v)
{
    char b[40];
    if (v < f->min) {
        fmt_double(b, sizeof b, f->min);
        fail(c, "min", "must be at least %s", b);
    } else if (v > f->max) {
        fmt_double(b, sizeof b, f->max);
        fail(c, "max", "must be at most %s", b);
    }
}

static const char *type_message(gly_type t)
{
    switch (t) {
    case GLY_TYPE_STRING:
        return "must be a string";
    case GLY_TYPE_INTEGER:
        return "must be an integer";
    case GLY_TYPE_NUMBER:
        return "must be a number";
    case GLY_TYPE_BOOLEAN:
        return "must be a boolean";
    case GLY_TYPE_ARRAY:
        return "must be an array";
    case GLY_TYPE_OBJECT:
        return "must be an object";
    case GLY_TYPE_END:
        break;
    }
    return "has the wrong type";
}

static void check_object(struct vctx *c, const gly_schema *s, const gly_jv *obj);

static void check_value(struct vctx *c, const gly_field *f, const gly_jv *v)
{
    gly_json_type t = gly_jv_type(v);
    if (t == GLY_JSON_NULL) {
        if (!f->nullable) {
            fail(c, "type", "%s, not null", type_message(f->type));
        }
        return;
    }
    int64_t i;
    switch (f->type) {
    case GLY_TYPE_STRING:
        if (t != GLY_JSON_STRING) {
            break;
        }
        check_string(c, f, gly_jv_str(v));
        return;
    case GLY_TYPE_INTEGER:
        if (!gly_jv_i64(v, &i)) {
            break;
        }
        check_i64(c, f, i);
        return;
    case GLY_TYPE_NUMBER:
        if (t != GLY_JSON_NUMBER) {
            break;
        }
        check_double(c, f, gly_jv_double(v));
        return;
    case GLY_TYPE_BOOLEAN:
        if (t != GLY_JSON_BOOL) {
            break;
        }
        return;
    case GLY_TYPE_ARRAY: {
        if (t != GLY_JSON_ARRAY) {
            break;
        }
        size_t n = gly_jv_len(v);
        if (n < f->min_items) {
            fail(c, "min_items", "must have at least %zu items", f->min_items);
        } else if (n > f->max_items) {
            fail(c, "max_items", "must have at most %zu items", f->max_items);
        }
        if (f->items) {
            for (size_t k = 0; k < n && c->rc == 0; k++) {
                char idx[32];
                int w = snprintf(idx, sizeof idx, "[%zu]", k);
                size_t old = path_push(c, "", idx, (size_t)w);
                check_value(c, f->items, gly_jv_at(v, k));
                path_pop(c, old);
            }
        }
        return;
    }
    case GLY_TYPE_OBJECT:
        if (t != GLY_JSON_OBJECT) {
            break;
        }
        if (f->schema) {
            check_object(c, f->schema, v);
        }
        return;
    case GLY_TYPE_END:
        return;
    }
    fail(c, "type", "%s", type_message(f->type));
}

static void check_object(struct vctx *c, const gly_schema *s, const gly_jv *obj)
{
    const gly_field *f;
    for (f = s->fields; f && f->type != GLY_TYPE_END && c->rc == 0; f++) {
        size_t old = path_push(c, ".", f->name, strlen(f->name));
        const gly_jv *m = gly_jv_get(obj, f->name);
        if (m == NULL) {
            if (f->required && !s->partial) {
                fail(c, "required", "is required");
            }
        } else {
            check_value(c, f, m);
        }
        path_pop(c, old);
    }
    if (s->additional) {
        return;
    }
    size_t n = gly_jv_len(obj);
    for (size_t k = 0; k < n && c->rc == 0; k++) {
        gly_str key = gly_jv_key_at(obj, k);
        bool known = false;
        for (f = s->fields; f && f->type != GLY_TYPE_END; f++) {
            if (gly_str_eq(key, gly_str_c(f->name))) {
                known = true;
                break;
            }
        }
        if (!known) {
            size_t old = path_push(c, ".", key.p, key.n);
            fail(c, "unknown_field", "is not an allowed field");
            path_pop(c, old);
        }
    }
}

int gly_validate(const gly_schema *s, const gly_jv *doc, gly_verrors *errs)
{
    struct vctx c = {.errs = errs};
    if (gly_jv_type(doc) != GLY_JSON_OBJECT) {
        fail(&c, "type", "must be an object");
    } else {
        check_object(&c, s, doc);
    }
    return c.rc ? c.rc : errs->err;
}

int gly_validate_value(const gly_field *f, const gly_jv *v, const char *path, gly_verrors *errs)
{
    struct vctx c = {.errs = errs};
    path_push(&c, "", path, strlen(path));
    check_value(&c, f, v);
    return c.rc ? c.rc : errs->err;
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                               */
/* ------------------------------------------------------------------------ */

static bool parse_i64(gly_str s, int64_t *out)
{
    size_t i = s.n > 0 && s.p[0] == '-' ? 1 : 0;
    if (i == s.n || s.n - i > 19) {
        return false;
    }
    uint64_t v = 0;
    for (size_t k = i; k < s.n; k++) {
        if (!is_digit(s.p[k])) {
            return false;
        }
        v = v * 10 + (uint64_t)(s.p[k] - '0');
    }
    if (v > (i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        return false;
    }
    *out = i ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool parse_double(gly_str s, double *out)
{
    char buf[64];
    if (s.n == 0 || s.n >= sizeof buf || !(is_digit(s.p[0]) || s.p[0] == '-')) {
        return false;
    }
    for (size_t k = 0; k < s.n; k++) {
        if (!is_digit(s.p[k]) && !strchr("+-.eE", s.p[k])) {
            return false;
        }
    }
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0' || !isfinite(d)) {
        return false;
    }
    *out = d;
    return true;
}

static void check_param(struct vctx *c, const gly_field *f, gly_str v)
{
    int64_t i;
    double d;
    switch (f->type) {
    case GLY_TYPE_STRING:
        check_string(c, f, v);
        return;
    case GLY_TYPE_INTEGER:
        if (!parse_i64(v, &i)) {
            break;
        }
        check_i64(c, f, i);
        return;
    case GLY_TYPE_NUMBER:
        if (!parse_double(v, &d)) {
            break;
        }
        check_double(c, f, d);
        return;
    case GLY_TYPE_BOOLEAN:
        if (!gly_str_eq(v, GLY_STR("true")) && !gly_str_eq(v, GLY_STR("false"))) {
            fail(c, "type", "must be true or false");
        }
        return;
    case GLY_TYPE_ARRAY:
    case GLY_TYPE_OBJECT:
    case GLY_TYPE_END:
        if (c->rc == 0) {
            c->rc = GLY_EINVAL;
        }
        return;
    }
    fail(c, "type", "%s", type_message(f->type));
}

static void check_params(struct vctx *c, gly_req *req, const gly_field *fields, bool query)
{
    const char *prefix = query ? "query" : "path";
    for (const gly_field *f = fields; f && f->type != GLY_TYPE_END && c->rc == 0; f++) {
        path_push(c, "", prefix, strlen(prefix));
        path_push(c, ".", f->name, strlen(f->name));
        gly_str v = query ? gly_req_query_param(req, f->name) : gly_req_param(req, f->name);
        if (v.p == NULL) {
            if (f->required) {
                fail(c, "required", "is required");
            }
        } else {
            check_param(c, f, v);
        }
        path_pop(c, 0);
    }
}

int gly_validate_params(gly_req *req, const gly_field *query_fields, const gly_field *path_fields,
                        gly_verrors *errs)
{
    struct vctx c = {.errs = errs};
    check_params(&c, req, path_fields, false);
    check_params(&c, req, query_fields, true);
    return c.rc ? c.rc : errs->err;
}

/* ------------------------------------------------------------------------ */
/* Problem answers                                                          */
/* ------------------------------------------------------------------------ */

int gly_problem_verrors(gly_req *req, int status, const gly_verrors *errs)
{
    char detail[64];
    if (errs->total == 1) {
        snprintf(detail, sizeof detail, "1 field is invalid");
    } else {
        snprintf(detail, sizeof detail, "%zu fields are invalid", errs->total);
    }
    return gly_problem_errors(req, status, "validation-failed", detail, errs);
}

int gly_problem_errors(gly_req *req, int status, const char *code, const char *detail,
                       const gly_verrors *errs)
{
    gly_buf b;
    gly_json j;
    gly_problem_begin(req, &j, &b, status, code, detail);
    gly_json_key(&j, "errors");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < errs->count; i++) {
        gly_json_obj_begin(&j);
        gly_json_key(&j, "field");
        gly_json_str(&j, errs->items[i].field);
        gly_json_key(&j, "code");
        gly_json_str(&j, errs->items[i].code);
        gly_json_key(&j, "message");
        gly_json_str(&j, errs->items[i].message);
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    return gly_problem_end(req, &j, status);
}

gly_jv *gly_req_valid_json(gly_req *req, const gly_schema *s)
{
    gly_jv *root = gly_req_json(req);
    if (root == NULL) {
        return NULL;
    }
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    if (gly_validate(s, root, &errs) != 0) {
        gly_problem(req, 500, NULL, NULL);
        return NULL;
    }
    if (errs.total > 0) {
        gly_problem_verrors(req, 422, &errs);
        return NULL;
    }
    return root;
}

bool gly_req_valid_params(gly_req *req, const gly_field *query_fields, const gly_field *path_fields)
{
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    if (gly_validate_params(req, query_fields, path_fields, &errs) != 0) {
        gly_problem(req, 500, NULL, NULL);
        return false;
    }
    if (errs.total > 0) {
        gly_problem_verrors(req, 400, &errs);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* JSON Schema                                                              */
/* ------------------------------------------------------------------------ */

static const char *json_type_name(gly_type t)
{
    static const char *const names[] = {"null",    "string", "integer", "number",
                                        "boolean", "array",  "object"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "null";
}

static void write_bound(gly_json *j, const char *key, const gly_field *f, double b, bool lower)
{
    if (isnan(b) || isinf(b)) {
        return;
    }
    gly_json_key(j, key);
    double r = lower ? ceil(b) : floor(b);
    if (f->type == GLY_TYPE_INTEGER && r > -0x1p63 && r < 0x1p63) {
        gly_json_i64(j, (int64_t)r);
    } else {
        gly_json_double(j, b);
    }
}

static void write_members(gly_json *j, const gly_schema *s);

static void write_field(gly_json *j, const gly_field *f)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "type");
    if (f->nullable) {
        gly_json_arr_begin(j);
        gly_json_str(j, json_type_name(f->type));
        gly_json_str(j, "null");
        gly_json_arr_end(j);
    } else {
        gly_json_str(j, json_type_name(f->type));
    }
    if (f->description) {
        gly_json_key(j, "description");
        gly_json_str(j, f->description);
    }
    switch (f->type) {
    case GLY_TYPE_INTEGER:
    case GLY_TYPE_NUMBER:
        write_bound(j, "minimum", f, f->min, true);
        write_bound(j, "maximum", f, f->max, false);
        break;
    case GLY_TYPE_STRING:
        if (f->min_len > 0) {
            gly_json_key(j, "minLength");
            gly_json_u64(j, f->min_len);
        }
        if (f->max_len != SIZE_MAX) {
            gly_json_key(j, "maxLength");
            gly_json_u64(j, f->max_len);
        }
        if (f->pattern) {
            gly_json_key(j, "pattern");
            gly_json_str(j, f->pattern);
        }
        if (format_name(f->format)) {
            gly_json_key(j, "format");
            gly_json_str(j, format_name(f->format));
        }
        if (f->enum_values) {
            gly_json_key(j, "enum");
            gly_json_arr_begin(j);
            for (const char *const *e = f->enum_values; *e; e++) {
                gly_json_str(j, *e);
            }
            if (f->nullable) {
                gly_json_null(j);
            }
            gly_json_arr_end(j);
        }
        break;
    case GLY_TYPE_ARRAY:
        if (f->items) {
            gly_json_key(j, "items");
            write_field(j, f->items);
        }
        if (f->min_items > 0) {
            gly_json_key(j, "minItems");
            gly_json_u64(j, f->min_items);
        }
        if (f->max_items != SIZE_MAX) {
            gly_json_key(j, "maxItems");
            gly_json_u64(j, f->max_items);
        }
        break;
    case GLY_TYPE_OBJECT:
        if (f->schema) {
            write_members(j, f->schema);
        }
        break;
    case GLY_TYPE_BOOLEAN:
    case GLY_TYPE_END:
        break;
    }
    gly_json_obj_end(j);
}

/* Writes properties, required and additionalProperties into the open object. */
static void write_members(gly_json *j, const gly_schema *s)
{
    const gly_field *f;
    bool any_required = false;
    gly_json_key(j, "properties");
    gly_json_obj_begin(j);
    for (f = s->fields; f && f->type != GLY_TYPE_END; f++) {
        gly_json_key(j, f->name);
        write_field(j, f);
        any_required = any_required || (f->required && !s->partial);
    }
    gly_json_obj_end(j);
    if (any_required) {
        gly_json_key(j, "required");
        gly_json_arr_begin(j);
        for (f = s->fields; f->type != GLY_TYPE_END; f++) {
            if (f->required) {
                gly_json_str(j, f->name);
            }
        }
        gly_json_arr_end(j);
    }
    if (!s->additional) {
        gly_json_key(j, "additionalProperties");
        gly_json_bool(j, false);
    }
}

int gly_schema_to_json_schema(const gly_schema *s, gly_json *j)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "type");
    gly_json_str(j, "object");
    write_members(j, s);
    gly_json_obj_end(j);
    return gly_json_err(j);
}
