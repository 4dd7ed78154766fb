/*
 * src/auth/jwt.c - JSON Web Tokens: compact JWS with HS256, EdDSA, ES256 or
 * RS256; and JWKs, the public keys of OpenID providers and our own.
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
 *
 * HS256 and EdDSA run on libsodium; ES256 and RS256 on libcrypto's EVP
 * interface, whose EVP_PKEY a key owns. libcrypto signs ECDSA in DER, JWS
 * wants R || S of 32 bytes each: the two are converted at the border, and a
 * signature of any other length is refused before libcrypto sees it. A key
 * read from a JWK is check-only, whole (an RSA modulus of 2048 bits or more,
 * a point on P-256) and for signatures only ("use":"sig"); libcrypto's
 * error queue is emptied after each failure so that no stale error leaks
 * into an unrelated caller on the same thread.
 */
#include <assert.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <galley/json.h>
#include <galley/json_read.h>
#include <galley/jwt.h>

#define HS256_SIG_BYTES 32
#define EDDSA_SIG_BYTES 64
#define ES256_SIG_BYTES 64   /* R || S */
#define MAX_SIG_BYTES   1024 /* RSA-8192 */
#define RSA_MIN_BITS    2048
#define RSA_MAX_BITS    8192
#define MAX_JWKS        (64 * 1024)
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
    switch (alg) {
    case GLY_JWT_HS256:
        return "HS256";
    case GLY_JWT_EDDSA:
        return "EdDSA";
    case GLY_JWT_ES256:
        return "ES256";
    case GLY_JWT_RS256:
        return "RS256";
    default:
        return NULL;
    }
}

/* Sets key->kid to kid (1 to 64 printable ASCII characters) or derives it from material. */
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
        EVP_PKEY_free(key->pkey);
        sodium_memzero(key, sizeof *key);
    }
}

/* A key filled by hand is used only when it is whole: a known algorithm, a kid, a secret. */
static bool key_usable(const gly_jwt_key *k)
{
    if (k->kid[0] == '\0' || memchr(k->kid, '\0', sizeof k->kid) == NULL) {
        return false;
    }
    switch (k->alg) {
    case GLY_JWT_HS256:
        return k->secret_len >= 32 && k->secret_len <= sizeof k->secret;
    case GLY_JWT_EDDSA:
        return true;
    case GLY_JWT_ES256:
    case GLY_JWT_RS256:
        return k->pkey != NULL;
    default:
        return false;
    }
}

static bool key_can_sign(const gly_jwt_key *k)
{
    if (!key_usable(k) || !k->can_sign) {
        return false;
    }
    return k->alg != GLY_JWT_EDDSA || !sodium_is_zero(k->sk, sizeof k->sk);
}

/* ------------------------------------------------------------------------ */
/* Keys on libcrypto: ES256, RS256, and PEM files                           */
/* ------------------------------------------------------------------------ */

/* A failed libcrypto call: its queued errors are dropped, the code returned. */
static int crypto_fail(int rc)
{
    ERR_clear_error();
    return rc;
}

static void put_str_jwk(gly_json *j, const char *name, const char *v)
{
    gly_json_key(j, name);
    gly_json_str(j, v);
}

/* Writes p[0..n) as a base64url string (n is at most an RSA-8192 modulus). */
static void put_b64_jwk(gly_json *j, const unsigned char *p, size_t n)
{
    char seed[RSA_MAX_BITS / 6 + 8];
    gly_buf b;
    gly_buf_init(&b, seed, sizeof seed, NULL, sizeof seed);
    gly_b64url_encode(&b, p, n);
    gly_json_strn(j, b.p, b.len);
    gly_buf_dispose(&b);
}

/* The bytes of the BIGNUM parameter name of pk, left-padded to n (0: its own length). */
static int bn_param(const EVP_PKEY *pk, const char *name, unsigned char *out, size_t cap, size_t n,
                    size_t *len)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1) {
        return crypto_fail(GLY_EIO);
    }
    size_t have = (size_t)BN_num_bytes(bn);
    int rc = 0;
    if (n == 0) {
        n = have;
    }
    if (have > n || n > cap || BN_bn2binpad(bn, out, (int)n) < 0) {
        rc = GLY_EINVAL;
    }
    BN_free(bn);
    *len = n;
    return rc;
}

