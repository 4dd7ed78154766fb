/*
 * src/http/stats.c - per-worker request counters (see stats.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/internal.h"

const double gly__dur_bounds[GLY_DUR_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* Known statuses get a slot each, in order; the rest count per class. */
void gly__status_slots_init(gly_app *app)
{
    unsigned n = 0;
    for (int s = 100; s < 600 && n < GLY_STATUS_SLOTS - 5; s++) {
        if (strcmp(gly_status_text(s), "Unknown") == 0)
            continue;
        app->status_slot[s] = (uint8_t)n;
        app->slot_status[n++] = (uint16_t)s;
    }
    app->known_slots = n;
    for (int s = 100; s < 600; s++)
        if (strcmp(gly_status_text(s), "Unknown") == 0)
            app->status_slot[s] = (uint8_t)(n + (unsigned)(s / 100 - 1));
}

unsigned gly__status_slot(const gly_app *app, int status)
{
    return status >= 100 && status < 600 ? app->status_slot[status] : app->known_slots + 4;
}

void gly__status_label(const gly_app *app, unsigned slot, char out[8])
{
    if (slot < app->known_slots)
        snprintf(out, 8, "%u", app->slot_status[slot]);
    else
        snprintf(out, 8, "%uxx", slot - app->known_slots + 1);
}

int gly__stats_init(struct gly_stats *s, unsigned routes)
{
    memset(s, 0, sizeof *s);
    s->route_slots = routes + 1;
    s->requests =
        calloc((size_t)s->route_slots * GLY_STAT_METHODS * GLY_STATUS_SLOTS, sizeof *s->requests);
    s->dur = calloc((size_t)s->route_slots * (GLY_DUR_BUCKETS + 1), sizeof *s->dur);
    s->dur_ns = calloc(s->route_slots, sizeof *s->dur_ns);
    if (!s->requests || !s->dur || !s->dur_ns) {
        gly__stats_dispose(s);
        return GLY_ENOMEM;
    }
    return 0;
}

void gly__stats_dispose(struct gly_stats *s)
{
    free(s->requests);
    free(s->dur);
    free(s->dur_ns);
    s->requests = s->dur = s->dur_ns = NULL;
}

void gly__stats_request(const gly_app *app, struct gly_stats *s, unsigned route_slot, int method,
                        int status, uint64_t dur_ns)
{
    if (!s->requests || route_slot >= s->route_slots)
        return;
    unsigned m = method >= 0 && method < GLY_METHOD_COUNT ? (unsigned)method : GLY_METHOD_COUNT;
    size_t i = ((size_t)route_slot * GLY_STAT_METHODS + m) * GLY_STATUS_SLOTS +
               gly__status_slot(app, status);
    gly__count(&s->requests[i], 1);
    unsigned b = 0;
    double sec = (double)dur_ns / 1e9;
    while (b < GLY_DUR_BUCKETS && sec > gly__dur_bounds[b])
        b++;
    gly__count(&s->dur[(size_t)route_slot * (GLY_DUR_BUCKETS + 1) + b], 1);
    gly__count(&s->dur_ns[route_slot], dur_ns);
}
