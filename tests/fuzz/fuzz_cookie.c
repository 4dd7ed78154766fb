/*
 * tests/fuzz/fuzz_cookie.c - libFuzzer target for the Cookie field parser.
 *
 * The first input byte picks a name length n (0..15); the next n bytes are
 * the cookie name, the rest is a Cookie field value. gly_cookie_find must
 * stay within the field, and what it finds is checked against a naive
 * reading: a ';'-separated pair whose key, trimmed, is the name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The naive reading: does some pair's trimmed key equal name? */
static int naive_has(const char *f, size_t n, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i <= n;) {
        size_t end = i;
        while (end < n && f[end] != ';')
            end++;
        const char *eq = memchr(f + i, '=', end - i);
        if (eq) {
            size_t a = i, b = (size_t)(eq - f);
            while (a < b && is_ws(f[a]))
                a++;
            while (b > a && is_ws(f[b - 1]))
                b--;
            if (b - a == nlen && memcmp(f + a, name, nlen) == 0)
                return 1;
        }
        i = end + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t nlen = data[0] % 16;
    if (size < 1 + nlen)
        return 0;
    char name[16];
    memcpy(name, data + 1, nlen);
    name[nlen] = '\0';
    if (strlen(name) != nlen || memchr(name, '=', nlen) || memchr(name, ';', nlen))
        return 0;
    for (size_t i = 0; i < nlen; i++)
        if (is_ws(name[i]))
            return 0;
    size_t n = size - 1 - nlen;
    char *field = malloc(n ? n : 1); /* exactly the field: ASan sees any over-read */
    if (!field)
        return 0;
    memcpy(field, data + 1 + nlen, n);
    gly_str v;
    int found = gly_cookie_find((gly_str){field, n}, name, &v);
    if (found) {
        if (v.p < field || v.p + v.n > field + n)
            abort();
        if (memchr(v.p, ';', v.n))
            abort();
    }
    if (found != naive_has(field, n, name))
        abort();
    free(field);
    return 0;
}
