/*
 * src/core/arena.c - region allocator (see galley/arena.h).
 *
 * Small requests are carved from 4 KiB chunks by bumping a->cur; a request
 * larger than a quarter chunk gets its own malloc'd block on the `large`
 * list, so one big body does not waste a chunk tail (h2o h2o_mem_pool_t).
 * Every size is rounded up to 16 bytes, which keeps a->cur aligned.
 *
 * Accounting: a->used counts the rounded sizes handed to callers; the
 * arena's own bookkeeping (cleanup records, chunk headers, ASan redzones)
 * is not counted, so gly_arena_used() and the limit mean the same in every
 * build.
 *
 * Invariant that gly_arena_realloc() relies on: a block whose current size
 * is over LARGE_THRESHOLD always lives in its own large block (a chunk
 * block never grows in place past that size), so old_n alone tells which
 * kind p is.
 *
 * Under AddressSanitizer the free part of every chunk stays poisoned, each
 * allocation is unpoisoned for exactly n bytes and followed by a poisoned
 * redzone, and reset poisons what it takes back (lwan lwan-arena.c).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/arena.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define REDZONE        ((size_t)16)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define REDZONE        ((size_t)0)
#endif

#define ARENA_ALIGN     ((size_t)16)
#define LARGE_THRESHOLD (GLY_ARENA_CHUNK / 4)
/* Requests past this are refused before any size arithmetic can overflow. */
#define MAX_REQUEST (SIZE_MAX / 4)

struct gly__arena_chunk {
    struct gly__arena_chunk *next;
    _Alignas(16) char data[];
};

/* Doubly linked so that gly_arena_realloc() can move a block with realloc(3) in O(1). */
struct gly__arena_large {
    struct gly__arena_large *next, *prev;
    _Alignas(16) char data[];
};

