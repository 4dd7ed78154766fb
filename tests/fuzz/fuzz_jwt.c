/*
 * tests/fuzz/fuzz_jwt.c - libFuzzer target for JWT verification and signing.
 *
 * One input is used three ways:
 *  1. As a token, verified against a fixed HS256 key ("hs-1") and a fixed
 *     EdDSA key ("ed-1"). The answer must be a documented code with a
 *     reason, *out zeroed on failure; an accepted token has a sub and has
 *     not expired.
 *  2. When it holds a '\n', as the header and payload JSON texts of a token
 *     signed with the key the header's kid picks: the signature holds, so
 *     the header and claim rules are reached without forging base64url by
 *     chance, and "bad signature" must never be the answer.
 *  3. As claims (three int64 then NUL-separated strings): gly_jwt_sign must
 *     succeed unless a string is not UTF-8, sub is empty, exp is 0 or the
 *     token would be too long, and then gly_jwt_verify must give back the
 *     same claims, or "expired"/"not yet valid" exactly when 128-bit
 *     arithmetic says so.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json_read.h>
#include <galley/jwt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define NOW    1800000000
#define LEEWAY 60

static gly_jwt_key keys[2];

static void init_keys(void)
{
    static bool done;
    if (done) {
        return;
    }
    unsigned char seed[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (unsigned char)i;
    }
    CHECK(gly_jwt_key_hs256(&keys[0], "galley-test-secret-0123456789abc", 32, "hs-1") == 0);
    CHECK(gly_jwt_key_eddsa(&keys[1], seed, "ed-1") == 0);
    done = true;
}

static bool is_empty(const gly_jwt_claims *c)
{
    return !c->sub && !c->iss && !c->aud && !c->jti && !c->role && !c->sid && !c->iat && !c->nbf &&
           !c->exp;
}

/* Verifies p[0..n) and checks what any answer must satisfy. */
static int check_verify(const char *p, size_t n, const gly_jwt_expect *ex, gly_arena *a,
                        gly_jwt_claims *c, const char **whyp)
{
    const char *why = "unset";
    int rc = gly_jwt_verify(keys, 2, p, n, ex, a, c, &why);
    *whyp = why;
    switch (rc) {
    case 0:
        CHECK(why == NULL);
        CHECK(c->sub != NULL && c->sub[0] != '\0');
        CHECK((__int128)c->exp + ex->leeway > ex->now);
        CHECK(n <= GLY_JWT_MAX_TOKEN);
        break;
    case GLY_EINVAL:
    case GLY_EACCES:
    case GLY_ETIMEDOUT:
    case GLY_EPROTO:
        CHECK(why != NULL && why[0] != '\0');
        CHECK(is_empty(c));
        break;
    default:
        CHECK(0);
    }
    return rc;
}

/* 2: header '\n' payload, signed as the header's kid would have it. */
static void signed_texts(const uint8_t *data, size_t size, gly_arena *a)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return;
    }
    size_t hn = (size_t)(nl - data);
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_b64url_encode(&b, data, hn);
    gly_buf_putc(&b, '.');
    gly_b64url_encode(&b, nl + 1, size - hn - 1);
    CHECK(gly_buf_err(&b) == 0);
    unsigned char sig[64];
    size_t sig_len;
    /* the key the verifier will pick: then a refusal is never the signature's fault */
    gly_jv *h = NULL;
    gly_json_parse(a, (const char *)data, hn, NULL, &h, NULL);
    if (gly_str_eq(gly_jv_str(gly_jv_get(h, "kid")), GLY_STR("ed-1"))) {
        crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)b.p, b.len, keys[1].sk);
        sig_len = 64;
    } else {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, keys[0].secret, keys[0].secret_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)b.p, b.len);
        crypto_auth_hmacsha256_final(&st, sig);
        sig_len = 32;
    }
    gly_buf_putc(&b, '.');
    gly_b64url_encode(&b, sig, sig_len);
    CHECK(gly_buf_err(&b) == 0);
    gly_jwt_expect ex = {.now = NOW, .leeway = LEEWAY};
    gly_jwt_claims c;
    const char *why = NULL;
    if (check_verify(b.p, b.len, &ex, a, &c, &why) != 0) {
        CHECK(strcmp(why, "bad signature") != 0);
    }
    gly_buf_dispose(&b);
}

