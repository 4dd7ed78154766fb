/*
 * src/auth/oidc.c - login with an OpenID Connect provider (authorization
 * code flow with PKCE, state and nonce), and the public keys of our own
 * access tokens when they are signed with EdDSA or ES256.
 *
 * Providers are settings: oidc-providers names each one's issuer URL,
 * oidc-clients (a secret) its client id and secret at that provider. The
 * redirect URI registered there is public-url + the callback route.
 *
 * start makes a state of 32 random bytes. Only its SHA-256 is stored
 * (auth_oidc_states, ten minutes, spent by one DELETE ... RETURNING, so it
 * works once); the PKCE verifier and the nonce are derived from it with
 * SHA-256 and a label each, so the database alone holds nothing that
 * completes a login, and nothing else needs storing. The browser goes to
 * the provider's authorization endpoint with the state, the nonce and the
 * S256 challenge.
 *
 * callback spends the state, trades the code (and the verifier) for tokens
 * at the token endpoint with client_secret_basic (client_secret_post when
 * the provider offers only that), and believes the ID token only when its
 * signature holds with a key of the provider's JWKS, its iss is the issuer
 * exactly, its aud holds our client id (and azp, when present or needed, is
 * ours), it is not expired (a minute of leeway), and its nonce is the one
 * derived from the state. The account is then found by (issuer, sub) in
 * auth_identities; else an account with the token's email is linked, but
 * only when the provider says the email is verified; else a new account is
 * made, with no usable password. The session opens as a password login
 * opens it (MFA included): the answer is the same JSON with tokens.
 *
 * Discovery documents and JWKS are fetched with libcurl on the thread pool
 * (gly_req_offload), never on a worker's loop, with time limits and a size
 * cap, and kept for an hour per provider (process-wide, under one mutex).
 * A token naming an unknown kid fetches the JWKS again, at most once a
 * minute per provider: that is how a provider's key rotation is followed.
 * Issuers and endpoints must be https, except on loopback (development and
 * tests).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/internal.h"

#define MAX_PROVIDERS     16
#define MAX_URL           512
#define STATE_TTL_S       600
#define CACHE_TTL_NS      (3600ull * 1000000000ull)
#define REFETCH_NS        (60ull * 1000000000ull) /* unknown kid: JWKS again at most this often */
#define LEEWAY_S          60
#define FETCH_TIMEOUT     10L
#define MAX_BODY          (256 * 1024)
#define MAX_JWKS_KEYS     16
#define CALLBACK_PATH     "/api/v1/auth/oauth2/%s/callback"
#define PKCE_LABEL        "galley pkce v1:"
#define NONCE_LABEL       "galley nonce v1:"
#define UNUSABLE_PASSWORD "!oidc" /* never a PHC string: no password matches it */

static const gly_migration migrations[] = {
    {1, "OpenID Connect states and identities",
     "CREATE TABLE auth_oidc_states ("
     " state_hash TEXT PRIMARY KEY,"
     " provider TEXT NOT NULL,"
     " expires BIGINT NOT NULL,"
     " created TEXT NOT NULL);"
     "CREATE TABLE auth_identities ("
     " issuer TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " email TEXT NOT NULL DEFAULT '',"
     " created TEXT NOT NULL,"
     " PRIMARY KEY (issuer, subject));"
     "CREATE INDEX auth_identities_user ON auth_identities (user_id);",
     NULL, NULL},
};

static const gly_field provider_fields[] = {
    GLY_FIELD_STR("name"),
    GLY_FIELD_STR("start", .description = "GET it in the browser to log in"),
    GLY_FIELD_END,
};
static const gly_schema provider_schema = {.fields = provider_fields};
static const gly_field providers_fields[] = {
    GLY_FIELD_ARR("providers", .items = &(const gly_field)GLY_ITEM_OBJ(.schema = &provider_schema)),
    GLY_FIELD_END,
};
static const gly_schema providers_schema = {.fields = providers_fields};

static const gly_field jwks_fields[] = {
    GLY_FIELD_ARR("keys", .description = "JWKs (RFC 7517) of the access tokens' keys"),
    GLY_FIELD_END,
};
static const gly_schema jwks_schema = {.fields = jwks_fields, .additional = true};

/* What a provider's discovery document says that we use. */
struct disco {
    char authorize[MAX_URL], token[MAX_URL], jwks[MAX_URL];
    bool post; /* client_secret_post: the provider does not offer client_secret_basic */
};

/* A JWKS shared by the requests that check with it; the last one out frees it. */
struct keyset {
    atomic_uint refs;
    size_t n;
    gly_jwt_key keys[MAX_JWKS_KEYS];
};

struct provider {
    char name[33];
    char issuer[MAX_URL];
    char client_id[256];
    char secret[512];
    char redirect_uri[MAX_URL + 64];
    /* the caches, under oidc->lock */
    struct disco disco;
    uint64_t disco_until;
    struct keyset *keys;
    uint64_t keys_until, refetched_at;
};

struct oidc {
    uv_mutex_t lock;
    size_t n;
    struct provider p[MAX_PROVIDERS];
};

static uv_once_t curl_once = UV_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void keyset_release(struct keyset *ks)
{
    if (ks != NULL && atomic_fetch_sub(&ks->refs, 1) == 1) {
        for (size_t i = 0; i < ks->n; i++) {
            gly_jwt_key_wipe(&ks->keys[i]);
        }
        free(ks);
    }
}

void gly__oidc_free(struct oidc *o)
{
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        keyset_release(o->p[i].keys);
    }
    uv_mutex_destroy(&o->lock);
    sodium_memzero(o, sizeof *o);
    free(o);
}

