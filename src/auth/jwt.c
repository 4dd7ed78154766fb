/*
 * src/auth/jwt.c - JSON Web Tokens: compact JWS with HS256 or EdDSA.
 *
 * Verification refuses early and cheaply: the length, the shape, then the
 * header (algorithm, forbidden members, type, key id), then the signature
 * in constant time. Only a token whose signature holds has its payload
 * parsed, and only then are its claims believed. Every refusal names its
 * reason with a static string, never with bytes of the token.
 *
 * The signature covers the ASCII bytes "header.payload" exactly as
 * received, so nothing is re-encoded before checking. base64url decoding is
 * canonical (no padding, unused bits zero), which keeps a token from having
 * two spellings that both verify.
 */
#include <assert.h>
#include <sodium.h>

#include <galley/json.h>
#include <galley/json_read.h>
#include <galley/jwt.h>

#define HS256_SIG_BYTES 32
#define EDDSA_SIG_BYTES 64
#define HEADER_DEPTH    4  /* deep enough to name a "jwk" object as forbidden */
#define PAYLOAD_DEPTH   16 /* claims of our own are flat; others may nest a little */
#define MAX_MEMBERS     256

_Static_assert(crypto_auth_hmacsha256_BYTES == HS256_SIG_BYTES, "HMAC-SHA-256 size");
_Static_assert(crypto_sign_ed25519_BYTES == EDDSA_SIG_BYTES, "Ed25519 signature size");
_Static_assert(crypto_sign_ed25519_PUBLICKEYBYTES == sizeof(((gly_jwt_key *)0)->pk), "pk size");
_Static_assert(crypto_sign_ed25519_SECRETKEYBYTES == sizeof(((gly_jwt_key *)0)->sk), "sk size");

/* Header members that would let the token choose its own key or rules. */
static const char *const forbidden[] = {"jku", "x5u", "jwk", "x5c", "crit"};

