/*
 * galley/json_read.h - JSON reader: strict RFC 8259 text to a tree in an arena.
 *
 * gly_json_parse() reads one JSON text in a single pass with an explicit
 * stack (no recursion) and builds an immutable tree of gly_jv nodes in the
 * caller's arena. It is strict: no BOM, comments, single quotes, trailing
 * commas, NaN/Infinity, leading zeros, '+' signs, unescaped control
 * characters, invalid UTF-8 (overlong forms, encoded surrogates, code points
 * past U+10FFFF, truncated sequences) or unpaired \u surrogates. Duplicate
 * object keys are an error too. Every error reports its byte offset, 1-based
 * line and column, and a precise message.
 *
 * The tree does not point into the input: strings (unescaped) and number
 * texts are copied into the arena, NUL-terminated, so the input may be freed
 * after parsing. Everything lives until the arena is reset or disposed.
 *
 * Request bodies: gly_req_json() checks the Content-Type, parses the body
 * with the default limits and answers 415/400 problem documents itself.
 */
#ifndef GALLEY_JSON_READ_H
#define GALLEY_JSON_READ_H

#include <galley/arena.h>
#include <galley/common.h>
#include <galley/http.h>
#include <galley/json.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The type of a value. GLY_JSON_NONE is what gly_jv_type(NULL) answers (a missing value). */
typedef enum gly_json_type {
    GLY_JSON_NONE = 0,
    GLY_JSON_NULL,
    GLY_JSON_BOOL,
    GLY_JSON_NUMBER,
    GLY_JSON_STRING,
    GLY_JSON_ARRAY,
    GLY_JSON_OBJECT,
} gly_json_type;

/* A node of a parsed tree; read it through the gly_jv_* accessors. */
typedef struct gly_jv gly_jv;

/*
 * Limits for gly_json_parse(). Exceeding one fails with GLY_ELIMIT.
 * max_depth: open arrays/objects at once (0 allows only a scalar document).
 * max_string_bytes: decoded bytes of one string or key (0: no cap).
 * max_items: elements of one array or members of one object (0: no cap).
 * max_bytes: size of the whole input (0: no cap).
 */
typedef struct gly_json_limits {
    unsigned max_depth;
    size_t max_string_bytes;
    size_t max_items;
    size_t max_bytes;
} gly_json_limits;

/*
 * Where and why parsing failed. offset is the byte offset of the offending
 * byte (or of the start of the offending token: a number out of range, a
 * duplicate key, a string over the limit); line and column are 1-based, the
 * column counted in bytes from the start of the line. Lines end at '\n'.
 * msg is a NUL-terminated English sentence fragment such as
 * "expected ':' after object key".
 */
typedef struct gly_json_error {
    size_t offset;
    size_t line;
    size_t column;
    char msg[128];
} gly_json_error;

/* Returns the defaults: depth 64, strings 1 MiB, 1,000,000 items, input 16 MiB. */
GLY_EXTERN gly_json_limits gly_json_limits_default(void);

/*
 * Parses the JSON text p[0..n) (need not be NUL-terminated; never read past
 * n) into a tree allocated from a. lim NULL means gly_json_limits_default().
 * On success sets *out to the root and returns 0. On failure returns
 * GLY_EINVAL (not valid JSON), GLY_ELIMIT (a limit was exceeded) or
 * GLY_ENOMEM (the arena or the heap ran out), leaves *out NULL, and fills
 * err (may be NULL). Memory already taken from the arena on failure stays
 * there until the arena is reset. Scratch memory comes from malloc and is
 * freed before returning. Thread-safe for distinct arenas.
 */
GLY_EXTERN int gly_json_parse(gly_arena *a, const char *p, size_t n, const gly_json_limits *lim,
                              gly_jv **out, gly_json_error *err);

/* Returns the type of v, or GLY_JSON_NONE when v is NULL. */
GLY_EXTERN gly_json_type gly_jv_type(const gly_jv *v);

/* Returns true when v is the literal true; false for anything else (NULL too). */
GLY_EXTERN bool gly_jv_bool(const gly_jv *v);

/*
 * Returns a string's unescaped UTF-8 bytes (NUL-terminated after n; the
 * bytes may contain NUL when the text had \u0000 - compare n, not strlen),
 * or the absent slice when v is not a string.
 */
GLY_EXTERN gly_str gly_jv_str(const gly_jv *v);

/*
 * Stores a number's value in *out and returns true only when it is an
 * integer in int64_t range, exactly: 12, -0, 1e3 and 10.0 are; 1.5, 1e-1,
 * 9223372036854775808 and anything not a number are not (*out untouched).
 */
GLY_EXTERN bool gly_jv_i64(const gly_jv *v, int64_t *out);

/* Returns a number's value (nearest double; never infinite), or 0 when v is not a number. */
GLY_EXTERN double gly_jv_double(const gly_jv *v);

/* Returns a number's text as written (NUL-terminated), or the absent slice for a non-number. */
GLY_EXTERN gly_str gly_jv_num_raw(const gly_jv *v);

/* Returns the count of elements (array) or members (object); 0 for anything else. */
GLY_EXTERN size_t gly_jv_len(const gly_jv *v);

/*
 * Returns element i of an array or the value of member i of an object (in
 * document order), or NULL when i is out of range or v is not a container.
 */
GLY_EXTERN const gly_jv *gly_jv_at(const gly_jv *v, size_t i);

/* Returns the key of member i of an object, or the absent slice. */
GLY_EXTERN gly_str gly_jv_key_at(const gly_jv *v, size_t i);

/*
 * Returns the value of the member with this key (keys are unique), or NULL
 * when there is none or v is not an object. Linear for small objects,
 * hashed for objects of more than 16 members.
 */
GLY_EXTERN const gly_jv *gly_jv_get(const gly_jv *v, const char *key);
GLY_EXTERN const gly_jv *gly_jv_getn(const gly_jv *v, gly_str key);

/*
 * Returns the 1-based line and byte column where v starts in the input
 * (its first byte: the quote, the bracket, the sign); 0 for NULL. Values
 * saturate at UINT32_MAX.
 */
GLY_EXTERN size_t gly_jv_line(const gly_jv *v);
GLY_EXTERN size_t gly_jv_column(const gly_jv *v);

/*
 * Writes the tree v with the writer j (numbers as their original text).
 * Returns 0 or the writer's sticky error (GLY_ELIMIT past
 * GLY_JSON_MAX_DEPTH, buffer errors); GLY_EINVAL when v is NULL.
 */
GLY_EXTERN int gly_json_value(gly_json *j, const gly_jv *v);

/*
 * Parses the body of req as JSON into the request's arena. Requires a
 * Content-Type of application/json or application/<anything>+json, with
 * only charset=utf-8 (any case, may be quoted) as charset parameter. Returns
 * the root, or NULL after answering itself:
 *  - 415 code "unsupported-media-type" for a missing or other Content-Type
 *    or another charset;
 *  - 400 code "invalid-json" for an empty body or invalid JSON, the detail
 *    "invalid JSON at line L, column C: <message>" and members "line",
 *    "column" in the problem document;
 *  - 400 code "json-limit" for a depth, string length or item count limit,
 *    with line and column too;
 *  - 500 when out of memory.
 * A handler that gets NULL simply returns 0. Call on the request's worker.
 */
GLY_EXTERN gly_jv *gly_req_json(gly_req *req);

#ifdef __cplusplus
}
#endif
#endif
