/*
 * tests/unit/auth/test_jwt.c - JSON Web Tokens: base64url, keys, signing, verification.
 *
 * Every token is checked from a copy that ends right before a PROT_NONE
 * page, so a read past its end faults at once. Tokens from an independent
 * implementation (PyJWT 2.6 with python3-cryptography, generated once and
 * embedded below) must verify, and ours must equal tokens PyJWT accepted.
 * forge() builds tokens of any header and payload, signed with libsodium
 * directly, so each rule of the verifier is shown to refuse a token whose
 * signature is otherwise good.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/jwt.h>

#include "gly_test.h"

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */
/* ------------------------------------------------------------------------ */

#define SECRET     "galley-test-secret-0123456789abc" /* 32 bytes */
#define FAR_FUTURE 4102444800                         /* 2100-01-01 */

/* The Ed25519 key of seed 00 01 .. 1f, as PyJWT (cryptography) computed it. */
static const char ed_pk_hex[] = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

/*
 * Made with /usr/bin/python3 and PyJWT 2.6.0:
 *   claims = {"sub":"user-42","iss":"https://galley.test","aud":"galley-api",
 *             "exp":4102444800,"iat":1700000000,"nbf":1700000000,
 *             "role":"admin","sid":"s-7","jti":"j-1"}
 *   jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid":"hs-1"})
 */
