/*
 * src/json/request.c - JSON request bodies: media type check, parse, and the
 * 415/400 problem answers.
 */
#include <stdio.h>

#include <galley/json_read.h>

static bool is_tchar_space(char c)
{
    return c == ' ' || c == '\t';
}

static gly_str trim(gly_str s)
{
    while (s.n > 0 && is_tchar_space(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_tchar_space(s.p[s.n - 1])) {
        s.n--;
    }
    return s;
}

/* Returns true when the media type is application/json or application/<x>+json. */
static bool json_media_type(gly_str mt)
{
    static const char app[] = "application/";
    size_t alen = sizeof app - 1;
    if (mt.n <= alen || !gly_str_ieq((gly_str){mt.p, alen}, (gly_str){app, alen})) {
        return false;
    }
    gly_str sub = {mt.p + alen, mt.n - alen};
    if (gly_str_ieq_c(sub, "json")) {
        return true;
    }
    return sub.n > 5 && gly_str_ieq_c((gly_str){sub.p + sub.n - 5, 5}, "+json");
}

/*
 * Checks a Content-Type value. Returns NULL when it is acceptable, or the
 * detail for the 415 answer.
 */
static const char *check_content_type(gly_str ct)
{
    static const char expected[] = "expected Content-Type: application/json";
    if (ct.p == NULL) {
        return "missing Content-Type, expected application/json";
    }
    const char *semi = memchr(ct.p, ';', ct.n);
    size_t mlen = semi ? (size_t)(semi - ct.p) : ct.n;
    if (!json_media_type(trim((gly_str){ct.p, mlen}))) {
        return expected;
    }
    gly_str rest = {ct.p + mlen, ct.n - mlen};
    while (rest.n > 0) {
        rest.p++; /* the ';' */
        rest.n--;
        const char *next = memchr(rest.p, ';', rest.n);
        size_t plen = next ? (size_t)(next - rest.p) : rest.n;
        gly_str param = trim((gly_str){rest.p, plen});
        rest.p += plen;
        rest.n -= plen;
        const char *eq = memchr(param.p, '=', param.n);
        if (param.n == 0 || eq == NULL) {
            continue;
        }
        gly_str name = trim((gly_str){param.p, (size_t)(eq - param.p)});
        gly_str value = trim((gly_str){eq + 1, param.n - (size_t)(eq + 1 - param.p)});
        if (value.n >= 2 && value.p[0] == '"' && value.p[value.n - 1] == '"') {
            value.p++;
            value.n -= 2;
        }
        if (gly_str_ieq_c(name, "charset") && !gly_str_ieq_c(value, "utf-8")) {
            return "the JSON body must be UTF-8 (charset=utf-8)";
        }
    }
    return NULL;
}

/* Answers a 400 problem for a parse error, with the line and column as members. */
static int answer_parse_error(gly_req *req, int rc, const gly_json_error *e)
{
    char detail[256];
    snprintf(detail, sizeof detail, "invalid JSON at line %zu, column %zu: %s", e->line, e->column,
             e->msg);
    gly_buf b;
    gly_json j;
    gly_problem_begin(req, &j, &b, 400, rc == GLY_ELIMIT ? "json-limit" : "invalid-json", detail);
    gly_json_key(&j, "line");
    gly_json_u64(&j, e->line);
    gly_json_key(&j, "column");
    gly_json_u64(&j, e->column);
    return gly_problem_end(req, &j, 400);
}

gly_jv *gly_req_json(gly_req *req)
{
    const char *why = check_content_type(gly_req_header(req, "Content-Type"));
    if (why != NULL) {
        gly_problem(req, 415, "unsupported-media-type", why);
        return NULL;
    }
    gly_str body = gly_req_body(req);
    if (body.n == 0) {
        gly_problem(req, 400, "invalid-json", "request body is empty");
        return NULL;
    }
    gly_jv *root;
    gly_json_error e;
    int rc = gly_json_parse(gly_req_arena(req), body.p, body.n, NULL, &root, &e);
    if (rc == GLY_ENOMEM) {
        gly_problem(req, 500, NULL, NULL);
        return NULL;
    }
    if (rc != 0) {
        answer_parse_error(req, rc, &e);
        return NULL;
    }
    return root;
}
