/*
 * src/auth/mail.c - the flows that go through a user's mailbox: email
 * verification, password reset, email change, and account deletion; and the
 * outbox that delivers their emails.
 *
 * A token is 32 random bytes in base64url, mailed to the user as a link and
 * as text; only its SHA-256 is stored (auth_tokens), with its kind, its
 * user, the address it was mailed to, its expiry, and whether it was spent.
 * Spending is one conditional UPDATE, so a token works once. A verification
 * or reset token works only while the account still has the address it was
 * mailed to: an email change voids them.
 *
 * Every email is a row of auth_outbox first, then delivered from the request
 * that made it, after that request's answer went out: the handler answers,
 * then hands the message to the thread pool (gly_req_offload), which writes
 * it to the SMTP server with libcurl (GALLEY_SMTP_URL) or, without one (in
 * development), to DATA/mail/<id>.eml; the row is then marked sent, or keeps
 * its error and a time for the next attempt. Each request that sends mail
 * also retries a few rows that are due, so the outbox drains as long as
 * mail is being sent at all. A sent row's body (which holds the token) is
 * emptied.
 *
 * The answer of a reset request is the same, and is sent after the same
 * work (one lookup), whether or not the email has an account: the token and
 * the email are made only afterwards.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/internal.h"

#define TOKEN_LEN    GLY_SECRET_LEN
#define VERIFY_TTL_S (24 * 3600)
#define RESET_TTL_S  3600
#define CHANGE_TTL_S (24 * 3600)
/* at most this many tokens of a kind per user and hour; past it no email is sent */
#define MAX_PER_HOUR 5
/* a row being delivered is not retried by another request for this long */
#define LEASE_S      120
#define MAX_ATTEMPTS 8
#define RETRY_BATCH  10
#define SMTP_TIMEOUT 10L

static const gly_migration migrations[] = {
    {1, "outbox and email tokens",
     "CREATE TABLE auth_outbox ("
     " id TEXT PRIMARY KEY,"
     " created TEXT NOT NULL,"
     " to_addr TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt BIGINT NOT NULL,"
     " sent TEXT,"
     " last_error TEXT);"
     "CREATE INDEX auth_outbox_due ON auth_outbox (next_attempt);"
     "CREATE TABLE auth_tokens ("
     " token_hash TEXT PRIMARY KEY,"
     " kind TEXT NOT NULL CHECK (kind IN ('verify', 'reset', 'email_change')),"
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " new_email TEXT,"
     " expires BIGINT NOT NULL,"
     " used INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX auth_tokens_user ON auth_tokens (user_id, kind);",
     NULL, NULL},
};

/* The settings smtp-url, mail-from, public-url, read at init (one set per process). */
static struct {
    char smtp_url[1024]; /* "": development, files in DATA/mail (a secret: never logged) */
    char from[256];      /* the From field */
    char from_addr[256]; /* its address, for MAIL FROM */
    char public_url[512];
    char mail_dir[300];
} conf;

static uv_once_t curl_once = UV_ONCE_INIT;
static CURLcode curl_init_rc;

static const gly_field token_fields[] = {
    GLY_FIELD_STR("token", .required = true, .max_len = 64),
    GLY_FIELD_END,
};
static const gly_schema token_schema = {.fields = token_fields};

static const gly_field reset_request_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
    GLY_FIELD_END,
};
static const gly_schema reset_request_schema = {.fields = reset_request_fields};

static const gly_field reset_fields[] = {
    GLY_FIELD_STR("token", .required = true, .max_len = 64),
    GLY_FIELD_STR("new_password", .required = true, .max_len = 1024),
    GLY_FIELD_END,
};
static const gly_schema reset_schema = {.fields = reset_fields};

static const gly_field change_fields[] = {
    GLY_FIELD_STR("new_email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
    GLY_FIELD_STR("password", .required = true, .max_len = 1024),
    GLY_FIELD_END,
};
static const gly_schema change_schema = {.fields = change_fields};

static const gly_field delete_fields[] = {
    GLY_FIELD_STR("password", .required = true, .max_len = 1024),
    GLY_FIELD_END,
};
static const gly_schema delete_schema = {.fields = delete_fields};

static const gly_field accepted_fields[] = {
    GLY_FIELD_STR("message"),
    GLY_FIELD_END,
};
static const gly_schema accepted_schema = {.fields = accepted_fields};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* True when s may stand in a header field: no CR, LF or other control character. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int accepted(gly_req *req, const char *message)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "message");
    gly_json_str(&j, message);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, 202, "application/json", &b);
}

static int invalid_token(gly_req *req)
{
    return gly_problem(req, 400, "invalid-token", "The link is not valid: it was used or expired.");
}

