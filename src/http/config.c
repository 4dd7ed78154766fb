/*
 * src/http/config.c - settings from defaults, GALLEY_* variables and flags.
 *
 * One table describes every setting: name, type, field, bounds, default (as
 * text) and a line of help. gly_config_init() parses the default texts, so
 * the defaults and the usage cannot disagree; gly_config_set(), the
 * environment, the flags, the usage and gly__config_check() all walk the
 * same table.
 *
 * A value is parsed completely before it is stored, so a failed
 * gly_config_set() leaves the config as it was. gly_config_from_env() and
 * gly_config_from_args() work on a copy and store it only when every value
 * was good: a failure changes nothing.
 */
#include "http/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include <galley/buf.h>
#include <galley/http.h>
#include <galley/json.h>
#include <galley/log.h>

#include "http/mw.h"
#include "http/parser.h"

#define KIB    ((uint64_t)1 << 10)
#define MIB    ((uint64_t)1 << 20)
#define GIB    ((uint64_t)1 << 30)
#define TIB    ((uint64_t)1 << 40)
#define SECOND ((uint64_t)1000)
#define MINUTE (60 * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

#define HTTP_CAP sizeof(((gly_config *)0)->http)

/* Numeric fields are stored through fixed-width copies; see store_num(). */
_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned fields are 32 bits");
_Static_assert(sizeof(size_t) == sizeof(uint32_t) || sizeof(size_t) == sizeof(uint64_t),
               "size_t fields are 32 or 64 bits");

enum type {
    T_ADDR,   /* "host:port" in char http[] */
    T_PORT,   /* flag only: the port part of http */
    T_UINT,   /* a plain integer */
    T_SIZE,   /* bytes; K, M, G, T suffixes (1024-based) */
    T_MS,     /* milliseconds; ms, s, m suffixes */
    T_LEVEL,  /* a log level name */
    T_BOOL,   /* on/off, true/false, yes/no, 1/0 */
    T_STR,    /* text in a char array, checked by the setting's check() */
    T_RATE,   /* "N/s", "N/m", "N/h" or "off" into rate_limit and rate_limit_window_s */
    T_SECRET, /* a T_STR never shown: errors and galley config redact it */
};

struct setting {
    const char *name; /* lower case, '-' between words */
    enum type type;
    size_t off;        /* of the field in gly_config */
    size_t size;       /* of the field */
    uint64_t min, max; /* T_UINT, T_SIZE, T_MS */
    const char *arg;   /* placeholder in the usage */
    const char *def;   /* the default as text; NULL for --port */
    const char *help;  /* one line for the usage */
    bool (*check)(const char *value, char *why, size_t whylen); /* T_STR */
};

#define FIELD(f) offsetof(gly_config, f), sizeof(((gly_config *)0)->f)

static bool proxies_check(const char *value, char *why, size_t whylen);
static bool dburl_check(const char *value, char *why, size_t whylen);
static bool dir_check(const char *value, char *why, size_t whylen);
static bool jwt_secret_check(const char *value, char *why, size_t whylen);
static bool smtp_check(const char *value, char *why, size_t whylen);
static bool jwt_alg_check(const char *value, char *why, size_t whylen);
static bool oidc_list_check(const char *value, char *why, size_t whylen);
static bool redisurl_check(const char *value, char *why, size_t whylen);

