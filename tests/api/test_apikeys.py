"""
tests/api/test_apikeys.py - API keys (/api/v1/auth/keys) of the galley binary:
made once, listed without the secret, revoked; used as "Authorization: Bearer"
or "X-API-Key"; scopes that restrict the role; on SQLite and PostgreSQL.
"""
import os
import re
import sqlite3
import time
from urllib.parse import urlparse

import pytest

from conftest import call, galley

PASSWORD = "correct horse battery staple"
ROOT_PASSWORD = "the root of all good things"
KEY_RE = re.compile(r"^gk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$")






@pytest.fixture
def srv(start_server, args):
    out = galley("admin", "create", "root@example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    return start_server(*args, binary="galley")


def token(srv, email, password=PASSWORD):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert st == 200, doc
    return doc["access_token"]


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def register(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert st == 201, doc
    return doc


def make_key(srv, tok, name="ci", scopes=("*",), **extra):
    body = {"name": name, "scopes": list(scopes)}
    body.update(extra)
    st, doc, r = call(srv, "POST", "/api/v1/auth/keys", body, headers=bearer(tok))
    assert st == 201, doc
    return doc, r


def keys(srv, tok):
    st, doc, _ = call(srv, "GET", "/api/v1/auth/keys", headers=bearer(tok))
    assert st == 200, doc
    return doc["items"]


def table_dump(backend, args, request, table):
    """Every row of table as text, read beside the server."""
    if backend == "sqlite":
        con = sqlite3.connect(os.path.join(args[1], "data.db"))
        try:
            return "\n".join(" ".join(map(str, r)) for r in con.execute("SELECT * FROM " + table))
        finally:
            con.close()
    dbname = urlparse(args[args.index("--db") + 1]).path.lstrip("/")
    return request.getfixturevalue("pg").psql("SELECT * FROM " + table, dbname=dbname)


def test_a_key_is_shown_once_and_works_as_bearer_and_x_api_key(srv):
    ann = register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    doc, r = make_key(srv, tok, name="deploy")
    key = doc["key"]
    assert KEY_RE.match(key), key
    assert doc["prefix"] == key[:11] and doc["name"] == "deploy" and doc["scopes"] == ["*"]
    assert doc["last_used"] is None and doc["expires"] is None and doc["revoked"] is False
    assert r.getheader("Cache-Control") == "no-store"
    listed = keys(srv, tok)
    assert [k["id"] for k in listed] == [doc["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    assert key[11:] not in repr(listed)
    for headers in (bearer(key), {"X-API-Key": key}):
        st, me, _ = call(srv, "GET", "/api/v1/auth/me", headers=headers)
        assert st == 200 and me["id"] == ann["id"] and me["email"] == "ann@example.com", me
    # two keys: newest first, distinct secrets and prefixes
    doc2, _ = make_key(srv, tok, name="second", scopes=[])
    assert doc2["key"] != key and doc2["prefix"] != doc["prefix"] and doc2["scopes"] == []
    assert [k["name"] for k in keys(srv, tok)] == ["second", "deploy"]
    # a key with no scopes still says who it is
    assert call(srv, "GET", "/api/v1/auth/me", headers={"X-API-Key": doc2["key"]})[0] == 200


def test_wrong_or_garbled_keys_answer_401(srv):
    register(srv, "ann@example.com")
    key = make_key(srv, token(srv, "ann@example.com"))[0]["key"]
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (flipped, key + "x", key[:-1], "gk_", "gk_short", "gk_" + "\u00e9" * 52, "nope"):
        for headers in (bearer(bad), {"X-API-Key": bad}):
            if bad == "nope" and "Authorization" in headers:
                continue  # not a key's shape: an access token, refused as such
            st, doc, r = call(srv, "GET", "/api/v1/auth/me", headers=headers)
            assert st == 401 and doc["code"] == "invalid-api-key", (bad, doc)
            assert r.getheader("WWW-Authenticate", "").startswith("Bearer")
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers=bearer("nope"))
    assert st == 401 and doc["code"] == "invalid-token"


def test_create_validates_the_body(srv):
    register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    bad = [
        {"scopes": ["*"]},
        {"name": "x"},
        {"name": "", "scopes": ["*"]},
        {"name": "x", "scopes": ["Users:read"]},
        {"name": "x", "scopes": ["users"]},
        {"name": "x", "scopes": "*"},
        {"name": "x", "scopes": ["a:b"] * 33},
        {"name": "x", "scopes": ["*"], "expires_in": 0},
        {"name": "x", "scopes": ["*"], "expires_in": 1.5},
        {"name": "x", "scopes": ["*"], "extra": 1},
    ]
    for body in bad:
        st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", body, headers=bearer(tok))
        assert st == 422, (body, doc)
    assert call(srv, "POST", "/api/v1/auth/keys", {"name": "x", "scopes": ["*"]})[0] == 401
    assert keys(srv, tok) == []


def test_scopes_are_a_subset_of_the_role_and_restrict_it(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    ann = register(srv, "ann@example.com")
    bob = register(srv, "bob@example.com")
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + ann["id"], {"role": "admin"}, headers=bearer(root))
    assert st == 200, doc
    admin = token(srv, "ann@example.com")
    # a role cannot hand out what it does not hold
    st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "x", "scopes": ["billing:write"]}, headers=bearer(admin))
    assert st == 403 and doc["code"] == "forbidden", doc
    user = token(srv, "bob@example.com")
    st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "x", "scopes": ["users:read"]}, headers=bearer(user))
    assert st == 403, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "x", "scopes": ["*", "users:read"]}, headers=bearer(admin))
    assert st == 422 and doc["errors"][0]["field"] == "scopes", doc  # "*" stands alone
    ro = make_key(srv, admin, scopes=["users:read", "users:read"])[0]
    assert ro["scopes"] == ["users:read"]
    st, doc, _ = call(srv, "GET", "/api/v1/users", headers={"X-API-Key": ro["key"]})
    assert st == 200 and doc["total_items"] == 3, doc
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"name": "Bob"}, headers={"X-API-Key": ro["key"]})
    assert st == 403 and doc["code"] == "forbidden", doc
    assert call(srv, "GET", "/api/v1/audit", headers=bearer(ro["key"]))[0] == 403
    # "*": everything the role grants, and no more
    full = make_key(srv, admin, scopes=["*"])[0]["key"]
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"name": "Bob"}, headers=bearer(full))
    assert st == 200 and doc["name"] == "Bob", doc
    root_id = call(srv, "GET", "/api/v1/auth/me", headers=bearer(root))[1]["id"]
    assert call(srv, "DELETE", "/api/v1/users/" + root_id, headers=bearer(full))[0] == 403
    # the role is read at each use: taking admin away takes it from the key
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + ann["id"], {"role": "user"}, headers=bearer(root))
    assert st == 200, doc
    assert call(srv, "GET", "/api/v1/users", headers=bearer(full))[0] == 403
    assert call(srv, "GET", "/api/v1/users", headers=bearer(ro["key"]))[0] == 403


