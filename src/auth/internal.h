/*
 * src/auth/internal.h - the auth module's private state.
 *
 *   gly_app ── slot GLY_SLOT_AUTH ── struct auth: token key, the hash gate,
 *                                     the dummy hash for unknown users
 */
#ifndef GALLEY_AUTH_INTERNAL_H
#define GALLEY_AUTH_INTERNAL_H

#include <assert.h>
#include <uv.h>

#include <galley/auth.h>
#include <galley/galley.h>
#include <galley/jwt.h>

/* At most max password hashes run at once; the rest wait in a FIFO. */
struct gate {
    uv_mutex_t lock;
    unsigned max, busy, waiting;
    void *head, *tail; /* struct waiter (password.c) */
};

struct auth {
    gly_app *app;
    gly_jwt_key key;
    struct gate gate;
    bool gate_ok;
    char dummy_hash[GLY_PASSWORD_HASH_MAX];
};

static inline struct auth *gly__auth_of(const gly_app *app)
{
    return gly_app_slot(app, GLY_SLOT_AUTH);
}

/* password.c */
int gly__gate_init(struct gate *g, unsigned max);
void gly__gate_dispose(struct gate *g);
int gly__password_dummy(struct auth *au, const gly_config *cfg);

#endif
