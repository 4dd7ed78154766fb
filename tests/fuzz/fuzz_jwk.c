/*
 * tests/fuzz/fuzz_jwk.c - libFuzzer target for the JWK and JWK Set parsers.
 *
 * The input is tried as one JWK and as a JWK Set. Whatever key comes out
 * must be whole: a known algorithm, a kid, check-only; it must write itself
 * back as a JWK that parses again to a key of the same algorithm and kid,
 * and it must refuse a token it did not sign. Nothing may leak (the replay
 * test runs under ASan in the sanitizer build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/jwt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A token of each algorithm, signed by no key the fuzzer can make. */
static const char *const tokens[] = {
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ."
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ."
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

static void check_key(const gly_jwt_key *k)
{
    if (k->alg < GLY_JWT_EDDSA || k->alg > GLY_JWT_RS256 || k->kid[0] == '\0' || k->can_sign) {
        abort();
    }
    char seed[2048];
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, seed, sizeof seed, NULL, 8192);
    gly_json_init(&j, &b);
    if (gly_jwk_write(k, &j) != 0 || gly_json_finish(&j) != 0) {
        abort();
    }
    gly_jwt_key again;
    if (gly_jwk_parse(&again, b.p, b.len) != 0 || again.alg != k->alg ||
        strcmp(again.kid, k->kid) != 0) {
        abort();
    }
    gly_jwt_key_wipe(&again);
    gly_buf_dispose(&b);

    gly_arena a;
    gly_arena_init(&a, 0);
    gly_jwt_expect ex = {.now = 1};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        gly_jwt_claims c;
        if (gly_jwt_verify(k, 1, tokens[i], strlen(tokens[i]), &ex, &a, &c, NULL) == 0) {
            abort();
        }
    }
    gly_arena_dispose(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    gly_jwt_key k;
    if (gly_jwk_parse(&k, json, size) == 0) {
        check_key(&k);
        gly_jwt_key_wipe(&k);
    }
    gly_jwt_key ks[4];
    size_t n;
    if (gly_jwks_parse(json, size, ks, 4, &n) == 0) {
        if (n > 4) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            check_key(&ks[i]);
            gly_jwt_key_wipe(&ks[i]);
        }
    } else if (n != 0) {
        abort();
    }
    return 0;
}
