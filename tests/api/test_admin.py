"""
tests/api/test_admin.py - roles and permissions, user administration
(/api/v1/users), the audit log (/api/v1/audit) and `galley admin create`,
on SQLite and PostgreSQL.
"""

import pytest

from conftest import call, galley

PASSWORD = "correct horse battery staple"
ROOT_PASSWORD = "the root of all good things"






@pytest.fixture
def srv(start_server, args):
    out = galley("admin", "create", "Root@Example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert "superuser root@example.com created" in out.stdout
    return start_server(*args, binary="galley")


def token(srv, email, password):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert st == 200, doc
    return doc["access_token"]


def as_(tok):
    return {"Authorization": "Bearer " + tok}


def register(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert st == 201, doc
    return doc


def test_admin_create_refuses_bad_input(args):
    assert galley("admin", "create", "not-an-email", *args, stdin=ROOT_PASSWORD + "\n").returncode == 2
    out = galley("admin", "create", "a@example.com", *args, stdin="short\n")
    assert out.returncode == 1 and "at least 12 characters" in out.stderr
    assert "short" not in out.stdout
    out = galley("admin", "create", "a@example.com", *args, stdin="")
    assert out.returncode == 1 and "no password" in out.stderr
    assert galley("admin", "create", "a@example.com", *args, stdin=ROOT_PASSWORD + "\n").returncode == 0
    out = galley("admin", "create", "A@example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 1 and "exists" in out.stderr


def test_users_list_search_and_paging(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    for i in range(5):
        register(srv, "user%d@example.com" % i)
    st, doc, _ = call(srv, "GET", "/api/v1/users?per_page=2&page=2", headers=as_(root))
    assert st == 200, doc
    assert (doc["page"], doc["per_page"], doc["total_items"], doc["total_pages"]) == (2, 2, 6, 3)
    assert len(doc["items"]) == 2 and all("disabled" in u and "password_hash" not in u for u in doc["items"])
    st, doc, _ = call(srv, "GET", "/api/v1/users?q=USER3", headers=as_(root))
    assert [u["email"] for u in doc["items"]] == ["user3@example.com"]
    st, doc, _ = call(srv, "GET", "/api/v1/users?q=%25", headers=as_(root))
    assert doc["total_items"] == 0  # a literal %, not a wildcard
    st, doc, _ = call(srv, "GET", "/api/v1/users?per_page=501", headers=as_(root))
    assert st == 400


def test_permissions_by_role(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    ann = register(srv, "ann@example.com")
    bob = register(srv, "bob@example.com")
    user_tok = token(srv, "ann@example.com", PASSWORD)
    assert call(srv, "GET", "/api/v1/users")[0] == 401
    st, doc, _ = call(srv, "GET", "/api/v1/users", headers=as_(user_tok))
    assert st == 403 and doc["code"] == "forbidden"
    assert call(srv, "GET", "/api/v1/audit", headers=as_(user_tok))[0] == 403
    # the superuser makes ann an admin; the role applies to her existing token at once
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + ann["id"], {"role": "admin"}, headers=as_(root))
    assert st == 200 and doc["role"] == "admin", doc
    assert call(srv, "GET", "/api/v1/users", headers=as_(user_tok))[0] == 200
    # an admin manages users, but not admins and superusers
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"role": "superuser"}, headers=as_(user_tok))
    assert st == 403
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"role": "editor", "name": "Bob"}, headers=as_(user_tok))
    assert st == 200 and (doc["role"], doc["name"]) == ("editor", "Bob")
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"role": "Not A Role"}, headers=as_(user_tok))
    assert st == 422
    root_id = call(srv, "GET", "/api/v1/auth/me", headers=as_(root))[1]["id"]
    assert call(srv, "DELETE", "/api/v1/users/" + root_id, headers=as_(user_tok))[0] == 403


def test_disable_and_delete(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    bob = register(srv, "bob@example.com")
    bob_tok = token(srv, "bob@example.com", PASSWORD)
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"disabled": True}, headers=as_(root))
    assert st == 200 and doc["disabled"] is True
    assert call(srv, "GET", "/api/v1/auth/me", headers=as_(bob_tok))[0] == 401
    assert call(srv, "POST", "/api/v1/auth/login", {"email": "bob@example.com", "password": PASSWORD})[0] == 401
    assert call(srv, "DELETE", "/api/v1/users/" + bob["id"], headers=as_(root))[0] == 204
    assert call(srv, "GET", "/api/v1/users/" + bob["id"], headers=as_(root))[0] == 404
    assert call(srv, "DELETE", "/api/v1/users/" + bob["id"], headers=as_(root))[0] == 404


def test_audit_log_endpoint(srv):
    root = token(srv, "root@example.com", ROOT_PASSWORD)
    bob = register(srv, "bob@example.com")
    call(srv, "PATCH", "/api/v1/users/" + bob["id"], {"role": "editor"}, headers=as_(root))
    call(srv, "DELETE", "/api/v1/users/" + bob["id"], headers=as_(root))
    st, doc, _ = call(srv, "GET", "/api/v1/audit?per_page=3", headers=as_(root))
    assert st == 200, doc
    assert [e["event"] for e in doc["items"]] == ["user_delete", "role_change", "register"]
    assert doc["items"][1]["detail"].startswith("user -> editor")
    st, doc, _ = call(srv, "GET", "/api/v1/audit?event=login_success", headers=as_(root))
    assert doc["total_items"] == 1 and doc["items"][0]["ip"] == "127.0.0.1"
