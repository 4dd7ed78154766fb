/*
 * examples/hello.c - the smallest libgalley service: GET /hello/:name answers
 * {"hello":"<name>"}. Run: build/example-hello --http 127.0.0.1:8091
 */
#include <galley/galley.h>

static int hello(gly_req *req)
{
    gly_str name = gly_req_param(req, "name");
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0); /* memory freed with the request */
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "hello");
    gly_json_strn(&j, name.p, name.n);
    gly_json_obj_end(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

int main(int argc, char **argv)
{
    gly_app *app = gly_app_new(argc, argv); /* defaults < GALLEY_* env < flags */
    gly_get(app, "/hello/:name", hello);
    int rc = gly_run(app); /* workers, signals, graceful stop */
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
