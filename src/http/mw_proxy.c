/*
 * src/http/mw_proxy.c - the client's address behind trusted proxies.
 *
 * The parsed trusted-proxies list lives in the context of a middleware that
 * does nothing but call gly_next(); gly_use_defaults() installs it only when
 * the setting is not empty. gly_req_client_ip() finds that context through
 * the application's chain (a handful of pointer compares), so there is no
 * global state and no per-request cost unless someone asks for the client.
 * The answer is not cached per request (a request has no slot for it): the
 * walk is a few inet_pton() calls, and the rate limiter calls it once.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <galley/middleware.h>

#include "http/internal.h"
#include "http/mw.h"

#define IP_TEXT_MAX 64 /* longer is not an address; INET6_ADDRSTRLEN is 46 */

bool gly__ip_parse(const char *s, size_t n, struct gly__ip *out)
{
    char buf[IP_TEXT_MAX];

    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->a) == 1) {
        out->fam = 4;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->a) != 1)
        return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->a, mapped, sizeof mapped) == 0) {
        memmove(out->a, out->a + 12, 4);
        memset(out->a + 4, 0, 12);
        out->fam = 4;
    } else {
        out->fam = 6;
    }
    return true;
}

bool gly__peer_parse(const char *peer, struct gly__ip *out)
{
    if (peer[0] == '[') {
        const char *close = strchr(peer, ']');
        return close && gly__ip_parse(peer + 1, (size_t)(close - peer - 1), out);
    }
    const char *colon = strrchr(peer, ':');
    return gly__ip_parse(peer, colon ? (size_t)(colon - peer) : strlen(peer), out);
}

const char *gly__ip_format(const struct gly__ip *ip, char *out, size_t outlen)
{
    if (!inet_ntop(ip->fam == 4 ? AF_INET : AF_INET6, ip->a, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
    return out;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks around s[0..*n); returns the new start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n && is_blank(*s)) {
        s++;
        (*n)--;
    }
    while (*n && is_blank(s[*n - 1]))
        (*n)--;
    return s;
}

static bool cidr_parse(const char *s, size_t n, struct gly__cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t iplen = slash ? (size_t)(slash - s) : n;

    if (!gly__ip_parse(s, iplen, &out->ip))
        return false;
    /* an IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) is the IPv4 range it maps */
    bool mapped = out->ip.fam == 4 && memchr(s, ':', iplen);
    unsigned max = out->ip.fam == 4 && !mapped ? 32 : 128;
    out->bits = max;
    if (slash) {
        const char *d = slash + 1, *end = s + n;
        unsigned v = 0;
        if (d == end || end - d > 3)
            return false;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return false;
            v = v * 10 + (unsigned)(*d - '0');
        }
        if (v > max || (mapped && v < 96))
            return false;
        out->bits = v;
    }
    if (mapped)
        out->bits -= 96;
    return true;
}

int gly__cidr_list_parse(const char *list, struct gly__cidr **out, size_t *n, char *why,
                         size_t whylen)
{
    size_t count = 0, cap = 0;
    struct gly__cidr *arr = NULL, one;
    const char *p = list;
    int rc = 0;

    while (*p) {
        size_t len = strcspn(p, ",");
        const char *item = trim(p, &len);
        if (len == 0) {
            snprintf(why, whylen, "empty item in the list");
            rc = GLY_EINVAL;
            goto done;
        }
        if (!cidr_parse(item, len, &one)) {
            snprintf(why, whylen, "\"%.*s\" is not an IP address or CIDR range",
                     (int)(len > 48 ? 48 : len), item);
            rc = GLY_EINVAL;
            goto done;
        }
        if (out) {
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                struct gly__cidr *na = realloc(arr, cap * sizeof *na);
                if (!na) {
                    rc = GLY_ENOMEM;
                    goto done;
                }
                arr = na;
            }
            arr[count] = one;
        }
        count++;
        p += strcspn(p, ",");
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                snprintf(why, whylen, "empty item in the list");
                rc = GLY_EINVAL;
                goto done;
            }
        }
    }
done:
    if (rc < 0) {
        free(arr);
        arr = NULL;
        count = 0;
    }
    if (out)
        *out = arr;
    if (n)
        *n = count;
    return rc;
}

