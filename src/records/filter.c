/*
 * src/records/filter.c - the filter language (filter.h), sorts and keyset
 * conditions, compiled to parameterized SQL.
 *
 * A filter goes through three stages, each small enough to read alone:
 *
 *   lexer    bytes -> tokens (strings checked for UTF-8, numbers for range)
 *   parser   tokens -> a tree of AND / OR nodes over comparisons, in the
 *            arena; field paths are resolved against the schema here, and
 *            @ variables are read here (their values are known now)
 *   emitter  tree -> SQL text over f->alias, values as parameters $N
 *
 * The SQL text is made only of the words of this file, the names of the
 * schema (double-quoted) and $N; no byte of a value ever enters it. That
 * is the one property that matters most here, and the fuzz target checks
 * it on every input.
 *
 * Semantics (docs/filter.md has the reference for users):
 *
 *  - A literal "" or null means "empty": text that is "" (or NULL), a
 *    relation that is NULL, a JSON null, a multi-valued field with no
 *    elements. `x = ""` matches empty values and `x != ""` the others.
 *  - An @ value (auth, body, now) is a plain value: an absent one (null)
 *    equals nothing and differs from everything, so that a guest's
 *    `owner = @request.auth.id` matches no record. An @ value that does
 *    not fit the field's type is not an error (rules are written once,
 *    bodies vary): the comparison is decided false (true for != and !~).
 *  - A comparison of two values known now (literals, @ values) is decided
 *    here and becomes 1=1 or 1=0.
 *  - A multi-valued side (a select[] or relation[] field, or a path that
 *    crosses a relation[]) is a set: ?op holds when any element matches,
 *    a bare op when every element does. An empty set reads as one empty
 *    value ("" for text, null for numbers), as an empty text does.
 *  - A literal of the wrong type for the field (votes > "abc") is an
 *    error at the literal, since the schema tells.
 */
#include "records/filter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/json.h>

#define SORT_MAX_KEYS 8  /* a client's keys; the id comes after them */
#define ECHO_MAX      48 /* bytes of input an error message may quote */

/* ------------------------------------------------------------------------ */
/* Tokens, values, trees                                                    */
/* ------------------------------------------------------------------------ */

enum tok_kind {
    T_END,
    T_LP,
    T_RP,
    T_AND,
    T_OR,
    T_OP,
    T_STR,
    T_NUM,
    T_PATH,
    T_VAR,
    T_TRUE,
    T_FALSE,
    T_NULL
};

enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_LIKE, OP_NLIKE };

struct tok {
    enum tok_kind kind;
    size_t pos, len; /* the bytes of the token in the source */
    enum op op;      /* T_OP */
    bool any;        /* T_OP: written with a leading ? */
};

/* A value known at compile time: a literal, or what an @ variable holds. */
enum vtype { V_NULL, V_TEXT, V_NUM, V_BOOL };
struct val {
    enum vtype t;
    const char *p; /* V_TEXT: bytes in the arena (or the caller's row, body, now) */
    size_t n;
    double d;   /* V_NUM */
    int64_t i;  /* V_NUM when exact; V_BOOL: 0 or 1 */
    bool exact; /* V_NUM: i holds the value */
};

/* A field path: the relation fields crossed, then the field compared. */
struct path {
    const struct fld *f[FLT_MAX_PATH + 1];
    unsigned n;
};

struct operand {
    bool is_field;
    bool dynamic; /* an @ value: converted to the field's type, never a type error */
    size_t pos, len;
    struct val v;     /* !is_field */
    struct path path; /* is_field */
};

enum node_kind { N_AND, N_OR, N_CMP };
struct node {
    enum node_kind kind;
    struct node *kids, *next; /* N_AND, N_OR: the operands in order */
    struct operand l, r;      /* N_CMP */
    enum op op;
    bool any;
    size_t op_pos;
};