static const char py_hs256[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.C7rH9I7JQso6m0txeru4LY2yHgtIBCq-lPxG8jt6qxY";
/* The same claims with "aud":["other","galley-api"]. */
static const char py_hs256_aud_array[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6WyJvdGhlciIsImdhbGxleS1hcG"
    "kiXSwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwicm9sZSI6ImFkbWluIiwi"
    "c2lkIjoicy03IiwianRpIjoiai0xIn0.gXyWzSDC60dPiJETPEg7e-EneazXbGtNkC5rje0umiU";
/* The same claims with "exp":1700000600. */
static const char py_hs256_expired[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "E3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.TsFTbZdpZztuabJ87FMLGrl_3cKW-Y0GBDOo07NXY2w";
/* The same claims signed with the secret "another-secret-of-32-bytes-xxxxx". */
static const char py_hs256_other_secret[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.i-9QXx37qYdAOHmRrohV7AsO6nzZrqbeVcGjtqjanEY";
/* algorithm="HS384" with SECRET. */
static const char py_hs384[] =
    "eyJhbGciOiJIUzM4NCIsImtpZCI6ImhzLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.rx3z3kUpFtYiGya8NbdBst0Q4dMEtGPDDNrZ-CVdlzS3Hsy5XJiM3FjOs4x7J6Iv";
/* algorithm="none" (empty signature). */
static const char py_none[] =
    "eyJhbGciOiJub25lIiwia2lkIjoiaHMtMSIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.";
/* algorithm="EdDSA" with the private key of seed 00 01 .. 1f, kid "ed-1". */
static const char py_eddsa[] =
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.0np_0ivVg83gkYCIoo0cjOa1u7IPrZi2F2gU7mdtOBxGVLOmVu0sdysIneDtz8_"
    "F4Tzj763ToTm6"
    "clu5-TUIBA";
/* The algorithm confusion attack: HS256 keyed with the Ed25519 public key, kid "ed-1". */
static const char py_confused[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImVkLTEiLCJ0eXAiOiJKV1QifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOj"
    "QxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTci"
    "LCJqdGkiOiJqLTEifQ.sSG0lwKyoEMB4VMrdbVYtxmArPD4cj9n7AY0u_xZqYc";

/*
 * What gly_jwt_sign() makes of those claims with kid "hs-1" / "ed-1"; PyJWT
 * 2.6 verified both (jwt.decode with audience and issuer) when they were
 * taken.
 */
static const char our_hs256[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhzLTEifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJqdGkiOi"
    "JqLTEiLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTciLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhw"
    "Ijo0MTAyNDQ0ODAwfQ.LPEzPyueqHDd65B8wDrAR9ZUhjAZ47uCEl7mfn_SXew";
static const char our_eddsa[] =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImVkLTEifQ."
    "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJqdGkiOi"
    "JqLTEiLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTciLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhw"
    "Ijo0MTAyNDQ0ODAwfQ.OcKeTuweheXIDUaCKD1sS4kOiDIeEoTan4m0AWCP5xj3adHxmXZ-"
    "ILNTOxuG3VNCc8eIHf6hRowO"
    "PeebvDKcBw";

/* RFC 7515 Appendix A.1: the HS256 example and its 64-byte key. */
static const char rfc7515_a1[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                                 "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtc"
                                 "GxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                                 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc7515_a1_key[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

/* A P-256 key (SEC1 "EC PRIVATE KEY"); PyJWT signed es256_py with it, kid "es-1". */
static const char ec_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
                             "MHcCAQEEINdvSr3VAnDJsYevmGJhFhxfcmykUi/xv6uTyd/44m+RoAoGCCqGSM49\n"
                             "AwEHoUQDQgAEyTU/FF+rnvgOfald3S6rKr9GVlLt21CdngSiCz45U7GJIshB1+w8\n"
                             "DhboErWoyS8Iy4SRHSg9jZGh+HhjS2SikQ==\n"
                             "-----END EC PRIVATE KEY-----\n";
/* An RSA-2048 key (PKCS#8); PyJWT signed rs256_py with it, kid "rs-1". */
static const char rsa_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDGfbbc5NOSZ5ri\n"
                              "4Xp4fZwMHMldnZYgO28OleKfofA8+j85y2YW97LmYZ1W6wGgLW/Y1jXdQS2y9EbS\n"
                              "vuuxdAMCsNE7x901OnjyHO4lAZRFGR9P3Bv+XEXfA9y89rtr9rgvivQqfrkdO+BY\n"
                              "fA6JDZw0WXnYU9yGD6Rlm9vMuksNb4pR5DFyOSVVIr0LQNvZYbxJoGe8SJG7rQ14\n"
                              "ryMe7lox3m9rbM/BgY3ESTsn6bCro3VCaTz2TJ95Av38OVHGi3mqY0wL7x6lsSsi\n"
                              "UPwekLJYFt81d63u7e7MWXWnic3Ho/vzzkhtxgbjQj0tSVQrMGBCH9PoAg+Ibq2H\n"
                              "QmrecByhAgMBAAECggEAGXM3Bh2k7wmvt1V30Ykxf/AU9ZbmD93vAGzBcPxfhEIF\n"
                              "51AoF9vMqXNsrB9XxwTsaV4V6/eWd3KQvibSq58XX7nyKfsXZuLHbSu+cSpBq5Zs\n"
                              "CF5NjJCiONUS8XulTlOFDDuB0Q0MiS4LNu05I+OF2sR6Nf2SsfHBf3G7fgWI6ADi\n"
                              "GxFoIBwiNoOQMCTBFqH8dK1HIY1vQleKaIycgZS1YiePOH4EKUwS5A8LNPsiCOlm\n"
                              "fCTPLugOdg+XuZtFLaJ7tN5RCZXVFuR5gCXp1euZnuOc9Fthjg/8lBgTr5qzOxOi\n"
                              "b5nd6DiIi42T8XfQy6CeYNCK1rhKN227WcCA3WEH/QKBgQD57WSNJxk1zUAPLPCJ\n"
                              "vEFXaqU72F/FXDnpIklpEbk3LtMmsfVeyK94Gyj/1Q5hQGh1qjMdXepTsxN0LdYP\n"
                              "AD6EWTGnModj2FcjfZ9aeqHbQTVgoKxASsDGpA7zi2t1amYMfvKnG+UyXrqfBDa1\n"
                              "NWH5KbpF9bS/5D6f1egQvM4DGwKBgQDLUGA55JIUUCvV4NgY+sJn5bjatJRaruEB\n"
                              "6LDxpRnfFBNv9lQ75E9xkgkCUoLec79brLSiyZvNpKp630QCjn+cl2pvJFLHi4eI\n"
                              "dlAkldg/uQpiOAxKp1QKolCrP2qDcu/1gwuokWKO/kPwciLKPOZRXD7QK4raW8Xz\n"
                              "FPLP6fIe8wKBgDz3hwbT2deBCTZqfQbscHgVoNcXck1fsRTI82V5GFh4yLNwx+1m\n"
                              "QT+oSHkYDRj2MEU7zppEVawzS/SUVdp08csxQuaJcfOOS7txopTcw20L3CyFJV/N\n"
                              "nHcYgDky8nTDDr/Pm/vd1yxRZW7zBTFxI0Q3xKPaS0xgLlKpSKIEnLCvAoGAHubb\n"
                              "iVEVZuL8lqhzD/DlJXeEDjHOLq5P4sNkSYYnlYFupuDQ0r2T2ZYxqlmyLG95UUzB\n"
                              "s9BizvHNO5m9s4nHGZzl/3iM4GlzsykQa08fLChKzLzqGVqvamJbUnv0C4CnujAt\n"
                              "0HQwf71jxCME6Koy84DKx0cm9qNmRdkUQsezFkMCgYACrdIkBduuHxO1SlXMjSXL\n"
                              "cRmW+/MCq9hYslIHpoibnGVyB6iZvui0A7K2RHePHV39kCmaFm/MvOH+/sDTY78z\n"
                              "3oN0Livs2KjHLzpkPV7erbafZvs3ULGx+Y9XrBb+GLVJkLARqbz4l09xoFkDfNla\n"
                              "o5P54rSXrjZSvxUid16sTA==\n"
                              "-----END PRIVATE KEY-----\n";
/* A P-384 key: the wrong curve for ES256. */
static const char ec384_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAdlMUcd1Kisw6mw24Q\n"
                                "PR37F0HD3CiJz7oCSNSfpnFc0pqMG8up97fe5YxnAMZT65ehZANiAAS8uQ5jdAVc\n"
                                "wQKfBF0Aq+b15FrpLBwJaQllppviCIfcAQEH+24VQkltPXlmxXy8y62+CP27e7AF\n"
                                "SrQND/jbwZ/7aYmbUjFYg+PRSDtEHoJL7s/elLguyX2N+EqR0ocy7IQ=\n"
                                "-----END PRIVATE KEY-----\n";
/* An RSA-1024 key: too small. */
static const char rsa1024_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAJRegBcc1eortNkq\n"
    "mYCBZK3Lf+EGF4rGB4B6PN6LiN5tClUfwQ7Xa+IBaDU13i72rIzL5J+/ejqMO+8z\n"
    "pI3OXBZXNS7zH8IZxxhJJ8PWTeHot0vA44XQ3IPHTXvSSfNlmnApSVjhAmR80F64\n"
    "752tnXCfL5zmqmf1GEduYym5PZ5DAgMBAAECgYEAgti4dCmtCcCT1HW6PFdgt9jh\n"
    "JU1fE7bDRO4IomdCRI67bwj7FKCs9vswsMSZ9qb604y5SpzuKZYlATZ1J85W7NEn\n"
    "mn64BIpmXeEP/pUJtp0JHDZyvU9LZ42n4NORgk6/SP8v/Tv9DDLprxP4bJRKgOW4\n"
    "b9pk+XkMYt9p12RWImkCQQDEC5F1gViHMD0wJw/4k2N4PXCz0SUUwepRll5dgB2V\n"
    "Lqg3jc9ttbq7bT+9dVYZIFgdtD+fmf2lDMDS8xkVsKNfAkEAwb5cgc+iTjye+hh+\n"
    "cbpIaFGGnOiwvtRFkriI5CcYNmuvSek6SAB5VaQCn4KNFNThDM3MxKTvQOJY1M/K\n"
    "sxKznQJBALx/ev8GvT5PLaYtCPgzj0K/oKvk/sh0o36LHHS+iLM2R1wTKE0OnVs1\n"
    "ckISnhROuyrkcwBcqjuWhZjPUWE/k/UCQA+oAnG7BbKs02wCbrViCFflvqsPYrkJ\n"
    "DlY881L8lchQC2o9nqgS4bs59bxOIHh+e3E9cD6z1WG46NTJteeiq0ECQHIASIMS\n"
    "xGIoCnoMvSXzjHEc/qkRDHHqxyzjJk6LvKcTx6niNoErBV7Xdwg6PZ+6id84PIGH\n"
    "WLHBlvcb2w/03xQ=\n"
    "-----END PRIVATE KEY-----\n";
/* PyJWT 2.6: jwt.encode(claims, ec key, algorithm="ES256", headers={"kid":"es-1"}) */
static const char es256_py[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzLTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR"
    "0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwM"
    "DAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTciLCJqdGkiOiJqLTEifQ.staErZ5f"
    "8X1Wa5Ecjy0Jn22yOlo7RvUb4UnDzbg3rWvBev4mKi47tr7dbN5cAverUSi-phzLwkZSogLcLE90Fg";
/* PyJWT 2.6: jwt.encode(claims, rsa key, algorithm="RS256", headers={"kid":"rs-1"}) */
static const char rs256_py[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR"
    "0cHM6Ly9nYWxsZXkudGVzdCIsImF1ZCI6ImdhbGxleS1hcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwM"
    "DAwMCwibmJmIjoxNzAwMDAwMDAwLCJyb2xlIjoiYWRtaW4iLCJzaWQiOiJzLTciLCJqdGkiOiJqLTEifQ.jRG1EBhx"
    "-ny9iTt_NgBD-xd6A5fIdSO6vgSJIb2JsDYicRMJkA4mii7k2nUgzrdc95D1WbYoN-FAvmKwGie3gj9JXVxNpxKnPe"
    "oKSf-C3ztsKq9LmcVFyDp9kPpSx9_l86VvNpAnFL5hgcqtKaNIgEHMqQn9LFCyuQCFlcFu9LREM_EFY2cIsnmZlIbS"
    "MueYeIlvovCy6isP2yPxMy8nAM9pLotciedkPVIOjzXZNl2d8U-CSpXQDt9Tylfe5xcq0hxp7W2zsfFP9Lqz9GfODg"
    "ECU_bAUshKSQiE-vWfR7MvbfbfKX4OEe0S6jxYzgDIJnUbmUSdrefRhEO4eCg52Q";
/* ECAlgorithm.to_jwk() of ec_pem's public key, with kid "es-1" and use "sig". */
static const char ec_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"yTU_FF-rnvgOfald3S6rKr9GVlLt21CdngSiCz45U7E\",\""
    "y\":\"iSLIQdfsPA4W6BK1qMkvCMuEkR0oPY2Rofh4Y0tkopE\",\"kid\":\"es-1\",\"use\":\"sig\"}";
/* RSAAlgorithm.to_jwk() of rsa_pem's public key, with kid "rs-1". */
static const char rsa_jwk[] =
    "{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"xn223OTTkmea4uF6eH2cDBzJXZ2WIDtvDpXin6Hw"
    "PPo_OctmFvey5mGdVusBoC1v2NY13UEtsvRG0r7rsXQDArDRO8fdNTp48hzuJQGURRkfT9wb_lxF3wPcvPa7a_a4L4"
    "r0Kn65HTvgWHwOiQ2cNFl52FPchg-kZZvbzLpLDW-KUeQxcjklVSK9C0Db2WG8SaBnvEiRu60NeK8jHu5aMd5va2zP"
    "wYGNxEk7J-mwq6N1Qmk89kyfeQL9_DlRxot5qmNMC-8epbErIlD8HpCyWBbfNXet7u3uzFl1p4nNx6P7885IbcYG40"
    "I9LUlUKzBgQh_T6AIPiG6th0Jq3nAcoQ\",\"e\":\"AQAB\",\"kid\":\"rs-1\"}";
/* ec384_pem's public key. */
static const char ec384_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"vLkOY3QFXMECnwRdAKvm9eRa6SwcCWkJZaab4giH3AEBB_tu"
    "FUJJbT15ZsV8vMut\",\"y\":\"vgj9u3uwBUq0DQ_428Gf-2mJm1IxWIPj0Ug7RB6CS-7P3pS4Lsl9jfhKkdKHMuy"
    "E\"}";
/* rsa1024_pem's public key. */
static const char rsa1024_jwk[] =
    "{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"lF6AFxzV6iu02SqZgIFkrct_4QYXisYHgHo83ouI"
    "3m0KVR_BDtdr4gFoNTXeLvasjMvkn796Oow77zOkjc5cFlc1LvMfwhnHGEknw9ZN4ei3S8DjhdDcg8dNe9JJ82WacC"
    "lJWOECZHzQXrjvna2dcJ8vnOaqZ_UYR25jKbk9nkM\",\"e\":\"AQAB\"}";
#define EC_THUMB_KID  "1c307c1d5ab6298e" /* RFC 7638 thumbprint of ec_jwk, first 8 bytes */
#define RSA_THUMB_KID "82868044066c7594" /* and of rsa_jwk */

static const char claims_json[] =
    "{\"sub\":\"user-42\",\"iss\":\"https://galley.test\",\"aud\":\"galley-api\","
    "\"exp\":4102444800,\"nbf\":1700000000}";

static gly_arena arena;
static gly_buf tok;         /* forge() writes here */
static gly_jwt_key keys[2]; /* [0] HS256 "hs-1", [1] EdDSA "ed-1" */
static gly_jwt_expect expect;

static int setup(void **state)
{
    (void)state;
    unsigned char seed[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (unsigned char)i;
    }
    gly_arena_init(&arena, 0);
    gly_buf_init(&tok, NULL, 0, NULL, 0);
    assert_int_equal(gly_jwt_key_hs256(&keys[0], SECRET, 32, "hs-1"), 0);
    assert_int_equal(gly_jwt_key_eddsa(&keys[1], seed, "ed-1"), 0);
    expect = (gly_jwt_expect){
        .iss = "https://galley.test", .aud = "galley-api", .now = 1800000000, .leeway = 60};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gly_arena_dispose(&arena);
    gly_buf_dispose(&tok);
    gly_jwt_key_wipe(&keys[0]);
    gly_jwt_key_wipe(&keys[1]);
    return 0;
}

/* Verifies a guarded copy of s[0..n) against keys[0..nk). */
static int verify_keys(const gly_jwt_key *ks, size_t nk, const char *s, size_t n, gly_jwt_claims *c,
                       const char **why)
{
    struct gly_test_guard g;
    char *p = gly_test_guarded(s, n, &g);
    int rc = gly_jwt_verify(ks, nk, p, n, &expect, &arena, c, why);
    gly_test_unguard(&g);
    return rc;
}

static int verify(const char *s, gly_jwt_claims *c, const char **why)
{
    return verify_keys(keys, 2, s, strlen(s), c, why);
}

/* Asserts that token s is refused with code and the reason why. */
#define assert_refused(s, code, reason)                                                            \
    do {                                                                                           \
        gly_jwt_claims c_;                                                                         \
        const char *why_ = "unset";                                                                \
        assert_int_equal(verify((s), &c_, &why_), (code));                                         \
        assert_non_null(why_);                                                                     \
        assert_string_equal(why_, (reason));                                                       \
        assert_null(c_.sub);                                                                       \
    } while (0)

/* Asserts that token s verifies, and returns its claims. */
static gly_jwt_claims accepted(const char *s)
{
    gly_jwt_claims c;
    const char *why = "unset";
    int rc = verify(s, &c, &why);
    if (rc != 0) {
        fail_msg("refused (%d): %s", rc, why ? why : "(null)");
    }
    assert_null(why);
    return c;
}

/*
 * Builds in tok the token of header and payload (JSON texts, taken as they
 * are) signed by k with its own algorithm; sig_alg picks another one
 * (GLY_JWT_HS256 keyed with whatever k's secret or public key is).
 */
static const char *forge_as(const gly_jwt_key *k, int sig_alg, const char *header,
                            const char *payload)
{
    gly_buf_clear(&tok);
    gly_b64url_encode(&tok, header, strlen(header));
    gly_buf_putc(&tok, '.');
    gly_b64url_encode(&tok, payload, strlen(payload));
    unsigned char sig[64];
    size_t n;
    if (sig_alg == GLY_JWT_HS256) {
        const unsigned char *secret = k->alg == GLY_JWT_HS256 ? k->secret : k->pk;
        size_t len = k->alg == GLY_JWT_HS256 ? k->secret_len : sizeof k->pk;
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, secret, len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok.p, tok.len);
        crypto_auth_hmacsha256_final(&st, sig);
        n = 32;
    } else {
        crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)tok.p, tok.len, k->sk);
        n = 64;
    }
    gly_buf_putc(&tok, '.');
    gly_b64url_encode(&tok, sig, n);
    assert_non_null(gly_buf_cstr(&tok));
    return tok.p;
}

static const char *forge(const gly_jwt_key *k, const char *header, const char *payload)
{
    return forge_as(k, k->alg, header, payload);
}

#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"hs-1\"}"
#define ED_HEADER "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"ed-1\"}"

/* ------------------------------------------------------------------------ */
/* base64url                                                                */
/* ------------------------------------------------------------------------ */

/* Decodes a guarded copy of s. */
static int decode(const char *s, unsigned char *out, size_t cap, size_t *n)
{
    struct gly_test_guard g;
    size_t len = strlen(s);
    char *p = gly_test_guarded(s, len, &g);
    int rc = gly_b64url_decode(p, len, out, cap, n);
    gly_test_unguard(&g);
    return rc;
}

static void b64url_encodes_the_rfc4648_vectors_without_padding(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        gly_buf_clear(&tok);
        assert_int_equal(gly_b64url_encode(&tok, in[i], strlen(in[i])), 0);
        assert_string_equal(gly_buf_cstr(&tok), want[i]);
    }
}

static void b64url_uses_the_url_safe_alphabet(void **state)
{
    (void)state;
    static const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(gly_b64url_encode(&tok, bytes, 3), 0);
    assert_string_equal(gly_buf_cstr(&tok), "-_-_");
    unsigned char out[3];
    size_t n;
    assert_int_equal(decode("-_-_", out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, bytes, 3);
}

static void b64url_round_trips_every_length_up_to_100(void **state)
{
    (void)state;
    unsigned char in[100], out[100];
    for (size_t i = 0; i < sizeof in; i++) {
        in[i] = (unsigned char)(i * 37 + 11);
    }
    for (size_t len = 0; len <= sizeof in; len++) {
        gly_buf_clear(&tok);
        assert_int_equal(gly_b64url_encode(&tok, in, len), 0);
        assert_int_equal(tok.len % 4 == 1, 0);
        size_t n = 999;
        assert_int_equal(decode(gly_buf_cstr(&tok), out, len, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);
    }
}

static void b64url_decode_rejects_padding(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t n;
    assert_int_equal(decode("Zg==", out, sizeof out, &n), GLY_EINVAL);
    assert_int_equal(decode("Zm8=", out, sizeof out, &n), GLY_EINVAL);
    assert_int_equal(decode("Zg=", out, sizeof out, &n), GLY_EINVAL);
    assert_int_equal(n, 0);
}

static void b64url_decode_rejects_characters_outside_the_alphabet(void **state)
{
    (void)state;
    unsigned char out[8];
    static const char *const bad[] = {"Zm+v", "Zm/v", "Zm v", "Zm\nv", "Zm.v", "Zm9\xc3", "Z%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(decode(bad[i], out, sizeof out, NULL), GLY_EINVAL);
    }
    static const char nul[] = {'Z', 'm', '\0', 'v'};
    assert_int_equal(gly_b64url_decode(nul, 4, out, sizeof out, NULL), GLY_EINVAL);
}

static void b64url_decode_rejects_a_length_of_one_more_than_a_multiple_of_four(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(decode("Z", out, sizeof out, NULL), GLY_EINVAL);
    assert_int_equal(decode("Zm9vY", out, sizeof out, NULL), GLY_EINVAL);
}

static void b64url_decode_rejects_non_zero_unused_bits(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t n;
    /* "Zg" is "f"; "Zh" has the same byte with a stray low bit */
    assert_int_equal(decode("Zg", out, sizeof out, &n), 0);
    assert_int_equal(decode("Zh", out, sizeof out, &n), GLY_EINVAL);
    assert_int_equal(decode("Zm8", out, sizeof out, &n), 0);
    assert_int_equal(decode("Zm9", out, sizeof out, &n), GLY_EINVAL);
}

static void b64url_decode_refuses_an_output_too_small(void **state)
{
    (void)state;
    unsigned char out[6];
    size_t n;
    assert_int_equal(decode("Zm9vYmFy", out, 5, &n), GLY_E2BIG);
    assert_int_equal(decode("Zm9vYmFy", out, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(decode("", NULL, 0, &n), 0);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

static void key_hs256_takes_32_to_64_bytes_of_secret(void **state)
{
    (void)state;
    static const char s[65] = "0123456789012345678901234567890123456789012345678901234567890123";
    gly_jwt_key k;
    assert_int_equal(gly_jwt_key_hs256(&k, s, 31, NULL), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, s, 65, NULL), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, NULL, 32, NULL), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, s, 32, NULL), 0);
    assert_int_equal(k.secret_len, 32);
    assert_int_equal(gly_jwt_key_hs256(&k, s, 64, NULL), 0);
    assert_int_equal(k.secret_len, 64);
    assert_true(k.can_sign);
    gly_jwt_key_wipe(&k);
}

static void key_kid_is_derived_from_the_key_material(void **state)
{
    (void)state;
    /* hashlib.sha256(...).hexdigest()[:16] of the secret and of the public key */
    gly_jwt_key k;
    unsigned char seed[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (unsigned char)i;
    }
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, NULL), 0);
    assert_string_equal(k.kid, "275475ac12868265");
    assert_int_equal(gly_jwt_key_eddsa(&k, seed, NULL), 0);
    assert_string_equal(k.kid, "56475aa75463474c");
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, k.pk, 32);
    assert_string_equal(hex, ed_pk_hex);
    gly_jwt_key_wipe(&k);
}

/* The longest kid: 64 characters (Google's are 40). */
#define LONG_KID "0123456789012345678901234567890123456789012345678901234567890123"

static void key_refuses_an_empty_long_or_unprintable_kid(void **state)
{
    (void)state;
    gly_jwt_key k;
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, ""), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, "a b"), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, "caf\xc3\xa9"), GLY_EINVAL);
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, LONG_KID "x"), GLY_EINVAL);
    assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    assert_int_equal(gly_jwt_key_eddsa(&k, NULL, LONG_KID "x"), GLY_EINVAL);
    assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    assert_int_equal(gly_jwt_key_hs256(&k, SECRET, 32, LONG_KID), 0);
    assert_string_equal(k.kid, LONG_KID);
    gly_jwt_key_wipe(&k);
}