static const struct setting settings[] = {
    {"http", T_ADDR, FIELD(http), 0, 0, "HOST:PORT", "127.0.0.1:8090",
     "listen address: IPv4, [IPv6] or host name; port 0 = any", NULL},
    {"port", T_PORT, FIELD(http), 0, 65535, "N", NULL, "port of --http, keeping its host", NULL},
    {"workers", T_UINT, FIELD(workers), 0, 1024, "N", "0", "worker threads; 0 = one per CPU", NULL},
    {"max-request-line", T_SIZE, FIELD(max_request_line), 256, MIB, "SIZE", "8K",
     "longest request line; 414 past it", NULL},
    {"max-head", T_SIZE, FIELD(max_head), KIB, 16 * MIB, "SIZE", "64K",
     "largest request head, >= --max-request-line; 431 past it", NULL},
    {"max-headers", T_UINT, FIELD(max_headers), 1, GLY_HTTP_MAX_HEADERS, "N", "100",
     "most header fields in a request; 431 past it", NULL},
    {"max-body", T_SIZE, FIELD(max_body), 0, TIB, "SIZE", "10M",
     "largest request body, routes may override; 413 past it", NULL},
    {"header-timeout", T_MS, FIELD(header_timeout_ms), 1, DAY, "TIME", "10s",
     "time to receive a request head; 408 past it", NULL},
    {"idle-timeout", T_MS, FIELD(idle_timeout_ms), 1, DAY, "TIME", "60s",
     "idle time allowed between requests on a connection", NULL},
    {"body-timeout", T_MS, FIELD(body_timeout_ms), 1, DAY, "TIME", "30s",
     "time allowed between body bytes; 408 past it", NULL},
    {"write-timeout", T_MS, FIELD(write_timeout_ms), 1, DAY, "TIME", "30s",
     "time allowed without progress writing a response", NULL},
    {"shutdown-timeout", T_MS, FIELD(shutdown_timeout_ms), 0, DAY, "TIME", "10s",
     "time in-flight requests get at a graceful stop", NULL},
    {"coro-stack", T_SIZE, FIELD(coro_stack), 16 * KIB, 8 * MIB, "SIZE", "128K",
     "usable stack of each handler coroutine", NULL},
    {"backlog", T_UINT, FIELD(backlog), 1, 65535, "N", "1024", "listen(2) backlog", NULL},
    {"log-level", T_LEVEL, FIELD(log_level), 0, 0, "LEVEL", "info",
     "debug, info, warn, error or off", NULL},
    {"access-log", T_BOOL, FIELD(access_log), 0, 0, NULL, "on", "one JSON log line per response",
     NULL},
    {"request-id", T_BOOL, FIELD(request_id), 0, 0, NULL, "on",
     "honour or generate X-Request-Id and echo it", NULL},
    {"trusted-proxies", T_STR, FIELD(trusted_proxies), 0, 0, "LIST", "",
     "comma list of proxy IPs/CIDRs whose X-Forwarded-For is believed", proxies_check},
    {"security-headers", T_BOOL, FIELD(security_headers), 0, 0, NULL, "on",
     "nosniff, X-Frame-Options, Referrer-Policy, CSP, CORP on every response", NULL},
    {"hsts", T_BOOL, FIELD(hsts), 0, 0, NULL, "off",
     "Strict-Transport-Security too (with --security-headers; only behind TLS)", NULL},
    {"cors-origins", T_STR, FIELD(cors_origins), 0, 0, "LIST", "",
     "CORS: \"*\" or a comma list of exact origins; empty = CORS off", gly__origins_check},
    {"cors-credentials", T_BOOL, FIELD(cors_credentials), 0, 0, NULL, "off",
     "CORS: Access-Control-Allow-Credentials (not with \"*\")", NULL},
    {"cors-max-age", T_UINT, FIELD(cors_max_age), 0, 86400, "SECONDS", "600",
     "CORS: how long a browser may cache a preflight", NULL},
    {"cors-headers", T_STR, FIELD(cors_headers), 0, 0, "LIST",
     "Content-Type, Authorization, X-Request-Id, X-API-Key",
     "CORS: request headers a preflight may ask for", gly__header_list_check},
    {"cors-expose", T_STR, FIELD(cors_expose), 0, 0, "LIST", "X-Request-Id",
     "CORS: response headers scripts may read", gly__header_list_check},
    {"rate-limit", T_RATE, FIELD(rate_limit), 0, 0, "N/UNIT", "off",
     "requests per client IP: N/s, N/m or N/h (429 past it); off", NULL},
    {"rate-limit-burst", T_UINT, FIELD(rate_limit_burst), 0, 1000000, "N", "0",
     "rate limit bucket size; 0 = the N of --rate-limit", NULL},
    {"config", T_STR, FIELD(config), 0, 0, "FILE", "",
     "JSON settings file, read before GALLEY_* variables and flags", NULL},
    {"data", T_STR, FIELD(data_dir), 0, 0, "DIR", "galley_data",
     "data directory (the SQLite database data.db)", dir_check},
    {"database-url", T_SECRET, FIELD(database_url), 0, 0, "URL", "",
     "postgres://user:pass@host/db (also --db); none = SQLite in --data", dburl_check},
    {"db-sync", T_BOOL, FIELD(db_sync_full), 0, 0, NULL, "on",
     "SQLite synchronous=FULL (off: NORMAL, faster, may lose the last commits on power loss)",
     NULL},
    {"db-timeout", T_MS, FIELD(db_timeout_ms), 1, DAY, "TIME", "5s", "time limit of one query",
     NULL},
    {"db-cache", T_SIZE, FIELD(db_cache), 64 * KIB, 64 * GIB, "SIZE", "64M",
     "SQLite page cache of each connection (a reader per worker, the writer)", NULL},
    {"db-mmap", T_SIZE, FIELD(db_mmap), 0, 1024 * GIB, "SIZE", "256M",
     "SQLite reads the database through mmap up to this size (0 = read())", NULL},
    {"db-pool-min", T_UINT, FIELD(db_pool_min), 0, 256, "N", "1",
     "PostgreSQL connections per worker kept open", NULL},
    {"db-pool-max", T_UINT, FIELD(db_pool_max), 1, 256, "N", "4",
     "PostgreSQL connections per worker at most", NULL},
    {"db-wait", T_MS, FIELD(db_wait_ms), 0, DAY, "TIME", "2s",
     "how long a request waits for a database connection (then 503)", NULL},
    {"migrate", T_BOOL, FIELD(migrate), 0, 0, NULL, "on", "apply pending migrations at start",
     NULL},
    {"redis-url", T_SECRET, FIELD(redis_url), 0, 0, "URL", "",
     "redis://[:pass@]host[:port][/db]: revocations across nodes; none = no Redis", redisurl_check},
    {"redis-timeout", T_MS, FIELD(redis_timeout_ms), 1, MINUTE, "TIME", "2s",
     "time limit of a Redis command or connection attempt (then 503)", NULL},
    {"jwt-secret", T_SECRET, FIELD(jwt_secret), 0, 0, "TEXT", "",
     "HS256 key of the access tokens, 32+ bytes; none: --jwt-secret-file, else DATA/jwt.key",
     jwt_secret_check},
    {"jwt-secret-file", T_STR, FIELD(jwt_secret_file), 0, 0, "FILE", "",
     "file holding the HS256 key of the access tokens", NULL},
    {"jwt-issuer", T_STR, FIELD(jwt_issuer), 0, 0, "TEXT", "galley", "iss of the access tokens",
     NULL},
    {"jwt-audience", T_STR, FIELD(jwt_audience), 0, 0, "TEXT", "galley", "aud of the access tokens",
     NULL},
    {"jwt-alg", T_STR, FIELD(jwt_alg), 0, 0, "ALG", "HS256",
     "algorithm of the access tokens: HS256, EdDSA or ES256 (keys at /.well-known/jwks.json)",
     jwt_alg_check},
    {"jwt-key-file", T_STR, FIELD(jwt_key_file), 0, 0, "FILE", "",
     "PEM private key of jwt-alg EdDSA/ES256 (or an Ed25519 seed); none: DATA/jwt-ALG.pem", NULL},
    {"oidc-providers", T_STR, FIELD(oidc_providers), 0, 0, "LIST", "",
     "OpenID Connect login: comma list of NAME=ISSUER_URL (https, or http on loopback)",
     oidc_list_check},
    {"oidc-clients", T_SECRET, FIELD(oidc_clients), 0, 0, "LIST", "",
     "comma list of NAME=CLIENT_ID:CLIENT_SECRET, one per oidc-providers entry", oidc_list_check},
    {"access-ttl", T_MS, FIELD(access_ttl_ms), SECOND, DAY, "TIME", "15m",
     "lifetime of an access token", NULL},
    {"refresh-ttl", T_MS, FIELD(refresh_ttl_ms), MINUTE, 49 * DAY, "TIME", "30d",
     "lifetime of a refresh token (rotated on every use)", NULL},
    {"argon2-memory", T_SIZE, FIELD(argon2_memory), 19 * MIB, 4 * GIB, "SIZE", "19M",
     "argon2id memory per password hash (OWASP: at least 19M)", NULL},
    {"argon2-time", T_UINT, FIELD(argon2_time), 2, 100, "N", "2", "argon2id passes", NULL},
    {"login-delay-after", T_UINT, FIELD(login_delay_after), 1, 1000, "N", "3",
     "failed logins of an account (or 10x of an IP) before each attempt is delayed", NULL},
    {"login-lock-after", T_UINT, FIELD(login_lock_after), 1, 10000, "N", "10",
     "failed logins that lock an account (or 10x an IP) for login-lock-time", NULL},
    {"login-lock-time", T_MS, FIELD(login_lock_ms), SECOND, DAY, "TIME", "15m",
     "how long a login lock lasts (429 with Retry-After)", NULL},
    {"session-cache", T_MS, FIELD(session_cache_ms), 0, MINUTE, "TIME", "2s",
     "how long a worker trusts a session it checked (revocations on other nodes take this "
     "long); 0 = ask the database on every request",
     NULL},
    {"smtp-url", T_SECRET, FIELD(smtp_url), 0, 0, "URL", "",
     "smtp[s]://[user:pass@]host[:port] for outgoing email; none = files in DATA/mail", smtp_check},
    {"mail-from", T_STR, FIELD(mail_from), 0, 0, "TEXT", "Galley <no-reply@localhost>",
     "the From of outgoing email", NULL},
    {"public-url", T_STR, FIELD(public_url), 0, 0, "URL", "http://127.0.0.1:8090",
     "the public base URL, for links in emails", NULL},
    {"hash-concurrency", T_UINT, FIELD(hash_concurrency), 0, 1024, "N", "0",
     "password hashes at once; 0 = the CPUs but one (more wait, then 503)", NULL},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

struct unit {
    const char *name;
    uint64_t mult;
};

/* Suffixes accepted (case-insensitive), and the ones used to show a value, largest first. */
static bool proxies_check(const char *value, char *why, size_t whylen)
{
    return gly__cidr_list_parse(value, NULL, NULL, why, whylen) == 0;
}

static bool dburl_check(const char *value, char *why, size_t whylen)
{
    if (!*value || strncmp(value, "postgres://", 11) == 0 ||
        strncmp(value, "postgresql://", 13) == 0)
        return true;
    snprintf(why, whylen, "expected postgres://... or postgresql://..., or none for SQLite");
    return false;
}

static bool smtp_check(const char *value, char *why, size_t whylen)
{
    if (!*value || strncmp(value, "smtp://", 7) == 0 || strncmp(value, "smtps://", 8) == 0)
        return true;
    snprintf(why, whylen, "expected smtp://... or smtps://..., or none");
    return false;
}

static bool redisurl_check(const char *value, char *why, size_t whylen)
{
    if (!*value || strncmp(value, "redis://", 8) == 0)
        return true;
    snprintf(why, whylen, "expected redis://[:password@]host[:port][/db], or none");
    return false;
}

/*
 * oidc-providers and oidc-clients: NAME=VALUE entries, comma separated, NAME
 * of [a-z0-9_-] (it is a path segment of the login routes). The auth module
 * reads the values (auth/oidc.c); this is only their shape.
 */
static bool oidc_list_check(const char *value, char *why, size_t whylen)
{
    for (const char *p = value; *p;) {
        const char *end = strchr(p, ','), *eq = strchr(p, '=');
        if (!end)
            end = p + strlen(p);
        if (!eq || eq >= end || eq == p || eq + 1 == end || eq - p > 32) {
            snprintf(why, whylen, "expected NAME=VALUE entries separated by commas");
            return false;
        }
        for (const char *c = p; c < eq; c++) {
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
                snprintf(why, whylen, "a NAME is 1 to 32 of a-z, 0-9, _ and -");
                return false;
            }
        }
        p = *end ? end + 1 : end;
    }
    return true;
}

