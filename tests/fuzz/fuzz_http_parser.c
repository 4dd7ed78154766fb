/*
 * tests/fuzz/fuzz_http_parser.c - libFuzzer target for the request head
 * parser and the chunked decoder.
 *
 * The last input byte steers: which limits apply, whether the whole input is
 * fed to the chunked decoder directly (besides the head parse), and with the
 * first byte, where the input is split for the incremental runs. Every parse
 * is done one-shot and in up to three pieces, each piece in its own exact-size
 * heap copy so that AddressSanitizer sees any read past the bytes given. The
 * pieces must give the one-shot result, except that an error in bytes that
 * arrived after the first call may still be "incomplete" (the parser only
 * looks for the end of the head in them). The decoder, which keeps state,
 * must give exactly the one-shot result when fed in pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct gly_http_limits limits[] = {
    {8192, 65536, 100}, /* the defaults */
    {40, 160, 4},       /* small: reach 414 and 431 */
};

static char *dup_bytes(const void *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    if (n > 0) {
        memcpy(b, p, n);
    }
    return b;
}

static bool within(gly_str s, const char *base, size_t n)
{
    return s.p == NULL ? s.n == 0 : s.p >= base && s.n <= n && s.p - base <= (ptrdiff_t)(n - s.n);
}

static bool is_static_path(gly_str s)
{
    return s.n == 1 && (s.p[0] == '/' || s.p[0] == '*');
}

/* Invariants of a successful parse of buf[0..r). */
static void check_head(const struct gly_http_head *h, const char *buf, int r,
                       const struct gly_http_limits *lim)
{
    size_t n = (size_t)r;
    CHECK(h->method_id >= GLY_GET && h->method_id < GLY_METHOD_COUNT);
    CHECK(h->method.n > 0 && within(h->method, buf, n));
    CHECK(gly_http_method_lookup(h->method.p, h->method.n) == h->method_id);
    CHECK(h->target.n > 0 && within(h->target, buf, n));
    CHECK(within(h->path, buf, n) || is_static_path(h->path));
    CHECK(within(h->query, buf, n));
    CHECK(h->query.p == NULL ||
          (h->query.p >= h->target.p && h->query.p + h->query.n == h->target.p + h->target.n));
    CHECK(h->minor_version == 0 || h->minor_version == 1);
    CHECK(within(h->host, buf, n));
    CHECK(h->minor_version == 0 || h->host.p != NULL);
    CHECK(h->nheaders <= lim->max_headers && h->nheaders <= GLY_HTTP_MAX_HEADERS);
    CHECK(n <= lim->max_head);
    CHECK(!((h->flags & GLY_HTTP_CHUNKED) && (h->flags & GLY_HTTP_HAS_LENGTH)));
    CHECK(!(h->flags & GLY_HTTP_HAS_LENGTH) || h->content_length <= (uint64_t)INT64_MAX);
    CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    for (unsigned i = 0; i < h->nheaders; i++) {
        const struct gly_http_header *f = &h->headers[i];
        CHECK(f->name.n > 0 && within(f->name, buf, n) && within(f->value, buf, n));
        CHECK(f->value.n == 0 ||
              (f->value.p[0] != ' ' && f->value.p[0] != '\t' && f->value.p[f->value.n - 1] != ' ' &&
               f->value.p[f->value.n - 1] != '\t'));
        CHECK(memchr(f->value.p, '\r', f->value.n) == NULL);
        CHECK(memchr(f->value.p, '\n', f->value.n) == NULL);
    }
}

static bool same_slice(gly_str a, const char *base_a, gly_str b, const char *base_b)
{
    if (a.n != b.n || (a.p == NULL) != (b.p == NULL)) {
        return false;
    }
    if (a.p == NULL || a.n == 0) {
        return true;
    }
    return memcmp(a.p, b.p, a.n) == 0 && (a.p - base_a == b.p - base_b || is_static_path(a));
}

static bool same_head(const struct gly_http_head *a, const char *base_a,
                      const struct gly_http_head *b, const char *base_b)
{
    if (a->method_id != b->method_id || a->minor_version != b->minor_version ||
        a->flags != b->flags || a->nheaders != b->nheaders ||
        ((a->flags & GLY_HTTP_HAS_LENGTH) && a->content_length != b->content_length)) {
        return false;
    }
    if (!same_slice(a->method, base_a, b->method, base_b) ||
        !same_slice(a->target, base_a, b->target, base_b) ||
        !same_slice(a->path, base_a, b->path, base_b) ||
        !same_slice(a->query, base_a, b->query, base_b) ||
        !same_slice(a->host, base_a, b->host, base_b)) {
        return false;
    }
    for (unsigned i = 0; i < a->nheaders; i++) {
        if (!same_slice(a->headers[i].name, base_a, b->headers[i].name, base_b) ||
            !same_slice(a->headers[i].value, base_a, b->headers[i].value, base_b)) {
            return false;
        }
    }
    return true;
}

static struct gly_http_head one, inc;

