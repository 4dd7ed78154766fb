/*
 * galley/jwt.h - JSON Web Tokens (RFC 7519) as Galley signs and checks them.
 *
 * Only what Galley issues (or an OpenID provider signs) is accepted, and
 * strictly: a compact JWS of three base64url parts (no padding), a header of
 * exactly the key's algorithm ("HS256", "EdDSA", "ES256" or "RS256"), "typ"
 * "JWT" when present, a "kid" naming a known key,
 * and no "jku", "x5u", "jwk", "x5c" or "crit" member; a signature checked in
 * constant time before any claim is believed; then "exp" (required), "nbf",
 * "iss" and "aud". "alg":"none" in any spelling, an algorithm other than the
 * key's (HS256 with an EdDSA public key as the secret, ...), a stripped or
 * altered signature, an unknown kid, an expired or not-yet-valid token, the
 * wrong issuer or audience: each is refused with its own reason.
 *
 * Signing and checking use libsodium (HMAC-SHA-256, Ed25519) and OpenSSL's
 * libcrypto (ECDSA P-256 with SHA-256, RSASSA-PKCS1-v1_5 with SHA-256).
 * Thread-safe: keys are read-only once made.
 *
 * Public keys come and go as JWKs (RFC 7517): gly_jwks_parse() reads an
 * OpenID provider's key set, gly_jwk_write() publishes our own.
 */
#ifndef GALLEY_JWT_H
#define GALLEY_JWT_H

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/common.h>
#include <galley/json.h>
#include <galley/json_read.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gly_jwt_alg { GLY_JWT_HS256 = 1, GLY_JWT_EDDSA = 2, GLY_JWT_ES256 = 3, GLY_JWT_RS256 = 4 };

#define GLY_JWT_MAX_TOKEN 4096 /* longer tokens are refused unread */

/*
 * A signing or checking key. kid is derived from the key material (the
 * first 16 hex digits of SHA-256 over the secret, over the Ed25519 public
 * key, or for ES256 and RS256 the RFC 7638 JWK thumbprint) unless given.
 * For HS256, secret holds 32 to 64 bytes; for EdDSA, pk the public key and
 * sk the secret key (all zero: check only); ES256 and RS256 keys hold an
 * OpenSSL EVP_PKEY in pkey, which the key owns: such a key must not be
 * copied by value (one of the copies would free it under the other).
 * Make it with the constructors below; wipe it with gly_jwt_key_wipe() when
 * done. A key filled by hand is only used when whole (a known alg, a kid, a
 * secret of 32..64 bytes for HS256, a pkey for ES256 and RS256).
 */
typedef struct gly_jwt_key {
    int alg; /* a gly_jwt_alg */
    char kid[65];
    unsigned char secret[64];
    size_t secret_len;
    unsigned char pk[32];
    unsigned char sk[64];
    bool can_sign;
    void *pkey; /* ES256, RS256: the EVP_PKEY (owned); else NULL */
} gly_jwt_key;

/*
 * Makes an HS256 key of secret[0..len) (32..64 bytes) or, with
 * gly_jwt_key_eddsa(), an Ed25519 key from a 32-byte seed (NULL: a random
 * one), or with gly_jwt_key_eddsa_public() a check-only Ed25519 key from a
 * 32-byte public key (small-order and non-canonical points are refused).
 * kid may be NULL (derived), else 1 to 64 printable ASCII characters
 * without spaces. Returns 0, GLY_EINVAL, or GLY_EIO when libsodium cannot
 * start; on failure *key is left zeroed. Thread-safe.
 */
GLY_EXTERN int gly_jwt_key_hs256(gly_jwt_key *key, const void *secret, size_t len, const char *kid);
GLY_EXTERN int gly_jwt_key_eddsa(gly_jwt_key *key, const unsigned char *seed32, const char *kid);
GLY_EXTERN int gly_jwt_key_eddsa_public(gly_jwt_key *key, const unsigned char *pk32,
                                        const char *kid);