/* ------------------------------------------------------------------------ */
/* base64url                                                                */
/* ------------------------------------------------------------------------ */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The unpadded encoded length of n bytes (SIZE_MAX when it would not fit). */
static size_t b64_len(size_t n)
{
    if (n / 3 > SIZE_MAX / 8) {
        return SIZE_MAX;
    }
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int gly_b64url_encode(gly_buf *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t need = b64_len(n);
    char *d = gly_buf_reserve(out, need);
    if (d == NULL) {
        return out->err;
    }
    size_t i = 0, o = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        d[o++] = b64_chars[v >> 18];
        d[o++] = b64_chars[(v >> 12) & 63];
        d[o++] = b64_chars[(v >> 6) & 63];
        d[o++] = b64_chars[v & 63];
    }
    if (n - i == 1) {
        d[o++] = b64_chars[s[i] >> 2];
        d[o++] = b64_chars[(s[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 8 | s[i + 1];
        d[o++] = b64_chars[v >> 10];
        d[o++] = b64_chars[(v >> 4) & 63];
        d[o++] = b64_chars[(v & 15) << 2];
    }
    assert(o == need);
    gly_buf_commit(out, o);
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

int gly_b64url_decode(const char *p, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    if (n != NULL) {
        *n = 0;
    }
    /* One character left over carries 6 bits: not even one byte. */
    if (len % 4 == 1) {
        return GLY_EINVAL;
    }
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap) {
        return GLY_E2BIG;
    }
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)p[i]);
        if (v < 0) {
            return GLY_EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The bits past the last byte must be zero, or two texts would decode alike. */
    if (acc != 0) {
        return GLY_EINVAL;
    }
    assert(o == need);
    if (n != NULL) {
        *n = o;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

static const char *alg_name(int alg)
{
    return alg == GLY_JWT_HS256 ? "HS256" : "EdDSA";
}

/* Sets key->kid to kid (1 to 32 printable ASCII characters) or derives it from material. */
static int set_kid(gly_jwt_key *key, const char *kid, const unsigned char *material, size_t n)
{
    if (kid != NULL) {
        size_t len = strlen(kid);
        if (len == 0 || len >= sizeof key->kid) {
            return GLY_EINVAL;
        }
        for (size_t i = 0; i < len; i++) {
            if (kid[i] < 0x21 || kid[i] > 0x7e) {
                return GLY_EINVAL;
            }
        }
        memcpy(key->kid, kid, len + 1);
        return 0;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, material, n);
    sodium_bin2hex(key->kid, 17, h, 8);
    sodium_memzero(h, sizeof h);
    return 0;
}

int gly_jwt_key_hs256(gly_jwt_key *key, const void *secret, size_t len, const char *kid)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (secret == NULL || len < 32 || len > sizeof key->secret) {
        return GLY_EINVAL;
    }
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    key->alg = GLY_JWT_HS256;
    memcpy(key->secret, secret, len);
    key->secret_len = len;
    key->can_sign = true;
    int rc = set_kid(key, kid, key->secret, len);
    if (rc != 0) {
        gly_jwt_key_wipe(key);
    }
    return rc;
}

int gly_jwt_key_eddsa(gly_jwt_key *key, const unsigned char *seed32, const char *kid)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    unsigned char seed[crypto_sign_ed25519_SEEDBYTES];
    if (seed32 != NULL) {
        memcpy(seed, seed32, sizeof seed);
    } else {
        randombytes_buf(seed, sizeof seed);
    }
    crypto_sign_ed25519_seed_keypair(key->pk, key->sk, seed);
    sodium_memzero(seed, sizeof seed);
    key->alg = GLY_JWT_EDDSA;
    key->can_sign = true;
    int rc = set_kid(key, kid, key->pk, sizeof key->pk);
    if (rc != 0) {
        gly_jwt_key_wipe(key);
    }
    return rc;
}

int gly_jwt_key_eddsa_public(gly_jwt_key *key, const unsigned char *pk32, const char *kid)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (pk32 == NULL) {
        return GLY_EINVAL;
    }
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    /* Refuses small-order and non-canonical points, which no honest signer has. */
    if (crypto_core_ed25519_is_valid_point(pk32) != 1) {
        return GLY_EINVAL;
    }
    memcpy(key->pk, pk32, sizeof key->pk);
    key->alg = GLY_JWT_EDDSA;
    int rc = set_kid(key, kid, key->pk, sizeof key->pk);
    if (rc != 0) {
        gly_jwt_key_wipe(key);
    }
    return rc;
}

void gly_jwt_key_wipe(gly_jwt_key *key)
{
    if (key != NULL) {
        sodium_memzero(key, sizeof *key);
    }
}

/* A key filled by hand is used only when it is whole: a known algorithm, a kid, a secret. */
static bool key_usable(const gly_jwt_key *k)
{
    if (k->kid[0] == '\0' || memchr(k->kid, '\0', sizeof k->kid) == NULL) {
        return false;
    }
    if (k->alg == GLY_JWT_HS256) {
        return k->secret_len >= 32 && k->secret_len <= sizeof k->secret;
    }
    return k->alg == GLY_JWT_EDDSA;
}

static bool key_can_sign(const gly_jwt_key *k)
{
    if (!key_usable(k) || !k->can_sign) {
        return false;
    }
    return k->alg == GLY_JWT_HS256 || !sodium_is_zero(k->sk, sizeof k->sk);
}

/* ------------------------------------------------------------------------ */
/* Signing                                                                  */
/* ------------------------------------------------------------------------ */

/* Returns true when s is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates). */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k) {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += k + 1;
    }
    return true;
}

static void put_str_claim(gly_json *j, const char *name, const char *v)
{
    if (v != NULL) {
        gly_json_key(j, name);
        gly_json_str(j, v);
    }
}

static void put_int_claim(gly_json *j, const char *name, int64_t v)
{
    if (v != 0) {
        gly_json_key(j, name);
        gly_json_i64(j, v);
    }
}

static void sign_bytes(const gly_jwt_key *key, const char *msg, size_t n, unsigned char *sig)
{
    if (key->alg == GLY_JWT_HS256) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key->secret, key->secret_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, n);
        crypto_auth_hmacsha256_final(&st, sig);
        sodium_memzero(&st, sizeof st);
    } else {
        crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)msg, n, key->sk);
    }
}

