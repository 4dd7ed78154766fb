/*
 * src/auth/mfa.c - multi-factor authentication: TOTP (RFC 6238) with
 * single-use recovery codes, and the second step of a login.
 *
 *   setup   POST /api/v1/auth/mfa/totp/setup   a new secret, pending (enabled = 0)
 *   verify  POST /api/v1/auth/mfa/totp/verify  a current code turns MFA on; 10 recovery codes
 *   login   POST /api/v1/auth/login            password right, MFA on: a ticket, no tokens
 *           POST /api/v1/auth/login/mfa        ticket + TOTP or recovery code: the tokens
 *   disable POST /api/v1/auth/mfa/disable      a current code turns MFA off
 *
 * TOTP: HMAC-SHA-1 (OpenSSL libcrypto: libsodium has no SHA-1) over the
 * 30-second time step, 6 digits, the steps before and after accepted for
 * clock drift. The last accepted step is stored per user and a code of a
 * step not after it is refused, so a code works once (a replay is audited).
 *
 * The secret must be readable to check codes: it is stored as hex in
 * auth_mfa_totp, not encrypted (anyone who reads the database can make
 * codes). Recovery codes (50 random bits each) and tickets (256 bits) are
 * stored as SHA-256. Codes and secrets are never logged.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/internal.h"

#define SECRET_BYTES   20 /* RFC 4226 recommends 160 bits */
#define STEP_S         30
#define DIGITS         6
#define TICKET_TTL_S   300
#define TICKET_TRIES   5 /* failed codes that end a ticket */
#define RECOVERY_CODES 10
#define RECOVERY_LEN   10 /* characters of a 32-letter alphabet: 50 bits */
#define CODE_TRIES     5  /* failed codes on verify/disable within CODE_WINDOW_S: 429 */
#define CODE_WINDOW_S  900
#define QUIET          4 /* modules of white around the QR code */
#define ISSUER         "Galley"

static const gly_migration migrations[] = {
    {1, "TOTP secrets, recovery codes, MFA tickets",
     "CREATE TABLE auth_mfa_totp ("
     " user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
     " secret TEXT NOT NULL,"
     " enabled INTEGER NOT NULL DEFAULT 0,"
     " last_step BIGINT NOT NULL DEFAULT 0,"
     " failures INTEGER NOT NULL DEFAULT 0,"
     " fail_start BIGINT NOT NULL DEFAULT 0,"
     " created TEXT NOT NULL,"
     " updated TEXT NOT NULL);"
     "CREATE TABLE auth_mfa_recovery ("
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " code_hash TEXT NOT NULL,"
     " PRIMARY KEY (user_id, code_hash));"
     "CREATE TABLE auth_mfa_tickets ("
     " ticket_hash TEXT PRIMARY KEY,"
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " expires BIGINT NOT NULL,"
     " failures INTEGER NOT NULL DEFAULT 0,"
     " used INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX auth_mfa_tickets_expires ON auth_mfa_tickets (expires);"
     "CREATE INDEX auth_mfa_tickets_user ON auth_mfa_tickets (user_id);",
     NULL, NULL},
};

static const gly_field ticket_fields[] = {
    GLY_FIELD_STR("mfa_ticket", .required = true, .max_len = 256),
    GLY_FIELD_STR("code", .required = true, .max_len = 64),
    GLY_FIELD_END,
};
static const gly_schema ticket_schema = {.fields = ticket_fields};

static const gly_field code_fields[] = {
    GLY_FIELD_STR("code", .required = true, .max_len = 64),
    GLY_FIELD_END,
};
static const gly_schema code_schema = {.fields = code_fields};

static const gly_field setup_fields[] = {
    GLY_FIELD_STR("secret", .description = "base32 (RFC 4648, no padding)"),
    GLY_FIELD_STR("otpauth_uri"),
    GLY_FIELD_STR("qr_svg", .description = "the URI as a QR code, an SVG document"),
    GLY_FIELD_END,
};
static const gly_schema setup_schema = {.fields = setup_fields};