/* ------------------------------------------------------------------------ */
/* Tokens and the outbox                                                    */
/* ------------------------------------------------------------------------ */

/* A message to queue; id is set by queue_mail. */
struct mail {
    const char *to, *subject, *body;
    char id[16];
};

static int queue_mail(gly_req *req, struct mail *m)
{
    if (!header_safe(m->to) || !header_safe(m->subject))
        return GLY_EINVAL;
    char created[25];
    gly__new_id(m->id);
    gly__iso_now(created);
    /* leased: the request delivers it itself, a retry pass leaves it alone meanwhile */
    int64_t n =
        gly_db_exec(req,
                    "-- name: outbox_insert\n"
                    "INSERT INTO auth_outbox (id, created, to_addr, subject, body, "
                    "next_attempt) VALUES ($1, $2, $3, $4, $5, $6)",
                    GLY_TEXT(m->id), GLY_TEXT(created), GLY_TEXT(m->to), GLY_TEXT(m->subject),
                    GLY_TEXT(m->body), GLY_I64(gly__now_s() + LEASE_S));
    return n < 0 ? (int)n : 0;
}

/*
 * Makes a token of kind for the user, mailed to addr, and queues its email
 * (subject; body made by fill from the link and the token). At most
 * MAX_PER_HOUR per user and kind: past that returns 1 and queues nothing.
 */
struct issue {
    const char *kind, *user_id, *addr, *subject, *path;
    int64_t ttl;
    void (*fill)(gly_buf *b, const char *link, const char *token, const struct issue *is);
    struct mail mail; /* out */
};

static int issue_tx(gly_req *req, void *arg)
{
    struct issue *is = arg;
    int64_t now = gly__now_s();
    gly_row *c;
    int rc = gly_db_one(req, &c,
                        "-- name: mail_token_count\n"
                        "SELECT count(*) AS n FROM auth_tokens WHERE user_id = $1 AND kind = $2 "
                        "AND expires > $3",
                        GLY_TEXT(is->user_id), GLY_TEXT(is->kind), GLY_I64(now + is->ttl - 3600));
    if (rc < 0)
        return rc;
    if (gly_row_i64(c, "n") >= MAX_PER_HOUR)
        return 1;
    char token[TOKEN_LEN + 1], hash[65];
    if ((rc = gly__new_secret(token, hash)) < 0)
        return rc;
    int64_t n = gly_db_exec(req,
                            "-- name: mail_token_insert\n"
                            "INSERT INTO auth_tokens (token_hash, kind, user_id, new_email, "
                            "expires) VALUES ($1, $2, $3, $4, $5)",
                            GLY_TEXT(hash), GLY_TEXT(is->kind), GLY_TEXT(is->user_id),
                            GLY_TEXT(is->addr), GLY_I64(now + is->ttl));
    if (n < 0) {
        sodium_memzero(token, sizeof token);
        return (int)n;
    }
    gly_buf link, body;
    gly_buf_init(&link, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&link, "%s%s?token=%s", conf.public_url, is->path, token);
    gly_buf_init(&body, NULL, 0, gly_req_arena(req), 0);
    is->fill(&body, gly_buf_cstr(&link), token, is);
    sodium_memzero(token, sizeof token);
    is->mail.to = is->addr;
    is->mail.subject = is->subject;
    is->mail.body = gly_buf_cstr(&body);
    if (link.err || body.err || !is->mail.body)
        return GLY_ENOMEM;
    return queue_mail(req, &is->mail);
}

static int issue(gly_req *req, struct issue *is)
{
    return gly_db_tx(req, issue_tx, is);
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                 */
/* ------------------------------------------------------------------------ */

struct job {
    const char *id, *to;
    const char *msg; /* the whole message, CRLF lines */
    size_t len, off;
    char err[160]; /* out: "" when delivered */
};

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t read_msg(char *buf, size_t size, size_t nitems, void *arg)
{
    struct job *jb = arg;
    size_t room = size * nitems, left = jb->len - jb->off;
    size_t n = left < room ? left : room;
    memcpy(buf, jb->msg + jb->off, n);
    jb->off += n;
    return n;
}

/* On the thread pool: one message to the SMTP server. */
static void smtp_send(struct job *jb)
{
    if (curl_init_rc != CURLE_OK) {
        snprintf(jb->err, sizeof jb->err, "libcurl: %s", curl_easy_strerror(curl_init_rc));
        return;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(jb->err, sizeof jb->err, "libcurl: out of memory");
        return;
    }
    char from[260], rcpt[260];
    snprintf(from, sizeof from, "<%s>", conf.from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", jb->to);
    struct curl_slist *to = curl_slist_append(NULL, rcpt);
    CURLcode rc = to ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK) {
        curl_easy_setopt(c, CURLOPT_URL, conf.smtp_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_msg);
        curl_easy_setopt(c, CURLOPT_READDATA, jb);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)jb->len);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, SMTP_TIMEOUT);
        if (strncmp(conf.smtp_url, "smtp://", 7) == 0)
            curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        jb->off = 0;
        rc = curl_easy_perform(c);
    }
    if (rc != CURLE_OK) {
        /* the text of the code and the SMTP reply code: never the URL (it may hold a password) */
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        snprintf(jb->err, sizeof jb->err, "smtp: %s (reply %ld)", curl_easy_strerror(rc), code);
    }
    curl_slist_free_all(to);
    curl_easy_cleanup(c);
}