/*
 * Writes the public members of key as JSON: with thumbprint, only the
 * required ones in lexical order (RFC 7638 §3), else the whole JWK.
 */
static int put_public_jwk(const gly_jwt_key *key, gly_json *j, bool thumbprint)
{
    unsigned char a[RSA_MAX_BITS / 8], b[32];
    size_t an = 0, bn = 0;
    int rc = 0;
    /* the numbers first: nothing is written for a key that has none to show */
    if (key->alg == GLY_JWT_ES256) {
        if ((rc = bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, a, 32, 32, &an)) != 0 ||
            (rc = bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, b, 32, 32, &bn)) != 0) {
            return rc;
        }
    } else if (key->alg == GLY_JWT_RS256) {
        if ((rc = bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, b, sizeof b, 0, &bn)) != 0 ||
            (rc = bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, a, sizeof a, 0, &an)) != 0) {
            return rc;
        }
    } else if (key->alg != GLY_JWT_EDDSA) {
        return GLY_EINVAL;
    }
    gly_json_obj_begin(j);
    if (key->alg == GLY_JWT_EDDSA) {
        put_str_jwk(j, "crv", "Ed25519");
        put_str_jwk(j, "kty", "OKP");
        gly_json_key(j, "x");
        put_b64_jwk(j, key->pk, sizeof key->pk);
    } else if (key->alg == GLY_JWT_ES256) {
        put_str_jwk(j, "crv", "P-256");
        put_str_jwk(j, "kty", "EC");
        gly_json_key(j, "x");
        put_b64_jwk(j, a, an);
        gly_json_key(j, "y");
        put_b64_jwk(j, b, bn);
    } else {
        gly_json_key(j, "e");
        put_b64_jwk(j, b, bn);
        put_str_jwk(j, "kty", "RSA");
        gly_json_key(j, "n");
        put_b64_jwk(j, a, an);
    }
    if (!thumbprint) {
        put_str_jwk(j, "use", "sig");
        put_str_jwk(j, "alg", alg_name(key->alg));
        put_str_jwk(j, "kid", key->kid);
    }
    gly_json_obj_end(j);
    return 0;
}

/* Sets the kid of an ES256 or RS256 key: kid, else from its RFC 7638 thumbprint. */
static int set_pkey_kid(gly_jwt_key *key, const char *kid)
{
    if (kid != NULL) {
        return set_kid(key, kid, NULL, 0);
    }
    char seed[1400];
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, seed, sizeof seed, NULL, sizeof seed);
    gly_json_init(&j, &b);
    int rc = put_public_jwk(key, &j, true);
    if (rc == 0) {
        rc = gly_json_finish(&j);
    }
    if (rc == 0) {
        rc = set_kid(key, NULL, (const unsigned char *)b.p, b.len);
    }
    gly_buf_dispose(&b);
    return rc;
}

/* The curve of an EC key is P-256. */
static bool is_p256(const EVP_PKEY *pk)
{
    char name[64];
    size_t n = 0;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &n) !=
        1) {
        ERR_clear_error();
        return false;
    }
    return strcmp(name, SN_X9_62_prime256v1) == 0;
}

static bool rsa_size_ok(const EVP_PKEY *pk)
{
    int bits = EVP_PKEY_get_bits(pk);
    return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
}

/* Takes ownership of pk (freed on failure) and makes key an alg key of it. */
static int adopt_pkey(gly_jwt_key *key, EVP_PKEY *pk, int alg, bool can_sign, const char *kid)
{
    key->alg = alg;
    key->pkey = pk;
    key->can_sign = can_sign;
    int rc = set_pkey_kid(key, kid);
    if (rc != 0) {
        gly_jwt_key_wipe(key);
    }
    return rc;
}

