"""
tests/api/test_records_search.py - full-text search (q= of a list) and
aggregates (records:aggregate) on SQLite and PostgreSQL: words in any text
field, several words, prefixes, case, unicode, input that FTS query
languages would read as operators, search under filters and rules, the
index kept in step with records and with changes of the collection; counts,
sums, averages, minimums and maximums by group under the list rule, and
their errors.
"""

import os
import sqlite3
import urllib.parse

import pytest

from conftest import call, galley

PASSWORD = "correct horse battery staple"
ROOT_PASSWORD = "the root of all good things"


@pytest.fixture
def srv(start_server, args, backend):
    out = galley("admin", "create", "root@example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    s = start_server(*args, binary="galley")
    s.root = token(s, "root@example.com", ROOT_PASSWORD)
    s.backend = backend
    s.data = args[1]
    return s


def token(srv, email, password=PASSWORD):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert st == 200, doc
    return doc["access_token"]


def user(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert st == 201, doc
    return doc["id"], token(srv, email)


def as_(tok):
    return {"Authorization": "Bearer " + tok} if tok else {}


def define(srv, body, status=201):
    st, doc, _ = call(srv, "POST", "/api/v1/collections", body, headers=as_(srv.root))
    assert st == status, doc
    return doc


def patch_coll(srv, name, body, status=200):
    st, doc, _ = call(srv, "PATCH", "/api/v1/collections/" + name, body, headers=as_(srv.root))
    assert st == status, doc
    return doc


def rec(srv, coll, body, tok=None):
    st, doc, _ = call(srv, "POST", "/api/v1/collections/%s/records" % coll, body,
                      headers=as_(tok if tok is not None else srv.root))
    assert st == 201, doc
    return doc


def q(value):
    return urllib.parse.quote(value, safe="")


def search(srv, coll, words, extra="", tok=None, status=200):
    """The titles a list with q=words finds (sorted), or the problem document."""
    st, doc, _ = call(srv, "GET", "/api/v1/collections/%s/records?per_page=500&q=%s%s"
                      % (coll, q(words), extra), headers=as_(tok if tok is not None else srv.root))
    assert st == status, (words, doc)
    if status != 200:
        return doc
    assert doc["total_items"] == len(doc["items"])
    return sorted(r["title"] for r in doc["items"])


def agg(srv, coll, query, tok=None, status=200):
    st, doc, _ = call(srv, "GET", "/api/v1/collections/%s/records:aggregate?%s" % (coll, query),
                      headers=as_(tok if tok is not None else srv.root))
    assert st == status, (query, doc)
    return doc


NOTES = {
    "name": "notes",
    "fields": [
        {"name": "title", "type": "text", "search": True},
        {"name": "body", "type": "text", "search": True},
        {"name": "contact", "type": "email"},
        {"name": "site", "type": "url"},
        {"name": "status", "type": "select", "values": ["open", "closed"], "default": "open"},
        {"name": "meta", "type": "json"},
        {"name": "votes", "type": "number"},
    ],
    "rules": {"list": "", "view": "", "create": "", "update": "", "delete": ""},
}


def notes(srv):
    define(srv, NOTES)
    for title, body in [
        ("alpha", "The quick brown fox jumps over the lazy dog"),
        ("beta", "Quick thinking saves the day"),
        ("gamma", "Nothing to see here, said the e-mail (from example.com)"),
        ("delta", "A brown bear and a quicksilver stream"),
        ("unicode", "naïve Straße Über 日本語 café"),
    ]:
        rec(srv, "notes", {"title": title, "body": body})


# ---- q= ---------------------------------------------------------------------------------------


def test_search_finds_words_in_any_text_field_and_only_there(srv):
    notes(srv)
    rec(srv, "notes", {"title": "epsilon", "contact": "zebra@example.com", "site": "https://zebra.io",
                       "meta": {"k": "zebra"}})
    assert search(srv, "notes", "fox") == ["alpha"]
    assert search(srv, "notes", "gamma") == ["gamma"]  # a title
    assert search(srv, "notes", "brown") == ["alpha", "delta"]
    assert search(srv, "notes", "zebra") == []  # email, url and json fields are not searched
    assert search(srv, "notes", "nowhere") == []
    # the page and its count agree
    st, doc, _ = call(srv, "GET", "/api/v1/collections/notes/records?q=brown&per_page=1&sort=title")
    assert st == 200 and doc["total_items"] == 2 and [r["title"] for r in doc["items"]] == ["alpha"]


def test_search_ands_words_and_the_last_is_a_prefix(srv):
    notes(srv)
    assert search(srv, "notes", "quick brown") == ["alpha"]
    assert search(srv, "notes", "brown quick") == ["alpha", "delta"]  # quick*: quicksilver
    assert search(srv, "notes", "quick fox brown") == ["alpha"]
    assert search(srv, "notes", "quick") == ["alpha", "beta", "delta"]
    assert search(srv, "notes", "qui") == ["alpha", "beta", "delta"]  # quicksilver too
    assert search(srv, "notes", "qui brown") == []  # only the last word is a prefix
    assert search(srv, "notes", "brown qui") == ["alpha", "delta"]
    assert search(srv, "notes", "fox zebra") == []


def test_search_ignores_case_and_finds_unicode_words(srv):
    notes(srv)
    assert search(srv, "notes", "QUICK Fox") == ["alpha"]
    assert search(srv, "notes", "naïve") == ["unicode"]
    assert search(srv, "notes", "Straße") == ["unicode"]
    assert search(srv, "notes", "日本語") == ["unicode"]
    assert search(srv, "notes", "caf") == ["unicode"]  # a prefix of café
    assert search(srv, "notes", "naive") == []  # diacritics count, on both backends
    if srv.backend == "sqlite":  # PostgreSQL's C locale folds ASCII letters only
        assert search(srv, "notes", "über") == ["unicode"]


def test_search_splits_words_on_punctuation_as_the_index_does(srv):
    notes(srv)
    assert search(srv, "notes", "example") == ["gamma"]  # example.com is two words
    assert search(srv, "notes", "e-mail") == ["gamma"]  # a word of two tokens: a phrase
    assert search(srv, "notes", "mail") == ["gamma"]
    assert search(srv, "notes", "mail-e") == []  # in that order only
    assert search(srv, "notes", "example.com") == ["gamma"]


@pytest.mark.parametrize("words, found", [
    ('"quick', ["alpha", "beta", "delta"]),
    ('quick"', ["alpha", "beta", "delta"]),
    ('"quick brown"', ["alpha"]),
    ("quick*", ["alpha", "beta", "delta"]),
    ("quick OR zebra", []),  # OR is a word to find, not an operator
    ("NOT quick", []),
    ("quick AND fox", []),
    ("NEAR(quick fox)", []),  # "NEAR(quick" is the phrase "near quick"
    ("quick -brown", ["alpha"]),  # - does not exclude
    ("-brown", ["alpha", "delta"]),
    ("body:quick", []),  # no column filter: "body quick" is not in any note
    ("title:alpha", []),
    ("^quick", ["alpha", "beta", "delta"]),
    ("(quick", ["alpha", "beta", "delta"]),
    ("quick)", ["alpha", "beta", "delta"]),
    ("{quick fox}", ["alpha"]),
    ("it's", []),
    ("back\\slash", []),
    ("100%", []),
    ("x_y", []),
    ("quick & !fox | <-> :*", ["alpha"]),  # tsquery operators
    ("fox'); DROP TABLE notes; --", []),
])
def test_search_reads_operators_as_plain_text(srv, words, found):
    notes(srv)
    assert search(srv, "notes", words) == found
    assert search(srv, "notes", "fox") == ["alpha"]  # and the table is still there


@pytest.mark.parametrize("words", ['"', "*", "-", ":", "()", '" * - : ( ) ^ + ,', "   "])
def test_a_query_without_words_is_400(srv, words):
    notes(srv)
    doc = search(srv, "notes", words, status=400)
    assert doc["parameter"] == "q" and "no word" in doc["detail"]


def test_search_limits_and_where_it_cannot_search(srv):
    notes(srv)
    assert search(srv, "notes", "a" * 256) == []
    assert search(srv, "notes", "z-" * 128) == []  # 128 tokens of one letter
    assert search(srv, "notes", "z " * 128) == []
    doc = search(srv, "notes", "a" * 257, status=400)
    assert doc["parameter"] == "q" and "256" in doc["detail"]
    st, doc, _ = call(srv, "GET", "/api/v1/collections/notes/records?q=%FF%FE", headers=as_(srv.root))
    assert st == 400 and doc["parameter"] == "q" and "UTF-8" in doc["detail"]
    # an empty q is no search at all
    st, doc, _ = call(srv, "GET", "/api/v1/collections/notes/records?q=", headers=as_(srv.root))
    assert st == 200 and doc["total_items"] == 5
    define(srv, {"name": "counts", "fields": [{"name": "n", "type": "number"}],
                 "rules": {"list": ""}})
    doc = search(srv, "counts", "x", status=400)
    assert doc["parameter"] == "q" and "no field is searched" in doc["detail"]
    doc = search(srv, "users", "root", status=400)
    assert doc["parameter"] == "q"


def test_search_with_a_filter_and_under_the_list_rule(srv):
    uid, tok = user(srv, "u@example.com")
    other, tok2 = user(srv, "v@example.com")
    define(srv, {
        "name": "posts",
        "fields": [
            {"name": "title", "type": "text", "search": True},
            {"name": "public", "type": "bool"},
            {"name": "votes", "type": "number"},
            {"name": "owner", "type": "relation", "collection": "users"},
        ],
        "rules": {"list": "public = true || owner = @request.auth.id", "create": ""},
    })
    rec(srv, "posts", {"title": "secret apple", "owner": uid})
    rec(srv, "posts", {"title": "public apple", "public": True, "votes": 5, "owner": other})
    rec(srv, "posts", {"title": "hidden apple", "owner": other})
    rec(srv, "posts", {"title": "public pear", "public": True, "owner": other})
    assert search(srv, "posts", "apple", tok=tok) == ["public apple", "secret apple"]
    assert search(srv, "posts", "apple", tok=tok2) == ["hidden apple", "public apple"]
    assert search(srv, "posts", "apple", tok="") == ["public apple"]  # a guest
    assert search(srv, "posts", "apple") == ["hidden apple", "public apple", "secret apple"]
    assert search(srv, "posts", "apple", extra="&filter=" + q("votes > 1"), tok=tok) == ["public apple"]
    assert search(srv, "posts", "hidden", tok=tok) == []
    # the filter cannot widen what the rule allows
    assert search(srv, "posts", "apple", extra="&filter=" + q("public = false"), tok=tok) == ["secret apple"]
    # with a sort and a cursor
    st, doc, _ = call(srv, "GET", "/api/v1/collections/posts/records?q=apple&sort=title&per_page=1",
                      headers=as_(srv.root))
    assert st == 200 and [r["title"] for r in doc["items"]] == ["hidden apple"] and doc["total_items"] == 3
    st, doc, _ = call(srv, "GET", "/api/v1/collections/posts/records?q=apple&sort=title&per_page=1&after="
                      + doc["next"], headers=as_(srv.root))
    assert st == 200 and [r["title"] for r in doc["items"]] == ["public apple"]


def test_search_follows_creates_updates_and_deletes(srv):
    notes(srv)
    r = rec(srv, "notes", {"title": "omega", "body": "violet sunset"})
    assert search(srv, "notes", "violet") == ["omega"]
    st, doc, _ = call(srv, "PATCH", "/api/v1/collections/notes/records/" + r["id"], {"body": "crimson dawn"},
                      headers=as_(srv.root))
    assert st == 200, doc
    assert search(srv, "notes", "violet") == []
    assert search(srv, "notes", "crimson dawn") == ["omega"]
    st, doc, _ = call(srv, "PATCH", "/api/v1/collections/notes/records/" + r["id"], {"votes": 3},
                      headers=as_(srv.root))
    assert st == 200, doc
    assert search(srv, "notes", "crimson") == ["omega"]  # a change of another field keeps it
    st, _, _ = call(srv, "DELETE", "/api/v1/collections/notes/records/" + r["id"], headers=as_(srv.root))
    assert st == 204
    assert search(srv, "notes", "crimson") == []
    assert search(srv, "notes", "fox") == ["alpha"]


def fts_tables(srv):
    """The FTS5 tables in the SQLite file."""
    db = sqlite3.connect(os.path.join(srv.data, "data.db"))
    try:
        return sorted(r[0] for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'trigger') AND name LIKE 'galley_fts_%'"))
    finally:
        db.close()


def test_search_follows_changes_of_the_collection(srv):
    notes(srv)
    coll = patch_coll(srv, "notes", {})  # the definition with the fields' ids
    fields = [f for f in coll["fields"] if not f.get("system")]
    # a new text field: searched at once, with the records there were
    fields.append({"name": "extra", "type": "text", "search": True})
    patch_coll(srv, "notes", {"fields": fields})
    r = rec(srv, "notes", {"title": "with extra", "extra": "turquoise"})
    assert search(srv, "notes", "turquoise") == ["with extra"]
    assert search(srv, "notes", "fox") == ["alpha"]
    # a renamed text field keeps its words
    coll = patch_coll(srv, "notes", {})
    fields = [f for f in coll["fields"] if not f.get("system")]
    for f in fields:
        if f["name"] == "body":
            f["name"] = "text"
    patch_coll(srv, "notes", {"fields": fields})
    assert search(srv, "notes", "fox") == ["alpha"]
    st, doc, _ = call(srv, "PATCH", "/api/v1/collections/notes/records/" + r["id"], {"text": "magenta"},
                      headers=as_(srv.root))
    assert st == 200, doc
    assert search(srv, "notes", "magenta") == ["with extra"]
    # other fields come and go (a column a trigger does not name)
    fields = [f for f in fields if f["name"] != "votes"] + [{"name": "score", "type": "number"}]
    patch_coll(srv, "notes", {"fields": fields})
    assert search(srv, "notes", "turquoise") == ["with extra"]
    # a dropped text field takes its words along
    coll = patch_coll(srv, "notes", {"fields": [f for f in fields if f["name"] != "extra"]})
    assert search(srv, "notes", "turquoise") == []
    assert search(srv, "notes", "magenta") == ["with extra"]
    # a renamed collection searches as before, new records too
    patch_coll(srv, "notes", {"name": "memos"})
    assert search(srv, "memos", "fox") == ["alpha"]
    rec(srv, "memos", {"title": "after rename", "text": "ochre"})
    assert search(srv, "memos", "ochre") == ["after rename"]
    st, _, _ = call(srv, "DELETE", "/api/v1/collections/memos/records/" + r["id"], headers=as_(srv.root))
    assert st == 204
    assert search(srv, "memos", "magenta") == []
    # the last text field gone: nothing to search, and no index left
    patch_coll(srv, "memos", {"fields": [{"name": "n", "type": "number"}]})
    doc = search(srv, "memos", "fox", status=400)
    assert "no field is searched" in doc["detail"]
    patch_coll(srv, "memos", {"fields": [{"name": "n", "type": "number"}, {"name": "label", "type": "text", "search": True}]})
    st, doc, _ = call(srv, "POST", "/api/v1/collections/memos/records", {"label": "sepia"}, headers=as_(srv.root))
    assert st == 201, doc
    st, doc, _ = call(srv, "GET", "/api/v1/collections/memos/records?q=sepia", headers=as_(srv.root))
    assert st == 200 and [x["label"] for x in doc["items"]] == ["sepia"]
    if srv.backend == "sqlite":
        names = fts_tables(srv)  # the FTS5 table, its 4 shadow tables and 3 triggers
        assert len(names) == 8 and all(n.startswith(names[0]) for n in names), names
    st, _, _ = call(srv, "DELETE", "/api/v1/collections/memos", headers=as_(srv.root))
    assert st == 204
    if srv.backend == "sqlite":
        assert fts_tables(srv) == []
    # the name is free again, with a search of its own
    notes(srv)
    assert search(srv, "notes", "fox") == ["alpha"]


# ---- records:aggregate ------------------------------------------------------------------------


TASKS = {
    "name": "tasks",
    "fields": [
        {"name": "title", "type": "text", "search": True},
        {"name": "status", "type": "select", "values": ["open", "done"]},
        {"name": "votes", "type": "number"},
        {"name": "due", "type": "date"},
        {"name": "urgent", "type": "bool"},
        {"name": "owner", "type": "relation", "collection": "users"},
        {"name": "tags", "type": "select", "multi": True, "values": ["a", "b"]},
        {"name": "meta", "type": "json"},
    ],
    "rules": {"list": "owner = @request.auth.id || status = 'open'", "create": ""},
}


def tasks(srv):
    uid, tok = user(srv, "u@example.com")
    define(srv, TASKS)
    rows = [
        ("t1", "open", 1, "2026-01-01", True, uid),
        ("t2", "open", 2, "2026-02-01", False, uid),
        ("t3", "done", 4, "2026-03-01", True, uid),
        ("t4", "done", 8, "2026-04-01", False, ""),
        ("t5", "open", 16, "2026-05-01", False, ""),
    ]
    for title, status, votes, due, urgent, owner in rows:
        rec(srv, "tasks", {"title": title, "status": status, "votes": votes, "due": due,
                           "urgent": urgent, "owner": owner})
    return uid, tok


def test_aggregate_each_function_over_every_record(srv):
    tasks(srv)
    doc = agg(srv, "tasks", "count=1&sum=votes&avg=votes&min=votes,due,title&max=votes,due,created")
    assert doc["total_groups"] == 1 and doc["truncated"] is False
    (item,) = doc["items"]
    assert item["count"] == 5 and item["sum_votes"] == 31 and item["avg_votes"] == 6.2
    assert item["min_votes"] == 1 and item["max_votes"] == 16
    assert item["min_due"] == "2026-01-01T00:00:00.000Z" and item["max_due"] == "2026-05-01T00:00:00.000Z"
    assert item["min_title"] == "t1" and item["max_created"].endswith("Z")
    # nothing matches: a count of 0, a sum of 0, no average
    doc = agg(srv, "tasks", "count=1&sum=votes&avg=votes&max=due&filter=" + q("votes > 100"))
    assert doc["items"] == [{"count": 0, "sum_votes": 0, "avg_votes": None, "max_due": None}]


def test_aggregate_by_groups(srv):
    uid, _ = tasks(srv)
    doc = agg(srv, "tasks", "group=status&count=1&sum=votes")
    assert doc == {"items": [{"status": "done", "count": 2, "sum_votes": 12},
                             {"status": "open", "count": 3, "sum_votes": 19}],
                   "total_groups": 2, "truncated": False}
    doc = agg(srv, "tasks", "group=status,urgent&count=1&max=votes")
    assert doc["items"] == [
        {"status": "done", "urgent": False, "count": 1, "max_votes": 8},
        {"status": "done", "urgent": True, "count": 1, "max_votes": 4},
        {"status": "open", "urgent": False, "count": 2, "max_votes": 16},
        {"status": "open", "urgent": True, "count": 1, "max_votes": 1},
    ]
    assert doc["total_groups"] == 4
    # an empty relation is the group ""; groups alone list the distinct values
    doc = agg(srv, "tasks", "group=owner")
    assert doc["items"] == [{"owner": ""}, {"owner": uid}]
    doc = agg(srv, "tasks", "group=votes&count=1&filter=" + q("votes >= 4"))
    assert [(i["votes"], i["count"]) for i in doc["items"]] == [(4, 1), (8, 1), (16, 1)]


def test_aggregate_under_the_list_rule_with_filter_and_search(srv):
    uid, tok = tasks(srv)
    _, tok2 = user(srv, "v@example.com")
    # u sees its own and the open ones: t1 t2 t3 t5; v only the open ones: t1 t2 t5
    doc = agg(srv, "tasks", "group=status&count=1", tok=tok)
    assert [(i["status"], i["count"]) for i in doc["items"]] == [("done", 1), ("open", 3)]
    doc = agg(srv, "tasks", "count=1&sum=votes", tok=tok2)
    assert doc["items"] == [{"count": 3, "sum_votes": 19}]
    doc = agg(srv, "tasks", "count=1&sum=votes", tok="")
    assert doc["items"] == [{"count": 3, "sum_votes": 19}]
    doc = agg(srv, "tasks", "count=1&filter=" + q("status = 'done'"), tok=tok2)
    assert doc["items"] == [{"count": 0}]
    doc = agg(srv, "tasks", "group=status&count=1&q=t3", tok=tok)
    assert doc["items"] == [{"status": "done", "count": 1}]
    # a null rule: admins only
    patch_coll(srv, "tasks", {"rules": {"list": None}})
    agg(srv, "tasks", "count=1", tok=tok, status=403)
    assert agg(srv, "tasks", "count=1")["items"] == [{"count": 5}]


def test_aggregate_counts_groups_past_the_cap(srv):
    define(srv, {"name": "many", "fields": [{"name": "k", "type": "number"}], "rules": {"list": ""}})
    for k in range(1002):
        rec(srv, "many", {"k": k})
    doc = agg(srv, "many", "group=k&count=1")
    assert len(doc["items"]) == 1000 and doc["truncated"] is True and doc["total_groups"] == 1002
    assert doc["items"][0] == {"k": 0, "count": 1} and doc["items"][-1]["k"] == 999
    doc = agg(srv, "many", "group=k&count=1&filter=" + q("k < 1000"))
    assert len(doc["items"]) == 1000 and doc["truncated"] is False and doc["total_groups"] == 1000


@pytest.mark.parametrize("query, param", [
    ("", "count"),
    ("count=2", "count"),
    ("group=nope&count=1", "group"),
    ("group=meta&count=1", "group"),
    ("group=tags&count=1", "group"),
    ("group=status,status", "group"),
    ("group=title,status,votes,due,urgent", "group"),
    ("sum=title", "sum"),
    ("avg=due", "avg"),
    ("min=urgent", "min"),
    ("max=owner", "max"),
    ("max=", "count"),
    ("sum=nope", "sum"),
    ("count=1&filter=" + q("votes >"), "filter"),
    ("count=1&filter=" + q("nope = 1"), "filter"),
    ("count=1&q=" + q("***"), "q"),
])
def test_aggregate_names_the_bad_parameter(srv, query, param):
    tasks(srv)
    doc = agg(srv, "tasks", query, status=400)
    assert doc["parameter"] == param, doc


def test_aggregate_of_an_unknown_collection_and_in_openapi(srv):
    agg(srv, "nope", "count=1", status=404)
    define(srv, {"name": "counts", "fields": [{"name": "count", "type": "number"}], "rules": {"list": ""}})
    assert agg(srv, "counts", "group=count")["items"] == []
    doc = agg(srv, "counts", "group=count&count=1", status=400)
    assert doc["parameter"] == "group"
    st, doc, _ = call(srv, "GET", "/openapi.json")
    assert st == 200
    op = doc["paths"]["/api/v1/collections/{name}/records:aggregate"]["get"]
    assert op["operationId"] == "aggregateRecords"


def test_only_fields_marked_search_are_indexed(srv):
    st, doc, _ = call(srv, "POST", "/api/v1/collections", {
        "name": "pages", "fields": [{"name": "title", "type": "text", "search": True},
                                    {"name": "secret", "type": "text"}],
        "rules": {"list": "", "view": "", "create": "", "update": ""}}, headers=as_(srv.root))
    assert st == 201, doc
    assert [f.get("search") for f in doc["fields"] if not f.get("system")] == [True, False]
    rec(srv, "pages", {"title": "visible words", "secret": "hidden words"})
    assert search(srv, "pages", "visible") == ["visible words"]
    assert search(srv, "pages", "hidden") == []
    # search on a field that is not text is refused
    st, doc, _ = call(srv, "POST", "/api/v1/collections", {
        "name": "bad", "fields": [{"name": "n", "type": "number", "search": True}]}, headers=as_(srv.root))
    assert st == 422 and doc["errors"][0]["field"] == "fields[0].search"
    # turning search on indexes what is there, turning it off forgets it
    fields = [f for f in doc_of(srv, "pages")["fields"] if not f.get("system")]
    fields[1]["search"] = True
    patch_coll(srv, "pages", {"fields": fields})
    assert search(srv, "pages", "hidden") == ["visible words"]
    fields[0]["search"] = False
    patch_coll(srv, "pages", {"fields": fields})
    assert search(srv, "pages", "visible") == []
    assert search(srv, "pages", "hidden") == ["visible words"]


def doc_of(srv, name):
    st, doc, _ = call(srv, "GET", "/api/v1/collections/" + name, headers=as_(srv.root))
    assert st == 200
    return doc