static bool jwt_alg_check(const char *value, char *why, size_t whylen)
{
    if (strcmp(value, "HS256") == 0 || strcmp(value, "EdDSA") == 0 || strcmp(value, "ES256") == 0)
        return true;
    snprintf(why, whylen, "expected HS256, EdDSA or ES256");
    return false;
}

static bool jwt_secret_check(const char *value, char *why, size_t whylen)
{
    if (!*value || strlen(value) >= 32)
        return true;
    snprintf(why, whylen, "expected at least 32 bytes");
    return false;
}

static bool dir_check(const char *value, char *why, size_t whylen)
{
    if (*value)
        return true;
    snprintf(why, whylen, "expected a directory");
    return false;
}

/*
 * Writes a database URL with its password replaced by "***": the one in
 * "user:password@" and any "password=" parameter.
 */
static const char *redact_url(const char *url, char out[1024])
{
    size_t o = 0, n = strlen(url);
    const char *at = strchr(url, '@');
    const char *scheme = strstr(url, "://");
    const char *colon = scheme ? memchr(scheme + 3, ':', (size_t)(at ? at - scheme - 3 : 0)) : NULL;
    for (size_t i = 0; i < n && o < 1000;) {
        if (colon && url + i == colon + 1) {
            o += (size_t)snprintf(out + o, 1024 - o, "***");
            i = (size_t)(at - url);
            continue;
        }
        if ((i == 0 || url[i - 1] == '?' || url[i - 1] == '&' || url[i - 1] == ' ') &&
            strncmp(url + i, "password=", 9) == 0) {
            o += (size_t)snprintf(out + o, 1024 - o, "password=***");
            i += 9;
            while (i < n && url[i] != '&' && url[i] != ' ')
                i++;
            continue;
        }
        out[o++] = url[i++];
    }
    out[o] = '\0';
    return out;
}

