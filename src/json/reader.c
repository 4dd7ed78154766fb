/*
 * src/json/reader.c - strict RFC 8259 reader building a tree in an arena.
 *
 * One pass, no recursion: a goto-driven loop with an explicit stack of open
 * containers. Finished child values wait on a scratch value stack (and keys
 * on a scratch key stack); when a container closes, its children are copied
 * into one exactly-sized arena array, so every container is a contiguous
 * array of nodes and the scratch memory (malloc) is freed at the end.
 *
 * Duplicate keys are found as they are read: by comparing with the earlier
 * keys while an object has at most 16, then through one hash set over the
 * whole document keyed by (object serial, key). Entries of closed objects go
 * stale but never match, since serials are unique. Objects of more than 16
 * members also get an arena hash index for gly_jv_getn().
 */
#include <assert.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/json_read.h>

#include "core/hash.h"

#define INDEX_MIN_MEMBERS 16

struct gly_jv {
    uint8_t type;
    bool b;
    uint32_t line, column;
    size_t n; /* string bytes, number text bytes, or member/element count */
    union {
        const char *s;        /* string or number text, NUL-terminated */
        struct gly_jv *items; /* array elements or object member values */
    } u;
    union {
        double d; /* number */
        struct {
            gly_str *keys;   /* object keys, n of them */
            uint32_t *index; /* objects > 16 members: hash slots holding member + 1, 0 empty */
        } o;
    } x;
};

struct frame {
    size_t vstart, kstart; /* where this container's children begin on the scratch stacks */
    uint64_t serial;       /* objects: the key set's owner id */
    uint32_t line, column;
    bool obj;
};

struct hent {
    uint64_t hash;
    uint64_t serial; /* 0: empty slot */
    size_t kidx;     /* index on the key stack */
};

struct parser {
    const char *p;
    size_t n, i;
    size_t line, line_start;
    gly_arena *a;
    gly_json_limits lim;
    gly_json_error *err;

    gly_jv *vals;
    size_t nvals, capvals;
    gly_str *keys;
    size_t nkeys, capkeys;
    struct frame *frames;
    size_t nframes, capframes;
    struct hent *set;
    size_t setcap, setcount;
    uint64_t serial;

    /* small documents need no scratch malloc */
    gly_jv vseed[32];
    gly_str kseed[32];
    struct frame fseed[16];
};

