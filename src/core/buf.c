/*
 * src/core/buf.c - byte buffer builder, JSON string escaping, integer formatting.
 *
 * Layout: p holds cap bytes; the content uses at most cap - 1 of them so that
 * gly_buf_cstr() always has room for its NUL and never has to grow. The cap
 * never exceeds max + 1, so "n < cap - len" alone proves an append stays
 * within both the memory and the hard cap. That single comparison (plus the
 * sticky-error test) is the whole fast path of gly_buf_append(); everything
 * else lives in out-of-line slow paths.
 *
 * `owned` means the buffer allocated p itself: from its arena when it has
 * one (the arena frees it), else with malloc (gly_buf_dispose() frees it).
 * A seed is never owned.
 */
#include <stdio.h>
#include <stdlib.h>

#include <galley/buf.h>

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* The first heap or arena block: big enough for a typical header or small JSON value. */
#define MIN_GROWTH  ((size_t)64)
#define DEFAULT_MAX (SIZE_MAX / 2)

void gly_buf_init(gly_buf *b, char *seed, size_t seed_cap, gly_arena *arena, size_t max)
{
    b->max = max ? max : DEFAULT_MAX;
    b->p = seed_cap ? seed : NULL;
    b->cap = b->p ? seed_cap : 0;
    if (b->cap > b->max + 1)
        b->cap = b->max + 1;
    b->len = 0;
    b->arena = arena;
    b->err = 0;
    b->owned = false;
}

void gly_buf_dispose(gly_buf *b)
{
    if (b->owned && !b->arena)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
    b->owned = false;
}

void gly_buf_clear(gly_buf *b)
{
    b->len = 0;
    b->err = 0;
}

static int fail(gly_buf *b, int err)
{
    if (!b->err)
        b->err = err;
    return b->err;
}

/* Makes len + need < cap hold (room for need bytes and the NUL). Returns 0 or the sticky error. */
static NOINLINE int grow(gly_buf *b, size_t need)
{
    size_t want, cap;
    char *p;

    if (b->err)
        return b->err;
    if (need > b->max - b->len)
        return fail(b, GLY_E2BIG);
    want = b->len + need + 1;
    if (want <= b->cap)
        return 0;
    /* Doubling keeps appends amortized O(1); the clamp keeps the fast path's cap <= max + 1. */
    cap = b->cap > (b->max + 1) / 2 ? b->max + 1 : b->cap * 2;
    if (cap < MIN_GROWTH)
        cap = MIN_GROWTH;
    if (cap < want)
        cap = want;
    if (cap > b->max + 1)
        cap = b->max + 1;

    if (b->arena) {
        p = b->owned ? gly_arena_realloc(b->arena, b->p, b->cap, cap)
                     : gly_arena_alloc(b->arena, cap);
    } else {
        p = b->owned ? realloc(b->p, cap) : malloc(cap);
    }
    if (!p)
        return fail(b, GLY_ENOMEM);
    if (!b->owned && b->len)
        memcpy(p, b->p, b->len);
    b->p = p;
    b->cap = cap;
    b->owned = true;
    return 0;
}

char *gly_buf_reserve(gly_buf *b, size_t n)
{
    if (b->err)
        return NULL;
    if (n >= b->cap - b->len && grow(b, n) != 0)
        return NULL;
    return b->p + b->len;
}