static const gly_field recovery_fields[] = {
    GLY_FIELD_ARR("recovery_codes", .items = &(const gly_field)GLY_FIELD_STR(NULL)),
    GLY_FIELD_END,
};
static const gly_schema recovery_schema = {.fields = recovery_fields};

/* ------------------------------------------------------------------------ */
/* TOTP                                                                     */
/* ------------------------------------------------------------------------ */

/* RFC 4226 HOTP of the counter: HMAC-SHA-1, dynamic truncation, DIGITS digits. */
static int totp_code(const unsigned char *key, size_t keylen, uint64_t step, char out[DIGITS + 1])
{
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    for (int i = 7; i >= 0; i--, step >>= 8)
        msg[i] = (unsigned char)(step & 0xff);
    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof msg, mac, &maclen) || maclen != 20)
        return GLY_EIO;
    unsigned off = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
    snprintf(out, DIGITS + 1, "%06u", (unsigned)(bin % 1000000u));
    sodium_memzero(mac, sizeof mac);
    return 0;
}

/*
 * The time step (now - 1 .. now + 1) whose code is code[0..DIGITS), or 0
 * when none matches. Every step is computed and compared in constant time.
 */
static int64_t totp_match(const char *secret_hex, const char *code)
{
    unsigned char key[SECRET_BYTES];
    size_t keylen = 0;
    if (sodium_hex2bin(key, sizeof key, secret_hex, strlen(secret_hex), NULL, &keylen, NULL) != 0)
        return 0;
    int64_t now = gly__now_s() / STEP_S, found = 0;
    for (int64_t s = now - 1; s <= now + 1; s++) {
        char want[DIGITS + 1];
        if (totp_code(key, keylen, (uint64_t)s, want) == 0 &&
            sodium_memcmp(want, code, DIGITS) == 0)
            found = s;
        sodium_memzero(want, sizeof want);
    }
    sodium_memzero(key, sizeof key);
    return found;
}

/* ------------------------------------------------------------------------ */
/* Codes as typed                                                           */
/* ------------------------------------------------------------------------ */

enum code_kind { CODE_BAD, CODE_TOTP, CODE_RECOVERY };

static const char recovery_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

/*
 * Reads a code as a user types it: spaces and dashes dropped, letters
 * lower-cased. Six digits are a TOTP code, RECOVERY_LEN letters of the
 * alphabet a recovery code (out gets its canonical form).
 */
static enum code_kind read_code(gly_str in, char out[RECOVERY_LEN + 1])
{
    size_t n = 0;
    bool digits = true;
    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == ' ' || c == '-')
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (n == RECOVERY_LEN || !c || !strchr(recovery_alphabet, c))
            return CODE_BAD;
        digits = digits && c >= '0' && c <= '9';
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == DIGITS && digits)
        return CODE_TOTP;
    return n == RECOVERY_LEN ? CODE_RECOVERY : CODE_BAD;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* The request's user, logged in with a session (not an API key), or NULL after answering. */
static const gly_auth_user *session_user(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (me && !me->sid) {
        gly_problem(req, 403, "session-required", "MFA is managed with a login, not an API key.");
        return NULL;
    }
    return me;
}

static int send_json(gly_req *req, int status, gly_buf *b)
{
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send_buf(req, status, "application/json", b);
}

/* RFC 4648 base32 without padding. */
static int base32(gly_buf *b, const unsigned char *p, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            gly_buf_putc(b, alphabet[(acc >> (bits - 5)) & 31]);
            bits -= 5;
        }
    }
    if (bits > 0)
        gly_buf_putc(b, alphabet[(acc << (5 - bits)) & 31]);
    return gly_buf_err(b);
}

/* RFC 3986 percent-encoding of everything but the unreserved characters. */
static void percent(gly_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            gly_buf_putc(b, (char)c);
        else
            gly_buf_printf(b, "%%%02X", c);
    }
}