/* One compilation. */
struct cc {
    struct flt *f;
    const char *src;
    size_t len, at; /* at: where the lexer goes on */
    struct tok tok; /* the current token */
    unsigned terms;
    unsigned naliases; /* subquery aliases handed out: <alias>1, <alias>2, ... */
    unsigned nrules;   /* view rules of related collections: g1_, g2_, ... */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Records the error at byte pos of the source. Returns GLY_EINVAL. */
GLY_PRINTF(3, 4) static int fail(struct flt *f, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = gly_arena_vprintf(f->arena, fmt, ap);
    va_end(ap);
    f->err_pos = pos;
    f->err_msg = msg ? msg : "invalid filter";
    return GLY_EINVAL;
}

/*
 * Describes source bytes for a message: "\"titel\"" when they are short
 * printable ASCII, else a cut form, so that a message never grows with
 * the input.
 */
static const char *quote(struct flt *f, const char *p, size_t n)
{
    size_t k = n < ECHO_MAX ? n : ECHO_MAX;
    for (size_t i = 0; i < k; i++)
        if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
            return "a token";
    const char *q = gly_arena_printf(f->arena, "\"%.*s%s\"", (int)k, p, k < n ? "..." : "");
    return q ? q : "a token";
}

/* Describes the current token, for "unexpected ...". */
static const char *tok_name(struct cc *c)
{
    switch (c->tok.kind) {
    case T_END:
        return "end of filter";
    case T_STR:
        return "string";
    case T_NUM:
        return "number";
    default:
        return quote(c->f, c->src + c->tok.pos, c->tok.len);
    }
}

static int unexpected(struct cc *c)
{
    return fail(c->f, c->tok.pos, "unexpected %s", tok_name(c));
}

/* ------------------------------------------------------------------------ */
/* Lexer                                                                    */
/* ------------------------------------------------------------------------ */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_name_char(char ch)
{
    return is_name_start(ch) || is_digit(ch);
}

/*
 * The length of the valid UTF-8 sequence at p[0..n) (at least one byte),
 * or 0 when it is not one: overlong forms, surrogates and code points past
 * U+10FFFF are refused, as PostgreSQL would refuse them.
 */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned lead = p[0], len, cp;
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        len = 2, cp = lead & 0x1f;
    else if (lead >= 0xe0 && lead <= 0xef)
        len = 3, cp = lead & 0x0f;
    else if (lead >= 0xf0 && lead <= 0xf4)
        len = 4, cp = lead & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (unsigned k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A string in '..' or "..": a backslash escapes the quote and itself. */
static int lex_string(struct cc *c, size_t i)
{
    char q = c->src[i];
    size_t j = i + 1;
    while (j < c->len && c->src[j] != q) {
        if (c->src[j] == '\\' && j + 1 < c->len) {
            j += 2;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)c->src + j, c->len - j);
        if (k == 0)
            return fail(c->f, j, "invalid UTF-8 in string");
        j += k;
    }
    if (j >= c->len)
        return fail(c->f, i, "unterminated string");
    c->tok.kind = T_STR;
    c->tok.len = j + 1 - i;
    return 0;
}

/* -?digits(.digits)?([eE][+-]?digits)? */
static int lex_number(struct cc *c, size_t i)
{
    const char *s = c->src;
    size_t j = i + (s[i] == '-');
    while (j < c->len && is_digit(s[j]))
        j++;
    if (j < c->len && s[j] == '.') {
        if (++j >= c->len || !is_digit(s[j]))
            return fail(c->f, i, "invalid number");
        while (j < c->len && is_digit(s[j]))
            j++;
    }
    if (j < c->len && (s[j] == 'e' || s[j] == 'E')) {
        j++;
        if (j < c->len && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j >= c->len || !is_digit(s[j]))
            return fail(c->f, i, "invalid number");
        while (j < c->len && is_digit(s[j]))
            j++;
    }
    if (j < c->len && (is_name_char(s[j]) || s[j] == '.'))
        return fail(c->f, i, "invalid number");
    c->tok.kind = T_NUM;
    c->tok.len = j - i;
    return 0;
}

/* name(.name)*, after an @ for a variable. */
static int lex_path(struct cc *c, size_t i, enum tok_kind kind)
{
    const char *s = c->src;
    size_t j = i + (kind == T_VAR);
    for (;;) {
        if (j >= c->len || !is_name_start(s[j]))
            return fail(c->f, j,
                        j == i + 1 ? "expected a name after \"@\"" : "expected a name after \".\"");
        while (j < c->len && is_name_char(s[j]))
            j++;
        if (j >= c->len || s[j] != '.')
            break;
        j++;
    }
    c->tok.kind = kind;
    c->tok.len = j - i;
    if (kind == T_PATH) {
        if (c->tok.len == 4 && memcmp(s + i, "true", 4) == 0)
            c->tok.kind = T_TRUE;
        else if (c->tok.len == 5 && memcmp(s + i, "false", 5) == 0)
            c->tok.kind = T_FALSE;
        else if (c->tok.len == 4 && memcmp(s + i, "null", 4) == 0)
            c->tok.kind = T_NULL;
    }
    return 0;
}

/* The operators, two-character ones first so that ">=" is not read as ">". */
static const struct {
    char text[3];
    enum op op;
} ops[] = {
    {"!=", OP_NE}, {"!~", OP_NLIKE}, {">=", OP_GE}, {"<=", OP_LE},
    {"=", OP_EQ},  {">", OP_GT},     {"<", OP_LT},  {"~", OP_LIKE},
};

/* = != > >= < <= ~ !~, each with an optional leading ?. */
static int lex_op(struct cc *c, size_t i)
{
    bool any = c->src[i] == '?';
    size_t j = i + any;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t w = strlen(ops[k].text);
        if (j + w <= c->len && memcmp(c->src + j, ops[k].text, w) == 0) {
            c->tok.kind = T_OP;
            c->tok.op = ops[k].op;
            c->tok.any = any;
            c->tok.len = j + w - i;
            return 0;
        }
    }
    if (any)
        return fail(c->f, i, "expected an operator after \"?\"");
    if (c->src[i] >= 0x21 && c->src[i] <= 0x7e)
        return fail(c->f, i, "unexpected \"%c\"", c->src[i]);
    return fail(c->f, i, "unexpected byte 0x%02X", (unsigned char)c->src[i]);
}

/* Reads the next token into c->tok. */
static int lex(struct cc *c)
{
    size_t i = c->at;
    while (i < c->len && is_blank(c->src[i]))
        i++;
    c->tok = (struct tok){.kind = T_END, .pos = i, .len = 1};
    int rc = 0;
    if (i == c->len) {
        c->tok.len = 0;
    } else if (c->src[i] == '(') {
        c->tok.kind = T_LP;
    } else if (c->src[i] == ')') {
        c->tok.kind = T_RP;
    } else if (c->src[i] == '&' || c->src[i] == '|') {
        if (i + 1 >= c->len || c->src[i + 1] != c->src[i])
            return fail(c->f, i, "unexpected \"%c\"", c->src[i]);
        c->tok.kind = c->src[i] == '&' ? T_AND : T_OR;
        c->tok.len = 2;
    } else if (c->src[i] == '"' || c->src[i] == '\'') {
        rc = lex_string(c, i);
    } else if (c->src[i] == '@') {
        rc = lex_path(c, i, T_VAR);
    } else if (is_digit(c->src[i]) ||
               (c->src[i] == '-' && i + 1 < c->len && is_digit(c->src[i + 1]))) {
        rc = lex_number(c, i);
    } else if (is_name_start(c->src[i])) {
        rc = lex_path(c, i, T_PATH);
    } else {
        rc = lex_op(c, i);
    }
    c->at = i + c->tok.len;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Operands                                                                 */
/* ------------------------------------------------------------------------ */

static struct val text_val(const char *p, size_t n)
{
    return (struct val){.t = V_TEXT, .p = p, .n = n};
}

static struct val num_val(double d)
{
    struct val v = {.t = V_NUM, .d = d};
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == floor(d)) {
        v.i = (int64_t)d;
        v.exact = true;
    }
    return v;
}

/* The string token, unescaped into the arena (\q and \\; any other \x stays as it is). */
static int string_operand(struct cc *c, struct val *v)
{
    const char *s = c->src + c->tok.pos + 1;
    size_t n = c->tok.len - 2, k = 0;
    char q = s[-1];
    char *out = gly_arena_alloc(c->f->arena, n + 1);
    if (!out)
        return GLY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == q || s[i + 1] == '\\'))
            i++;
        out[k++] = s[i];
    }
    out[k] = '\0';
    *v = text_val(out, k);
    return 0;
}

/* The number token: an integer stays exact within int64, anything else is a double. */
static int number_operand(struct cc *c, struct val *v)
{
    const char *s = c->src + c->tok.pos;
    size_t n = c->tok.len;
    char *copy = gly_arena_strndup(c->f->arena, s, n);
    if (!copy)
        return GLY_ENOMEM;
    double d = strtod(copy, NULL);
    if (!isfinite(d))
        return fail(c->f, c->tok.pos, "number out of range");
    *v = num_val(d);
    if (strcspn(copy, ".eE") == n) {
        errno = 0;
        long long i = strtoll(copy, NULL, 10);
        if (errno == 0) {
            v->i = i;
            v->exact = true;
        }
    }
    return 0;
}