static void key_eddsa_without_a_seed_is_random(void **state)
{
    (void)state;
    gly_jwt_key a, b;
    assert_int_equal(gly_jwt_key_eddsa(&a, NULL, NULL), 0);
    assert_int_equal(gly_jwt_key_eddsa(&b, NULL, NULL), 0);
    assert_memory_not_equal(a.pk, b.pk, 32);
    assert_string_not_equal(a.kid, b.kid);
    gly_jwt_key_wipe(&a);
    gly_jwt_key_wipe(&b);
}

static void key_eddsa_public_refuses_small_order_points(void **state)
{
    (void)state;
    gly_jwt_key k;
    unsigned char pk[32] = {0};
    assert_int_equal(gly_jwt_key_eddsa_public(&k, pk, NULL), GLY_EINVAL); /* order 4 */
    pk[0] = 1;
    assert_int_equal(gly_jwt_key_eddsa_public(&k, pk, NULL), GLY_EINVAL); /* the identity */
    assert_int_equal(gly_jwt_key_eddsa_public(&k, NULL, NULL), GLY_EINVAL);
    assert_int_equal(sodium_hex2bin(pk, 32, ed_pk_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(gly_jwt_key_eddsa_public(&k, pk, NULL), 0);
    assert_string_equal(k.kid, "56475aa75463474c");
    assert_false(k.can_sign);
    gly_jwt_key_wipe(&k);
}

static void key_wipe_zeroes_every_byte_and_accepts_null(void **state)
{
    (void)state;
    gly_jwt_key k;
    assert_int_equal(gly_jwt_key_eddsa(&k, NULL, NULL), 0);
    gly_jwt_key_wipe(&k);
    assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    gly_jwt_key_wipe(NULL);
}

/* ------------------------------------------------------------------------ */
/* Signing                                                                  */
/* ------------------------------------------------------------------------ */

static const gly_jwt_claims full_claims = {
    .sub = "user-42",
    .iss = "https://galley.test",
    .aud = "galley-api",
    .jti = "j-1",
    .role = "admin",
    .sid = "s-7",
    .iat = 1700000000,
    .nbf = 1700000000,
    .exp = FAR_FUTURE,
};

static void sign_hs256_makes_the_token_pyjwt_accepted(void **state)
{
    (void)state;
    assert_int_equal(gly_jwt_sign(&keys[0], &full_claims, &tok), 0);
    assert_string_equal(gly_buf_cstr(&tok), our_hs256);
}

static void sign_eddsa_makes_the_token_pyjwt_accepted(void **state)
{
    (void)state;
    assert_int_equal(gly_jwt_sign(&keys[1], &full_claims, &tok), 0);
    assert_string_equal(gly_buf_cstr(&tok), our_eddsa);
}

static void sign_appends_to_what_the_buffer_holds(void **state)
{
    (void)state;
    gly_buf_puts(&tok, "Bearer ");
    assert_int_equal(gly_jwt_sign(&keys[0], &full_claims, &tok), 0);
    assert_int_equal(strncmp(gly_buf_cstr(&tok), "Bearer ", 7), 0);
    assert_string_equal(tok.p + 7, our_hs256);
}

static void sign_writes_only_the_claims_that_are_set(void **state)
{
    (void)state;
    gly_jwt_claims c = {.sub = "u", .exp = 5};
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), 0);
    const char *dot = strchr(tok.p, '.');
    const char *dot2 = strchr(dot + 1, '.');
    unsigned char json[64];
    size_t n;
    assert_int_equal(gly_b64url_decode(dot + 1, (size_t)(dot2 - dot - 1), json, sizeof json, &n),
                     0);
    assert_int_equal(n, strlen("{\"sub\":\"u\",\"exp\":5}"));
    assert_memory_equal(json, "{\"sub\":\"u\",\"exp\":5}", n);
    assert_int_equal(gly_b64url_decode(tok.p, (size_t)(dot - tok.p), json, sizeof json, &n), 0);
    assert_int_equal(n, strlen(HS_HEADER));
    assert_memory_equal(json, HS_HEADER, n);
}