/* The QR code (level M) of text as an SVG document: one path, a quiet zone of QUIET modules. */
static int qr_svg(gly_buf *b, const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return errno == ENOMEM ? GLY_ENOMEM : GLY_EINVAL;
    int w = qr->width, size = w + 2 * QUIET;
    gly_buf_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                   "height=\"%d\" shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                   "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                   size, size, size * 4, size * 4, size, size);
    for (int y = 0; y < w; y++) {
        for (int x = 0; x < w;) {
            if (!(qr->data[y * w + x] & 1)) {
                x++;
                continue;
            }
            int run = 1;
            while (x + run < w && (qr->data[y * w + x + run] & 1))
                run++;
            gly_buf_printf(b, "M%d %dh%dv1h-%dz", x + QUIET, y + QUIET, run, run);
            x += run;
        }
    }
    gly_buf_puts(b, "\"/></svg>");
    QRcode_free(qr);
    return gly_buf_err(b);
}

/*
 * Failed codes of verify and disable (the user holds a session, not a
 * ticket) are counted per user: after CODE_TRIES within CODE_WINDOW_S, the
 * seconds until the next try is allowed; 0 to go on.
 */
static int64_t code_locked(const gly_row *t)
{
    int64_t left = gly_row_i64(t, "fail_start") + CODE_WINDOW_S - gly__now_s();
    return gly_row_i64(t, "failures") < CODE_TRIES || left <= 0 ? 0 : left;
}

static int too_many(gly_req *req, int64_t retry_after)
{
    gly_set_headerf(req, "Retry-After", "%lld", (long long)retry_after);
    return gly_problem(req, 429, "too-many-attempts", "Too many wrong codes. Try again later.");
}

static void code_failed(gly_req *req, const char *user_id)
{
    int64_t now = gly__now_s();
    gly_db_exec(req,
                "-- name: mfa_code_fail\n"
                "UPDATE auth_mfa_totp SET failures = CASE WHEN fail_start <= $2 THEN 1 ELSE "
                "failures + 1 END, fail_start = CASE WHEN fail_start <= $2 THEN $3 ELSE "
                "fail_start END WHERE user_id = $1",
                GLY_TEXT(user_id), GLY_I64(now - CODE_WINDOW_S), GLY_I64(now));
}

/* ------------------------------------------------------------------------ */
/* Checking a code                                                          */
/* ------------------------------------------------------------------------ */

enum outcome { OK_TOTP, OK_RECOVERY, BAD_TICKET, BAD_CODE, REPLAY };

/*
 * Checks and spends a code of the user whose TOTP row is t: a TOTP code
 * moves last_step forward (refused when its step is not after it), a
 * recovery code is deleted. Runs inside the caller's transaction or alone:
 * each spend is one conditional statement, so two requests cannot both
 * spend the same code.
 */