static const struct unit size_units[] = {{"", 1},      {"k", KIB}, {"kib", KIB}, {"m", MIB},
                                         {"mib", MIB}, {"g", GIB}, {"gib", GIB}, {"t", TIB},
                                         {"tib", TIB}, {NULL, 0}};
static const struct unit size_shown[] = {{"T", TIB}, {"G", GIB}, {"M", MIB},
                                         {"K", KIB}, {"", 1},    {NULL, 0}};
static const struct unit time_units[] = {{"", 1},     {"ms", 1},  {"s", SECOND}, {"m", MINUTE},
                                         {"h", HOUR}, {"d", DAY}, {NULL, 0}};
static const struct unit time_shown[] = {{"d", DAY},    {"h", HOUR}, {"m", MINUTE},
                                         {"s", SECOND}, {"ms", 1},   {NULL, 0}};
static const struct unit no_units[] = {{"", 1}, {NULL, 0}};

static const struct unit *units_of(enum type t)
{
    return t == T_SIZE ? size_units : t == T_MS ? time_units : no_units;
}

static void say(char *err, size_t errlen, const char *fmt, ...) GLY_PRINTF(3, 4);

static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * Copies s[0..n) into out (72 bytes) for an error message. The message must
 * stay one line whatever a variable or argument held: control bytes become
 * '?' and long text is cut with "...".
 */
static const char *printable(char out[72], const char *s, size_t n)
{
    size_t i, max = 64;

    for (i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (i < n) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Compares name[0..n) with a table name: '_' is '-', and with fold, case is ignored. */
static bool name_eq(const char *name, size_t n, const char *canon, bool fold)
{
    for (size_t i = 0; i < n; i++) {
        char c = name[i] == '_' ? '-' : name[i];
        if (fold && c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != canon[i]) {
            return false;
        }
    }
    return canon[n] == '\0';
}

static const struct setting *find(const char *name, size_t n, bool fold)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (name_eq(name, n, settings[i].name, fold)) {
            return &settings[i];
        }
    }
    if (name_eq(name, n, "db", fold)) {
        return find("database-url", 12, false); /* the short flag, --db URL */
    }
    return NULL;
}