static void sign_refuses_claims_without_sub_or_exp(void **state)
{
    (void)state;
    gly_buf_puts(&tok, "x");
    gly_jwt_claims c = full_claims;
    c.sub = NULL;
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), GLY_EINVAL);
    c.sub = "";
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), GLY_EINVAL);
    c = full_claims;
    c.exp = 0;
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), GLY_EINVAL);
    assert_int_equal(tok.len, 1);
    assert_int_equal(gly_buf_err(&tok), 0);
}

static void sign_refuses_claims_that_are_not_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gly_jwt_claims c = full_claims;
        c.role = bad[i];
        assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), GLY_EINVAL);
    }
    assert_int_equal(tok.len, 0);
    gly_jwt_claims c = full_claims;
    c.sub = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* é € 😀 */
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), 0);
    assert_string_equal(accepted(gly_buf_cstr(&tok)).sub, c.sub);
}

static void sign_refuses_a_check_only_key(void **state)
{
    (void)state;
    gly_jwt_key k;
    assert_int_equal(gly_jwt_key_eddsa_public(&k, keys[1].pk, "ed-1"), 0);
    assert_int_equal(gly_jwt_sign(&k, &full_claims, &tok), GLY_EINVAL);
    k = keys[1];
    memset(k.sk, 0, sizeof k.sk); /* can_sign still says true */
    assert_int_equal(gly_jwt_sign(&k, &full_claims, &tok), GLY_EINVAL);
    gly_jwt_key_wipe(&k);
}

static void sign_refuses_a_token_longer_than_the_limit(void **state)
{
    (void)state;
    char *big = malloc(GLY_JWT_MAX_TOKEN);
    assert_non_null(big);
    memset(big, 'x', GLY_JWT_MAX_TOKEN - 1);
    big[GLY_JWT_MAX_TOKEN - 1] = '\0';
    gly_jwt_claims c = full_claims;
    c.sub = big;
    assert_int_equal(gly_jwt_sign(&keys[0], &c, &tok), GLY_E2BIG);
    assert_int_equal(tok.len, 0);
    big[2700] = '\0'; /* 4/3 of the payload, plus header and signature: under 4096 */
    assert_int_equal(gly_jwt_sign(&keys[1], &c, &tok), 0);
    assert_true(tok.len <= GLY_JWT_MAX_TOKEN);
    assert_string_equal(accepted(gly_buf_cstr(&tok)).sub, big);
    free(big);
}

/* ------------------------------------------------------------------------ */
/* Round trips and independent tokens                                       */
/* ------------------------------------------------------------------------ */

static void assert_full_claims(gly_jwt_claims c)
{
    assert_string_equal(c.sub, "user-42");
    assert_string_equal(c.iss, "https://galley.test");
    assert_string_equal(c.aud, "galley-api");
    assert_string_equal(c.jti, "j-1");
    assert_string_equal(c.role, "admin");
    assert_string_equal(c.sid, "s-7");
    assert_int_equal(c.iat, 1700000000);
    assert_int_equal(c.nbf, 1700000000);
    assert_int_equal(c.exp, FAR_FUTURE);
}

static void hs256_round_trip_returns_every_claim(void **state)
{
    (void)state;
    assert_int_equal(gly_jwt_sign(&keys[0], &full_claims, &tok), 0);
    assert_full_claims(accepted(gly_buf_cstr(&tok)));
}

static void eddsa_round_trip_returns_every_claim(void **state)
{
    (void)state;
    assert_int_equal(gly_jwt_sign(&keys[1], &full_claims, &tok), 0);
    assert_full_claims(accepted(gly_buf_cstr(&tok)));
}

static void eddsa_token_verifies_with_the_public_key_alone(void **state)
{
    (void)state;
    gly_jwt_key pub;
    assert_int_equal(gly_jwt_key_eddsa_public(&pub, keys[1].pk, "ed-1"), 0);
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(&pub, 1, py_eddsa, strlen(py_eddsa), &c, &why), 0);
    assert_full_claims(c);
    assert_int_equal(verify_keys(&pub, 1, our_eddsa, strlen(our_eddsa), &c, &why), 0);
    gly_jwt_key_wipe(&pub);
}

static void pyjwt_hs256_token_verifies(void **state)
{
    (void)state;
    assert_full_claims(accepted(py_hs256));
}

static void pyjwt_eddsa_token_verifies(void **state)
{
    (void)state;
    assert_full_claims(accepted(py_eddsa));
}

static void pyjwt_token_signed_with_another_secret_is_refused(void **state)
{
    (void)state;
    assert_refused(py_hs256_other_secret, GLY_EACCES, "bad signature");
}

static void pyjwt_audience_array_is_accepted_when_it_holds_ours(void **state)
{
    (void)state;
    assert_string_equal(accepted(py_hs256_aud_array).aud, "galley-api");
    expect.aud = "other";
    assert_string_equal(accepted(py_hs256_aud_array).aud, "other");
    expect.aud = NULL;
    assert_string_equal(accepted(py_hs256_aud_array).aud, "other"); /* the first */
    expect.aud = "galley";
    assert_refused(py_hs256_aud_array, GLY_EPROTO, "wrong audience");
}

static void pyjwt_expired_token_is_refused(void **state)
{
    (void)state;
    assert_refused(py_hs256_expired, GLY_ETIMEDOUT, "expired");
    expect.now = 1700000600 - 61;
    accepted(py_hs256_expired);
}

static void pyjwt_alg_none_token_is_refused(void **state)
{
    (void)state;
    assert_refused(py_none, GLY_EACCES, "algorithm none refused");
}

static void pyjwt_hs384_token_is_refused(void **state)
{
    (void)state;
    assert_refused(py_hs384, GLY_EACCES, "algorithm refused");
}

static void hs256_keyed_with_the_eddsa_public_key_is_refused(void **state)
{
    (void)state;
    assert_refused(py_confused, GLY_EACCES, "algorithm does not match the key");
    /* the same attack against a verifier holding only the public key */
    gly_jwt_key pub;
    assert_int_equal(gly_jwt_key_eddsa_public(&pub, keys[1].pk, "ed-1"), 0);
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(&pub, 1, py_confused, strlen(py_confused), &c, &why), GLY_EACCES);
    assert_string_equal(why, "algorithm does not match the key");
    gly_jwt_key_wipe(&pub);
}

static void eddsa_token_naming_an_hs256_key_is_refused(void **state)
{
    (void)state;
    const char *h = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"hs-1\"}";
    assert_refused(forge(&keys[1], h, claims_json), GLY_EACCES, "algorithm does not match the key");
}

static void rfc7515_a1_example_is_refused_for_its_missing_kid(void **state)
{
    (void)state;
    unsigned char k[64];
    size_t n;
    assert_int_equal(gly_b64url_decode(rfc7515_a1_key, strlen(rfc7515_a1_key), k, sizeof k, &n), 0);
    assert_int_equal(n, 64);
    gly_jwt_key key;
    assert_int_equal(gly_jwt_key_hs256(&key, k, n, "joe"), 0);
    expect.now = 1300819380 - 100;
    expect.iss = "joe";
    expect.aud = NULL;
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(&key, 1, rfc7515_a1, strlen(rfc7515_a1), &c, &why), GLY_EACCES);
    assert_string_equal(why, "no kid");

    /* the HMAC the verifier computes over "header.payload" is the RFC's signature */
    const char *dot2 = strrchr(rfc7515_a1, '.');
    unsigned char want[32], mac[32];
    assert_int_equal(gly_b64url_decode(dot2 + 1, strlen(dot2 + 1), want, sizeof want, &n), 0);
    assert_int_equal(n, 32);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.secret, key.secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)rfc7515_a1,
                                  (size_t)(dot2 - rfc7515_a1));
    crypto_auth_hmacsha256_final(&st, mac);
    assert_memory_equal(mac, want, 32);
    gly_jwt_key_wipe(&key);
}

/* ------------------------------------------------------------------------ */
/* The header                                                               */
/* ------------------------------------------------------------------------ */

static void alg_none_is_refused_in_any_spelling(void **state)
{
    (void)state;
    static const char *const spellings[] = {"none", "None", "NONE", "nOnE"};
    char h[128];
    for (size_t i = 0; i < 4; i++) {
        snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"hs-1\"}", spellings[i]);
        /* with an HMAC signature, and with the signature stripped */
        forge_as(&keys[0], GLY_JWT_HS256, h, claims_json);
        assert_refused(tok.p, GLY_EACCES, "algorithm none refused");
        *(strrchr(tok.p, '.') + 1) = '\0';
        assert_refused(tok.p, GLY_EACCES, "algorithm none refused");
    }
}

static void other_algorithms_are_refused(void **state)
{
    (void)state;
    static const char *const algs[] = {"\"HS384\"", "\"HS512\"",   "\"RS384\"",  "\"ES384\"",
                                       "\"PS256\"", "\"hs256\"",   "\"HS256 \"", "\"eddsa\"",
                                       "\"es256\"", "\"Ed25519\"", "\"\"",       "256",
                                       "null",      "[\"HS256\"]"};
    char h[128];
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        snprintf(h, sizeof h, "{\"alg\":%s,\"typ\":\"JWT\",\"kid\":\"hs-1\"}", algs[i]);
        assert_refused(forge_as(&keys[0], GLY_JWT_HS256, h, claims_json), GLY_EACCES,
                       "algorithm refused");
    }
    /* algorithms we know, naming a key of another */
    assert_refused(
        forge_as(&keys[0], GLY_JWT_HS256, "{\"alg\":\"ES256\",\"kid\":\"hs-1\"}", claims_json),
        GLY_EACCES, "algorithm does not match the key");
    assert_refused(
        forge_as(&keys[0], GLY_JWT_HS256, "{\"alg\":\"RS256\",\"kid\":\"hs-1\"}", claims_json),
        GLY_EACCES, "algorithm does not match the key");
    assert_refused(forge(&keys[0], "{\"typ\":\"JWT\",\"kid\":\"hs-1\"}", claims_json), GLY_EACCES,
                   "no algorithm");
}

