/*
 * bench/galley_bench.c - the TechEmpower plaintext and JSON tests on galley's public API.
 *
 * Serves
 *   GET /plaintext -> 200, Content-Type: text/plain, body "Hello, World!"
 *   GET /json      -> 200, Content-Type: application/json, body {"message":"Hello, World!"}
 * and nothing else of its own (the framework answers 404/405 and GET /health/live).
 *
 * The TechEmpower rules (Framework Benchmarks, "Test types", tests 1 and 6) it follows:
 * - Every response carries Server, Date, Content-Type and Content-Length. The
 *   framework writes Server, Date (cached, refreshed every second) and
 *   Content-Length itself; the handlers name the Content-Type.
 * - JSON: an object mapping "message" to "Hello, World!" is serialized per
 *   request with the framework's JSON writer (gly_json) into a gly_buf seeded
 *   on the handler's stack; nothing is cached between requests.
 * - Plaintext: the rules allow one reused buffer for the text, so the body is
 *   static memory sent without a copy (gly_send_ref).
 * - Logging may be disabled: the access log and the X-Request-Id echo are off
 *   by default here (`--access-log on`, `--request-id on` turn them back on).
 *
 * Settings: the galley defaults, then the two defaults above, then GALLEY_*
 * variables, then flags, so `--http`, `--port N`, `--workers N` and every
 * other galley setting work (`galley-bench --help` lists them). A bad flag or
 * value prints one line on stderr and exits 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/galley.h>

static int plaintext(gly_req *req)
{
    static const char body[] = "Hello, World!";

    return gly_send_ref(req, 200, "text/plain", body, sizeof(body) - 1);
}

static int json(gly_req *req)
{
    char seed[64];
    gly_buf b;
    gly_json j;
    int rc;

    /*
     * No growth memory and a cap of the seed's size: the document fits, and
     * gly_send_buf() copies it out of this stack frame (a buffer growing from
     * the request arena would be sent by reference instead).
     */
    gly_buf_init(&b, seed, sizeof(seed), NULL, sizeof(seed));
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "message");
    gly_json_str(&j, "Hello, World!");
    gly_json_obj_end(&j);
    rc = gly_json_finish(&j);
    if (rc < 0) {
        return rc;
    }
    return gly_send_buf(req, 200, "application/json", &b);
}

static void usage(const char *prog)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_printf(&b,
                   "usage: %s [settings]\n"
                   "\n"
                   "Serves the TechEmpower GET /plaintext and GET /json tests.\n"
                   "Defaults as galley's, except --no-access-log and --no-request-id.\n"
                   "\n"
                   "settings:\n",
                   prog);
    gly_config_usage(&b);
    if (gly_buf_err(&b) == 0) {
        fwrite(b.p, 1, b.len, stdout);
    }
    gly_buf_dispose(&b);
}

int main(int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "galley-bench";
    gly_config cfg;
    gly_app *app = NULL;
    char err[512];
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(prog);
            return 0;
        }
    }

    gly_config_init(&cfg);
    cfg.access_log = false;
    cfg.request_id = false;
    cfg.security_headers = false; /* the bare TechEmpower response */
    /* then a --config file, GALLEY_* variables and flags, as galley serve takes them */
    if (gly_config_load(&cfg, argc > 0 ? argc - 1 : 0, argv + (argc > 0), err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }

    app = gly_app_new_config(&cfg);
    if (app == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    gly_get(app, "/plaintext", plaintext);
    gly_get(app, "/json", json);

    /* gly_run() logs why it could not start (a route error, the port in use, ...). */
    rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