/* Parses decimal digits at *sp, moving past them. False for no digit or overflow. */
static bool parse_digits(const char **sp, uint64_t *v)
{
    const char *s = *sp;
    uint64_t n = 0;

    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *sp = s;
    *v = n;
    return true;
}

/* Parses digits and an optional suffix from units. No sign, no space. */
static bool parse_scaled(const char *s, const struct unit *units, uint64_t *v)
{
    uint64_t n;

    if (!parse_digits(&s, &n)) {
        return false;
    }
    for (const struct unit *u = units; u->name; u++) {
        if (strcasecmp(s, u->name) == 0) {
            if (n > UINT64_MAX / u->mult) {
                return false;
            }
            *v = n * u->mult;
            return true;
        }
    }
    return false;
}

/* Writes v with the largest unit that divides it exactly ("8K", "1440m", "0ms"). */
static const char *show_scaled(char out[32], uint64_t v, const struct unit *shown)
{
    const struct unit *u = shown;

    while (u[1].name && (v == 0 || v % u->mult != 0)) {
        u++;
    }
    snprintf(out, 32, "%" PRIu64 "%s", v / u->mult, u->name);
    return out;
}

static bool parse_bool(const char *s, bool *v)
{
    static const char *const words[][2] = {
        {"off", "on"}, {"false", "true"}, {"no", "yes"}, {"0", "1"}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        for (int b = 0; b < 2; b++) {
            if (strcasecmp(s, words[i][b]) == 0) {
                *v = b;
                return true;
            }
        }
    }
    return false;
}

/* Parses a whole string as a port 0..65535. */
static bool parse_port(const char *s, unsigned *port)
{
    uint64_t v;

    if (!parse_digits(&s, &v) || *s != '\0' || v > 65535) {
        return false;
    }
    *port = (unsigned)v;
    return true;
}

/* Returns NULL when host[0..n) is an IPv4 literal or a host name, else what is wrong. */
static const char *host_problem(const char *host, size_t n)
{
    char buf[HTTP_CAP];
    struct in_addr a4;
    size_t label = 0;

    if (n == 0) {
        return "missing host";
    }
    if (memchr(host, ':', n)) {
        return "an IPv6 address needs brackets: [ADDR]:PORT";
    }
    if (strspn(host, "0123456789.") >= n) {
        /* All digits and dots: no top-level domain is numeric, so it must be IPv4. */
        assert(n < sizeof(buf));
        memcpy(buf, host, n);
        buf[n] = '\0';
        return inet_pton(AF_INET, buf, &a4) == 1 ? NULL : "not an IPv4 address";
    }
    if (n > 253) {
        return "host name longer than 253 bytes";
    }
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? host[i] : '.';
        if (c == '.') {
            if (label == 0 || host[i - 1] == '-' || label > 63) {
                return "not a valid host name";
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            label++;
        } else {
            return "not a valid host name";
        }
    }
    return NULL;
}

/* Returns NULL when addr is a valid listen address for http, else what is wrong. */
static const char *addr_problem(const char *addr)
{
    char buf[HTTP_CAP];
    struct in6_addr a6;
    const char *colon, *problem;
    unsigned port;
    size_t len = strlen(addr);

    if (len >= HTTP_CAP) {
        return "longer than 127 bytes";
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') {
            return "expected [IPv6]:PORT";
        }
        memcpy(buf, addr + 1, (size_t)(close - addr - 1));
        buf[close - addr - 1] = '\0';
        if (inet_pton(AF_INET6, buf, &a6) != 1) {
            return "not an IPv6 address";
        }
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            return "expected HOST:PORT";
        }
        problem = host_problem(addr, (size_t)(colon - addr));
        if (problem) {
            return problem;
        }
    }
    if (!parse_port(colon + 1, &port)) {
        return "expected a port 0..65535 after the last ':'";
    }
    return NULL;
}

/* Describes the values s accepts ("expected an integer 0..1024"). */
static const char *expected(const struct setting *s, char *out, size_t n)
{
    char lo[32], hi[32];

    switch (s->type) {
    case T_ADDR:
        snprintf(out, n, "expected HOST:PORT");
        break;
    case T_PORT:
        snprintf(out, n, "expected a port 0..65535");
        break;
    case T_UINT:
        snprintf(out, n, "expected an integer %" PRIu64 "..%" PRIu64, s->min, s->max);
        break;
    case T_SIZE:
        snprintf(out, n, "expected a size %s..%s; suffixes K, M, G, T",
                 show_scaled(lo, s->min, size_shown), show_scaled(hi, s->max, size_shown));
        break;
    case T_MS:
        snprintf(out, n, "expected a time %s..%s; suffixes ms, s, m, h, d; plain numbers are ms",
                 show_scaled(lo, s->min, time_shown), show_scaled(hi, s->max, time_shown));
        break;
    case T_LEVEL:
        snprintf(out, n, "expected debug, info, warn, error or off");
        break;
    case T_BOOL:
        snprintf(out, n, "expected on/off, true/false, yes/no or 1/0");
        break;
    case T_STR:
    case T_SECRET:
        snprintf(out, n, "expected text of at most %zu bytes", s->size - 1);
        break;
    case T_RATE:
        snprintf(out, n, "expected N/s, N/m or N/h with N >= 1, or off");
        break;
    }
    return out;
}