static void forbidden_header_members_are_refused(void **state)
{
    (void)state;
    static const char *const members[] = {"\"jku\":\"https://evil.test/jwks\"",
                                          "\"x5u\":\"https://evil.test/x5\"",
                                          "\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}",
                                          "\"x5c\":[\"MIIB\"]",
                                          "\"crit\":[\"exp\"]",
                                          "\"crit\":[]"};
    char h[128];
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"hs-1\",%s}",
                 members[i]);
        assert_refused(forge(&keys[0], h, claims_json), GLY_EACCES, "forbidden header member");
    }
}

static void typ_other_than_jwt_is_refused_and_may_be_absent(void **state)
{
    (void)state;
    static const char *const typs[] = {"\"jwt\"", "\"at+jwt\"", "\"JWS\"", "\"\"", "1", "null"};
    char h[128];
    for (size_t i = 0; i < sizeof typs / sizeof typs[0]; i++) {
        snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"typ\":%s,\"kid\":\"hs-1\"}", typs[i]);
        assert_refused(forge(&keys[0], h, claims_json), GLY_EACCES, "typ is not JWT");
    }
    accepted(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":\"hs-1\"}", claims_json));
    accepted(forge(&keys[1], "{\"kid\":\"ed-1\",\"alg\":\"EdDSA\",\"cty\":\"x\"}", claims_json));
}

static void kid_is_required_and_must_name_a_key(void **state)
{
    (void)state;
    assert_refused(forge(&keys[0], "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims_json), GLY_EACCES,
                   "no kid");
    assert_refused(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":1}", claims_json), GLY_EACCES,
                   "no kid");
    assert_refused(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":\"hs-2\"}", claims_json), GLY_EACCES,
                   "unknown kid");
    assert_refused(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":\"hs-1\\u0000\"}", claims_json),
                   GLY_EACCES, "unknown kid");
    assert_refused(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":\"HS-1\"}", claims_json), GLY_EACCES,
                   "unknown kid");
    /* escapes name the same kid */
    accepted(forge(&keys[0], "{\"alg\":\"HS256\",\"kid\":\"hs\\u002d1\"}", claims_json));
    /* no keys at all */
    gly_jwt_claims c;
    const char *why;
    const char *t = forge(&keys[0], HS_HEADER, claims_json);
    assert_int_equal(verify_keys(NULL, 0, t, strlen(t), &c, &why), GLY_EACCES);
    assert_string_equal(why, "unknown kid");
}

static void a_key_filled_by_hand_without_a_secret_is_never_used(void **state)
{
    (void)state;
    gly_jwt_key empty = {.alg = GLY_JWT_HS256, .kid = "hs-1"}; /* secret_len 0 */
    crypto_auth_hmacsha256_state st;
    unsigned char sig[32];
    gly_buf_clear(&tok);
    gly_b64url_encode(&tok, HS_HEADER, strlen(HS_HEADER));
    gly_buf_putc(&tok, '.');
    gly_b64url_encode(&tok, claims_json, strlen(claims_json));
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"", 0);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok.p, tok.len);
    crypto_auth_hmacsha256_final(&st, sig);
    gly_buf_putc(&tok, '.');
    gly_b64url_encode(&tok, sig, 32);
    gly_jwt_claims c;
    const char *why;
    const char *t = gly_buf_cstr(&tok);
    assert_int_equal(verify_keys(&empty, 1, t, strlen(t), &c, &why), GLY_EACCES);
    assert_string_equal(why, "unknown kid");
    assert_int_equal(gly_jwt_sign(&empty, &full_claims, &tok), GLY_EINVAL);
}

static void duplicate_header_members_are_refused(void **state)
{
    (void)state;
    const char *h = "{\"alg\":\"HS256\",\"alg\":\"none\",\"kid\":\"hs-1\"}";
    assert_refused(forge(&keys[0], h, claims_json), GLY_EINVAL,
                   "header is not a base64url JSON object");
    h = "{\"alg\":\"HS256\",\"kid\":\"hs-1\",\"kid\":\"ed-1\"}";
    assert_refused(forge(&keys[0], h, claims_json), GLY_EINVAL,
                   "header is not a base64url JSON object");
}

static void header_must_be_a_json_object(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "\"HS256\"", "{", "{\"alg\":\"HS256\",}", "null", "{\"alg\":\"HS256\"} x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(forge(&keys[0], bad[i], claims_json), GLY_EINVAL,
                       "header is not a base64url JSON object");
    }
    assert_refused("e30=.e30.AAAA", GLY_EINVAL, "header is not a base64url JSON object");
    assert_refused("e3.e30.AAAA", GLY_EINVAL, "header is not a base64url JSON object");
}

/* ------------------------------------------------------------------------ */
/* Shape and signature                                                      */
/* ------------------------------------------------------------------------ */

static void token_must_have_exactly_three_parts(void **state)
{
    (void)state;
    assert_refused("", GLY_EINVAL, "not three parts");
    assert_refused("abc", GLY_EINVAL, "not three parts");
    assert_refused("abc.def", GLY_EINVAL, "not three parts");
    assert_refused("..", GLY_EINVAL, "header is not a base64url JSON object");
    char t[1024];
    snprintf(t, sizeof t, "%s.", py_hs256);
    assert_refused(t, GLY_EINVAL, "not three parts");
    snprintf(t, sizeof t, "%s.x", py_hs256);
    assert_refused(t, GLY_EINVAL, "not three parts");
}

static void token_longer_than_the_limit_is_refused_unread(void **state)
{
    (void)state;
    size_t n = GLY_JWT_MAX_TOKEN + 1;
    char *t = malloc(n);
    assert_non_null(t);
    memset(t, 'A', n);
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(keys, 2, t, n, &c, &why), GLY_EINVAL);
    assert_string_equal(why, "token too long");
    free(t);
    /* unread: the token's first byte is on a PROT_NONE page */
    struct gly_test_guard g;
    char *none = gly_test_guarded("", 0, &g);
    assert_int_equal(gly_jwt_verify(keys, 2, none, n, &expect, &arena, &c, &why), GLY_EINVAL);
    assert_string_equal(why, "token too long");
    gly_test_unguard(&g);
}

static void stripped_truncated_or_padded_signature_is_refused(void **state)
{
    (void)state;
    char t[1024];
    size_t n = strlen(py_hs256);
    memcpy(t, py_hs256, n + 1);
    t[n - 43] = '\0'; /* "header.payload." */
    assert_refused(t, GLY_EACCES, "bad signature");
    memcpy(t, py_hs256, n + 1);
    t[n - 4] = '\0'; /* 39 characters: 29 bytes */
    assert_refused(t, GLY_EACCES, "bad signature");
    snprintf(t, sizeof t, "%s=", py_hs256);
    assert_refused(t, GLY_EACCES, "bad signature");
    snprintf(t, sizeof t, "%sAAAA", py_hs256); /* 35 bytes */
    assert_refused(t, GLY_EACCES, "bad signature");
    /* an EdDSA signature where HS256 is due, and the reverse */
    const char *ed_sig = strrchr(py_eddsa, '.');
    snprintf(t, sizeof t, "%.*s%s", (int)(strrchr(py_hs256, '.') - py_hs256), py_hs256, ed_sig);
    assert_refused(t, GLY_EACCES, "bad signature");
    const char *hs_sig = strrchr(py_hs256, '.');
    snprintf(t, sizeof t, "%.*s%s", (int)(strrchr(py_eddsa, '.') - py_eddsa), py_eddsa, hs_sig);
    assert_refused(t, GLY_EACCES, "bad signature");
}

static void any_altered_byte_breaks_the_signature(void **state)
{
    (void)state;
    static const char *const tokens[] = {py_hs256, py_eddsa};
    char t[1024];
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(tokens[k]);
        const char *dot1 = strchr(tokens[k], '.');
        for (size_t i = (size_t)(dot1 - tokens[k]) + 1; i < n; i++) {
            if (tokens[k][i] == '.') {
                continue;
            }
            memcpy(t, tokens[k], n + 1);
            /* a neighbour in the alphabet: same decoded length, different bits */
            t[i] = t[i] == 'A' ? 'B' : 'A';
            gly_jwt_claims c;
            const char *why;
            int rc = verify(t, &c, &why);
            if (rc == 0) {
                fail_msg("token %zu accepted with byte %zu altered", k, i);
            }
            /* the payload is not even decoded before the signature holds */
            assert_int_equal(rc, GLY_EACCES);
            assert_string_equal(why, "bad signature");
        }
    }
}

static void the_signature_covers_the_header_as_sent(void **state)
{
    (void)state;
    /* the same header, but spaced differently: a different signing input */
    const char *t = forge(&keys[0], HS_HEADER, claims_json);
    const char *sig = strrchr(t, '.');
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", sig);
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    const char *h2 = "{\"alg\":\"HS256\", \"typ\":\"JWT\",\"kid\":\"hs-1\"}";
    gly_b64url_encode(&b, h2, strlen(h2));
    gly_buf_append(&b, strchr(t, '.'), (size_t)(sig - strchr(t, '.')));
    gly_buf_puts(&b, copy);
    assert_refused(gly_buf_cstr(&b), GLY_EACCES, "bad signature");
    gly_buf_dispose(&b);
}

/* ------------------------------------------------------------------------ */
/* The payload                                                              */
/* ------------------------------------------------------------------------ */

static void payload_is_read_only_after_the_signature_holds(void **state)
{
    (void)state;
    /* a payload that is not JSON, with a bad signature: the signature is the reason */
    char t[256];
    gly_buf_clear(&tok);
    gly_b64url_encode(&tok, HS_HEADER, strlen(HS_HEADER));
    snprintf(t, sizeof t, "%s.bm90IGpzb24.%s", gly_buf_cstr(&tok),
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_refused(t, GLY_EACCES, "bad signature");
    assert_refused(forge(&keys[0], HS_HEADER, "not json"), GLY_EINVAL,
                   "payload is not a base64url JSON object");
    assert_refused(forge(&keys[0], HS_HEADER, "[1]"), GLY_EINVAL,
                   "payload is not a base64url JSON object");
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":9}"),
                   GLY_EINVAL, "payload is not a base64url JSON object");
}

