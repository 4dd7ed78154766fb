/*
 * galley/validate.h - declarative validation of JSON bodies, query and path
 * parameters, answered as RFC 9457 problem documents with every failing field.
 *
 * A schema is static, plain C data the framework can also turn into a JSON
 * Schema (gly_schema_to_json_schema) for OpenAPI:
 *
 *   static const gly_field user_fields[] = {
 *       GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
 *       GLY_FIELD_STR("name", .min_len = 1, .max_len = 100),
 *       GLY_FIELD_INT("age", .min = 0, .max = 150),
 *       GLY_FIELD_STR("role", .enum_values = (const char *const[]){"admin", "user", NULL}),
 *       GLY_FIELD_STR("slug", .pattern = "^[a-z0-9-]+$"),
 *       GLY_FIELD_END};
 *   static const gly_schema user_schema = {.fields = user_fields, .additional = false};
 *
 *   static int create_user(gly_req *req)
 *   {
 *       gly_jv *body = gly_req_valid_json(req, &user_schema);
 *       if (!body)
 *           return 0;   (already answered 400/415/422)
 *       ...
 *   }
 *
 * The GLY_FIELD_* macros fill in "no bound" defaults (min = -inf, max = +inf,
 * max_len = SIZE_MAX, ...) and then the caller's designated initializers,
 * which override them. That override is intended, so this header turns off
 * the warnings that flag it (GCC -Woverride-init, clang
 * -Winitializer-overrides, both part of -Wextra) for the files including it.
 *
 * Each failing value yields one error: the first failing check in the order
 * type, bounds/length/items, enum, format, pattern.
 */
#ifndef GALLEY_VALIDATE_H
#define GALLEY_VALIDATE_H

#include <math.h>

#include <galley/arena.h>
#include <galley/common.h>
#include <galley/http.h>
#include <galley/json.h>
#include <galley/json_read.h>

#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The JSON type a field requires. GLY_TYPE_END (0) terminates a field array. */
typedef enum gly_type {
    GLY_TYPE_END = 0,
    GLY_TYPE_STRING,
    GLY_TYPE_INTEGER, /* an exact int64: 3, -0, 1e2 are; 1.5 and 2^63 are not */
    GLY_TYPE_NUMBER,  /* any JSON number, as a double */
    GLY_TYPE_BOOLEAN,
    GLY_TYPE_ARRAY,
    GLY_TYPE_OBJECT,
} gly_type;

/* String formats (JSON Schema names in parentheses). */
typedef enum gly_format {
    GLY_FMT_NONE = 0,
    GLY_FMT_EMAIL,     /* ("email") dot-atom local part of at most 64 bytes, '@', a domain
                          of at most 253 bytes with at least one dot (no "user@localhost"),
                          labels of 1..63 letters, digits and inner hyphens; 254 bytes total */
    GLY_FMT_URL,       /* ("uri") absolute http or https URL with a host, optional port
                          1..65535; no spaces, control characters or non-ASCII bytes */
    GLY_FMT_UUID,      /* ("uuid") 8-4-4-4-12 hex digits, any case, any version */
    GLY_FMT_DATE_TIME, /* ("date-time") RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
                          'T'/'Z' in any case, real calendar dates (leap years). A leap second
                          (:60) is accepted only when the time is 23:59 in UTC after applying
                          the offset; the leap second table itself is not consulted */
    GLY_FMT_DATE,      /* ("date") RFC 3339 full-date YYYY-MM-DD, a real calendar date */
} gly_format;

typedef struct gly_schema gly_schema;
typedef struct gly_field gly_field;

/*
 * One field: a member of an object, an array's item description (name
 * ignored), or a query/path parameter. Plain data: read it to introspect.
 * Unused constraints keep the defaults the GLY_FIELD_* macros set; a field
 * written without the macros must set them itself (min -INFINITY, max
 * INFINITY, max_len and max_items SIZE_MAX).
 */
