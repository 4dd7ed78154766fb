/*
 * src/redis/resp.c - RESP2, the Redis protocol: scanning and building
 * replies, encoding commands.
 *
 * A reply is one value: "+status\r\n", "-error\r\n", ":integer\r\n",
 * "$len\r\nbytes\r\n" ($-1: nil), or "*count\r\n" and count values (*-1:
 * nil). The scan walks the values without recursion, keeping how many
 * elements each open array still expects; the build recurses over bytes the
 * scan has accepted, so its depth is bounded by RESP_DEPTH_MAX.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "redis/internal.h"

#define NUM_MAX 21 /* "-9223372036854775808" and a spare byte */

/*
 * Reads the decimal integer and CRLF at *pp (below end) into *v and moves *pp
 * past them. Returns 1, 0 when the line is not complete, or GLY_EPROTO.
 */
static int read_num(const char **pp, const char *end, int64_t *v)
{
    const char *p = *pp;
    bool neg = false;
    uint64_t u = 0, lim;
    size_t digits = 0;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (++digits > NUM_MAX || u > (lim - d) / 10)
            return GLY_EPROTO;
        u = u * 10 + d;
    }
    if (p == end)
        return 0;
    if (digits == 0 || *p != '\r')
        return GLY_EPROTO;
    if (p + 1 == end)
        return 0;
    if (p[1] != '\n')
        return GLY_EPROTO;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    *pp = p + 2;
    return 1;
}

/*
 * Finds the CRLF that ends the line at p (below end), of at most max bytes
 * without CR or LF. Returns 1 with *eol at its CR, 0 when it is not
 * complete, or an error.
 */
static int read_line(const char *p, const char *end, size_t max, const char **eol)
{
    size_t avail = (size_t)(end - p);
    const char *cr = memchr(p, '\r', avail < max + 1 ? avail : max + 1);
    const char *lf = memchr(p, '\n', cr ? (size_t)(cr - p) : (avail < max + 1 ? avail : max + 1));
    if (lf)
        return GLY_EPROTO;
    if (!cr)
        return avail > max ? GLY_ELIMIT : 0;
    if (cr + 1 == end)
        return 0;
    if (cr[1] != '\n')
        return GLY_EPROTO;
    *eol = cr;
    return 1;
}

ssize_t gly__resp_scan(const char *buf, size_t n)
{
    const char *p = buf, *end = buf + n;
    int64_t left[RESP_DEPTH_MAX + 1]; /* values still expected at each depth */
    unsigned depth = 0;
    left[0] = 1;
    for (;;) {
        if (p == end)
            return 0;
        const char *eol;
        int64_t v = 0;
        int rc;
        switch (*p++) {
        case '+':
        case '-':
            if ((rc = read_line(p, end, RESP_LINE_MAX, &eol)) <= 0)
                return rc;
            p = eol + 2;
            break;
        case ':':
            if ((rc = read_num(&p, end, &v)) <= 0)
                return rc;
            break;
        case '$':
            if ((rc = read_num(&p, end, &v)) <= 0)
                return rc;
            if (v < -1)
                return GLY_EPROTO;
            if (v > RESP_BULK_MAX)
                return GLY_ELIMIT;
            if (v >= 0) {
                if ((size_t)(end - p) < (size_t)v + 2)
                    return 0;
                if (p[v] != '\r' || p[v + 1] != '\n')
                    return GLY_EPROTO;
                p += v + 2;
            }
            break;
        case '*':
            if ((rc = read_num(&p, end, &v)) <= 0)
                return rc;
            if (v < -1)
                return GLY_EPROTO;
            if (v > RESP_ARRAY_MAX)
                return GLY_ELIMIT;
            if (v > 0) {
                if (depth == RESP_DEPTH_MAX)
                    return GLY_ELIMIT;
                left[++depth] = v;
                continue; /* the array is one value of its parent once its elements are in */
            }
            break;
        default:
            return GLY_EPROTO;
        }
        while (--left[depth] == 0) {
            if (depth == 0)
                return p - buf;
            depth--;
        }
    }
}

/* Reads a number the scan accepted. */
static int64_t num_at(const char **pp)
{
    int64_t v = 0;
    int rc = read_num(pp, *pp + NUM_MAX + 3, &v);
    assert(rc == 1);
    (void)rc;
    return v;
}

/* Builds the value at *pp (accepted by the scan) and moves *pp past it. */
static int build(gly_arena *a, const char **pp, gly_redis_reply **out)
{
    const char *p = *pp;
    gly_redis_reply *r = gly_arena_calloc(a, 1, sizeof *r);
    if (!r)
        return GLY_ENOMEM;
    char t = *p++;
    switch (t) {
    case '+':
    case '-': {
        size_t len = (size_t)((const char *)memchr(p, '\r', RESP_LINE_MAX + 1) - p);
        r->type = t == '+' ? GLY_REDIS_STATUS : GLY_REDIS_ERROR;
        if (!(r->str = gly_arena_strndup(a, p, len)))
            return GLY_ENOMEM;
        r->len = len;
        p += len + 2;
        break;
    }
    case ':':
        r->type = GLY_REDIS_INTEGER;
        r->integer = num_at(&p);
        break;
    case '$': {
        int64_t len = num_at(&p);
        if (len < 0) {
            r->type = GLY_REDIS_NIL;
            break;
        }
        r->type = GLY_REDIS_STRING;
        if (!(r->str = gly_arena_strndup(a, p, (size_t)len)))
            return GLY_ENOMEM;
        r->len = (size_t)len;
        p += len + 2;
        break;
    }
    default: {
        assert(t == '*');
        int64_t count = num_at(&p);
        if (count < 0) {
            r->type = GLY_REDIS_NIL;
            break;
        }
        r->type = GLY_REDIS_ARRAY;
        r->len = (size_t)count;
        if (count && !(r->element = gly_arena_alloc(a, (size_t)count * sizeof *r->element)))
            return GLY_ENOMEM;
        for (int64_t i = 0; i < count; i++) {
            int rc = build(a, &p, &r->element[i]);
            if (rc < 0)
                return rc;
        }
        break;
    }
    }
    *pp = p;
    *out = r;
    return 0;
}

int gly__resp_build(gly_arena *a, const char *p, size_t n, gly_redis_reply **out)
{
    const char *q = p;
    int rc = build(a, &q, out);
    assert(rc < 0 || q == p + n);
    (void)n;
    return rc;
}

int gly__resp_command(gly_buf *b, unsigned argc, const gly_str *argv)
{
    gly_buf_putc(b, '*');
    gly_buf_put_u64(b, argc);
    gly_buf_append(b, "\r\n", 2);
    for (unsigned i = 0; i < argc; i++) {
        gly_buf_putc(b, '$');
        gly_buf_put_u64(b, argv[i].n);
        gly_buf_append(b, "\r\n", 2);
        if (argv[i].n)
            gly_buf_append(b, argv[i].p, argv[i].n);
        gly_buf_append(b, "\r\n", 2);
    }
    return b->err;
}
