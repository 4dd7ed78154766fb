/*
 * src/http/router.c - radix-tree router.
 *
 * The tree has three kinds of node. A static node matches its label, a run of
 * bytes that may span several segments; its static children are keyed by the
 * first byte of their labels, which are distinct, and an insert that diverges
 * inside a label splits it. A param node matches one non-empty segment and a
 * rest node the remainder of the path; both hang off the node whose path so
 * far ends in '/' (the root is the static node "/"), at most one of each, and
 * their label is the name. A node that ends a pattern keeps the pattern and
 * one value per method: a bitmask, and an array of popcount(mask) values in
 * method order.
 *
 * Lookup walks the tree without allocating and backtracks: at each node it
 * tries the static child, then the param child, then the rest child, and
 * goes on until a matching pattern has the method. When none has it, the
 * walk has visited every matching pattern, so the union of their masks is
 * the Allow set.
 */
#include "router.h"

#include <assert.h>
#include <stdlib.h>

enum { KIND_STATIC, KIND_PARAM, KIND_REST };

_Static_assert(GLY_ROUTER_MAX_PARAMS > 0, "a router with no params");

struct node {
    char *label; /* static: bytes to match; param, rest: the name (NUL-terminated) */
    size_t len;  /* bytes in label */
    int kind;    /* KIND_* */
    unsigned nchild;
    unsigned cap;
    struct node **child; /* static children; first[i] == child[i]->label[0] */
    char *first;         /* in the same allocation as child */
    struct node *param;
    struct node *rest;
    uint32_t methods; /* bit m: values holds a value for method m */
    void **values;    /* popcount(methods) entries, lowest method first */
    char *pattern;    /* the registered pattern, when methods != 0 */
};

struct gly_router {
    struct node *root;
};

/* Where a lookup stands: what it looks for, what it found on the way. */
struct search {
    uint32_t bit;
    uint32_t allow;
    unsigned n;
    struct gly_router_params *out;
};

static struct node *node_new(int kind, const char *label, size_t len)
{
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->label = malloc(len + 1);
    if (n->label == NULL) {
        free(n);
        return NULL;
    }
    memcpy(n->label, label, len);
    n->label[len] = '\0';
    n->len = len;
    n->kind = kind;
    return n;
}

static void node_free(struct node *n)
{
    if (n == NULL) {
        return;
    }
    for (unsigned i = 0; i < n->nchild; i++) {
        node_free(n->child[i]);
    }
    node_free(n->param);
    node_free(n->rest);
    free(n->child);
    free(n->values);
    free(n->pattern);
    free(n->label);
    free(n);
}

/* Makes room for one more static child. Returns 0 or GLY_ENOMEM (n unchanged). */
static int reserve_child(struct node *n)
{
    if (n->nchild < n->cap) {
        return 0;
    }
    unsigned cap = n->cap ? n->cap * 2 : 2;
    struct node **child = malloc(cap * (sizeof(*child) + 1));
    if (child == NULL) {
        return GLY_ENOMEM;
    }
    char *first = (char *)(child + cap);
    if (n->nchild > 0) {
        memcpy(child, n->child, n->nchild * sizeof(*child));
        memcpy(first, n->first, n->nchild);
    }
    free(n->child);
    n->child = child;
    n->first = first;
    n->cap = cap;
    return 0;
}