/* Resolves a dotted path against the collection; hidden fields are unknown. */
static int path_operand(struct cc *c, struct path *p)
{
    const struct coll *coll = c->f->coll;
    const char *s = c->src + c->tok.pos, *end = s + c->tok.len;
    p->n = 0;
    while (s < end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        size_t n = dot ? (size_t)(dot - s) : (size_t)(end - s);
        size_t pos = (size_t)(s - c->src);
        const struct fld *fd = coll_field(coll, s, n);
        if (!fd || fd->hidden)
            return fail(c->f, pos, "unknown field %s", quote(c->f, s, n));
        if (p->n > FLT_MAX_PATH)
            return fail(c->f, pos, "a path crosses at most %d relations", FLT_MAX_PATH);
        p->f[p->n++] = fd;
        if (dot) {
            if (fd->type != FLD_RELATION || !fd->to)
                return fail(c->f, pos, "%s is not a relation", quote(c->f, s, n));
            coll = fd->to;
        }
        s += n + 1;
    }
    return 0;
}

/* A value of the JSON body: scalars as they are, arrays and objects as their JSON text. */
static int body_value(struct cc *c, const char *name, struct val *v)
{
    const gly_jv *jv = c->f->body ? gly_jv_get(c->f->body, name) : NULL;
    switch (gly_jv_type(jv)) {
    case GLY_JSON_BOOL:
        *v = (struct val){.t = V_BOOL, .i = gly_jv_bool(jv)};
        return 0;
    case GLY_JSON_NUMBER: {
        int64_t i;
        *v = num_val(gly_jv_double(jv));
        if (gly_jv_i64(jv, &i)) {
            v->i = i;
            v->exact = true;
        }
        return 0;
    }
    case GLY_JSON_STRING: {
        gly_str s = gly_jv_str(jv);
        *v = text_val(s.p, s.n);
        return 0;
    }
    case GLY_JSON_ARRAY:
    case GLY_JSON_OBJECT: {
        gly_buf b;
        gly_json j;
        gly_buf_init(&b, NULL, 0, c->f->arena, 0);
        gly_json_init(&j, &b);
        if (gly_json_value(&j, jv) < 0 || gly_json_finish(&j) < 0)
            return GLY_ENOMEM;
        *v = text_val(b.p, b.len);
        return 0;
    }
    default:
        *v = (struct val){.t = V_NULL};
        return 0;
    }
}

/* A column of the signed-in user; a guest has "" for id and null for the rest. */
static void auth_value(struct cc *c, const char *name, struct val *v)
{
    *v = (struct val){.t = V_NULL};
    if (!c->f->auth) {
        if (strcmp(name, "id") == 0)
            *v = text_val("", 0);
        return;
    }
    int col = gly_row_index(c->f->auth, name);
    const gly_db_val *x = col < 0 ? NULL : gly_row_at(c->f->auth, (unsigned)col);
    if (!x)
        return;
    if (x->type == GLY_DB_INT) {
        *v = num_val((double)x->v.i);
        v->i = x->v.i;
        v->exact = true;
    } else if (x->type == GLY_DB_REAL) {
        *v = num_val(x->v.d);
    } else if (x->type == GLY_DB_TEXT) {
        *v = text_val(x->v.s.p, x->v.s.n);
    }
}

/* @now, @request.auth.<field>, @request.body.<field>. */
static int var_operand(struct cc *c, struct val *v)
{
    const char *s = c->src + c->tok.pos + 1;
    size_t n = c->tok.len - 1;
    if (n == 3 && memcmp(s, "now", 3) == 0) {
        const char *now = c->f->now ? c->f->now : "";
        *v = text_val(now, strlen(now));
        return 0;
    }
    static const char auth[] = "request.auth.", body[] = "request.body.";
    bool is_auth = n > sizeof auth - 1 && memcmp(s, auth, sizeof auth - 1) == 0;
    bool is_body = n > sizeof body - 1 && memcmp(s, body, sizeof body - 1) == 0;
    const char *name = s + sizeof auth - 1;
    size_t len = n - (sizeof auth - 1);
    if ((!is_auth && !is_body) || memchr(name, '.', len))
        return fail(c->f, c->tok.pos, "unknown variable %s",
                    quote(c->f, c->src + c->tok.pos, c->tok.len));
    char *key = gly_arena_strndup(c->f->arena, name, len);
    if (!key)
        return GLY_ENOMEM;
    if (is_body)
        return body_value(c, key, v);
    auth_value(c, key, v);
    return 0;
}

/* Reads one operand at the current token and moves past it. */
static int parse_operand(struct cc *c, struct operand *o)
{
    int rc = 0;
    *o = (struct operand){.pos = c->tok.pos, .len = c->tok.len};
    switch (c->tok.kind) {
    case T_STR:
        rc = string_operand(c, &o->v);
        break;
    case T_NUM:
        rc = number_operand(c, &o->v);
        break;
    case T_TRUE:
    case T_FALSE:
        o->v = (struct val){.t = V_BOOL, .i = c->tok.kind == T_TRUE};
        break;
    case T_NULL:
        o->v = (struct val){.t = V_NULL};
        break;
    case T_PATH:
        o->is_field = true;
        rc = path_operand(c, &o->path);
        break;
    case T_VAR:
        o->dynamic = true;
        rc = var_operand(c, &o->v);
        break;
    default:
        return unexpected(c);
    }
    return rc < 0 ? rc : lex(c);
}

/* ------------------------------------------------------------------------ */
/* Parser: or := and ('||' and)*; and := unary ('&&' unary)*;               */
/*         unary := '(' or ')' | operand op operand                         */
/* ------------------------------------------------------------------------ */

static int parse_or(struct cc *c, unsigned depth, struct node **out);

static int parse_cmp(struct cc *c, struct node **out)
{
    if (++c->terms > FLT_MAX_TERMS)
        return fail(c->f, c->tok.pos, "more than %d comparisons", FLT_MAX_TERMS);
    struct node *n = gly_arena_calloc(c->f->arena, 1, sizeof *n);
    if (!n)
        return GLY_ENOMEM;
    n->kind = N_CMP;
    int rc = parse_operand(c, &n->l);
    if (rc < 0)
        return rc;
    if (c->tok.kind != T_OP)
        return unexpected(c);
    n->op = c->tok.op;
    n->any = c->tok.any;
    n->op_pos = c->tok.pos;
    if ((rc = lex(c)) < 0 || (rc = parse_operand(c, &n->r)) < 0)
        return rc;
    *out = n;
    return 0;
}