static NOINLINE int append_slow(gly_buf *b, const void *src, size_t n)
{
    const char *s = src;
    size_t off = 0;
    bool inside;

    if (b->err)
        return b->err;
    if (n == 0)
        return 0;
    /* Appending a piece of the buffer to itself must survive the move done by grow(). */
    inside = b->p && s >= b->p && s < b->p + b->cap;
    if (inside)
        off = (size_t)(s - b->p);
    if (grow(b, n) != 0)
        return b->err;
    if (inside)
        s = b->p + off;
    memmove(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

int gly_buf_append(gly_buf *b, const void *p, size_t n)
{
    /* n != 0 keeps memcpy away from the NULL of an absent slice (UBSan: nonnull). */
    if (GLY_LIKELY(b->err == 0 && n != 0 && n < b->cap - b->len)) {
        memcpy(b->p + b->len, p, n);
        b->len += n;
        return 0;
    }
    return append_slow(b, p, n);
}

int gly_buf_append_str(gly_buf *b, gly_str s)
{
    return gly_buf_append(b, s.p, s.n);
}

int gly_buf_puts(gly_buf *b, const char *s)
{
    return gly_buf_append(b, s, strlen(s));
}

int gly_buf_putc(gly_buf *b, char c)
{
    if (GLY_LIKELY(b->err == 0 && 1 < b->cap - b->len)) {
        b->p[b->len++] = c;
        return 0;
    }
    return append_slow(b, &c, 1);
}

/* "00" "01" ... "99": two digits per division halves the divisions. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

static inline size_t dec_digits(uint64_t v)
{
    size_t n = 1;

    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

size_t gly_u64_to_dec(char *out, uint64_t v)
{
    size_t n = dec_digits(v);
    char *p = out + n;

    while (v >= 100) {
        size_t i = (size_t)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    }
    if (v >= 10) {
        *--p = digit_pairs[v * 2 + 1];
        *--p = digit_pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return n;
}

int gly_buf_put_u64(gly_buf *b, uint64_t v)
{
    char tmp[21];

    /* At most 20 digits, and the byte after them must stay free for the NUL. */
    if (GLY_LIKELY(b->err == 0 && b->cap - b->len > 20)) {
        b->len += gly_u64_to_dec(b->p + b->len, v);
        return 0;
    }
    return gly_buf_append(b, tmp, gly_u64_to_dec(tmp, v));
}

int gly_buf_put_i64(gly_buf *b, int64_t v)
{
    char tmp[22];
    size_t n = 0;
    /* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    if (v < 0)
        tmp[n++] = '-';
    n += gly_u64_to_dec(tmp + n, mag);
    return gly_buf_append(b, tmp, n);
}

int gly_buf_vprintf(gly_buf *b, const char *fmt, va_list ap)
{
    size_t avail;
    va_list ap2;
    int r;

    if (b->err)
        return b->err;
    /* Try in the free space first; only a miss pays for a second formatting pass. */
    avail = b->cap - b->len;
    va_copy(ap2, ap);
    r = vsnprintf(avail ? b->p + b->len : NULL, avail, fmt, ap2);
    va_end(ap2);
    /* vsnprintf fails only for output past INT_MAX (or a bad wide character): too big. */
    if (r < 0)
        return fail(b, GLY_E2BIG);
    if ((size_t)r >= avail) {
        if (grow(b, (size_t)r) != 0)
            return b->err;
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)r;
    return 0;
}

int gly_buf_printf(gly_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = gly_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

const char *gly_buf_cstr(gly_buf *b)
{
    if (b->err)
        return NULL;
    if (!b->p && grow(b, 0) != 0)
        return NULL;
    b->p[b->len] = '\0';
    return b->p;
}

/*
 * How each ASCII byte leaves a JSON string: 0 copied, 'u' as \u00XX, any
 * other letter as a backslash and that letter. DEL is escaped too, so the
 * output holds no control character at all.
 */
static const char json_escape[128] = {
    ['\b'] = 'b',  ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['"'] = '"',
    ['\\'] = '\\', [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
    [0x05] = 'u',  [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u',
    [0x10] = 'u',  [0x11] = 'u', [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',
    [0x16] = 'u',  [0x17] = 'u', [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u',
    [0x1c] = 'u',  [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u', [0x7f] = 'u',
};

/*
 * Returns the length of the well-formed UTF-8 sequence that starts s (a
 * byte >= 0x80), or 0 when it is not one. The ranges are Unicode's table
 * 3-7: they exclude overlong forms, surrogates and code points past U+10FFFF.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (n < 4 || s[1] < lo || s[1] > hi)
            return 0;
        return (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Copies the pending run of bytes that need no escaping. */
static inline void flush(gly_buf *b, const char *s, size_t run, size_t i)
{
    if (i > run)
        gly_buf_append(b, s + run, i - run);
}

/*
 * Whether the 8 bytes of w (any order) hold one that JSON must escape or
 * that starts UTF-8: a byte < 0x20, '"', '\\' or >= 0x80. The classic
 * zero-byte trick (Mycroft) on w, on w ^ '"' and on w ^ '\\'.
 */
static inline bool word_needs_care(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
    uint64_t small = (w - ones * 0x20) & ~w;
    uint64_t zq = (quote - ones) & ~quote, zs = (slash - ones) & ~slash;
    return ((small | zq | zs) & highs) != 0 || (w & highs) != 0;
}

int gly_buf_json_str(gly_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    int replaced = 0;

    /* The output is never shorter than the input plus quotes: one reservation covers most. */
    if (!gly_buf_reserve(b, n < SIZE_MAX - 2 ? n + 2 : SIZE_MAX))
        return b->err;
    gly_buf_putc(b, '"');
    while (i < n) {
        unsigned char c = u[i];
        size_t k;

        /* runs of plain ASCII, the common case, go 8 bytes at a time */
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, u + i, 8), !word_needs_care(w))) {
            i += 8;
            continue;
        }

        if (c < 0x80) {
            char e = json_escape[c];
            if (GLY_LIKELY(!e)) {
                i++;
                continue;
            }
            flush(b, s, run, i);
            if (e == 'u') {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                gly_buf_append(b, esc, sizeof(esc));
            } else {
                char esc[2] = {'\\', e};
                gly_buf_append(b, esc, sizeof(esc));
            }
            run = ++i;
            continue;
        }
        k = utf8_len(u + i, n - i);
        if (k == 0) {
            /* One replacement per bad byte, so the damage stays visible and bounded. */
            flush(b, s, run, i);
            gly_buf_append(b, "\xEF\xBF\xBD", 3);
            replaced = 1;
            run = ++i;
            continue;
        }
        /* U+2028/U+2029 are valid JSON but end a JavaScript string literal. */
        if (c == 0xE2 && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
            flush(b, s, run, i);
            gly_buf_append(b, u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
            i += 3;
            run = i;
            continue;
        }
        i += k;
    }
    flush(b, s, run, i);
    gly_buf_putc(b, '"');
    return b->err ? b->err : replaced;
}