/* ------------------------------------------------------------------------ */
/* Fetching: libcurl on the thread pool                                     */
/* ------------------------------------------------------------------------ */

/* https anywhere; http only to a loopback host (development, tests). */
static bool url_allowed(const char *url)
{
    if (strncmp(url, "https://", 8) == 0) {
        return url[8] != '\0' && url[8] != '/';
    }
    static const char *const loopback[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        size_t n = strlen(loopback[i]);
        if (strncmp(url, loopback[i], n) == 0 &&
            (url[n] == '\0' || url[n] == ':' || url[n] == '/')) {
            return true;
        }
    }
    return false;
}

struct fetch {
    const char *url;
    const char *form;    /* POST this application/x-www-form-urlencoded body; NULL: GET */
    const char *userpwd; /* client_secret_basic credentials (already form-encoded); or NULL */
    bool jwks;           /* parse the body as a JWKS into keys, on the pool thread */
    /* results */
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
    long status;
    int rc;
    char err[CURL_ERROR_SIZE];
    struct keyset *keys;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t add = size * n;
    if (add > MAX_BODY - f->len) {
        snprintf(f->err, sizeof f->err, "answer larger than %d bytes", MAX_BODY);
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    char *grown = realloc(f->body, f->len + add + 1);
    if (grown == NULL) {
        return 0;
    }
    f->body = grown;
    memcpy(f->body + f->len, p, add);
    f->len += add;
    f->body[f->len] = '\0';
    return add;
}

static void parse_jwks(struct fetch *f)
{
    struct keyset *ks = calloc(1, sizeof *ks);
    if (ks == NULL) {
        f->rc = GLY_ENOMEM;
        return;
    }
    f->rc = gly_jwks_parse(f->body, f->len, ks->keys, MAX_JWKS_KEYS, &ks->n);
    if (f->rc == 0 && ks->n == 0) {
        f->rc = GLY_EINVAL;
    }
    if (f->rc != 0) {
        snprintf(f->err, sizeof f->err, "no usable signing key in the JWKS");
        free(ks);
        return;
    }
    atomic_init(&ks->refs, 1);
    f->keys = ks;
}

/* Runs on the thread pool: one request, no redirects, time limits, a size cap. */
static void fetch_fn(void *arg)
{
    struct fetch *f = arg;
    f->rc = GLY_EIO;
    uv_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        snprintf(f->err, sizeof f->err, "libcurl: %s", curl_easy_strerror(curl_init_rc));
        return;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(f->err, sizeof f->err, "libcurl: out of memory");
        return;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, f->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, FETCH_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "galley");
    if (hdr != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    if (f->form != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->form);
    }
    if (f->userpwd != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, f->userpwd);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
        f->rc = 0;
    } else if (f->err[0] == '\0') {
        snprintf(f->err, sizeof f->err, "%s", curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (f->rc == 0 && f->jwks && f->status == 200) {
        parse_jwks(f);
    }
}

/*
 * Fetches f->url off the loop. Returns 0 with the answer in f (free it with
 * fetch_done), or GLY_EIO (logged) when the provider cannot be reached.
 */
static int fetch(gly_req *req, const struct provider *p, struct fetch *f)
{
    int rc = gly_req_offload(req, fetch_fn, f);
    if (rc == 0) {
        rc = f->rc;
    }
    if (rc != 0) {
        gly_log_warn("oidc %s: %s: %s", p->name, f->url, f->err[0] ? f->err : gly_strerror(rc));
    }
    return rc;
}

static void fetch_done(struct fetch *f)
{
    if (f->body != NULL) {
        sodium_memzero(f->body, f->len);
        free(f->body);
    }
    keyset_release(f->keys);
    f->body = NULL;
    f->keys = NULL;
}

/* ------------------------------------------------------------------------ */
/* Discovery and keys, cached per provider                                  */
/* ------------------------------------------------------------------------ */

static struct oidc *oidc_of(gly_req *req)
{
    return gly__auth_of(gly_req_app(req))->oidc;
}

/* Copies the URL member name of doc into out; false when absent, too long or not allowed. */
static bool url_member(const gly_jv *doc, const char *name, char out[MAX_URL])
{
    gly_str s = gly__member(doc, name);
    if (s.p == NULL || s.n == 0 || s.n >= MAX_URL || memchr(s.p, '\0', s.n) != NULL) {
        return false;
    }
    memcpy(out, s.p, s.n + 1);
    return url_allowed(out);
}

static bool has_string(const gly_jv *arr, const char *s)
{
    for (size_t i = 0; i < gly_jv_len(arr); i++) {
        if (gly_str_eq(gly_jv_str(gly_jv_at(arr, i)), gly_str_c(s))) {
            return true;
        }
    }
    return false;
}

/* Reads a discovery document (OpenID Connect Discovery 1.0 §3, §4.3). */
static int parse_disco(gly_req *req, const struct provider *p, const struct fetch *f,
                       struct disco *d)
{
    gly_jv *doc;
    if (f->status != 200 ||
        gly_json_parse(gly_req_arena(req), f->body ? f->body : "", f->len, NULL, &doc, NULL) != 0 ||
        gly_jv_type(doc) != GLY_JSON_OBJECT) {
        gly_log_warn("oidc %s: discovery answered %ld without a JSON object", p->name, f->status);
        return GLY_EPROTO;
    }
    gly_str iss = gly__member(doc, "issuer");
    if (!gly_str_eq(iss, gly_str_c(p->issuer))) {
        gly_log_warn("oidc %s: the discovery document names another issuer", p->name);
        return GLY_EPROTO;
    }
    memset(d, 0, sizeof *d);
    if (!url_member(doc, "authorization_endpoint", d->authorize) ||
        !url_member(doc, "token_endpoint", d->token) || !url_member(doc, "jwks_uri", d->jwks)) {
        gly_log_warn("oidc %s: discovery lacks an endpoint, or one is not https", p->name);
        return GLY_EPROTO;
    }
    /* absent, the default is client_secret_basic (Discovery §3) */
    const gly_jv *methods = gly_jv_get(doc, "token_endpoint_auth_methods_supported");
    d->post = methods != NULL && !has_string(methods, "client_secret_basic") &&
              has_string(methods, "client_secret_post");
    return 0;
}

/* The provider's discovery document, from the cache or fetched. GLY_EIO or GLY_EPROTO: 502. */
static int get_disco(gly_req *req, struct provider *p, struct disco *out)
{
    struct oidc *o = oidc_of(req);
    uint64_t now = gly_now_ns();
    uv_mutex_lock(&o->lock);
    bool fresh = p->disco_until > now;
    if (fresh) {
        *out = p->disco;
    }
    uv_mutex_unlock(&o->lock);
    if (fresh) {
        return 0;
    }
    /* the issuer with a trailing slash gets no second one (Discovery §4.1) */
    size_t n = strlen(p->issuer);
    const char *url =
        gly_arena_printf(gly_req_arena(req), "%.*s/.well-known/openid-configuration",
                         (int)(n > 0 && p->issuer[n - 1] == '/' ? n - 1 : n), p->issuer);
    if (url == NULL) {
        return GLY_ENOMEM;
    }
    struct fetch f = {.url = url};
    int rc = fetch(req, p, &f);
    if (rc == 0) {
        rc = parse_disco(req, p, &f, out);
    }
    fetch_done(&f);
    if (rc == 0) {
        uv_mutex_lock(&o->lock);
        p->disco = *out;
        p->disco_until = gly_now_ns() + CACHE_TTL_NS;
        uv_mutex_unlock(&o->lock);
    }
    return rc;
}

/*
 * The provider's keys with a reference taken (keyset_release it). With
 * again, the caller met an unknown kid: the JWKS is fetched anew unless that
 * was done less than a minute ago, and *fetched says whether it was.
 */
static int get_keys(gly_req *req, struct provider *p, const struct disco *d, bool again,
                    struct keyset **out, bool *fetched)
{
    struct oidc *o = oidc_of(req);
    uint64_t now = gly_now_ns();
    *out = NULL;
    *fetched = false;
    uv_mutex_lock(&o->lock);
    bool use_cached = p->keys != NULL && p->keys_until > now;
    if (again) {
        use_cached = p->keys != NULL && p->refetched_at != 0 && now - p->refetched_at < REFETCH_NS;
        if (!use_cached) {
            p->refetched_at = now;
        }
    }
    if (use_cached) {
        atomic_fetch_add(&p->keys->refs, 1);
        *out = p->keys;
    }
    uv_mutex_unlock(&o->lock);
    if (use_cached) {
        return 0;
    }
    struct fetch f = {.url = d->jwks, .jwks = true};
    int rc = fetch(req, p, &f);
    if (rc == 0 && f.keys == NULL) {
        gly_log_warn("oidc %s: JWKS answered %ld: %s", p->name, f.status,
                     f.err[0] ? f.err : "not a key set");
        rc = GLY_EPROTO;
    }
    if (rc == 0) {
        /* one reference for the cache, one for the caller */
        atomic_fetch_add(&f.keys->refs, 1);
        *out = f.keys;
        *fetched = true;
        uv_mutex_lock(&o->lock);
        struct keyset *old = p->keys;
        p->keys = f.keys;
        p->keys_until = gly_now_ns() + CACHE_TTL_NS;
        uv_mutex_unlock(&o->lock);
        keyset_release(old);
        f.keys = NULL;
    }
    fetch_done(&f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static struct provider *provider_of(gly_req *req)
{
    struct oidc *o = oidc_of(req);
    gly_str name = gly_req_param(req, "provider");
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        if (gly_str_eq(name, gly_str_c(o->p[i].name))) {
            return &o->p[i];
        }
    }
    return NULL;
}

static int no_provider(gly_req *req)
{
    return gly_problem(req, 404, "unknown-provider", "No OpenID provider of that name.");
}

static int provider_failed(gly_req *req, int rc)
{
    if (rc == GLY_ENOMEM) {
        return rc;
    }
    return gly_problem(req, 502, "provider-unavailable",
                       "The OpenID provider could not be reached or answered wrongly.");
}

/* Appends s percent-encoded (RFC 3986 unreserved characters stay). */
static void put_encoded(gly_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            gly_buf_putc(b, (char)*c);
        } else {
            gly_buf_putc(b, '%');
            gly_buf_putc(b, hex[*c >> 4]);
            gly_buf_putc(b, hex[*c & 15]);
        }
    }
}