/*
 * Makes a signing key from the PEM private key pem[0..len) (PKCS#8 "PRIVATE
 * KEY", or the traditional "EC PRIVATE KEY" and "RSA PRIVATE KEY"): an EC
 * key on P-256 becomes ES256, an RSA key of 2048 to 8192 bits RS256, an
 * Ed25519 key EdDSA. Any other key, curve or size, an encrypted PEM (no
 * passphrase is ever asked for) or garbage: GLY_EINVAL. kid as above.
 * Returns 0, GLY_EINVAL, GLY_ENOMEM or GLY_EIO; on failure *key is zeroed.
 */
GLY_EXTERN int gly_jwt_key_pem(gly_jwt_key *key, const char *pem, size_t len, const char *kid);

/*
 * Makes a new random signing key for alg: ES256 (P-256), RS256 (3072 bits,
 * slow), EdDSA, or HS256 (32 bytes). Returns as gly_jwt_key_pem().
 */
GLY_EXTERN int gly_jwt_key_generate(gly_jwt_key *key, int alg, const char *kid);

/*
 * Appends the private key of a signing ES256, RS256 or EdDSA key as a
 * PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), which gly_jwt_key_pem()
 * reads back, to out. Returns 0, GLY_EINVAL (HS256, or a check-only key),
 * GLY_EIO (libcrypto) or out's error. The text is a secret: wipe it.
 */
GLY_EXTERN int gly_jwt_key_pem_write(const gly_jwt_key *key, gly_buf *out);

/* Zeroes the whole key (sodium_memzero), freeing its EVP_PKEY. key may be NULL. */
GLY_EXTERN void gly_jwt_key_wipe(gly_jwt_key *key);

/*
 * Makes a check-only key of the JWK (RFC 7517, 7518, 8037) json[0..len): an
 * RSA key ("n", "e"; 2048 to 8192 bits) for RS256, an EC key on "P-256"
 * ("x", "y", a point on the curve) for ES256, or an OKP key on "Ed25519"
 * ("x") for EdDSA. When present, "use" must be "sig", "alg" the algorithm
 * of the key type, "key_ops" must hold "verify", and "kid" 1 to 64
 * printable characters (absent: the thumbprint's, as above). A private
 * member ("d"), any other kty, curve or size is refused. Returns 0,
 * GLY_EINVAL, GLY_ENOMEM or GLY_EIO; on failure *key is zeroed.
 */
GLY_EXTERN int gly_jwk_parse(gly_jwt_key *key, const char *json, size_t len);

/*
 * Reads a JWK Set ({"keys":[...]}, at most 64 KiB) into keys[0..cap):
 * each key gly_jwk_parse() accepts, in order, at most cap of them; keys it
 * refuses (encryption keys, other algorithms) are skipped, as RFC 7517 §5
 * asks. *n gets the number made (0 is possible). Returns 0, GLY_EINVAL when
 * the text is not a JSON object with a "keys" array, or GLY_ENOMEM; on
 * failure no key is left to wipe and *n is 0. Wipe each of keys[0..*n).
 */
GLY_EXTERN int gly_jwks_parse(const char *json, size_t len, gly_jwt_key *keys, size_t cap,
                              size_t *n);

/*
 * Writes the public half of an EdDSA, ES256 or RS256 key as a JWK object
 * (kty, crv and x/y or n and e, "use":"sig", "alg", "kid") to j. Returns 0,
 * GLY_EINVAL for an HS256 key (whose secret is never written), GLY_EIO, or
 * j's error.
 */
GLY_EXTERN int gly_jwk_write(const gly_jwt_key *key, gly_json *j);

/* The registered claims Galley uses, plus "role" and "sid" (the session). */
typedef struct gly_jwt_claims {
    const char *sub; /* required */
    const char *iss;
    const char *aud;
    const char *jti;
    const char *role;
    const char *sid;
    int64_t iat, nbf, exp; /* seconds since the epoch; 0: absent (exp is required) */
    /* gly_jwt_verify(): the whole payload (in its arena), for other claims; ignored by sign */
    const gly_jv *payload;
} gly_jwt_claims;