struct gly__arena_cleanup {
    struct gly__arena_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

/* malloc(3) must return memory at least as aligned as the data members above. */
_Static_assert(_Alignof(max_align_t) >= 16, "malloc alignment below the arena's 16 bytes");
_Static_assert(sizeof(struct gly__arena_chunk) % ARENA_ALIGN == 0, "chunk header breaks alignment");
_Static_assert(GLY_ARENA_CHUNK - sizeof(struct gly__arena_chunk) >= LARGE_THRESHOLD + REDZONE,
               "a chunk must hold the largest small allocation");

static inline size_t round_size(size_t n)
{
    /* n == 0 still takes a slot so that every call returns a distinct pointer. */
    return n == 0 ? ARENA_ALIGN : (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static inline char *chunk_end(struct gly__arena_chunk *c)
{
    return (char *)c + GLY_ARENA_CHUNK;
}

void gly_arena_init(gly_arena *a, size_t limit)
{
    a->chunks = NULL;
    a->cur = a->end = NULL;
    a->large = NULL;
    a->cleanups = NULL;
    a->used = 0;
    a->limit = limit;
}

static void run_cleanups(gly_arena *a)
{
    struct gly__arena_cleanup *c;

    /* Pop before calling: a cleanup may register another one, which then runs too. */
    while ((c = a->cleanups) != NULL) {
        a->cleanups = c->next;
        c->fn(c->arg);
    }
}

static void free_large(gly_arena *a)
{
    struct gly__arena_large *l = a->large, *next;

    for (; l; l = next) {
        next = l->next;
        free(l);
    }
    a->large = NULL;
}

/* Frees the chunks from c on. */
static void free_chunks(struct gly__arena_chunk *c)
{
    struct gly__arena_chunk *next;

    for (; c; c = next) {
        next = c->next;
        /* Hand the memory back to malloc in the state it gave it out. */
        UNPOISON(c, GLY_ARENA_CHUNK);
        free(c);
    }
}

void gly_arena_dispose(gly_arena *a)
{
    run_cleanups(a);
    free_large(a);
    free_chunks(a->chunks);
    gly_arena_init(a, a->limit);
}

void gly_arena_reset(gly_arena *a)
{
    struct gly__arena_chunk *keep, **pp;

    run_cleanups(a);
    free_large(a);
    a->used = 0;
    if (!a->chunks)
        return;
    /* Keep the oldest chunk: it is the one every request starts in. */
    for (pp = &a->chunks; (*pp)->next; pp = &(*pp)->next)
        ;
    keep = *pp;
    *pp = NULL;
    free_chunks(a->chunks);
    keep->next = NULL;
    a->chunks = keep;
    a->cur = keep->data;
    a->end = chunk_end(keep);
    POISON(a->cur, (size_t)(a->end - a->cur));
}

/* Takes sz bytes (already rounded) from the newest chunk, starting a new chunk when needed. */
static void *bump(gly_arena *a, size_t sz)
{
    char *p;

    if (sz + REDZONE > (size_t)(a->end - a->cur)) {
        struct gly__arena_chunk *c = malloc(GLY_ARENA_CHUNK);
        if (!c)
            return NULL;
        c->next = a->chunks;
        a->chunks = c;
        a->cur = c->data;
        a->end = chunk_end(c);
        POISON(a->cur, (size_t)(a->end - a->cur));
    }
    p = a->cur;
    a->cur += sz + REDZONE;
    return p;
}

static void *alloc_large(gly_arena *a, size_t n)
{
    struct gly__arena_large *l = malloc(sizeof(*l) + n);

    if (!l)
        return NULL;
    l->prev = NULL;
    l->next = a->large;
    if (l->next)
        l->next->prev = l;
    a->large = l;
    return l->data;
}

/* True when growing the handed-out total by more bytes would pass the limit. */
static inline bool over_limit(const gly_arena *a, size_t more)
{
    return a->limit != 0 && more > a->limit - a->used;
}

void *gly_arena_alloc(gly_arena *a, size_t n)
{
    size_t sz;
    void *p;

    if (GLY_UNLIKELY(n > MAX_REQUEST))
        return NULL;
    sz = round_size(n);
    if (over_limit(a, sz))
        return NULL;
    if (n > LARGE_THRESHOLD) {
        p = alloc_large(a, n);
    } else {
        p = bump(a, sz);
        if (p)
            UNPOISON(p, n);
    }
    if (p)
        a->used += sz;
    return p;
}

void *gly_arena_calloc(gly_arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > MAX_REQUEST / size)
        return NULL;
    p = gly_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

/* Resizes a large block with realloc(3), keeping its place in the list. */
static void *realloc_large(gly_arena *a, void *p, size_t n)
{
    struct gly__arena_large *l =
        (struct gly__arena_large *)((char *)p - offsetof(struct gly__arena_large, data));
    struct gly__arena_large *nl = realloc(l, sizeof(*l) + n);

    if (!nl)
        return NULL;
    if (nl->prev)
        nl->prev->next = nl;
    else
        a->large = nl;
    if (nl->next)
        nl->next->prev = nl;
    return nl->data;
}

void *gly_arena_realloc(gly_arena *a, void *p, size_t old_n, size_t n)
{
    size_t old_sz, sz;
    char *q;

    if (!p)
        return gly_arena_alloc(a, n);
    if (GLY_UNLIKELY(n > MAX_REQUEST))
        return NULL;
    old_sz = round_size(old_n);
    sz = round_size(n);
    if (sz > old_sz && over_limit(a, sz - old_sz))
        return NULL;

    if (old_n > LARGE_THRESHOLD) {
        q = realloc_large(a, p, n);
        if (!q)
            return NULL;
        a->used = a->used - old_sz + sz;
        return q;
    }

    /*
     * The last block of the newest chunk ends exactly at a->cur; it can move
     * its end as long as it stays a small block and inside the chunk.
     */
    q = p;
    if (a->chunks && q >= a->chunks->data && q + old_sz + REDZONE == a->cur &&
        n <= LARGE_THRESHOLD && sz + REDZONE <= (size_t)(a->end - q)) {
        POISON(q, old_sz > sz ? old_sz : sz);
        UNPOISON(q, n);
        a->cur = q + sz + REDZONE;
        a->used = a->used - old_sz + sz;
        return q;
    }
    if (n <= old_n) {
        /* Not the last block: the tail cannot be reused, but it should not be touched either. */
        POISON(q + n, old_n - n);
        return q;
    }
    q = gly_arena_alloc(a, n);
    if (q)
        memcpy(q, p, old_n);
    return q;
}

char *gly_arena_strndup(gly_arena *a, const char *s, size_t n)
{
    char *d;

    if (!s || n == SIZE_MAX)
        return NULL;
    d = gly_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *gly_arena_strdup(gly_arena *a, const char *s)
{
    if (!s)
        return NULL;
    return gly_arena_strndup(a, s, strlen(s));
}

char *gly_arena_vprintf(gly_arena *a, const char *fmt, va_list ap)
{
    char small[256];
    char *d = NULL;
    va_list again;
    int len;

    /* Most results are short: format once on the stack and copy, else format twice. */
    va_copy(again, ap);
    len = vsnprintf(small, sizeof(small), fmt, ap);
    if (len < 0)
        goto done;
    if ((size_t)len < sizeof(small)) {
        d = gly_arena_strndup(a, small, (size_t)len);
        goto done;
    }
    d = gly_arena_alloc(a, (size_t)len + 1);
    if (!d)
        goto done;
    vsnprintf(d, (size_t)len + 1, fmt, again);
done:
    va_end(again);
    return d;
}

char *gly_arena_printf(gly_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = gly_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return d;
}

int gly_arena_defer(gly_arena *a, void (*fn)(void *), void *arg)
{
    /* The record lives in the arena itself and is bookkeeping: not counted, not limited. */
    struct gly__arena_cleanup *c;

    assert(fn != NULL);
    c = bump(a, round_size(sizeof(*c)));
    if (!c)
        return GLY_ENOMEM;
    UNPOISON(c, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

size_t gly_arena_used(const gly_arena *a)
{
    return a->used;
}
