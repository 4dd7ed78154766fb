/*
 * galley/buf.h - byte buffer builder.
 *
 * A gly_buf grows from an optional seed (a stack array, say) into heap or
 * arena memory up to a hard cap. Errors are sticky: once an append fails
 * (out of memory, or past the cap) every later append is a no-op and
 * gly_buf_err() reports the first failure, so a caller builds a whole
 * document and checks once at the end (the way sqlite3_str works).
 */
#ifndef GALLEY_BUF_H
#define GALLEY_BUF_H

#include <stdarg.h>

#include <galley/arena.h>
#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A builder. Embed by value; read p and len directly, change them only through the calls. */
typedef struct gly_buf {
    char *p;          /* the bytes; NUL-terminated after gly_buf_cstr() */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes available at p */
    size_t max;       /* hard cap on len (0: SIZE_MAX / 2) */
    gly_arena *arena; /* grow from this arena; NULL: malloc */
    int err;          /* first error (GLY_ENOMEM or GLY_E2BIG), sticky */
    bool owned;       /* p was allocated by the buffer (heap or arena), not the seed */
} gly_buf;

/*
 * Initializes b. seed (may be NULL) of seed_cap bytes is used first and never
 * freed. arena (may be NULL) provides growth memory instead of malloc. max caps
 * the length (0: no cap beyond SIZE_MAX / 2).
 */
GLY_EXTERN void gly_buf_init(gly_buf *b, char *seed, size_t seed_cap, gly_arena *arena, size_t max);

/* Frees heap memory the buffer owns; b may be initialized again. */
GLY_EXTERN void gly_buf_dispose(gly_buf *b);

/* Forgets the content, keeps the memory and clears the error. */
GLY_EXTERN void gly_buf_clear(gly_buf *b);

/*
 * Makes room for n more bytes and returns a pointer to them (the caller
 * writes, then calls gly_buf_commit(b, used)). NULL on error (sticky).
 */
GLY_EXTERN char *gly_buf_reserve(gly_buf *b, size_t n);

/* Marks n bytes written at the pointer gly_buf_reserve() returned. */
static inline void gly_buf_commit(gly_buf *b, size_t n)
{
    b->len += n;
}

/* Appends n bytes. Returns 0 or the sticky error. */
GLY_EXTERN int gly_buf_append(gly_buf *b, const void *p, size_t n);

/* Appends a slice, a C string, one byte. Return as gly_buf_append(). */
GLY_EXTERN int gly_buf_append_str(gly_buf *b, gly_str s);
GLY_EXTERN int gly_buf_puts(gly_buf *b, const char *s);
GLY_EXTERN int gly_buf_putc(gly_buf *b, char c);

/* Appends a decimal integer. */
GLY_EXTERN int gly_buf_put_i64(gly_buf *b, int64_t v);
GLY_EXTERN int gly_buf_put_u64(gly_buf *b, uint64_t v);

/* Appends formatted text. */
GLY_EXTERN int gly_buf_printf(gly_buf *b, const char *fmt, ...) GLY_PRINTF(2, 3);
GLY_EXTERN int gly_buf_vprintf(gly_buf *b, const char *fmt, va_list ap) GLY_PRINTF(2, 0);

/* NUL-terminates (not counted in len) and returns p, or NULL on error. */
GLY_EXTERN const char *gly_buf_cstr(gly_buf *b);

/* Returns the first error, or 0. */
static inline int gly_buf_err(const gly_buf *b)
{
    return b->err;
}

/* Returns the content as a slice. */
static inline gly_str gly_buf_str(const gly_buf *b)
{
    gly_str s = {b->p, b->len};
    return s;
}

/*
 * Appends s[0..n) as a quoted JSON string (RFC 8259): '"', '\\' and control
 * characters escaped (\n, \t, ... or \u00XX), DEL and U+2028/U+2029 escaped
 * as \u007f / \u2028 / \u2029 so the output is safe inside HTML script and
 * JavaScript, other UTF-8 copied as is. Each byte of an invalid UTF-8
 * sequence (overlong, surrogate, past U+10FFFF, truncated) becomes U+FFFD.
 * Returns 1 when something was replaced, 0 when not, or the sticky error.
 */
GLY_EXTERN int gly_buf_json_str(gly_buf *b, const char *s, size_t n);

/*
 * Writes the decimal form of v into out (at least 21 bytes) and returns the
 * number of characters written (no NUL).
 */
GLY_EXTERN size_t gly_u64_to_dec(char *out, uint64_t v);

#ifdef __cplusplus
}
#endif
#endif
