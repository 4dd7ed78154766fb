/*
 * tests/unit/http/test_parser.c - the request head parser and the chunked decoder.
 *
 * Every input is copied to the end of a page followed by a PROT_NONE page, so
 * a read past the input faults at once (as picohttpparser's test.c does).
 * Every parse is also repeated byte by byte and in two pieces at each split
 * point; the result must equal the one-shot result, except that an error in
 * bytes that came after the first call may show as "incomplete" until the head
 * ends. Every decode is repeated byte by byte and must match exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <galley/http.h>

#include "gly_test.h"
#include "http/parser.h"

/* ------------------------------------------------------------------------ */
/* Guarded buffers                                                          */
/* ------------------------------------------------------------------------ */

static struct gly_test_guard *guards;
static size_t nguards, guards_cap;

/* Returns a writable copy of s[0..n) that ends right before a PROT_NONE page. */
static char *guarded(const void *s, size_t n)
{
    if (nguards == guards_cap) {
        guards_cap = guards_cap ? 2 * guards_cap : 64;
        guards = realloc(guards, guards_cap * sizeof *guards);
        assert_non_null(guards);
    }
    return gly_test_guarded(s, n, &guards[nguards++]);
}

/* Unmaps the newest guarded buffer. */
static void drop_last_guard(void)
{
    assert_true(nguards > 0);
    gly_test_unguard(&guards[--nguards]);
}

