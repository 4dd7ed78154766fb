"""
tests/api/test_cookies.py - browser sessions of the galley binary: a refresh
token traded for a __Host- session cookie (/api/v1/auth/cookie), the CSRF
defence of unsafe methods (Origin and X-CSRF-Token), the list of sessions and
their revocation (/api/v1/auth/sessions); on SQLite and PostgreSQL.
"""
import re
import time

import pytest

from conftest import call, galley

PASSWORD = "correct horse battery staple"
ROOT_PASSWORD = "the root of all good things"
COOKIE = "__Host-galley_session"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
REFRESH_TTL = 30 * 86400


@pytest.fixture
def srv(start_server, args):
    return start_server(*args, binary="galley")


def register(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert st == 201, doc
    return doc


def login(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert st == 200, doc
    return doc


def set_cookies(r):
    return r.msg.get_all("Set-Cookie") or []


def exchange(srv, refresh):
    st, doc, r = call(srv, "POST", "/api/v1/auth/cookie", {"refresh_token": refresh})
    return st, doc, r


class Browser:
    """A cookie session: the cookie value, the CSRF token, the server's own origin."""

    def __init__(self, srv, email):
        self.srv = srv
        self.tokens = login(srv, email)
        st, doc, r = exchange(srv, self.tokens["refresh_token"])
        assert st == 200, doc
        (sc,) = set_cookies(r)
        self.set_cookie = sc
        self.cookie = sc.split(";")[0].split("=", 1)[1]
        self.csrf = doc["csrf_token"]
        self.doc = doc
        self.origin = "http://127.0.0.1:%d" % srv.port

    def call(self, method, path, body=None, csrf=True, origin=True, headers=None):
        h = {"Cookie": "theme=dark; %s=%s; lang=en" % (COOKIE, self.cookie)}
        if csrf:
            h["X-CSRF-Token"] = self.csrf if csrf is True else csrf
        if origin:
            h["Origin"] = self.origin if origin is True else origin
        h.update(headers or {})
        return call(self.srv, method, path, body, headers=h)


def assert_expires_cookie(r):
    (sc,) = set_cookies(r)
    parts = [p.strip() for p in sc.split(";")]
    assert parts[0] == COOKIE + "=", sc
    assert set(parts[1:]) == {"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=0"}, sc


def test_the_exchange_sets_a_host_cookie_and_spends_the_refresh_token(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    parts = [p.strip() for p in b.set_cookie.split(";")]
    name, value = parts[0].split("=", 1)
    assert name == COOKIE and TOKEN_RE.match(value), b.set_cookie
    attrs = parts[1:]
    assert attrs[:4] == ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"], b.set_cookie
    assert len(attrs) == 5 and attrs[4].startswith("Max-Age="), b.set_cookie
    max_age = int(attrs[4][len("Max-Age="):])
    assert REFRESH_TTL - 60 <= max_age <= REFRESH_TTL, max_age
    assert TOKEN_RE.match(b.csrf) and b.csrf != b.cookie
    assert b.doc["user"]["email"] == "ann@example.com" and "password_hash" not in b.doc["user"]
    assert abs(b.doc["expires_in"] - max_age) <= 2

    # the refresh token is spent: presenting it again revokes the session, cookie and all
    st, doc, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": b.tokens["refresh_token"]})
    assert st == 401 and doc["code"] == "invalid-token", doc
    st, doc, r = b.call("GET", "/api/v1/auth/me")
    assert st == 401 and doc["code"] == "invalid-session", doc
    assert_expires_cookie(r)


def test_a_second_exchange_of_the_same_token_revokes_the_session(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, r = exchange(srv, b.tokens["refresh_token"])
    assert st == 401 and doc["code"] == "invalid-token" and not set_cookies(r), doc
    st, doc, _ = b.call("GET", "/api/v1/auth/me")
    assert st == 401 and doc["code"] == "invalid-session", doc
    st, doc, _ = exchange(srv, "A" * 43)
    assert st == 401 and doc["code"] == "invalid-token", doc


def test_the_cookie_alone_authenticates_safe_requests(srv):
    ann = register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, _ = b.call("GET", "/api/v1/auth/me", csrf=False, origin=False)
    assert st == 200 and doc["id"] == ann["id"], doc
    # a page that lost its CSRF token reads it again
    st, doc, r = b.call("GET", "/api/v1/auth/cookie", csrf=False, origin=False)
    assert st == 200 and doc["csrf_token"] == b.csrf, doc
    assert r.getheader("Cache-Control") == "no-store"
    # but not when a bearer token authenticates the request
    st, doc, _ = b.call("GET", "/api/v1/auth/cookie", csrf=False, origin=False,
                        headers={"Authorization": "Bearer " + b.tokens["access_token"]})
    assert st == 400 and doc["code"] == "no-cookie", doc
    # no cookie, a cookie of another name, a malformed one
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers={"Cookie": "galley_session=" + b.cookie})
    assert st == 401 and doc["code"] == "unauthenticated", doc
    st, doc, r = call(srv, "GET", "/api/v1/auth/me", headers={"Cookie": COOKIE + "=x;y"})
    assert st == 401 and doc["code"] == "invalid-session", doc
    assert_expires_cookie(r)


def test_unsafe_methods_need_the_csrf_token_and_a_trusted_origin(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    body = {"current_password": PASSWORD, "new_password": "another long passphrase here"}
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, csrf=False)
    assert st == 403 and doc["code"] == "csrf", doc
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, csrf="B" * 43)
    assert st == 403 and doc["code"] == "csrf", doc
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, origin="https://evil.example")
    assert st == 403 and doc["code"] == "csrf", doc
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, origin="null")
    assert st == 403 and doc["code"] == "csrf", doc
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, origin=False,
                        headers={"Referer": "https://evil.example/page?x=1"})
    assert st == 403 and doc["code"] == "csrf", doc
    # the server's own origin, then no Origin but the own Referer, then neither: the token decides
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body)
    assert st == 204, doc
    body = {"current_password": "another long passphrase here", "new_password": PASSWORD}
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, origin=False,
                        headers={"Referer": b.origin + "/settings"})
    assert st == 204, doc
    body = {"current_password": PASSWORD, "new_password": "another long passphrase here"}
    st, doc, _ = b.call("POST", "/api/v1/auth/password", body, origin=False)
    assert st == 204, doc


