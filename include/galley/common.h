/*
 * galley/common.h - export macro, error codes and the string slice.
 *
 * Every public function returns 0 (or a non-negative count) on success and a
 * negative GLY_E* code on failure. POSIX errors are mapped as -errno, the way
 * libuv does; codes that have no errno counterpart live at -4095 and up.
 */
#ifndef GALLEY_COMMON_H
#define GALLEY_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GLY_EXTERN            __attribute__((visibility("default")))
#define GLY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define GLY_LIKELY(x)         __builtin_expect(!!(x), 1)
#define GLY_UNLIKELY(x)       __builtin_expect(!!(x), 0)
#else
#define GLY_EXTERN
#define GLY_PRINTF(fmt, args)
#define GLY_LIKELY(x)   (x)
#define GLY_UNLIKELY(x) (x)
#endif

/*
 * The error table: name, value, message. One table generates the enum,
 * gly_strerror() and gly_err_name().
 */
#define GLY_ERRNO_MAP(XX)                                                                          \
    XX(E2BIG, -E2BIG, "value too large")                                                           \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                                          \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                        \
    XX(EEXIST, -EEXIST, "already exists")                                                          \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(EIO, -EIO, "i/o error")                                                                     \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                                    \
    XX(ENOENT, -ENOENT, "no such file or directory")                                               \
    XX(ENOMEM, -ENOMEM, "out of memory")                                                           \
    XX(ENOSPC, -ENOSPC, "no space left")                                                           \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(EPIPE, -EPIPE, "broken pipe")                                                               \
    XX(EPROTO, -EPROTO, "protocol error")                                                          \
    XX(ERANGE, -ERANGE, "result out of range")                                                     \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(EOF, -4095, "end of file")                                                                  \
    XX(ELIMIT, -4094, "limit exceeded")                                                            \
    XX(ESTATE, -4093, "call not valid in this state")                                              \
    XX(ENOTFOUND, -4092, "no such row")                                                            \
    XX(EUNIQUE, -4091, "unique constraint violated")                                               \
    XX(EFOREIGN, -4090, "foreign key constraint violated")                                         \
    XX(ENOTNULL, -4089, "not-null constraint violated")                                            \
    XX(ECHECK, -4088, "check constraint violated")                                                 \
    XX(EBUSY, -EBUSY, "database busy")                                                             \
    XX(ESERIAL, -4087, "serialization failure")                                                    \
    XX(ECONNLOST, -4086, "database connection lost")                                               \
    XX(EUNAVAIL, -4085, "service unavailable")                                                     \
    XX(EDB, -4084, "database error")                                                               \
    XX(EREDIS, -4083, "redis error reply")

enum gly_errno {
#define GLY__ERR_ENUM(name, value, msg) GLY_##name = (value),
    GLY_ERRNO_MAP(GLY__ERR_ENUM)
#undef GLY__ERR_ENUM
};

/* Returns a static, human readable message for a GLY_E* code (or "unknown error"). */
GLY_EXTERN const char *gly_strerror(int err);

/* Returns the static name of a GLY_E* code ("EINVAL") or "UNKNOWN". */
GLY_EXTERN const char *gly_err_name(int err);

/*
 * A non-owning string slice. p need not be NUL-terminated; p == NULL means
 * "absent", which is different from an empty string ({"", 0}).
 */
typedef struct gly_str {
    const char *p;
    size_t n;
} gly_str;

#define GLY_STR(lit) ((gly_str){"" lit, sizeof(lit) - 1})
#define GLY_STR_NULL ((gly_str){NULL, 0})

/* Returns a slice over the NUL-terminated string s (NULL gives the absent slice). */
static inline gly_str gly_str_c(const char *s)
{
    gly_str r = {s, s ? strlen(s) : 0};
    return r;
}

/* Returns true when a and b hold the same bytes. */
static inline bool gly_str_eq(gly_str a, gly_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Returns true when a and b are equal ignoring ASCII case. */
GLY_EXTERN bool gly_str_ieq(gly_str a, gly_str b);

/* Returns true when a and the NUL-terminated s are equal ignoring ASCII case. */
GLY_EXTERN bool gly_str_ieq_c(gly_str a, const char *s);

#ifdef __cplusplus
}
#endif
#endif
