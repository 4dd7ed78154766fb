/*
 * galley/openapi.h - route documentation, GET /openapi.json and GET /docs.
 *
 * Every application answers GET /openapi.json with an OpenAPI 3.1 document
 * generated from its routes, and GET /docs with Swagger UI (built into the
 * library: the page and its assets come from the binary, no CDN), pointed at
 * /openapi.json. A route appears in the document as soon as it is added;
 * gly_route_doc() adds a summary, tags and the like.
 *
 * In the document a pattern's ":name" and "*name" both become "{name}". A
 * "*name" parameter matches the rest of the path, '/' included, which an
 * OpenAPI path template cannot express; its description says so.
 *
 * Every operation answers "200" (OK) and a "default" error response, an
 * RFC 9457 problem document (components/schemas/Problem), as every
 * framework error is.
 *
 * Schemas: a gly_doc may name the request body's schema and the response's
 * (galley/validate.h); the document then carries them as JSON Schema 2020-12,
 * the dialect of OpenAPI 3.1, so generated clients are typed. The schema a
 * handler validates with (gly_req_valid_json) is the one to document.
 */
#ifndef GALLEY_OPENAPI_H
#define GALLEY_OPENAPI_H

#include <galley/common.h>
#include <galley/http.h>
#include <galley/json.h>
#include <galley/validate.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Documentation of one route. Every member may be NULL (or false): absent. */
typedef struct gly_doc {
    const char *summary;      /* one line */
    const char *description;  /* CommonMark */
    const char *const *tags;  /* NULL-terminated; groups operations in /docs */
    const char *operation_id; /* unique among the routes */
    bool deprecated;
    const gly_schema *request;  /* the JSON body it accepts (requestBody); NULL: none */
    const gly_schema *response; /* the JSON body of its success answer; NULL: not described */
    int status;                 /* the success status (0: 200; 201 for a create, ...) */
} gly_doc;

/*
 * Documents the route (method, pattern) added before with gly_route(); the
 * pattern must be spelled as it was added. The strings are copied; a second
 * call replaces what the first set. Call before gly_run() only.
 *
 * Returns 0; GLY_ENOENT when there is no such route; GLY_EINVAL for a NULL
 * argument; GLY_EEXIST when operation_id is already used by another route;
 * GLY_ENOMEM.
 */
GLY_EXTERN int gly_route_doc(gly_app *app, const char *method, const char *pattern,
                             const gly_doc *doc);

/*
 * A route and its documentation, for modules with many: a table of these
 * and one gly_routes() call replace a gly_route() and a gly_route_doc() per
 * route.
 */
typedef struct gly_route_def {
    const char *method; /* "GET", "POST", ... */
    const char *pattern;
    gly_handler handler;
    gly_doc doc;
} gly_route_def;

/* Adds and documents defs[0..n). Returns 0 or the first error (see the two calls). */
GLY_EXTERN int gly_routes(gly_app *app, const gly_route_def *defs, size_t n);

/*
 * Sets the document's info object. title defaults to "Galley API" and
 * version to gly_version(); description (CommonMark) is absent by default.
 * NULL keeps the current value. The strings are copied. Call before gly_run()
 * only. Returns 0 or GLY_ENOMEM (nothing changed then).
 */
GLY_EXTERN int gly_openapi_info(gly_app *app, const char *title, const char *version,
                                const char *description);

/*
 * A module's part of the document, written each time the document is asked
 * for (for routes that exist only at run time, as the records of each
 * collection): paths(req, j, ctx) writes members of "paths" (a key, then
 * its path item object), schemas(req, j, ctx) members of
 * "components.schemas". Either may be NULL. They return 0 or an error; one
 * that answered the request itself (a 503) returns 1.
 */
typedef struct gly_openapi_part {
    int (*paths)(gly_req *req, gly_json *j, void *ctx);
    int (*schemas)(gly_req *req, gly_json *j, void *ctx);
    void *ctx;
} gly_openapi_part;

/* Adds part (copied) to the document; before gly_run() only. 0, or GLY_ELIMIT past 4 parts. */
GLY_EXTERN int gly_openapi_extend(gly_app *app, const gly_openapi_part *part);

#ifdef __cplusplus
}
#endif
#endif