/* On the thread pool: the message as DATA/mail/<id>.eml (written whole, then renamed). */
static void file_send(struct job *jb)
{
    char tmp[400], path[400];
    snprintf(path, sizeof path, "%s/%s.eml", conf.mail_dir, jb->id);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", conf.mail_dir, jb->id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(jb->err, sizeof jb->err, "mail/%s.eml: %s", jb->id, strerror(errno));
        return;
    }
    size_t off = 0;
    while (off < jb->len) {
        ssize_t w = write(fd, jb->msg + off, jb->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int err = off == jb->len ? 0 : errno;
    if (close(fd) < 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) < 0)
        err = errno;
    if (err) {
        unlink(tmp);
        snprintf(jb->err, sizeof jb->err, "mail/%s.eml: %s", jb->id, strerror(err));
    }
}

static void deliver_fn(void *arg)
{
    struct job *jb = arg;
    jb->err[0] = '\0';
    if (conf.smtp_url[0])
        smtp_send(jb);
    else
        file_send(jb);
}

/* The RFC 5322 message of an outbox row, in the request's arena; NULL when out of memory. */
static const char *compose(gly_req *req, const char *id, const char *to, const char *subject,
                           const char *body, size_t *len)
{
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *at = strrchr(conf.from_addr, '@');
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&b,
                   "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
                   "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n",
                   conf.from, to, subject, date, id, at ? at + 1 : "localhost");
    /* bare LF becomes CRLF; libcurl dot-stuffs the lines for SMTP */
    for (const char *p = body; *p; p++) {
        if (*p == '\n' && (p == body || p[-1] != '\r'))
            gly_buf_putc(&b, '\r');
        gly_buf_putc(&b, *p);
    }
    const char *msg = gly_buf_cstr(&b);
    if (b.err || !msg)
        return NULL;
    *len = b.len;
    return msg;
}

/* Delivers one outbox row (already leased by the caller) and records the outcome. */
static int deliver(gly_req *req, const char *id, const char *to, const char *subject,
                   const char *body, int64_t attempts)
{
    if (!header_safe(to) || !header_safe(subject))
        return GLY_EINVAL;
    struct job jb = {.id = id, .to = to};
    jb.msg = compose(req, id, to, subject, body, &jb.len);
    if (!jb.msg)
        return GLY_ENOMEM;
    int rc = gly_req_offload(req, deliver_fn, &jb);
    sodium_memzero((void *)jb.msg, jb.len);
    if (rc < 0)
        snprintf(jb.err, sizeof jb.err, "thread pool: %s", gly_err_name(rc));
    int64_t n;
    if (!jb.err[0]) {
        char now[25];
        gly__iso_now(now);
        n = gly_db_exec(req,
                        "-- name: outbox_sent\n"
                        "UPDATE auth_outbox SET sent = $1, attempts = attempts + 1, body = '', "
                        "last_error = NULL WHERE id = $2",
                        GLY_TEXT(now), GLY_TEXT(id));
    } else {
        gly_log_warn("email %s not delivered (attempt %lld): %s", id, (long long)attempts + 1,
                     jb.err);
        int64_t wait = (int64_t)60 << (attempts < 6 ? attempts : 6);
        n = gly_db_exec(req,
                        "-- name: outbox_failed\n"
                        "UPDATE auth_outbox SET attempts = attempts + 1, last_error = $1, "
                        "next_attempt = $2 WHERE id = $3",
                        GLY_TEXT(jb.err), GLY_I64(gly__now_s() + wait), GLY_TEXT(id));
    }
    if (n < 0)
        gly_log_error("outbox row %s not updated: %s", id, gly_err_name((int)n));
    return jb.err[0] ? GLY_EIO : 0;
}