int gly_jwt_sign(const gly_jwt_key *key, const gly_jwt_claims *c, gly_buf *out)
{
    if (key == NULL || c == NULL || out == NULL) {
        return GLY_EINVAL;
    }
    if (out->err != 0) {
        return out->err;
    }
    if (!key_can_sign(key) || c->sub == NULL || c->sub[0] == '\0' || c->exp == 0) {
        return GLY_EINVAL;
    }
    const char *strs[] = {c->sub, c->iss, c->aud, c->jti, c->role, c->sid};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        /* the writer would put U+FFFD in place of bad bytes: a claim we did not mean */
        if (strs[i] != NULL && !utf8_valid(strs[i])) {
            return GLY_EINVAL;
        }
    }

    char hseed[128], pseed[512];
    gly_buf hb, pb;
    gly_json j;
    gly_buf_init(&hb, hseed, sizeof hseed, NULL, GLY_JWT_MAX_TOKEN);
    gly_buf_init(&pb, pseed, sizeof pseed, NULL, GLY_JWT_MAX_TOKEN);
    size_t start = out->len;
    int rc;

    gly_json_init(&j, &hb);
    gly_json_obj_begin(&j);
    put_str_claim(&j, "alg", alg_name(key->alg));
    put_str_claim(&j, "typ", "JWT");
    put_str_claim(&j, "kid", key->kid);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) != 0) {
        goto done;
    }

    gly_json_init(&j, &pb);
    gly_json_obj_begin(&j);
    put_str_claim(&j, "sub", c->sub);
    put_str_claim(&j, "iss", c->iss);
    put_str_claim(&j, "aud", c->aud);
    put_str_claim(&j, "jti", c->jti);
    put_str_claim(&j, "role", c->role);
    put_str_claim(&j, "sid", c->sid);
    put_int_claim(&j, "iat", c->iat);
    put_int_claim(&j, "nbf", c->nbf);
    put_int_claim(&j, "exp", c->exp);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) != 0) {
        goto done;
    }

    size_t sig_len = key->alg == GLY_JWT_HS256 ? HS256_SIG_BYTES : EDDSA_SIG_BYTES;
    /* hb and pb are capped at GLY_JWT_MAX_TOKEN, so the sum cannot overflow */
    size_t total = b64_len(hb.len) + 1 + b64_len(pb.len) + 1 + b64_len(sig_len);
    if (total > GLY_JWT_MAX_TOKEN) {
        rc = GLY_E2BIG; /* gly_jwt_verify() would refuse it unread */
        goto done;
    }
    if (gly_buf_reserve(out, total) == NULL) {
        rc = out->err;
        goto done;
    }
    gly_b64url_encode(out, hb.p, hb.len);
    gly_buf_putc(out, '.');
    gly_b64url_encode(out, pb.p, pb.len);
    if ((rc = gly_buf_err(out)) != 0) {
        goto done;
    }
    unsigned char sig[EDDSA_SIG_BYTES];
    sign_bytes(key, out->p + start, out->len - start, sig);
    gly_buf_putc(out, '.');
    gly_b64url_encode(out, sig, sig_len);
    rc = gly_buf_err(out);
    assert(rc != 0 || out->len - start == total);

done:
    if (rc != 0 && out->len > start) {
        out->len = start;
    }
    gly_buf_dispose(&hb);
    gly_buf_dispose(&pb);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */
/* ------------------------------------------------------------------------ */

/* Decodes the base64url part s and parses it as JSON into a. GLY_EINVAL or GLY_ENOMEM. */
static int decode_json(gly_arena *a, const char *s, size_t n, unsigned depth, gly_jv **out)
{
    *out = NULL;
    size_t cap = n / 4 * 3 + 2;
    unsigned char *raw = gly_arena_alloc(a, cap);
    if (raw == NULL) {
        return GLY_ENOMEM;
    }
    size_t len;
    if (gly_b64url_decode(s, n, raw, cap, &len) != 0) {
        return GLY_EINVAL;
    }
    gly_json_limits lim = {
        .max_depth = depth,
        .max_string_bytes = GLY_JWT_MAX_TOKEN,
        .max_items = MAX_MEMBERS,
        .max_bytes = GLY_JWT_MAX_TOKEN,
    };
    int rc = gly_json_parse(a, (const char *)raw, len, &lim, out, NULL);
    if (rc == GLY_ENOMEM) {
        return rc;
    }
    return rc != 0 || gly_jv_type(*out) != GLY_JSON_OBJECT ? GLY_EINVAL : 0;
}