static void sub_is_required_as_a_non_empty_string(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"exp\":4102444800}",
        "{\"sub\":42,\"exp\":4102444800}",
        "{\"sub\":\"\",\"exp\":4102444800}",
        "{\"sub\":null,\"exp\":4102444800}",
        "{\"sub\":\"admin\\u0000x\",\"exp\":4102444800}",
    };
    expect.iss = expect.aud = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(forge(&keys[0], HS_HEADER, bad[i]), GLY_EINVAL, "no sub");
    }
    gly_jwt_claims c = accepted(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":4102444800}"));
    assert_string_equal(c.sub, "a");
    assert_null(c.iss);
    assert_null(c.aud);
    assert_null(c.role);
    assert_int_equal(c.nbf, 0);
}

static void exp_is_required_as_an_integer(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"sub\":\"a\"}",
        "{\"sub\":\"a\",\"exp\":4102444800.5}",
        "{\"sub\":\"a\",\"exp\":\"4102444800\"}",
        "{\"sub\":\"a\",\"exp\":9223372036854775808}",
        "{\"sub\":\"a\",\"exp\":null}",
    };
    expect.iss = expect.aud = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(forge(&keys[1], ED_HEADER, bad[i]), GLY_EINVAL, "no integer exp");
    }
    /* 4.1e9 is an integer written as a float: gly_jv_i64 takes it exactly */
    assert_int_equal(accepted(forge(&keys[1], ED_HEADER, "{\"sub\":\"a\",\"exp\":4.1e9}")).exp,
                     4100000000);
}

static void other_claims_must_have_their_types(void **state)
{
    (void)state;
    expect.iss = expect.aud = NULL;
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":4102444800,\"nbf\":1.5}"),
                   GLY_EINVAL, "nbf or iat is not an integer");
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":4102444800,\"iat\":\"1\"}"),
                   GLY_EINVAL, "nbf or iat is not an integer");
    static const char *const bad_str[] = {"iss", "jti", "role", "sid"};
    char p[128];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":4102444800,\"%s\":7}", bad_str[i]);
        assert_refused(forge(&keys[0], HS_HEADER, p), GLY_EINVAL, "claim is not a string");
        snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":4102444800,\"%s\":\"x\\u0000\"}", bad_str[i]);
        assert_refused(forge(&keys[0], HS_HEADER, p), GLY_EINVAL, "claim is not a string");
    }
    static const char *const bad_aud[] = {"1",   "{}", "[1]", "[\"a\",null]", "[\"a\\u0000\"]",
                                          "null"};
    for (size_t i = 0; i < sizeof bad_aud / sizeof bad_aud[0]; i++) {
        snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":4102444800,\"aud\":%s}", bad_aud[i]);
        assert_refused(forge(&keys[0], HS_HEADER, p), GLY_EINVAL,
                       "aud is not a string or an array of strings");
    }
    /* unknown claims are ignored */
    gly_jwt_claims c = accepted(forge(
        &keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":4102444800,\"x\":{\"y\":[1,2]},\"aud\":[]}"));
    assert_null(c.aud);
}

static void expired_and_not_yet_valid_tokens_are_refused_at_the_edge(void **state)
{
    (void)state;
    expect.iss = expect.aud = NULL;
    const char *t = forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":1000,\"nbf\":900}");
    char copy[512];
    snprintf(copy, sizeof copy, "%s", t);
    expect.leeway = 0;
    expect.now = 1000;
    assert_refused(copy, GLY_ETIMEDOUT, "expired");
    expect.now = 999;
    accepted(copy);
    expect.now = 900;
    accepted(copy);
    expect.now = 899;
    assert_refused(copy, GLY_ETIMEDOUT, "not yet valid");
    expect.leeway = 10;
    expect.now = 890;
    accepted(copy);
    expect.now = 889;
    assert_refused(copy, GLY_ETIMEDOUT, "not yet valid");
    expect.now = 1009;
    accepted(copy);
    expect.now = 1010;
    assert_refused(copy, GLY_ETIMEDOUT, "expired");
    expect.leeway = -100; /* counts as none */
    expect.now = 1000;
    assert_refused(copy, GLY_ETIMEDOUT, "expired");
}

static void time_checks_do_not_wrap_around_int64(void **state)
{
    (void)state;
    expect.iss = expect.aud = NULL;
    expect.leeway = INT64_MAX;
    expect.now = INT64_MAX;
    accepted(forge(&keys[0], HS_HEADER,
                   "{\"sub\":\"a\",\"exp\":9223372036854775807,\"nbf\":-9223372036854775808}"));
    expect.leeway = 0;
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":9223372036854775807}"),
                   GLY_ETIMEDOUT, "expired");
    expect.now = INT64_MIN;
    assert_refused(
        forge(&keys[0], HS_HEADER,
              "{\"sub\":\"a\",\"exp\":9223372036854775807,\"nbf\":-9223372036854775807}"),
        GLY_ETIMEDOUT, "not yet valid");
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":-9223372036854775808}"),
                   GLY_ETIMEDOUT, "expired");
}

static void wrong_or_missing_issuer_is_refused(void **state)
{
    (void)state;
    expect.iss = "https://other.test";
    assert_refused(py_hs256, GLY_EPROTO, "wrong issuer");
    expect.iss = "https://galley.test";
    expect.aud = NULL;
    assert_refused(forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"exp\":4102444800}"), GLY_EPROTO,
                   "wrong issuer");
    expect.iss = "https://galley.tes";
    assert_refused(py_hs256, GLY_EPROTO, "wrong issuer");
    expect.iss = NULL;
    assert_string_equal(accepted(py_hs256).iss, "https://galley.test");
}

static void wrong_or_missing_audience_is_refused(void **state)
{
    (void)state;
    expect.aud = "galley-admin";
    assert_refused(py_hs256, GLY_EPROTO, "wrong audience");
    expect.aud = "galley-api";
    assert_refused(
        forge(&keys[0], HS_HEADER,
              "{\"sub\":\"a\",\"iss\":\"https://galley.test\",\"exp\":4102444800,\"aud\":[]}"),
        GLY_EPROTO, "wrong audience");
    assert_refused(
        forge(&keys[0], HS_HEADER, "{\"sub\":\"a\",\"iss\":\"https://galley.test\",\"exp\":1e10}"),
        GLY_EPROTO, "wrong audience");
}

static void verify_reports_out_of_memory_from_the_arena(void **state)
{
    (void)state;
    gly_arena small;
    gly_arena_init(&small, 64);
    gly_jwt_claims c;
    const char *why;
    int rc = gly_jwt_verify(keys, 2, py_hs256, strlen(py_hs256), &expect, &small, &c, &why);
    assert_int_equal(rc, GLY_ENOMEM);
    assert_string_equal(why, "out of memory");
    gly_arena_dispose(&small);
}

static void verify_refuses_null_arguments(void **state)
{
    (void)state;
    gly_jwt_claims c;
    const char *why;
    size_t n = strlen(py_hs256);
    assert_int_equal(gly_jwt_verify(keys, 2, py_hs256, n, NULL, &arena, &c, &why), GLY_EINVAL);
    assert_int_equal(gly_jwt_verify(keys, 2, py_hs256, n, &expect, NULL, &c, NULL), GLY_EINVAL);
    assert_int_equal(gly_jwt_verify(keys, 2, py_hs256, n, &expect, &arena, NULL, &why), GLY_EINVAL);
    assert_int_equal(gly_jwt_verify(NULL, 2, py_hs256, n, &expect, &arena, &c, &why), GLY_EINVAL);
    assert_string_equal(why, "invalid arguments");
}

/* ------------------------------------------------------------------------ */
/* ES256, RS256 and JWKs                                                    */
/* ------------------------------------------------------------------------ */

/* Makes a key of a PEM fixture with kid, asserting success. */
static void pem_key(gly_jwt_key *k, const char *pem, const char *kid)
{
    assert_int_equal(gly_jwt_key_pem(k, pem, strlen(pem), kid), 0);
}

static void jwk_key(gly_jwt_key *k, const char *json)
{
    int rc = gly_jwk_parse(k, json, strlen(json));
    if (rc != 0) {
        fail_msg("jwk refused (%d): %s", rc, json);
    }
}

/* Splits token s: the length of "header.payload" and the decoded signature's. */
static size_t signature_of(const char *s, unsigned char *sig, size_t cap, size_t *signed_len)
{
    const char *dot = strrchr(s, '.');
    size_t n;
    assert_non_null(dot);
    assert_int_equal(gly_b64url_decode(dot + 1, strlen(dot + 1), sig, cap, &n), 0);
    *signed_len = (size_t)(dot - s);
    return n;
}

/* Replaces the signature of token s with sig[0..n) (in tok). */
static const char *with_signature(const char *s, const unsigned char *sig, size_t n)
{
    char *copy = strdup(s);
    assert_non_null(copy);
    *strrchr(copy, '.') = '\0';
    gly_buf_clear(&tok);
    gly_buf_puts(&tok, copy);
    gly_buf_putc(&tok, '.');
    gly_b64url_encode(&tok, sig, n);
    free(copy);
    assert_non_null(gly_buf_cstr(&tok));
    return tok.p;
}

static void key_pem_makes_es256_rs256_and_eddsa_keys(void **state)
{
    (void)state;
    gly_jwt_key k;
    pem_key(&k, ec_pem, NULL);
    assert_int_equal(k.alg, GLY_JWT_ES256);
    assert_true(k.can_sign);
    assert_string_equal(k.kid, EC_THUMB_KID);
    gly_jwt_key_wipe(&k);
    assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    pem_key(&k, rsa_pem, "rs-1");
    assert_int_equal(k.alg, GLY_JWT_RS256);
    assert_string_equal(k.kid, "rs-1");
    gly_jwt_key_wipe(&k);

    /* an Ed25519 PEM is the seed: the same key as gly_jwt_key_eddsa() makes of it */
    gly_buf pem;
    gly_buf_init(&pem, NULL, 0, NULL, 0);
    assert_int_equal(gly_jwt_key_pem_write(&keys[1], &pem), 0);
    assert_non_null(strstr(gly_buf_cstr(&pem), "-----BEGIN PRIVATE KEY-----"));
    pem_key(&k, pem.p, "ed-1");
    assert_int_equal(k.alg, GLY_JWT_EDDSA);
    assert_memory_equal(k.sk, keys[1].sk, sizeof k.sk);
    gly_jwt_key_wipe(&k);
    gly_buf_dispose(&pem);
}

