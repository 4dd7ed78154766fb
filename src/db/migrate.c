/*
 * src/db/migrate.c - versioned migrations of the modules.
 *
 * Each module brings an array of migrations, version 1, 2, ... The table
 * galley_migrations records what ran, with a checksum of the text that ran:
 * a migration edited after it was applied stops the start with a clear
 * message, because the database no longer matches what the code says it is.
 * Each migration runs in a transaction together with its record, so a
 * failure leaves neither. On PostgreSQL an advisory lock makes nodes that
 * start together apply each migration once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "db/internal.h"

#define MIGRATION_LOCK 7271001 /* pg_advisory_lock key: "galley migrations" */

static const char create_table[] = "CREATE TABLE IF NOT EXISTS galley_migrations ("
                                   " module TEXT NOT NULL,"
                                   " version INTEGER NOT NULL,"
                                   " name TEXT NOT NULL,"
                                   " checksum TEXT NOT NULL,"
                                   " applied_at TEXT NOT NULL,"
                                   " PRIMARY KEY (module, version))";

static bool is_pg(const struct gly_db *db)
{
    return db->drv == &gly__pg_driver;
}

/* The text of m for this database's dialect. */
static const char *sql_of(const struct gly_db *db, const gly_migration *m)
{
    const char *own = is_pg(db) ? m->pg : m->sqlite;
    return own ? own : m->sql ? m->sql : "";
}

/* FNV-1a, 64 bits, as 16 hex digits: enough to notice an edit (not a security check). */
static void checksum(const char *text, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)gly__fnv1a(text, strlen(text)));
}

struct applied {
    gly_res *res; /* module, version, checksum, applied_at */
};

static gly_row *find_applied(const struct applied *ap, const char *module, unsigned version)
{
    for (size_t i = 0; i < gly_res_count(ap->res); i++) {
        gly_row *r = gly_res_row(ap->res, i);
        gly_str mod = gly_row_str(r, "module");
        if (gly_row_i64(r, "version") == version && mod.n == strlen(module) &&
            memcmp(mod.p, module, mod.n) == 0)
            return r;
    }
    return NULL;
}

static int load_applied(struct gly_db *db, gly_arena *a, struct applied *ap)
{
    int rc = db->drv->script(db, create_table);
    if (rc < 0)
        return rc;
    return gly_db_query_sync(db, a, &ap->res,
                             "-- name: migrations_applied\n"
                             "SELECT module, version, checksum, applied_at FROM galley_migrations",
                             NULL, 0);
}

/*
 * Checks the applied migrations against the code. Returns 0, or GLY_EINVAL
 * with the message in db->errmsg for the first whose text changed. *pending
 * gets the number not applied yet.
 */
static int verify(struct gly_db *db, const struct applied *ap, unsigned *pending)
{
    *pending = 0;
    for (size_t i = 0; i < db->nmodules; i++) {
        const struct db_module *mod = &db->modules[i];
        for (size_t k = 0; k < mod->count; k++) {
            const gly_migration *m = &mod->list[k];
            gly_row *r = find_applied(ap, mod->name, m->version);
            if (!r) {
                (*pending)++;
                continue;
            }
            char sum[17];
            checksum(sql_of(db, m), sum);
            gly_str got = gly_row_str(r, "checksum");
            if (got.n != 16 || memcmp(got.p, sum, 16) != 0) {
                gly__db_seterr(db,
                               "migration %s %u (%s) differs from the one applied on %.*s "
                               "(checksum %s, applied %.*s): restore its text and put the "
                               "change in a new migration",
                               mod->name, m->version, m->name, (int)gly_row_str(r, "applied_at").n,
                               gly_row_str(r, "applied_at").p, sum, (int)got.n, got.p);
                return GLY_EINVAL;
            }
        }
    }
    return 0;
}

