/*
 * galley/records.h - collections defined at run time and the REST API over
 * them: what makes `galley serve` a backend with no code to write.
 *
 *   POST   /api/v1/collections                       define one (collections:write)
 *   GET    /api/v1/collections[/{name}]              read definitions (collections:read)
 *   PATCH  /api/v1/collections/{name}                change it, keeping the records
 *   DELETE /api/v1/collections/{name}                drop it
 *   GET    /api/v1/collections/{name}/records        filter, sort, page, after, fields
 *   POST   /api/v1/collections/{name}/records        201 + Location
 *   GET    /api/v1/collections/{name}/records/{id}   ETag, If-None-Match
 *   PATCH  /api/v1/collections/{name}/records/{id}   If-Match
 *   DELETE /api/v1/collections/{name}/records/{id}   204
 *
 * Each collection's access rules are written in the filter language and run
 * inside the SQL. docs/api.md has the walk-through, docs/filter.md the
 * language.
 */
#ifndef GALLEY_RECORDS_H
#define GALLEY_RECORDS_H

#include <galley/buf.h>
#include <galley/http.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Installs collections and records on app: the migrations of the "records"
 * module (after gly_db_new() and gly_auth_use(), before gly_db_open()) and
 * the routes. Returns 0 or a negative code with the reason logged.
 */
GLY_EXTERN int gly_records_use(gly_app *app);

/*
 * galley schema export: appends {"collections": [definitions...]} and a
 * newline to out. After gly_db_open(), before gly_run(). Returns 0 or an
 * error with the reason in out.
 */
GLY_EXTERN int gly_records_export(gly_app *app, gly_buf *out);

/*
 * galley schema import FILE: makes the collections of text[0..len) (an
 * export, or a bare array of definitions) exist as written, in one
 * transaction: each is matched to a stored one by id, else by name, and
 * created or changed (keeping its records); with delete_missing, stored
 * collections the file does not list are dropped. Appends one line per
 * collection to report ("created posts", "changed tags", "unchanged x",
 * "deleted y"), or the problems found; nothing is changed then. Returns 0,
 * GLY_EINVAL (the file's problems) or another error.
 */
GLY_EXTERN int gly_records_import(gly_app *app, const char *text, size_t len, bool delete_missing,
                                  gly_buf *report);

#ifdef __cplusplus
}
#endif
#endif