static void put_param(gly_buf *b, const char *name, const char *value)
{
    if (b->len > 0 && b->p[b->len - 1] != '?') {
        gly_buf_putc(b, '&');
    }
    gly_buf_puts(b, name);
    gly_buf_putc(b, '=');
    put_encoded(b, value);
}

/* out = base64url(SHA-256(label || state)): the PKCE verifier or the nonce of a state. */
static void derive(const char *label, const char *state, char out[GLY_SECRET_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)label, strlen(label));
    crypto_hash_sha256_update(&st, (const unsigned char *)state, strlen(state));
    crypto_hash_sha256_final(&st, h);
    gly_buf b;
    gly_buf_init(&b, out, GLY_SECRET_LEN + 1, NULL, GLY_SECRET_LEN + 1);
    gly_b64url_encode(&b, h, sizeof h);
    out[GLY_SECRET_LEN] = '\0';
    sodium_memzero(h, sizeof h);
    sodium_memzero(&st, sizeof st);
}

/* The S256 code challenge of a verifier (RFC 7636 §4.2). */
static void challenge_of(const char *verifier, char out[GLY_SECRET_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    gly_buf b;
    gly_buf_init(&b, out, GLY_SECRET_LEN + 1, NULL, GLY_SECRET_LEN + 1);
    gly_b64url_encode(&b, h, sizeof h);
    out[GLY_SECRET_LEN] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */

/* GET /api/v1/auth/oauth2/providers */
static int do_providers(gly_req *req)
{
    struct oidc *o = oidc_of(req);
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "providers");
    gly_json_arr_begin(&j);
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        char start[96];
        snprintf(start, sizeof start, "/api/v1/auth/oauth2/%s/start", o->p[i].name);
        gly_json_obj_begin(&j);
        gly_json_key(&j, "name");
        gly_json_str(&j, o->p[i].name);
        gly_json_key(&j, "start");
        gly_json_str(&j, start);
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

/* GET /api/v1/auth/oauth2/{provider}/start -> 302 to the provider */
static int do_start(gly_req *req)
{
    struct provider *p = provider_of(req);
    if (p == NULL) {
        return no_provider(req);
    }
    struct disco d;
    int rc = get_disco(req, p, &d);
    if (rc < 0) {
        return provider_failed(req, rc);
    }
    char state[GLY_SECRET_LEN + 1], hash[65], verifier[GLY_SECRET_LEN + 1];
    char nonce[GLY_SECRET_LEN + 1], challenge[GLY_SECRET_LEN + 1], now[25];
    if ((rc = gly__new_secret(state, hash)) < 0) {
        return rc;
    }
    derive(PKCE_LABEL, state, verifier);
    derive(NONCE_LABEL, state, nonce);
    challenge_of(verifier, challenge);
    sodium_memzero(verifier, sizeof verifier);
    gly__iso_now(now);
    int64_t t = gly__now_s();
    /* states nobody came back with are dropped by the next start */
    int64_t n = gly_db_exec(req,
                            "-- name: oidc_state_purge\n"
                            "DELETE FROM auth_oidc_states WHERE expires < $1",
                            GLY_I64(t));
    if (n >= 0) {
        n = gly_db_exec(req,
                        "-- name: oidc_state_insert\n"
                        "INSERT INTO auth_oidc_states (state_hash, provider, expires, created) "
                        "VALUES ($1, $2, $3, $4)",
                        GLY_TEXT(hash), GLY_TEXT(p->name), GLY_I64(t + STATE_TTL_S), GLY_TEXT(now));
    }
    if (n < 0) {
        return (int)n;
    }
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_buf_puts(&b, d.authorize);
    gly_buf_putc(&b, strchr(d.authorize, '?') ? '&' : '?');
    put_param(&b, "response_type", "code");
    put_param(&b, "client_id", p->client_id);
    put_param(&b, "redirect_uri", p->redirect_uri);
    put_param(&b, "scope", "openid email profile");
    put_param(&b, "state", state);
    put_param(&b, "nonce", nonce);
    put_param(&b, "code_challenge", challenge);
    put_param(&b, "code_challenge_method", "S256");
    const char *location = gly_buf_cstr(&b);
    sodium_memzero(state, sizeof state);
    if (location == NULL) {
        return GLY_ENOMEM;
    }
    gly_set_header(req, "Location", location);
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send(req, 302, NULL, NULL, 0);
}

/* What the checked ID token says about its user. */
struct id_claims {
    const char *sub, *email, *name;
    bool email_verified;
};

/* Checks the ID token with the provider's keys, fetching them again for an unknown kid. */
static int verify_id_token(gly_req *req, struct provider *p, const struct disco *d, gly_str tok,
                           gly_jwt_claims *c, const char **why)
{
    gly_jwt_expect ex = {
        .iss = p->issuer, .aud = p->client_id, .now = gly__now_s(), .leeway = LEEWAY_S};
    struct keyset *ks;
    bool fetched;
    int rc = get_keys(req, p, d, false, &ks, &fetched);
    if (rc < 0) {
        return rc;
    }
    rc = gly_jwt_verify(ks->keys, ks->n, tok.p, tok.n, &ex, gly_req_arena(req), c, why);
    keyset_release(ks);
    if (rc == GLY_EACCES && *why != NULL && strcmp(*why, "unknown kid") == 0 && !fetched) {
        int krc = get_keys(req, p, d, true, &ks, &fetched);
        if (krc < 0) {
            return krc;
        }
        if (fetched) {
            rc = gly_jwt_verify(ks->keys, ks->n, tok.p, tok.n, &ex, gly_req_arena(req), c, why);
        }
        keyset_release(ks);
    }
    return rc;
}

/*
 * The ID token checks beyond the JWT's (OpenID Connect Core §3.1.3.7):
 * iat, azp, nonce; and the user's claims. Returns NULL or why it failed.
 */
static const char *id_claims_of(const struct provider *p, const gly_jwt_claims *c,
                                const char *nonce, struct id_claims *out)
{
    const gly_jv *pl = c->payload;
    int64_t iat;
    if (!gly_jv_i64(gly_jv_get(pl, "iat"), &iat) || iat > gly__now_s() + LEEWAY_S) {
        return "no iat, or one in the future";
    }
    const gly_jv *aud = gly_jv_get(pl, "aud");
    gly_str azp = gly__member(pl, "azp");
    if (gly_jv_get(pl, "azp") != NULL && !gly_str_eq(azp, gly_str_c(p->client_id))) {
        return "azp is another client";
    }
    if (gly_jv_type(aud) == GLY_JSON_ARRAY && gly_jv_len(aud) > 1 && azp.p == NULL) {
        return "several audiences and no azp";
    }
    gly_str got = gly__member(pl, "nonce");
    if (got.p == NULL || got.n != strlen(nonce) || sodium_memcmp(got.p, nonce, got.n) != 0) {
        return "nonce mismatch";
    }
    gly_str email = gly__member(pl, "email"), name = gly__member(pl, "name");
    const gly_jv *verified = gly_jv_get(pl, "email_verified");
    out->sub = c->sub;
    out->email = email.p != NULL && memchr(email.p, '\0', email.n) == NULL ? email.p : NULL;
    out->name = name.p != NULL && memchr(name.p, '\0', name.n) == NULL ? name.p : "";
    out->email_verified = gly_jv_bool(verified); /* the literal true, never "true" */
    return NULL;
}

/* Spends the state: 0, or 1 after answering 400 (unknown, spent, expired, another provider's). */
static int spend_state(gly_req *req, const struct provider *p, gly_str state)
{
    int rc;
    if (state.p == NULL || state.n != GLY_SECRET_LEN) {
        rc = gly_problem(req, 400, "invalid-state", "The login state is missing or unknown.");
        return rc < 0 ? rc : 1;
    }
    char hash[65];
    gly__sha256_hex(state.p, state.n, hash);
    gly_row *row;
    rc = gly_db_one(req, &row,
                    "-- name: oidc_state_spend\n"
                    "DELETE FROM auth_oidc_states WHERE state_hash = $1 AND provider = $2 "
                    "RETURNING expires",
                    GLY_TEXT(hash), GLY_TEXT(p->name));
    if (rc == GLY_ENOTFOUND) {
        gly__audit(req, "oauth2_login_failure", NULL, "unknown or spent state");
        rc = gly_problem(req, 400, "invalid-state",
                         "The login state is unknown or was used already. Start again.");
        return rc < 0 ? rc : 1;
    }
    if (rc < 0) {
        return rc;
    }
    if (gly_row_i64(row, "expires") < gly__now_s()) {
        gly__audit(req, "oauth2_login_failure", NULL, "expired state");
        rc = gly_problem(req, 400, "expired-state", "The login took too long. Start again.");
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/*
 * Trades the code for the provider's tokens. Returns 0 with the ID token
 * in *id_token, 1 after answering (401 for a refused code, 502), or an error.
 */
static int redeem_code(gly_req *req, const struct provider *p, const struct disco *d, gly_str code,
                       const char *state, gly_str *id_token)
{
    gly_arena *a = gly_req_arena(req);
    char verifier[GLY_SECRET_LEN + 1];
    derive(PKCE_LABEL, state, verifier);
    char *code_z = gly_arena_strndup(a, code.p, code.n);
    gly_buf form, cred;
    gly_buf_init(&form, NULL, 0, a, 0);
    gly_buf_init(&cred, NULL, 0, a, 0);
    if (code_z == NULL) {
        return GLY_ENOMEM;
    }
    put_param(&form, "grant_type", "authorization_code");
    put_param(&form, "code", code_z);
    put_param(&form, "redirect_uri", p->redirect_uri);
    put_param(&form, "code_verifier", verifier);
    sodium_memzero(verifier, sizeof verifier);
    if (d->post) {
        put_param(&form, "client_id", p->client_id);
        put_param(&form, "client_secret", p->secret);
    } else {
        /* RFC 6749 §2.3.1: both form-encoded before they are joined */
        put_encoded(&cred, p->client_id);
        gly_buf_putc(&cred, ':');
        put_encoded(&cred, p->secret);
    }
    struct fetch f = {.url = d->token, .form = gly_buf_cstr(&form)};
    f.userpwd = d->post ? NULL : gly_buf_cstr(&cred);
    if (f.form == NULL || (!d->post && f.userpwd == NULL)) {
        return GLY_ENOMEM;
    }
    int rc = fetch(req, p, &f);
    gly_jv *doc = NULL;
    if (rc == 0 && f.body != NULL) {
        gly_json_parse(a, f.body, f.len, NULL, &doc, NULL);
    }
    sodium_memzero(form.p, form.len);
    if (cred.p != NULL) {
        sodium_memzero(cred.p, cred.len);
    }
    if (rc == 0 && f.status >= 400 && f.status < 500) {
        gly_str err = gly__member(doc, "error");
        gly_log_warn("oidc %s: the token endpoint refused the code (%ld %.*s)", p->name, f.status,
                     (int)(err.p ? (err.n > 64 ? 64 : err.n) : 0), err.p ? err.p : "");
        gly__audit(req, "oauth2_login_failure", NULL, "code refused");
        fetch_done(&f);
        rc = gly__unauthorized(req, "code-refused",
                               "The OpenID provider refused the authorization code.");
        return rc < 0 ? rc : 1;
    }
    gly_str tok = gly__member(doc, "id_token");
    if (rc != 0 || f.status != 200 || tok.p == NULL) {
        if (rc == 0) {
            gly_log_warn("oidc %s: the token endpoint answered %ld without an id_token", p->name,
                         f.status);
        }
        fetch_done(&f);
        rc = provider_failed(req, rc);
        return rc < 0 ? rc : 1;
    }
    fetch_done(&f);
    *id_token = tok; /* in the arena, from doc */
    return 0;
}

/* The user of (issuer, sub), or of the verified email (then linked), or a new one. */
struct who {
    const struct provider *p;
    const struct id_claims *id;
    gly_row *user; /* out */
    const char *event;
    bool unverified_clash;
};

#define USER_SELECT "SELECT " GLY_AUTH_USER_COLS ", password_hash, disabled FROM users "

static int link_identity(gly_req *req, const struct who *w, const char *user_id)
{
    char now[25];
    gly__iso_now(now);
    int64_t n =
        gly_db_exec(req,
                    "-- name: oidc_identity_insert\n"
                    "INSERT INTO auth_identities (issuer, subject, user_id, email, created) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    GLY_TEXT(w->p->issuer), GLY_TEXT(w->id->sub), GLY_TEXT(user_id),
                    GLY_TEXT(w->id->email ? w->id->email : ""), GLY_TEXT(now));
    return n < 0 ? (int)n : 0;
}

static int find_or_make_user(gly_req *req, void *arg)
{
    struct who *w = arg;
    int rc = gly_db_one(req, &w->user,
                        "-- name: oidc_user_by_identity\n" USER_SELECT
                        "WHERE id = (SELECT user_id FROM auth_identities "
                        "WHERE issuer = $1 AND subject = $2)",
                        GLY_TEXT(w->p->issuer), GLY_TEXT(w->id->sub));
    if (rc != GLY_ENOTFOUND) {
        w->event = "oauth2_login";
        return rc;
    }
    if (w->id->email == NULL) {
        return GLY_EINVAL;
    }
    char *email = gly__lower_dup(req, gly_str_c(w->id->email));
    if (email == NULL) {
        return GLY_ENOMEM;
    }
    rc = gly_db_one(req, &w->user, "-- name: oidc_user_by_email\n" USER_SELECT "WHERE email = $1",
                    GLY_TEXT(email));
    if (rc == 0) {
        /* the provider's word that the address is this person's is what links */
        if (!w->id->email_verified) {
            w->unverified_clash = true;
            w->user = NULL;
            return 0;
        }
        w->event = "oauth2_link";
        return link_identity(req, w, gly_row_str(w->user, "id").p);
    }
    if (rc != GLY_ENOTFOUND) {
        return rc;
    }
    char id[16], now[25];
    gly__new_id(id);
    gly__iso_now(now);
    rc = gly_db_one(req, &w->user,
                    "-- name: oidc_user_insert\n"
                    "INSERT INTO users (id, email, password_hash, name, email_verified, created, "
                    "updated) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING " GLY_AUTH_USER_COLS
                    ", password_hash, disabled",
                    GLY_TEXT(id), GLY_TEXT(email), GLY_TEXT(UNUSABLE_PASSWORD),
                    GLY_TEXT(w->id->name), GLY_BOOL(w->id->email_verified), GLY_TEXT(now));
    if (rc < 0) {
        return rc;
    }
    w->event = "oauth2_register";
    return link_identity(req, w, id);
}

static int login_failed(gly_req *req, const char *why)
{
    gly__audit(req, "oauth2_login_failure", NULL, why);
    return gly__unauthorized(req, "invalid-id-token",
                             "The OpenID provider's ID token was refused.");
}

/* GET /api/v1/auth/oauth2/{provider}/callback?code=&state= */
static int do_callback(gly_req *req)
{
    struct provider *p = provider_of(req);
    if (p == NULL) {
        return no_provider(req);
    }
    gly_str state = gly_req_query_param(req, "state"), code = gly_req_query_param(req, "code");
    int rc = spend_state(req, p, state);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    char *state_z = gly_arena_strndup(gly_req_arena(req), state.p, state.n);
    if (state_z == NULL) {
        return GLY_ENOMEM;
    }
    /* RFC 9207: a provider that names itself must name the one this state went to */
    gly_str iss = gly_req_query_param(req, "iss");
    if (iss.p != NULL && !gly_str_eq(iss, gly_str_c(p->issuer))) {
        gly__audit(req, "oauth2_login_failure", NULL, "another issuer answered");
        return gly_problem(req, 400, "issuer-mismatch",
                           "The answer came from another OpenID provider than the login went to.");
    }
    gly_str error = gly_req_query_param(req, "error");
    if (error.p != NULL || code.p == NULL || code.n == 0) {
        gly__audit(req, "oauth2_login_failure", NULL, error.p ? "provider error" : "no code");
        return gly__unauthorized(req, "oauth2-denied", "The OpenID provider gave no code.");
    }
    struct disco d;
    if ((rc = get_disco(req, p, &d)) < 0) {
        return provider_failed(req, rc);
    }
    gly_str tok;
    if ((rc = redeem_code(req, p, &d, code, state_z, &tok)) != 0) {
        return rc < 0 ? rc : 0;
    }
    gly_jwt_claims c;
    const char *why = NULL;
    rc = verify_id_token(req, p, &d, tok, &c, &why);
    if (rc == GLY_EIO || rc == GLY_EPROTO) {
        /* a JWKS that cannot be had: the provider's fault, not the token's */
        if (why == NULL) {
            return provider_failed(req, rc);
        }
    }
    if (rc == GLY_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        gly_log_info("oidc %s: ID token refused: %s", p->name, why ? why : gly_err_name(rc));
        return login_failed(req, why ? why : "keys");
    }
    char nonce[GLY_SECRET_LEN + 1];
    derive(NONCE_LABEL, state_z, nonce);
    struct id_claims id;
    if ((why = id_claims_of(p, &c, nonce, &id)) != NULL) {
        gly_log_info("oidc %s: ID token refused: %s", p->name, why);
        return login_failed(req, why);
    }
    struct who w = {.p = p, .id = &id};
    rc = gly_db_tx(req, find_or_make_user, &w);
    if (rc == GLY_EINVAL) {
        gly__audit(req, "oauth2_login_failure", NULL, "no email");
        return gly_problem(req, 400, "email-required",
                           "The OpenID provider gave no email address (scope email).");
    }
    if (rc == GLY_EUNIQUE) {
        return gly_problem(req, 409, "conflict", "Another login made this account. Try again.");
    }
    if (rc < 0) {
        return rc;
    }
    if (w.unverified_clash) {
        gly__audit(req, "oauth2_login_failure", NULL, "unverified email of an account");
        return gly_problem(req, 409, "email-taken",
                           "An account with this email exists, and the OpenID provider has not "
                           "verified the address: log in with the password instead.");
    }
    const char *user_id = gly_row_str(w.user, "id").p;
    if (gly_row_bool(w.user, "disabled")) {
        gly__audit(req, "oauth2_login_failure", user_id, "disabled");
        return gly__unauthorized(req, "invalid-credentials", "This account is disabled.");
    }
    gly__audit(req, w.event, user_id, p->name);
    int mfa = gly__mfa_login(req, w.user);
    if (mfa != 0) {
        return mfa < 0 ? mfa : 0;
    }
    return gly__open_session(req, w.user);
}

/* ------------------------------------------------------------------------ */
/* Our own keys: jwt-alg EdDSA or ES256                                     */
/* ------------------------------------------------------------------------ */

/* GET /.well-known/jwks.json: the public key of the access tokens (none for HS256). */
static int do_jwks(gly_req *req)
{
    struct auth *au = gly__auth_of(gly_req_app(req));
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "keys");
    gly_json_arr_begin(&j);
    if (au->key.alg != GLY_JWT_HS256) {
        int rc = gly_jwk_write(&au->key, &j);
        if (rc < 0) {
            return rc;
        }
    }
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    gly_set_header(req, "Cache-Control", "public, max-age=300");
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/jwk-set+json", &b);
}

/* Reads a whole small file into out (cap bytes). */
static int read_file(const char *path, char *out, size_t cap, size_t *n)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        return -errno;
    }
    *n = fread(out, 1, cap, f);
    int rc = ferror(f) ? GLY_EIO : *n == cap ? GLY_E2BIG : 0;
    fclose(f);
    return rc;
}

/* Writes a new key of alg as PEM to path (mode 0600, never over a file that exists). */
static int make_key_file(const char *path, int alg)
{
    gly_jwt_key k;
    int rc = gly_jwt_key_generate(&k, alg, NULL);
    if (rc < 0) {
        return rc;
    }
    gly_buf pem;
    gly_buf_init(&pem, NULL, 0, NULL, 0);
    rc = gly_jwt_key_pem_write(&k, &pem);
    gly_jwt_key_wipe(&k);
    if (rc == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = errno == EEXIST ? 0 : -errno;
        } else {
            ssize_t w = write(fd, pem.p, pem.len);
            rc = w == (ssize_t)pem.len && fsync(fd) == 0 ? 0 : GLY_EIO;
            close(fd);
            if (rc == 0) {
                gly_log_info("made a token key in %s; nodes that share a database need the "
                             "same key (jwt-key-file)",
                             path);
            }
        }
    }
    if (pem.p != NULL) {
        sodium_memzero(pem.p, pem.len);
    }
    gly_buf_dispose(&pem);
    return rc;
}