gly_json_limits gly_json_limits_default(void)
{
    gly_json_limits l = {
        .max_depth = 64,
        .max_string_bytes = (size_t)1 << 20,
        .max_items = 1000000,
        .max_bytes = (size_t)16 << 20,
    };
    return l;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static int fail(struct parser *ps, size_t off, int code, const char *fmt, ...) GLY_PRINTF(4, 5);

/* Records the first error at byte off, with its line and column, and returns code. */
static int fail(struct parser *ps, size_t off, int code, const char *fmt, ...)
{
    gly_json_error *e = ps->err;
    if (e == NULL) {
        return code;
    }
    assert(off <= ps->n);
    size_t line = 1, start = 0;
    for (size_t k = 0; k < off; k++) {
        if (ps->p[k] == '\n') {
            line++;
            start = k + 1;
        }
    }
    e->offset = off;
    e->line = line;
    e->column = off - start + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

static int nomem(struct parser *ps)
{
    return fail(ps, ps->i, GLY_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------------ */
/* Scratch stacks                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Makes room for one more element of size sz in *v (cap *cap). seed is the
 * stack array *v starts as: it is copied out, never reallocated or freed.
 * Returns false when out of memory.
 */
static bool grow(void **v, size_t *cap, size_t count, size_t sz, const void *seed)
{
    if (count < *cap) {
        return true;
    }
    size_t ncap = *cap ? *cap * 2 : 32;
    if (ncap > SIZE_MAX / sz) {
        return false;
    }
    void *nv = *v == seed ? malloc(ncap * sz) : realloc(*v, ncap * sz);
    if (nv == NULL) {
        return false;
    }
    if (*v == seed && count > 0) {
        memcpy(nv, seed, count * sz);
    }
    *v = nv;
    *cap = ncap;
    return true;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    return gly__fnv1a(s, n);
}

/*
 * Adds key (already on the key stack at kidx) of the object with serial to
 * the set. Returns 1 when the object has that key already, 0 when added, or
 * GLY_ENOMEM.
 */
static int set_add(struct parser *ps, uint64_t serial, size_t kidx)
{
    if (2 * (ps->setcount + 1) > ps->setcap) {
        size_t ncap = ps->setcap ? 2 * ps->setcap : 64;
        struct hent *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL) {
            return GLY_ENOMEM;
        }
        for (size_t k = 0; k < ps->setcap; k++) {
            struct hent *e = &ps->set[k];
            if (e->serial != 0) {
                size_t j = (size_t)e->hash & (ncap - 1);
                while (ns[j].serial != 0) {
                    j = (j + 1) & (ncap - 1);
                }
                ns[j] = *e;
            }
        }
        free(ps->set);
        ps->set = ns;
        ps->setcap = ncap;
    }
    gly_str key = ps->keys[kidx];
    /* mixing in the serial keeps equal keys of sibling objects off one probe chain */
    uint64_t h = hash_bytes(key.p, key.n) ^ (serial * 0x9E3779B97F4A7C15u);
    h ^= h >> 29;
    size_t j = (size_t)h & (ps->setcap - 1);
    while (ps->set[j].serial != 0) {
        struct hent *e = &ps->set[j];
        if (e->serial == serial && e->hash == h && gly_str_eq(ps->keys[e->kidx], key)) {
            return 1;
        }
        j = (j + 1) & (ps->setcap - 1);
    }
    ps->set[j] = (struct hent){h, serial, kidx};
    ps->setcount++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */
/* ------------------------------------------------------------------------ */

static void skip_ws(struct parser *ps)
{
    const char *p = ps->p;
    size_t i = ps->i, n = ps->n;
    while (i < n) {
        char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            i++;
        } else if (c == '\n') {
            i++;
            ps->line++;
            ps->line_start = i;
        } else {
            break;
        }
    }
    ps->i = i;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Reads 4 hex digits at p[at..]; returns the code unit, or a negative error (already recorded). */
static long hex4(struct parser *ps, size_t at)
{
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        if (at + k >= ps->n) {
            return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input in a string");
        }
        int h = hexval(ps->p[at + k]);
        if (h < 0) {
            return fail(ps, at + k, GLY_EINVAL, "invalid \\u escape: expected 4 hex digits");
        }
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Reads the string whose opening quote is at ps->i: validates escapes and
 * UTF-8 and measures it (first pass), then copies or unescapes it into the
 * arena (second pass, which can trust the text). Leaves ps->i past the
 * closing quote.
 */
static int read_string(struct parser *ps, gly_str *out)
{
    const unsigned char *p = (const unsigned char *)ps->p;
    size_t n = ps->n, q = ps->i, i = q + 1, dec = 0, max = ps->lim.max_string_bytes;
    bool esc = false;
    for (;;) {
        if (i >= n) {
            return fail(ps, n, GLY_EINVAL, "unexpected end of input in a string");
        }
        unsigned c = p[i];
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            esc = true;
            if (i + 1 >= n) {
                return fail(ps, n, GLY_EINVAL, "unexpected end of input in a string");
            }
            unsigned e = p[i + 1];
            switch (e) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                dec++;
                i += 2;
                break;
            case 'u': {
                long cp = hex4(ps, i + 2);
                if (cp < 0) {
                    return (int)cp;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    long lo = -1;
                    if (i + 7 < n && p[i + 6] == '\\' && p[i + 7] == 'u') {
                        lo = hex4(ps, i + 8);
                        if (lo < 0) {
                            return (int)lo;
                        }
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        return fail(ps, i, GLY_EINVAL, "unpaired surrogate \\u%04lX", cp);
                    }
                    dec += 4;
                    i += 12;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(ps, i, GLY_EINVAL, "unpaired surrogate \\u%04lX", cp);
                } else {
                    dec += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
                    i += 6;
                }
                break;
            }
            default:
                if (e > 0x20 && e < 0x7F) {
                    return fail(ps, i, GLY_EINVAL, "invalid escape \\%c", (char)e);
                }
                return fail(ps, i, GLY_EINVAL, "invalid escape: byte 0x%02X after '\\'", e);
            }
        } else if (c < 0x20) {
            return fail(ps, i, GLY_EINVAL, "unescaped control character 0x%02X in a string", c);
        } else if (c < 0x80) {
            dec++;
            i++;
        } else {
            unsigned k, lo = 0x80, hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                k = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                k = 2;
                lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F: overlong */
                hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF: surrogates */
            } else if (c >= 0xF0 && c <= 0xF4) {
                k = 3;
                lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
                hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90..: past U+10FFFF */
            } else {
                return fail(ps, i, GLY_EINVAL, "invalid UTF-8 byte 0x%02X", c);
            }
            for (unsigned j = 1; j <= k; j++) {
                if (i + j >= n) {
                    return fail(ps, n, GLY_EINVAL, "unexpected end of input in a string");
                }
                unsigned b = p[i + j];
                if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) {
                    return fail(ps, i, GLY_EINVAL,
                                "invalid UTF-8 sequence: byte 0x%02X after 0x%02X", b,
                                p[i + j - 1]);
                }
            }
            dec += k + 1;
            i += k + 1;
        }
        if (max != 0 && dec > max) {
            return fail(ps, q, GLY_ELIMIT, "string longer than %zu bytes", max);
        }
    }
    size_t end = i;
    char *o = gly_arena_alloc(ps->a, dec + 1);
    if (o == NULL) {
        return nomem(ps);
    }
    if (!esc) {
        memcpy(o, p + q + 1, dec);
    } else {
        size_t w = 0;
        for (size_t r = q + 1; r < end;) {
            char c = (char)p[r];
            if (c != '\\') {
                o[w++] = c;
                r++;
                continue;
            }
            char e = (char)p[r + 1];
            r += 2;
            switch (e) {
            case 'b':
                o[w++] = '\b';
                break;
            case 'f':
                o[w++] = '\f';
                break;
            case 'n':
                o[w++] = '\n';
                break;
            case 'r':
                o[w++] = '\r';
                break;
            case 't':
                o[w++] = '\t';
                break;
            case 'u': {
                uint32_t cp = 0;
                for (int k = 0; k < 4; k++) {
                    cp = cp * 16 + (uint32_t)hexval((char)p[r + k]);
                }
                r += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo = 0;
                    for (int k = 0; k < 4; k++) {
                        lo = lo * 16 + (uint32_t)hexval((char)p[r + 2 + k]);
                    }
                    r += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                w += put_utf8(o + w, cp);
                break;
            }
            default: /* '"', '\\', '/' */
                o[w++] = e;
                break;
            }
        }
        assert(w == dec);
    }
    o[dec] = '\0';
    out->p = o;
    out->n = dec;
    ps->i = end + 1;
    return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static bool is_digit(const char *p, size_t i, size_t n)
{
    return i < n && p[i] >= '0' && p[i] <= '9';
}

/* Reads the number at ps->i into v (text copied, value converted). */
static int read_number(struct parser *ps, gly_jv *v)
{
    const char *p = ps->p;
    size_t n = ps->n, start = ps->i, i = start;
    bool neg = p[i] == '-', simple = true;
    uint64_t mant = 0;
    if (neg) {
        i++;
    }
    if (!is_digit(p, i, n)) {
        if (i < n && (p[i] == 'I' || p[i] == 'N')) {
            return fail(ps, i, GLY_EINVAL, "NaN and Infinity are not valid JSON");
        }
        return fail(ps, i, GLY_EINVAL, "expected a digit after '-'");
    }
    if (p[i] == '0') {
        i++;
        if (is_digit(p, i, n)) {
            return fail(ps, i - 1, GLY_EINVAL, "leading zeros are not allowed");
        }
    } else {
        size_t d0 = i;
        while (is_digit(p, i, n)) {
            mant = mant * 10 + (uint64_t)(p[i] - '0');
            i++;
        }
        simple = i - d0 <= 15; /* exact in a double */
    }
    if (i < n && p[i] == '.') {
        simple = false;
        i++;
        if (!is_digit(p, i, n)) {
            return fail(ps, i, GLY_EINVAL, "expected a digit after '.'");
        }
        while (is_digit(p, i, n)) {
            i++;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        simple = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        if (!is_digit(p, i, n)) {
            return fail(ps, i, GLY_EINVAL, "expected a digit in the exponent");
        }
        while (is_digit(p, i, n)) {
            i++;
        }
    }
    char *raw = gly_arena_strndup(ps->a, p + start, i - start);
    if (raw == NULL) {
        return nomem(ps);
    }
    double d;
    if (simple) {
        d = (double)mant;
        d = neg ? -d : d;
    } else {
        pthread_once(&c_locale_once, make_c_locale);
        if (c_locale == (locale_t)0) {
            return nomem(ps);
        }
        d = strtod_l(raw, NULL, c_locale);
        if (isinf(d)) {
            return fail(ps, start, GLY_EINVAL, "number out of range");
        }
    }
    v->type = GLY_JSON_NUMBER;
    v->u.s = raw;
    v->n = i - start;
    v->x.d = d;
    ps->i = i;
    return 0;
}

/* Reads true, false or null at ps->i. */
static int read_literal(struct parser *ps, gly_jv *v)
{
    static const char *const words[] = {"true", "false", "null"};
    char c = ps->p[ps->i];
    int w = c == 't' ? 0 : c == 'f' ? 1 : 2;
    size_t len = strlen(words[w]), avail = ps->n - ps->i;
    for (size_t k = 0; k < len; k++) {
        if (k >= avail) {
            return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input in '%s'", words[w]);
        }
        if (ps->p[ps->i + k] != words[w][k]) {
            return fail(ps, ps->i, GLY_EINVAL, "invalid literal, expected '%s'", words[w]);
        }
    }
    v->type = w == 2 ? GLY_JSON_NULL : GLY_JSON_BOOL;
    v->b = w == 0;
    ps->i += len;
    return 0;
}

/* The error for byte c where a value should start. */
static int bad_value_start(struct parser *ps, bool after_comma)
{
    size_t i = ps->i;
    unsigned char c = (unsigned char)ps->p[i];
    switch (c) {
    case ']':
    case '}':
        return fail(ps, i, GLY_EINVAL,
                    after_comma ? "trailing comma before '%c'" : "expected a value before '%c'", c);
    case 'N':
    case 'I':
        return fail(ps, i, GLY_EINVAL, "NaN and Infinity are not valid JSON");
    case '+':
        return fail(ps, i, GLY_EINVAL, "a number cannot start with '+'");
    case '.':
        return fail(ps, i, GLY_EINVAL, "a number must have a digit before '.'");
    case '/':
        return fail(ps, i, GLY_EINVAL, "comments are not allowed in JSON");
    case '\'':
        return fail(ps, i, GLY_EINVAL, "strings must use double quotes");
    default:
        break;
    }
    if (i == 0 && c == 0xEF && ps->n >= 3 && (unsigned char)ps->p[1] == 0xBB &&
        (unsigned char)ps->p[2] == 0xBF) {
        return fail(ps, i, GLY_EINVAL, "byte order mark (BOM) is not allowed");
    }
    if (c > 0x20 && c < 0x7F) {
        return fail(ps, i, GLY_EINVAL, "unexpected character '%c', expected a value", c);
    }
    return fail(ps, i, GLY_EINVAL, "unexpected byte 0x%02X, expected a value", c);
}

static uint32_t sat32(size_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Builds the hash index of an object node whose members are set. Failure only costs speed. */
static void build_index(struct parser *ps, gly_jv *v)
{
    if (v->n > ((size_t)1 << 30)) {
        return;
    }
    size_t cap = 32;
    while (cap < 2 * v->n) {
        cap *= 2;
    }
    uint32_t *ix = gly_arena_calloc(ps->a, cap, sizeof *ix);
    if (ix == NULL) {
        return;
    }
    for (size_t k = 0; k < v->n; k++) {
        gly_str key = v->x.o.keys[k];
        size_t j = (size_t)hash_bytes(key.p, key.n) & (cap - 1);
        while (ix[j] != 0) {
            j = (j + 1) & (cap - 1);
        }
        ix[j] = (uint32_t)(k + 1);
    }
    v->x.o.index = ix;
}

/* Pops the top frame into the container node v. */
static int close_container(struct parser *ps, gly_jv *v)
{
    struct frame *fr = &ps->frames[--ps->nframes];
    size_t count = ps->nvals - fr->vstart;
    memset(v, 0, sizeof *v);
    v->type = fr->obj ? GLY_JSON_OBJECT : GLY_JSON_ARRAY;
    v->line = fr->line;
    v->column = fr->column;
    v->n = count;
    if (count > 0) {
        v->u.items = gly_arena_alloc(ps->a, count * sizeof(gly_jv));
        if (v->u.items == NULL) {
            return nomem(ps);
        }
        memcpy(v->u.items, ps->vals + fr->vstart, count * sizeof(gly_jv));
        if (fr->obj) {
            assert(ps->nkeys - fr->kstart == count);
            v->x.o.keys = gly_arena_alloc(ps->a, count * sizeof(gly_str));
            if (v->x.o.keys == NULL) {
                return nomem(ps);
            }
            memcpy(v->x.o.keys, ps->keys + fr->kstart, count * sizeof(gly_str));
            if (count > INDEX_MIN_MEMBERS) {
                build_index(ps, v);
            }
        }
    }
    ps->nvals = fr->vstart;
    ps->nkeys = fr->kstart;
    return 0;
}

/* Writes key as a short quoted, escaped excerpt into buf (cap bytes). */
static void quote_key(char *buf, size_t cap, gly_str key)
{
    char seed[96];
    gly_buf b;
    size_t n = key.n > 48 ? 48 : key.n;
    gly_buf_init(&b, seed, sizeof seed, NULL, sizeof seed - 1);
    gly_buf_json_str(&b, key.p, n);
    if (gly_buf_err(&b) != 0) {
        snprintf(buf, cap, "\"...\"");
    } else {
        snprintf(buf, cap, "%.*s%s", (int)b.len, b.p, n < key.n ? "..." : "");
    }
    gly_buf_dispose(&b);
}

static int parse(struct parser *ps, gly_jv **out)
{
    const char *p = ps->p;
    gly_jv v;
    int rc;
    bool after_comma = false;

value:
    skip_ws(ps);
    if (ps->i >= ps->n) {
        return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input, expected a value");
    }
    memset(&v, 0, sizeof v);
    v.line = sat32(ps->line);
    v.column = sat32(ps->i - ps->line_start + 1);
    switch (p[ps->i]) {
    case '{':
    case '[': {
        bool obj = p[ps->i] == '{';
        if (ps->nframes >= ps->lim.max_depth) {
            return fail(ps, ps->i, GLY_ELIMIT, "nesting deeper than %u", ps->lim.max_depth);
        }
        if (!grow((void **)&ps->frames, &ps->capframes, ps->nframes, sizeof(struct frame),
                  ps->fseed)) {
            return nomem(ps);
        }
        ps->frames[ps->nframes++] = (struct frame){
            .vstart = ps->nvals,
            .kstart = ps->nkeys,
            .serial = obj ? ++ps->serial : 0,
            .line = v.line,
            .column = v.column,
            .obj = obj,
        };
        ps->i++;
        skip_ws(ps);
        if (ps->i < ps->n && p[ps->i] == (obj ? '}' : ']')) {
            ps->i++;
            if ((rc = close_container(ps, &v)) != 0) {
                return rc;
            }
            goto done_value;
        }
        after_comma = false;
        if (obj) {
            goto key;
        }
        goto value;
    }
    case '"': {
        gly_str s;
        if ((rc = read_string(ps, &s)) != 0) {
            return rc;
        }
        v.u.s = s.p;
        v.n = s.n;
        v.type = GLY_JSON_STRING;
        break;
    }
    case 't':
    case 'f':
    case 'n':
        if ((rc = read_literal(ps, &v)) != 0) {
            return rc;
        }
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if ((rc = read_number(ps, &v)) != 0) {
            return rc;
        }
        break;
    default:
        return bad_value_start(ps, after_comma);
    }

done_value:
    if (ps->nframes == 0) {
        gly_jv *root = gly_arena_alloc(ps->a, sizeof *root);
        if (root == NULL) {
            return nomem(ps);
        }
        *root = v;
        skip_ws(ps);
        if (ps->i < ps->n) {
            return fail(ps, ps->i, GLY_EINVAL, "trailing characters after the JSON value");
        }
        *out = root;
        return 0;
    }
    {
        struct frame *fr = &ps->frames[ps->nframes - 1];
        if (ps->lim.max_items != 0 && ps->nvals - fr->vstart >= ps->lim.max_items) {
            return fail(ps, ps->i, GLY_ELIMIT, "more than %zu %s", ps->lim.max_items,
                        fr->obj ? "members in an object" : "elements in an array");
        }
        if (!grow((void **)&ps->vals, &ps->capvals, ps->nvals, sizeof(gly_jv), ps->vseed)) {
            return nomem(ps);
        }
        ps->vals[ps->nvals++] = v;

        skip_ws(ps);
        if (ps->i >= ps->n) {
            return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input, expected ',' or '%c'",
                        fr->obj ? '}' : ']');
        }
        char c = p[ps->i];
        if (c == ',') {
            ps->i++;
            after_comma = true;
            if (fr->obj) {
                goto key;
            }
            goto value;
        }
        if (c == (fr->obj ? '}' : ']')) {
            ps->i++;
            if ((rc = close_container(ps, &v)) != 0) {
                return rc;
            }
            goto done_value;
        }
        return fail(ps, ps->i, GLY_EINVAL,
                    fr->obj ? "expected ',' or '}' after object member"
                            : "expected ',' or ']' after array element");
    }

key:
    skip_ws(ps);
    if (ps->i >= ps->n) {
        return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input, expected an object key");
    }
    if (p[ps->i] != '"') {
        char c = p[ps->i];
        if (c == '}' && after_comma) {
            return fail(ps, ps->i, GLY_EINVAL, "trailing comma before '}'");
        }
        if (c == '\'') {
            return fail(ps, ps->i, GLY_EINVAL, "strings must use double quotes");
        }
        if (c == '/') {
            return fail(ps, ps->i, GLY_EINVAL, "comments are not allowed in JSON");
        }
        return fail(ps, ps->i, GLY_EINVAL, "expected a string as object key");
    }
    {
        struct frame *fr = &ps->frames[ps->nframes - 1];
        size_t kpos = ps->i;
        gly_str k;
        if ((rc = read_string(ps, &k)) != 0) {
            return rc;
        }
        if (!grow((void **)&ps->keys, &ps->capkeys, ps->nkeys, sizeof(gly_str), ps->kseed)) {
            return nomem(ps);
        }
        ps->keys[ps->nkeys++] = k;
        size_t count = ps->nkeys - fr->kstart;
        rc = 0;
        if (count <= INDEX_MIN_MEMBERS) {
            for (size_t j = fr->kstart; j + 1 < ps->nkeys && rc == 0; j++) {
                rc = gly_str_eq(ps->keys[j], k);
            }
        } else {
            /* past 16 keys, the object's keys go to the hash set, the first 16 at once */
            for (size_t j = count == INDEX_MIN_MEMBERS + 1 ? fr->kstart : ps->nkeys - 1;
                 j < ps->nkeys && rc == 0; j++) {
                rc = set_add(ps, fr->serial, j);
            }
            if (rc < 0) {
                return nomem(ps);
            }
        }
        if (rc == 1) {
            char q[80];
            quote_key(q, sizeof q, k);
            return fail(ps, kpos, GLY_EINVAL, "duplicate key %s", q);
        }
    }
    skip_ws(ps);
    if (ps->i >= ps->n) {
        return fail(ps, ps->n, GLY_EINVAL, "unexpected end of input, expected ':'");
    }
    if (p[ps->i] != ':') {
        return fail(ps, ps->i, GLY_EINVAL, "expected ':' after object key");
    }
    ps->i++;
    after_comma = false;
    goto value;
}

int gly_json_parse(gly_arena *a, const char *p, size_t n, const gly_json_limits *lim, gly_jv **out,
                   gly_json_error *err)
{
    struct parser ps;
    memset(&ps, 0, sizeof ps);
    ps.p = p;
    ps.n = n;
    ps.line = 1;
    ps.a = a;
    ps.lim = lim ? *lim : gly_json_limits_default();
    ps.err = err;
    ps.vals = ps.vseed;
    ps.capvals = sizeof ps.vseed / sizeof ps.vseed[0];
    ps.keys = ps.kseed;
    ps.capkeys = sizeof ps.kseed / sizeof ps.kseed[0];
    ps.frames = ps.fseed;
    ps.capframes = sizeof ps.fseed / sizeof ps.fseed[0];
    *out = NULL;
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    int rc;
    if (ps.lim.max_bytes != 0 && n > ps.lim.max_bytes) {
        rc = fail(&ps, 0, GLY_ELIMIT, "input longer than %zu bytes", ps.lim.max_bytes);
    } else {
        rc = parse(&ps, out);
    }
    if (rc != 0) {
        *out = NULL;
    }
    if (ps.vals != ps.vseed) {
        free(ps.vals);
    }
    if (ps.keys != ps.kseed) {
        free(ps.keys);
    }
    if (ps.frames != ps.fseed) {
        free(ps.frames);
    }
    free(ps.set);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

gly_json_type gly_jv_type(const gly_jv *v)
{
    return v ? (gly_json_type)v->type : GLY_JSON_NONE;
}

bool gly_jv_bool(const gly_jv *v)
{
    return v && v->type == GLY_JSON_BOOL && v->b;
}

gly_str gly_jv_str(const gly_jv *v)
{
    if (v == NULL || v->type != GLY_JSON_STRING) {
        return GLY_STR_NULL;
    }
    return (gly_str){v->u.s, v->n};
}

gly_str gly_jv_num_raw(const gly_jv *v)
{
    if (v == NULL || v->type != GLY_JSON_NUMBER) {
        return GLY_STR_NULL;
    }
    return (gly_str){v->u.s, v->n};
}

double gly_jv_double(const gly_jv *v)
{
    return v && v->type == GLY_JSON_NUMBER ? v->x.d : 0.0;
}

/*
 * The number's decimal digits D (integer and fraction parts, leading and
 * trailing zeros dropped) and exponent E give the value D * 10^E: an integer
 * exactly when E >= 0, and in range only when D has at most 19 - E digits.
 */
bool gly_jv_i64(const gly_jv *v, int64_t *out)
{
    if (v == NULL || v->type != GLY_JSON_NUMBER) {
        return false;
    }
    const char *s = v->u.s, *end = s + v->n;
    bool neg = *s == '-';
    s += neg;
    const char *ip = s;
    while (s < end && *s >= '0' && *s <= '9') {
        s++;
    }
    size_t ilen = (size_t)(s - ip), flen = 0;
    const char *fp = s;
    if (s < end && *s == '.') {
        fp = ++s;
        while (s < end && *s >= '0' && *s <= '9') {
            s++;
        }
        flen = (size_t)(s - fp);
    }
    int64_t e = 0;
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        bool eneg = *s == '-';
        s += *s == '-' || *s == '+';
        while (s < end) {
            if (e < 100000000) {
                e = e * 10 + (*s - '0');
            }
            s++;
        }
        e = eneg ? -e : e;
    }
    size_t total = ilen + flen, first = 0, last = total;
#define DIGIT(k) ((k) < ilen ? ip[k] : fp[(k)-ilen])
    while (first < total && DIGIT(first) == '0') {
        first++;
    }
    if (first == total) {
        *out = 0;
        return true;
    }
    while (DIGIT(last - 1) == '0') {
        last--;
    }
    int64_t exp10 = e - (int64_t)flen + (int64_t)(total - last);
    size_t nd = last - first;
    if (exp10 < 0 || (int64_t)nd + exp10 > 19) {
        return false;
    }
    uint64_t m = 0;
    for (size_t k = first; k < last; k++) {
        m = m * 10 + (uint64_t)(DIGIT(k) - '0');
    }
#undef DIGIT
    for (int64_t k = 0; k < exp10; k++) {
        m *= 10; /* nd + exp10 <= 19 digits: fits in a uint64_t */
    }
    uint64_t lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    if (m > lim) {
        return false;
    }
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return true;
}

size_t gly_jv_len(const gly_jv *v)
{
    if (v == NULL || (v->type != GLY_JSON_ARRAY && v->type != GLY_JSON_OBJECT)) {
        return 0;
    }
    return v->n;
}

const gly_jv *gly_jv_at(const gly_jv *v, size_t i)
{
    if (v == NULL || (v->type != GLY_JSON_ARRAY && v->type != GLY_JSON_OBJECT) || i >= v->n) {
        return NULL;
    }
    return &v->u.items[i];
}

gly_str gly_jv_key_at(const gly_jv *v, size_t i)
{
    if (v == NULL || v->type != GLY_JSON_OBJECT || i >= v->n) {
        return GLY_STR_NULL;
    }
    return v->x.o.keys[i];
}

const gly_jv *gly_jv_getn(const gly_jv *v, gly_str key)
{
    if (v == NULL || v->type != GLY_JSON_OBJECT || key.p == NULL) {
        return NULL;
    }
    if (v->x.o.index != NULL) {
        size_t cap = 32;
        while (cap < 2 * v->n) {
            cap *= 2;
        }
        size_t j = (size_t)hash_bytes(key.p, key.n) & (cap - 1);
        for (uint32_t m; (m = v->x.o.index[j]) != 0; j = (j + 1) & (cap - 1)) {
            if (gly_str_eq(v->x.o.keys[m - 1], key)) {
                return &v->u.items[m - 1];
            }
        }
        return NULL;
    }
    for (size_t k = 0; k < v->n; k++) {
        if (gly_str_eq(v->x.o.keys[k], key)) {
            return &v->u.items[k];
        }
    }
    return NULL;
}

const gly_jv *gly_jv_get(const gly_jv *v, const char *key)
{
    return key ? gly_jv_getn(v, gly_str_c(key)) : NULL;
}

size_t gly_jv_line(const gly_jv *v)
{
    return v ? v->line : 0;
}

size_t gly_jv_column(const gly_jv *v)
{
    return v ? v->column : 0;
}

int gly_json_value(gly_json *j, const gly_jv *v)
{
    if (v == NULL) {
        return GLY_EINVAL;
    }
    int rc;
    switch ((gly_json_type)v->type) {
    case GLY_JSON_NULL:
        return gly_json_null(j);
    case GLY_JSON_BOOL:
        return gly_json_bool(j, v->b);
    case GLY_JSON_NUMBER:
        return gly_json_raw(j, v->u.s, v->n);
    case GLY_JSON_STRING:
        return gly_json_strn(j, v->u.s, v->n);
    case GLY_JSON_ARRAY:
        if ((rc = gly_json_arr_begin(j)) != 0) {
            return rc;
        }
        for (size_t k = 0; k < v->n; k++) {
            if ((rc = gly_json_value(j, &v->u.items[k])) != 0) {
                return rc;
            }
        }
        return gly_json_arr_end(j);
    case GLY_JSON_OBJECT:
        if ((rc = gly_json_obj_begin(j)) != 0) {
            return rc;
        }
        for (size_t k = 0; k < v->n; k++) {
            if ((rc = gly_json_key_str(j, v->x.o.keys[k])) != 0 ||
                (rc = gly_json_value(j, &v->u.items[k])) != 0) {
                return rc;
            }
        }
        return gly_json_obj_end(j);
    case GLY_JSON_NONE:
        break;
    }
    return GLY_EINVAL;
}