static void key_pem_refuses_other_curves_small_rsa_and_garbage(void **state)
{
    (void)state;
    gly_jwt_key k;
    const char *bad[] = {ec384_pem, rsa1024_pem, "", "-----BEGIN PRIVATE KEY-----\nAAAA\n",
                         "not a key"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gly_jwt_key_pem(&k, bad[i], strlen(bad[i]), NULL), GLY_EINVAL);
        assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    }
    /* a PEM cut short, and one with a kid that is too long */
    assert_int_equal(gly_jwt_key_pem(&k, ec_pem, strlen(ec_pem) / 2, NULL), GLY_EINVAL);
    char kid[66];
    memset(kid, 'k', 65);
    kid[65] = '\0';
    assert_int_equal(gly_jwt_key_pem(&k, ec_pem, strlen(ec_pem), kid), GLY_EINVAL);
    assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
}

static void key_generate_makes_distinct_es256_keys_that_round_trip_through_pem(void **state)
{
    (void)state;
    gly_jwt_key a, b, back;
    assert_int_equal(gly_jwt_key_generate(&a, GLY_JWT_ES256, NULL), 0);
    assert_int_equal(gly_jwt_key_generate(&b, GLY_JWT_ES256, NULL), 0);
    assert_string_not_equal(a.kid, b.kid);
    gly_buf pem;
    gly_buf_init(&pem, NULL, 0, NULL, 0);
    assert_int_equal(gly_jwt_key_pem_write(&a, &pem), 0);
    pem_key(&back, gly_buf_cstr(&pem), NULL);
    assert_string_equal(back.kid, a.kid);
    gly_jwt_claims c = {.sub = "u", .exp = FAR_FUTURE}, out;
    gly_buf_clear(&tok);
    assert_int_equal(gly_jwt_sign(&a, &c, &tok), 0);
    const char *why;
    expect.iss = expect.aud = NULL;
    assert_int_equal(verify_keys(&back, 1, tok.p, tok.len, &out, &why), 0);
    assert_int_equal(verify_keys(&b, 1, tok.p, tok.len, &out, &why), GLY_EACCES);
    assert_string_equal(why, "unknown kid");
    /* HS256 keys have no PEM; a check-only key has no private half */
    gly_buf_clear(&pem);
    assert_int_equal(gly_jwt_key_pem_write(&keys[0], &pem), GLY_EINVAL);
    gly_jwt_key pub;
    jwk_key(&pub, ec_jwk);
    assert_int_equal(gly_jwt_key_pem_write(&pub, &pem), GLY_EINVAL);
    assert_int_equal(pem.len, 0);
    gly_jwt_key_wipe(&pub);
    assert_int_equal(gly_jwt_key_generate(&pub, 99, NULL), GLY_EINVAL);
    gly_jwt_key_wipe(&a);
    gly_jwt_key_wipe(&b);
    gly_jwt_key_wipe(&back);
    gly_buf_dispose(&pem);
}

static void pyjwt_es256_token_verifies_with_the_pem_and_the_jwk(void **state)
{
    (void)state;
    gly_jwt_key priv, pub;
    pem_key(&priv, ec_pem, "es-1");
    jwk_key(&pub, ec_jwk);
    assert_string_equal(pub.kid, "es-1");
    assert_false(pub.can_sign);
    gly_jwt_claims c;
    const char *why = "unset";
    assert_int_equal(verify_keys(&priv, 1, es256_py, strlen(es256_py), &c, &why), 0);
    assert_null(why);
    assert_int_equal(verify_keys(&pub, 1, es256_py, strlen(es256_py), &c, &why), 0);
    assert_string_equal(c.sub, "user-42");
    assert_string_equal(c.role, "admin");
    /* the whole payload is there for claims of others */
    assert_non_null(c.payload);
    assert_string_equal(gly_jv_str(gly_jv_get(c.payload, "jti")).p, "j-1");
    gly_jwt_key_wipe(&priv);
    gly_jwt_key_wipe(&pub);
}

static void pyjwt_rs256_token_verifies_with_the_pem_and_the_jwk(void **state)
{
    (void)state;
    gly_jwt_key priv, pub;
    pem_key(&priv, rsa_pem, "rs-1");
    jwk_key(&pub, rsa_jwk);
    gly_jwt_claims c;
    const char *why = "unset";
    assert_int_equal(verify_keys(&priv, 1, rs256_py, strlen(rs256_py), &c, &why), 0);
    assert_int_equal(verify_keys(&pub, 1, rs256_py, strlen(rs256_py), &c, &why), 0);
    assert_string_equal(c.sid, "s-7");
    gly_jwt_key_wipe(&priv);
    gly_jwt_key_wipe(&pub);
}

static void es256_and_rs256_round_trip_through_sign_and_a_written_jwk(void **state)
{
    (void)state;
    const char *pems[] = {ec_pem, rsa_pem};
    for (size_t i = 0; i < 2; i++) {
        gly_jwt_key priv, pub;
        pem_key(&priv, pems[i], NULL);
        gly_buf jb;
        gly_json j;
        gly_buf_init(&jb, NULL, 0, NULL, 0);
        gly_json_init(&j, &jb);
        assert_int_equal(gly_jwk_write(&priv, &j), 0);
        assert_int_equal(gly_json_finish(&j), 0);
        assert_null(strstr(gly_buf_cstr(&jb), "\"d\""));
        jwk_key(&pub, jb.p);
        assert_string_equal(pub.kid, priv.kid);
        gly_jwt_claims c = {.sub = "user-42",
                            .iss = "https://galley.test",
                            .aud = "galley-api",
                            .exp = FAR_FUTURE},
                       out;
        gly_buf_clear(&tok);
        assert_int_equal(gly_jwt_sign(&priv, &c, &tok), 0);
        assert_non_null(gly_buf_cstr(&tok));
        unsigned char sig[512];
        size_t signed_len;
        size_t n = signature_of(tok.p, sig, sizeof sig, &signed_len);
        assert_int_equal(n, i == 0 ? 64 : 256);
        const char *why;
        assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &out, &why), 0);
        assert_string_equal(out.aud, "galley-api");
        /* the public half alone cannot sign */
        gly_buf_clear(&tok);
        assert_int_equal(gly_jwt_sign(&pub, &c, &tok), GLY_EINVAL);
        gly_buf_dispose(&jb);
        gly_jwt_key_wipe(&priv);
        gly_jwt_key_wipe(&pub);
    }
    /* an HS256 secret is never written as a JWK */
    gly_buf jb;
    gly_json j;
    gly_buf_init(&jb, NULL, 0, NULL, 0);
    gly_json_init(&j, &jb);
    assert_int_equal(gly_jwk_write(&keys[0], &j), GLY_EINVAL);
    assert_int_equal(gly_jwk_write(&keys[1], &j), 0);
    assert_int_equal(gly_json_finish(&j), 0);
    assert_non_null(strstr(gly_buf_cstr(&jb), "\"crv\":\"Ed25519\""));
    gly_buf_dispose(&jb);
}

static void hs256_keyed_with_the_es256_public_key_is_refused(void **state)
{
    (void)state;
    gly_jwt_key pub;
    jwk_key(&pub, ec_jwk);
    /* the attacker's HMAC keys: the JWK text, and the PEM of the private key (worst case) */
    const char *secrets[] = {ec_jwk, ec_pem};
    for (size_t i = 0; i < 2; i++) {
        gly_jwt_key hs;
        unsigned char h[32];
        crypto_hash_sha256(h, (const unsigned char *)secrets[i], strlen(secrets[i]));
        assert_int_equal(gly_jwt_key_hs256(&hs, h, sizeof h, "es-1"), 0);
        forge(&hs, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"es-1\"}", claims_json);
        gly_jwt_claims c;
        const char *why;
        assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
        assert_string_equal(why, "algorithm does not match the key");
        gly_jwt_key_wipe(&hs);
    }
    /* and an ES256 header naming an HS256 key */
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(keys, 2, es256_py, strlen(es256_py), &c, &why), GLY_EACCES);
    assert_string_equal(why, "unknown kid");
    gly_jwt_key hs;
    assert_int_equal(gly_jwt_key_hs256(&hs, SECRET, 32, "es-1"), 0);
    assert_int_equal(verify_keys(&hs, 1, es256_py, strlen(es256_py), &c, &why), GLY_EACCES);
    assert_string_equal(why, "algorithm does not match the key");
    gly_jwt_key_wipe(&hs);
    gly_jwt_key_wipe(&pub);
}

static void es256_signature_of_the_wrong_length_or_in_der_is_refused(void **state)
{
    (void)state;
    gly_jwt_key pub;
    jwk_key(&pub, ec_jwk);
    unsigned char sig[80], bad[80];
    size_t signed_len;
    size_t n = signature_of(es256_py, sig, sizeof sig, &signed_len);
    assert_int_equal(n, 64);
    gly_jwt_claims c;
    const char *why;
    size_t lens[] = {0, 32, 63, 65, 72};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memset(bad, 0, sizeof bad);
        memcpy(bad, sig, lens[i] < 64 ? lens[i] : 64);
        with_signature(es256_py, bad, lens[i]);
        assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
        assert_string_equal(why, "bad signature");
    }
    /* the same R and S in DER, as libcrypto would take them */
    unsigned char der[72] = {0x30, 68, 0x02, 33, 0x00};
    memcpy(der + 5, sig, 32);
    der[37] = 0x02, der[38] = 33, der[39] = 0x00;
    memcpy(der + 40, sig + 32, 32);
    with_signature(es256_py, der, sizeof der);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
    /* R and S zero, or one bit of S flipped; the signature itself still holds */
    memset(bad, 0, 64);
    with_signature(es256_py, bad, 64);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
    memcpy(bad, sig, 64);
    bad[63] ^= 1;
    with_signature(es256_py, bad, 64);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
    assert_string_equal(why, "bad signature");
    with_signature(es256_py, sig, 64);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), 0);
    gly_jwt_key_wipe(&pub);
}