static int spend_code(gly_req *req, const gly_row *t, gly_str typed, enum outcome *out,
                      int64_t *left)
{
    char code[RECOVERY_LEN + 1];
    const char *user_id = gly_row_str(t, "user_id").p;
    enum code_kind kind = read_code(typed, code);
    *out = BAD_CODE;
    if (kind == CODE_TOTP) {
        int64_t step = totp_match(gly_row_str(t, "secret").p, code);
        sodium_memzero(code, sizeof code);
        if (step == 0)
            return 0;
        if (step <= gly_row_i64(t, "last_step")) {
            *out = REPLAY;
            return 0;
        }
        int64_t n = gly_db_exec(req,
                                "-- name: mfa_step_spend\n"
                                "UPDATE auth_mfa_totp SET last_step = $2, failures = 0 WHERE "
                                "user_id = $1 AND last_step < $2",
                                GLY_TEXT(user_id), GLY_I64(step));
        if (n < 0)
            return (int)n;
        *out = n == 1 ? OK_TOTP : REPLAY;
        return 0;
    }
    if (kind == CODE_RECOVERY) {
        char hash[65];
        gly__sha256_hex(code, RECOVERY_LEN, hash);
        sodium_memzero(code, sizeof code);
        int64_t n =
            gly_db_exec(req,
                        "-- name: mfa_recovery_spend\n"
                        "DELETE FROM auth_mfa_recovery WHERE user_id = $1 AND code_hash = $2",
                        GLY_TEXT(user_id), GLY_TEXT(hash));
        if (n < 0)
            return (int)n;
        if (n == 1) {
            *out = OK_RECOVERY;
            gly_row *r;
            int rc = gly_db_one(req, &r,
                                "SELECT COUNT(*) AS n FROM auth_mfa_recovery WHERE user_id = $1",
                                GLY_TEXT(user_id));
            if (rc < 0)
                return rc;
            if (left)
                *left = gly_row_i64(r, "n");
        }
        return 0;
    }
    sodium_memzero(code, sizeof code);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The login's second step                                                  */
/* ------------------------------------------------------------------------ */

int gly__mfa_login(gly_req *req, const gly_row *user)
{
    const char *user_id = gly_row_str(user, "id").p;
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "-- name: mfa_enabled\n"
                        "SELECT enabled FROM auth_mfa_totp WHERE user_id = $1 AND enabled = 1",
                        GLY_TEXT(user_id));
    if (rc == GLY_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    char ticket[GLY_SECRET_LEN + 1], hash[65];
    if ((rc = gly__new_secret(ticket, hash)) < 0)
        return rc;
    int64_t now = gly__now_s();
    int64_t n =
        gly_db_exec(req, "-- name: mfa_ticket_gc\nDELETE FROM auth_mfa_tickets WHERE expires < $1",
                    GLY_I64(now));
    if (n >= 0)
        n = gly_db_exec(req,
                        "-- name: mfa_ticket_insert\n"
                        "INSERT INTO auth_mfa_tickets (ticket_hash, user_id, expires) VALUES ($1, "
                        "$2, $3)",
                        GLY_TEXT(hash), GLY_TEXT(user_id), GLY_I64(now + TICKET_TTL_S));
    if (n < 0) {
        sodium_memzero(ticket, sizeof ticket);
        return (int)n;
    }
    gly__audit(req, "mfa_challenge", user_id, NULL);
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "mfa_required");
    gly_json_bool(&j, true);
    gly_json_key(&j, "mfa_ticket");
    gly_json_str(&j, ticket);
    gly_json_obj_end(&j);
    sodium_memzero(ticket, sizeof ticket);
    rc = gly_json_finish(&j);
    rc = rc < 0 ? rc : send_json(req, 200, &b);
    return rc < 0 ? rc : 1;
}

struct second {
    const char *hash; /* the ticket's */
    gly_str code;
    enum outcome out;
    int64_t left;        /* recovery codes left */
    const char *user_id; /* out */
    gly_row *user;       /* out: GLY_AUTH_USER_COLS */
};

/*
 * Claims the ticket (so that two requests cannot both use it), then checks
 * and spends the code; a wrong code gives the ticket back with one more
 * failure. Row locks on PostgreSQL, the one writer on SQLite: no races.
 */