/* Retries up to RETRY_BATCH due rows, stopping at the first failure (the server is likely down). */
static void retry_due(gly_req *req)
{
    gly_res *res;
    int64_t now = gly__now_s();
    int rc = gly_db_all(req, &res,
                        "-- name: outbox_due\n"
                        "SELECT id, to_addr, subject, body, attempts, next_attempt FROM "
                        "auth_outbox WHERE sent IS NULL AND next_attempt <= $1 AND attempts < $2 "
                        "ORDER BY next_attempt LIMIT 10",
                        GLY_I64(now), GLY_I64(MAX_ATTEMPTS));
    if (rc < 0)
        return;
    for (size_t i = 0; i < gly_res_count(res); i++) {
        gly_row *r = gly_res_row(res, i);
        const char *id = gly_row_str(r, "id").p;
        /* the lease: only one request delivers a row */
        int64_t n = gly_db_exec(req,
                                "-- name: outbox_lease\n"
                                "UPDATE auth_outbox SET next_attempt = $1 WHERE id = $2 AND "
                                "next_attempt = $3 AND sent IS NULL",
                                GLY_I64(gly__now_s() + LEASE_S), GLY_TEXT(id),
                                GLY_I64(gly_row_i64(r, "next_attempt")));
        if (n != 1)
            continue;
        if (deliver(req, id, gly_row_str(r, "to_addr").p, gly_row_str(r, "subject").p,
                    gly_row_str(r, "body").p, gly_row_i64(r, "attempts")) < 0)
            break;
    }
}

/*
 * After the answer went out: delivers the request's queued messages, then
 * retries due rows of earlier requests. Failures are logged and stay in the
 * outbox.
 */
static void deliver_all(gly_req *req, struct mail *const *mails, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        if (mails[i] && mails[i]->id[0] &&
            deliver(req, mails[i]->id, mails[i]->to, mails[i]->subject, mails[i]->body, 0) < 0)
            ok = false;
    if (ok)
        retry_due(req);
}

/* ------------------------------------------------------------------------ */
/* The emails                                                               */
/* ------------------------------------------------------------------------ */

static void fill_verify(gly_buf *b, const char *link, const char *token, const struct issue *is)
{
    gly_buf_printf(b,
                   "Hello,\n\nPlease confirm your email address by opening this link:\n\n%s\n\n"
                   "or by entering this code: %s\n\n"
                   "The link works once, for 24 hours. If you did not ask for it, you can ignore "
                   "this email.\n",
                   link, token);
}

static void fill_reset(gly_buf *b, const char *link, const char *token, const struct issue *is)
{
    gly_buf_printf(b,
                   "Hello,\n\nSomeone asked to reset the password of the account with this "
                   "address. To choose a new password, open this link:\n\n%s\n\n"
                   "or enter this code: %s\n\n"
                   "The link works once, for one hour. If you did not ask for it, ignore this "
                   "email: your password stays as it is.\n",
                   link, token);
}

static void fill_change(gly_buf *b, const char *link, const char *token, const struct issue *is)
{
    gly_buf_printf(b,
                   "Hello,\n\nTo make this the email address of your account, open this "
                   "link:\n\n%s\n\nor enter this code: %s\n\n"
                   "The link works once, for 24 hours. If you did not ask for it, you can ignore "
                   "this email.\n",
                   link, token);
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */

/* POST /api/v1/auth/verify/request (logged in) -> 202; the verification email goes out */
static int verify_request(gly_req *req)
{
    if (!gly_auth_require(req))
        return 0;
    struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    if (gly_row_bool(ctx->row, "email_verified"))
        return gly_problem(req, 409, "already-verified", "The email address is verified.");
    struct issue is = {.kind = "verify",
                       .user_id = ctx->pub.id,
                       .addr = gly_row_str(ctx->row, "email").p,
                       .subject = "Confirm your email address",
                       .path = "/verify",
                       .ttl = VERIFY_TTL_S,
                       .fill = fill_verify};
    int rc = issue(req, &is);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        gly_set_header(req, "Retry-After", "3600");
        return gly_problem(req, 429, "too-many-emails",
                           "Too many verification emails: try again in an hour.");
    }
    rc = accepted(req, "A verification email is on its way.");
    if (rc < 0)
        return rc;
    struct mail *m = &is.mail;
    deliver_all(req, &m, 1);
    return 0;
}

