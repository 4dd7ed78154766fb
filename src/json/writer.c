/*
 * src/json/writer.c - streaming JSON writer.
 *
 * The nesting lives in two 64-bit masks, one bit per open level: whether it
 * is an object, and whether it has an item yet (so the next one needs a
 * comma). Every call first checks the sticky errors, then the state, and
 * writes nothing when either is wrong.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/json.h>

_Static_assert(GLY_JSON_MAX_DEPTH <= 64, "one bit per level in a uint64_t");

static int fail(gly_json *j, int err)
{
    if (j->err == 0) {
        j->err = err;
    }
    return j->err;
}

static uint64_t level_bit(unsigned depth)
{
    return (uint64_t)1 << (depth - 1);
}

/*
 * Checks that a value may come now and writes the comma before it when one
 * is due. Returns 0 or the sticky error.
 */
static int before_value(gly_json *j)
{
    int err = gly_json_err(j);
    if (err != 0) {
        return err;
    }
    if (j->depth == 0) {
        return j->done ? fail(j, GLY_ESTATE) : 0;
    }
    uint64_t bit = level_bit(j->depth);
    if (j->in_object & bit) {
        if (!j->after_key) {
            return fail(j, GLY_ESTATE);
        }
        j->after_key = false;
        return 0;
    }
    if (j->has_items & bit) {
        return gly_buf_putc(j->b, ',');
    }
    j->has_items |= bit;
    return 0;
}

/* Marks a value complete: at the top level, the document is. */
static int after_value(gly_json *j, int err)
{
    if (err == 0 && j->depth == 0) {
        j->done = true;
    }
    return err;
}

void gly_json_init(gly_json *j, gly_buf *b)
{
    memset(j, 0, sizeof(*j));
    j->b = b;
}

static int begin(gly_json *j, char c, bool object)
{
    int err = gly_json_err(j);
    if (err != 0) {
        return err;
    }
    if (j->depth == GLY_JSON_MAX_DEPTH) {
        return fail(j, GLY_ELIMIT);
    }
    err = before_value(j);
    if (err != 0) {
        return err;
    }
    err = gly_buf_putc(j->b, c);
    if (err != 0) {
        return err;
    }
    j->depth++;
    uint64_t bit = level_bit(j->depth);
    j->has_items &= ~bit;
    if (object) {
        j->in_object |= bit;
    } else {
        j->in_object &= ~bit;
    }
    return 0;
}

static int end(gly_json *j, char c, bool object)
{
    int err = gly_json_err(j);
    if (err != 0) {
        return err;
    }
    if (j->depth == 0 || j->after_key || ((j->in_object & level_bit(j->depth)) != 0) != object) {
        return fail(j, GLY_ESTATE);
    }
    err = gly_buf_putc(j->b, c);
    if (err != 0) {
        return err;
    }
    j->depth--;
    return after_value(j, 0);
}

int gly_json_obj_begin(gly_json *j)
{
    return begin(j, '{', true);
}

int gly_json_obj_end(gly_json *j)
{
    return end(j, '}', true);
}

int gly_json_arr_begin(gly_json *j)
{
    return begin(j, '[', false);
}

int gly_json_arr_end(gly_json *j)
{
    return end(j, ']', false);
}

int gly_json_key_str(gly_json *j, gly_str key)
{
    int err = gly_json_err(j);
    if (err != 0) {
        return err;
    }
    if (j->depth == 0 || !(j->in_object & level_bit(j->depth)) || j->after_key) {
        return fail(j, GLY_ESTATE);
    }
    if (key.p == NULL) {
        return fail(j, GLY_EINVAL);
    }
    uint64_t bit = level_bit(j->depth);
    if (j->has_items & bit) {
        err = gly_buf_putc(j->b, ',');
    }
    if (err == 0) {
        err = gly_buf_json_str(j->b, key.p, key.n);
    }
    if (err >= 0) {
        err = gly_buf_putc(j->b, ':');
    }
    if (err != 0) {
        return err;
    }
    j->has_items |= bit;
    j->after_key = true;
    return 0;
}

int gly_json_key(gly_json *j, const char *key)
{
    return gly_json_key_str(j, gly_str_c(key));
}

/* Writes a value that is written in one piece. */
static int scalar(gly_json *j, const char *p, size_t n)
{
    int err = before_value(j);
    if (err == 0) {
        err = gly_buf_append(j->b, p, n);
    }
    return after_value(j, err);
}

int gly_json_strn(gly_json *j, const char *s, size_t n)
{
    if (s == NULL) {
        return gly_json_null(j); /* the absent slice, as str(NULL) */
    }
    int err = before_value(j);
    if (err == 0) {
        err = gly_buf_json_str(j->b, s, n);
        err = err > 0 ? 0 : err; /* 1: something was replaced */
    }
    return after_value(j, err);
}

int gly_json_str(gly_json *j, const char *s)
{
    return gly_json_strn(j, s, s != NULL ? strlen(s) : 0);
}

int gly_json_u64(gly_json *j, uint64_t v)
{
    char tmp[24];
    return scalar(j, tmp, gly_u64_to_dec(tmp, v));
}

int gly_json_i64(gly_json *j, int64_t v)
{
    char tmp[24];
    if (v >= 0) {
        return scalar(j, tmp, gly_u64_to_dec(tmp, (uint64_t)v));
    }
    tmp[0] = '-';
    return scalar(j, tmp, 1 + gly_u64_to_dec(tmp + 1, (uint64_t)0 - (uint64_t)v));
}

/*
 * The shortest of %.15g, %.16g, %.17g that reads back as v (%.17g always
 * does). A locale whose decimal point is not '.' is undone: JSON has only '.'.
 */
static size_t format_double(char *out, size_t cap, double v)
{
    /* whole numbers (counts, votes, prices in cents) are most of them: no printf */
    if (v == (double)(int64_t)v && v > -9007199254740992.0 && v < 9007199254740992.0 &&
        !(v == 0 && signbit(v))) {
        char tmp[24];
        int64_t i = (int64_t)v;
        uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        size_t k = gly_u64_to_dec(tmp, u), n = 0;
        if (i < 0)
            out[n++] = '-';
        memcpy(out + n, tmp, k);
        return n + k;
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        char c = out[i];
        if (!(c >= '0' && c <= '9') && c != '-' && c != '+' && c != 'e') {
            out[i] = '.';
        }
    }
    return (size_t)n;
}

int gly_json_double(gly_json *j, double v)
{
    if (!isfinite(v)) {
        return gly_json_null(j);
    }
    char tmp[40];
    size_t n = format_double(tmp, sizeof(tmp), v);
    return scalar(j, tmp, n);
}

int gly_json_bool(gly_json *j, bool v)
{
    return v ? scalar(j, "true", 4) : scalar(j, "false", 5);
}

int gly_json_null(gly_json *j)
{
    return scalar(j, "null", 4);
}

int gly_json_raw(gly_json *j, const char *raw, size_t n)
{
    return scalar(j, raw, n);
}

int gly_json_finish(gly_json *j)
{
    int err = gly_json_err(j);
    if (err != 0) {
        return err;
    }
    return j->done && j->depth == 0 ? 0 : GLY_ESTATE;
}
