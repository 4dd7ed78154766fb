/*
 * src/core/version.c - the library version.
 */
#include <galley/version.h>

const char *gly_version(void)
{
    return GLY_VERSION_STRING;
}