/* POST /api/v1/auth/verify {token} -> 200 with the user, email_verified true */
static int verify_confirm(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &token_schema);
    if (!body)
        return 0;
    gly_str token = gly_jv_str(gly_jv_get(body, "token"));
    char hash[65];
    gly__sha256_hex(token.p, token.n, hash);
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "-- name: mail_token_spend\n"
                        "UPDATE auth_tokens SET used = 1 WHERE token_hash = $1 AND kind = $2 AND "
                        "used = 0 AND expires > $3 RETURNING user_id, new_email",
                        GLY_TEXT(hash), GLY_TEXT("verify"), GLY_I64(gly__now_s()));
    if (rc == GLY_ENOTFOUND)
        return invalid_token(req);
    if (rc < 0)
        return rc;
    char now[25];
    gly__iso_now(now);
    gly_row *u;
    rc = gly_db_one(req, &u,
                    "-- name: user_verify\n"
                    "UPDATE users SET email_verified = 1, updated = $1 WHERE id = $2 AND "
                    "email = $3 RETURNING " GLY_AUTH_USER_COLS,
                    GLY_TEXT(now), GLY_TEXT(gly_row_str(t, "user_id").p),
                    GLY_TEXT(gly_row_str(t, "new_email").p));
    if (rc == GLY_ENOTFOUND) /* the email changed since the token was sent */
        return invalid_token(req);
    if (rc < 0)
        return rc;
    gly__auth_revoked(gly_req_app(req)); /* cached users have email_verified false */
    gly__audit(req, "email_verify", gly_row_str(u, "id").p, NULL);
    return gly__send_user(req, 200, u);
}

/* POST /api/v1/auth/password/reset/request {email} -> 202, the same for any email */
static int reset_request(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &reset_request_schema);
    if (!body)
        return 0;
    char *email = gly__lower_dup(req, gly_jv_str(gly_jv_get(body, "email")));
    if (!email)
        return GLY_ENOMEM;
    gly_row *u;
    int rc = gly_db_one(req, &u,
                        "-- name: reset_user\n"
                        "SELECT id, email FROM users WHERE email = $1 AND disabled = 0",
                        GLY_TEXT(email));
    if (rc < 0 && rc != GLY_ENOTFOUND)
        return rc;
    bool known = rc == 0;
    /* the same answer after the same work, known or not: the rest happens after it */
    rc = accepted(req, "If an account has this email address, a reset link is on its way.");
    if (rc < 0 || !known)
        return rc;
    struct issue is = {.kind = "reset",
                       .user_id = gly_row_str(u, "id").p,
                       .addr = gly_row_str(u, "email").p,
                       .subject = "Reset your password",
                       .path = "/reset-password",
                       .ttl = RESET_TTL_S,
                       .fill = fill_reset};
    rc = issue(req, &is);
    if (rc < 0) {
        gly_log_error("password reset email not queued: %s", gly_err_name(rc));
        return 0;
    }
    if (rc == 1)
        return 0;
    gly__audit(req, "password_reset_request", is.user_id, NULL);
    struct mail *m = &is.mail;
    deliver_all(req, &m, 1);
    return 0;
}

struct reset {
    const char *hash, *user_id, *email, *password_hash;
    bool spent;
};

static int reset_tx(gly_req *req, void *arg)
{
    struct reset *r = arg;
    char now[25];
    gly__iso_now(now);
    int64_t n = gly_db_exec(req,
                            "-- name: reset_spend\n"
                            "UPDATE auth_tokens SET used = 1 WHERE token_hash = $1 AND kind = $2 "
                            "AND used = 0 AND expires > $3 AND user_id = $4",
                            GLY_TEXT(r->hash), GLY_TEXT("reset"), GLY_I64(gly__now_s()),
                            GLY_TEXT(r->user_id));
    if (n < 0)
        return (int)n;
    r->spent = n == 1;
    if (!r->spent)
        return 0;
    n = gly_db_exec(req,
                    "-- name: reset_password\n"
                    "UPDATE users SET password_hash = $1, updated = $2 WHERE id = $3",
                    GLY_TEXT(r->password_hash), GLY_TEXT(now), GLY_TEXT(r->user_id));
    if (n >= 0)
        n = gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE user_id = $1",
                        GLY_TEXT(r->user_id));
    if (n >= 0) /* the other reset links die with this one */
        n = gly_db_exec(req,
                        "UPDATE auth_tokens SET used = 1 WHERE user_id = $1 AND kind = 'reset'",
                        GLY_TEXT(r->user_id));
    return n < 0 ? (int)n : 0;
}