struct gly_field {
    const char *name; /* member or parameter name; NULL for an item description */
    gly_type type;
    bool required;           /* a missing member/parameter is an error ("required") */
    bool nullable;           /* JSON null is accepted (bodies only) */
    const char *description; /* optional, for the JSON Schema output */

    /* integer and number: inclusive bounds; integers are compared exactly */
    double min;
    double max;

    /* string: lengths in Unicode code points (not bytes) */
    size_t min_len;
    size_t max_len;
    const char *pattern;            /* PCRE2, UTF mode, unanchored (anchor it yourself) */
    const char *const *enum_values; /* NULL-terminated list of the allowed strings */
    gly_format format;

    /* array */
    const gly_field *items; /* each element's description (may be NULL: any value) */
    size_t min_items;
    size_t max_items;

    /* object */
    const gly_schema *schema; /* the nested object's schema (NULL: any object) */
};

/*
 * An object schema: fields up to a GLY_FIELD_END entry; additional false
 * rejects other members; partial true makes no member required (the body of
 * a PATCH, with the fields of the create).
 */
struct gly_schema {
    const gly_field *fields;
    bool additional;
    bool partial;
};

#define GLY__FIELD(n, t, ...)                                                                      \
    {                                                                                              \
        .name = (n), .type = (t), .min = -INFINITY, .max = INFINITY, .max_len = SIZE_MAX,          \
        .max_items = SIZE_MAX, __VA_ARGS__                                                         \
    }
#define GLY_FIELD_STR(name, ...)  GLY__FIELD(name, GLY_TYPE_STRING, __VA_ARGS__)
#define GLY_FIELD_INT(name, ...)  GLY__FIELD(name, GLY_TYPE_INTEGER, __VA_ARGS__)
#define GLY_FIELD_NUM(name, ...)  GLY__FIELD(name, GLY_TYPE_NUMBER, __VA_ARGS__)
#define GLY_FIELD_BOOL(name, ...) GLY__FIELD(name, GLY_TYPE_BOOLEAN, __VA_ARGS__)
/* .items = &(const gly_field)GLY_ITEM_STR(.max_len = 20) describes the elements */
#define GLY_FIELD_ARR(name, ...) GLY__FIELD(name, GLY_TYPE_ARRAY, __VA_ARGS__)
/* .schema = &address_schema describes the nested object */
#define GLY_FIELD_OBJ(name, ...) GLY__FIELD(name, GLY_TYPE_OBJECT, __VA_ARGS__)
#define GLY_FIELD_END                                                                              \
    {                                                                                              \
        .name = NULL, .type = GLY_TYPE_END                                                         \
    }

/* Item descriptions for arrays: GLY_ITEM_INT(.min = 1). */
#define GLY_ITEM_STR(...) GLY__FIELD(NULL, GLY_TYPE_STRING, __VA_ARGS__)
#define GLY_ITEM_INT(...) GLY__FIELD(NULL, GLY_TYPE_INTEGER, __VA_ARGS__)
#define GLY_ITEM_NUM(...) GLY__FIELD(NULL, GLY_TYPE_NUMBER, __VA_ARGS__)
#define GLY_ITEM_OBJ(...) GLY__FIELD(NULL, GLY_TYPE_OBJECT, __VA_ARGS__)

/* Errors stored at most; further ones are only counted (total). */
#define GLY_VERRORS_MAX 100

/* One failing value. All strings are NUL-terminated and live in the arena. */
typedef struct gly_verror {
    const char *field;   /* "email", "address.zip", "tags[2]", "query.limit"; "" for the root */
    const char *code;    /* "required", "type", "min", "max", "min_length", "max_length",
                            "pattern", "enum", "format", "unknown_field", "min_items",
                            "max_items" (static) */
    const char *message; /* for humans: "must be at most 150" */
} gly_verror;

/*
 * A list of errors, arena-backed. Read items[0..count) directly; total is
 * count plus the errors dropped past GLY_VERRORS_MAX. err is the first
 * allocation failure (GLY_ENOMEM), sticky.
 */
