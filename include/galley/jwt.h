/*
 * galley/jwt.h - JSON Web Tokens (RFC 7519) as Galley signs and checks them.
 *
 * Only what Galley issues is accepted, and strictly: a compact JWS of three
 * base64url parts (no padding), a header of exactly the key's algorithm
 * ("HS256" or "EdDSA"), "typ" "JWT" when present, a "kid" naming a known key,
 * and no "jku", "x5u", "jwk", "x5c" or "crit" member; a signature checked in
 * constant time before any claim is believed; then "exp" (required), "nbf",
 * "iss" and "aud". "alg":"none" in any spelling, an algorithm other than the
 * key's (HS256 with an EdDSA public key as the secret, ...), a stripped or
 * altered signature, an unknown kid, an expired or not-yet-valid token, the
 * wrong issuer or audience: each is refused with its own reason.
 *
 * Signing and checking use libsodium (HMAC-SHA-256, Ed25519). Thread-safe:
 * keys are read-only once made.
 */
#ifndef GALLEY_JWT_H
#define GALLEY_JWT_H

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gly_jwt_alg { GLY_JWT_HS256 = 1, GLY_JWT_EDDSA = 2 };

#define GLY_JWT_MAX_TOKEN 4096 /* longer tokens are refused unread */

/*
 * A signing or checking key. kid is derived from the key material (the
 * first 16 hex digits of SHA-256 over the secret, or over the Ed25519
 * public key) unless given. For HS256, secret holds 32 to 64 bytes; for
 * EdDSA, pk the public key and sk the secret key (all zero: check only).
 * Make it with the constructors below; wipe it with gly_jwt_key_wipe() when
 * done. A key filled by hand is only used when whole (a known alg, a kid, a
 * secret of 32..64 bytes for HS256).
 */
typedef struct gly_jwt_key {
    int alg; /* a gly_jwt_alg */
    char kid[33];
    unsigned char secret[64];
    size_t secret_len;
    unsigned char pk[32];
    unsigned char sk[64];
    bool can_sign;
} gly_jwt_key;

/*
 * Makes an HS256 key of secret[0..len) (32..64 bytes) or, with
 * gly_jwt_key_eddsa(), an Ed25519 key from a 32-byte seed (NULL: a random
 * one), or with gly_jwt_key_eddsa_public() a check-only Ed25519 key from a
 * 32-byte public key (small-order and non-canonical points are refused).
 * kid may be NULL (derived), else 1 to 32 printable ASCII characters
 * without spaces. Returns 0, GLY_EINVAL, or GLY_EIO when libsodium cannot
 * start; on failure *key is left zeroed. Thread-safe.
 */
GLY_EXTERN int gly_jwt_key_hs256(gly_jwt_key *key, const void *secret, size_t len, const char *kid);
GLY_EXTERN int gly_jwt_key_eddsa(gly_jwt_key *key, const unsigned char *seed32, const char *kid);
GLY_EXTERN int gly_jwt_key_eddsa_public(gly_jwt_key *key, const unsigned char *pk32,
                                        const char *kid);
/* Zeroes the whole key (sodium_memzero). key may be NULL. */
GLY_EXTERN void gly_jwt_key_wipe(gly_jwt_key *key);

/* The registered claims Galley uses, plus "role" and "sid" (the session). */
typedef struct gly_jwt_claims {
    const char *sub; /* required */
    const char *iss;
    const char *aud;
    const char *jti;
    const char *role;
    const char *sid;
    int64_t iat, nbf, exp; /* seconds since the epoch; 0: absent (exp is required) */
} gly_jwt_claims;

/*
 * Appends the signed token for c to out: header
 * {"alg":"HS256"|"EdDSA","typ":"JWT","kid":...}, then the claims that are
 * set (strings when not NULL, numbers when not 0). Returns 0; GLY_EINVAL for
 * no sub (or an empty one), no exp, a claim that is not valid UTF-8, or a
 * key that cannot sign; GLY_E2BIG when the token would be longer than
 * GLY_JWT_MAX_TOKEN; or the buffer's error. On failure out keeps its
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
 * On success fills *out with strings that live in arena (until it is reset)
 * and returns 0; out->aud is the member that matched ex->aud, or when
 * ex->aud is NULL the string or the first element of the array. On failure
 * *out is zeroed and the call returns GLY_EINVAL (malformed: too long, not
 * three parts, bad base64url or JSON, a missing or mistyped claim),
 * GLY_EACCES (algorithm, key or signature refused, forbidden header member,
 * "typ" other than "JWT"), GLY_ETIMEDOUT (expired or not yet valid),
 * GLY_EPROTO (issuer or audience) or GLY_ENOMEM (arena). *why (may be NULL)
 * points at a static reason for the log, never containing the token, and
 * is NULL on success. The arena may keep scratch memory either way.
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
