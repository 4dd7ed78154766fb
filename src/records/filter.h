/*
 * src/records/filter.h - the filter language of the records API, compiled
 * to parameterized SQL for SQLite and PostgreSQL.
 *
 * The language is PocketBase's: comparisons joined by && and || with
 * parentheses,
 *
 *     status = "open" && (votes >= 10 || author.name ~ "ann") && tags ?= "c"
 *
 * where an operand is a field path (a field of the collection, or dotted
 * through relations: author.team.name, up to 6 levels), a string ('..' or
 * ".."), a number, true, false, null, @now, @request.auth.<field> or
 * @request.body.<field>. Operators: = != > >= < <= ~ (contains, or LIKE
 * with % when the value holds one) !~, and each with a leading ? (?= ?!=
 * ...) meaning "any element" of a multi-valued side, where the bare
 * operator means "every element".
 *
 * Values never enter the SQL text: each becomes a parameter $N. Field names
 * come only from the schema. The compiler answers a bad filter with the
 * byte position of the error and a message.
 */
#ifndef GALLEY_RECORDS_FILTER_H
#define GALLEY_RECORDS_FILTER_H

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/db.h>
#include <galley/json_read.h>

#include "records/schema.h"

enum flt_dialect { FLT_SQLITE, FLT_PG };

#define FLT_MAX_LEN   4096 /* longer filters are refused unread */
#define FLT_MAX_DEPTH 32   /* nested parentheses */
#define FLT_MAX_TERMS 64   /* comparisons in one filter */
#define FLT_MAX_PATH  6    /* relations a dotted path may cross */

/* One compilation: what it needs, where it writes, and its error. */
struct flt {
    /* in */
    gly_arena *arena; /* for parameters and messages */
    const struct schema *schema;
    const struct coll *coll;
    const char *alias; /* the alias of coll's table in the query ("r") */
    enum flt_dialect dialect;
    const gly_row *auth; /* @request.auth.<field>: its columns; NULL: anonymous ("" / null) */
    const gly_jv *body;  /* @request.body.<field>: a JSON object, or NULL (null) */
    const char *now;     /* @now: "YYYY-MM-DDTHH:MM:SS.sssZ" */
    /*
     * A path through a relation reads only the related records their
     * collection's view rule lets this request see (null: none), as
     * expand does; false for admins. Rules met on the way are compiled
     * with it off (rules are the admins' own text).
     */
    bool path_rules;
    /* out: SQL is appended to sql; parameters to params[nparams..], numbered $nparams+1... */
    gly_buf *sql;
    gly_db_val *params;
    unsigned nparams, cap; /* params grows in arena */
    /* the error, when a call returns GLY_EINVAL */
    size_t err_pos;      /* byte offset into the source */
    const char *err_msg; /* in arena, e.g. "unknown field \"titel\"" */
};

/*
 * Appends src[0..len) as one parenthesized SQL boolean expression over
 * f->alias. An empty (or all-blank) src appends "(1=1)". Returns 0,
 * GLY_EINVAL with err_pos and err_msg set (syntax, unknown or hidden field,
 * a type mismatch the schema shows, limits), or GLY_ENOMEM.
 */
int flt_where(struct flt *f, const char *src, size_t len);

/*
 * A sort: "-created,title" (a leading - for descending, + or nothing for
 * ascending), over sortable fields of the collection (not json, not
 * multi-valued); "@random" too. At most 8 keys. The id is always added
 * as the last key, in the direction of the key before it, so that the
 * order is total and an index ending with the id serves it.
 */
struct flt_key {
    const struct fld *field; /* NULL for @random */
    bool desc;
};
struct flt_sort {
    struct flt_key keys[9];
    unsigned n;
};
int flt_sort_parse(struct flt *f, const char *src, size_t len, struct flt_sort *out);

/* Appends "r."x" DESC, r."id" ASC" (the ORDER BY list, without the words) for s. */
int flt_sort_sql(struct flt *f, const struct flt_sort *s);

/*
 * Appends the keyset condition "rows after the one whose sort key values
 * are vals[0..s->n)" for s (vals as read from that row; the id last), as a
 * parenthesized boolean expression with parameters. GLY_EINVAL for a sort
 * holding @random.
 */
int flt_after_sql(struct flt *f, const struct flt_sort *s, const gly_db_val *vals);

/* Adds a parameter and appends its "$N" to f->sql. */
int flt_param(struct flt *f, gly_db_val v);

#endif
