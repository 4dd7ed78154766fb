/*
 * src/redis/internal.h - the Redis client's private parts: the RESP2 codec
 * (resp.c) that the client (redis.c), the unit tests and the fuzz target use.
 *
 * Reading a reply is two steps over the bytes received so far, in the manner
 * of picohttpparser: gly__resp_scan() tells whether a whole reply is there
 * and how long it is, without allocating; gly__resp_build() then makes the
 * reply tree of exactly those bytes in an arena. A reply that arrives in
 * pieces is scanned again from its start as more comes.
 */
#ifndef GALLEY_REDIS_INTERNAL_H
#define GALLEY_REDIS_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/redis.h>

#define RESP_DEPTH_MAX 16                    /* arrays nested in arrays */
#define RESP_LINE_MAX  (64 * 1024)           /* a status or error line */
#define RESP_BULK_MAX  (512ll * 1024 * 1024) /* a bulk string (Redis's proto-max-bulk-len) */
#define RESP_ARRAY_MAX (64ll * 1024 * 1024)  /* elements of one array */

/*
 * Scans the reply that starts at p[0 .. n). Returns its length in bytes
 * (> 0), 0 when the bytes end before it does, GLY_EPROTO when they are not
 * RESP2, or GLY_ELIMIT past one of the RESP_* limits. Reads nothing past
 * p + n.
 */
ssize_t gly__resp_scan(const char *p, size_t n);

/*
 * Builds the reply of p[0 .. n), n being what gly__resp_scan() returned for
 * p, in arena a (strings copied, NUL-terminated). Returns 0 with *out, or
 * GLY_ENOMEM.
 */
int gly__resp_build(gly_arena *a, const char *p, size_t n, gly_redis_reply **out);

/* Appends the command argv[0 .. argc) as a RESP array of bulk strings. Returns b's error. */
int gly__resp_command(gly_buf *b, unsigned argc, const gly_str *argv);

#endif