static int parse_unary(struct cc *c, unsigned depth, struct node **out)
{
    if (c->tok.kind != T_LP)
        return parse_cmp(c, out);
    if (depth >= FLT_MAX_DEPTH)
        return fail(c->f, c->tok.pos, "parentheses nested deeper than %d", FLT_MAX_DEPTH);
    int rc = lex(c);
    if (rc < 0 || (rc = parse_or(c, depth + 1, out)) < 0)
        return rc;
    if (c->tok.kind != T_RP)
        return unexpected(c);
    return lex(c);
}

/* A chain of sub(c) joined by tok: one node, or a node of kind over them. */
static int parse_chain(struct cc *c, unsigned depth, enum tok_kind tok, enum node_kind kind,
                       int (*sub)(struct cc *, unsigned, struct node **), struct node **out)
{
    struct node *first, **tail;
    int rc = sub(c, depth, &first);
    if (rc < 0)
        return rc;
    if (c->tok.kind != tok) {
        *out = first;
        return 0;
    }
    struct node *n = gly_arena_calloc(c->f->arena, 1, sizeof *n);
    if (!n)
        return GLY_ENOMEM;
    n->kind = kind;
    n->kids = first;
    tail = &first->next;
    while (c->tok.kind == tok) {
        if ((rc = lex(c)) < 0 || (rc = sub(c, depth, tail)) < 0)
            return rc;
        tail = &(*tail)->next;
    }
    *out = n;
    return 0;
}

static int parse_and(struct cc *c, unsigned depth, struct node **out)
{
    return parse_chain(c, depth, T_AND, N_AND, parse_unary, out);
}

static int parse_or(struct cc *c, unsigned depth, struct node **out)
{
    return parse_chain(c, depth, T_OR, N_OR, parse_and, out);
}

/* ------------------------------------------------------------------------ */
/* Deciding comparisons of known values                                     */
/* ------------------------------------------------------------------------ */

static bool is_empty(const struct val *v)
{
    return v->t == V_NULL || (v->t == V_TEXT && v->n == 0);
}

static bool is_num(const struct val *v)
{
    return v->t == V_NUM || v->t == V_BOOL;
}

static double num_of(const struct val *v)
{
    return v->t == V_BOOL ? (double)v->i : v->d;
}

