/*
 * tests/fuzz/fuzz_resp.c - libFuzzer target for the RESP2 reply codec.
 *
 * The input is a stream of replies, as a Redis connection delivers it. Each
 * is scanned and, when whole, built in an arena, then the next one, until an
 * error or an incomplete tail. Checked:
 *  - the scan answers a length within the input, 0 or a documented error;
 *  - the scan of every shorter prefix of an accepted reply answers 0;
 *  - a built reply is a consistent tree (strings NUL-terminated at len,
 *    arrays with len non-NULL elements);
 *  - encoding the strings of a built reply as a command and scanning that
 *    accepts exactly the encoded length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>

#include "redis/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

/* Checks the tree and collects up to max strings of it into argv. */
static void walk(const gly_redis_reply *r, unsigned depth, gly_str *argv, unsigned *argc,
                 unsigned max)
{
    CHECK(depth <= RESP_DEPTH_MAX);
    switch (r->type) {
    case GLY_REDIS_STRING:
    case GLY_REDIS_STATUS:
    case GLY_REDIS_ERROR:
        CHECK(r->str != NULL && r->str[r->len] == '\0');
        if (r->type != GLY_REDIS_STRING)
            CHECK(memchr(r->str, '\r', r->len) == NULL && memchr(r->str, '\n', r->len) == NULL);
        if (*argc < max)
            argv[(*argc)++] = (gly_str){r->str, r->len};
        break;
    case GLY_REDIS_ARRAY:
        CHECK(r->len > 0 ? r->element != NULL : 1);
        for (size_t i = 0; i < r->len; i++) {
            CHECK(r->element[i] != NULL);
            walk(r->element[i], depth + 1, argv, argc, max);
        }
        break;
    case GLY_REDIS_INTEGER:
    case GLY_REDIS_NIL:
        break;
    default:
        CHECK(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t left = size;
    gly_arena a;
    gly_arena_init(&a, 0);
    for (int replies = 0; replies < 64; replies++) {
        ssize_t n = gly__resp_scan(p, left);
        CHECK(n == 0 || n == GLY_EPROTO || n == GLY_ELIMIT || (n > 0 && (size_t)n <= left));
        if (n <= 0)
            break;
        /* a prefix never looks whole, nor wrong (sampled for long replies) */
        size_t step = (size_t)n > 256 ? (size_t)n / 128 : 1;
        for (size_t k = 0; k < (size_t)n; k += step)
            CHECK(gly__resp_scan(p, k) == 0);
        gly_redis_reply *r = NULL;
        CHECK(gly__resp_build(&a, p, (size_t)n, &r) == 0 && r != NULL);
        gly_str argv[32];
        unsigned argc = 0;
        walk(r, 0, argv, &argc, 32);
        if (argc) {
            gly_buf b;
            gly_buf_init(&b, NULL, 0, NULL, 0);
            CHECK(gly__resp_command(&b, argc, argv) == 0);
            CHECK(gly__resp_scan(b.p, b.len) == (ssize_t)b.len);
            gly_buf_dispose(&b);
        }
        gly_arena_reset(&a);
        p += n;
        left -= (size_t)n;
    }
    gly_arena_dispose(&a);
    return 0;
}
