/*
 * src/records/schema.h - the model of collections, shared by the records
 * module's files (collections.c builds and stores it, records.c serves it,
 * filter.c compiles filters, sorts and rules against it).
 *
 *   struct schema ── colls[] ── struct coll ── fields[] ── struct fld
 *                                    │                          │
 *                                    └── rules[RULE__N]         └── to: the coll a relation points
 * at
 *
 * A schema is immutable once published: a change to the collections makes a
 * new one (the old one lives until the last request using it is done).
 *
 * How each field type is stored (the column is the field's name, the table
 * is the collection's name):
 *
 *   type       SQLite     PostgreSQL        value
 *   text       TEXT       TEXT              "" when empty, never NULL
 *   email/url  TEXT       TEXT              as text
 *   number     REAL       DOUBLE PRECISION  0 when empty
 *   bool       INTEGER    INTEGER           0 or 1
 *   date       TEXT       TEXT              "YYYY-MM-DDTHH:MM:SS.sssZ" (UTC) or ""
 *   autodate   TEXT       TEXT              as date, set by the server
 *   select     TEXT       TEXT              one of values, or ""
 *   select[]   TEXT       JSONB             a JSON array of values (multi)
 *   relation   TEXT       TEXT              an id of `to`, or NULL (a foreign key)
 *   relation[] TEXT       JSONB             a JSON array of ids (multi; no foreign key)
 *   json       TEXT       JSONB             any JSON, or NULL
 *
 * Every collection has the system fields id (15 characters of [a-z0-9]),
 * created and updated (autodate) first. Names of collections and fields
 * match [a-z][a-z0-9_]{0,62}, so they never need escaping beyond the
 * double quotes the SQL writers put around them.
 */
#ifndef GALLEY_RECORDS_SCHEMA_H
#define GALLEY_RECORDS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fld_type {
    FLD_TEXT,
    FLD_NUMBER,
    FLD_BOOL,
    FLD_EMAIL,
    FLD_URL,
    FLD_DATE,
    FLD_SELECT,
    FLD_JSON,
    FLD_RELATION,
    FLD_AUTODATE,
};

enum on_delete { DEL_RESTRICT, DEL_CASCADE, DEL_SET_NULL };

struct coll;

struct fld {
    const char *id; /* 8 characters, stable across renames (names of indexes use it) */
    const char *name;
    enum fld_type type;
    bool system;   /* id, created, updated: set by the server only */
    bool hidden;   /* never shown nor filtered by clients (users.password_hash) */
    bool required; /* not empty: not "", 0 is allowed for numbers, false is not for bools */
    bool unique;
    bool multi; /* select and relation: a JSON array of values */
    /* number: the value; text, email, url: the length in code points; multi: the count */
    bool has_min, has_max;
    double min, max;
    bool integer;        /* number: whole numbers only */
    bool search;         /* text: in the collection's full-text index (q=) */
    const char *pattern; /* text: a PCRE2 pattern the whole value must match, or NULL */
    const char **values; /* select: the allowed values */
    size_t nvalues;
    const char *target;    /* relation: the name of the collection it points at */
    const struct coll *to; /* relation: that collection, resolved */
    enum on_delete on_delete;
    const char *def;           /* the default as JSON text, or NULL */
    bool on_create, on_update; /* autodate: set when the record is created / updated */
};

enum rule_op { RULE_LIST, RULE_VIEW, RULE_CREATE, RULE_UPDATE, RULE_DELETE, RULE__N };

struct coll {
    const char *id;   /* 15 characters, stable across renames */
    const char *name; /* the table's name too */
    bool system;      /* "users": its system fields belong to the auth module */
    struct fld *fields;
    size_t nfields; /* id, created, updated first */
    /*
     * The access rule of each operation, in the filter language: NULL means
     * superusers and admins only, "" everyone, anything else a condition
     * on the record and @request (see filter.h).
     */
    const char *rules[RULE__N];
    struct coll_index *indexes;
    size_t nindexes;
    const char *created, *updated; /* of the definition */
    /* the columns of its records, in field order without hidden ones, as SQL: made once
     * when the schema is built (rec_columns), "id", ... and r."id", ... */
    const char *cols, *cols_r;
};

/* An index a collection asks for, beside the ones of unique and relation fields. */
struct coll_index {
    const char **fields; /* names of the collection's fields */
    size_t nfields;
    bool unique;
};

struct schema {
    struct coll **colls;
    size_t ncolls;
    uint64_t version; /* counts up with every change */
};

/* The collection or the field named name[0..n), or NULL. */
const struct coll *schema_find(const struct schema *s, const char *name, size_t n);
const struct fld *coll_field(const struct coll *c, const char *name, size_t n);

#endif