int gly__load_signing_key(gly_jwt_key *key, const gly_config *cfg)
{
    int alg = strcmp(cfg->jwt_alg, "ES256") == 0 ? GLY_JWT_ES256 : GLY_JWT_EDDSA;
    char path[512];
    if (cfg->jwt_key_file[0]) {
        snprintf(path, sizeof path, "%s", cfg->jwt_key_file);
    } else {
        snprintf(path, sizeof path, "%s/jwt-%s.pem", cfg->data_dir,
                 alg == GLY_JWT_ES256 ? "es256" : "eddsa");
        if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
            return -errno;
        }
        int rc = make_key_file(path, alg);
        if (rc < 0) {
            gly_log_error("cannot make the token key %s: %s", path, gly_strerror(rc));
            return rc;
        }
    }
    char text[16384];
    size_t n = 0;
    int rc = read_file(path, text, sizeof text, &n);
    if (rc == 0 && alg == GLY_JWT_EDDSA && n == 32) {
        rc = gly_jwt_key_eddsa(key, (const unsigned char *)text, NULL); /* a raw seed */
    } else if (rc == 0) {
        rc = gly_jwt_key_pem(key, text, n, NULL);
        if (rc == 0 && key->alg != alg) {
            gly_jwt_key_wipe(key);
            rc = GLY_EINVAL;
        }
    }
    sodium_memzero(text, sizeof text);
    if (rc < 0) {
        gly_log_error("the token key %s is not a PEM private key for %s: %s", path, cfg->jwt_alg,
                      gly_strerror(rc));
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

/* Copies entry value [v, end) into out (cap bytes); false when it does not fit. */
static bool copy_value(const char *v, const char *end, char *out, size_t cap)
{
    size_t n = (size_t)(end - v);
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* Finds the entry NAME=... of a comma list; its value in [*v, *end). */
static bool list_find(const char *list, const char *name, const char **v, const char **end)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        e = e ? e : p + strlen(p);
        if ((size_t)(e - p) > len && strncmp(p, name, len) == 0 && p[len] == '=') {
            *v = p + len + 1;
            *end = e;
            return true;
        }
        p = *e ? e + 1 : e;
    }
    return false;
}

