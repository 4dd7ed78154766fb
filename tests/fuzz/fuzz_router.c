/*
 * tests/fuzz/fuzz_router.c - libFuzzer target for the router.
 *
 * The input is lines. A line "+<m><pattern>" adds pattern for method
 * (m % 32); any other line "<m><path>" looks path up for method (m % 32).
 * Every answer is checked against a naive matcher: the pattern found must
 * match the path and give the same params, no route with the method may
 * match when nothing is found, and the Allow mask must be exactly the
 * methods of the matching routes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

#define MAX_ROUTES 32

struct route {
    unsigned method;
    char *pattern;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

/*
 * Matches path[0..n) against pattern the slow way, segment by segment.
 * Fills params (may be NULL) and returns true on a match. rank (may be NULL,
 * n + 1 bytes) gets what consumed each byte of the path, 0 static, 1 param,
 * 2 rest, then 0 when the pattern ends there or 2 for an empty rest: the
 * lookup must pick the route with the least rank among those that match.
 */
static bool naive_match(const char *pat, const char *path, size_t n, struct gly_router_params *p,
                        char *rank)
{
    size_t i = 0;
    unsigned np = 0;
    const char *s = pat;
    while (*s != '\0') {
        bool seg_start = s > pat && s[-1] == '/';
        if (seg_start && (*s == ':' || *s == '*')) {
            const char *name = s + 1;
            size_t len = strcspn(name, "/");
            size_t start = i;
            if (*s == ':') {
                while (i < n && path[i] != '/') {
                    i++;
                }
                if (i == start) {
                    return false;
                }
            } else {
                i = n;
            }
            if (rank != NULL) {
                memset(rank + start, *s == ':' ? 1 : 2, i - start);
                rank[n] = (char)(*s == '*' && i == start ? 2 : 0);
            }
            if (p != NULL) {
                p->names[np] = (gly_str){name, len};
                p->values[np] = (gly_str){path + start, i - start};
            }
            np++;
            s = name + len;
            continue;
        }
        if (i >= n || path[i] != *s) {
            return false;
        }
        if (rank != NULL) {
            rank[i] = 0;
            rank[n] = 0;
        }
        i++;
        s++;
    }
    if (p != NULL) {
        p->n = np;
    }
    return i == n;
}

static bool valid_syntax(const char *pat)
{
    if (pat[0] != '/') {
        return false;
    }
    unsigned np = 0;
    for (const char *s = pat + 1; *s != '\0'; s++) {
        if (s[-1] == '/' && (*s == ':' || *s == '*')) {
            size_t len = 0;
            while (s[1 + len] == '_' || (s[1 + len] >= 'a' && s[1 + len] <= 'z') ||
                   (s[1 + len] >= 'A' && s[1 + len] <= 'Z') ||
                   (s[1 + len] >= '0' && s[1 + len] <= '9')) {
                len++;
            }
            if (len == 0 || (s[1 + len] != '/' && s[1 + len] != '\0') ||
                ++np > GLY_ROUTER_MAX_PARAMS || (*s == '*' && s[1 + len] != '\0')) {
                return false;
            }
            s += len;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gly_router *r = gly__router_new();
    struct route routes[MAX_ROUTES];
    unsigned nroutes = 0;
    if (r == NULL) {
        return 0;
    }

    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            eol = end;
        }
        size_t len = (size_t)(eol - p);
        if (len >= 2 && p[0] == '+' && nroutes < MAX_ROUTES) {
            unsigned method = (unsigned char)p[1] % 32;
            char *pat = strndup(p + 2, len - 2); /* stops at a NUL byte, as a C pattern would */
            CHECK(pat != NULL);
            bool dup = false;
            for (unsigned i = 0; i < nroutes; i++) {
                dup |= routes[i].method == method && strcmp(routes[i].pattern, pat) == 0;
            }
            int err = gly__router_add(r, method, pat, &routes[nroutes]);
            if (err == 0) {
                CHECK(!dup && valid_syntax(pat));
                routes[nroutes].method = method;
                routes[nroutes].pattern = pat;
                nroutes++;
            } else {
                CHECK(err == GLY_EEXIST || err == GLY_EINVAL);
                CHECK((err == GLY_EEXIST) == dup);
                if (!valid_syntax(pat)) {
                    CHECK(err == GLY_EINVAL);
                }
                free(pat);
            }
        } else if (len >= 1 && p[0] != '+') {
            unsigned method = (unsigned char)p[0] % 32;
            gly_str path = {p + 1, len - 1};
            struct gly_router_params params, want;
            unsigned allow = 0xdeadbeef;
            const char *pattern = NULL;
            struct route *found = gly__router_find(r, method, path, &params, &allow, &pattern);

            uint32_t union_mask = 0;
            char *best = malloc(path.n + 1), *rank = malloc(path.n + 1);
            bool have_best = false;
            CHECK(best != NULL && rank != NULL);
            for (unsigned i = 0; i < nroutes; i++) {
                if (naive_match(routes[i].pattern, path.p, path.n, NULL, rank)) {
                    union_mask |= 1u << routes[i].method;
                    CHECK(found != NULL || routes[i].method != method);
                    if (routes[i].method == method &&
                        (!have_best || memcmp(rank, best, path.n + 1) < 0)) {
                        memcpy(best, rank, path.n + 1);
                        have_best = true;
                    }
                }
            }
            if (found != NULL) {
                CHECK(found >= routes && found < routes + nroutes);
                CHECK(found->method == method);
                CHECK(pattern != NULL && strcmp(pattern, found->pattern) == 0);
                CHECK(naive_match(found->pattern, path.p, path.n, &want, rank));
                CHECK(memcmp(rank, best, path.n + 1) == 0);
                CHECK(params.n == want.n && params.n <= GLY_ROUTER_MAX_PARAMS);
                for (unsigned i = 0; i < params.n; i++) {
                    CHECK(params.values[i].p >= path.p);
                    CHECK(params.values[i].p + params.values[i].n <= path.p + path.n);
                    CHECK(params.values[i].p == want.values[i].p);
                    CHECK(params.values[i].n == want.values[i].n);
                    CHECK(gly_str_eq(params.names[i], want.names[i]));
                }
            } else {
                CHECK(allow == union_mask);
                CHECK(pattern == NULL && params.n == 0);
            }
            free(best);
            free(rank);
        }
        p = eol + 1;
    }

    gly__router_free(r);
    for (unsigned i = 0; i < nroutes; i++) {
        free(routes[i].pattern);
    }
    return 0;
}
