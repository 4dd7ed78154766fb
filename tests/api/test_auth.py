"""
tests/api/test_auth.py - accounts, sessions and tokens (/api/v1/auth) of the
galley binary, on SQLite and on a real PostgreSQL; access tokens are checked
against PyJWT (Debian's python3-jwt), an independent implementation.
"""
import base64
import json
import os
import sqlite3
import statistics
import threading
import time

import jwt  # python3-jwt
import pytest

from conftest import SANITIZED, SLOW, call

PASSWORD = "correct horse battery staple"
KEY_HEX_LEN = 64


@pytest.fixture
def data_dir(tmp_path):
    return str(tmp_path / "data")


@pytest.fixture
def auth_args(backend, request, data_dir):
    """A fresh database of the backend, and a data directory for the token key."""
    args = ["--data", data_dir]
    if backend == "postgres":
        args += ["--db", request.getfixturevalue("pg").fresh_db()]
    return args


@pytest.fixture
def srv(start_server, auth_args):
    return start_server(*auth_args, binary="galley")


def key_of(data_dir):
    with open(os.path.join(data_dir, "jwt.key"), "rb") as f:
        return f.read().strip()


def register(srv, email="ann@example.com", password=PASSWORD, name="Ann"):
    st, doc, r = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": password, "name": name})
    assert st == 201, doc
    return doc


def login(srv, email="ann@example.com", password=PASSWORD):
    st, doc, r = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert st == 200, doc
    return doc


def me(srv, token):
    return call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})


def authed(srv, method, path, token, body=None):
    st, doc, _ = call(srv, method, path, body, headers={"Authorization": "Bearer " + token})
    return st, doc


# ---- register --------------------------------------------------------------


def test_register_answers_201_with_the_user(srv):
    st, doc, r = call(srv, "POST", "/api/v1/auth/register", {"email": "Ann@Example.COM", "password": PASSWORD, "name": "Ann"})
    assert st == 201, doc
    assert set(doc) == {"id", "email", "name", "role", "email_verified", "created", "updated"}
    assert doc["email"] == "ann@example.com"
    assert (doc["name"], doc["role"], doc["email_verified"]) == ("Ann", "user", False)
    assert len(doc["id"]) == 15 and doc["id"].isalnum()
    assert r.getheader("Location") == "/api/v1/users/" + doc["id"]
    assert "password" not in json.dumps(doc)


def test_register_twice_is_a_clear_409(srv):
    register(srv)
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": "ANN@example.com", "password": PASSWORD})
    assert st == 409, doc
    assert doc["code"] == "email-taken"
    assert doc["errors"] == [{"field": "email", "code": "taken", "message": "is already registered"}]


@pytest.mark.parametrize(
    "password,code",
    [
        ("short pass", "too_short"),
        ("x" * 129, "too_long"),
        ("ann@example.com", "same_as_email"),
        ("ANN@example.com", "same_as_email"),
        ("winniethepooh", "too_common"),
        ("WinnieThePooh", "too_common"),
    ],
)
def test_register_enforces_the_password_policy(srv, password, code):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": "ann@example.com", "password": password})
    assert st == 422, doc
    assert [(e["field"], e["code"]) for e in doc["errors"]] == [("password", code)]
    assert password not in json.dumps(doc)


def test_register_accepts_any_characters_and_counts_code_points(srv):
    # 12 code points, 36 bytes: long enough
    register(srv, email="u1@example.com", password="\u00e9\u20ac\U0001F600" * 4)
    register(srv, email="u2@example.com", password="x" * 128)


def test_register_validates_the_body(srv):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": "not an email", "password": 5})
    assert st == 422
    assert sorted(e["field"] for e in doc["errors"]) == ["email", "password"]


# ---- login -----------------------------------------------------------------


