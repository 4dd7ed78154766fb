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

/* auth.c: shared with admin.c */
#define GLY_AUTH_USER_COLS "id, email, name, role, email_verified, created, updated"
void gly__user_json(gly_json *j, const gly_row *u, bool admin);
int gly__send_user(gly_req *req, int status, const gly_row *u);
void gly__audit(gly_req *req, const char *event, const char *user_id, const char *detail);
void gly__iso_now(char out[25]);
void gly__new_id(char out[16]);
int gly__field_problem(gly_req *req, int status, const char *field, const char *code,
                       const char *message);

/* admin.c */
int gly__admin_routes(gly_app *app);

/* password.c */
int gly__gate_init(struct gate *g, unsigned max);
void gly__gate_dispose(struct gate *g);
int gly__password_dummy(struct auth *au, const gly_config *cfg);

#endif