/* Reads oidc-providers and oidc-clients (their shape was checked with the settings). */
static int read_providers(struct oidc *o, const gly_config *cfg)
{
    for (const char *p = cfg->oidc_providers; *p;) {
        const char *e = strchr(p, ','), *eq = strchr(p, '=');
        e = e ? e : p + strlen(p);
        if (o->n == MAX_PROVIDERS) {
            gly_log_error("oidc-providers: more than %d providers", MAX_PROVIDERS);
            return GLY_EINVAL;
        }
        struct provider *pv = &o->p[o->n];
        if (eq == NULL || eq > e || !copy_value(p, eq, pv->name, sizeof pv->name) ||
            !copy_value(eq + 1, e, pv->issuer, sizeof pv->issuer) || !url_allowed(pv->issuer)) {
            gly_log_error("oidc-providers: expected NAME=ISSUER with an https issuer (http only "
                          "on loopback)");
            return GLY_EINVAL;
        }
        for (size_t i = 0; i < o->n; i++) {
            if (strcmp(o->p[i].name, pv->name) == 0) {
                gly_log_error("oidc-providers: %s is named twice", pv->name);
                return GLY_EINVAL;
            }
        }
        const char *v, *ve, *colon;
        if (!list_find(cfg->oidc_clients, pv->name, &v, &ve) ||
            (colon = memchr(v, ':', (size_t)(ve - v))) == NULL ||
            !copy_value(v, colon, pv->client_id, sizeof pv->client_id) ||
            !copy_value(colon + 1, ve, pv->secret, sizeof pv->secret)) {
            gly_log_error("oidc-clients: no CLIENT_ID:CLIENT_SECRET for provider %s", pv->name);
            return GLY_EINVAL;
        }
        size_t base = strlen(cfg->public_url);
        while (base > 0 && cfg->public_url[base - 1] == '/') {
            base--;
        }
        gly_buf b;
        gly_buf_init(&b, pv->redirect_uri, sizeof pv->redirect_uri, NULL, sizeof pv->redirect_uri);
        gly_buf_append(&b, cfg->public_url, base);
        gly_buf_printf(&b, CALLBACK_PATH, pv->name);
        if (gly_buf_cstr(&b) != pv->redirect_uri) {
            gly_log_error("public-url is too long for the OpenID redirect URI");
            return GLY_EINVAL;
        }
        o->n++;
        p = *e ? e + 1 : e;
    }
    return 0;
}

