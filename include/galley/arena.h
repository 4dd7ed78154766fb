/*
 * galley/arena.h - region allocator.
 *
 * Memory comes from 4 KiB chunks (allocations larger than a quarter chunk get
 * their own block) and is released all at once by gly_arena_reset() or
 * gly_arena_dispose(). Cleanups registered with gly_arena_defer() run, newest
 * first, at reset and dispose. Every request owns one; a handler reaches it
 * with gly_req_arena(). Not thread-safe: an arena belongs to one thread.
 *
 * Under AddressSanitizer the unused and released parts of chunks are
 * poisoned, so a use after reset is reported.
 */
#ifndef GALLEY_ARENA_H
#define GALLEY_ARENA_H

#include <stdarg.h>

#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLY_ARENA_CHUNK 4096

struct gly__arena_chunk;
struct gly__arena_large;
struct gly__arena_cleanup;

/* An arena. Embed it by value; the fields are private. */
typedef struct gly_arena {
    struct gly__arena_chunk *chunks; /* newest first; the last one is kept across resets */
    char *cur, *end;                 /* free space in the newest chunk */
    struct gly__arena_large *large;  /* separately allocated big blocks */
    struct gly__arena_cleanup *cleanups;
    size_t used;  /* bytes handed out since the last reset */
    size_t limit; /* 0: none; otherwise allocations past it fail */
} gly_arena;

/* Initializes an empty arena. limit caps the bytes it hands out (0: no cap). */
GLY_EXTERN void gly_arena_init(gly_arena *a, size_t limit);

/* Runs the cleanups and frees all memory. The arena may be initialized again. */
GLY_EXTERN void gly_arena_dispose(gly_arena *a);

/*
 * Runs the cleanups and releases everything allocated so far, keeping one
 * chunk for reuse. Pointers obtained before are invalid afterwards.
 */
GLY_EXTERN void gly_arena_reset(gly_arena *a);

/*
 * Returns n bytes aligned to 16 (max_align_t), or NULL when out of memory or
 * past the limit. n == 0 returns a valid unique pointer.
 */
GLY_EXTERN void *gly_arena_alloc(gly_arena *a, size_t n);

/* As gly_arena_alloc(), zero-filled. */
GLY_EXTERN void *gly_arena_calloc(gly_arena *a, size_t count, size_t size);

/*
 * Grows (or shrinks) the block p of old_n bytes to n bytes, in place when p
 * was the last allocation, else by copying. p == NULL acts as alloc.
 * Returns NULL on failure, leaving p untouched.
 */
GLY_EXTERN void *gly_arena_realloc(gly_arena *a, void *p, size_t old_n, size_t n);

/* Copies s[0..n) into the arena with a NUL after it. NULL on failure. */
GLY_EXTERN char *gly_arena_strndup(gly_arena *a, const char *s, size_t n);

/* Copies the NUL-terminated s into the arena. NULL on failure. */
GLY_EXTERN char *gly_arena_strdup(gly_arena *a, const char *s);

/* Formats into the arena. NULL on failure. */
GLY_EXTERN char *gly_arena_printf(gly_arena *a, const char *fmt, ...) GLY_PRINTF(2, 3);
GLY_EXTERN char *gly_arena_vprintf(gly_arena *a, const char *fmt, va_list ap) GLY_PRINTF(2, 0);

/*
 * Registers fn(arg) to run at the next reset or dispose (newest first).
 * Returns 0 or GLY_ENOMEM (then fn is not registered and not called).
 */
GLY_EXTERN int gly_arena_defer(gly_arena *a, void (*fn)(void *), void *arg);

/* Returns the bytes handed out since the last reset. */
GLY_EXTERN size_t gly_arena_used(const gly_arena *a);

#ifdef __cplusplus
}
#endif
#endif
