/*
 * src/core/log.c - leveled JSON-lines logger (see galley/log.h).
 *
 * An event is rendered on the stack: the message is formatted into a fixed
 * buffer (longer messages are cut), escaped with gly_buf_json_str() and
 * wrapped in {"time":...,"level":...,"msg":...}. The finished line goes
 * either into the calling thread's buffer, which is written out with one
 * write(2) per flush, or, without a buffer, straight to the fd with one
 * writev(2) (the line and its newline together, so they cannot be split by
 * another thread's write).
 *
 * Nothing here takes a lock: each thread writes whole lines or whole batches
 * of lines, and the kernel keeps each write in one piece (always for pipes up
 * to PIPE_BUF and for O_APPEND files). The logger keeps errno intact, so a
 * caller can log a failure and then still return -errno.
 *
 * Not async-signal-safe: do not log from a signal handler.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <galley/buf.h>
#include <galley/log.h>
#include <galley/time.h>

/* Longest message kept; the rest is cut. Handler coroutines have 128 KiB of stack. */
#define MSG_MAX 4096
/* Stack seed for the whole line; longer lines (big fields, many escapes) go to the heap. */
#define LINE_SEED 2048

int gly_log_threshold = GLY_LOG_INFO;

/* Atomic only so that a set_fd racing a log call is defined; relaxed order is enough. */
static _Atomic int log_fd = 2;

/* The calling thread's batch of complete lines; p == NULL: no buffer, write at once. */
static _Thread_local struct {
    char *p;
    size_t len, cap;
} tbuf;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void gly_log_set_level(int level)
{
    if (level < GLY_LOG_DEBUG)
        level = GLY_LOG_DEBUG;
    if (level > GLY_LOG_OFF)
        level = GLY_LOG_OFF;
    gly_log_threshold = level;
}

int gly_log_level_parse(const char *name)
{
    gly_str s = gly_str_c(name);

    if (!name)
        return GLY_EINVAL;
    for (int i = GLY_LOG_DEBUG; i <= GLY_LOG_OFF; i++) {
        if (gly_str_ieq_c(s, level_names[i]))
            return i;
    }
    return GLY_EINVAL;
}

const char *gly_log_level_name(int level)
{
    if (level < GLY_LOG_DEBUG || level > GLY_LOG_OFF)
        return "unknown";
    return level_names[level];
}

void gly_log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

/* Writes all of iov, resuming after partial writes and EINTR. Other errors drop the rest. */
static void write_iov(struct iovec *iov, int cnt)
{
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);

    while (cnt > 0) {
        ssize_t r = writev(fd, iov, cnt);
        size_t done;

        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* The logger has nowhere to report its own failure. */
            return;
        }
        done = (size_t)r;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
}

static void flush_tbuf(void)
{
    struct iovec iov = {tbuf.p, tbuf.len};

    if (tbuf.len == 0)
        return;
    write_iov(&iov, 1);
    tbuf.len = 0;
}

/* Sends the line (n bytes, no newline) to the thread buffer or to the fd. */
static void emit(const char *line, size_t n)
{
    struct iovec iov[2] = {{(void *)line, n}, {(void *)"\n", 1}};

    if (tbuf.p) {
        if (n + 1 > tbuf.cap - tbuf.len)
            flush_tbuf();
        if (n + 1 <= tbuf.cap) {
            memcpy(tbuf.p + tbuf.len, line, n);
            tbuf.p[tbuf.len + n] = '\n';
            tbuf.len += n + 1;
            return;
        }
        /* Longer than the whole buffer: it goes out directly, after what was queued. */
    }
    write_iov(iov, 2);
}

void gly_log_event(int level, const char *fields, const char *fmt, ...)
{
    char msg[MSG_MAX], seed[LINE_SEED], when[25];
    int saved_errno = errno;
    gly_buf line;
    va_list ap;
    size_t n;
    int r;

    /* The macros filter already; this keeps direct calls and GLY_LOG_OFF honest. */
    if (level < gly_log_threshold || level < GLY_LOG_DEBUG || level >= GLY_LOG_OFF)
        return;

    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A cut multi-byte character at the end is turned into U+FFFD by the escaper. */
    n = r < 0 ? 0 : (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1;

    gly_iso_time_format(gly_wall_ms(), when);
    gly_buf_init(&line, seed, sizeof(seed), NULL, 0);
    gly_buf_append(&line, "{\"time\":\"", 9);
    gly_buf_append(&line, when, 24);
    gly_buf_append(&line, "\",\"level\":\"", 11);
    gly_buf_puts(&line, level_names[level]);
    gly_buf_append(&line, "\",\"msg\":", 8);
    gly_buf_json_str(&line, msg, n);
    if (fields && fields[0]) {
        gly_buf_putc(&line, ',');
        gly_buf_puts(&line, fields);
    }
    gly_buf_putc(&line, '}');
    /* Out of memory for a huge line: dropping it beats writing half a JSON object. */
    if (gly_buf_err(&line) == 0)
        emit(line.p, line.len);
    gly_buf_dispose(&line);
    errno = saved_errno;
}

void gly_log_line(const char *line, size_t n)
{
    int saved_errno = errno;

    emit(line, n);
    errno = saved_errno;
}

int gly_log_thread_begin(size_t cap)
{
    gly_log_thread_end();
    /* A zero-byte buffer could hold no line: the thread simply writes each line at once. */
    if (cap == 0)
        return 0;
    tbuf.p = malloc(cap);
    if (!tbuf.p)
        return GLY_ENOMEM;
    tbuf.cap = cap;
    tbuf.len = 0;
    return 0;
}

void gly_log_thread_end(void)
{
    gly_log_flush();
    free(tbuf.p);
    tbuf.p = NULL;
    tbuf.len = tbuf.cap = 0;
}

void gly_log_flush(void)
{
    int saved_errno = errno;

    flush_tbuf();
    errno = saved_errno;
}