static bool cidr_contains(const struct gly__cidr *c, const struct gly__ip *ip)
{
    unsigned whole = c->bits / 8, rest = c->bits % 8;

    if (c->ip.fam != ip->fam)
        return false;
    if (memcmp(c->ip.a, ip->a, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->ip.a[whole] & mask) == (ip->a[whole] & mask);
}

bool gly__cidr_match(const struct gly__cidr *list, size_t n, const struct gly__ip *ip)
{
    for (size_t i = 0; i < n; i++)
        if (cidr_contains(&list[i], ip))
            return true;
    return false;
}

void gly__client_addr(const struct gly__cidr *trusted, size_t ntrusted, const struct gly__ip *peer,
                      const gly_str *xff, size_t nxff, struct gly__ip *out)
{
    struct gly__ip cur = *peer;

    *out = *peer;
    if (!gly__cidr_match(trusted, ntrusted, &cur))
        return;
    for (size_t f = nxff; f-- > 0;) {
        const char *s = xff[f].p;
        size_t end = xff[f].n;
        for (;;) {
            /* the item is s[start..end), after the last comma before end */
            size_t start = end;
            while (start > 0 && s[start - 1] != ',')
                start--;
            size_t len = end - start;
            const char *item = trim(s + start, &len);
            if (!gly__ip_parse(item, len, &cur))
                return; /* garbage (or an empty item): trust none of it, keep the peer */
            if (!gly__cidr_match(trusted, ntrusted, &cur)) {
                *out = cur;
                return;
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    /* every hop is trusted: the leftmost is the client */
    *out = cur;
}

/* The client-ip middleware: only a holder for the parsed list. */
struct proxies {
    struct gly__cidr *list;
    size_t n;
};

static int client_ip_mw(gly_req *req)
{
    return gly_next(req);
}

static void proxies_free(void *p)
{
    struct proxies *px = p;
    if (px) {
        free(px->list);
        free(px);
    }
}

int gly__use_client_ip(gly_app *app)
{
    char why[160];
    struct proxies *px = calloc(1, sizeof *px);

    if (!px)
        return GLY_ENOMEM;
    if (!memchr(app->cfg.trusted_proxies, '\0', sizeof app->cfg.trusted_proxies)) {
        free(px);
        return GLY_EINVAL;
    }
    int rc = gly__cidr_list_parse(app->cfg.trusted_proxies, &px->list, &px->n, why, sizeof why);
    if (rc < 0) {
        proxies_free(px);
        return rc;
    }
    return gly_use_ctx(app, client_ip_mw, px, proxies_free);
}

static const struct proxies *find_proxies(const gly_app *app)
{
    for (unsigned i = 0; i < app->nmw; i++)
        if (app->mw[i].fn == client_ip_mw)
            return app->mw[i].ctx;
    return NULL;
}

/* The X-Forwarded-For fields of req, in order, in the arena; *n gets their number. */
static gly_str *xff_fields(gly_req *req, size_t *n)
{
    unsigned count = gly_req_header_count(req), k = 0;
    gly_str *out = NULL, name, value;

    *n = 0;
    for (unsigned i = 0; i < count; i++) {
        gly_req_header_at(req, i, &name, &value);
        if (name.n == 15 && strncasecmp(name.p, "x-forwarded-for", 15) == 0) {
            if (!out && !(out = gly_alloc(req, (count - i) * sizeof *out)))
                return NULL;
            out[k++] = value;
        }
    }
    *n = k;
    return out;
}

void gly__req_client_addr(gly_req *req, struct gly__ip *out)
{
    struct gly__ip peer;
    const struct proxies *px = find_proxies(req->app);
    size_t nxff = 0;
    gly_str *xff;

    if (!gly__peer_parse(gly_req_peer(req), &peer))
        memset(&peer, 0, sizeof peer); /* no address (a closed socket): all zero, family 0 */
    if (!px || !gly__cidr_match(px->list, px->n, &peer)) {
        *out = peer;
        return;
    }
    xff = xff_fields(req, &nxff);
    gly__client_addr(px->list, px->n, &peer, xff, nxff, out);
}

const char *gly_req_client_ip(gly_req *req)
{
    struct gly__ip ip;
    char *text = gly_alloc(req, 48);

    if (!text)
        return "?";
    gly__req_client_addr(req, &ip);
    if (ip.fam == 0)
        return "?";
    return gly__ip_format(&ip, text, 48);
}
