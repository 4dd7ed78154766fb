/*
 * galley/version.h - the library version.
 */
#ifndef GALLEY_VERSION_H
#define GALLEY_VERSION_H

#include <galley/common.h>

#define GLY_VERSION_MAJOR  0
#define GLY_VERSION_MINOR  1
#define GLY_VERSION_PATCH  0
#define GLY_VERSION_STRING "0.1.0"

/* Returns the version of the library linked in ("0.1.0"). */
GLY_EXTERN const char *gly_version(void);

#endif
