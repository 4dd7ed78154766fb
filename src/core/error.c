/*
 * src/core/error.c - error names and messages, ASCII case-insensitive compare.
 *
 * Both lookups are generated from GLY_ERRNO_MAP, so a code added to the table
 * gets its name and message with no edit here (libuv's uv_strerror/uv_err_name).
 */
#include <galley/common.h>

const char *gly_strerror(int err)
{
    switch (err) {
#define GLY__ERR_MSG(name, value, msg)                                                             \
    case GLY_##name:                                                                               \
        return msg;
        GLY_ERRNO_MAP(GLY__ERR_MSG)
#undef GLY__ERR_MSG
    }
    return "unknown error";
}

const char *gly_err_name(int err)
{
    switch (err) {
#define GLY__ERR_NAME(name, value, msg)                                                            \
    case GLY_##name:                                                                               \
        return #name;
        GLY_ERRNO_MAP(GLY__ERR_NAME)
#undef GLY__ERR_NAME
    }
    return "UNKNOWN";
}

/* Folds only A-Z: header names and tokens are ASCII, and locale rules must not apply. */
static inline unsigned char ascii_lower(unsigned char c)
{
    return (unsigned char)(c - 'A') < 26 ? (unsigned char)(c | 0x20) : c;
}

bool gly_str_ieq(gly_str a, gly_str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        if (ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)b.p[i]))
            return false;
    }
    return true;
}

bool gly_str_ieq_c(gly_str a, const char *s)
{
    /* A NULL s reads as "", the same way an absent slice compares equal to an empty one. */
    if (!s)
        return a.n == 0;
    /* Walk s once instead of strlen() first; a NUL inside s ends the match early. */
    for (size_t i = 0; i < a.n; i++) {
        if (s[i] == '\0' || ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)s[i]))
            return false;
    }
    return s[a.n] == '\0';
}