/* Never asks for a passphrase: an encrypted PEM is refused, not prompted for. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int gly_jwt_key_pem(gly_jwt_key *key, const char *pem, size_t len, const char *kid)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (pem == NULL || len == 0 || len > INT_MAX) {
        return GLY_EINVAL;
    }
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return crypto_fail(GLY_ENOMEM);
    }
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pk == NULL) {
        return crypto_fail(GLY_EINVAL);
    }
    int rc = GLY_EINVAL;
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_EC:
        if (is_p256(pk)) {
            return adopt_pkey(key, pk, GLY_JWT_ES256, true, kid);
        }
        break;
    case EVP_PKEY_RSA:
        if (rsa_size_ok(pk)) {
            return adopt_pkey(key, pk, GLY_JWT_RS256, true, kid);
        }
        break;
    case EVP_PKEY_ED25519: {
        unsigned char seed[32];
        size_t n = sizeof seed;
        if (EVP_PKEY_get_raw_private_key(pk, seed, &n) == 1 && n == sizeof seed) {
            rc = gly_jwt_key_eddsa(key, seed, kid);
        }
        sodium_memzero(seed, sizeof seed);
        break;
    }
    default:
        break;
    }
    EVP_PKEY_free(pk);
    return crypto_fail(rc);
}

int gly_jwt_key_generate(gly_jwt_key *key, int alg, const char *kid)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    if (alg == GLY_JWT_EDDSA) {
        return gly_jwt_key_eddsa(key, NULL, kid);
    }
    if (alg == GLY_JWT_HS256) {
        unsigned char secret[32];
        randombytes_buf(secret, sizeof secret);
        int rc = gly_jwt_key_hs256(key, secret, sizeof secret, kid);
        sodium_memzero(secret, sizeof secret);
        return rc;
    }
    EVP_PKEY *pk = NULL;
    if (alg == GLY_JWT_ES256) {
        pk = EVP_EC_gen(SN_X9_62_prime256v1);
    } else if (alg == GLY_JWT_RS256) {
        pk = EVP_RSA_gen(3072);
    } else {
        return GLY_EINVAL;
    }
    if (pk == NULL) {
        return crypto_fail(GLY_EIO);
    }
    return adopt_pkey(key, pk, alg, true, kid);
}

int gly_jwt_key_pem_write(const gly_jwt_key *key, gly_buf *out)
{
    if (key == NULL || out == NULL || !key_can_sign(key) || key->alg == GLY_JWT_HS256) {
        return GLY_EINVAL;
    }
    if (out->err != 0) {
        return out->err;
    }
    EVP_PKEY *pk = key->pkey, *own = NULL;
    if (key->alg == GLY_JWT_EDDSA) {
        /* libsodium's secret key is the seed, then the public key */
        pk = own = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key->sk, 32);
        if (own == NULL) {
            return crypto_fail(GLY_EIO);
        }
    }
    int rc = GLY_EIO;
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p;
        long n = BIO_get_mem_data(bio, &p);
        rc = n > 0 ? gly_buf_append(out, p, (size_t)n) : GLY_EIO;
    }
    BIO_free(bio);
    EVP_PKEY_free(own);
    return rc == 0 ? 0 : crypto_fail(rc);
}

/* ------------------------------------------------------------------------ */
/* JWKs                                                                     */
/* ------------------------------------------------------------------------ */

/* Decodes the base64url string member name of jwk into out (cap bytes). */
static int b64_member(const gly_jv *jwk, const char *name, unsigned char *out, size_t cap,
                      size_t *n)
{
    gly_str s = gly_jv_str(gly_jv_get(jwk, name));
    if (s.p == NULL || s.n == 0) {
        return GLY_EINVAL;
    }
    return gly_b64url_decode(s.p, s.n, out, cap, n) == 0 ? 0 : GLY_EINVAL;
}

/* Builds a public EVP_PKEY of kind ("EC", "RSA") from params; checks it. */
static int pkey_from(const char *kind, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
    int rc = GLY_EINVAL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, kind, NULL);
    EVP_PKEY_CTX *check = NULL;
    *out = NULL;
    if (params == NULL || ctx == NULL) {
        rc = GLY_ENOMEM;
        goto done;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto done;
    }
    /* an EC point off the curve, or an even RSA exponent, is no one's key */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_free(*out);
        *out = NULL;
        goto done;
    }
    rc = 0;
done:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return rc == 0 ? 0 : crypto_fail(rc);
}

static int jwk_rsa(const gly_jv *jwk, EVP_PKEY **out)
{
    unsigned char n[RSA_MAX_BITS / 8], e[8];
    size_t nn, en;
    if (b64_member(jwk, "n", n, sizeof n, &nn) != 0 ||
        b64_member(jwk, "e", e, sizeof e, &en) != 0) {
        return GLY_EINVAL;
    }
    int rc = GLY_ENOMEM;
    BIGNUM *bn = BN_bin2bn(n, (int)nn, NULL), *be = BN_bin2bn(e, (int)en, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn != NULL && be != NULL && bld != NULL) {
        rc = GLY_EINVAL;
        if (BN_num_bits(bn) >= RSA_MIN_BITS && BN_num_bits(bn) <= RSA_MAX_BITS &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1) {
            rc = pkey_from("RSA", bld, out);
        }
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return rc == 0 ? 0 : crypto_fail(rc);
}

static int jwk_ec(const gly_jv *jwk, EVP_PKEY **out)
{
    unsigned char pt[65];
    size_t xn, yn;
    if (!gly_str_eq(gly_jv_str(gly_jv_get(jwk, "crv")), GLY_STR("P-256")) ||
        b64_member(jwk, "x", pt + 1, 32, &xn) != 0 || b64_member(jwk, "y", pt + 33, 32, &yn) != 0 ||
        xn != 32 || yn != 32) {
        return GLY_EINVAL;
    }
    pt[0] = POINT_CONVERSION_UNCOMPRESSED;
    int rc = GLY_ENOMEM;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld != NULL) {
        rc = GLY_EINVAL;
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                            0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt) == 1) {
            rc = pkey_from("EC", bld, out);
        }
    }
    OSSL_PARAM_BLD_free(bld);
    return rc == 0 ? 0 : crypto_fail(rc);
}

/* "alg" (when present) names the key type's algorithm, "use" is "sig", key_ops has "verify". */
static bool jwk_purpose_ok(const gly_jv *jwk, const char *alg)
{
    const gly_jv *v = gly_jv_get(jwk, "alg");
    if (v != NULL && !gly_str_eq(gly_jv_str(v), gly_str_c(alg))) {
        return false;
    }
    v = gly_jv_get(jwk, "use");
    if (v != NULL && !gly_str_eq(gly_jv_str(v), GLY_STR("sig"))) {
        return false;
    }
    v = gly_jv_get(jwk, "key_ops");
    if (v != NULL) {
        bool verify = false;
        if (gly_jv_type(v) != GLY_JSON_ARRAY) {
            return false;
        }
        for (size_t i = 0; i < gly_jv_len(v); i++) {
            verify = verify || gly_str_eq(gly_jv_str(gly_jv_at(v, i)), GLY_STR("verify"));
        }
        return verify;
    }
    return true;
}