def test_a_key_cannot_make_keys_or_end_a_session(srv):
    register(srv, "ann@example.com")
    key = make_key(srv, token(srv, "ann@example.com"))[0]["key"]
    for headers in (bearer(key), {"X-API-Key": key}):
        st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "y", "scopes": ["*"]}, headers=headers)
        assert st == 403 and doc["code"] == "session-required", doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/logout", headers=bearer(key))
    assert st == 400 and doc["code"] == "not-a-session", doc
    # the key lists its user's keys and still works
    st, doc, _ = call(srv, "GET", "/api/v1/auth/keys", headers={"X-API-Key": key})
    assert st == 200 and len(doc["items"]) == 1
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(key))[0] == 200


def test_revoke_stops_a_key_at_once_and_only_the_owner_revokes(srv):
    register(srv, "ann@example.com")
    register(srv, "bob@example.com")
    ann, bob = token(srv, "ann@example.com"), token(srv, "bob@example.com")
    doc = make_key(srv, ann)[0]
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"]))[0] == 200
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + doc["id"], headers=bearer(bob))[0] == 404
    assert call(srv, "DELETE", "/api/v1/auth/keys/nosuchkey", headers=bearer(ann))[0] == 404
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + doc["id"])[0] == 401
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"]))[0] == 200
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + doc["id"], headers=bearer(ann))[0] == 204
    st, err, _ = call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"]))
    assert st == 401 and err["code"] == "invalid-api-key"
    assert call(srv, "GET", "/api/v1/auth/me", headers={"X-API-Key": doc["key"]})[0] == 401
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + doc["id"], headers=bearer(ann))[0] == 204  # idempotent
    listed = keys(srv, ann)
    assert len(listed) == 1 and listed[0]["revoked"] is True
    assert keys(srv, bob) == []


