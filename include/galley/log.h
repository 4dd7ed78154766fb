/*
 * galley/log.h - leveled logger writing JSON lines.
 *
 * One line per event: {"time":"2026-11-22T10:00:00.123Z","level":"info","msg":"..."}
 * plus optional fields. The gly_log macros do not evaluate their arguments
 * below the active level.
 *
 * A thread may own a log buffer (every worker does): its lines are collected
 * and written with one write(2) when gly_log_flush() is called (a worker
 * flushes once per loop iteration) or when the buffer fills. Without a
 * buffer each line is written at once. Lines never interleave mid-line.
 */
#ifndef GALLEY_LOG_H
#define GALLEY_LOG_H

#include <galley/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gly_log_level {
    GLY_LOG_DEBUG = 0,
    GLY_LOG_INFO = 1,
    GLY_LOG_WARN = 2,
    GLY_LOG_ERROR = 3,
    GLY_LOG_OFF = 4
} gly_log_level;

/* The active level. Set it at start-up with gly_log_set_level(). */
GLY_EXTERN extern int gly_log_threshold;

/* Sets the active level. */
GLY_EXTERN void gly_log_set_level(int level);

/* Parses "debug", "info", "warn", "error" or "off". Returns the level or GLY_EINVAL. */
GLY_EXTERN int gly_log_level_parse(const char *name);

/* Returns the static name of a level ("info"). */
GLY_EXTERN const char *gly_log_level_name(int level);

/* Sends log output to fd (default 2). The caller keeps the fd open. */
GLY_EXTERN void gly_log_set_fd(int fd);

/*
 * Writes one event. fields, when not NULL, is a pre-rendered run of JSON
 * members without braces ("\"route\":\"/x\",\"n\":3") appended after msg.
 * Use the macros below rather than this.
 */
GLY_EXTERN void gly_log_event(int level, const char *fields, const char *fmt, ...) GLY_PRINTF(3, 4);

/* Appends a complete line (n bytes, without the newline) to the log as is. */
GLY_EXTERN void gly_log_line(const char *line, size_t n);

/*
 * Gives the calling thread a buffer of cap bytes (returns 0 or GLY_ENOMEM).
 * gly_log_thread_end() flushes and frees it.
 */
GLY_EXTERN int gly_log_thread_begin(size_t cap);
GLY_EXTERN void gly_log_thread_end(void);

/* Writes out what the calling thread's buffer holds. */
GLY_EXTERN void gly_log_flush(void);

#define gly_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((level) >= gly_log_threshold)                                                          \
            gly_log_event((level), NULL, __VA_ARGS__);                                             \
    } while (0)

#define gly_log_debug(...) gly_log(GLY_LOG_DEBUG, __VA_ARGS__)
#define gly_log_info(...)  gly_log(GLY_LOG_INFO, __VA_ARGS__)
#define gly_log_warn(...)  gly_log(GLY_LOG_WARN, __VA_ARGS__)
#define gly_log_error(...) gly_log(GLY_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