static void rs256_signature_must_be_as_long_as_the_modulus(void **state)
{
    (void)state;
    gly_jwt_key pub;
    jwk_key(&pub, rsa_jwk);
    unsigned char sig[300];
    size_t signed_len;
    size_t n = signature_of(rs256_py, sig, sizeof sig, &signed_len);
    assert_int_equal(n, 256);
    gly_jwt_claims c;
    const char *why;
    with_signature(rs256_py, sig, 255);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
    assert_string_equal(why, "bad signature");
    sig[10] ^= 0x40;
    with_signature(rs256_py, sig, 256);
    assert_int_equal(verify_keys(&pub, 1, tok.p, tok.len, &c, &why), GLY_EACCES);
    assert_string_equal(why, "bad signature");
    gly_jwt_key_wipe(&pub);
}

static void jwk_parse_refuses_what_is_not_a_signing_key_we_know(void **state)
{
    (void)state;
    const char *bad[] = {
        ec384_jwk,
        rsa1024_jwk,
        "",
        "[]",
        "{}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"A6EHv_"
        "POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg\"}",
        /* Ed25519 x of the wrong length, and a small-order point */
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"A6EHv_"
        "POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMQ\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
        "\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        /* P-256 with a point off the curve (y + 1) */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"yTU_FF-rnvgOfald3S6rKr9GVlLt21CdngSiCz45U7E\","
        "\"y\":\"iSLIQdfsPA4W6BK1qMkvCMuEkR0oPY2Rofh4Y0tkopI\"}",
    };
    gly_jwt_key k;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (gly_jwk_parse(&k, bad[i], strlen(bad[i])) != GLY_EINVAL) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_true(sodium_is_zero((const unsigned char *)&k, sizeof k));
    }
    /* ec_jwk with one member changed: use, alg, key_ops, a private d, a kid too long or empty */
    const char *edits[][2] = {
        {"\"use\":\"sig\"", "\"use\":\"enc\""},
        {"\"use\":\"sig\"", "\"alg\":\"ES384\""},
        {"\"use\":\"sig\"", "\"alg\":\"RS256\""},
        {"\"use\":\"sig\"", "\"key_ops\":[\"sign\"]"},
        {"\"use\":\"sig\"", "\"d\":\"AAAA\""},
        {"\"kid\":\"es-1\"",
         "\"kid\":\"0123456789012345678901234567890123456789012345678901234567890123x\""},
        {"\"kid\":\"es-1\"", "\"kid\":\"\""},
        {"\"kid\":\"es-1\"", "\"kid\":\"es 1\""},
        {"\"kid\":\"es-1\"", "\"kid\":7"},
        {"\"crv\":\"P-256\"", "\"crv\":\"P-384\""},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char json[1024];
        const char *at = strstr(ec_jwk, edits[i][0]);
        assert_non_null(at);
        snprintf(json, sizeof json, "%.*s%s%s", (int)(at - ec_jwk), ec_jwk, edits[i][1],
                 at + strlen(edits[i][0]));
        if (gly_jwk_parse(&k, json, strlen(json)) != GLY_EINVAL) {
            fail_msg("accepted: %s", json);
        }
    }
    /* the same with an acceptable change: alg ES256, key_ops verify */
    char json[1024];
    const char *at = strstr(ec_jwk, "\"use\":\"sig\"");
    snprintf(json, sizeof json, "%.*s\"alg\":\"ES256\",\"key_ops\":[\"verify\"]%s",
             (int)(at - ec_jwk), ec_jwk, at + strlen("\"use\":\"sig\""));
    jwk_key(&k, json);
    gly_jwt_key_wipe(&k);
}

static void jwk_without_a_kid_gets_its_thumbprint(void **state)
{
    (void)state;
    char json[1024];
    const char *at = strstr(ec_jwk, ",\"kid\":\"es-1\"");
    assert_non_null(at);
    snprintf(json, sizeof json, "%.*s%s", (int)(at - ec_jwk), ec_jwk, at + 13);
    gly_jwt_key k;
    jwk_key(&k, json);
    assert_string_equal(k.kid, EC_THUMB_KID);
    gly_jwt_key_wipe(&k);
    pem_key(&k, rsa_pem, NULL);
    assert_string_equal(k.kid, RSA_THUMB_KID);
    gly_jwt_key_wipe(&k);
}

static void jwks_parse_keeps_the_keys_it_can_use_in_order(void **state)
{
    (void)state;
    char json[8192];
    snprintf(json, sizeof json,
             "{\"keys\":[%s,{\"kty\":\"EC\",\"use\":\"enc\",\"crv\":\"P-256\",\"x\":\"AA\"},%s,%s,"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
             "\"x\":\"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg\"},\"junk\",7]}",
             rsa_jwk, rsa1024_jwk, ec_jwk);
    gly_jwt_key ks[4];
    size_t n = 99;
    assert_int_equal(gly_jwks_parse(json, strlen(json), ks, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ks[0].alg, GLY_JWT_RS256);
    assert_int_equal(ks[1].alg, GLY_JWT_ES256);
    assert_int_equal(ks[2].alg, GLY_JWT_EDDSA);
    assert_string_equal(ks[2].kid, "ed");
    assert_memory_equal(ks[2].pk, keys[1].pk, 32);
    gly_jwt_claims c;
    const char *why;
    assert_int_equal(verify_keys(ks, n, es256_py, strlen(es256_py), &c, &why), 0);
    assert_int_equal(verify_keys(ks, n, rs256_py, strlen(rs256_py), &c, &why), 0);
    for (size_t i = 0; i < n; i++) {
        gly_jwt_key_wipe(&ks[i]);
    }
    /* at most cap keys */
    assert_int_equal(gly_jwks_parse(json, strlen(json), ks, 1, &n), 0);
    assert_int_equal(n, 1);
    gly_jwt_key_wipe(&ks[0]);
    /* an empty set is a set; other texts are not */
    assert_int_equal(gly_jwks_parse("{\"keys\":[]}", 11, ks, 4, &n), 0);
    assert_int_equal(n, 0);
    const char *bad[] = {"", "{}", "{\"keys\":{}}", "[]", "{\"keys\":[]", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 99;
        assert_int_equal(gly_jwks_parse(bad[i], strlen(bad[i]), ks, 4, &n), GLY_EINVAL);
        assert_int_equal(n, 0);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(b64url_encodes_the_rfc4648_vectors_without_padding),
        T(b64url_uses_the_url_safe_alphabet),
        T(b64url_round_trips_every_length_up_to_100),
        T(b64url_decode_rejects_padding),
        T(b64url_decode_rejects_characters_outside_the_alphabet),
        T(b64url_decode_rejects_a_length_of_one_more_than_a_multiple_of_four),
        T(b64url_decode_rejects_non_zero_unused_bits),
        T(b64url_decode_refuses_an_output_too_small),
        T(key_hs256_takes_32_to_64_bytes_of_secret),
        T(key_kid_is_derived_from_the_key_material),
        T(key_refuses_an_empty_long_or_unprintable_kid),
        T(key_eddsa_without_a_seed_is_random),
        T(key_eddsa_public_refuses_small_order_points),
        T(key_wipe_zeroes_every_byte_and_accepts_null),
        T(sign_hs256_makes_the_token_pyjwt_accepted),
        T(sign_eddsa_makes_the_token_pyjwt_accepted),
        T(sign_appends_to_what_the_buffer_holds),
        T(sign_writes_only_the_claims_that_are_set),
        T(sign_refuses_claims_without_sub_or_exp),
        T(sign_refuses_claims_that_are_not_utf8),
        T(sign_refuses_a_check_only_key),
        T(sign_refuses_a_token_longer_than_the_limit),
        T(hs256_round_trip_returns_every_claim),
        T(eddsa_round_trip_returns_every_claim),
        T(eddsa_token_verifies_with_the_public_key_alone),
        T(pyjwt_hs256_token_verifies),
        T(pyjwt_eddsa_token_verifies),
        T(pyjwt_token_signed_with_another_secret_is_refused),
        T(pyjwt_audience_array_is_accepted_when_it_holds_ours),
        T(pyjwt_expired_token_is_refused),
        T(pyjwt_alg_none_token_is_refused),
        T(pyjwt_hs384_token_is_refused),
        T(hs256_keyed_with_the_eddsa_public_key_is_refused),
        T(eddsa_token_naming_an_hs256_key_is_refused),
        T(rfc7515_a1_example_is_refused_for_its_missing_kid),
        T(alg_none_is_refused_in_any_spelling),
        T(other_algorithms_are_refused),
        T(forbidden_header_members_are_refused),
        T(typ_other_than_jwt_is_refused_and_may_be_absent),
        T(kid_is_required_and_must_name_a_key),
        T(a_key_filled_by_hand_without_a_secret_is_never_used),
        T(duplicate_header_members_are_refused),
        T(header_must_be_a_json_object),
        T(token_must_have_exactly_three_parts),
        T(token_longer_than_the_limit_is_refused_unread),
        T(stripped_truncated_or_padded_signature_is_refused),
        T(any_altered_byte_breaks_the_signature),
        T(the_signature_covers_the_header_as_sent),
        T(payload_is_read_only_after_the_signature_holds),
        T(sub_is_required_as_a_non_empty_string),
        T(exp_is_required_as_an_integer),
        T(other_claims_must_have_their_types),
        T(expired_and_not_yet_valid_tokens_are_refused_at_the_edge),
        T(time_checks_do_not_wrap_around_int64),
        T(wrong_or_missing_issuer_is_refused),
        T(wrong_or_missing_audience_is_refused),
        T(verify_reports_out_of_memory_from_the_arena),
        T(verify_refuses_null_arguments),
        T(key_pem_makes_es256_rs256_and_eddsa_keys),
        T(key_pem_refuses_other_curves_small_rsa_and_garbage),
        T(key_generate_makes_distinct_es256_keys_that_round_trip_through_pem),
        T(pyjwt_es256_token_verifies_with_the_pem_and_the_jwk),
        T(pyjwt_rs256_token_verifies_with_the_pem_and_the_jwk),
        T(es256_and_rs256_round_trip_through_sign_and_a_written_jwk),
        T(hs256_keyed_with_the_es256_public_key_is_refused),
        T(es256_signature_of_the_wrong_length_or_in_der_is_refused),
        T(rs256_signature_must_be_as_long_as_the_modulus),
        T(jwk_parse_refuses_what_is_not_a_signing_key_we_know),
        T(jwk_without_a_kid_gets_its_thumbprint),
        T(jwks_parse_keeps_the_keys_it_can_use_in_order),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
