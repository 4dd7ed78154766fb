/*
 * src/http/config.h - configuration checks (internal to libgalley).
 *
 * gly_config_set() and friends check each value on its own as it is given.
 * What depends on more than one setting, or on fields an embedding program
 * wrote into the struct directly, is checked once before the server starts.
 */
#ifndef GALLEY_HTTP_CONFIG_H
#define GALLEY_HTTP_CONFIG_H

#include <galley/common.h>
#include <galley/http.h>

/*
 * Checks a whole configuration: every field within the bounds gly_config_set()
 * enforces, http a valid NUL-terminated "host:port", and max_head at least
 * max_request_line. Returns 0, or GLY_EINVAL with one line in err (may be
 * NULL, errlen bytes) naming the setting(s) and the problem.
 */
int gly__config_check(const gly_config *cfg, char *err, size_t errlen);

#endif
