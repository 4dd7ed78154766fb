/*
 * src/auth/revoke.c - revocations across nodes, through Redis.
 *
 * Every node caches the sessions it checked for session-cache (auth.c,
 * check_session) and drops them all at once when struct auth's gen moves.
 * With redis-url set, a revocation on one node (gly__auth_revoked) is also
 * published on CHANNEL, and every node, subscribed at start, moves its own
 * gen when the message comes: the others stop trusting their cached
 * sessions within a round trip to Redis instead of session-cache.
 *
 * The message is the publishing node's id, so that a node skips its own
 * (its gen moved already). When the subscription is (re)established, the
 * node moves gen too: revocations published while it was not subscribed
 * were missed. While Redis is unreachable nothing waits for it: requests
 * are served, revocations elsewhere take up to session-cache to be seen
 * (as without Redis), and the "redis" readiness check fails.
 */
#include <sodium.h>
#include <string.h>

#include "auth/internal.h"

#define CHANNEL "galley:auth:revoked"

static void on_revoked(void *ctx, gly_str channel, gly_str message)
{
    struct auth *au = ctx;
    (void)channel;
    if (message.p && message.n == strlen(au->node) && memcmp(message.p, au->node, message.n) == 0)
        return;
    atomic_fetch_add_explicit(&au->gen, 1, memory_order_release);
    if (!message.p)
        gly_log_debug("auth: subscribed to revocations; cached sessions dropped");
}

int gly__revoke_init(gly_app *app, struct auth *au)
{
    gly_redis *r;
    unsigned char id[(sizeof au->node - 1) / 2];
    int rc = gly_redis_use(app, &r);
    if (rc == GLY_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(au->node, sizeof au->node, id, sizeof id);
    au->redis = r;
    return gly_redis_subscribe(r, CHANNEL, on_revoked, au);
}

void gly__revoke_publish(struct auth *au)
{
    if (!au->redis)
        return;
    int rc = gly_redis_publish(au->redis, CHANNEL, au->node, strlen(au->node));
    if (rc < 0 && rc != GLY_ESTATE)
        gly_log_warn("auth: cannot publish a revocation: %s", gly_strerror(rc));
}