/* Parses data in pieces ending at cuts[0..3) (increasing, the last is size). */
static void parse_in_pieces(const uint8_t *data, const size_t cuts[3],
                            const struct gly_http_limits *lim, int r1, int st1, const char *why1,
                            const char *buf1)
{
    size_t last = 0;
    int r = GLY_HTTP_INCOMPLETE, st = 0;
    const char *why = NULL;
    char *b = NULL;
    bool first_call = true;

    for (int i = 0; i < 3 && r == GLY_HTTP_INCOMPLETE; i++) {
        size_t k = cuts[i];
        if (k == 0 || (k == last && i < 2)) {
            continue;
        }
        free(b);
        b = dup_bytes(data, k);
        first_call = last == 0;
        r = gly_http_parse_head(b, k, last, lim, &inc, &st, &why);
        last = k;
    }
    if (r >= 0) {
        /* complete within a prefix: it must be the one-shot head */
        CHECK(r == r1);
        CHECK(same_head(&one, buf1, &inc, b));
    } else if (r == GLY_HTTP_ERROR) {
        CHECK(r1 == GLY_HTTP_ERROR && st == st1 && why == why1);
    } else if (r1 == GLY_HTTP_ERROR) {
        /* may be deferred, but only by a call that was not the first */
        CHECK(!first_call);
    } else {
        CHECK(r1 == GLY_HTTP_INCOMPLETE);
    }
    free(b);
}

/* The one-shot and piecewise decode of body[0..n). */
static void decode(const uint8_t *body, size_t n, uint8_t ctl, uint64_t max_body,
                   const struct gly_http_limits *lim)
{
    struct gly_http_chunked d1, d2;
    char *a = dup_bytes(body, n);
    size_t sl = n, dl = 0;
    int st1 = 0, st2 = 0;
    const char *why1 = NULL, *why2 = NULL;

    gly_http_chunked_init(&d1);
    int r1 = gly_http_chunked_decode(&d1, a, &dl, a, &sl, max_body, lim, &st1, &why1);
    CHECK(r1 == 0 || r1 == 1 || r1 == GLY_HTTP_ERROR);
    CHECK(sl <= n && dl <= sl);
    CHECK(d1.total <= max_body);
    if (r1 == GLY_HTTP_ERROR) {
        CHECK(why1 != NULL && (st1 == 400 || st1 == 413 || st1 == 431));
    } else {
        CHECK(d1.total == dl);
        CHECK(d1.trailer_bytes <= lim->max_head && d1.trailers <= lim->max_headers);
    }

    /* pieces: each call gets the unconsumed rest plus the next piece, in an exact-size copy */
    size_t step = (size_t)(ctl % 7) + 1;
    char *out = malloc(n ? n : 1), *pend = malloc(n ? n : 1);
    CHECK(out != NULL && pend != NULL);
    size_t plen = 0, outlen = 0, consumed = 0, pos = 0;
    int r2 = 0;
    gly_http_chunked_init(&d2);
    while (pos < n && r2 == 0) {
        size_t take = n - pos < step ? n - pos : step;
        memcpy(pend + plen, body + pos, take);
        plen += take;
        pos += take;
        char *src = dup_bytes(pend, plen);
        size_t s = plen, o = 0;
        r2 = gly_http_chunked_decode(&d2, out + outlen, &o, src, &s, max_body, lim, &st2, &why2);
        free(src);
        CHECK(s <= plen && o <= s);
        outlen += o;
        consumed += s;
        memmove(pend, pend + s, plen - s);
        plen -= s;
        step = step * 3 % 61 + 1; /* vary the piece sizes */
    }
    CHECK(r2 == r1);
    if (r1 == GLY_HTTP_ERROR) {
        CHECK(st2 == st1 && why2 == why1);
    } else {
        CHECK(consumed == sl && outlen == dl);
        CHECK(dl == 0 || memcmp(out, a, dl) == 0);
    }
    free(out);
    free(pend);
    free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t ctl = data[size - 1];
    const struct gly_http_limits *lim = &limits[(ctl >> 6) == 3];
    uint64_t max_body = (ctl & 0x20) ? 64 : 1u << 20;

    char *buf = dup_bytes(data, size);
    int st = 0;
    const char *why = NULL;
    int r = gly_http_parse_head(buf, size, 0, lim, &one, &st, &why);
    CHECK(r == GLY_HTTP_INCOMPLETE || r == GLY_HTTP_ERROR || (r > 0 && (size_t)r <= size));
    if (r == GLY_HTTP_ERROR) {
        CHECK(why != NULL);
        CHECK(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
    } else if (r > 0) {
        check_head(&one, buf, r, lim);
    }

    size_t k1 = (size_t)(((uint64_t)ctl * (size + 1)) >> 8);
    size_t k2 = k1 + (size_t)(((uint64_t)(data[0] ^ 0x5a) * (size - k1 + 1)) >> 8);
    size_t cuts[3] = {k1, k2, size};
    parse_in_pieces(data, cuts, lim, r, st, why, buf);

    if (r > 0 && (one.flags & GLY_HTTP_CHUNKED)) {
        decode(data + r, size - (size_t)r, ctl, max_body, lim);
    } else if (ctl & 0x10) {
        decode(data, size, ctl, max_body, lim);
    }
    free(buf);
    return 0;
}
