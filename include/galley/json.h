/*
 * galley/json.h - streaming JSON writer.
 *
 * Writes RFC 8259 JSON straight into a gly_buf, no tree in between. The
 * writer puts the commas and colons itself and checks the nesting: a value
 * where a key is due, a key outside an object, an end that does not match
 * its begin, or nesting past GLY_JSON_MAX_DEPTH sets the sticky error
 * GLY_ESTATE (or GLY_ELIMIT); buffer errors are sticky too. Build the whole
 * document, then check gly_json_err() once.
 *
 * Strings are escaped as gly_buf_json_str() does (invalid UTF-8 becomes
 * U+FFFD). Doubles that are NaN or infinite are written as null.
 */
#ifndef GALLEY_JSON_H
#define GALLEY_JSON_H

#include <galley/buf.h>
#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLY_JSON_MAX_DEPTH 64

typedef struct gly_json {
    gly_buf *b;
    unsigned depth;
    int err;
    bool after_key;     /* a key was written; its value is due */
    uint64_t in_object; /* bit d: level d+1 is an object */
    uint64_t has_items; /* bit d: level d+1 has items (comma due) */
    bool done;          /* a complete top-level value was written */
} gly_json;

/* Starts a document written to b (appended after what b holds). */
GLY_EXTERN void gly_json_init(gly_json *j, gly_buf *b);

GLY_EXTERN int gly_json_obj_begin(gly_json *j);
GLY_EXTERN int gly_json_obj_end(gly_json *j);
GLY_EXTERN int gly_json_arr_begin(gly_json *j);
GLY_EXTERN int gly_json_arr_end(gly_json *j);

/* Writes a member key; the next call writes its value. */
GLY_EXTERN int gly_json_key(gly_json *j, const char *key);
GLY_EXTERN int gly_json_key_str(gly_json *j, gly_str key);

GLY_EXTERN int gly_json_str(gly_json *j, const char *s); /* NULL writes null */
GLY_EXTERN int gly_json_strn(gly_json *j, const char *s, size_t n);
GLY_EXTERN int gly_json_i64(gly_json *j, int64_t v);
GLY_EXTERN int gly_json_u64(gly_json *j, uint64_t v);
GLY_EXTERN int gly_json_double(gly_json *j, double v); /* shortest form that round-trips */
GLY_EXTERN int gly_json_bool(gly_json *j, bool v);
GLY_EXTERN int gly_json_null(gly_json *j);

/* Writes raw, which the caller vouches is one valid JSON value. */
GLY_EXTERN int gly_json_raw(gly_json *j, const char *raw, size_t n);

/*
 * Returns the first error, or GLY_ESTATE when the document is not complete
 * (an object or array still open, or nothing written), or 0.
 */
GLY_EXTERN int gly_json_finish(gly_json *j);

/* Returns the first error so far, or 0. */
static inline int gly_json_err(const gly_json *j)
{
    return j->err ? j->err : j->b->err;
}

#ifdef __cplusplus
}
#endif
#endif
