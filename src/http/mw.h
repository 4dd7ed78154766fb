/*
 * src/http/mw.h - the built-in middleware's parts (internal to libgalley):
 * IP and CIDR parsing, the X-Forwarded-For walk, the token bucket and the
 * shared rate-limit table, and the value checks config.c uses.
 *
 * The parts are pure functions over their arguments (time is a parameter),
 * so the unit tests drive them without a server or a clock.
 */
#ifndef GALLEY_HTTP_MW_H
#define GALLEY_HTTP_MW_H

#include <stdbool.h>
#include <stdint.h>

#include <galley/common.h>
#include <galley/http.h>

/* An IP address: fam 4 (a[0..4)) or 6 (a[0..16)). IPv4-mapped IPv6 is stored as IPv4. */
struct gly__ip {
    uint8_t fam;
    uint8_t a[16];
};

/* An address range: ip with the first bits bits significant (0..32 or 0..128). */
struct gly__cidr {
    struct gly__ip ip;
    unsigned bits;
};

/* Parses s[0..n) as an IPv4 or IPv6 literal (no brackets, no port, no zone). */
bool gly__ip_parse(const char *s, size_t n, struct gly__ip *out);

/* Parses a peer as gly_req_peer() writes it: "ip:port" or "[ip6]:port". */
bool gly__peer_parse(const char *peer, struct gly__ip *out);

/* Writes ip as text into out (at least 46 bytes). Returns out. */
const char *gly__ip_format(const struct gly__ip *ip, char *out, size_t outlen);

/*
 * Parses a comma list of IPs and CIDRs ("10.0.0.0/8, ::1"); blanks around
 * items are ignored, an empty list is valid. On success *out (may be NULL to
 * only check) gets a malloc'd array the caller frees and *n its length.
 * Returns 0, GLY_EINVAL with the reason in why, or GLY_ENOMEM.
 */
int gly__cidr_list_parse(const char *list, struct gly__cidr **out, size_t *n, char *why,
                         size_t whylen);

/* True when ip is inside one of list[0..n). An IPv4 range never matches IPv6 and back. */
bool gly__cidr_match(const struct gly__cidr *list, size_t n, const struct gly__ip *ip);

/*
 * The client behind trusted proxies: peer unless it is in trusted; then the
 * X-Forwarded-For values xff[0..nxff) (in the order the fields came; each a
 * comma list) are walked from the right, skipping trusted addresses; the
 * first untrusted one is the client; when all are trusted, the leftmost. An
 * item that is not an IP (or empty) makes the peer the client.
 */
void gly__client_addr(const struct gly__cidr *trusted, size_t ntrusted, const struct gly__ip *peer,
                      const gly_str *xff, size_t nxff, struct gly__ip *out);

/* Installs the client-ip middleware holding the parsed trusted-proxies (when not empty). */
int gly__use_client_ip(gly_app *app);

/* The client's address of req as gly_req_client_ip() finds it; family 0 when unknown. */
void gly__req_client_addr(gly_req *req, struct gly__ip *out);

/* Installs CORS from the app's cors-* settings. */
int gly__use_cors(gly_app *app);

/* Installs the rate limiter of the rate-limit settings (all paths but /health/). */
int gly__use_default_rate_limit(gly_app *app);

/* ---- rate limiting ---------------------------------------------------- */

/* A token bucket. t_ns == 0: new (full). */
struct gly__bucket {
    double tokens;
    uint64_t t_ns;
};

struct gly__rl_verdict {
    bool allowed;
    unsigned limit;       /* the burst */
    unsigned remaining;   /* whole tokens left after this request */
    unsigned reset_s;     /* seconds until the bucket is full again (ceil) */
    unsigned retry_after; /* when refused: seconds until a token is there (>= 1) */
};

/* Refills b to now_ns at rate tokens per second (capped at burst) and takes one token if there. */
void gly__bucket_take(struct gly__bucket *b, double rate, unsigned burst, uint64_t now_ns,
                      struct gly__rl_verdict *v);

/*
 * A table of buckets shared by threads: 64 stripes, each with its own lock,
 * a hash of at most max_keys/64 entries (at least 16) and an LRU list; a new
 * key in a full stripe replaces the stripe's least recently used key.
 */
struct gly__rl_table;

struct gly__rl_table *gly__rl_table_new(unsigned max_keys, uint64_t seed);
void gly__rl_table_free(struct gly__rl_table *t);
/* Takes a token from key's bucket (keys longer than 64 bytes are hashed). Thread-safe. */
void gly__rl_table_take(struct gly__rl_table *t, const void *key, size_t klen, double rate,
                        unsigned burst, uint64_t now_ns, struct gly__rl_verdict *v);
/* Number of keys held (for tests). */
unsigned gly__rl_table_count(struct gly__rl_table *t);

/* ---- setting values (config.c) ------------------------------------------ */

/* Parses "N/s", "N/m", "N/h" (N >= 1), or "off"/"0" (count 0). */
bool gly__rate_parse(const char *s, unsigned *count, unsigned *window_s);

/* Checks cors-origins: "*", or a comma list of origins "scheme://host[:port]". */
bool gly__origins_check(const char *list, char *why, size_t whylen);

/* Checks a comma list of header names (tokens). */
bool gly__header_list_check(const char *list, char *why, size_t whylen);

#endif