static void store_num(gly_config *cfg, const struct setting *s, uint64_t v)
{
    char *p = (char *)cfg + s->off;

    if (s->size == sizeof(uint32_t)) {
        uint32_t v32 = (uint32_t)v;
        assert(v <= UINT32_MAX);
        memcpy(p, &v32, sizeof(v32));
    } else {
        assert(s->size == sizeof(uint64_t));
        memcpy(p, &v, sizeof(v));
    }
}

static uint64_t load_num(const gly_config *cfg, const struct setting *s)
{
    const char *p = (const char *)cfg + s->off;
    uint32_t v32;
    uint64_t v;

    if (s->size == sizeof(uint32_t)) {
        memcpy(&v32, p, sizeof(v32));
        return v32;
    }
    assert(s->size == sizeof(uint64_t));
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Replaces the port of cfg->http, keeping everything up to its last ':'. */
static bool set_port(gly_config *cfg, const char *value, char *why, size_t whylen)
{
    char buf[HTTP_CAP];
    unsigned port;
    size_t hostlen = strnlen(cfg->http, HTTP_CAP);
    const char *colon = memrchr(cfg->http, ':', hostlen);

    if (!parse_port(value, &port)) {
        snprintf(why, whylen, "expected a port 0..65535");
        return false;
    }
    if (colon) {
        hostlen = (size_t)(colon - cfg->http);
    }
    if (snprintf(buf, sizeof(buf), "%.*s:%u", (int)hostlen, cfg->http, port) >= (int)sizeof(buf)) {
        snprintf(why, whylen, "--http would be longer than 127 bytes");
        return false;
    }
    memcpy(cfg->http, buf, sizeof(buf));
    return true;
}

/* Parses value for s and stores it in cfg. False with the reason in why (cfg untouched). */
static bool apply(gly_config *cfg, const struct setting *s, const char *value, char *why,
                  size_t whylen)
{
    const char *problem;
    uint64_t v;
    bool b;
    int level;

    switch (s->type) {
    case T_ADDR:
        problem = addr_problem(value);
        if (problem) {
            snprintf(why, whylen, "%s", problem);
            return false;
        }
        memcpy(cfg->http, value, strlen(value) + 1);
        return true;
    case T_PORT:
        return set_port(cfg, value, why, whylen);
    case T_UINT:
    case T_SIZE:
    case T_MS:
        if (!parse_scaled(value, units_of(s->type), &v)) {
            break;
        }
        if (v < s->min || v > s->max) {
            break;
        }
        store_num(cfg, s, v);
        return true;
    case T_LEVEL:
        level = gly_log_level_parse(value);
        if (level < 0) {
            break;
        }
        cfg->log_level = level;
        return true;
    case T_BOOL:
        if (!parse_bool(value, &b)) {
            break;
        }
        memcpy((char *)cfg + s->off, &b, sizeof(b));
        return true;
    case T_STR:
    case T_SECRET:
        if (strlen(value) >= s->size) {
            break;
        }
        if (s->check && !s->check(value, why, whylen)) {
            return false;
        }
        memcpy((char *)cfg + s->off, value, strlen(value) + 1);
        return true;
    case T_RATE: {
        unsigned count, window;
        if (!gly__rate_parse(value, &count, &window)) {
            break;
        }
        cfg->rate_limit = count;
        cfg->rate_limit_window_s = window;
        return true;
    }
    }
    expected(s, why, whylen);
    return false;
}

/* Applies value to s. shown is how the caller named it ("--workers", "GALLEY_WORKERS"). */
static int set_one(gly_config *cfg, const struct setting *s, const char *shown, const char *value,
                   char *err, size_t errlen)
{
    char why[160], vbuf[72];

    if (value == NULL) {
        say(err, errlen, "missing value for %s", shown);
        return GLY_EINVAL;
    }
    if (!apply(cfg, s, value, why, sizeof(why))) {
        say(err, errlen, "invalid value for %s: \"%s\" (%s)", shown,
            s->type == T_SECRET ? "(redacted)" : printable(vbuf, value, strlen(value)), why);
        return GLY_EINVAL;
    }
    return 0;
}

void gly_config_init(gly_config *cfg)
{
    char why[160];

    assert(cfg);
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].def) {
            bool ok = apply(cfg, &settings[i], settings[i].def, why, sizeof(why));
            assert(ok && "a default in the settings table does not parse");
            (void)ok;
        }
    }
}

