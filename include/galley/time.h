/*
 * galley/time.h - clocks and the cached HTTP Date.
 */
#ifndef GALLEY_TIME_H
#define GALLEY_TIME_H

#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic clock in nanoseconds. */
GLY_EXTERN uint64_t gly_now_ns(void);

/* Wall clock in milliseconds since the Unix epoch. */
GLY_EXTERN int64_t gly_wall_ms(void);

/*
 * Formats unix seconds t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT",
 * exactly 29 characters) into out (at least 30 bytes, NUL-terminated).
 */
GLY_EXTERN void gly_http_date_format(int64_t t, char out[30]);

/*
 * Formats wall milliseconds as RFC 3339 UTC with milliseconds
 * ("2026-11-22T10:00:00.123Z", 24 characters) into out (at least 25 bytes).
 */
GLY_EXTERN void gly_iso_time_format(int64_t ms, char out[25]);

/*
 * Returns the calling thread's cached IMF-fixdate (29 characters, NUL-terminated).
 * The cache is refreshed by gly_date_refresh() - each worker calls it once a
 * second - and on first use in a thread.
 */
GLY_EXTERN const char *gly_http_date(void);

/* Recomputes the calling thread's cached Date from the wall clock. */
GLY_EXTERN void gly_date_refresh(void);

#ifdef __cplusplus
}
#endif
#endif