/* POST /api/v1/auth/password/reset {token, new_password} -> 204; every session ends */
static int reset_confirm(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &reset_schema);
    if (!body)
        return 0;
    gly_str token = gly_jv_str(gly_jv_get(body, "token"));
    gly_str password = gly_jv_str(gly_jv_get(body, "new_password"));
    char hash[65];
    gly__sha256_hex(token.p, token.n, hash);
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "-- name: reset_token\n"
                        "SELECT t.user_id AS user_id, u.email AS email FROM auth_tokens t JOIN "
                        "users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.kind = $2 AND "
                        "t.used = 0 AND t.expires > $3 AND u.email = t.new_email",
                        GLY_TEXT(hash), GLY_TEXT("reset"), GLY_I64(gly__now_s()));
    if (rc == GLY_ENOTFOUND)
        return invalid_token(req);
    if (rc < 0)
        return rc;
    struct reset r = {
        .hash = hash, .user_id = gly_row_str(t, "user_id").p, .email = gly_row_str(t, "email").p};
    /* a password the policy refuses leaves the token unspent: the user tries another */
    const char *message, *code = gly_password_policy(password.p, password.n, r.email, &message);
    if (code)
        return gly__field_problem(req, 422, "new_password", code, message);
    char phash[GLY_PASSWORD_HASH_MAX];
    if ((rc = gly_password_hash(req, password.p, password.n, phash)) < 0)
        return rc;
    r.password_hash = phash;
    rc = gly_db_tx(req, reset_tx, &r);
    sodium_memzero(phash, sizeof phash);
    if (rc < 0)
        return rc;
    if (!r.spent) /* spent by a concurrent request meanwhile */
        return invalid_token(req);
    gly__auth_revoked(gly_req_app(req));
    gly__throttle_ok(req, r.email); /* a locked account unlocks */
    gly__audit(req, "password_reset", r.user_id, NULL);
    return gly_send(req, 204, NULL, NULL, 0);
}

/*
 * Checks the password of the request's user (a session's, not an API key's).
 * Returns 0 to go on with *user (its row: email, role), 1 after answering, or
 * an error.
 */
static int recheck_password(gly_req *req, gly_str password, const char *failure,
                            const gly_auth_user **me, gly_row **user)
{
    *me = gly_auth_require(req);
    if (!*me)
        return 1;
    if (!(*me)->sid) {
        int rc = gly_problem(req, 403, "session-required", "This needs a login, not an API key.");
        return rc < 0 ? rc : 1;
    }
    int rc = gly_db_one(req, user, "SELECT email, role, password_hash FROM users WHERE id = $1",
                        GLY_TEXT((*me)->id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    int ok = gly_password_verify(req, gly_row_str(*user, "password_hash").p, password.p, password.n,
                                 NULL);
    if (ok < 0)
        return ok;
    if (!ok) {
        gly__audit(req, failure, (*me)->id, NULL);
        rc = gly__field_problem(req, 422, "password", "wrong", "is not the password");
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* POST /api/v1/auth/email/change {new_email, password} -> 202; a link goes to the new address */
static int change_request(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &change_schema);
    if (!body)
        return 0;
    char *email = gly__lower_dup(req, gly_jv_str(gly_jv_get(body, "new_email")));
    if (!email)
        return GLY_ENOMEM;
    const gly_auth_user *me;
    gly_row *u;
    int rc = recheck_password(req, gly_jv_str(gly_jv_get(body, "password")), "email_change_failure",
                              &me, &u);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    const char *old = gly_row_str(u, "email").p;
    if (strcmp(old, email) == 0)
        return gly__field_problem(req, 422, "new_email", "same", "is the current email address");
    gly_row *other;
    rc = gly_db_one(req, &other, "SELECT id FROM users WHERE email = $1", GLY_TEXT(email));
    if (rc == 0) {
        gly_verrors errs;
        gly_verrors_init(&errs, gly_req_arena(req));
        gly_verrors_add(&errs, "new_email", "taken", "is already registered");
        return gly_problem_errors(req, 409, "email-taken", "An account with this email exists.",
                                  &errs);
    }
    if (rc != GLY_ENOTFOUND)
        return rc;
    struct issue is = {.kind = "email_change",
                       .user_id = me->id,
                       .addr = email,
                       .subject = "Confirm your new email address",
                       .path = "/confirm-email",
                       .ttl = CHANGE_TTL_S,
                       .fill = fill_change};
    rc = issue(req, &is);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        gly_set_header(req, "Retry-After", "3600");
        return gly_problem(req, 429, "too-many-emails",
                           "Too many email changes: try again in an hour.");
    }
    gly_buf nb;
    gly_buf_init(&nb, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&nb,
                   "Hello,\n\nSomeone with your password asked to change the email address of "
                   "your account to %s. The change takes effect once the new address is "
                   "confirmed.\n\nIf it was not you, reset your password at once.\n",
                   email);
    struct mail notice = {.to = old, .subject = "Your email address is changing"};
    notice.body = gly_buf_cstr(&nb);
    if (nb.err || !notice.body)
        return GLY_ENOMEM;
    if ((rc = queue_mail(req, &notice)) < 0)
        return rc;
    gly__audit(req, "email_change_request", me->id, NULL);
    if ((rc = accepted(req, "A confirmation link is on its way to the new address.")) < 0)
        return rc;
    struct mail *list[] = {&is.mail, &notice};
    deliver_all(req, list, 2);
    return 0;
}

struct change {
    const char *hash;
    gly_row *user; /* out */
};

static int change_tx(gly_req *req, void *arg)
{
    struct change *c = arg;
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "-- name: change_spend\n"
                        "UPDATE auth_tokens SET used = 1 WHERE token_hash = $1 AND kind = $2 AND "
                        "used = 0 AND expires > $3 RETURNING user_id, new_email",
                        GLY_TEXT(c->hash), GLY_TEXT("email_change"), GLY_I64(gly__now_s()));
    if (rc < 0)
        return rc;
    char now[25];
    gly__iso_now(now);
    const char *uid = gly_row_str(t, "user_id").p;
    rc = gly_db_one(req, &c->user,
                    "-- name: change_email\n"
                    "UPDATE users SET email = $1, email_verified = 1, updated = $2 WHERE id = $3 "
                    "RETURNING " GLY_AUTH_USER_COLS,
                    GLY_TEXT(gly_row_str(t, "new_email").p), GLY_TEXT(now), GLY_TEXT(uid));
    if (rc < 0)
        return rc;
    /* the other pending changes end with this one */
    int64_t n = gly_db_exec(req,
                            "UPDATE auth_tokens SET used = 1 WHERE user_id = $1 AND "
                            "kind = 'email_change'",
                            GLY_TEXT(uid));
    return n < 0 ? (int)n : 0;
}

/* POST /api/v1/auth/email/change/confirm {token} -> 200 with the user and its new email */
static int change_confirm(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &token_schema);
    if (!body)
        return 0;
    gly_str token = gly_jv_str(gly_jv_get(body, "token"));
    char hash[65];
    gly__sha256_hex(token.p, token.n, hash);
    struct change c = {.hash = hash};
    int rc = gly_db_tx(req, change_tx, &c);
    if (rc == GLY_ENOTFOUND)
        return invalid_token(req);
    if (rc == GLY_EUNIQUE) {
        gly_verrors errs;
        gly_verrors_init(&errs, gly_req_arena(req));
        gly_verrors_add(&errs, "email", "taken", "is already registered");
        return gly_problem_errors(req, 409, "email-taken", "An account with this email exists.",
                                  &errs);
    }
    if (rc < 0)
        return rc;
    gly__auth_revoked(gly_req_app(req)); /* cached users have the old email */
    gly__audit(req, "email_change", gly_row_str(c.user, "id").p, NULL);
    return gly__send_user(req, 200, c.user);
}