int gly__oidc_init(gly_app *app)
{
    struct auth *au = gly__auth_of(app);
    const gly_config *cfg = gly_app_config(app);
    static const char *const tags[] = {"auth", NULL};
    int rc = gly_db_add_migrations(gly_app_db(app), "auth_oidc", migrations,
                                   sizeof migrations / sizeof migrations[0]);
    if (rc < 0) {
        return rc;
    }
    gly_get(app, "/.well-known/jwks.json", do_jwks);
    gly_route_doc(app, "GET", "/.well-known/jwks.json",
                  &(gly_doc){.summary = "The public keys of the access tokens (EdDSA, ES256)",
                             .tags = tags,
                             .operation_id = "jwks",
                             .response = &jwks_schema});
    au->oidc = calloc(1, sizeof *au->oidc);
    if (au->oidc == NULL) {
        return GLY_ENOMEM;
    }
    if (uv_mutex_init(&au->oidc->lock) != 0) {
        free(au->oidc);
        au->oidc = NULL;
        return GLY_ENOMEM;
    }
    if ((rc = read_providers(au->oidc, cfg)) < 0) {
        return rc;
    }
    if (au->oidc->n > 0) {
        uv_once(&curl_once, curl_init_once);
        if (curl_init_rc != CURLE_OK) {
            gly_log_error("libcurl: %s", curl_easy_strerror(curl_init_rc));
            return GLY_EIO;
        }
    }
    gly_get(app, "/api/v1/auth/oauth2/providers", do_providers);
    gly_route_doc(app, "GET", "/api/v1/auth/oauth2/providers",
                  &(gly_doc){.summary = "The OpenID providers one can log in with",
                             .tags = tags,
                             .operation_id = "oauth2Providers",
                             .response = &providers_schema});
    gly_get(app, "/api/v1/auth/oauth2/:provider/start", do_start);
    gly_route_doc(app, "GET", "/api/v1/auth/oauth2/:provider/start",
                  &(gly_doc){.summary = "Log in with an OpenID provider: 302 to it",
                             .description = "Redirects the browser to the provider's login with "
                                            "PKCE (S256), a state and a nonce. The provider "
                                            "comes back to the callback.",
                             .tags = tags,
                             .operation_id = "oauth2Start",
                             .status = 302});
    gly_get(app, "/api/v1/auth/oauth2/:provider/callback", do_callback);
    return gly_route_doc(
        app, "GET", "/api/v1/auth/oauth2/:provider/callback",
        &(gly_doc){.summary = "Where the OpenID provider returns: access and refresh tokens",
                   .description =
                       "Takes `code` and `state`; answers as a password login does. "
                       "400 for an unknown, spent or expired state or another issuer, 401 when the "
                       "provider's ID token is refused, 409 when an account has the "
                       "email and the provider did not verify it, 502 when the "
                       "provider cannot be reached.",
                   .tags = tags,
                   .operation_id = "oauth2Callback",
                   .response = gly__tokens_schema});
}