static void now_iso(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int apply_one(struct gly_db *db, gly_arena *a, const char *module, const gly_migration *m)
{
    const char *text = sql_of(db, m);
    char sum[17], when[32];
    checksum(text, sum);
    now_iso(when);
    int rc = gly_db_query_sync(db, a, NULL, "BEGIN", NULL, 0);
    if (rc < 0)
        return rc;
    if ((rc = db->drv->script(db, text)) < 0) {
        char why[sizeof db->errmsg];
        snprintf(why, sizeof why, "%s", db->errmsg);
        gly__db_seterr(db, "migration %s %u (%s) failed: %s", module, m->version, m->name, why);
        goto fail;
    }
    const gly_db_val args[] = {GLY_TEXT(module), GLY_I64(m->version), GLY_TEXT(m->name),
                               GLY_TEXT(sum), GLY_TEXT(when)};
    rc = gly_db_query_sync(db, a, NULL,
                           "-- name: migrations_record\n"
                           "INSERT INTO galley_migrations (module, version, name, checksum, "
                           "applied_at) VALUES ($1, $2, $3, $4, $5)",
                           args, 5);
    if (rc < 0)
        goto fail;
    if ((rc = gly_db_query_sync(db, a, NULL, "COMMIT", NULL, 0)) < 0)
        goto fail;
    return 0;
fail:;
    char keep[sizeof db->errmsg];
    snprintf(keep, sizeof keep, "%s", db->errmsg);
    gly_db_query_sync(db, a, NULL, "ROLLBACK", NULL, 0);
    snprintf(db->errmsg, sizeof db->errmsg, "%s", keep);
    return rc;
}

int gly_db_migrate(gly_db *db, gly_buf *report)
{
    if (!db->opened)
        return GLY_ESTATE;
    gly_arena a;
    gly_arena_init(&a, 0);
    struct applied ap = {0};
    int rc, applied = 0;
    bool locked = false;
    if (is_pg(db)) {
        const gly_db_val key[] = {GLY_I64(MIGRATION_LOCK)};
        if ((rc = gly_db_query_sync(db, &a, NULL, "SELECT pg_advisory_lock($1)", key, 1)) < 0)
            goto done;
        locked = true;
    }
    if ((rc = load_applied(db, &a, &ap)) < 0)
        goto done;
    unsigned pending;
    if ((rc = verify(db, &ap, &pending)) < 0)
        goto done;
    for (size_t i = 0; i < db->nmodules; i++) {
        const struct db_module *mod = &db->modules[i];
        for (size_t k = 0; k < mod->count; k++) {
            const gly_migration *m = &mod->list[k];
            if (find_applied(&ap, mod->name, m->version))
                continue;
            if ((rc = apply_one(db, &a, mod->name, m)) < 0)
                goto done;
            applied++;
            gly_log_info("applied migration %s %u (%s)", mod->name, m->version, m->name);
            if (report)
                gly_buf_printf(report, "applied %s %u %s\n", mod->name, m->version, m->name);
        }
    }
    rc = applied;
done:
    if (locked) {
        const gly_db_val key[] = {GLY_I64(MIGRATION_LOCK)};
        char keep[sizeof db->errmsg];
        snprintf(keep, sizeof keep, "%s", db->errmsg);
        gly_db_query_sync(db, &a, NULL, "SELECT pg_advisory_unlock($1)", key, 1);
        snprintf(db->errmsg, sizeof db->errmsg, "%s", keep);
    }
    gly_arena_dispose(&a);
    return rc;
}

/* With the migrate setting off: refuse a changed migration, warn about pending ones. */
int gly__db_migrate_check(struct gly_db *db)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    struct applied ap = {0};
    unsigned pending = 0;
    int rc = load_applied(db, &a, &ap);
    if (rc == 0)
        rc = verify(db, &ap, &pending);
    if (rc == 0 && pending > 0)
        gly_log_warn("%u migrations are pending and migrate is off: run galley migrate up",
                     pending);
    gly_arena_dispose(&a);
    return rc;
}

int gly_db_migrate_status(gly_db *db, gly_buf *out)
{
    if (!db->opened)
        return GLY_ESTATE;
    gly_arena a;
    gly_arena_init(&a, 0);
    struct applied ap = {0};
    int rc = load_applied(db, &a, &ap);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < db->nmodules; i++) {
        const struct db_module *mod = &db->modules[i];
        for (size_t k = 0; k < mod->count; k++) {
            const gly_migration *m = &mod->list[k];
            gly_row *r = find_applied(&ap, mod->name, m->version);
            char sum[17];
            checksum(sql_of(db, m), sum);
            if (!r) {
                gly_buf_printf(out, "%-12s %4u  pending   %s\n", mod->name, m->version, m->name);
                continue;
            }
            gly_str got = gly_row_str(r, "checksum"), at = gly_row_str(r, "applied_at");
            bool same = got.n == 16 && memcmp(got.p, sum, 16) == 0;
            gly_buf_printf(out, "%-12s %4u  %-8s  %s (%.*s)\n", mod->name, m->version,
                           same ? "applied" : "CHANGED", m->name, (int)at.n, at.p);
        }
    }
    rc = gly_buf_err(out);
done:
    gly_arena_dispose(&a);
    return rc;
}