/* DELETE /api/v1/auth/me {password} -> 204; the account and everything of it are gone */
static int delete_me(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &delete_schema);
    if (!body)
        return 0;
    const gly_auth_user *me;
    gly_row *u;
    int rc = recheck_password(req, gly_jv_str(gly_jv_get(body, "password")),
                              "account_delete_failure", &me, &u);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int64_t n = gly__delete_user(req, me->id);
    gly__auth_revoked(gly_req_app(req));
    if (n < 0)
        return gly_db_fail(req, (int)n);
    gly__audit(req, "account_delete", me->id, NULL);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

static int read_conf(const gly_config *cfg)
{
    /* the settings smtp-url, mail-from, public-url (GALLEY_SMTP_URL, ... in the environment) */
    const char *url = cfg->smtp_url, *from = cfg->mail_from, *pub = cfg->public_url;
    if (!*from)
        from = "Galley <no-reply@localhost>";
    if (!*pub)
        pub = "http://127.0.0.1:8090";
    if (strlen(url) >= sizeof conf.smtp_url || strlen(from) >= sizeof conf.from ||
        strlen(pub) >= sizeof conf.public_url) {
        gly_log_error("smtp-url, mail-from or public-url is too long");
        return GLY_EINVAL;
    }
    if (*url && strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        gly_log_error("smtp-url must start with smtp:// or smtps://");
        return GLY_EINVAL;
    }
    if (!header_safe(from) || !header_safe(pub) || !header_safe(url)) {
        gly_log_error("mail-from, public-url or smtp-url has a control "
                      "character");
        return GLY_EINVAL;
    }
    /* the envelope address: inside <...>, else the whole field */
    const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    const char *a = lt && gt ? lt + 1 : from;
    size_t an = lt && gt ? (size_t)(gt - lt - 1) : strlen(from);
    if (an == 0 || an >= sizeof conf.from_addr || !memchr(a, '@', an) || memchr(a, '<', an) ||
        memchr(a, '>', an) || memchr(a, ' ', an)) {
        gly_log_error("mail-from has no address (\"Name <user@host>\" or user@host)");
        return GLY_EINVAL;
    }
    snprintf(conf.smtp_url, sizeof conf.smtp_url, "%s", url);
    snprintf(conf.from, sizeof conf.from, "%s", from);
    memcpy(conf.from_addr, a, an);
    conf.from_addr[an] = '\0';
    snprintf(conf.public_url, sizeof conf.public_url, "%s", pub);
    size_t pn = strlen(conf.public_url);
    while (pn > 0 && conf.public_url[pn - 1] == '/')
        conf.public_url[--pn] = '\0';
    int n = snprintf(conf.mail_dir, sizeof conf.mail_dir, "%s/mail", cfg->data_dir);
    if (n < 0 || (size_t)n >= sizeof conf.mail_dir)
        return GLY_EINVAL;
    return 0;
}