static int second_step(gly_req *req, void *arg)
{
    struct second *s = arg;
    s->out = BAD_TICKET;
    s->user_id = NULL;
    gly_row *tk, *t;
    int rc = gly_db_one(req, &tk,
                        "-- name: mfa_ticket_claim\n"
                        "UPDATE auth_mfa_tickets SET used = 1 WHERE ticket_hash = $1 AND used = 0 "
                        "AND expires > $2 AND failures < $3 RETURNING user_id",
                        GLY_TEXT(s->hash), GLY_I64(gly__now_s()), GLY_I64(TICKET_TRIES));
    if (rc == GLY_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    s->user_id = gly_row_str(tk, "user_id").p;
    rc = gly_db_one(req, &s->user,
                    "-- name: mfa_user\n"
                    "SELECT " GLY_AUTH_USER_COLS " FROM users WHERE id = $1 AND disabled = 0",
                    GLY_TEXT(s->user_id));
    if (rc == 0)
        rc = gly_db_one(req, &t,
                        "-- name: mfa_totp\n"
                        "SELECT user_id, secret, last_step FROM auth_mfa_totp WHERE user_id = $1 "
                        "AND enabled = 1",
                        GLY_TEXT(s->user_id));
    if (rc == GLY_ENOTFOUND)
        return 0; /* disabled, or MFA turned off since: the ticket stays spent */
    if (rc < 0)
        return rc;
    if ((rc = spend_code(req, t, s->code, &s->out, &s->left)) < 0)
        return rc;
    if (s->out == OK_TOTP || s->out == OK_RECOVERY)
        return 0;
    int64_t n = gly_db_exec(req,
                            "-- name: mfa_ticket_fail\n"
                            "UPDATE auth_mfa_tickets SET used = 0, failures = failures + 1 WHERE "
                            "ticket_hash = $1",
                            GLY_TEXT(s->hash));
    return n < 0 ? (int)n : 0;
}

/* POST /api/v1/auth/login/mfa {mfa_ticket, code} */
static int do_login_mfa(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &ticket_schema);
    if (!body)
        return 0;
    gly_str ticket = gly__member(body, "mfa_ticket");
    char hash[65];
    gly__sha256_hex(ticket.p, ticket.n, hash);
    struct second s = {.hash = hash, .code = gly__member(body, "code")};
    int rc = gly_db_tx(req, second_step, &s);
    if (rc < 0)
        return rc;
    switch (s.out) {
    case BAD_TICKET:
        gly__audit(req, "mfa_failure", s.user_id, "bad ticket");
        return gly__unauthorized(req, "invalid-ticket",
                                 "The MFA ticket is not valid or has expired: log in again.");
    case REPLAY:
        gly__audit(req, "mfa_replay", s.user_id, "login");
        gly_log_warn("a TOTP code of user %s was presented again and refused", s.user_id);
        return gly__unauthorized(req, "invalid-code", "The code is not valid.");
    case BAD_CODE:
        gly__audit(req, "mfa_failure", s.user_id, "login");
        return gly__unauthorized(req, "invalid-code", "The code is not valid.");
    case OK_RECOVERY: {
        char detail[32];
        snprintf(detail, sizeof detail, "%lld left", (long long)s.left);
        gly__audit(req, "mfa_recovery_used", s.user_id, detail);
    } /* fall through */
    case OK_TOTP:
        break;
    }
    gly__audit(req, "login_success", s.user_id, "mfa");
    gly__throttle_ok(req, gly_row_str(s.user, "email").p); /* the login's count (auth.c) */
    return gly__open_session(req, s.user);
}

/* ------------------------------------------------------------------------ */
/* Enrolment                                                                */
/* ------------------------------------------------------------------------ */