/*
 * Appends the signed token for c to out: header
 * {"alg":"HS256"|"EdDSA"|"ES256"|"RS256","typ":"JWT","kid":...}, then the claims that are
 * set (strings when not NULL, numbers when not 0). Returns 0; GLY_EINVAL for
 * no sub (or an empty one), no exp, a claim that is not valid UTF-8, or a
 * key that cannot sign; GLY_E2BIG when the token would be longer than
 * GLY_JWT_MAX_TOKEN; GLY_EIO when libcrypto fails; or the buffer's error. On failure out keeps its
 * previous length.
 */
GLY_EXTERN int gly_jwt_sign(const gly_jwt_key *key, const gly_jwt_claims *c, gly_buf *out);

/* What gly_jwt_verify() expects besides the signature. */
typedef struct gly_jwt_expect {
    const char *iss; /* NULL: not checked */
    const char *aud; /* NULL: not checked; else "aud" must equal it (or an array hold it) */
    int64_t now;     /* seconds since the epoch */
    int64_t leeway;  /* seconds allowed on exp and nbf (clock skew) */
} gly_jwt_expect;

/*
 * Checks token[0..len) against keys[0..nkeys) (the kid picks one; the
 * first key with that kid wins) and ex. The key decides the algorithm: the
 * header's "alg" must be exactly the key's. Only after the signature holds
 * is the payload read: "sub" (a non-empty string) and "exp" (an integer)
 * are required; "nbf" and "iat" must be integers and "iss", "jti", "role",
 * "sid" strings when present; "aud" a string or an array of strings. String
 * claims holding \u0000 are refused.
 *
 * An ES256 signature is R || S, 64 bytes (RFC 7518 §3.4), never DER; an
 * RS256 one exactly as long as the key's modulus.
 *
 * On success fills *out with strings that live in arena (until it is reset),
 * and out->payload with the whole payload object (for claims of others,
 * such as an ID token's "nonce"), and returns 0; out->aud is the member that matched ex->aud, or
 * when ex->aud is NULL the string or the first element of the array. On failure *out is zeroed and
 * the call returns GLY_EINVAL (malformed: too long, not three parts, bad base64url or JSON, a
 * missing or mistyped claim), GLY_EACCES (algorithm, key or signature refused, forbidden header
 * member, "typ" other than "JWT"), GLY_ETIMEDOUT (expired or not yet valid), GLY_EPROTO (issuer or
 * audience) or GLY_ENOMEM (arena). *why (may be NULL) points at a static reason for the log, never
 * containing the token, and is NULL on success. The arena may keep scratch memory either way.
 * Thread-safe for distinct arenas.
 */
GLY_EXTERN int gly_jwt_verify(const gly_jwt_key *keys, size_t nkeys, const char *token, size_t len,
                              const gly_jwt_expect *ex, gly_arena *arena, gly_jwt_claims *out,
                              const char **why);

/* Appends p[0..n) as base64url without padding (RFC 4648 §5), as JWTs use it. 0 or out's error. */
GLY_EXTERN int gly_b64url_encode(gly_buf *out, const void *p, size_t n);
/*
 * Decodes p[0..len) (never read past len) into out (cap bytes); *n (may be
 * NULL) gets the length. Returns 0, GLY_EINVAL on a character outside the
 * alphabet, '=' padding, an impossible length (len % 4 == 1) or non-zero
 * unused trailing bits (non-canonical), GLY_E2BIG when cap is too small.
 * On failure out may hold partial output.
 */
GLY_EXTERN int gly_b64url_decode(const char *p, size_t len, unsigned char *out, size_t cap,
                                 size_t *n);

#ifdef __cplusplus
}
#endif
#endif
