/*
 * examples/whoami.c - a service with Galley's accounts (/api/v1/auth/...) and one
 * route of its own that needs a logged-in user. docs/auth.md walks through it.
 */
#include <stdio.h>

#include <galley/galley.h>

static int whoami(gly_req *req)
{
    const gly_auth_user *u = gly_auth_require(req); /* 401 and NULL when anonymous */
    if (!u)
        return 0;
    return gly_send_text(req, 200, u->id);
}

int main(int argc, char **argv)
{
    gly_app *app = gly_app_new(argc, argv);
    gly_db *db = gly_db_new(app);
    if (!db || gly_auth_use(app) < 0 || gly_db_open(db) < 0) {
        fprintf(stderr, "whoami: %s\n", db ? gly_db_errmsg(db) : "out of memory");
        gly_app_free(app);
        return 1;
    }
    gly_get(app, "/whoami", whoami);
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