/* POST /api/v1/auth/mfa/totp/setup -> {secret, otpauth_uri, qr_svg}; 409 when MFA is on */
static int do_setup(gly_req *req)
{
    const gly_auth_user *me = session_user(req);
    if (!me)
        return 0;
    struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    const char *email = gly_row_str(ctx->row, "email").p;
    unsigned char raw[SECRET_BYTES];
    char hex[2 * SECRET_BYTES + 1], now[25];
    gly_arena *a = gly_req_arena(req);
    gly_buf secret, uri, svg, b;
    gly_buf_init(&secret, NULL, 0, a, 0);
    gly_buf_init(&uri, NULL, 0, a, 0);
    gly_buf_init(&svg, NULL, 0, a, 0);
    gly_buf_init(&b, NULL, 0, a, 0);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    gly__iso_now(now);
    /* a pending secret is replaced; an enabled one stays (no row changes) */
    int64_t n = gly_db_exec(req,
                            "-- name: mfa_setup\n"
                            "INSERT INTO auth_mfa_totp (user_id, secret, created, updated) VALUES "
                            "($1, $2, $3, $3) ON CONFLICT (user_id) DO UPDATE SET secret = "
                            "excluded.secret, last_step = 0, updated = excluded.updated WHERE "
                            "auth_mfa_totp.enabled = 0",
                            GLY_TEXT(me->id), GLY_TEXT(hex), GLY_TEXT(now));
    sodium_memzero(hex, sizeof hex);
    int rc = 0;
    if (n < 0) {
        rc = (int)n;
        goto done;
    }
    if (n == 0) {
        rc = gly_problem(req, 409, "mfa-enabled", "MFA is already on: disable it first.");
        goto done;
    }
    base32(&secret, raw, sizeof raw);
    gly_buf_puts(&uri, "otpauth://totp/");
    percent(&uri, ISSUER);
    gly_buf_putc(&uri, ':');
    percent(&uri, email);
    gly_buf_puts(&uri, "?secret=");
    gly_buf_append_str(&uri, gly_buf_str(&secret));
    gly_buf_puts(&uri, "&issuer=");
    percent(&uri, ISSUER);
    gly_buf_puts(&uri, "&algorithm=SHA1&digits=6&period=30");
    const char *u = gly_buf_cstr(&uri);
    if (!u || (rc = gly_buf_err(&secret)) < 0 || (rc = qr_svg(&svg, u)) < 0) {
        rc = rc < 0 ? rc : GLY_ENOMEM;
        goto done;
    }
    gly_json j;
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "secret");
    gly_json_strn(&j, secret.p, secret.len);
    gly_json_key(&j, "otpauth_uri");
    gly_json_str(&j, u);
    gly_json_key(&j, "qr_svg");
    gly_json_strn(&j, svg.p, svg.len);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) < 0)
        goto done;
    gly__audit(req, "mfa_setup", me->id, NULL);
    rc = send_json(req, 200, &b);
done:
    /* the answer itself lives in the arena until it is sent */
    if (secret.p)
        sodium_memzero(secret.p, secret.len);
    if (uri.p)
        sodium_memzero(uri.p, uri.len);
    sodium_memzero(raw, sizeof raw);
    return rc;
}

struct enable {
    const char *user_id;
    gly_str code;
    char (*hashes)[65]; /* RECOVERY_CODES */
    enum outcome out;
    int state;           /* 0: checked; 1: no pending set-up; 2: already on; 3: locked */
    int64_t retry_after; /* state 3 */
};

static int enable_tx(gly_req *req, void *arg)
{
    struct enable *e = arg;
    e->out = BAD_CODE;
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "SELECT user_id, secret, enabled, last_step, failures, fail_start FROM "
                        "auth_mfa_totp WHERE user_id = $1",
                        GLY_TEXT(e->user_id));
    if (rc == GLY_ENOTFOUND) {
        e->state = 1;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (gly_row_bool(t, "enabled")) {
        e->state = 2;
        return 0;
    }
    if ((e->retry_after = code_locked(t)) > 0) {
        e->state = 3;
        return 0;
    }
    e->state = 0;
    char canon[RECOVERY_LEN + 1];
    if (read_code(e->code, canon) != CODE_TOTP) {
        sodium_memzero(canon, sizeof canon);
        return 0; /* only a TOTP code proves the authenticator works */
    }
    sodium_memzero(canon, sizeof canon);
    if ((rc = spend_code(req, t, e->code, &e->out, NULL)) < 0 || e->out != OK_TOTP)
        return rc;
    int64_t n =
        gly_db_exec(req, "UPDATE auth_mfa_totp SET enabled = 1, failures = 0 WHERE user_id = $1",
                    GLY_TEXT(e->user_id));
    if (n >= 0)
        n = gly_db_exec(req, "DELETE FROM auth_mfa_recovery WHERE user_id = $1",
                        GLY_TEXT(e->user_id));
    for (int i = 0; i < RECOVERY_CODES && n >= 0; i++)
        n = gly_db_exec(req,
                        "-- name: mfa_recovery_insert\n"
                        "INSERT INTO auth_mfa_recovery (user_id, code_hash) VALUES ($1, $2)",
                        GLY_TEXT(e->user_id), GLY_TEXT(e->hashes[i]));
    return n < 0 ? (int)n : 0;
}