/* Empty equals empty ("" and null alike); otherwise numbers by value, texts by bytes. */
static bool val_equal(const struct val *a, const struct val *b)
{
    if (is_empty(a) || is_empty(b))
        return is_empty(a) && is_empty(b);
    if (is_num(a) && is_num(b))
        return num_of(a) == num_of(b);
    return a->t == V_TEXT && b->t == V_TEXT && a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* Orders two numbers or two texts (bytewise, as SQLite's BINARY). false: not comparable. */
static bool val_order(const struct val *a, const struct val *b, int *out)
{
    if (is_num(a) && is_num(b)) {
        *out = (num_of(a) > num_of(b)) - (num_of(a) < num_of(b));
        return true;
    }
    if (a->t != V_TEXT || b->t != V_TEXT)
        return false;
    size_t n = a->n < b->n ? a->n : b->n;
    int d = n ? memcmp(a->p, b->p, n) : 0;
    *out = d ? (d > 0) - (d < 0) : (a->n > b->n) - (a->n < b->n);
    return true;
}

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

/* Bytes in the UTF-8 character at s[0..n) (1 for a stray byte). */
static size_t char_len(const char *s, size_t n)
{
    size_t k = utf8_seq((const unsigned char *)s, n);
    return k ? k : 1;
}

/*
 * LIKE as SQLite does it: % any run, _ one character, \ takes the next
 * byte literally, ASCII letters without case. The usual greedy matcher
 * that backs up to the last %: linear in practice, never exponential.
 */
static bool like_match(const char *s, size_t n, const char *p, size_t m)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < n) {
        if (pi < m && p[pi] == '%') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < m) {
            if (p[pi] == '_') {
                si += char_len(s + si, n - si);
                pi++;
                continue;
            }
            size_t lit = p[pi] == '\\' && pi + 1 < m ? pi + 1 : pi;
            if (lower(p[lit]) == lower(s[si])) {
                si++;
                pi = lit + 1;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        star_s += char_len(s + star_s, n - star_s);
        si = star_s;
        pi = star_p;
    }
    while (pi < m && p[pi] == '%')
        pi++;
    return pi == m;
}

/*
 * The LIKE pattern of a ~ value: the value itself when it holds a %
 * (a trailing lone backslash doubled, which PostgreSQL would refuse),
 * else %value% with %, _ and \ escaped. In the arena.
 */
static const char *like_pattern(gly_arena *a, const struct val *v, size_t *len)
{
    bool raw = memchr(v->p, '%', v->n) != NULL;
    char *out = gly_arena_alloc(a, 2 * v->n + 3), *o = out;
    if (!out)
        return NULL;
    if (!raw)
        *o++ = '%';
    for (size_t i = 0; i < v->n; i++) {
        char ch = v->p[i];
        if (raw && ch == '\\' && i + 1 < v->n) {
            *o++ = ch;
            *o++ = v->p[++i];
            continue;
        }
        if (ch == '\\' || (!raw && (ch == '%' || ch == '_')))
            *o++ = '\\';
        *o++ = ch;
    }
    if (!raw)
        *o++ = '%';
    *len = (size_t)(o - out);
    return out;
}

/* a ~ b for known values: texts only, null reads as "". */
static bool val_like(gly_arena *arena, const struct val *a, const struct val *b)
{
    struct val x = a->t == V_NULL ? text_val("", 0) : *a;
    struct val y = b->t == V_NULL ? text_val("", 0) : *b;
    if (x.t != V_TEXT || y.t != V_TEXT)
        return false;
    size_t m;
    const char *p = like_pattern(arena, &y, &m);
    return p && like_match(x.p, x.n, p, m);
}

/* Decides a op b for two values known now. */
static bool fold(gly_arena *arena, const struct val *a, enum op op, const struct val *b)
{
    int d;
    switch (op) {
    case OP_EQ:
        return val_equal(a, b);
    case OP_NE:
        return !val_equal(a, b);
    case OP_LIKE:
        return val_like(arena, a, b);
    case OP_NLIKE:
        return !val_like(arena, a, b);
    default:
        if (!val_order(a, b, &d))
            return false;
        return op == OP_GT ? d > 0 : op == OP_GE ? d >= 0 : op == OP_LT ? d < 0 : d <= 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Types of fields                                                          */
/* ------------------------------------------------------------------------ */

enum cls { C_TEXT, C_NUM, C_BOOL, C_JSON };

static enum cls cls_of(const struct fld *fd)
{
    switch (fd->type) {
    case FLD_NUMBER:
        return C_NUM;
    case FLD_BOOL:
        return C_BOOL;
    case FLD_JSON:
        return C_JSON;
    default:
        return C_TEXT; /* text, email, url, date, autodate, select, relation (an id) */
    }
}

static const struct fld *leaf_of(const struct path *p)
{
    return p->f[p->n - 1];
}

/* True when the path crosses a relation[] or ends at a multi-valued field. */
static bool has_multi(const struct path *p)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->f[i]->multi)
            return true;
    return false;
}

/* A set: a multi-valued field, or a path through relations. */
static bool is_set(const struct path *p)
{
    return p->n > 1 || leaf_of(p)->multi;
}

static bool op_is_like(enum op op)
{
    return op == OP_LIKE || op == OP_NLIKE;
}

/* The answer to "field op value" when the value cannot be compared: != and !~ hold. */
static bool mismatch_answer(enum op op)
{
    return op == OP_NE || op == OP_NLIKE;
}

/*
 * Checks a literal against the field it is compared with, by the schema:
 * a mismatch is the client's error, reported at the literal (or at the
 * operator when no literal would do).
 */
static int check_literal(struct cc *c, const struct node *n, const struct operand *fo,
                         const struct operand *vo)
{
    const struct fld *fd = leaf_of(&fo->path);
    const char *name = quote(c->f, fd->name, strlen(fd->name));
    enum cls k = cls_of(fd);
    const struct val *v = &vo->v;
    if (k == C_JSON && fo->path.n > 1)
        return fail(c->f, fo->pos, "%s is json: not reachable through a relation", name);
    if (v->t == V_NULL) {
        if (n->op != OP_EQ && n->op != OP_NE)
            return fail(c->f, vo->pos, "null can only be compared with = or !=");
        return 0;
    }
    if (k == C_JSON && !op_is_like(n->op))
        return fail(c->f, n->op_pos, "%s is json: use = null, != null, ~ or !~", name);
    if (op_is_like(n->op) && (k == C_NUM || k == C_BOOL))
        return fail(c->f, n->op_pos, "%s is not text: ~ compares text", name);
    if ((k == C_TEXT || k == C_JSON) && v->t != V_TEXT)
        return fail(c->f, vo->pos, "%s is text: compare it with a string", name);
    if (k == C_NUM && v->t != V_NUM)
        return fail(c->f, vo->pos, "%s is a number: compare it with a number", name);
    if (k == C_BOOL && v->t != V_BOOL)
        return fail(c->f, vo->pos, "%s is a bool: compare it with true or false", name);
    return 0;
}

/* Reads text as a whole finite number, for an @ value compared with a number field. */
static bool text_to_num(gly_arena *a, const struct val *v, struct val *out)
{
    char *s = gly_arena_strndup(a, v->p, v->n), *end;
    if (!s || v->n == 0 || is_blank(s[0]) || strlen(s) != v->n)
        return false;
    double d = strtod(s, &end);
    if (*end || !isfinite(d))
        return false;
    *out = num_val(d);
    return true;
}

/*
 * Converts an @ value to the type of the field it is compared with. false
 * when it cannot be (or is null, or "" for a relation): the comparison is
 * then decided by mismatch_answer().
 */
static bool coerce(gly_arena *a, const struct fld *fd, enum op op, const struct val *in,
                   struct val *out)
{
    enum cls k = cls_of(fd);
    *out = *in;
    if (in->t == V_NULL || k == C_JSON || (op_is_like(op) && k != C_TEXT))
        return false;
    if (k == C_TEXT) {
        if (in->t == V_BOOL)
            *out = in->i ? text_val("true", 4) : text_val("false", 5);
        else if (in->t == V_NUM && in->exact)
            out->p = gly_arena_printf(a, "%lld", (long long)in->i);
        else if (in->t == V_NUM)
            out->p = gly_arena_printf(a, "%.17g", in->d);
        if (in->t == V_NUM) {
            if (!out->p)
                return false;
            *out = text_val(out->p, strlen(out->p));
        }
        /* PostgreSQL keeps no NUL in text, so such a value equals nothing stored */
        if (memchr(out->p, '\0', out->n))
            return false;
        return !(fd->type == FLD_RELATION && out->n == 0);
    }
    if (k == C_NUM) {
        if (in->t == V_BOOL)
            *out = num_val((double)in->i);
        return in->t != V_TEXT || text_to_num(a, in, out);
    }
    /* bool: true/false, or a number that is 0 or 1 */
    if (in->t == V_NUM && in->exact && (in->i == 0 || in->i == 1))
        *out = (struct val){.t = V_BOOL, .i = in->i};
    return out->t == V_BOOL;
}

/* ------------------------------------------------------------------------ */
/* SQL writing                                                              */
/* ------------------------------------------------------------------------ */

static int put(struct cc *c, const char *s)
{
    return gly_buf_puts(c->f->sql, s);
}

GLY_PRINTF(2, 3) static int putf(struct cc *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gly_buf_vprintf(c->f->sql, fmt, ap);
    va_end(ap);
    return rc;
}

static bool is_pg(const struct cc *c)
{
    return c->f->dialect == FLT_PG;
}

/* A new alias for a table or element list of a subquery: r1, r2, ... after f->alias. */
static const char *new_alias(struct cc *c)
{
    return gly_arena_printf(c->f->arena, "%s%u", c->f->alias, ++c->naliases);
}

static gly_db_val param_of(const struct val *v)
{
    switch (v->t) {
    case V_TEXT:
        return GLY_TEXTN(v->p, v->n);
    case V_NUM:
        return v->exact ? GLY_I64(v->i) : GLY_F64(v->d);
    case V_BOOL:
        return GLY_I64(v->i);
    default:
        return GLY_NULL;
    }
}

/* Appends the value as a parameter: for ~ and !~, its LIKE pattern. */
static int put_value(struct cc *c, enum op op, const struct val *v)
{
    if (!op_is_like(op))
        return flt_param(c->f, param_of(v));
    size_t n;
    const char *p = like_pattern(c->f->arena, v, &n);
    return p ? flt_param(c->f, GLY_TEXTN(p, n)) : GLY_ENOMEM;
}

static const char *const op_sql[] = {
    [OP_EQ] = " = ",  [OP_NE] = " <> ", [OP_GT] = " > ",
    [OP_GE] = " >= ", [OP_LT] = " < ",  [OP_LE] = " <= ",
};

static const char *like_sql(const struct cc *c, enum op op)
{
    if (op == OP_LIKE)
        return is_pg(c) ? " ILIKE " : " LIKE ";
    return is_pg(c) ? " NOT ILIKE " : " NOT LIKE ";
}

static const char *distinct_sql(const struct cc *c, bool distinct)
{
    if (distinct)
        return is_pg(c) ? " IS DISTINCT FROM " : " IS NOT ";
    return is_pg(c) ? " IS NOT DISTINCT FROM " : " IS ";
}

/*
 * A plain column (single-valued, of the collection itself) op a value.
 * The common `field = value` stays `col = $N`, which an index serves.
 */
static int emit_column(struct cc *c, const struct fld *fd, enum op op, const struct val *v,
                       bool literal)
{
    enum cls k = cls_of(fd);
    bool nullable = fd->type == FLD_RELATION || k == C_JSON;
    const char *col = gly_arena_printf(c->f->arena, "%s.\"%s\"", c->f->alias, fd->name);
    if (!col)
        return GLY_ENOMEM;
    if (literal && is_empty(v) && (op == OP_EQ || op == OP_NE)) {
        const char *empty = k == C_JSON ? "'null'" : "''";
        if (k == C_NUM || k == C_BOOL)
            return putf(c, "%s IS %sNULL", col, op == OP_EQ ? "" : "NOT ");
        if (op == OP_EQ)
            return putf(c, "(%s IS NULL OR %s = %s)", col, col, empty);
        return putf(c, "(%s IS NOT NULL AND %s <> %s)", col, col, empty);
    }
    if (op_is_like(op)) {
        if (op == OP_NLIKE && nullable)
            putf(c, "(%s IS NULL OR ", col);
        if (k == C_JSON && is_pg(c))
            putf(c, "CAST(%s AS TEXT)", col);
        else
            put(c, col);
        put(c, like_sql(c, op));
        int rc = put_value(c, op, v);
        return rc < 0 ? rc : put(c, op == OP_NLIKE && nullable ? " ESCAPE '\\')" : " ESCAPE '\\'");
    }
    put(c, col);
    put(c, op == OP_NE ? distinct_sql(c, true) : op_sql[op]);
    return put_value(c, op, v);
}

/* The element list of a JSON array column, as a FROM item named e with a column value. */
static int put_elements(struct cc *c, bool first, const char *from, const char *field,
                        const char *e)
{
    if (!first)
        put(c, " CROSS JOIN ");
    if (is_pg(c))
        return putf(c, "jsonb_array_elements_text(%s.\"%s\") AS %s(value)", from, field, e);
    return putf(c, "json_each(%s.\"%s\") AS %s", from, field, e);
}

/*
 * With f->path_rules, the condition that the related record at table alias
 * t (of collection to) is one the request may view: NULL when its view
 * rule is "", "1=0" when it is null, else "t."id" IN (SELECT id FROM to
 * WHERE rule)" with the rule compiled under an alias of its own (g<k>_,
 * whose subqueries are g<k>_1, ...: never one of the path's r<n>).
 */
static int view_rule(struct cc *c, const struct coll *to, const char *t, const char **out)
{
    const char *rule = to->rules[RULE_VIEW];
    *out = NULL;
    if (!c->f->path_rules || (rule && !rule[0]))
        return 0;
    if (!rule) {
        *out = "1=0";
        return 0;
    }
    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, c->f->arena, 0);
    struct flt sub = *c->f;
    sub.coll = to;
    sub.alias = gly_arena_printf(c->f->arena, "g%u_", ++c->nrules);
    sub.sql = &sql;
    sub.path_rules = false;
    if (!sub.alias)
        return GLY_ENOMEM;
    gly_buf_printf(&sql, "%s.\"id\" IN (SELECT %s.\"id\" FROM \"%s\" AS %s WHERE ", t, sub.alias,
                   to->name, sub.alias);
    int rc = flt_where(&sub, rule, strlen(rule));
    if (rc < 0) /* a stored rule compiled when it was written: only memory fails here */
        return rc == GLY_EINVAL ? GLY_EIO : rc;
    gly_buf_putc(&sql, ')');
    /* the parameters went on in sub: they are f's now */
    c->f->params = sub.params;
    c->f->nparams = sub.nparams;
    c->f->cap = sub.cap;
    *out = gly_buf_cstr(&sql);
    return *out ? 0 : GLY_ENOMEM;
}

