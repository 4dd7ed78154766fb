/*
 * galley/middleware.h - the built-in middleware: client IP behind trusted
 * proxies, security headers, CORS and rate limiting.
 *
 * gly_app_new_config() calls gly_use_defaults(), so an application gets the
 * middleware its settings enable (see docs/config.md) before any middleware
 * it adds itself. A feature that is off installs nothing and costs nothing.
 */
#ifndef GALLEY_MIDDLEWARE_H
#define GALLEY_MIDDLEWARE_H

#include <galley/common.h>
#include <galley/http.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Installs, in this order, the middleware that the application's
 * configuration enables: client IP (trusted-proxies), security headers
 * (security-headers, hsts), CORS (cors-*) and the rate limiter (rate-limit,
 * rate-limit-burst; /health/ is exempt). Call it once, before the
 * application's own middleware; gly_app_new_config() does. Returns 0,
 * GLY_EINVAL for a setting that does not parse (gly__config_check() would
 * have refused it) or GLY_ENOMEM; a failure is also kept for gly_run().
 */
GLY_EXTERN int gly_use_defaults(gly_app *app);

/*
 * The client's IP address as text ("203.0.113.7", "2001:db8::1"), without a
 * port. It is the peer's address, unless the peer is one of the
 * trusted-proxies: then X-Forwarded-For is read from the right, trusted
 * proxies are skipped, and the first other address is the client. A value
 * that is not an IP address (or empty) makes the peer the client.
 * The text is in the request's arena; computed on each call (no middleware
 * runs for it). Returns "?" when out of memory.
 */
GLY_EXTERN const char *gly_req_client_ip(gly_req *req);

/*
 * Rate limiting: a token bucket per key. Each request takes one token; the
 * bucket holds at most burst tokens and refills at rate_per_sec. When it is
 * empty the request is answered 429 (problem code "rate-limited") with
 * Retry-After. Every response of a limited request carries
 * RateLimit-Limit (burst), RateLimit-Remaining (tokens left) and
 * RateLimit-Reset (seconds until the bucket is full again).
 *
 * key: NULL keys by client IP (gly_req_client_ip(); an IPv6 client by its
 * /64). Otherwise key(req, key_arg) returns the key (a user id, an API key);
 * an absent slice means "key by client IP". Keys longer than 64 bytes are
 * reduced to a hash. prefix: only paths starting with it are limited (NULL or
 * "" for all; the default limiter exempts /health/). max_keys bounds memory
 * (0: 100000); past it the least recently used keys are forgotten.
 */
typedef gly_str (*gly_rate_limit_key)(gly_req *req, void *key_arg);

typedef struct gly_rate_limit_opts {
    double rate_per_sec;    /* > 0 */
    unsigned burst;         /* >= 1 */
    const char *prefix;     /* copied */
    gly_rate_limit_key key; /* NULL: client IP */
    void *key_arg;
    unsigned max_keys;
} gly_rate_limit_opts;

/*
 * Appends a rate limiter to the middleware chain (so a service can add a
 * stricter limit for a prefix such as "/api/v1/auth/"; limiters stack). The
 * limiter's table is shared by all workers (64 locked stripes). Returns 0,
 * GLY_EINVAL for bad options, GLY_ENOMEM.
 */
GLY_EXTERN int gly_use_rate_limit(gly_app *app, const gly_rate_limit_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