static bool signature_valid(const gly_jwt_key *key, const char *msg, size_t n,
                            const unsigned char *sig)
{
    if (key->alg == GLY_JWT_HS256) {
        unsigned char mac[HS256_SIG_BYTES];
        sign_bytes(key, msg, n, mac);
        bool ok = crypto_verify_32(mac, sig) == 0;
        sodium_memzero(mac, sizeof mac);
        return ok;
    }
    return crypto_sign_ed25519_verify_detached(sig, (const unsigned char *)msg, n, key->pk) == 0;
}

/*
 * Reads the string member name of obj into *out (NULL when absent). Returns
 * false when it is there but not a string, or holds a NUL (\u0000) that
 * would cut it short as a C string.
 */
static bool str_member(const gly_jv *obj, const char *name, const char **out)
{
    const gly_jv *v = gly_jv_get(obj, name);
    *out = NULL;
    if (v == NULL) {
        return true;
    }
    gly_str s = gly_jv_str(v);
    if (s.p == NULL || memchr(s.p, '\0', s.n) != NULL) {
        return false;
    }
    *out = s.p;
    return true;
}

/* Reads the integer member name of obj into *out (0 when absent). False when not an integer. */
static bool int_member(const gly_jv *obj, const char *name, bool *present, int64_t *out)
{
    const gly_jv *v = gly_jv_get(obj, name);
    *present = v != NULL;
    *out = 0;
    return v == NULL || gly_jv_i64(v, out);
}

#define FAIL(code, reason)                                                                         \
    do {                                                                                           \
        rc = (code);                                                                               \
        msg = (reason);                                                                            \
        goto done;                                                                                 \
    } while (0)