static int find_child(const struct node *n, char c)
{
    for (unsigned i = 0; i < n->nchild; i++) {
        if (n->first[i] == c) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Splits the static child i of parent after at bytes of its label: a new node
 * with the first at bytes takes its place and gets it as only child. Returns
 * 0 or GLY_ENOMEM (nothing changed).
 */
static int split(struct node *parent, unsigned i, size_t at)
{
    struct node *c = parent->child[i];
    assert(at > 0 && at < c->len);
    struct node *mid = node_new(KIND_STATIC, c->label, at);
    char *tail = malloc(c->len - at + 1);
    if (mid == NULL || tail == NULL || reserve_child(mid) != 0) {
        node_free(mid);
        free(tail);
        return GLY_ENOMEM;
    }
    memcpy(tail, c->label + at, c->len - at + 1);
    free(c->label);
    c->label = tail;
    c->len -= at;
    mid->child[0] = c;
    mid->first[0] = tail[0];
    mid->nchild = 1;
    parent->child[i] = mid;
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * Length of the param or rest name at p (just after ':' or '*'), or 0 when
 * it is empty or not followed by '/' or the end of the pattern.
 */
static size_t name_len(const char *p)
{
    size_t n = 0;
    while (is_name_char(p[n])) {
        n++;
    }
    return p[n] == '\0' || p[n] == '/' ? n : 0;
}

/* True when pattern is well formed on its own (names, rest last, param count). */
static bool pattern_valid(const char *pattern)
{
    if (pattern[0] != '/') {
        return false;
    }
    unsigned params = 0;
    for (const char *p = pattern + 1; *p != '\0'; p++) {
        if (p[-1] != '/' || (*p != ':' && *p != '*')) {
            continue;
        }
        size_t n = name_len(p + 1);
        if (n == 0 || ++params > GLY_ROUTER_MAX_PARAMS) {
            return false;
        }
        if (*p == '*' && p[1 + n] != '\0') {
            return false;
        }
        p += n;
    }
    return true;
}

/* Length of the static run at pattern[pos]: up to the next param or rest, or the end. */
static size_t static_run(const char *pattern, size_t pos)
{
    size_t q = pos;
    while (pattern[q] != '\0') {
        if (pattern[q] == '/' && (pattern[q + 1] == ':' || pattern[q + 1] == '*')) {
            return q + 1 - pos;
        }
        q++;
    }
    return q - pos;
}

/*
 * Builds the detached chain of nodes for pattern[pos..]. Returns its first
 * node and sets *last to the node that ends the pattern, or NULL when out of
 * memory.
 */
static struct node *build_chain(const char *pattern, size_t pos, struct node **last)
{
    struct node *head = NULL, *tail = NULL;
    while (pattern[pos] != '\0') {
        struct node *n;
        bool seg_start = pattern[pos - 1] == '/';
        if (seg_start && (pattern[pos] == ':' || pattern[pos] == '*')) {
            size_t len = name_len(pattern + pos + 1);
            n = node_new(pattern[pos] == ':' ? KIND_PARAM : KIND_REST, pattern + pos + 1, len);
            pos += 1 + len;
        } else {
            size_t len = static_run(pattern, pos);
            n = node_new(KIND_STATIC, pattern + pos, len);
            pos += len;
        }
        if (n == NULL) {
            node_free(head);
            return NULL;
        }
        if (tail == NULL) {
            head = n;
        } else if (n->kind == KIND_STATIC) {
            /* tail is a fresh param node; its array is free to grow */
            if (reserve_child(tail) != 0) {
                node_free(n);
                node_free(head);
                return NULL;
            }
            tail->child[0] = n;
            tail->first[0] = n->label[0];
            tail->nchild = 1;
        } else if (n->kind == KIND_PARAM) {
            tail->param = n;
        } else {
            tail->rest = n;
        }
        tail = n;
    }
    *last = tail;
    return head;
}

static unsigned value_index(uint32_t methods, uint32_t bit)
{
    return (unsigned)__builtin_popcount(methods & (bit - 1));
}

/*
 * Gives n the value for bit, and the pattern if it has none yet. Returns 0
 * or GLY_ENOMEM (n unchanged).
 */
static int node_set(struct node *n, uint32_t bit, const char *pattern, void *value)
{
    char *dup = NULL;
    if (n->pattern == NULL) {
        dup = strdup(pattern);
        if (dup == NULL) {
            return GLY_ENOMEM;
        }
    }
    unsigned count = (unsigned)__builtin_popcount(n->methods);
    void **values = realloc(n->values, (count + 1) * sizeof(*values));
    if (values == NULL) {
        free(dup);
        return GLY_ENOMEM;
    }
    unsigned i = value_index(n->methods, bit);
    memmove(values + i + 1, values + i, (count - i) * sizeof(*values));
    values[i] = value;
    n->values = values;
    n->methods |= bit;
    if (dup != NULL) {
        n->pattern = dup;
    }
    return 0;
}

struct gly_router *gly__router_new(void)
{
    struct gly_router *r = malloc(sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->root = node_new(KIND_STATIC, "/", 1);
    if (r->root == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void gly__router_free(struct gly_router *r)
{
    if (r == NULL) {
        return;
    }
    node_free(r->root);
    free(r);
}

/*
 * Follows pattern down the tree as far as the tree goes, splitting a label
 * where the pattern ends or diverges inside it, then hangs the new chain
 * below. Nothing is changed before the checks pass. A split done before an
 * out-of-memory failure stays: the tree is still consistent, with one more
 * node than needed.
 */
int gly__router_add(struct gly_router *r, unsigned method, const char *pattern, void *value)
{
    if (r == NULL || pattern == NULL || value == NULL || method >= 32 || !pattern_valid(pattern)) {
        return GLY_EINVAL;
    }
    uint32_t bit = 1u << method;
    struct node *n = r->root;
    size_t pos = 1;
    int err;

    while (pattern[pos] != '\0') {
        char c = pattern[pos];
        if (pattern[pos - 1] == '/' && (c == ':' || c == '*')) {
            size_t len = name_len(pattern + pos + 1);
            struct node *next = c == ':' ? n->param : n->rest;
            if (next == NULL) {
                break;
            }
            if (next->len != len || memcmp(next->label, pattern + pos + 1, len) != 0) {
                return GLY_EINVAL;
            }
            n = next;
            pos += 1 + len;
            continue;
        }
        int i = find_child(n, c);
        if (i < 0) {
            break;
        }
        struct node *child = n->child[i];
        size_t run = static_run(pattern, pos);
        size_t common = 1;
        while (common < run && common < child->len &&
               child->label[common] == pattern[pos + common]) {
            common++;
        }
        if (common < child->len) {
            err = split(n, (unsigned)i, common);
            if (err != 0) {
                return err;
            }
            child = n->child[i];
        }
        n = child;
        pos += common;
    }

    if (pattern[pos] == '\0') {
        if (n->methods & bit) {
            return GLY_EEXIST;
        }
        return node_set(n, bit, pattern, value);
    }

    struct node *last;
    struct node *head = build_chain(pattern, pos, &last);
    if (head == NULL) {
        return GLY_ENOMEM;
    }
    if (node_set(last, bit, pattern, value) != 0 ||
        (head->kind == KIND_STATIC && reserve_child(n) != 0)) {
        node_free(head);
        return GLY_ENOMEM;
    }
    if (head->kind == KIND_STATIC) {
        n->child[n->nchild] = head;
        n->first[n->nchild] = head->label[0];
        n->nchild++;
    } else if (head->kind == KIND_PARAM) {
        n->param = head;
    } else {
        n->rest = head;
    }
    return 0;
}

static void push_param(struct search *s, const struct node *n, const char *p, size_t len)
{
    assert(s->n < GLY_ROUTER_MAX_PARAMS);
    s->out->names[s->n].p = n->label;
    s->out->names[s->n].n = n->len;
    s->out->values[s->n].p = p;
    s->out->values[s->n].n = len;
    s->n++;
}

/* True when terminal node n has the method; adds its methods to allow either way. */
static bool has_method(const struct node *n, struct search *s)
{
    s->allow |= n->methods;
    return (n->methods & s->bit) != 0;
}

/*
 * Matches path[p..end) below n, whose label is already matched. Returns the
 * node that ends a matching pattern with the method, or NULL.
 */
static const struct node *match(const struct node *n, const char *p, const char *end,
                                struct search *s)
{
    for (;;) {
        if (p == end) {
            if (has_method(n, s)) {
                return n;
            }
            if (n->rest != NULL) {
                push_param(s, n->rest, p, 0);
                if (has_method(n->rest, s)) {
                    return n->rest;
                }
                s->n--;
            }
            return NULL;
        }

        const struct node *c = NULL;
        for (unsigned i = 0; i < n->nchild; i++) {
            if (n->first[i] == *p) {
                c = n->child[i];
                break;
            }
        }
        if (c != NULL && (size_t)(end - p) >= c->len && memcmp(p, c->label, c->len) == 0) {
            if (n->param == NULL && n->rest == NULL) {
                /* nothing to come back to here: no need to recurse */
                n = c;
                p += c->len;
                continue;
            }
            const struct node *found = match(c, p + c->len, end, s);
            if (found != NULL) {
                return found;
            }
        }

        if (n->param != NULL) {
            const char *q = memchr(p, '/', (size_t)(end - p));
            if (q == NULL) {
                q = end;
            }
            if (q > p) {
                unsigned saved = s->n;
                push_param(s, n->param, p, (size_t)(q - p));
                const struct node *found = match(n->param, q, end, s);
                if (found != NULL) {
                    return found;
                }
                s->n = saved;
            }
        }

        if (n->rest != NULL) {
            push_param(s, n->rest, p, (size_t)(end - p));
            if (has_method(n->rest, s)) {
                return n->rest;
            }
            s->n--;
        }
        return NULL;
    }
}

void *gly__router_find(const struct gly_router *r, unsigned method, gly_str path,
                       struct gly_router_params *params, unsigned *allow, const char **pattern)
{
    struct gly_router_params scratch;
    struct search s = {
        .bit = method < 32 ? 1u << method : 0,
        .allow = 0,
        .n = 0,
        .out = params != NULL ? params : &scratch,
    };
    const struct node *found = NULL;

    if (r != NULL && path.n > 0 && path.p[0] == '/') {
        found = match(r->root, path.p + 1, path.p + path.n, &s);
    }
    s.out->n = found != NULL ? s.n : 0;
    if (allow != NULL) {
        /* on success: the methods of the pattern found */
        *allow = found != NULL ? found->methods : s.allow;
    }
    if (pattern != NULL) {
        *pattern = found != NULL ? found->pattern : NULL;
    }
    return found != NULL ? found->values[value_index(found->methods, s.bit)] : NULL;
}
