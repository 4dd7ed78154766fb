/*
 * src/http/stats.h - the engine's counters, one set per worker.
 *
 * Each worker writes only its own counters, with relaxed atomic stores (no
 * lock prefix: one writer), and /metrics reads every worker's with relaxed
 * loads. A request is counted under (route, method, status slot); the route
 * slot 0 is "no route" (404, 405, OPTIONS, engine errors) so that unknown
 * paths cannot grow the label set.
 */
#ifndef GALLEY_HTTP_STATS_H
#define GALLEY_HTTP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define GLY_STATUS_SLOTS 64                     /* known statuses, then one per class 1xx..5xx */
#define GLY_DUR_BUCKETS  14                     /* finite histogram bounds, see gly__dur_bounds */
#define GLY_STAT_METHODS (GLY_METHOD_COUNT + 1) /* the last: not parsed (engine errors) */

typedef _Atomic uint64_t gly_counter;

struct gly_stats {
    unsigned route_slots;  /* routes + 1 */
    gly_counter *requests; /* [route_slots][GLY_STAT_METHODS][GLY_STATUS_SLOTS] */
    gly_counter *dur;      /* [route_slots][GLY_DUR_BUCKETS + 1], not cumulative */
    gly_counter *dur_ns;   /* [route_slots] */
    gly_counter bytes_in, bytes_out;
    gly_counter conns, in_flight; /* gauges, written by the owner only */
};

/* The upper bounds of the duration buckets, in seconds. */
extern const double gly__dur_bounds[GLY_DUR_BUCKETS];

/* Adds v to a counter the calling worker owns. */
static inline void gly__count(gly_counter *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline uint64_t gly__counter_get(gly_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

struct gly_app;
int gly__stats_init(struct gly_stats *s, unsigned routes);
void gly__stats_dispose(struct gly_stats *s);

/* Counts one answered request: route slot, method, status, duration. */
void gly__stats_request(const struct gly_app *app, struct gly_stats *s, unsigned route_slot,
                        int method, int status, uint64_t dur_ns);

/* The status slot of a status, and the label of a slot ("404", "4xx"). */
unsigned gly__status_slot(const struct gly_app *app, int status);
void gly__status_label(const struct gly_app *app, unsigned slot, char out[8]);

#endif
