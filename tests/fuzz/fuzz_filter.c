/*
 * tests/fuzz/fuzz_filter.c - libFuzzer target for the filter language.
 *
 * The input is compiled as a filter over posts of the unit tests' schema
 * (tests/unit/records/filter_schema.h) in both dialects, with a signed-in
 * user and a JSON body, and then as a sort. Invariants:
 *
 *  - both dialects agree: the same answer, error position and message,
 *    and the same number of parameters;
 *  - a refusal is GLY_EINVAL with a position within the input and a short
 *    message, and leaves the SQL and the parameters as they were;
 *  - an accepted filter's SQL is made only of the compiler's own words,
 *    names of the schema in double quotes, the constants '' 'null' '\',
 *    and $N numbered 1, 2, ... in order of first use, with balanced
 *    parentheses. So no byte of a value can be in it, whatever the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json_read.h>

#include "../unit/records/filter_schema.h"
#include "records/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static const char *const words[] = {"r",
                                    "AND",
                                    "OR",
                                    "NOT",
                                    "IS",
                                    "NULL",
                                    "EXISTS",
                                    "SELECT",
                                    "FROM",
                                    "WHERE",
                                    "JOIN",
                                    "ON",
                                    "CROSS",
                                    "LIKE",
                                    "ILIKE",
                                    "ESCAPE",
                                    "DISTINCT",
                                    "COALESCE",
                                    "CAST",
                                    "AS",
                                    "TEXT",
                                    "json_each",
                                    "jsonb_array_elements_text",
                                    "value",
                                    NULL};

static bool is_word(const char *w, size_t n)
{
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
            return true;
    if (n < 2 || w[0] != 'r')
        return false;
    for (size_t i = 1; i < n; i++)
        if (w[i] < '0' || w[i] > '9')
            return false;
    return true;
}

static bool is_name(const char *w, size_t n)
{
    for (size_t k = 0; k < fs_schema.ncolls; k++) {
        const struct coll *c = fs_schema.colls[k];
        if (strlen(c->name) == n && memcmp(c->name, w, n) == 0)
            return true;
        for (size_t m = 0; m < c->nfields; m++)
            if (strlen(c->fields[m].name) == n && memcmp(c->fields[m].name, w, n) == 0)
                return true;
    }
    return false;
}

static bool alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static void check_sql(const char *s, size_t len, unsigned nparams)
{
    int depth = 0;
    unsigned next = 1;
    size_t i = 0;
    while (i < len) {
        char ch = s[i];
        if (ch == '(' || ch == ')') {
            depth += ch == '(' ? 1 : -1;
            CHECK(depth >= 0);
            i++;
        } else if (ch == '"') {
            const char *end = memchr(s + i + 1, '"', len - i - 1);
            CHECK(end && is_name(s + i + 1, (size_t)(end - s - i - 1)));
            i = (size_t)(end - s) + 1;
        } else if (ch == '\'') {
            size_t k = len - i >= 6 && !memcmp(s + i, "'null'", 6) ? 6
                       : len - i >= 3 && !memcmp(s + i, "'\\'", 3) ? 3
                       : len - i >= 2 && !memcmp(s + i, "''", 2)   ? 2
                                                                   : 0;
            CHECK(k != 0);
            i += k;
        } else if (ch == '$') {
            unsigned k = 0;
            size_t j = i + 1;
            CHECK(j < len && s[j] >= '1' && s[j] <= '9');
            while (j < len && s[j] >= '0' && s[j] <= '9')
                k = k * 10 + (unsigned)(s[j++] - '0');
            CHECK(k >= 1 && k <= next && k <= nparams);
            next += k == next;
            i = j;
        } else if (alnum(ch) && !(ch >= '0' && ch <= '9')) {
            size_t j = i;
            while (j < len && alnum(s[j]))
                j++;
            CHECK(is_word(s + i, j - i));
            i = j;
        } else {
            CHECK(ch == ' ' || ch == '.' || ch == ',' || ch == '=' || ch == '<' || ch == '>' ||
                  ch == '!' || ch == '1' || ch == '0');
            i++;
        }
    }
    CHECK(depth == 0);
    CHECK(next == nparams + 1);
}

struct result {
    int rc;
    size_t pos;
    const char *msg;
    unsigned nparams;
};

static struct result compile(gly_arena *a, const gly_row *auth, const gly_jv *body,
                             enum flt_dialect d, const char *src, size_t n)
{
    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, a, 0);
    struct flt f = {.arena = a,
                    .schema = &fs_schema,
                    .coll = &fs_posts,
                    .alias = "r",
                    .dialect = d,
                    .auth = auth,
                    .body = body,
                    .now = "2024-06-01T00:00:00.000Z",
                    .sql = &sql};
    struct result r = {.rc = flt_where(&f, src, n)};
    r.pos = f.err_pos;
    r.msg = f.err_msg;
    r.nparams = f.nparams;
    if (r.rc == 0) {
        check_sql(sql.p, sql.len, f.nparams);
    } else {
        CHECK(r.rc == GLY_EINVAL);
        CHECK(sql.len == 0 && f.nparams == 0);
        CHECK(r.pos <= n && r.msg && r.msg[0] && strlen(r.msg) < 100);
    }
    struct flt_sort s;
    gly_buf_clear(&sql);
    if (flt_sort_parse(&f, src, n, &s) == 0) {
        CHECK(s.n >= 1 && s.n <= 9);
        CHECK(flt_sort_sql(&f, &s) == 0);
    } else {
        CHECK(f.err_pos <= n);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fs_init();
        ready = true;
    }
    gly_arena a;
    gly_arena_init(&a, 0);
    static const char body_json[] = "{\"title\":\"Hi\",\"votes\":\"10\",\"n\":7,\"arr\":[1]}";
    gly_jv *body = NULL;
    CHECK(gly_json_parse(&a, body_json, sizeof body_json - 1, NULL, &body, NULL) == 0);
    const char *src = (const char *)data;
    struct result x = compile(&a, NULL, body, FLT_SQLITE, src, size);
    struct result y = compile(&a, NULL, body, FLT_PG, src, size);
    CHECK(x.rc == y.rc && x.nparams == y.nparams);
    if (x.rc != 0)
        CHECK(x.pos == y.pos && strcmp(x.msg, y.msg) == 0);
    gly_arena_dispose(&a);
    return 0;
}
