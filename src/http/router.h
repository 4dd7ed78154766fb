/*
 * src/http/router.h - radix-tree router (internal to libgalley).
 *
 * Patterns are absolute paths made of segments separated by '/':
 *   static   "users"         matches the same bytes
 *   param    ":id"           matches one non-empty segment (no '/')
 *   rest     "*path"         only as the last segment; matches the rest of
 *                            the path, possibly empty, '/' included
 * Lookup prefers static over param over rest at each segment and backtracks,
 * so "/users/me" wins over "/users/:id" for "/users/me" and "/users/:id"
 * still matches "/users/42". Matching is on the raw (undecoded) path bytes;
 * params are slices of the path given to gly__router_find().
 *
 * A router maps (method, pattern) to a caller's pointer. Not thread-safe for
 * writes; concurrent lookups on a router that no longer changes are fine.
 */
#ifndef GALLEY_HTTP_ROUTER_H
#define GALLEY_HTTP_ROUTER_H

#include <galley/common.h>

#define GLY_ROUTER_MAX_PARAMS 16

struct gly_router;

struct gly_router_params {
    unsigned n;
    gly_str names[GLY_ROUTER_MAX_PARAMS];  /* without ':' or '*' */
    gly_str values[GLY_ROUTER_MAX_PARAMS]; /* slices of the looked-up path */
};

/* Returns a new empty router, or NULL when out of memory. */
struct gly_router *gly__router_new(void);

/* Frees the router (not the values it maps to). NULL is a no-op. */
void gly__router_free(struct gly_router *r);

/*
 * Maps (method, pattern) to value (not NULL). method is 0..31 (a gly_method).
 * Returns 0; GLY_EEXIST when that method is already mapped for an
 * equivalent pattern; GLY_EINVAL for a malformed pattern (not starting with
 * '/', an empty param name, a rest that is not last, more than
 * GLY_ROUTER_MAX_PARAMS params, or a param name that differs from the one
 * already used at the same place by another pattern, e.g. "/u/:id" then
 * "/u/:uid/x"); GLY_ENOMEM.
 */
int gly__router_add(struct gly_router *r, unsigned method, const char *pattern, void *value);

/*
 * Looks path up for method. Returns the value, with params filled in and
 * *pattern (if not NULL) set to the registered pattern string (owned by the
 * router). The search backtracks until it finds a matching pattern that
 * has method, so "/u/me" for DELETE finds "/u/:id" when only GET is mapped
 * on "/u/me". Returns NULL when no matching pattern has method; *allow (if
 * not NULL) is then the union (bitmask of 1u << method) of the methods of
 * all patterns that match the path, 0 when none matches at all.
 */
void *gly__router_find(const struct gly_router *r, unsigned method, gly_str path,
                       struct gly_router_params *params, unsigned *allow, const char **pattern);

#endif