def test_login_answers_tokens_and_the_user(srv, data_dir):
    user = register(srv)
    doc = login(srv, email="ANN@example.com")
    assert set(doc) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert doc["token_type"] == "Bearer" and doc["expires_in"] == 900
    assert doc["user"] == user
    assert len(base64.urlsafe_b64decode(doc["refresh_token"] + "=")) == 32
    # PyJWT, an independent implementation, accepts our token with our key
    header = jwt.get_unverified_header(doc["access_token"])
    assert header["alg"] == "HS256" and header["typ"] == "JWT" and len(header["kid"]) == 16
    claims = jwt.decode(doc["access_token"], key_of(data_dir), algorithms=["HS256"], audience="galley", issuer="galley")
    assert claims["sub"] == user["id"] and claims["role"] == "user"
    assert claims["exp"] - claims["iat"] == 900 and abs(claims["iat"] - time.time()) < 60
    assert {"jti", "sid"} <= set(claims)
    # and refuses it with another key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(doc["access_token"], b"k" * 64, algorithms=["HS256"], audience="galley")


def test_login_failures_are_generic(srv):
    register(srv)
    st1, wrong, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": "not the password!"})
    st2, unknown, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "nobody@example.com", "password": "not the password!"})
    assert st1 == st2 == 401
    for d in (wrong, unknown):
        d.pop("request_id")
    assert wrong == unknown
    assert wrong["code"] == "invalid-credentials"


def test_unknown_users_take_as_long_as_known_ones(start_server, auth_args):
    # no throttling delays here: this is about the hash alone
    srv = start_server(*auth_args, "--login-delay-after", "1000", "--login-lock-after", "10000", binary="galley")
    register(srv)

    def timed(email):
        t0 = time.monotonic()
        st, _, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": "not the password!"})
        assert st == 401
        return time.monotonic() - t0

    known, unknown = [], []
    for _ in range(7):  # interleaved, so that drift in the machine's speed hits both
        known.append(timed("ann@example.com"))
        unknown.append(timed("nobody@example.com"))
    known, unknown = statistics.median(known), statistics.median(unknown)
    # both pay one argon2id verification (tens of ms); a skipped hash would be ~100x faster
    assert 0.5 < unknown / known < 2.0, (known, unknown)


# ---- tokens ----------------------------------------------------------------


def test_me_needs_a_valid_access_token(srv):
    user = register(srv)
    doc = login(srv)
    st, got, _ = me(srv, doc["access_token"])
    assert (st, got) == (200, user)
    st, got, _ = call(srv, "GET", "/api/v1/auth/me")
    assert st == 401 and got["code"] == "unauthenticated"
    st, got, r = me(srv, "not-a-token")
    assert st == 401 and got["code"] == "invalid-token"
    assert r.getheader("WWW-Authenticate").startswith("Bearer")


def forged(data_dir, claims, key=None, alg="HS256", headers=None):
    key = key if key is not None else key_of(data_dir)
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_tokens_made_elsewhere_are_judged_strictly(srv, data_dir):
    register(srv)
    good = login(srv)["access_token"]
    base = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    # PyJWT's token with our key, our kid and a live session: accepted
    ok = forged(data_dir, base, headers={"kid": kid})
    assert me(srv, ok)[0] == 200
    now = int(time.time())
    bad = {
        "another key": forged(data_dir, base, key=b"x" * 64, headers={"kid": kid}),
        "unknown kid": forged(data_dir, base, headers={"kid": "0123456789abcdef"}),
        "no kid": forged(data_dir, base),
        "HS384": forged(data_dir, base, alg="HS384", headers={"kid": kid}),
        "expired": forged(data_dir, dict(base, exp=now - 120, iat=now - 1000), headers={"kid": kid}),
        "not yet valid": forged(data_dir, dict(base, nbf=now + 3600), headers={"kid": kid}),
        "wrong audience": forged(data_dir, dict(base, aud="other"), headers={"kid": kid}),
        "wrong issuer": forged(data_dir, dict(base, iss="evil"), headers={"kid": kid}),
        "jku header": forged(data_dir, base, headers={"kid": kid, "jku": "https://evil.example/keys"}),
        "no session": forged(data_dir, {k: v for k, v in base.items() if k != "sid"}, headers={"kid": kid}),
        "unknown session": forged(data_dir, dict(base, sid="nosuchsession00"), headers={"kid": kid}),
        "stripped signature": good.rsplit(".", 1)[0] + ".",
        "altered payload": good.split(".")[0] + "." + base64.urlsafe_b64encode(json.dumps(dict(base, role="superuser")).encode()).decode().rstrip("=") + "." + good.split(".")[2],
    }
    for spelling in ("none", "None", "NONE", "nOnE"):
        h = base64.urlsafe_b64encode(json.dumps({"alg": spelling, "typ": "JWT", "kid": kid}).encode()).decode().rstrip("=")
        p = base64.urlsafe_b64encode(json.dumps(base).encode()).decode().rstrip("=")
        bad["alg " + spelling] = h + "." + p + "."
    for what, token in bad.items():
        st, doc, _ = me(srv, token)
        assert st == 401, (what, doc)
        assert doc["code"] in ("invalid-token", "token-expired"), (what, doc)
    assert me(srv, bad["expired"])[1]["code"] == "token-expired"