/*
 * Appends "SELECT 1 FROM ... [WHERE corr]" whose rows are the values of
 * the set p for the current row of f->alias, and gives in *leaf the
 * expression of the value (never NULL: an empty relation reads as "").
 * Returns 1 when a WHERE was written, 0 when not, or an error.
 */
static int emit_chain(struct cc *c, const struct path *p, const char **leaf)
{
    const char *from = c->f->alias, *corr = NULL, *seen[FLT_MAX_PATH];
    unsigned nseen = 0;
    bool first = true;
    put(c, "SELECT 1 FROM ");
    for (unsigned i = 0; i + 1 < p->n; i++) {
        const struct fld *rel = p->f[i];
        const char *e = rel->multi ? new_alias(c) : NULL, *t = new_alias(c);
        if (!t || (rel->multi && !e))
            return GLY_ENOMEM;
        int rc = view_rule(c, rel->to, t, &seen[nseen]);
        if (rc < 0)
            return rc;
        nseen += seen[nseen] != NULL;
        if (rel->multi) {
            put_elements(c, first, from, rel->name, e);
            putf(c, " JOIN \"%s\" AS %s ON %s.\"id\" = %s.value", rel->to->name, t, t, e);
        } else if (first) {
            putf(c, "\"%s\" AS %s", rel->to->name, t);
            corr = gly_arena_printf(c->f->arena, "%s.\"id\" = %s.\"%s\"", t, from, rel->name);
            if (!corr)
                return GLY_ENOMEM;
        } else {
            putf(c, " JOIN \"%s\" AS %s ON %s.\"id\" = %s.\"%s\"", rel->to->name, t, t, from,
                 rel->name);
        }
        first = false;
        from = t;
    }
    const struct fld *fd = leaf_of(p);
    if (fd->multi) {
        const char *e = new_alias(c);
        if (!e)
            return GLY_ENOMEM;
        put_elements(c, first, from, fd->name, e);
        *leaf = gly_arena_printf(c->f->arena, "%s.value", e);
    } else if (fd->type == FLD_RELATION) {
        *leaf = gly_arena_printf(c->f->arena, "COALESCE(%s.\"%s\", '')", from, fd->name);
    } else {
        *leaf = gly_arena_printf(c->f->arena, "%s.\"%s\"", from, fd->name);
    }
    if (!*leaf)
        return GLY_ENOMEM;
    bool where = corr != NULL;
    if (corr)
        putf(c, " WHERE %s", corr);
    for (unsigned i = 0; i < nseen; i++, where = true)
        putf(c, "%s%s", where ? " AND " : " WHERE ", seen[i]);
    return where;
}

