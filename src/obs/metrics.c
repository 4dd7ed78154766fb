/*
 * src/obs/metrics.c - GET /metrics in the Prometheus text format (0.0.4).
 *
 * The handler sums the per-worker counters (src/http/stats.h) with relaxed
 * loads: the figures of one scrape are each exact, not a snapshot taken at
 * one instant, which is what Prometheus expects of counters anyway.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/internal.h"

/* Appends a label value with \\, \" and \n escaped. */
static void put_label(gly_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            gly_buf_putc(b, '\\'), gly_buf_putc(b, *v);
        else if (*v == '\n')
            gly_buf_puts(b, "\\n");
        else
            gly_buf_putc(b, *v);
    }
}

static void put_help(gly_buf *b, const char *name, const char *type, const char *help)
{
    gly_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *route_label(const gly_app *app, unsigned slot)
{
    return slot == 0 ? "(unmatched)" : app->routes[slot - 1]->pattern;
}

static uint64_t sum(const gly_app *app, size_t offset_in_stats, size_t index)
{
    uint64_t total = 0;
    for (unsigned w = 0; w < app->nworkers; w++) {
        struct gly_stats *s = &app->workers[w].stats;
        gly_counter *arr = *(gly_counter **)((char *)s + offset_in_stats);
        if (arr)
            total += gly__counter_get(&arr[index]);
    }
    return total;
}

static void put_requests(gly_buf *b, const gly_app *app, unsigned slots)
{
    put_help(b, "galley_http_requests_total", "counter",
             "HTTP requests answered, by method, route pattern and status.");
    for (unsigned r = 0; r < slots; r++)
        for (unsigned m = 0; m < GLY_STAT_METHODS; m++)
            for (unsigned st = 0; st < GLY_STATUS_SLOTS; st++) {
                size_t i = ((size_t)r * GLY_STAT_METHODS + m) * GLY_STATUS_SLOTS + st;
                uint64_t n = sum(app, offsetof(struct gly_stats, requests), i);
                if (!n)
                    continue;
                char status[8];
                gly__status_label(app, st, status);
                const char *method = m < GLY_METHOD_COUNT ? gly_method_name((int)m) : "other";
                gly_buf_printf(b, "galley_http_requests_total{method=\"%s\",route=\"", method);
                put_label(b, route_label(app, r));
                gly_buf_printf(b, "\",status=\"%s\"} %llu\n", status, (unsigned long long)n);
            }
}

static void put_durations(gly_buf *b, const gly_app *app, unsigned slots)
{
    put_help(b, "galley_http_request_duration_seconds", "histogram",
             "Time from a complete request head to the end of its handler, by route pattern.");
    for (unsigned r = 0; r < slots; r++) {
        uint64_t cum = 0, buckets[GLY_DUR_BUCKETS + 1];
        for (unsigned k = 0; k <= GLY_DUR_BUCKETS; k++) {
            buckets[k] =
                sum(app, offsetof(struct gly_stats, dur), (size_t)r * (GLY_DUR_BUCKETS + 1) + k);
            cum += buckets[k];
        }
        if (cum == 0)
            continue;
        uint64_t running = 0;
        for (unsigned k = 0; k <= GLY_DUR_BUCKETS; k++) {
            running += buckets[k];
            gly_buf_puts(b, "galley_http_request_duration_seconds_bucket{route=\"");
            put_label(b, route_label(app, r));
            if (k < GLY_DUR_BUCKETS)
                gly_buf_printf(b, "\",le=\"%g\"} %llu\n", gly__dur_bounds[k],
                               (unsigned long long)running);
            else
                gly_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)running);
        }
        uint64_t ns = sum(app, offsetof(struct gly_stats, dur_ns), r);
        gly_buf_puts(b, "galley_http_request_duration_seconds_sum{route=\"");
        put_label(b, route_label(app, r));
        gly_buf_printf(b, "\"} %.9f\n", (double)ns / 1e9);
        gly_buf_puts(b, "galley_http_request_duration_seconds_count{route=\"");
        put_label(b, route_label(app, r));
        gly_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
}

static uint64_t sum_scalar(const gly_app *app, size_t offset)
{
    uint64_t total = 0;
    for (unsigned w = 0; w < app->nworkers; w++)
        total += gly__counter_get((gly_counter *)((char *)&app->workers[w].stats + offset));
    return total;
}

static void put_engine(gly_buf *b, const gly_app *app)
{
    put_help(b, "galley_http_requests_in_flight", "gauge", "Requests being handled now.");
    gly_buf_printf(b, "galley_http_requests_in_flight %lld\n",
                   (long long)sum_scalar(app, offsetof(struct gly_stats, in_flight)));
    put_help(b, "galley_http_connections_open", "gauge", "Open client connections.");
    gly_buf_printf(b, "galley_http_connections_open %lld\n",
                   (long long)sum_scalar(app, offsetof(struct gly_stats, conns)));
    put_help(b, "galley_http_received_bytes_total", "counter", "Bytes read from clients.");
    gly_buf_printf(b, "galley_http_received_bytes_total %llu\n",
                   (unsigned long long)sum_scalar(app, offsetof(struct gly_stats, bytes_in)));
    put_help(b, "galley_http_sent_bytes_total", "counter", "Bytes of responses written.");
    gly_buf_printf(b, "galley_http_sent_bytes_total %llu\n",
                   (unsigned long long)sum_scalar(app, offsetof(struct gly_stats, bytes_out)));
    put_help(b, "galley_workers", "gauge", "Worker threads.");
    gly_buf_printf(b, "galley_workers %u\n", app->nworkers);
}

static unsigned count_fds(void)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own fd */
}

static void put_process(gly_buf *b, const gly_app *app)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    put_help(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    gly_buf_printf(b, "process_cpu_seconds_total %.6f\n", cpu);

    unsigned long long vsz = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
            vsz = rss = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    put_help(b, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    gly_buf_printf(b, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
    put_help(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
    gly_buf_printf(b, "process_virtual_memory_bytes %llu\n", vsz * (unsigned long long)page);

    struct rlimit rl;
    put_help(b, "process_open_fds", "gauge", "Open file descriptors.");
    gly_buf_printf(b, "process_open_fds %u\n", count_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        put_help(b, "process_max_fds", "gauge", "Limit on open file descriptors.");
        gly_buf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    put_help(b, "process_start_time_seconds", "gauge", "Start time, seconds since the epoch.");
    gly_buf_printf(b, "process_start_time_seconds %.3f\n", app->start_time);
    put_help(b, "galley_build_info", "gauge", "Build information; the value is always 1.");
    gly_buf_printf(b, "galley_build_info{version=\"%s\"} 1\n", gly_version());
}

int gly_metrics_add(gly_app *app, gly_metrics_fn fn, void *ctx)
{
    struct metrics_ext *n = realloc(app->mext, (app->nmext + 1) * sizeof *n);
    if (!n)
        return GLY_ENOMEM;
    app->mext = n;
    app->mext[app->nmext++] = (struct metrics_ext){fn, ctx};
    return 0;
}

int gly__metrics_route(gly_req *req)
{
    gly_app *app = gly_req_app(req);
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    unsigned slots = app->nroutes + 1;
    put_requests(&b, app, slots);
    put_durations(&b, app, slots);
    put_engine(&b, app);
    put_process(&b, app);
    for (unsigned i = 0; i < app->nmext; i++)
        app->mext[i].fn(&b, app->mext[i].ctx);
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