static int64_t take_i64(const uint8_t **p, size_t *n)
{
    int64_t v = 0;
    if (*n >= 8) {
        memcpy(&v, *p, 8);
        *p += 8;
        *n -= 8;
    }
    return v;
}

static bool utf8_ok(const char *s)
{
    char seed[256];
    gly_buf b;
    gly_buf_init(&b, seed, sizeof seed, NULL, 0);
    int r = gly_buf_json_str(&b, s, strlen(s)); /* 1: something had to be replaced */
    gly_buf_dispose(&b);
    CHECK(r >= 0);
    return r == 0;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* 3: claims from the bytes, signed and verified again. */
static void round_trip(const uint8_t *data, size_t size, gly_arena *a)
{
    if (size < 1) {
        return;
    }
    const gly_jwt_key *key = &keys[data[0] & 1];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    gly_jwt_claims c = {0};
    c.iat = take_i64(&p, &n);
    c.nbf = take_i64(&p, &n);
    c.exp = take_i64(&p, &n);

    /* copy the rest with a NUL after it, so the strings can be cut in place */
    char *rest = malloc(n + 1);
    CHECK(rest != NULL);
    memcpy(rest, p, n);
    rest[n] = '\0';
    const char **slots[] = {&c.sub, &c.iss, &c.aud, &c.jti, &c.role, &c.sid};
    char *s = rest;
    bool utf8 = true;
    for (size_t i = 0; i < 6 && s <= rest + n; i++) {
        *slots[i] = s;
        utf8 = utf8 && utf8_ok(s);
        s += strlen(s) + 1;
    }

    gly_buf tok;
    gly_buf_init(&tok, NULL, 0, NULL, 0);
    int rc = gly_jwt_sign(key, &c, &tok);
    if (c.sub == NULL || c.sub[0] == '\0' || c.exp == 0 || !utf8) {
        CHECK(rc == GLY_EINVAL);
        CHECK(tok.len == 0);
        goto done;
    }
    if (rc == GLY_E2BIG) {
        CHECK(tok.len == 0);
        /* escaping takes a byte to 6 at most, base64url 3 to 4: the claims were long */
        CHECK(8 * n + 512 > GLY_JWT_MAX_TOKEN);
        goto done;
    }
    CHECK(rc == 0);
    CHECK(tok.len <= GLY_JWT_MAX_TOKEN);

    gly_jwt_expect ex = {.iss = c.iss, .aud = c.aud, .now = NOW, .leeway = LEEWAY};
    gly_jwt_claims out;
    const char *why;
    rc = check_verify(tok.p, tok.len, &ex, a, &out, &why);
    bool expired = (__int128)c.exp + LEEWAY <= NOW;
    bool early = c.nbf != 0 && (__int128)c.nbf - LEEWAY > NOW;
    if (expired || early) {
        CHECK(rc == GLY_ETIMEDOUT);
        goto done;
    }
    CHECK(rc == 0);
    CHECK(same_str(out.sub, c.sub) && same_str(out.iss, c.iss) && same_str(out.aud, c.aud));
    CHECK(same_str(out.jti, c.jti) && same_str(out.role, c.role) && same_str(out.sid, c.sid));
    CHECK(out.iat == c.iat && out.nbf == c.nbf && out.exp == c.exp);

    /* the other key must refuse it: its kid is not the signer's */
    const gly_jwt_key *other = &keys[!(data[0] & 1)];
    CHECK(gly_jwt_verify(other, 1, tok.p, tok.len, &ex, a, &out, &why) == GLY_EACCES);

done:
    gly_buf_dispose(&tok);
    free(rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_keys();
    gly_arena a;
    gly_arena_init(&a, 0);

    gly_jwt_expect ex = {
        .iss = "https://galley.test", .aud = "galley-api", .now = NOW, .leeway = LEEWAY};
    gly_jwt_claims c;
    const char *why;
    check_verify((const char *)data, size, &ex, &a, &c, &why);
    gly_arena_reset(&a);
    signed_texts(data, size, &a);
    gly_arena_reset(&a);
    round_trip(data, size, &a);

    gly_arena_dispose(&a);
    return 0;
}