def test_refresh_rotates_and_a_reused_token_ends_the_session(srv):
    register(srv)
    first = login(srv)
    st, second, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert st == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert me(srv, second["access_token"])[0] == 200
    # the first refresh token again: stolen or replayed -> the whole session ends
    st, doc, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert st == 401, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert st == 401, doc
    assert me(srv, second["access_token"])[0] == 401
    assert me(srv, first["access_token"])[0] == 401
    # another session of the same user is untouched
    other = login(srv)
    assert me(srv, other["access_token"])[0] == 200


def test_refresh_refuses_tokens_never_issued(srv):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": "A" * 43})
    assert st == 401 and doc["code"] == "invalid-token"


def test_logout_revokes_access_and_refresh_tokens(srv):
    register(srv)
    doc = login(srv)
    st, _ = authed(srv, "POST", "/api/v1/auth/logout", doc["access_token"])
    assert st == 204
    assert me(srv, doc["access_token"])[0] == 401
    st, got, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": doc["refresh_token"]})
    assert st == 401, got


def test_password_change(srv):
    register(srv)
    a = login(srv)
    b = login(srv)
    st, doc = authed(srv, "POST", "/api/v1/auth/password", a["access_token"], {"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase"})
    assert st == 422 and doc["errors"][0]["field"] == "current_password"
    st, doc = authed(srv, "POST", "/api/v1/auth/password", a["access_token"], {"current_password": PASSWORD, "new_password": "short"})
    assert st == 422 and doc["errors"][0] == {"field": "new_password", "code": "too_short", "message": "must be at least 12 characters"}
    st, doc = authed(srv, "POST", "/api/v1/auth/password", a["access_token"], {"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert st == 204, doc
    assert me(srv, a["access_token"])[0] == 200  # this session goes on
    assert me(srv, b["access_token"])[0] == 401  # the others end
    assert call(srv, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD})[0] == 401
    login(srv, password="a brand new passphrase")


# ---- audit log and secrets -------------------------------------------------


def test_audit_log_records_events_without_secrets(start_server, tmp_path):
    data = str(tmp_path / "data")
    srv = start_server("--data", data, binary="galley")
    user = register(srv)
    call(srv, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": "not the password!"})
    doc = login(srv)
    call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": doc["refresh_token"]})
    call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": doc["refresh_token"]})
    doc2 = login(srv)
    authed(srv, "POST", "/api/v1/auth/logout", doc2["access_token"])
    srv.stop()
    con = sqlite3.connect(os.path.join(data, "data.db"))
    rows = con.execute("SELECT event, user_id, ip, request_id FROM auth_audit ORDER BY id").fetchall()
    dump = "\n".join(" ".join(map(str, r)) for r in con.execute("SELECT * FROM auth_audit"))
    con.close()
    assert [r[0] for r in rows] == ["register", "login_failure", "login_success", "refresh_reuse", "login_success", "logout"]
    assert rows[1][1] == user["id"] and rows[2][1] == user["id"]
    assert all(r[2] == "127.0.0.1" and r[3] for r in rows)
    log = srv.stderr_text()
    for secret in (PASSWORD, "not the password!", doc["access_token"], doc["refresh_token"], doc2["access_token"], key_of(data).decode()):
        assert secret not in dump and secret not in log


def test_login_storm_is_bounded_and_the_loop_stays_responsive(start_server, tmp_path):
    srv = start_server("--data", str(tmp_path / "data"), "--hash-concurrency", "2", "--access-log", "off", binary="galley")
    register(srv)
    n = 8 if SANITIZED else 24
    results, lat = [], []
    done = threading.Event()

    def storm():
        results.append(call(srv, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD}, timeout=120)[0])

    def probe():
        while not done.is_set():
            t0 = time.monotonic()
            assert call(srv, "GET", "/health/live")[0] == 200
            lat.append(time.monotonic() - t0)
            time.sleep(0.01)

    p = threading.Thread(target=probe)
    p.start()
    threads = [threading.Thread(target=storm) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    p.join()
    assert results.count(200) == n, results
    lat.sort()
    assert lat and lat[int(len(lat) * 0.99) - 1] < 0.05 * SLOW, lat[-5:]


def test_auth_routes_are_documented(srv):
    st, doc, _ = call(srv, "GET", "/openapi.json")
    paths = doc["paths"]
    for p in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/me", "/api/v1/auth/password"):
        assert p in paths, p
    assert paths["/api/v1/auth/register"]["post"]["operationId"] == "register"


def test_whoami_example_uses_the_same_accounts(start_server, tmp_path):
    srv = start_server("--data", str(tmp_path / "data"), binary="example-whoami")
    user = register(srv)
    st, body, _ = call(srv, "GET", "/whoami")
    assert st == 401 and body["code"] == "unauthenticated"
    st, body = authed(srv, "GET", "/whoami", login(srv)["access_token"])
    assert (st, body) == (200, user["id"].encode())


# ---- brute force -----------------------------------------------------------


@pytest.fixture
def guarded(start_server, auth_args):
    return start_server(*auth_args, "--login-delay-after", "2", "--login-lock-after", "4", "--login-lock-time", "3s", binary="galley")


def attempt(srv, email, password="not the password!"):
    t0 = time.monotonic()
    st, doc, r = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    return st, doc, r, time.monotonic() - t0


def test_failed_logins_are_delayed_then_locked_then_unlocked_by_time(guarded):
    register(guarded)
    register(guarded, email="bob@example.com")
    times = [attempt(guarded, "ann@example.com")[3] for _ in range(2)]
    st, _, _, slow = attempt(guarded, "ann@example.com")  # the third: delayed 100 ms
    assert st == 401 and slow >= 0.1, (times, slow)
    attempt(guarded, "ann@example.com")  # the fourth failure locks
    st, doc, r, _ = attempt(guarded, "ann@example.com", PASSWORD)  # even the right password
    assert st == 429, doc
    assert doc["code"] == "too-many-attempts"
    assert 1 <= int(r.getheader("Retry-After")) <= 3
    # another account from the same IP is not locked
    assert attempt(guarded, "bob@example.com", PASSWORD)[0] == 200
    time.sleep(3.2)
    assert attempt(guarded, "ann@example.com", PASSWORD)[0] == 200


def test_unknown_emails_lock_the_same_way(guarded):
    codes = [attempt(guarded, "nobody@example.com")[0] for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def test_a_success_clears_the_count(guarded):
    register(guarded)
    for _ in range(3):
        attempt(guarded, "ann@example.com")
    assert attempt(guarded, "ann@example.com", PASSWORD)[0] == 200
    st, _, _, t = attempt(guarded, "ann@example.com")
    assert st == 401 and t < 0.1 * SLOW + 0.09  # no delay: the count started over


def test_two_nodes_share_accounts_and_revocations_within_session_cache(start_server, pg, tmp_path):
    """Two galley nodes on one PostgreSQL, with the same token key: a logout on one ends
    the session on the other within session-cache (here 1 s)."""
    url = pg.fresh_db()
    secret = ["--jwt-secret", "k" * 40, "--session-cache", "1s"]
    a = start_server("--db", url, "--data", str(tmp_path / "a"), *secret, binary="galley")
    b = start_server("--db", url, "--data", str(tmp_path / "b"), *secret, binary="galley")
    register(a)
    doc = login(b)
    assert me(a, doc["access_token"])[0] == 200
    assert me(b, doc["access_token"])[0] == 200
    st, _ = authed(a, "POST", "/api/v1/auth/logout", doc["access_token"])
    assert st == 204
    assert me(a, doc["access_token"])[0] == 401  # at once on the node that revoked
    time.sleep(1.2)
    assert me(b, doc["access_token"])[0] == 401  # within session-cache on the other