/* Makes a check-only key of the parsed JWK object. */
static int jwk_key(gly_jwt_key *key, const gly_jv *jwk)
{
    sodium_memzero(key, sizeof *key);
    if (gly_jv_type(jwk) != GLY_JSON_OBJECT || gly_jv_get(jwk, "d") != NULL) {
        return GLY_EINVAL;
    }
    const char *kid = NULL;
    const gly_jv *kv = gly_jv_get(jwk, "kid");
    if (kv != NULL) {
        gly_str k = gly_jv_str(kv);
        /* set_kid() checks the characters; a NUL inside would cut it short */
        if (k.p == NULL || k.n == 0 || k.n >= sizeof key->kid || memchr(k.p, '\0', k.n) != NULL) {
            return GLY_EINVAL;
        }
        kid = k.p;
    }
    gly_str kty = gly_jv_str(gly_jv_get(jwk, "kty"));
    EVP_PKEY *pk = NULL;
    int rc;
    if (gly_str_eq(kty, GLY_STR("RSA"))) {
        if (!jwk_purpose_ok(jwk, "RS256") || (rc = jwk_rsa(jwk, &pk)) != 0) {
            return GLY_EINVAL;
        }
        return adopt_pkey(key, pk, GLY_JWT_RS256, false, kid);
    }
    if (gly_str_eq(kty, GLY_STR("EC"))) {
        if (!jwk_purpose_ok(jwk, "ES256") || (rc = jwk_ec(jwk, &pk)) != 0) {
            return GLY_EINVAL;
        }
        return adopt_pkey(key, pk, GLY_JWT_ES256, false, kid);
    }
    if (gly_str_eq(kty, GLY_STR("OKP"))) {
        unsigned char x[32];
        size_t xn;
        if (!jwk_purpose_ok(jwk, "EdDSA") ||
            !gly_str_eq(gly_jv_str(gly_jv_get(jwk, "crv")), GLY_STR("Ed25519")) ||
            b64_member(jwk, "x", x, sizeof x, &xn) != 0 || xn != sizeof x) {
            return GLY_EINVAL;
        }
        return gly_jwt_key_eddsa_public(key, x, kid);
    }
    return GLY_EINVAL;
}

/* Parses json[0..len) into arena a as an object. */
static int parse_object(gly_arena *a, const char *json, size_t len, gly_jv **out)
{
    gly_json_limits lim = {
        .max_depth = 8, .max_string_bytes = MAX_JWKS, .max_items = 1024, .max_bytes = MAX_JWKS};
    *out = NULL;
    if (json == NULL || len > MAX_JWKS) {
        return GLY_EINVAL;
    }
    int rc = gly_json_parse(a, json, len, &lim, out, NULL);
    if (rc == GLY_ENOMEM) {
        return rc;
    }
    return rc != 0 || gly_jv_type(*out) != GLY_JSON_OBJECT ? GLY_EINVAL : 0;
}

int gly_jwk_parse(gly_jwt_key *key, const char *json, size_t len)
{
    if (key == NULL) {
        return GLY_EINVAL;
    }
    sodium_memzero(key, sizeof *key);
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    gly_arena a;
    gly_jv *jwk;
    gly_arena_init(&a, 4 * MAX_JWKS);
    int rc = parse_object(&a, json, len, &jwk);
    if (rc == 0) {
        rc = jwk_key(key, jwk);
    }
    gly_arena_dispose(&a);
    return rc;
}

int gly_jwks_parse(const char *json, size_t len, gly_jwt_key *keys, size_t cap, size_t *n)
{
    if (n != NULL) {
        *n = 0;
    }
    if (n == NULL || (keys == NULL && cap > 0)) {
        return GLY_EINVAL;
    }
    if (sodium_init() < 0) {
        return GLY_EIO;
    }
    gly_arena a;
    gly_jv *set;
    gly_arena_init(&a, 4 * MAX_JWKS);
    int rc = parse_object(&a, json, len, &set);
    const gly_jv *arr = rc == 0 ? gly_jv_get(set, "keys") : NULL;
    if (rc == 0 && gly_jv_type(arr) != GLY_JSON_ARRAY) {
        rc = GLY_EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < gly_jv_len(arr) && *n < cap; i++) {
        int r = jwk_key(&keys[*n], gly_jv_at(arr, i));
        if (r == 0) {
            (*n)++;
        } else if (r == GLY_ENOMEM) {
            rc = r;
        }
    }
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++) {
            gly_jwt_key_wipe(&keys[i]);
        }
        *n = 0;
    }
    gly_arena_dispose(&a);
    return rc;
}