def test_an_expired_key_answers_401(srv):
    register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    doc = make_key(srv, tok, expires_in=1)[0]
    assert doc["expires"] is not None and doc["expires"] > doc["created"][:19]
    later = make_key(srv, tok, expires_in=3600)[0]
    time.sleep(2.1)
    st, err, _ = call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"]))
    assert st == 401 and err["code"] == "invalid-api-key"
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(later["key"]))[0] == 200


def test_a_disabled_or_deleted_users_key_answers_401(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    bob = register(srv, "bob@example.com")
    key = make_key(srv, token(srv, "bob@example.com"))[0]["key"]
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(key))[0] == 200
    call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"disabled": True}, headers=bearer(root))
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(key))[0] == 401
    call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"disabled": False}, headers=bearer(root))
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(key))[0] == 200
    assert call(srv, "DELETE", "/api/v1/users/" + bob["id"], headers=bearer(root))[0] == 204
    assert call(srv, "GET", "/api/v1/auth/me", headers=bearer(key))[0] == 401


def test_last_used_is_set_by_a_use(srv):
    register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    doc = make_key(srv, tok)[0]
    unused = make_key(srv, tok, name="unused")[0]
    assert keys(srv, tok)[1]["last_used"] is None
    before = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    for _ in range(3):
        assert call(srv, "GET", "/api/v1/auth/me", headers={"X-API-Key": doc["key"]})[0] == 200
    by_id = {k["id"]: k for k in keys(srv, tok)}
    used = by_id[doc["id"]]["last_used"]
    assert used is not None and used[:19] >= before, used
    assert by_id[unused["id"]]["last_used"] is None


def test_audit_records_key_events_and_no_secret_is_stored_or_logged(srv, backend, args, request):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    ann = register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    doc = make_key(srv, tok, name="audited")[0]
    call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"]))
    call(srv, "GET", "/api/v1/auth/me", headers=bearer(doc["key"][:-2] + "AA"))
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + doc["id"], headers=bearer(tok))[0] == 204
    call(srv, "GET", "/api/v1/auth/me", headers={"X-API-Key": doc["key"]})
    st, audit, _ = call(srv, "GET", "/api/v1/audit?user_id=" + ann["id"], headers=bearer(root))
    assert st == 200, audit
    events = [(e["event"], e["detail"]) for e in audit["items"]]
    assert events[:2] == [("key_revoke", doc["prefix"]), ("key_create", doc["prefix"])], events
    secret = doc["key"][12:]
    assert secret not in repr(audit)
    dump = table_dump(backend, args, request, "auth_audit") + table_dump(backend, args, request, "auth_api_keys")
    assert doc["prefix"] in dump and secret not in dump and doc["key"] not in dump
    srv.stop()
    assert secret not in srv.stderr_text()


def test_openapi_documents_the_key_routes(srv):
    st, doc, _ = call(srv, "GET", "/openapi.json")
    assert st == 200
    paths = doc["paths"]
    assert paths["/api/v1/auth/keys"]["post"]["operationId"] == "createApiKey"
    assert paths["/api/v1/auth/keys"]["get"]["operationId"] == "listApiKeys"
    assert "/api/v1/auth/keys/{id}" in paths and "delete" in paths["/api/v1/auth/keys/{id}"]


def test_a_user_holds_at_most_100_live_keys(srv):
    register(srv, "ann@example.com")
    tok = token(srv, "ann@example.com")
    first = make_key(srv, tok, name="k0")[0]
    for i in range(1, 100):
        make_key(srv, tok, name="k%d" % i)
    st, doc, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "k100", "scopes": ["*"]}, headers=bearer(tok))
    assert st == 409 and doc["code"] == "too-many-keys", doc
    assert call(srv, "DELETE", "/api/v1/auth/keys/" + first["id"], headers=bearer(tok))[0] == 204
    make_key(srv, tok, name="k100")
    assert len(keys(srv, tok)) == 101