int gly__mail_init(gly_app *app)
{
    const gly_config *cfg = gly_app_config(app);
    int rc = read_conf(cfg);
    if (rc < 0)
        return rc;
    if (conf.smtp_url[0]) {
        uv_once(&curl_once, curl_init_once);
        if (curl_init_rc != CURLE_OK) {
            gly_log_error("libcurl: %s", curl_easy_strerror(curl_init_rc));
            return GLY_EIO;
        }
    } else {
        if ((mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) ||
            (mkdir(conf.mail_dir, 0700) < 0 && errno != EEXIST)) {
            rc = -errno;
            gly_log_error("cannot make %s: %s", conf.mail_dir, gly_strerror(rc));
            return rc;
        }
    }
    if ((rc = gly_db_add_migrations(gly_app_db(app), "auth_mail", migrations,
                                    sizeof migrations / sizeof migrations[0])) < 0)
        return rc;
    static const char *const tags[] = {"auth", NULL};
    gly_post(app, "/api/v1/auth/verify/request", verify_request);
    gly_route_doc(app, "POST", "/api/v1/auth/verify/request",
                  &(gly_doc){.summary = "Send a verification email to the user's address",
                             .tags = tags,
                             .operation_id = "requestEmailVerification",
                             .response = &accepted_schema,
                             .status = 202});
    gly_post(app, "/api/v1/auth/verify", verify_confirm);
    gly_route_doc(app, "POST", "/api/v1/auth/verify",
                  &(gly_doc){.summary = "Verify the email address with the emailed token",
                             .tags = tags,
                             .operation_id = "verifyEmail",
                             .request = &token_schema,
                             .response = &gly__user_schema});
    gly_post(app, "/api/v1/auth/password/reset/request", reset_request);
    gly_route_doc(app, "POST", "/api/v1/auth/password/reset/request",
                  &(gly_doc){.summary = "Email a password reset link (the same answer for any "
                                        "address)",
                             .tags = tags,
                             .operation_id = "requestPasswordReset",
                             .request = &reset_request_schema,
                             .response = &accepted_schema,
                             .status = 202});
    gly_post(app, "/api/v1/auth/password/reset", reset_confirm);
    gly_route_doc(app, "POST", "/api/v1/auth/password/reset",
                  &(gly_doc){.summary = "Set a new password with the emailed token (every "
                                        "session ends)",
                             .tags = tags,
                             .operation_id = "resetPassword",
                             .request = &reset_schema,
                             .status = 204});
    gly_post(app, "/api/v1/auth/email/change", change_request);
    gly_route_doc(app, "POST", "/api/v1/auth/email/change",
                  &(gly_doc){.summary = "Change the email address (confirmed from the new one)",
                             .tags = tags,
                             .operation_id = "changeEmail",
                             .request = &change_schema,
                             .response = &accepted_schema,
                             .status = 202});
    gly_post(app, "/api/v1/auth/email/change/confirm", change_confirm);
    gly_route_doc(app, "POST", "/api/v1/auth/email/change/confirm",
                  &(gly_doc){.summary = "Confirm the new email address with the emailed token",
                             .tags = tags,
                             .operation_id = "confirmEmailChange",
                             .request = &token_schema,
                             .response = &gly__user_schema});
    gly_delete(app, "/api/v1/auth/me", delete_me);
    return gly_route_doc(app, "DELETE", "/api/v1/auth/me",
                         &(gly_doc){.summary = "Delete the account (needs the password)",
                                    .tags = tags,
                                    .operation_id = "deleteAccount",
                                    .request = &delete_schema,
                                    .status = 204});
}