@pytest.mark.parametrize("cors, trusted", [
    ("https://app.example,https://admin.example", True),
    ("*", False),
])
def test_configured_cors_origins_are_trusted_but_not_the_wildcard(start_server, args, cors, trusted):
    srv = start_server(*args, "--cors-origins", cors, binary="galley")
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, _ = b.call("DELETE", "/api/v1/auth/sessions/nosuchsession", origin="https://admin.example")
    assert (st, doc["code"]) == ((404, "not-found") if trusted else (403, "csrf")), doc
    st, doc, _ = b.call("DELETE", "/api/v1/auth/sessions/nosuchsession", origin="https://other.example")
    assert st == 403 and doc["code"] == "csrf", doc


def test_a_stale_cookie_does_not_block_a_new_login(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, _, _ = b.call("DELETE", "/api/v1/auth/cookie")
    assert st == 204
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD},
                      headers={"Cookie": "%s=%s" % (COOKIE, b.cookie)})
    assert st == 200, doc


def test_sessions_are_listed_and_revoked(srv):
    register(srv, "ann@example.com")
    bob = register(srv, "bob@example.com")
    b = Browser(srv, "ann@example.com")
    other = login(srv, "ann@example.com")
    bobs = login(srv, "bob@example.com")
    st, doc, r = b.call("GET", "/api/v1/auth/sessions")
    assert st == 200, doc
    items = doc["items"]
    assert len(items) == 2, items
    assert [s["current"] for s in items] == [False, True], items  # newest first
    assert set(items[0]) == {"id", "created", "expires", "ip", "user_agent", "current"}
    assert items[0]["ip"] == "127.0.0.1" and items[0]["created"] >= items[1]["created"]
    other_sid = items[0]["id"]

    # someone else's session is not found, and stays alive
    st, doc, _ = call(srv, "GET", "/api/v1/auth/sessions", headers={"Authorization": "Bearer " + bobs["access_token"]})
    assert st == 200 and len(doc["items"]) == 1 and doc["items"][0]["current"], doc
    st, doc, _ = b.call("DELETE", "/api/v1/auth/sessions/" + doc["items"][0]["id"])
    assert st == 404, doc
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + bobs["access_token"]})
    assert st == 200 and doc["id"] == bob["id"]

    # revoking the other session ends its access token at once
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + other["access_token"]})
    assert st == 200
    st, doc, _ = b.call("DELETE", "/api/v1/auth/sessions/" + other_sid)
    assert st == 204, doc
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + other["access_token"]})
    assert st == 401, doc
    st, doc, _ = b.call("DELETE", "/api/v1/auth/sessions/" + other_sid)
    assert st == 204, doc
    st, doc, _ = b.call("GET", "/api/v1/auth/sessions")
    assert [s["current"] for s in doc["items"]] == [True], doc

    # without a user: 401; with an API key: 403
    st, doc, _ = call(srv, "GET", "/api/v1/auth/sessions")
    assert st == 401, doc
    st, key, _ = call(srv, "POST", "/api/v1/auth/keys", {"name": "ci", "scopes": ["*"]},
                      headers={"Authorization": "Bearer " + bobs["access_token"]})
    assert st == 201, key
    st, doc, _ = call(srv, "GET", "/api/v1/auth/sessions", headers={"X-API-Key": key["key"]})
    assert st == 403 and doc["code"] == "session-required", doc