int gly_config_set(gly_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct setting *s;
    char shown[40], nbuf[72];

    assert(cfg && name);
    s = find(name, strlen(name), false);
    if (s == NULL || s->type == T_PORT) {
        say(err, errlen, "unknown setting \"%s\"", printable(nbuf, name, strlen(name)));
        return GLY_ENOENT;
    }
    snprintf(shown, sizeof(shown), "--%s", s->name);
    return set_one(cfg, s, shown, value, err, errlen);
}

/* Reads environ: call it before threads that may setenv() start. */
int gly_config_from_env(gly_config *cfg, char *err, size_t errlen)
{
    static const char prefix[] = "GALLEY_";
    gly_config tmp = *cfg;

    for (char **e = environ; e && *e; e++) {
        const char *var = *e, *name = var + sizeof(prefix) - 1, *eq;
        const struct setting *s;
        char shown[40];
        int rc;

        if (strncmp(var, prefix, sizeof(prefix) - 1) != 0 || (eq = strchr(name, '=')) == NULL) {
            continue;
        }
        s = find(name, (size_t)(eq - name), true);
        if (s == NULL || s->type == T_PORT) {
            continue; /* GALLEY_DATABASE_URL and the like belong to other parts */
        }
        snprintf(shown, sizeof(shown), "%.*s", (int)(eq - var), var);
        rc = set_one(&tmp, s, shown, eq + 1, err, errlen);
        if (rc) {
            return rc;
        }
    }
    *cfg = tmp;
    return 0;
}

/*
 * Applies the flag at argv[i]. Returns how many arguments it used (1 or 2),
 * or a GLY_E* code. A bare boolean flag is on and "--no-NAME" is off;
 * "--NAME WORD" gives a boolean the value WORD only when WORD is a boolean
 * word, so "--access-log serve" leaves "serve" to the program.
 */
static int one_flag(gly_config *cfg, int argc, char **argv, int i, char *err, size_t errlen)
{
    const char *arg = argv[i], *name = arg + 2, *eq, *value = NULL, *next;
    const struct setting *s;
    int used = 1, rc;
    size_t n;
    char shown[72];
    bool b;

    if (arg[1] != '-') {
        say(err, errlen, "unknown flag %s", printable(shown, arg, strlen(arg)));
        return GLY_ENOENT;
    }
    eq = strchr(name, '=');
    n = eq ? (size_t)(eq - name) : strlen(name);
    printable(shown, arg, n + 2);
    if (eq) {
        value = eq + 1;
    }
    s = find(name, n, false);
    if (s == NULL && n > 3 && name_eq(name, 3, "no-", false)) {
        s = find(name + 3, n - 3, false);
        if (s == NULL || s->type != T_BOOL) {
            s = NULL;
        } else if (value) {
            say(err, errlen, "%s takes no value", shown);
            return GLY_EINVAL;
        } else {
            value = "off";
        }
    }
    if (s == NULL) {
        say(err, errlen, "unknown flag %s", shown);
        return GLY_ENOENT;
    }
    if (value == NULL && i + 1 < argc) {
        next = argv[i + 1];
        if (s->type == T_BOOL ? parse_bool(next, &b) : !(next[0] == '-' && next[1] == '-')) {
            value = next;
            used = 2;
        }
    }
    if (value == NULL && s->type == T_BOOL) {
        value = "on";
    }
    rc = set_one(cfg, s, shown, value, err, errlen);
    return rc ? rc : used;
}

int gly_config_from_args(gly_config *cfg, int argc, char **argv, int *rest, char *err,
                         size_t errlen)
{
    gly_config tmp = *cfg;
    int i = 0, rc = 0;

    while (i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            break; /* a word (or "-"): the program's own arguments start here */
        }
        rc = one_flag(&tmp, argc, argv, i, err, errlen);
        if (rc < 0) {
            goto done; /* *rest is the bad flag's index */
        }
        i += rc;
        rc = 0;
    }
    *cfg = tmp;
done:
    if (rest) {
        *rest = i;
    }
    return rc;
}

/* Writes the flag as the usage shows it ("--workers N", "--[no-]access-log"); returns its length.
 */
static int usage_flag(const struct setting *s, char out[64])
{
    if (s->type == T_BOOL) {
        return snprintf(out, 64, "--[no-]%s", s->name);
    }
    return snprintf(out, 64, "--%s %s", s->name, s->arg);
}