/* POST /api/v1/auth/mfa/totp/verify {code} -> {recovery_codes}: MFA is on */
static int do_verify(gly_req *req)
{
    const gly_auth_user *me = session_user(req);
    if (!me)
        return 0;
    gly_jv *body = gly_req_valid_json(req, &code_schema);
    if (!body)
        return 0;
    /* made before the transaction, which may run again */
    char codes[RECOVERY_CODES][RECOVERY_LEN + 1], hashes[RECOVERY_CODES][65];
    for (int i = 0; i < RECOVERY_CODES; i++) {
        for (int k = 0; k < RECOVERY_LEN; k++)
            codes[i][k] = recovery_alphabet[randombytes_uniform(32)];
        codes[i][RECOVERY_LEN] = '\0';
        gly__sha256_hex(codes[i], RECOVERY_LEN, hashes[i]);
    }
    struct enable e = {.user_id = me->id, .code = gly__member(body, "code"), .hashes = hashes};
    int rc = gly_db_tx(req, enable_tx, &e);
    if (rc < 0)
        goto done;
    if (e.state == 1) {
        rc = gly_problem(req, 409, "mfa-not-set-up", "Set up TOTP first (mfa/totp/setup).");
        goto done;
    }
    if (e.state == 2) {
        rc = gly_problem(req, 409, "mfa-enabled", "MFA is already on.");
        goto done;
    }
    if (e.state == 3) {
        rc = too_many(req, e.retry_after);
        goto done;
    }
    if (e.out != OK_TOTP) {
        code_failed(req, me->id);
        if (e.out == REPLAY) {
            gly__audit(req, "mfa_replay", me->id, "verify");
            gly_log_warn("a TOTP code of user %s was presented again and refused", me->id);
        } else {
            gly__audit(req, "mfa_failure", me->id, "verify");
        }
        rc = gly__field_problem(req, 422, "code", "invalid", "is not a current code");
        goto done;
    }
    gly__audit(req, "mfa_enabled", me->id, NULL);
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "recovery_codes");
    gly_json_arr_begin(&j);
    for (int i = 0; i < RECOVERY_CODES; i++) {
        char shown[RECOVERY_LEN + 2];
        /* shown as two halves of five characters joined by a dash; read with or without it */
        snprintf(shown, sizeof shown, "%.5s-%s", codes[i], codes[i] + 5);
        gly_json_str(&j, shown);
        sodium_memzero(shown, sizeof shown);
    }
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) == 0)
        rc = send_json(req, 200, &b);
done:
    sodium_memzero(codes, sizeof codes);
    return rc;
}

struct disable {
    const char *user_id;
    gly_str code;
    enum outcome out;
    int64_t left;
    int state; /* 0: checked; 1: MFA is off; 3: locked */
    int64_t retry_after;
};