int gly_jwt_verify(const gly_jwt_key *keys, size_t nkeys, const char *token, size_t len,
                   const gly_jwt_expect *ex, gly_arena *arena, gly_jwt_claims *out,
                   const char **why)
{
    int rc = 0;
    const char *msg = NULL;
    gly_jwt_claims c = {0};

    if (out != NULL) {
        memset(out, 0, sizeof *out);
    }
    if (token == NULL || ex == NULL || arena == NULL || out == NULL || (keys == NULL && nkeys)) {
        FAIL(GLY_EINVAL, "invalid arguments");
    }
    if (len > GLY_JWT_MAX_TOKEN) {
        FAIL(GLY_EINVAL, "token too long");
    }

    /* header.payload.signature */
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL) {
        FAIL(GLY_EINVAL, "not three parts");
    }

    gly_jv *hdr;
    rc = decode_json(arena, token, (size_t)(dot1 - token), HEADER_DEPTH, &hdr);
    if (rc == GLY_ENOMEM) {
        FAIL(rc, "out of memory");
    } else if (rc != 0) {
        FAIL(GLY_EINVAL, "header is not a base64url JSON object");
    }

    const gly_jv *alg_v = gly_jv_get(hdr, "alg");
    gly_str alg = gly_jv_str(alg_v);
    int alg_id = 0;
    if (alg_v == NULL) {
        FAIL(GLY_EACCES, "no algorithm");
    } else if (gly_str_ieq(alg, GLY_STR("none"))) {
        FAIL(GLY_EACCES, "algorithm none refused");
    } else if (gly_str_eq(alg, GLY_STR("HS256"))) {
        alg_id = GLY_JWT_HS256;
    } else if (gly_str_eq(alg, GLY_STR("EdDSA"))) {
        alg_id = GLY_JWT_EDDSA;
    } else {
        FAIL(GLY_EACCES, "algorithm refused");
    }
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        if (gly_jv_get(hdr, forbidden[i]) != NULL) {
            FAIL(GLY_EACCES, "forbidden header member");
        }
    }
    const gly_jv *typ = gly_jv_get(hdr, "typ");
    if (typ != NULL && !gly_str_eq(gly_jv_str(typ), GLY_STR("JWT"))) {
        FAIL(GLY_EACCES, "typ is not JWT");
    }
    gly_str kid = gly_jv_str(gly_jv_get(hdr, "kid"));
    if (kid.p == NULL) {
        FAIL(GLY_EACCES, "no kid");
    }
    const gly_jwt_key *key = NULL;
    for (size_t i = 0; i < nkeys && key == NULL; i++) {
        if (key_usable(&keys[i]) && gly_str_eq(kid, gly_str_c(keys[i].kid))) {
            key = &keys[i];
        }
    }
    if (key == NULL) {
        FAIL(GLY_EACCES, "unknown kid");
    }
    /* the key decides the algorithm, never the token (no HS256 keyed with a public key) */
    if (key->alg != alg_id) {
        FAIL(GLY_EACCES, "algorithm does not match the key");
    }

    unsigned char sig[EDDSA_SIG_BYTES];
    size_t sig_len = 0;
    size_t want = alg_id == GLY_JWT_HS256 ? HS256_SIG_BYTES : EDDSA_SIG_BYTES;
    if (gly_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig, sizeof sig, &sig_len) != 0 ||
        sig_len != want) {
        FAIL(GLY_EACCES, "bad signature");
    }
    if (!signature_valid(key, token, (size_t)(dot2 - token), sig)) {
        FAIL(GLY_EACCES, "bad signature");
    }

    /* From here on the payload is what the key's holder signed. */
    gly_jv *pl;
    rc = decode_json(arena, dot1 + 1, (size_t)(dot2 - dot1 - 1), PAYLOAD_DEPTH, &pl);
    if (rc == GLY_ENOMEM) {
        FAIL(rc, "out of memory");
    } else if (rc != 0) {
        FAIL(GLY_EINVAL, "payload is not a base64url JSON object");
    }
    if (!str_member(pl, "sub", &c.sub) || c.sub == NULL || c.sub[0] == '\0') {
        FAIL(GLY_EINVAL, "no sub");
    }
    bool has_exp, has_nbf, has_iat;
    if (!int_member(pl, "exp", &has_exp, &c.exp) || !has_exp) {
        FAIL(GLY_EINVAL, "no integer exp");
    }
    if (!int_member(pl, "nbf", &has_nbf, &c.nbf) || !int_member(pl, "iat", &has_iat, &c.iat)) {
        FAIL(GLY_EINVAL, "nbf or iat is not an integer");
    }
    if (!str_member(pl, "iss", &c.iss) || !str_member(pl, "jti", &c.jti) ||
        !str_member(pl, "role", &c.role) || !str_member(pl, "sid", &c.sid)) {
        FAIL(GLY_EINVAL, "claim is not a string");
    }

    const gly_jv *aud = gly_jv_get(pl, "aud");
    const char *aud_first = NULL, *aud_match = NULL;
    if (gly_jv_type(aud) == GLY_JSON_ARRAY) {
        for (size_t i = 0; i < gly_jv_len(aud); i++) {
            gly_str s = gly_jv_str(gly_jv_at(aud, i));
            if (s.p == NULL || memchr(s.p, '\0', s.n) != NULL) {
                FAIL(GLY_EINVAL, "aud is not a string or an array of strings");
            }
            aud_first = aud_first ? aud_first : s.p;
            if (ex->aud != NULL && aud_match == NULL && strcmp(s.p, ex->aud) == 0) {
                aud_match = s.p;
            }
        }
    } else if (aud != NULL) {
        if (!str_member(pl, "aud", &aud_first)) {
            FAIL(GLY_EINVAL, "aud is not a string or an array of strings");
        }
        if (ex->aud != NULL && strcmp(aud_first, ex->aud) == 0) {
            aud_match = aud_first;
        }
    }

    /* A leeway past the limits of int64_t means no limit, never a wrap to a past date. */
    int64_t leeway = ex->leeway > 0 ? ex->leeway : 0, t;
    if (!__builtin_add_overflow(c.exp, leeway, &t) && t <= ex->now) {
        FAIL(GLY_ETIMEDOUT, "expired");
    }
    if (has_nbf && !__builtin_sub_overflow(c.nbf, leeway, &t) && t > ex->now) {
        FAIL(GLY_ETIMEDOUT, "not yet valid");
    }
    if (ex->iss != NULL && (c.iss == NULL || strcmp(c.iss, ex->iss) != 0)) {
        FAIL(GLY_EPROTO, "wrong issuer");
    }
    if (ex->aud != NULL && aud_match == NULL) {
        FAIL(GLY_EPROTO, "wrong audience");
    }
    c.aud = ex->aud != NULL ? aud_match : aud_first;
    *out = c;
    rc = 0;

done:
    if (why != NULL) {
        *why = msg;
    }
    return rc;
}