int gly_config_usage(gly_buf *buf)
{
    char flag[64], env[32];
    int width = 0;

    for (size_t i = 0; i < NSETTINGS; i++) {
        int n = usage_flag(&settings[i], flag);
        width = n > width ? n : width;
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        size_t j;

        usage_flag(s, flag);
        gly_buf_printf(buf, "  %-*s  %s", width, flag, s->help);
        if (s->def) {
            for (j = 0; s->name[j] && j < sizeof(env) - 1; j++) {
                char c = s->name[j];
                env[j] = c == '-' ? '_' : (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            }
            env[j] = '\0';
            gly_buf_printf(buf, " (default %s, env GALLEY_%s)", s->def[0] ? s->def : "none", env);
        }
        gly_buf_putc(buf, '\n');
    }
    return gly_buf_err(buf);
}

int gly__config_check(const gly_config *cfg, char *err, size_t errlen)
{
    char why[160], a[32], b[32], vbuf[72];
    const char *problem;
    uint64_t v;

    assert(cfg);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];

        switch (s->type) {
        case T_ADDR:
            if (memchr(cfg->http, '\0', HTTP_CAP) == NULL) {
                say(err, errlen, "--http is not NUL-terminated");
                return GLY_EINVAL;
            }
            problem = addr_problem(cfg->http);
            if (problem) {
                say(err, errlen, "invalid --http \"%s\" (%s)",
                    printable(vbuf, cfg->http, strlen(cfg->http)), problem);
                return GLY_EINVAL;
            }
            break;
        case T_UINT:
        case T_SIZE:
        case T_MS:
            v = load_num(cfg, s);
            if (v < s->min || v > s->max) {
                say(err, errlen, "--%s is %" PRIu64 " (%s)", s->name, v,
                    expected(s, why, sizeof(why)));
                return GLY_EINVAL;
            }
            break;
        case T_LEVEL:
            if (cfg->log_level < GLY_LOG_DEBUG || cfg->log_level > GLY_LOG_OFF) {
                say(err, errlen, "--log-level is %d (%s)", cfg->log_level,
                    expected(s, why, sizeof(why)));
                return GLY_EINVAL;
            }
            break;
        case T_STR:
        case T_SECRET: {
            const char *text = (const char *)cfg + s->off;
            if (memchr(text, '\0', s->size) == NULL) {
                say(err, errlen, "--%s is not NUL-terminated", s->name);
                return GLY_EINVAL;
            }
            if (s->check && !s->check(text, why, sizeof(why))) {
                say(err, errlen, "invalid --%s \"%s\" (%s)", s->name,
                    s->type == T_SECRET ? "(redacted)" : printable(vbuf, text, strlen(text)), why);
                return GLY_EINVAL;
            }
            break;
        }
        case T_RATE:
            if (cfg->rate_limit > 0 && cfg->rate_limit_window_s != 1 &&
                cfg->rate_limit_window_s != 60 && cfg->rate_limit_window_s != 3600) {
                say(err, errlen, "--rate-limit window is %u s (expected 1, 60 or 3600)",
                    cfg->rate_limit_window_s);
                return GLY_EINVAL;
            }
            break;
        case T_PORT:
        case T_BOOL:
            break;
        }
    }
    if (cfg->cors_credentials && strcmp(cfg->cors_origins, "*") == 0) {
        say(err, errlen,
            "--cors-origins \"*\" cannot be used with --cors-credentials "
            "(list the origins instead)");
        return GLY_EINVAL;
    }
    if (cfg->max_head < cfg->max_request_line) {
        say(err, errlen, "--max-head %s is less than --max-request-line %s",
            show_scaled(a, cfg->max_head, size_shown),
            show_scaled(b, cfg->max_request_line, size_shown));
        return GLY_EINVAL;
    }
    return 0;
}

/* Writes the value of s in cfg the way a flag would take it. */
static const char *show_value(const gly_config *cfg, const struct setting *s, char out[1024])
{
    const char *field = (const char *)cfg + s->off;
    bool b;

    switch (s->type) {
    case T_ADDR:
    case T_STR:
        return field;
    case T_SECRET:
        /* a URL keeps all but its password; any other secret shows as *** */
        return strstr(field, "://") ? redact_url(field, out) : *field ? "***" : "";
    case T_PORT:
        return "";
    case T_UINT:
        snprintf(out, 1024, "%" PRIu64, load_num(cfg, s));
        return out;
    case T_SIZE:
    case T_MS:
        return show_scaled(out, load_num(cfg, s), s->type == T_SIZE ? size_shown : time_shown);
    case T_LEVEL:
        return gly_log_level_name(cfg->log_level);
    case T_BOOL:
        memcpy(&b, field, sizeof(b));
        return b ? "on" : "off";
    case T_RATE:
        if (cfg->rate_limit == 0)
            return "off";
        snprintf(out, 1024, "%u/%s", cfg->rate_limit,
                 cfg->rate_limit_window_s == 1    ? "s"
                 : cfg->rate_limit_window_s == 60 ? "m"
                                                  : "h");
        return out;
    }
    return "";
}

int gly_config_dump(const gly_config *cfg, gly_buf *out)
{
    gly_json j;
    char tmp[1024];

    gly_json_init(&j, out);
    gly_json_obj_begin(&j);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->type == T_PORT || strcmp(s->name, "config") == 0)
            continue; /* part of http; and a file cannot name a file */
        gly_json_key(&j, s->name);
        gly_json_str(&j, show_value(cfg, s, tmp));
    }
    gly_json_obj_end(&j);
    return gly_json_finish(&j);
}