static int disable_tx(gly_req *req, void *arg)
{
    struct disable *d = arg;
    d->out = BAD_CODE;
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "SELECT user_id, secret, last_step, failures, fail_start FROM "
                        "auth_mfa_totp WHERE user_id = $1 AND enabled = 1",
                        GLY_TEXT(d->user_id));
    if (rc == GLY_ENOTFOUND) {
        d->state = 1;
        return 0;
    }
    if (rc < 0)
        return rc;
    if ((d->retry_after = code_locked(t)) > 0) {
        d->state = 3;
        return 0;
    }
    d->state = 0;
    if ((rc = spend_code(req, t, d->code, &d->out, &d->left)) < 0)
        return rc;
    if (d->out != OK_TOTP && d->out != OK_RECOVERY)
        return 0;
    int64_t n =
        gly_db_exec(req, "DELETE FROM auth_mfa_totp WHERE user_id = $1", GLY_TEXT(d->user_id));
    if (n >= 0)
        n = gly_db_exec(req, "DELETE FROM auth_mfa_recovery WHERE user_id = $1",
                        GLY_TEXT(d->user_id));
    if (n >= 0)
        n = gly_db_exec(req, "DELETE FROM auth_mfa_tickets WHERE user_id = $1",
                        GLY_TEXT(d->user_id));
    return n < 0 ? (int)n : 0;
}

/* POST /api/v1/auth/mfa/disable {code}: a current TOTP or a recovery code turns MFA off */
static int do_disable(gly_req *req)
{
    const gly_auth_user *me = session_user(req);
    if (!me)
        return 0;
    gly_jv *body = gly_req_valid_json(req, &code_schema);
    if (!body)
        return 0;
    struct disable d = {.user_id = me->id, .code = gly__member(body, "code")};
    int rc = gly_db_tx(req, disable_tx, &d);
    if (rc < 0)
        return rc;
    if (d.state == 1)
        return gly_problem(req, 409, "mfa-not-enabled", "MFA is not on.");
    if (d.state == 3)
        return too_many(req, d.retry_after);
    if (d.out == REPLAY || d.out == BAD_CODE) {
        code_failed(req, me->id);
        if (d.out == REPLAY) {
            gly__audit(req, "mfa_replay", me->id, "disable");
            gly_log_warn("a TOTP code of user %s was presented again and refused", me->id);
        } else {
            gly__audit(req, "mfa_failure", me->id, "disable");
        }
        return gly__field_problem(req, 422, "code", "invalid", "is not a current code");
    }
    gly__audit(req, "mfa_disabled", me->id, d.out == OK_RECOVERY ? "recovery code" : NULL);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

int gly__mfa_init(gly_app *app)
{
    int rc = gly_db_add_migrations(gly_app_db(app), "auth_mfa", migrations,
                                   sizeof migrations / sizeof migrations[0]);
    if (rc < 0)
        return rc;
    static const char *const tags[] = {"auth", NULL};
    gly_post(app, "/api/v1/auth/login/mfa", do_login_mfa);
    gly_route_doc(app, "POST", "/api/v1/auth/login/mfa",
                  &(gly_doc){.summary = "Log in, second step: the MFA ticket and a code",
                             .description = "`code` is a current TOTP code or a recovery code. "
                                            "The answer is the login's: the tokens.",
                             .tags = tags,
                             .operation_id = "loginMfa",
                             .request = &ticket_schema});
    gly_post(app, "/api/v1/auth/mfa/totp/setup", do_setup);
    gly_route_doc(app, "POST", "/api/v1/auth/mfa/totp/setup",
                  &(gly_doc){.summary = "Start TOTP enrolment: a new secret and its QR code",
                             .tags = tags,
                             .operation_id = "mfaTotpSetup",
                             .response = &setup_schema});
    gly_post(app, "/api/v1/auth/mfa/totp/verify", do_verify);
    gly_route_doc(app, "POST", "/api/v1/auth/mfa/totp/verify",
                  &(gly_doc){.summary = "Turn MFA on with a current code: the recovery codes",
                             .tags = tags,
                             .operation_id = "mfaTotpVerify",
                             .request = &code_schema,
                             .response = &recovery_schema});
    gly_post(app, "/api/v1/auth/mfa/disable", do_disable);
    gly_route_doc(app, "POST", "/api/v1/auth/mfa/disable",
                  &(gly_doc){.summary = "Turn MFA off with a current TOTP or recovery code",
                             .tags = tags,
                             .operation_id = "mfaDisable",
                             .request = &code_schema,
                             .status = 204});
    return 0;
}