def test_revoking_the_own_session_expires_the_cookie(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, _ = b.call("GET", "/api/v1/auth/sessions")
    (me,) = doc["items"]
    st, doc, r = b.call("DELETE", "/api/v1/auth/sessions/" + me["id"])
    assert st == 204, doc
    assert_expires_cookie(r)
    st, doc, r = b.call("GET", "/api/v1/auth/me")
    assert st == 401 and doc["code"] == "invalid-session", doc
    assert_expires_cookie(r)


def test_logout_expires_the_cookie_and_ends_the_session(srv):
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, _ = b.call("DELETE", "/api/v1/auth/cookie", csrf=False)
    assert st == 403 and doc["code"] == "csrf", doc
    st, doc, r = b.call("DELETE", "/api/v1/auth/cookie")
    assert st == 204, doc
    assert_expires_cookie(r)
    st, doc, r = b.call("GET", "/api/v1/auth/me", csrf=False, origin=False)
    assert st == 401 and doc["code"] == "invalid-session", doc
    assert_expires_cookie(r)
    # the session's access token ended with it
    st, doc, _ = call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + b.tokens["access_token"]})
    assert st == 401, doc


def test_a_disabled_user_cookie_stops_working(srv, args):
    out = galley("admin", "create", "root@example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    ann = register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "root@example.com", "password": ROOT_PASSWORD})
    assert st == 200, doc
    st, doc, _ = call(srv, "PATCH", "/api/v1/users/" + ann["id"], {"disabled": True},
                      headers={"Authorization": "Bearer " + doc["access_token"]})
    assert st == 200, doc
    st, doc, _ = b.call("GET", "/api/v1/auth/me")
    assert st == 401 and doc["code"] == "invalid-session", doc


def test_secrets_never_reach_the_log(start_server, args):
    srv = start_server(*args, "--log-level", "debug", binary="galley")
    register(srv, "ann@example.com")
    b = Browser(srv, "ann@example.com")
    b.call("GET", "/api/v1/auth/me")
    b.call("POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "y"}, csrf="C" * 43)
    b.call("DELETE", "/api/v1/auth/cookie")
    time.sleep(0.2)
    log = srv.stderr_text()
    for secret in (b.cookie, b.csrf, b.tokens["refresh_token"]):
        assert secret not in log
