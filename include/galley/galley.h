/*
 * galley/galley.h - the whole public API of libgalley.
 */
#ifndef GALLEY_H
#define GALLEY_H

#include <galley/arena.h>
#include <galley/auth.h>
#include <galley/buf.h>
#include <galley/common.h>
#include <galley/db.h>
#include <galley/http.h>
#include <galley/json.h>
#include <galley/json_read.h>
#include <galley/jwt.h>
#include <galley/log.h>
#include <galley/middleware.h>
#include <galley/obs.h>
#include <galley/openapi.h>
#include <galley/records.h>
#include <galley/redis.h>
#include <galley/time.h>
#include <galley/validate.h>
#include <galley/version.h>

#endif