typedef struct gly_verrors {
    gly_arena *arena;
    gly_verror *items;
    size_t count;
    size_t cap;
    size_t total;
    int err;
} gly_verrors;

/* Starts an empty list whose memory comes from arena (which must outlive it). */
GLY_EXTERN void gly_verrors_init(gly_verrors *errs, gly_arena *arena);

/*
 * Appends an error; field and the formatted message are copied into the
 * arena, code must be a static string. Returns 0 (also when only counted past
 * GLY_VERRORS_MAX) or GLY_ENOMEM (sticky in errs->err). For handlers that add
 * their own checks before answering with gly_problem_verrors().
 */
GLY_EXTERN int gly_verrors_add(gly_verrors *errs, const char *field, const char *code,
                               const char *fmt, ...) GLY_PRINTF(4, 5);

/*
 * Validates doc, which must be an object, against s and appends an error for
 * every failing value (nested objects and array elements included; unknown
 * members when s->additional is false). Returns 0 when the validation ran,
 * whatever it found (check errs->count); GLY_ENOMEM when the arena ran out;
 * GLY_EINVAL for a broken schema (a pattern PCRE2 cannot compile). Patterns
 * are compiled on first use and cached per thread. Thread-safe; no global
 * state besides that cache.
 */
GLY_EXTERN int gly_validate(const gly_schema *s, const gly_jv *doc, gly_verrors *errs);
/*
 * Validates one value v against f (its name ignored), naming it path in the
 * errors: for schemas known only at run time, field by field. Returns as
 * gly_validate().
 */
GLY_EXTERN int gly_validate_value(const gly_field *f, const gly_jv *v, const char *path,
                                  gly_verrors *errs);

/*
 * Validates the text of query parameters (gly_req_query_param) against
 * query_fields and of path parameters (gly_req_param) against path_fields,
 * either may be NULL. Fields are string, integer (decimal, optional '-'),
 * number (decimal, finite) or boolean ("true"/"false"); error paths read
 * "query.limit", "path.id". Returns as gly_validate(); GLY_EINVAL also for an
 * array or object field. Call on the request's worker.
 */
GLY_EXTERN int gly_validate_params(gly_req *req, const gly_field *query_fields,
                                   const gly_field *path_fields, gly_verrors *errs);

/*
 * Answers a problem document with status (400 or 422 normally): type
 * "about:blank", title, status, detail "1 field is invalid" / "N fields are
 * invalid", code "validation-failed", errors [{field, code, message}] and
 * request_id. Returns what the send returned; errs must hold an error.
 */
GLY_EXTERN int gly_problem_verrors(gly_req *req, int status, const gly_verrors *errs);

/* The same document with its own code and detail (a 409 naming the field that conflicts). */
GLY_EXTERN int gly_problem_errors(gly_req *req, int status, const char *code, const char *detail,
                                  const gly_verrors *errs);

/*
 * gly_req_json() then gly_validate() against s. Returns the body, or NULL
 * after answering: 415/400 as gly_req_json() does, 422 Unprocessable Content
 * with every failing field (gly_problem_verrors), 500 for out of memory or a
 * broken schema. A handler that gets NULL returns 0. Call on the worker.
 */
GLY_EXTERN gly_jv *gly_req_valid_json(gly_req *req, const gly_schema *s);

/*
 * gly_validate_params(), answering 400 with every failing parameter
 * (gly_problem_verrors) or 500 and returning false; true when all are valid.
 */
GLY_EXTERN bool gly_req_valid_params(gly_req *req, const gly_field *query_fields,
                                     const gly_field *path_fields);

/*
 * Writes s as a JSON Schema 2020-12 (OpenAPI 3.1) object value with j:
 * type, properties, required, additionalProperties, and per field type
 * (["t", "null"] when nullable), description, minimum, maximum, minLength,
 * maxLength, pattern, enum, format, items, minItems, maxItems. Returns 0 or
 * the writer's error (gly_json_err).
 */
GLY_EXTERN int gly_schema_to_json_schema(const gly_schema *s, gly_json *j);

#ifdef __cplusplus
}
#endif
#endif
