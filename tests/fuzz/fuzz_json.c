/*
 * tests/fuzz/fuzz_json.c - libFuzzer target for the JSON reader.
 *
 * The input is parsed as JSON. A rejection must come with a sane error
 * (offset within the input, line and column from 1, a message). An accepted
 * document is written back with the gly_json writer and parsed again: the
 * second tree must equal the first (types, strings and keys byte for byte,
 * number texts, order), every member must be found by its key, and an
 * integer reported exact by gly_jv_i64 must equal its double.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json.h>
#include <galley/json_read.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static void check_error(const gly_json_error *e, size_t size)
{
    CHECK(e->offset <= size);
    CHECK(e->line >= 1 && e->column >= 1);
    CHECK(e->column <= e->offset + 1);
    CHECK(e->msg[0] != '\0');
}

/* Checks a and b are the same tree, and the lookups of a agree with its members. */
static void same(const gly_jv *a, const gly_jv *b)
{
    CHECK(a != NULL && b != NULL);
    CHECK(gly_jv_type(a) == gly_jv_type(b));
    CHECK(gly_jv_line(a) >= 1 && gly_jv_column(a) >= 1);
    switch (gly_jv_type(a)) {
    case GLY_JSON_BOOL:
        CHECK(gly_jv_bool(a) == gly_jv_bool(b));
        break;
    case GLY_JSON_NUMBER: {
        CHECK(gly_str_eq(gly_jv_num_raw(a), gly_jv_num_raw(b)));
        double d = gly_jv_double(a);
        CHECK(d == gly_jv_double(b) || (d != d && gly_jv_double(b) != gly_jv_double(b)));
        int64_t x;
        if (gly_jv_i64(a, &x)) {
            CHECK((double)x == d);
        }
        break;
    }
    case GLY_JSON_STRING: {
        gly_str s = gly_jv_str(a);
        CHECK(gly_str_eq(s, gly_jv_str(b)));
        CHECK(s.p[s.n] == '\0');
        break;
    }
    case GLY_JSON_ARRAY:
    case GLY_JSON_OBJECT: {
        size_t n = gly_jv_len(a);
        CHECK(n == gly_jv_len(b));
        CHECK(gly_jv_at(a, n) == NULL);
        for (size_t k = 0; k < n; k++) {
            if (gly_jv_type(a) == GLY_JSON_OBJECT) {
                gly_str key = gly_jv_key_at(a, k);
                CHECK(gly_str_eq(key, gly_jv_key_at(b, k)));
                CHECK(gly_jv_getn(a, key) == gly_jv_at(a, k));
            }
            same(gly_jv_at(a, k), gly_jv_at(b, k));
        }
        break;
    }
    case GLY_JSON_NULL:
        break;
    case GLY_JSON_NONE:
        CHECK(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_jv *v = NULL;
    gly_json_error e;
    gly_json_limits lim = gly_json_limits_default();
    lim.max_depth = GLY_JSON_MAX_DEPTH; /* what the writer can write back */
    lim.max_string_bytes = 4096;
    int rc = gly_json_parse(&a, (const char *)data, size, &lim, &v, &e);
    if (rc != 0) {
        CHECK(rc == GLY_EINVAL || rc == GLY_ELIMIT);
        CHECK(v == NULL);
        check_error(&e, size);
    } else {
        gly_buf b;
        gly_json j;
        gly_buf_init(&b, NULL, 0, NULL, 0);
        gly_json_init(&j, &b);
        CHECK(gly_json_value(&j, v) == 0);
        CHECK(gly_json_finish(&j) == 0);
        CHECK(b.len <= 6 * size + 2); /* \u00XX is the widest escape of one input byte */
        gly_jv *w = NULL;
        lim.max_string_bytes = 0;
        rc = gly_json_parse(&a, b.p, b.len, &lim, &w, &e);
        CHECK(rc == 0);
        same(v, w);
        gly_buf_dispose(&b);
    }
    gly_arena_dispose(&a);
    return 0;
}