/* leaf op v for one value of a set; leaf is never NULL, so the result is never NULL. */
static int emit_leaf_cmp(struct cc *c, const char *leaf, enum cls k, enum op op,
                         const struct val *v, bool literal)
{
    if (literal && is_empty(v) && (op == OP_EQ || op == OP_NE)) {
        if (k != C_TEXT) /* a number or bool value is never empty */
            return put(c, op == OP_EQ ? "1=0" : "1=1");
        return putf(c, "%s %s ''", leaf, op == OP_EQ ? "=" : "<>");
    }
    put(c, leaf);
    if (op_is_like(op)) {
        put(c, like_sql(c, op));
        int rc = put_value(c, op, v);
        return rc < 0 ? rc : put(c, " ESCAPE '\\'");
    }
    put(c, op_sql[op]);
    return put_value(c, op, v);
}

/*
 * A set op a value: any element (?op) or every element (bare op), where
 * an empty set reads as one empty value, so that `tags = ""` is "has no
 * tags" and `author.name != "ann"` holds for a post without an author:
 *
 *   any,   empty matches:  (EXISTS (... AND leaf op v) OR NOT EXISTS (...))
 *   any:                    EXISTS (... AND leaf op v)
 *   every, empty matches:   NOT EXISTS (... AND NOT (leaf op v))
 *   every:                 (NOT EXISTS (... AND NOT (leaf op v)) AND EXISTS (...))
 */
static int emit_set(struct cc *c, const struct path *p, enum op op, bool any, const struct val *v,
                    bool literal)
{
    enum cls k = cls_of(leaf_of(p));
    any = any || !has_multi(p); /* through single relations a set holds one value at most */
    struct val phantom = k == C_TEXT ? text_val("", 0) : (struct val){.t = V_NULL};
    bool empty_ok = fold(c->f->arena, &phantom, op, v);
    bool wrap = any == empty_ok;
    const char *leaf;
    put(c, wrap ? "(" : "");
    put(c, any ? "EXISTS (" : "NOT EXISTS (");
    int rc = emit_chain(c, p, &leaf);
    if (rc < 0)
        return rc;
    put(c, rc ? " AND " : " WHERE ");
    put(c, any ? "" : "NOT (");
    if ((rc = emit_leaf_cmp(c, leaf, k, op, v, literal)) < 0)
        return rc;
    put(c, any ? ")" : "))");
    if (!wrap)
        return 0;
    put(c, any ? " OR NOT EXISTS (" : " AND EXISTS (");
    if ((rc = emit_chain(c, p, &leaf)) < 0)
        return rc;
    return put(c, "))");
}

/* A field op another field: plain columns of the collection, of comparable types. */
static int emit_fields(struct cc *c, const struct node *n, const struct operand *a,
                       const struct operand *b)
{
    const struct operand *set = is_set(&a->path) ? a : is_set(&b->path) ? b : NULL;
    if (set)
        return fail(c->f, set->pos, "a relation path or multi-valued field compares with a value");
    const struct fld *x = leaf_of(&a->path), *y = leaf_of(&b->path);
    enum cls kx = cls_of(x), ky = cls_of(y);
    if (op_is_like(n->op))
        return fail(c->f, n->op_pos, "~ compares a field with a value");
    if (kx == C_JSON || ky == C_JSON || (kx == C_TEXT) != (ky == C_TEXT))
        return fail(c->f, b->pos, "cannot compare %s with %s",
                    quote(c->f, x->name, strlen(x->name)), quote(c->f, y->name, strlen(y->name)));
    const char *op = n->op == OP_EQ   ? distinct_sql(c, false)
                     : n->op == OP_NE ? distinct_sql(c, true)
                                      : op_sql[n->op];
    return putf(c, "%s.\"%s\"%s%s.\"%s\"", c->f->alias, x->name, op, c->f->alias, y->name);
}

static enum op mirror(enum op op)
{
    switch (op) {
    case OP_GT:
        return OP_LT;
    case OP_GE:
        return OP_LE;
    case OP_LT:
        return OP_GT;
    case OP_LE:
        return OP_GE;
    default:
        return op;
    }
}

/* One comparison: decided now, field op field, or field op value. */
static int emit_cmp(struct cc *c, const struct node *n)
{
    const struct operand *a = &n->l, *b = &n->r;
    enum op op = n->op;
    if (!a->is_field && !b->is_field)
        return put(c, fold(c->f->arena, &a->v, op, &b->v) ? "1=1" : "1=0");
    if (a->is_field && b->is_field)
        return emit_fields(c, n, a, b);
    if (!a->is_field) {
        if (op_is_like(op))
            return fail(c->f, n->op_pos, "~ needs the field on its left");
        const struct operand *t = a;
        a = b;
        b = t;
        op = mirror(op);
    }
    const struct fld *fd = leaf_of(&a->path);
    struct val v = b->v;
    if (!b->dynamic) {
        int rc = check_literal(c, n, a, b);
        if (rc < 0)
            return rc;
    } else if (!coerce(c->f->arena, fd, op, &b->v, &v)) {
        return put(c, mismatch_answer(op) ? "1=1" : "1=0");
    }
    if (is_set(&a->path))
        return emit_set(c, &a->path, op, n->any, &v, !b->dynamic);
    return emit_column(c, fd, op, &v, !b->dynamic);
}

/* A node: AND and OR groups in parentheses, comparisons as they are. */
static int emit_node(struct cc *c, const struct node *n)
{
    if (n->kind == N_CMP)
        return emit_cmp(c, n);
    put(c, "(");
    for (const struct node *k = n->kids; k; k = k->next) {
        if (k != n->kids)
            put(c, n->kind == N_AND ? " AND " : " OR ");
        int rc = emit_node(c, k);
        if (rc < 0)
            return rc;
    }
    return put(c, ")");
}

/* ------------------------------------------------------------------------ */
/* Public                                                                   */
/* ------------------------------------------------------------------------ */

/* Adds a parameter without writing it. */
static int add_param(struct flt *f, gly_db_val v)
{
    if (f->nparams == f->cap) {
        unsigned cap = f->cap ? 2 * f->cap : 8;
        gly_db_val *p = gly_arena_realloc(f->arena, f->params, f->cap * sizeof *p, cap * sizeof *p);
        if (!p)
            return GLY_ENOMEM;
        f->params = p;
        f->cap = cap;
    }
    f->params[f->nparams++] = v;
    return 0;
}

int flt_param(struct flt *f, gly_db_val v)
{
    int rc = add_param(f, v);
    return rc < 0 ? rc : gly_buf_printf(f->sql, "$%u", f->nparams);
}