static int release_guards(void **state)
{
    (void)state;
    while (nguards > 0) {
        drop_last_guard();
    }
    free(guards);
    guards = NULL;
    guards_cap = 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Head parsing helpers                                                     */
/* ------------------------------------------------------------------------ */

static const struct gly_http_limits deflim = {8192, 65536, 100};

/* The one-shot result of the last parse. */
static struct gly_http_head H;
static const char *hbuf;
static size_t hlen;
static int st;
static const char *why;

/* A second head for the incremental runs. */
static struct gly_http_head H2;

/* Asserts a and b (from buffers base_a and base_b) are the same slice of the same input. */
static void assert_same_slice(gly_str a, const char *base_a, gly_str b, const char *base_b,
                              size_t n)
{
    assert_int_equal(a.n, b.n);
    if (a.p == NULL || b.p == NULL) {
        assert_ptr_equal(a.p, b.p);
        return;
    }
    bool a_in = a.p >= base_a && a.p <= base_a + n;
    bool b_in = b.p >= base_b && b.p <= base_b + n;
    assert_int_equal(a_in, b_in);
    if (a_in) {
        assert_int_equal(a.p - base_a, b.p - base_b);
    } else {
        assert_memory_equal(a.p, b.p, a.n); /* the static "/" or "*" */
    }
}

static void assert_same_head(const struct gly_http_head *a, const char *base_a,
                             const struct gly_http_head *b, const char *base_b, size_t n)
{
    assert_same_slice(a->method, base_a, b->method, base_b, n);
    assert_int_equal(a->method_id, b->method_id);
    assert_same_slice(a->target, base_a, b->target, base_b, n);
    assert_same_slice(a->path, base_a, b->path, base_b, n);
    assert_same_slice(a->query, base_a, b->query, base_b, n);
    assert_int_equal(a->minor_version, b->minor_version);
    assert_same_slice(a->host, base_a, b->host, base_b, n);
    assert_int_equal(a->flags, b->flags);
    if (a->flags & GLY_HTTP_HAS_LENGTH) {
        assert_int_equal(a->content_length, b->content_length);
    }
    assert_int_equal(a->nheaders, b->nheaders);
    for (unsigned i = 0; i < a->nheaders; i++) {
        assert_same_slice(a->headers[i].name, base_a, b->headers[i].name, base_b, n);
        assert_same_slice(a->headers[i].value, base_a, b->headers[i].value, base_b, n);
    }
}

/* Compares an incremental result with the one-shot result in H/st/why. */
static void assert_consistent(int one, int inc, int inc_status, const char *inc_why,
                              const char *inc_buf, size_t n)
{
    if (one == GLY_HTTP_ERROR && inc == GLY_HTTP_INCOMPLETE) {
        return; /* found only once the head ends */
    }
    assert_int_equal(inc, one);
    if (one == GLY_HTTP_ERROR) {
        assert_int_equal(inc_status, st);
        assert_string_equal(inc_why, why);
    } else if (one >= 0) {
        assert_same_head(&H, hbuf, &H2, inc_buf, n);
    }
}

/* Feeds in[0..n) one byte at a time, each prefix in its own guarded buffer. */
static void check_byte_by_byte(const char *in, size_t n, const struct gly_http_limits *lim, int one)
{
    int r = GLY_HTTP_INCOMPLETE, s = 0;
    const char *w = NULL;
    size_t last = 0, k;
    char *b = NULL;

    for (k = 1; k <= n && r == GLY_HTTP_INCOMPLETE; k++) {
        if (b != NULL) {
            drop_last_guard();
        }
        b = guarded(in, k);
        r = gly_http_parse_head(b, k, last, lim, &H2, &s, &w);
        last = k;
    }
    if (n == 0) {
        return;
    }
    assert_consistent(one, r, s, w, b, k - 1);
    drop_last_guard();
}

/* Parses in[0..k) then in[0..n) with last_len k, for every k. */
static void check_two_pieces(const char *in, size_t n, const struct gly_http_limits *lim, int one)
{
    for (size_t k = 1; k < n; k++) {
        int s = 0;
        const char *w = NULL;
        char *b = guarded(in, k);
        int r = gly_http_parse_head(b, k, 0, lim, &H2, &s, &w);
        drop_last_guard();
        b = guarded(in, n);
        if (r == GLY_HTTP_INCOMPLETE) {
            r = gly_http_parse_head(b, n, k, lim, &H2, &s, &w);
        } else if (r >= 0) {
            /* a complete head in the first piece: slices point into that copy; redo it here */
            r = gly_http_parse_head(b, n, 0, lim, &H2, &s, &w);
        }
        assert_consistent(one, r, s, w, b, n);
        drop_last_guard();
    }
}

/* Parses in[0..n) into H (st, why on error) and cross-checks the incremental runs. */
static int parse_lim(const char *in, size_t n, const struct gly_http_limits *lim)
{
    hbuf = guarded(in, n);
    hlen = n;
    st = 0;
    why = NULL;
    int r = gly_http_parse_head(hbuf, n, 0, lim, &H, &st, &why);
    if (r == GLY_HTTP_ERROR) {
        assert_non_null(why);
    }
    if (r >= 0) {
        assert_true((size_t)r <= n);
    }
    check_byte_by_byte(in, n, lim, r);
    check_two_pieces(in, n, lim, r);
    return r;
}

#define PARSE(lit)          parse_lim(lit, sizeof(lit) - 1, &deflim)
#define PARSE_LIM(lit, lim) parse_lim(lit, sizeof(lit) - 1, (lim))
#define LEN(lit)            ((int)(sizeof(lit) - 1))

/* Asserts the slice holds lit, printing both on mismatch. */
static void assert_slice_eq(gly_str s, const char *lit)
{
    char tmp[4096];
    assert_non_null(s.p);
    assert_true(s.n < sizeof tmp);
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = '\0';
    assert_string_equal(tmp, lit);
}

/* Asserts the slice lies inside the parsed input. */
static void assert_in_input(gly_str s)
{
    assert_true(s.p >= hbuf && s.p + s.n <= hbuf + hlen);
}

/* Asserts the last parse failed with code. */
#define assert_rejected(r, code)                                                                   \
    do {                                                                                           \
        assert_int_equal((r), GLY_HTTP_ERROR);                                                     \
        assert_int_equal(st, (code));                                                              \
    } while (0)

#define REQ11(fields) "GET / HTTP/1.1\r\nHost: example.com\r\n" fields "\r\n"

/* ------------------------------------------------------------------------ */
/* Head: valid requests                                                     */
/* ------------------------------------------------------------------------ */

static void parse_accepts_simple_get(void **state)
{
    (void)state;
    static const char req[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    int r = PARSE(req);
    assert_int_equal(r, LEN(req));
    assert_slice_eq(H.method, "GET");
    assert_int_equal(H.method_id, GLY_GET);
    assert_slice_eq(H.target, "/index.html");
    assert_slice_eq(H.path, "/index.html");
    assert_null(H.query.p);
    assert_int_equal(H.minor_version, 1);
    assert_slice_eq(H.host, "example.com");
    assert_int_equal(H.flags, GLY_HTTP_KEEP_ALIVE);
    assert_int_equal(H.nheaders, 1);
    assert_slice_eq(H.headers[0].name, "Host");
    assert_slice_eq(H.headers[0].value, "example.com");
    assert_in_input(H.method);
    assert_in_input(H.path);
    assert_in_input(H.host);
}

static void parse_accepts_typical_browser_request(void **state)
{
    (void)state;
    static const char req[] =
        "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg?size=large HTTP/1.1\r\n"
        "Host: www.kittyhell.com\r\n"
        "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) "
        "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
        "Accept-Encoding: gzip,deflate\r\n"
        "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
        "Keep-Alive: 115\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
        "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
        "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/"
        "reader/|utmcmd=referral\r\n"
        "\r\n";
    int r = PARSE(req);
    assert_int_equal(r, LEN(req));
    assert_slice_eq(H.path, "/wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg");
    assert_slice_eq(H.query, "size=large");
    assert_int_equal(H.nheaders, 9);
    assert_slice_eq(H.headers[8].name, "Cookie");
    assert_int_equal(H.flags, GLY_HTTP_KEEP_ALIVE);
}

static void parse_returns_incomplete_for_every_proper_prefix(void **state)
{
    (void)state;
    static const char req[] = "POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    for (size_t k = 0; k < sizeof req - 1; k++) {
        char *b = guarded(req, k);
        int r = gly_http_parse_head(b, k, 0, &deflim, &H, &st, &why);
        assert_int_equal(r, GLY_HTTP_INCOMPLETE);
        drop_last_guard();
    }
}

static void parse_accepts_http10_without_host(void **state)
{
    (void)state;
    static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
    int r = PARSE(req);
    assert_int_equal(r, LEN(req));
    assert_int_equal(H.minor_version, 0);
    assert_null(H.host.p);
    assert_int_equal(H.flags & GLY_HTTP_KEEP_ALIVE, 0);
    assert_int_equal(H.nheaders, 0);
}

static void parse_keeps_http10_alive_with_connection_keep_alive(void **state)
{
    (void)state;
    int r = PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_true(r > 0);
    assert_int_equal(H.flags, GLY_HTTP_KEEP_ALIVE);
    r = PARSE("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_KEEP_ALIVE, 0);
}

static void parse_closes_http11_with_connection_close_token(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Connection: foo, ,CLOSE \r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_KEEP_ALIVE, 0);
    r = PARSE(REQ11("Connection: closed\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_KEEP_ALIVE, GLY_HTTP_KEEP_ALIVE);
    r = PARSE(REQ11("Connection: keep-alive\r\nConnection: close\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_KEEP_ALIVE, 0);
}

static void parse_accepts_absolute_form(void **state)
{
    (void)state;
    int r = PARSE("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.target, "http://example.com:8080/a/b?x=1");
    assert_slice_eq(H.path, "/a/b");
    assert_slice_eq(H.query, "x=1");
    assert_slice_eq(H.host, "other");
}

static void parse_accepts_absolute_form_with_uppercase_https_scheme(void **state)
{
    (void)state;
    int r = PARSE("GET HTTPS://[::1]:443/p HTTP/1.1\r\nHost: [::1]:443\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "/p");
    assert_null(H.query.p);
}

static void parse_gives_slash_for_absolute_form_with_empty_path(void **state)
{
    (void)state;
    int r = PARSE("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "/");
    assert_null(H.query.p);
    r = PARSE("GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "/");
    assert_slice_eq(H.query, "q=1");
    r = PARSE("OPTIONS http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "*");
}

static void parse_accepts_options_asterisk(void **state)
{
    (void)state;
    int r = PARSE("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(r > 0);
    assert_int_equal(H.method_id, GLY_OPTIONS);
    assert_slice_eq(H.path, "*");
    assert_null(H.query.p);
}

static void parse_accepts_connect_authority_form(void **state)
{
    (void)state;
    int r = PARSE("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_true(r > 0);
    assert_int_equal(H.method_id, GLY_CONNECT);
    assert_slice_eq(H.path, "example.com:443");
    assert_null(H.query.p);
    r = PARSE("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "[2001:db8::1]:8443");
}

static void parse_accepts_empty_query(void **state)
{
    (void)state;
    int r = PARSE("GET /? HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "/");
    assert_non_null(H.query.p);
    assert_int_equal(H.query.n, 0);
}

static void parse_splits_query_at_first_question_mark(void **state)
{
    (void)state;
    int r = PARSE("GET /a%20b?c=d?e&f=/g HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.path, "/a%20b");
    assert_slice_eq(H.query, "c=d?e&f=/g");
}

static void parse_accepts_all_visible_characters_but_hash_in_target(void **state)
{
    (void)state;
    char req[256];
    char tgt[128];
    size_t n = 0;
    tgt[n++] = '/';
    for (int c = 0x21; c <= 0x7e; c++) {
        if (c != '#') {
            tgt[n++] = (char)c;
        }
    }
    tgt[n] = '\0';
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", tgt);
    int r = parse_lim(req, (size_t)len, &deflim);
    assert_int_equal(r, len);
    assert_slice_eq(H.target, tgt);
}

static void parse_trims_value_whitespace_and_keeps_inner(void **state)
{
    (void)state;
    int r = PARSE(REQ11("X-A: \t a b\tc \t \r\nX-B:v\r\nX-C:\r\nX-D:   \r\n"));
    assert_true(r > 0);
    assert_int_equal(H.nheaders, 5);
    assert_slice_eq(H.headers[1].value, "a b\tc");
    assert_slice_eq(H.headers[2].value, "v");
    assert_slice_eq(H.headers[3].value, "");
    assert_slice_eq(H.headers[4].value, "");
    assert_in_input(H.headers[3].value);
}

static void parse_preserves_field_name_case(void **state)
{
    (void)state;
    int r = PARSE(REQ11("x-MiXeD-CaSe: 1\r\n"));
    assert_true(r > 0);
    assert_slice_eq(H.headers[1].name, "x-MiXeD-CaSe");
}

static void parse_accepts_obs_text_in_value(void **state)
{
    (void)state;
    int r = PARSE(REQ11("X-Name: caf\xc3\xa9 \xff\x80\r\n"));
    assert_true(r > 0);
    assert_slice_eq(H.headers[1].value, "caf\xc3\xa9 \xff\x80");
}

static void parse_accepts_long_values(void **state)
{
    (void)state;
    char req[2048];
    char val[1200];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    val[500] = '\t';
    val[501] = ' ';
    int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", val);
    int r = parse_lim(req, (size_t)len, &deflim);
    assert_int_equal(r, len);
    assert_slice_eq(H.headers[1].value, val);
}

static void parse_leaves_pipelined_request_unconsumed(void **state)
{
    (void)state;
    static const char first[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
    int r = PARSE("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(r, LEN(first));
    assert_slice_eq(H.path, "/1");
    r = PARSE("POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(r, LEN("POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"));
}

static void parse_skips_leading_empty_lines(void **state)
{
    (void)state;
    static const char req[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    int r = PARSE(req);
    assert_int_equal(r, LEN(req));
    assert_slice_eq(H.method, "GET");
    r = PARSE("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(r > 0);
}

static void parse_sets_content_length(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Content-Length: 42\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags, GLY_HTTP_HAS_LENGTH | GLY_HTTP_KEEP_ALIVE);
    assert_int_equal(H.content_length, 42);
    r = PARSE(REQ11("content-length: 0\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.content_length, 0);
    assert_true(H.flags & GLY_HTTP_HAS_LENGTH);
    r = PARSE(REQ11("Content-Length: 007\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.content_length, 7);
}

static void parse_accepts_largest_content_length(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Content-Length: 9223372036854775807\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.content_length, INT64_MAX);
}

static void parse_accepts_identical_duplicate_content_length(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Content-Length: 5\r\nContent-Length: 5\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.content_length, 5);
    r = PARSE(REQ11("Content-Length: 5, 5 ,5\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.content_length, 5);
    r = PARSE(REQ11("Content-Length: 5\r\nContent-Length: 5,5\r\n"));
    assert_true(r > 0);
}

static void parse_sets_chunked_flag_case_insensitively(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Transfer-Encoding: ChUnKeD\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags, GLY_HTTP_CHUNKED | GLY_HTTP_KEEP_ALIVE);
    r = PARSE(REQ11("transfer-encoding: , chunked ,\r\n"));
    assert_true(r > 0);
    assert_true(H.flags & GLY_HTTP_CHUNKED);
}

static void parse_sets_expect_continue(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Expect: 100-Continue\r\n"));
    assert_true(r > 0);
    assert_true(H.flags & GLY_HTTP_EXPECT_CONTINUE);
}

static void parse_ignores_expect_continue_in_http10(void **state)
{
    (void)state;
    int r = PARSE("POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n");
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_EXPECT_CONTINUE, 0);
}

static void parse_ignores_other_expectations(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Expect: 200-ok\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_EXPECT_CONTINUE, 0);
}

static void parse_sets_upgrade_with_connection_upgrade_and_upgrade_field(void **state)
{
    (void)state;
    int r = PARSE(REQ11("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"));
    assert_true(r > 0);
    assert_true(H.flags & GLY_HTTP_UPGRADE);
    r = PARSE(REQ11("Upgrade: websocket\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_UPGRADE, 0);
    r = PARSE(REQ11("Connection: upgrade\r\n"));
    assert_true(r > 0);
    assert_int_equal(H.flags & GLY_HTTP_UPGRADE, 0);
}

static void parse_accepts_every_known_method(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int id;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_GET},
        {"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_HEAD},
        {"POST / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_POST},
        {"PUT / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_PUT},
        {"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_DELETE},
        {"PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_PATCH},
        {"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_OPTIONS},
        {"CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n", GLY_CONNECT},
        {"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", GLY_TRACE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].req);
        int r = parse_lim(cases[i].req, n, &deflim);
        assert_int_equal(r, (int)n);
        assert_int_equal(H.method_id, cases[i].id);
    }
}

static void method_lookup_is_case_sensitive_and_exact(void **state)
{
    (void)state;
    assert_int_equal(gly_http_method_lookup("GET", 3), GLY_GET);
    assert_int_equal(gly_http_method_lookup("TRACE", 5), GLY_TRACE);
    assert_int_equal(gly_http_method_lookup("get", 3), GLY_METHOD_UNKNOWN);
    assert_int_equal(gly_http_method_lookup("GE", 2), GLY_METHOD_UNKNOWN);
    assert_int_equal(gly_http_method_lookup("GETS", 4), GLY_METHOD_UNKNOWN);
    assert_int_equal(gly_http_method_lookup("", 0), GLY_METHOD_UNKNOWN);
    static const char *const near[] = {"PUX", "POSX", "PATCX", "DELETX", "OPTIONX", "CONNECX"};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        assert_int_equal(gly_http_method_lookup(near[i], strlen(near[i])), GLY_METHOD_UNKNOWN);
    }
}

static void parse_accepts_host_forms(void **state)
{
    (void)state;
    int r = PARSE("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n");
    assert_true(r > 0);
    r = PARSE("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n");
    assert_true(r > 0);
    r = PARSE("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_true(r > 0);
    /* RFC 9112 3.2: an empty Host is what a client sends when the URI has no authority */
    r = PARSE("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert_true(r > 0);
    assert_non_null(H.host.p);
    assert_int_equal(H.host.n, 0);
}

static void parse_accepts_one_host_in_http10(void **state)
{
    (void)state;
    int r = PARSE("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_true(r > 0);
    assert_slice_eq(H.host, "h");
}

static void parse_accepts_request_line_at_the_limit(void **state)
{
    (void)state;
    struct gly_http_limits lim = {14, 1024, 10}; /* "GET / HTTP/1.1" */
    int r = PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim);
    assert_true(r > 0);
}

static void parse_accepts_head_at_the_limit(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct gly_http_limits lim = {100, sizeof req - 1, 10};
    int r = PARSE_LIM(req, &lim);
    assert_int_equal(r, LEN(req));
}

static void parse_accepts_max_headers_fields(void **state)
{
    (void)state;
    struct gly_http_limits lim = {100, 1024, 3};
    int r = PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", &lim);
    assert_true(r > 0);
    assert_int_equal(H.nheaders, 3);
}

static void parse_finds_end_of_head_split_across_calls(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t n = sizeof req - 1;
    /* first call ends inside the final CRLFCRLF, at each of its positions */
    for (size_t k = n - 4; k < n; k++) {
        char *b = guarded(req, n);
        assert_int_equal(gly_http_parse_head(b, k, 0, &deflim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
        assert_int_equal(gly_http_parse_head(b, n, k, &deflim, &H, &st, &why), (int)n);
    }
}

static void parse_byte_by_byte_matches_one_shot(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "\r\nPOST /submit?x=1&y=2 HTTP/1.1\r\nHost: example.com:80\r\nContent-Type: "
        "application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n",
        "PUT http://h/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: "
        "100-continue\r\n\r\n",
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "OPTIONS * HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n = strlen(reqs[i]);
        const char *b = guarded(reqs[i], n);
        int one = gly_http_parse_head(b, n, 0, &deflim, &H, &st, &why);
        hbuf = b;
        /* feed it: every prefix in turn, as a connection would */
        int r = GLY_HTTP_INCOMPLETE, s = 0;
        const char *w = NULL;
        size_t k;
        for (k = 1; k <= n && r == GLY_HTTP_INCOMPLETE; k++) {
            r = gly_http_parse_head(b, k, k - 1, &deflim, &H2, &s, &w);
        }
        assert_int_equal(r, one);
        if (one >= 0) {
            assert_same_head(&H, b, &H2, b, n);
        } else {
            assert_int_equal(s, st);
            assert_string_equal(w, why);
        }
    }
}

static void parse_clamps_max_headers_to_capacity(void **state)
{
    (void)state;
    struct gly_http_limits lim = {1024, 1 << 20, 1000};
    char *req = malloc(8192);
    assert_non_null(req);
    size_t n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < GLY_HTTP_MAX_HEADERS; i++) {
        n += (size_t)sprintf(req + n, "X%d: %d\r\n", i, i);
    }
    memcpy(req + n, "\r\n", 2);
    int r = parse_lim(req, n + 2, &lim);
    assert_int_equal(r, (int)(n + 2));
    assert_int_equal(H.nheaders, GLY_HTTP_MAX_HEADERS);
    n += (size_t)sprintf(req + n, "Y: 1\r\n\r\n");
    r = parse_lim(req, n, &lim);
    assert_rejected(r, 431);
    free(req);
}

/* ------------------------------------------------------------------------ */
/* Head: the request line                                                   */
/* ------------------------------------------------------------------------ */

static void parse_rejects_empty_method(void **state)
{
    (void)state;
    assert_rejected(PARSE(" / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_invalid_method_character(void **state)
{
    (void)state;
    assert_rejected(PARSE("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("G\x80T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_garbage_before_head_complete(void **state)
{
    (void)state;
    /* a TLS ClientHello sent to the plain-text port */
    assert_rejected(PARSE("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400);
    assert_rejected(PARSE("GET\r\n"), 400);
    assert_rejected(PARSE("GET /a b"), 400);
}

static void parse_rejects_unknown_method_501(void **state)
{
    (void)state;
    assert_rejected(PARSE("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n"), 501);
    /* known as soon as the method ends */
    assert_rejected(PARSE("PROPFIND "), 501);
}

static void parse_rejects_lowercase_method_501(void **state)
{
    (void)state;
    assert_rejected(PARSE("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 501);
}

static void parse_rejects_double_space_in_request_line(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_tab_as_request_line_separator(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_missing_version(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET /\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / \r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_space_after_version(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_malformed_version(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTPS/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/11\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_unknown_version_505(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_rejected(PARSE("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    assert_rejected(PARSE("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), 505);
    assert_rejected(PARSE("GET / HTTP/0.9\r\n\r\n"), 505);
}

static void parse_reports_the_first_error_in_the_line(void **state)
{
    (void)state;
    /* unknown method before a bad version */
    assert_rejected(PARSE("BREW / HTTP/9.9\r\n\r\n"), 501);
    /* bad target before an unknown version */
    assert_rejected(PARSE("GET x HTTP/9.9\r\n\r\n"), 400);
}

static void parse_rejects_bare_cr_in_request_line(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_bare_lf_after_request_line(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_leading_bare_lf(void **state)
{
    (void)state;
    assert_rejected(PARSE("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_too_many_leading_empty_lines(void **state)
{
    (void)state;
    assert_rejected(PARSE("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_target_without_leading_slash(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET index.html HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET ?a=b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_asterisk_for_other_methods(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_asterisk_with_more_characters(void **state)
{
    (void)state;
    assert_rejected(PARSE("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("OPTIONS */ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_authority_form_for_other_methods(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_connect_with_origin_form(void **state)
{
    (void)state;
    assert_rejected(PARSE("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("CONNECT http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_connect_without_port(void **state)
{
    (void)state;
    assert_rejected(PARSE("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("CONNECT :443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_unsupported_scheme(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET ftp://h/a HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET http:/h/a HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_absolute_form_with_empty_host(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET http://:80/a HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_absolute_form_with_userinfo(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET http://user:pw@h/a HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_fragment_in_target(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_control_characters_in_target(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_high_bytes_in_target(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    /* also in a target long enough for the 16-byte scan */
    assert_rejected(PARSE("GET /0123456789abcdef0123456789\x80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void parse_rejects_long_request_line_414(void **state)
{
    (void)state;
    struct gly_http_limits lim = {13, 1024, 10};
    assert_rejected(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim), 414);
}

static void parse_rejects_long_request_line_414_before_head_complete(void **state)
{
    (void)state;
    struct gly_http_limits lim = {16, 1024, 10};
    /* one-shot: 17 bytes of request line, no CRLF yet */
    assert_rejected(PARSE_LIM("GET /aaaaaaaaaaaa", &lim), 414);
    /* only 16 seen: not yet */
    assert_int_equal(PARSE_LIM("GET /aaaaaaaaaaa", &lim), GLY_HTTP_INCOMPLETE);
    /* when the bytes come in a later call (the fast path) */
    static const char in[] = "GET /aaaaaaaaaaaaaaaaaaaaaa";
    char *b = guarded(in, sizeof in - 1);
    assert_int_equal(gly_http_parse_head(b, 6, 0, &lim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    assert_int_equal(gly_http_parse_head(b, 16, 6, &lim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    st = 0;
    assert_int_equal(gly_http_parse_head(b, 17, 16, &lim, &H, &st, &why), GLY_HTTP_ERROR);
    assert_int_equal(st, 414);
}

static void parse_rejects_bad_method_arriving_in_a_later_call(void **state)
{
    (void)state;
    static const char in[] = "GE(T / HTTP/1.1\r\nHost: h\r\n";
    char *b = guarded(in, sizeof in - 1);
    assert_int_equal(gly_http_parse_head(b, 2, 0, &deflim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    st = 0;
    assert_int_equal(gly_http_parse_head(b, 4, 2, &deflim, &H, &st, &why), GLY_HTTP_ERROR);
    assert_int_equal(st, 400);
}

static void parse_rejects_bad_version_arriving_in_a_later_call(void **state)
{
    (void)state;
    static const char in[] = "GET / HTTP/9.9\r\nHost: h\r\n";
    char *b = guarded(in, sizeof in - 1);
    assert_int_equal(gly_http_parse_head(b, 6, 0, &deflim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    assert_int_equal(gly_http_parse_head(b, 15, 6, &deflim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    st = 0;
    assert_int_equal(gly_http_parse_head(b, 16, 15, &deflim, &H, &st, &why), GLY_HTTP_ERROR);
    assert_int_equal(st, 505);
}

static void parse_reports_field_errors_of_later_calls_when_the_head_ends(void **state)
{
    (void)state;
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n";
    size_t n = sizeof in - 1;
    char *b = guarded(in, n);
    assert_int_equal(gly_http_parse_head(b, 20, 0, &deflim, &H, &st, &why), GLY_HTTP_INCOMPLETE);
    /* the request line was complete: only the end of the head is looked for */
    assert_int_equal(gly_http_parse_head(b, n - 2, 20, &deflim, &H, &st, &why),
                     GLY_HTTP_INCOMPLETE);
    st = 0;
    assert_int_equal(gly_http_parse_head(b, n, n - 2, &deflim, &H, &st, &why), GLY_HTTP_ERROR);
    assert_int_equal(st, 400);
}

static void parse_counts_long_request_line_after_empty_lines(void **state)
{
    (void)state;
    struct gly_http_limits lim = {14, 1024, 10};
    assert_true(PARSE_LIM("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim) > 0);
    assert_rejected(PARSE_LIM("\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n", &lim), 414);
}

/* ------------------------------------------------------------------------ */
/* Head: fields                                                             */
/* ------------------------------------------------------------------------ */

static void parse_rejects_http11_without_host(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHostname: h\r\n\r\n"), 400);
}

static void parse_rejects_two_hosts(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
}

static void parse_rejects_two_hosts_in_http10(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

static void parse_rejects_invalid_host_value(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h%zz\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: [::1/]\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400);
}

static void parse_rejects_obs_fold(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("X-A: a\r\n b\r\n")), 400);
    assert_rejected(PARSE(REQ11("X-A: a\r\n\tb\r\n")), 400);
}

static void parse_rejects_whitespace_before_first_field(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400);
}

static void parse_rejects_space_before_colon(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length : 5\r\n")), 400);
}

static void parse_rejects_tab_before_colon(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding\t: chunked\r\n")), 400);
}

static void parse_rejects_empty_field_name(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11(": value\r\n")), 400);
}

static void parse_rejects_field_without_colon(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("NoColon\r\n")), 400);
}

static void parse_rejects_invalid_field_name_character(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("X(A): 1\r\n")), 400);
    assert_rejected(PARSE(REQ11("X\x80: 1\r\n")), 400);
    assert_rejected(PARSE(REQ11("X/Y: 1\r\n")), 400);
}

static void parse_rejects_nul_in_value(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("X-A: a\0b\r\n")), 400);
}

static void parse_rejects_every_control_character_in_value(void **state)
{
    (void)state;
    for (int c = 0; c < 0x80; c++) {
        if ((c >= 0x20 && c != 0x7f) || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        /* near the start, and deep in a long value (the 16-byte scan) */
        for (int at = 0; at < 2; at++) {
            char req[128];
            int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nX: %s@tail\r\n\r\n",
                             at ? "0123456789abcdef0123456789" : "a");
            char *x = memchr(req, '@', (size_t)n);
            *x = (char)c;
            assert_rejected(parse_lim(req, (size_t)n, &deflim), 400);
        }
    }
}

static void parse_accepts_tab_in_long_value(void **state)
{
    (void)state;
    int r = PARSE(REQ11("X: 0123456789\tabcdef0123456789\t0123456789abcdef\r\n"));
    assert_true(r > 0);
    assert_slice_eq(H.headers[1].value, "0123456789\tabcdef0123456789\t0123456789abcdef");
}

static void parse_rejects_bare_cr_in_value(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("X-A: a\rb\r\n")), 400);
    assert_rejected(PARSE(REQ11("X-A: a\r\r\n")), 400);
    assert_rejected(PARSE(REQ11("X-A: a \rb\r\n")), 400);
}

static void parse_rejects_bare_cr_in_name(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("X-A\r: a\r\n")), 400);
}

static void parse_rejects_bare_lf_line_ending(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"), 400);
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h\n\n"), 400);
}

static void parse_rejects_bare_lf_as_empty_line(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400);
}

static void parse_rejects_bare_cr_as_empty_line(void **state)
{
    (void)state;
    assert_rejected(PARSE("GET / HTTP/1.1\r\nHost: h\r\n\rX"), 400);
}

static void parse_rejects_invalid_connection_syntax(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Connection: close; x\r\n")), 400);
    assert_rejected(PARSE(REQ11("Connection: \"close\"\r\n")), 400);
}

static void parse_rejects_too_many_headers_431(void **state)
{
    (void)state;
    struct gly_http_limits lim = {100, 1024, 3};
    assert_rejected(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim),
                    431);
    /* known once the fourth field starts */
    assert_rejected(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC", &lim), 431);
}

static void parse_rejects_head_over_limit_431(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct gly_http_limits lim = {100, sizeof req - 2, 10};
    assert_rejected(PARSE_LIM(req, &lim), 431);
}

static void parse_rejects_head_over_limit_before_complete_431(void **state)
{
    (void)state;
    struct gly_http_limits lim = {100, 40, 10};
    assert_rejected(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789abcdef", &lim), 431);
    assert_int_equal(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789a", &lim),
                     GLY_HTTP_INCOMPLETE);
}

static void parse_counts_leading_empty_lines_toward_head_limit(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct gly_http_limits lim = {100, sizeof req - 1, 10};
    assert_true(PARSE_LIM("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim) > 0);
    assert_rejected(PARSE_LIM("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim), 431);
}

/* ------------------------------------------------------------------------ */
/* Head: framing                                                            */
/* ------------------------------------------------------------------------ */

static void parse_rejects_content_length_with_transfer_encoding(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400);
}

static void parse_rejects_differing_duplicate_content_length(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 5\r\nContent-Length: 6\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 5\r\nContent-Length: 5, 6\r\n")), 400);
}

static void parse_rejects_differing_content_length_list(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 5, 6\r\n")), 400);
}

static void parse_rejects_signed_content_length(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: +5\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: -5\r\n")), 400);
}

static void parse_rejects_content_length_with_inner_space(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 1 2\r\n")), 400);
}

static void parse_rejects_non_digit_content_length(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 5a\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 0x5\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 5.0\r\n")), 400);
}

static void parse_rejects_empty_content_length(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length:\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 5,,5\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 5,\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: ,5\r\n")), 400);
}

static void parse_rejects_content_length_overflow(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Content-Length: 9223372036854775808\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 18446744073709551616\r\n")), 400);
    assert_rejected(PARSE(REQ11("Content-Length: 99999999999999999999999999\r\n")), 400);
}

static void parse_rejects_gzip_as_final_coding(void **state)
{
    (void)state;
    /* RFC 9112 6.3: chunked not final makes the length unknowable, which is a 400 */
    assert_rejected(PARSE(REQ11("Transfer-Encoding: gzip\r\n")), 400);
}

static void parse_rejects_gzip_before_chunked_501(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding: gzip, chunked\r\n")), 501);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")), 501);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q=\"a b\", chunked\r\n")), 501);
}

static void parse_rejects_chunked_not_last(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked, gzip\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n")), 400);
}

static void parse_rejects_chunked_twice(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked, chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
                    400);
}

static void parse_rejects_empty_transfer_encoding(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding:\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: ,\r\n")), 400);
}

static void parse_rejects_invalid_transfer_encoding_syntax(void **state)
{
    (void)state;
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked;\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: \"chunked\"\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chun ked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: chunked;a=b\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q=\"a, chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q=\"\\\x01\", chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q=\"\x01\", chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q=, chunked\r\n")), 400);
    assert_rejected(PARSE(REQ11("Transfer-Encoding: x;q, chunked\r\n")), 400);
}

static void parse_rejects_transfer_encoding_in_http10(void **state)
{
    (void)state;
    assert_rejected(PARSE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

/* ------------------------------------------------------------------------ */
/* Chunked decoder helpers                                                  */
/* ------------------------------------------------------------------------ */

#define MAX_BODY (1u << 20)

/* The one-shot result of the last decode. */
static struct {
    int ret;
    int status;
    const char *why;
    size_t consumed;
    const char *out;
    size_t outlen;
    struct gly_http_chunked d;
} D;

/* Feeds in[0..n) one byte at a time, handing back what was left unconsumed. */
static void check_decode_byte_by_byte(const char *in, size_t n, uint64_t max_body,
                                      const struct gly_http_limits *lim)
{
    struct gly_http_chunked d;
    char *pend = malloc(n + 1), *out = malloc(n + 1);
    size_t plen = 0, outlen = 0, consumed = 0;
    int r = 0, s = 0;
    const char *w = NULL;

    assert_non_null(pend);
    assert_non_null(out);
    gly_http_chunked_init(&d);
    for (size_t k = 0; k < n && r == 0; k++) {
        pend[plen++] = in[k];
        char *g = guarded(pend, plen);
        size_t sl = plen, dl = 0;
        r = gly_http_chunked_decode(&d, out + outlen, &dl, g, &sl, max_body, lim, &s, &w);
        drop_last_guard();
        assert_true(sl <= plen);
        outlen += dl;
        consumed += sl;
        memmove(pend, pend + sl, plen - sl);
        plen -= sl;
    }
    assert_int_equal(r, D.ret);
    if (r == GLY_HTTP_ERROR) {
        assert_int_equal(s, D.status);
        assert_string_equal(w, D.why);
    } else {
        assert_int_equal(consumed, D.consumed);
        assert_int_equal(outlen, D.outlen);
        assert_memory_equal(out, D.out, outlen);
    }
    free(pend);
    free(out);
}

/* Decodes in[0..n) in place into D and cross-checks the byte-by-byte run. */
static int decode_lim(const char *in, size_t n, uint64_t max_body,
                      const struct gly_http_limits *lim)
{
    char *b = guarded(in, n);
    size_t sl = n, dl = 0;
    gly_http_chunked_init(&D.d);
    D.status = 0;
    D.why = NULL;
    D.ret = gly_http_chunked_decode(&D.d, b, &dl, b, &sl, max_body, lim, &D.status, &D.why);
    assert_true(sl <= n);
    assert_true(dl <= sl);
    D.consumed = sl;
    D.out = b;
    D.outlen = dl;
    if (D.ret == GLY_HTTP_ERROR) {
        assert_non_null(D.why);
    }
    check_decode_byte_by_byte(in, n, max_body, lim);
    return D.ret;
}

#define DECODE(lit)          decode_lim(lit, sizeof(lit) - 1, MAX_BODY, &deflim)
#define DECODE_MAX(lit, max) decode_lim(lit, sizeof(lit) - 1, (max), &deflim)
#define DECODE_LIM(lit, lim) decode_lim(lit, sizeof(lit) - 1, MAX_BODY, (lim))

static void assert_body(const char *lit)
{
    char tmp[8192];
    assert_true(D.outlen < sizeof tmp);
    memcpy(tmp, D.out, D.outlen);
    tmp[D.outlen] = '\0';
    assert_string_equal(tmp, lit);
}

#define assert_decode_rejected(r, code)                                                            \
    do {                                                                                           \
        assert_int_equal((r), GLY_HTTP_ERROR);                                                     \
        assert_int_equal(D.status, (code));                                                        \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Chunked decoder                                                          */
/* ------------------------------------------------------------------------ */

static void chunked_decodes_single_chunk(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(DECODE(in), 1);
    assert_int_equal(D.consumed, sizeof in - 1);
    assert_body("hello");
    assert_int_equal(D.d.total, 5);
}

static void chunked_decodes_several_chunks_in_place(void **state)
{
    (void)state;
    static const char in[] = "3\r\nabc\r\n1\r\nd\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    assert_int_equal(DECODE(in), 1);
    assert_int_equal(D.consumed, sizeof in - 1);
    assert_body("abcd0123456789abcdef");
}

static void chunked_decodes_into_separate_buffer(void **state)
{
    (void)state;
    static const char in[] = "2\r\nhi\r\n0\r\n\r\n";
    struct gly_http_chunked d;
    char out[8];
    size_t sl = sizeof in - 1, dl = 0;
    gly_http_chunked_init(&d);
    assert_int_equal(
        gly_http_chunked_decode(&d, out, &dl, guarded(in, sl), &sl, 100, &deflim, &st, &why), 1);
    assert_int_equal(dl, 2);
    assert_memory_equal(out, "hi", 2);
}

static void chunked_accepts_empty_body(void **state)
{
    (void)state;
    assert_int_equal(DECODE("0\r\n\r\n"), 1);
    assert_int_equal(D.outlen, 0);
}

static void chunked_leaves_next_request_unconsumed(void **state)
{
    (void)state;
    static const char body[] = "1\r\nx\r\n0\r\n\r\n";
    assert_int_equal(DECODE("1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 1);
    assert_int_equal(D.consumed, sizeof body - 1);
    assert_body("x");
}

static void chunked_accepts_hex_digits_of_both_cases(void **state)
{
    (void)state;
    assert_int_equal(DECODE("a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n"), 1);
    assert_int_equal(D.outlen, 21);
}

static void chunked_accepts_leading_zeros(void **state)
{
    (void)state;
    assert_int_equal(DECODE("0005\r\nhello\r\n0000\r\n\r\n"), 1);
    assert_body("hello");
    /* leading zeros do not count toward the 16 digits */
    assert_int_equal(DECODE("000000000000000000000001\r\nx\r\n0\r\n\r\n"), 1);
    assert_body("x");
}

static void chunked_accepts_chunk_extensions(void **state)
{
    (void)state;
    assert_int_equal(DECODE("5;name=value\r\nhello\r\n0;last\r\n\r\n"), 1);
    assert_body("hello");
    assert_int_equal(DECODE("5 ; a = b ;c;d=\"q \\\" \\\\ t\"\r\nhello\r\n0\r\n\r\n"), 1);
    assert_body("hello");
    assert_int_equal(DECODE("1\t;\ta\t=\t\"\"\r\nx\r\n0\r\n\r\n"), 1);
}

static void chunked_accepts_trailers(void **state)
{
    (void)state;
    static const char in[] = "1\r\nx\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\nY:  v  \r\n\r\n";
    assert_int_equal(DECODE(in), 1);
    assert_int_equal(D.consumed, sizeof in - 1);
    assert_body("x");
    assert_int_equal(D.d.trailers, 3);
    assert_int_equal(D.d.trailer_bytes,
                     sizeof "X-Checksum: abc\r\nX-Empty:\r\nY:  v  \r\n\r\n" - 1);
}

static void chunked_keeps_partial_size_line(void **state)
{
    (void)state;
    assert_int_equal(DECODE("1f"), 0);
    assert_int_equal(D.consumed, 0);
    assert_int_equal(DECODE("1f;a=\"b"), 0);
    assert_int_equal(D.consumed, 0);
    assert_int_equal(DECODE("1f\r"), 0);
    assert_int_equal(D.consumed, 0);
}

static void chunked_consumes_partial_data(void **state)
{
    (void)state;
    assert_int_equal(DECODE("5\r\nhel"), 0);
    assert_int_equal(D.consumed, 6);
    assert_body("hel");
    assert_int_equal(D.d.left, 2);
    assert_int_equal(DECODE("5\r\nhello\r"), 0);
    assert_int_equal(D.consumed, 8);
    assert_body("hello");
}

static void chunked_resumes_where_it_stopped(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n0\r\nX-A: 1\r\n\r\n";
    struct gly_http_chunked d;
    char *b = guarded(in, sizeof in - 1);
    char out[16];
    size_t sl = 14, dl = 0, outlen = 0;
    gly_http_chunked_init(&d);
    /* "5\r\nhello\r\n0\r\nX" */
    assert_int_equal(gly_http_chunked_decode(&d, out, &dl, b, &sl, 100, &deflim, &st, &why), 0);
    assert_int_equal(sl, 13);
    outlen += dl;
    size_t rest = sizeof in - 1 - 13;
    sl = rest;
    dl = 0;
    assert_int_equal(
        gly_http_chunked_decode(&d, out + outlen, &dl, b + 13, &sl, 100, &deflim, &st, &why), 1);
    assert_int_equal(sl, rest);
    assert_int_equal(outlen + dl, 5);
    assert_memory_equal(out, "hello", 5);
}

static void chunked_returns_done_again_after_the_end(void **state)
{
    (void)state;
    assert_int_equal(DECODE("0\r\n\r\n"), 1);
    size_t sl = 3, dl = 0;
    char buf[] = "abc";
    assert_int_equal(
        gly_http_chunked_decode(&D.d, buf, &dl, buf, &sl, 100, &deflim, &D.status, &D.why), 1);
    assert_int_equal(sl, 0);
    assert_int_equal(dl, 0);
}

static void chunked_keeps_failing_after_an_error(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("x\r\n"), 400);
    size_t sl = 5, dl = 0;
    char buf[] = "0\r\n\r\n";
    assert_int_equal(
        gly_http_chunked_decode(&D.d, buf, &dl, buf, &sl, 100, &deflim, &D.status, &D.why),
        GLY_HTTP_ERROR);
    assert_int_equal(D.status, 400);
}

static void chunked_rejects_invalid_size(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("g\r\nx\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("\r\nx\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("0x1\r\nx\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE(" 1\r\nx\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE(";a\r\nx\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_signed_size(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("-1\r\nx\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("+1\r\nx\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_size_overflow(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE_MAX("10000000000000000\r\n", UINT64_MAX), 400);
    assert_decode_rejected(DECODE_MAX("fffffffffffffffff", UINT64_MAX), 400);
}

static void chunked_rejects_size_over_max_body_413(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE_MAX("ffffffffffffffff\r\n", 100), 413);
    assert_decode_rejected(DECODE_MAX("65\r\n", 100), 413);
}

static void chunked_rejects_total_over_max_body_413(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE_MAX("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5), 413);
}

static void chunked_accepts_body_at_max_body(void **state)
{
    (void)state;
    assert_int_equal(DECODE_MAX("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5), 1);
    assert_body("abcde");
}

static void chunked_rejects_missing_crlf_after_data(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("5\r\nhelloX\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5\r\nhello\rX0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5\r\nhello\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5\r\nhello0\r\n\r\n"), 400);
}

static void chunked_rejects_bare_lf_after_size(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("5\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=b\nhello\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_bare_cr_after_size(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("5\rhello\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_whitespace_before_crlf(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("5 \r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a \r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=b\t\r\nhello\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_invalid_extension(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("5;\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;=x\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=b c\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5;a(b\r\nhello\r\n0\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("5x\r\nhello\r\n0\r\n\r\n"), 400);
}

static void chunked_rejects_unterminated_quoted_extension_at_crlf(void **state)
{
    (void)state;
    /* CR is not qdtext: the quoted string cannot run past the line */
    assert_decode_rejected(DECODE("5;a=\"b\r\nhello\r\n0\r\n\r\n"), 400);
}

static void chunked_accepts_size_line_at_4k(void **state)
{
    (void)state;
    char in[4200];
    memset(in, 'a', 4096);
    memcpy(in, "1;", 2);
    memcpy(in + 4096, "\r\nx\r\n0\r\n\r\n", 10);
    assert_int_equal(decode_lim(in, 4106, MAX_BODY, &deflim), 1);
    assert_body("x");
}

static void chunked_rejects_size_line_over_4k(void **state)
{
    (void)state;
    char in[4200];
    memset(in, 'a', 4097);
    memcpy(in, "1;", 2);
    memcpy(in + 4097, "\r\nx\r\n0\r\n\r\n", 10);
    assert_decode_rejected(decode_lim(in, 4107, MAX_BODY, &deflim), 400);
    /* without waiting for the line to end */
    assert_decode_rejected(decode_lim(in, 4097, MAX_BODY, &deflim), 400);
    assert_int_equal(decode_lim(in, 4096, MAX_BODY, &deflim), 0);
}

static void chunked_rejects_obs_fold_in_trailer(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\nX: a\r\n b\r\n\r\n"), 400);
}

static void chunked_rejects_bare_lf_in_trailer(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\nX: a\n\r\n"), 400);
    assert_decode_rejected(DECODE("0\r\n\n"), 400);
}

static void chunked_rejects_bare_cr_in_trailer(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\nX: a\rb\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("0\r\n\rX"), 400);
}

static void chunked_rejects_control_character_in_trailer(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\nX: a\0b\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("0\r\nX: a\x7f\r\n\r\n"), 400);
}

static void chunked_rejects_space_before_colon_in_trailer(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\nX : a\r\n\r\n"), 400);
}

static void chunked_rejects_empty_trailer_name(void **state)
{
    (void)state;
    assert_decode_rejected(DECODE("0\r\n: a\r\n\r\n"), 400);
    assert_decode_rejected(DECODE("0\r\nNoColon\r\n\r\n"), 400);
}

static void chunked_rejects_too_many_trailers_431(void **state)
{
    (void)state;
    struct gly_http_limits lim = {100, 1024, 2};
    assert_int_equal(DECODE_LIM("0\r\nA: 1\r\nB: 2\r\n\r\n", &lim), 1);
    assert_decode_rejected(DECODE_LIM("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim), 431);
}

static void chunked_rejects_trailer_section_over_limit_431(void **state)
{
    (void)state;
    struct gly_http_limits lim = {100, 16, 10};
    /* "A: 123456789\r\n\r\n" is 16 bytes */
    assert_int_equal(DECODE_LIM("0\r\nA: 123456789\r\n\r\n", &lim), 1);
    assert_decode_rejected(DECODE_LIM("0\r\nA: 1234567890\r\n\r\n", &lim), 431);
    /* without waiting for the line to end */
    assert_decode_rejected(DECODE_LIM("0\r\nA: 1234567890abcdef", &lim), 431);
}

/* ------------------------------------------------------------------------ */

#define T(name) cmocka_unit_test_teardown(name, release_guards)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(parse_accepts_simple_get),
        T(parse_accepts_typical_browser_request),
        T(parse_returns_incomplete_for_every_proper_prefix),
        T(parse_accepts_http10_without_host),
        T(parse_keeps_http10_alive_with_connection_keep_alive),
        T(parse_closes_http11_with_connection_close_token),
        T(parse_accepts_absolute_form),
        T(parse_accepts_absolute_form_with_uppercase_https_scheme),
        T(parse_gives_slash_for_absolute_form_with_empty_path),
        T(parse_accepts_options_asterisk),
        T(parse_accepts_connect_authority_form),
        T(parse_accepts_empty_query),
        T(parse_splits_query_at_first_question_mark),
        T(parse_accepts_all_visible_characters_but_hash_in_target),
        T(parse_trims_value_whitespace_and_keeps_inner),
        T(parse_preserves_field_name_case),
        T(parse_accepts_obs_text_in_value),
        T(parse_accepts_long_values),
        T(parse_leaves_pipelined_request_unconsumed),
        T(parse_skips_leading_empty_lines),
        T(parse_sets_content_length),
        T(parse_accepts_largest_content_length),
        T(parse_accepts_identical_duplicate_content_length),
        T(parse_sets_chunked_flag_case_insensitively),
        T(parse_sets_expect_continue),
        T(parse_ignores_expect_continue_in_http10),
        T(parse_ignores_other_expectations),
        T(parse_sets_upgrade_with_connection_upgrade_and_upgrade_field),
        T(parse_accepts_every_known_method),
        T(method_lookup_is_case_sensitive_and_exact),
        T(parse_accepts_host_forms),
        T(parse_accepts_one_host_in_http10),
        T(parse_accepts_request_line_at_the_limit),
        T(parse_accepts_head_at_the_limit),
        T(parse_accepts_max_headers_fields),
        T(parse_finds_end_of_head_split_across_calls),
        T(parse_byte_by_byte_matches_one_shot),
        T(parse_clamps_max_headers_to_capacity),
        T(parse_rejects_empty_method),
        T(parse_rejects_invalid_method_character),
        T(parse_rejects_garbage_before_head_complete),
        T(parse_rejects_unknown_method_501),
        T(parse_rejects_lowercase_method_501),
        T(parse_rejects_double_space_in_request_line),
        T(parse_rejects_tab_as_request_line_separator),
        T(parse_rejects_missing_version),
        T(parse_rejects_space_after_version),
        T(parse_rejects_malformed_version),
        T(parse_rejects_unknown_version_505),
        T(parse_reports_the_first_error_in_the_line),
        T(parse_rejects_bare_cr_in_request_line),
        T(parse_rejects_bare_lf_after_request_line),
        T(parse_rejects_leading_bare_lf),
        T(parse_rejects_too_many_leading_empty_lines),
        T(parse_rejects_target_without_leading_slash),
        T(parse_rejects_asterisk_for_other_methods),
        T(parse_rejects_asterisk_with_more_characters),
        T(parse_rejects_authority_form_for_other_methods),
        T(parse_rejects_connect_with_origin_form),
        T(parse_rejects_connect_without_port),
        T(parse_rejects_unsupported_scheme),
        T(parse_rejects_absolute_form_with_empty_host),
        T(parse_rejects_absolute_form_with_userinfo),
        T(parse_rejects_fragment_in_target),
        T(parse_rejects_control_characters_in_target),
        T(parse_rejects_high_bytes_in_target),
        T(parse_rejects_long_request_line_414),
        T(parse_rejects_long_request_line_414_before_head_complete),
        T(parse_rejects_bad_method_arriving_in_a_later_call),
        T(parse_rejects_bad_version_arriving_in_a_later_call),
        T(parse_reports_field_errors_of_later_calls_when_the_head_ends),
        T(parse_counts_long_request_line_after_empty_lines),
        T(parse_rejects_http11_without_host),
        T(parse_rejects_two_hosts),
        T(parse_rejects_two_hosts_in_http10),
        T(parse_rejects_invalid_host_value),
        T(parse_rejects_obs_fold),
        T(parse_rejects_whitespace_before_first_field),
        T(parse_rejects_space_before_colon),
        T(parse_rejects_tab_before_colon),
        T(parse_rejects_empty_field_name),
        T(parse_rejects_field_without_colon),
        T(parse_rejects_invalid_field_name_character),
        T(parse_rejects_nul_in_value),
        T(parse_rejects_every_control_character_in_value),
        T(parse_accepts_tab_in_long_value),
        T(parse_rejects_bare_cr_in_value),
        T(parse_rejects_bare_cr_in_name),
        T(parse_rejects_bare_lf_line_ending),
        T(parse_rejects_bare_lf_as_empty_line),
        T(parse_rejects_bare_cr_as_empty_line),
        T(parse_rejects_invalid_connection_syntax),
        T(parse_rejects_too_many_headers_431),
        T(parse_rejects_head_over_limit_431),
        T(parse_rejects_head_over_limit_before_complete_431),
        T(parse_counts_leading_empty_lines_toward_head_limit),
        T(parse_rejects_content_length_with_transfer_encoding),
        T(parse_rejects_differing_duplicate_content_length),
        T(parse_rejects_differing_content_length_list),
        T(parse_rejects_signed_content_length),
        T(parse_rejects_content_length_with_inner_space),
        T(parse_rejects_non_digit_content_length),
        T(parse_rejects_empty_content_length),
        T(parse_rejects_content_length_overflow),
        T(parse_rejects_gzip_as_final_coding),
        T(parse_rejects_gzip_before_chunked_501),
        T(parse_rejects_chunked_not_last),
        T(parse_rejects_chunked_twice),
        T(parse_rejects_empty_transfer_encoding),
        T(parse_rejects_invalid_transfer_encoding_syntax),
        T(parse_rejects_transfer_encoding_in_http10),
        T(chunked_decodes_single_chunk),
        T(chunked_decodes_several_chunks_in_place),
        T(chunked_decodes_into_separate_buffer),
        T(chunked_accepts_empty_body),
        T(chunked_leaves_next_request_unconsumed),
        T(chunked_accepts_hex_digits_of_both_cases),
        T(chunked_accepts_leading_zeros),
        T(chunked_accepts_chunk_extensions),
        T(chunked_accepts_trailers),
        T(chunked_keeps_partial_size_line),
        T(chunked_consumes_partial_data),
        T(chunked_resumes_where_it_stopped),
        T(chunked_returns_done_again_after_the_end),
        T(chunked_keeps_failing_after_an_error),
        T(chunked_rejects_invalid_size),
        T(chunked_rejects_signed_size),
        T(chunked_rejects_size_overflow),
        T(chunked_rejects_size_over_max_body_413),
        T(chunked_rejects_total_over_max_body_413),
        T(chunked_accepts_body_at_max_body),
        T(chunked_rejects_missing_crlf_after_data),
        T(chunked_rejects_bare_lf_after_size),
        T(chunked_rejects_bare_cr_after_size),
        T(chunked_rejects_whitespace_before_crlf),
        T(chunked_rejects_invalid_extension),
        T(chunked_rejects_unterminated_quoted_extension_at_crlf),
        T(chunked_accepts_size_line_at_4k),
        T(chunked_rejects_size_line_over_4k),
        T(chunked_rejects_obs_fold_in_trailer),
        T(chunked_rejects_bare_lf_in_trailer),
        T(chunked_rejects_bare_cr_in_trailer),
        T(chunked_rejects_control_character_in_trailer),
        T(chunked_rejects_space_before_colon_in_trailer),
        T(chunked_rejects_empty_trailer_name),
        T(chunked_rejects_too_many_trailers_431),
        T(chunked_rejects_trailer_section_over_limit_431),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