int gly_jwk_write(const gly_jwt_key *key, gly_json *j)
{
    if (key == NULL || j == NULL || !key_usable(key)) {
        return GLY_EINVAL;
    }
    return put_public_jwk(key, j, false);
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

/* The length of key's signatures: fixed, or the RSA modulus's. */
static size_t sig_bytes(const gly_jwt_key *key)
{
    switch (key->alg) {
    case GLY_JWT_HS256:
        return HS256_SIG_BYTES;
    case GLY_JWT_RS256:
        return (size_t)EVP_PKEY_get_size(key->pkey);
    default:
        return EDDSA_SIG_BYTES;
    }
}

/* Signs with libcrypto; an ECDSA signature in DER becomes R || S. */
static int evp_sign(const gly_jwt_key *key, const char *msg, size_t n, unsigned char *sig,
                    size_t want)
{
    unsigned char der[MAX_SIG_BYTES];
    size_t len = sizeof der;
    int rc = GLY_EIO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
        EVP_DigestSign(md, der, &len, (const unsigned char *)msg, n) != 1) {
        goto done;
    }
    if (key->alg == GLY_JWT_RS256) {
        if (len == want) {
            memcpy(sig, der, len);
            rc = 0;
        }
        goto done;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (es != NULL) {
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32) {
            rc = 0;
        }
        ECDSA_SIG_free(es);
    }
done:
    EVP_MD_CTX_free(md);
    return rc == 0 ? 0 : crypto_fail(rc);
}

static int sign_bytes(const gly_jwt_key *key, const char *msg, size_t n, unsigned char *sig)
{
    if (key->alg == GLY_JWT_HS256) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key->secret, key->secret_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, n);
        crypto_auth_hmacsha256_final(&st, sig);
        sodium_memzero(&st, sizeof st);
        return 0;
    }
    if (key->alg == GLY_JWT_EDDSA) {
        crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)msg, n, key->sk);
        return 0;
    }
    return evp_sign(key, msg, n, sig, sig_bytes(key));
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

    size_t sig_len = sig_bytes(key);
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
    unsigned char sig[MAX_SIG_BYTES];
    assert(sig_len <= sizeof sig);
    if ((rc = sign_bytes(key, out->p + start, out->len - start, sig)) != 0) {
        goto done;
    }
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

/* Checks with libcrypto; an R || S signature is made DER first. sig is sig_bytes(key) long. */
static bool evp_verify(const gly_jwt_key *key, const char *msg, size_t n, const unsigned char *sig,
                       size_t sig_len)
{
    unsigned char *der = NULL;
    const unsigned char *p = sig;
    size_t len = sig_len;
    bool ok = false;
    EVP_MD_CTX *md = NULL;
    if (key->alg == GLY_JWT_ES256) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            goto done;
        }
        int dn = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (dn <= 0) {
            goto done;
        }
        p = der;
        len = (size_t)dn;
    }
    md = EVP_MD_CTX_new();
    ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
         EVP_DigestVerify(md, p, len, (const unsigned char *)msg, n) == 1;
done:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

static bool signature_valid(const gly_jwt_key *key, const char *msg, size_t n,
                            const unsigned char *sig, size_t sig_len)
{
    if (key->alg == GLY_JWT_HS256) {
        unsigned char mac[HS256_SIG_BYTES];
        sign_bytes(key, msg, n, mac);
        bool ok = crypto_verify_32(mac, sig) == 0;
        sodium_memzero(mac, sizeof mac);
        return ok;
    }
    if (key->alg == GLY_JWT_EDDSA) {
        return crypto_sign_ed25519_verify_detached(sig, (const unsigned char *)msg, n, key->pk) ==
               0;
    }
    return evp_verify(key, msg, n, sig, sig_len);
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
    } else if (gly_str_eq(alg, GLY_STR("ES256"))) {
        alg_id = GLY_JWT_ES256;
    } else if (gly_str_eq(alg, GLY_STR("RS256"))) {
        alg_id = GLY_JWT_RS256;
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

    unsigned char sig[MAX_SIG_BYTES];
    size_t sig_len = 0;
    size_t want = sig_bytes(key);
    if (gly_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig, sizeof sig, &sig_len) != 0 ||
        sig_len != want) {
        FAIL(GLY_EACCES, "bad signature");
    }
    if (!signature_valid(key, token, (size_t)(dot2 - token), sig, sig_len)) {
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
    c.payload = pl;
    *out = c;
    rc = 0;

done:
    if (why != NULL) {
        *why = msg;
    }
    return rc;
}