/* Undoes a failed compilation's output, so f->sql and the parameters are as they were. */
static int undo(struct flt *f, size_t sql_len, unsigned nparams, int rc)
{
    f->sql->len = sql_len;
    f->nparams = nparams;
    return rc;
}

static int compile(struct cc *c)
{
    struct node *root;
    int rc = lex(c);
    if (rc < 0)
        return rc;
    if (c->tok.kind == T_END)
        return put(c, "(1=1)");
    if ((rc = parse_or(c, 0, &root)) < 0)
        return rc;
    if (c->tok.kind != T_END)
        return unexpected(c);
    bool group = root->kind != N_CMP;
    put(c, group ? "" : "(");
    if ((rc = emit_node(c, root)) < 0)
        return rc;
    return put(c, group ? "" : ")");
}

int flt_where(struct flt *f, const char *src, size_t len)
{
    size_t sql_len = f->sql->len;
    unsigned nparams = f->nparams;
    if (len > FLT_MAX_LEN)
        return fail(f, FLT_MAX_LEN, "filter longer than %d bytes", FLT_MAX_LEN);
    const char *nul = memchr(src, '\0', len);
    if (nul)
        return fail(f, (size_t)(nul - src), "NUL byte in filter");
    struct cc c = {.f = f, .src = src, .len = len};
    int rc = compile(&c);
    if (rc == 0)
        rc = gly_buf_err(f->sql);
    return rc < 0 ? undo(f, sql_len, nparams, rc) : 0;
}

/* ------------------------------------------------------------------------ */
/* Sorts and keyset conditions                                              */
/* ------------------------------------------------------------------------ */

/* A relation column may be NULL: sorts read it as "" in both dialects alike. */
static int put_key(struct flt *f, const struct fld *fd)
{
    if (fd->type == FLD_RELATION)
        return gly_buf_printf(f->sql, "COALESCE(%s.\"%s\", '')", f->alias, fd->name);
    return gly_buf_printf(f->sql, "%s.\"%s\"", f->alias, fd->name);
}

/* One key of a sort: [+-]name or [+-]@random, at src[0..n) (trimmed). */
static int sort_key(struct flt *f, const char *src, size_t pos, size_t n, struct flt_sort *out)
{
    const char *p = src + pos;
    struct flt_key k = {0};
    if (n && (p[0] == '-' || p[0] == '+')) {
        k.desc = p[0] == '-';
        p++;
        pos++;
        n--;
    }
    if (n == 0)
        return fail(f, pos, "empty sort key");
    if (out->n == SORT_MAX_KEYS)
        return fail(f, pos, "more than %d sort keys", SORT_MAX_KEYS);
    if (!(n == 7 && memcmp(p, "@random", 7) == 0)) {
        k.field = coll_field(f->coll, p, n);
        if (!k.field || k.field->hidden)
            return fail(f, pos, "unknown field %s", quote(f, p, n));
        if (k.field->multi || k.field->type == FLD_JSON)
            return fail(f, pos, "%s cannot be sorted", quote(f, p, n));
    }
    for (unsigned i = 0; i < out->n; i++)
        if (out->keys[i].field == k.field)
            return fail(f, pos, "%s sorted twice", quote(f, p, n));
    out->keys[out->n++] = k;
    return 0;
}

int flt_sort_parse(struct flt *f, const char *src, size_t len, struct flt_sort *out)
{
    out->n = 0;
    if (len > FLT_MAX_LEN)
        return fail(f, FLT_MAX_LEN, "sort longer than %d bytes", FLT_MAX_LEN);
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank = is_blank(src[i]);
    for (size_t i = 0; i < len && !blank;) {
        size_t end = i;
        while (end < len && src[end] != ',')
            end++;
        size_t a = i, b = end;
        while (a < b && is_blank(src[a]))
            a++;
        while (b > a && is_blank(src[b - 1]))
            b--;
        int rc = sort_key(f, src, a, b - a, out);
        if (rc < 0)
            return rc;
        i = end + 1;
        if (end < len && i == len)
            return fail(f, len, "empty sort key");
    }
    const struct fld *id = coll_field(f->coll, "id", 2);
    if (!id)
        return 0;
    for (unsigned i = 0; i < out->n; i++)
        if (out->keys[i].field == id)
            return 0;
    /*
     * The id goes the way of the key before it: indexes end with the id
     * (schema.c), so "-votes" read as votes DESC, id DESC is one backward
     * scan of an index on votes where id ASC would sort every match.
     */
    bool desc = out->n && out->keys[out->n - 1].desc;
    out->keys[out->n++] = (struct flt_key){.field = id, .desc = desc};
    return 0;
}

int flt_sort_sql(struct flt *f, const struct flt_sort *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        const struct flt_key *k = &s->keys[i];
        if (i)
            gly_buf_puts(f->sql, ", ");
        if (k->field)
            put_key(f, k->field);
        else
            gly_buf_puts(f->sql, f->dialect == FLT_PG ? "random()" : "RANDOM()");
        gly_buf_puts(f->sql, k->desc ? " DESC" : " ASC");
    }
    return gly_buf_err(f->sql);
}

/*
 * (k1 > $1) OR (k1 = $1 AND k2 > $2) OR ... with < for descending keys.
 * Each value is one parameter, referenced as often as its key appears.
 */
int flt_after_sql(struct flt *f, const struct flt_sort *s, const gly_db_val *vals)
{
    unsigned first = f->nparams + 1;
    for (unsigned i = 0; i < s->n; i++)
        if (!s->keys[i].field)
            return fail(f, 0, "a random order has no cursor");
    size_t sql_len = f->sql->len;
    for (unsigned i = 0; i < s->n; i++) {
        gly_db_val v = vals[i];
        if (s->keys[i].field->type == FLD_RELATION && v.type == GLY_DB_NULL)
            v = GLY_TEXTN("", 0);
        int rc = add_param(f, v);
        if (rc < 0)
            return undo(f, sql_len, first - 1, rc);
    }
    gly_buf_puts(f->sql, "(");
    for (unsigned i = 0; i < s->n; i++) {
        gly_buf_puts(f->sql, i ? " OR (" : "(");
        for (unsigned j = 0; j <= i; j++) {
            const struct flt_key *k = &s->keys[j];
            put_key(f, k->field);
            if (j < i)
                gly_buf_printf(f->sql, " = $%u AND ", first + j);
            else
                gly_buf_printf(f->sql, " %s $%u)", k->desc ? "<" : ">", first + j);
        }
    }
    gly_buf_puts(f->sql, ")");
    int rc = gly_buf_err(f->sql);
    return rc < 0 ? undo(f, sql_len, first - 1, rc) : 0;
}
