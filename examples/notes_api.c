/*
 * examples/notes_api.c - a small JSON service on libgalley: notes in memory.
 *
 *   POST   /api/notes        {"title": "...", "body": "...", "tags": ["..."]}  -> 201
 *   GET    /api/notes        ?limit=1..100&offset=0..                         -> 200 list
 *   GET    /api/notes/:id                                                     -> 200 / 404
 *   DELETE /api/notes/:id                                                     -> 204 / 404
 *
 * Bodies and parameters are validated declaratively (every bad field is
 * reported at once, RFC 9457), the routes are documented in /openapi.json and
 * /docs, and /metrics and the health routes come with every app. The store is a plain
 * array behind a mutex, attached to the app with gly_app_set_data(): the
 * workers are threads, and this is the simplest shared state there is.
 *
 * Run: build/example-notes_api --http 127.0.0.1:8091
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/galley.h>

#define MAX_NOTES 10000

struct note {
    int64_t id;
    char *title, *body; /* malloc'd: notes outlive requests */
    char *tags_json;    /* the tags array as JSON text */
};

struct store {
    pthread_mutex_t lock;
    struct note notes[MAX_NOTES];
    size_t n;
    int64_t next_id;
};

static const gly_field tag_item = GLY_ITEM_STR(.min_len = 1, .max_len = 32);
static const gly_field note_fields[] = {
    GLY_FIELD_STR("title", .required = true, .min_len = 1, .max_len = 200),
    GLY_FIELD_STR("body", .max_len = 10000),
    GLY_FIELD_ARR("tags", .items = &tag_item, .max_items = 10),
    GLY_FIELD_END,
};
static const gly_schema note_schema = {.fields = note_fields, .additional = false};

static const gly_field list_query[] = {
    GLY_FIELD_INT("limit", .min = 1, .max = 100),
    GLY_FIELD_INT("offset", .min = 0),
    GLY_FIELD_END,
};
static const gly_field id_path[] = {
    GLY_FIELD_INT("id", .required = true, .min = 1),
    GLY_FIELD_END,
};

static struct store *store_of(gly_req *req)
{
    return gly_app_data(gly_req_app(req));
}

static char *dup_str(gly_str s)
{
    char *p = malloc(s.n + 1);
    if (p) {
        memcpy(p, s.p ? s.p : "", s.n);
        p[s.n] = '\0';
    }
    return p;
}

static void write_note(gly_json *j, const struct note *n)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "id");
    gly_json_i64(j, n->id);
    gly_json_key(j, "title");
    gly_json_str(j, n->title);
    gly_json_key(j, "body");
    gly_json_str(j, n->body);
    gly_json_key(j, "tags");
    gly_json_raw(j, n->tags_json, strlen(n->tags_json));
    gly_json_obj_end(j);
}

static int64_t param_i64(gly_req *req, const char *name, int64_t dflt)
{
    gly_str v = gly_req_query_param(req, name);
    return v.p && v.n ? strtoll(v.p, NULL, 10) : dflt;
}

static int create_note(gly_req *req)
{
    gly_jv *doc = gly_req_valid_json(req, &note_schema);
    if (!doc)
        return 0; /* answered: 400, 415 or 422 with every bad field */
    gly_buf tags;
    gly_json tj;
    gly_buf_init(&tags, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&tj, &tags);
    const gly_jv *t = gly_jv_get(doc, "tags");
    if (t)
        gly_json_value(&tj, t);
    else
        gly_json_raw(&tj, "[]", 2);

    struct store *st = store_of(req);
    struct note n = {0, dup_str(gly_jv_str(gly_jv_get(doc, "title"))),
                     dup_str(gly_jv_str(gly_jv_get(doc, "body"))), dup_str(gly_buf_str(&tags))};
    if (!n.title || !n.body || !n.tags_json || gly_json_finish(&tj) != 0) {
        free(n.title), free(n.body), free(n.tags_json);
        return GLY_ENOMEM;
    }
    pthread_mutex_lock(&st->lock);
    bool full = st->n == MAX_NOTES;
    if (!full) {
        n.id = ++st->next_id;
        st->notes[st->n++] = n;
    }
    pthread_mutex_unlock(&st->lock);
    if (full) {
        free(n.title), free(n.body), free(n.tags_json);
        return gly_problem(req, 507, "store-full", "The note store is full.");
    }

    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    write_note(&j, &n); /* n's strings are the store's now, and notes are never changed */
    gly_set_header(req, "Location",
                   gly_arena_printf(gly_req_arena(req), "/api/notes/%lld", (long long)n.id));
    return gly_send_buf(req, 201, "application/json", &b);
}

static int list_notes(gly_req *req)
{
    if (!gly_req_valid_params(req, list_query, NULL))
        return 0; /* answered 400 */
    int64_t limit = param_i64(req, "limit", 20), offset = param_i64(req, "offset", 0);
    struct store *st = store_of(req);
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    pthread_mutex_lock(&st->lock);
    size_t total = st->n;
    for (size_t i = (size_t)offset; i < st->n && i < (size_t)(offset + limit); i++)
        write_note(&j, &st->notes[i]);
    pthread_mutex_unlock(&st->lock);
    gly_json_arr_end(&j);
    gly_json_key(&j, "total_items");
    gly_json_u64(&j, total);
    gly_json_obj_end(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

/* Finds a note by the :id param; answers 400/404 itself and returns -1 when there is none. */
static long find_note(gly_req *req, struct store *st)
{
    int64_t id;
    if (!gly_req_valid_params(req, NULL, id_path) || !gly_path_i64(req, "id", &id))
        return -1;
    for (size_t i = 0; i < st->n; i++)
        if (st->notes[i].id == id)
            return (long)i;
    gly_problem(req, 404, "not-found", "No note has this id.");
    return -1;
}

static int get_note(gly_req *req)
{
    struct store *st = store_of(req);
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    pthread_mutex_lock(&st->lock);
    long i = find_note(req, st);
    if (i >= 0)
        write_note(&j, &st->notes[i]);
    pthread_mutex_unlock(&st->lock);
    if (i < 0)
        return 0;
    return gly_send_buf(req, 200, "application/json", &b);
}

static int delete_note(gly_req *req)
{
    struct store *st = store_of(req);
    struct note gone = {0};
    pthread_mutex_lock(&st->lock);
    long i = find_note(req, st);
    if (i >= 0) {
        gone = st->notes[i];
        st->notes[i] = st->notes[--st->n];
    }
    pthread_mutex_unlock(&st->lock);
    if (i < 0)
        return 0;
    free(gone.title), free(gone.body), free(gone.tags_json);
    return gly_send(req, 204, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
    static struct store st = {.lock = PTHREAD_MUTEX_INITIALIZER};
    gly_app *app = gly_app_new(argc, argv);
    gly_app_set_data(app, &st);
    gly_openapi_info(app, "Notes", "1.0.0", "A libgalley example: notes kept in memory.");
    gly_post(app, "/api/notes", create_note);
    gly_get(app, "/api/notes", list_notes);
    gly_get(app, "/api/notes/:id", get_note);
    gly_delete(app, "/api/notes/:id", delete_note);
    gly_route_doc(app, "POST", "/api/notes",
                  &(gly_doc){.summary = "Create a note", .request = &note_schema, .status = 201});
    gly_route_doc(app, "GET", "/api/notes", &(gly_doc){.summary = "List notes"});
    int rc = gly_run(app);
    gly_app_free(app);
    for (size_t i = 0; i < st.n; i++)
        free(st.notes[i].title), free(st.notes[i].body), free(st.notes[i].tags_json);
    return rc == 0 ? 0 : 1;
}
