"""
tests/api/test_oidc.py - login with an OpenID provider (/api/v1/auth/oauth2)
against a real one: the oidc-provider package from npm (tests/oidc), run on
loopback by this module, on SQLite and on PostgreSQL; and access tokens
signed with ES256 and EdDSA, checked with PyJWT against /.well-known/jwks.json.

The browser is played by urllib with a cookie jar: it follows the redirects
from Galley's start route through the provider (whose login is automatic:
the account is the login_hint the test adds) until the provider sends it to
the callback, whose code and state it then gives to Galley.
"""
import base64
import hashlib
import http.cookiejar
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt  # python3-jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import BUILD, SLOW, call

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDER_SRC = os.path.join(HERE, "..", "oidc")
PASSWORD = "correct horse battery staple"
PUBLIC_URL = "http://127.0.0.1"  # the redirect URI's port is free for loopback clients (RFC 8252)
CALLBACK = PUBLIC_URL + "/api/v1/auth/oauth2/%s/callback"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider_dir():
    """The provider's files with its node_modules (npm ci, again only when the lock changes)."""
    d = os.path.join(BUILD, "test-oidc")
    os.makedirs(d, exist_ok=True)
    for name in ("package.json", "package-lock.json", "provider.js"):
        shutil.copyfile(os.path.join(PROVIDER_SRC, name), os.path.join(d, name))
    with open(os.path.join(d, "package-lock.json"), "rb") as f:
        lock = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(d, "npm-ci.stamp")
    if not os.path.isdir(os.path.join(d, "node_modules")) or not os.path.exists(stamp) or open(stamp).read() != lock:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", "--loglevel=error"],
                       cwd=d, check=True, timeout=600)
        with open(stamp, "w") as f:
            f.write(lock)
    return d


class Provider:
    def __init__(self, port, proc):
        self.port = port
        self.proc = proc
        self.issuer = "http://127.0.0.1:%d" % port

    def hook(self, method, path):
        req = urllib.request.Request(self.issuer + "/__test/" + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def rotate(self):
        self.hook("POST", "rotate")

    def tamper(self, mode):
        self.hook("POST", "tamper?mode=" + mode)

    def jwks_fetches(self):
        return self.hook("GET", "stats")["jwks"]


@pytest.fixture(scope="module")
def provider():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed for the OpenID provider (scripts/bootstrap)")
    d = provider_dir()
    port = free_port()
    proc = subprocess.Popen(["node", "provider.js", str(port)], cwd=d, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = ""
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("listening"):
            break
    if not line.startswith("listening"):
        proc.kill()
        pytest.fail("the OpenID provider did not start: %r" % line)
    yield Provider(port, proc)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def srv(start_server, args, provider):
    dead = free_port()  # nothing listens there: a provider that is down
    env = {
        "GALLEY_OIDC_PROVIDERS": "local=%s,down=http://127.0.0.1:%d" % (provider.issuer, dead),
        "GALLEY_OIDC_CLIENTS": "local=galley:galley-secret,down=galley:galley-secret",
        "GALLEY_PUBLIC_URL": PUBLIC_URL,
    }
    s = start_server(*args, binary="galley", env=env)
    yield s
    assert "galley-secret" not in s.stderr_text(), "the client secret reached the log"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def start(srv, name="local"):
    st, doc, r = call(srv, "GET", "/api/v1/auth/oauth2/%s/start" % name)
    assert st == 302, doc
    return r.getheader("Location")


def browse(provider, url, account, tweak=None):
    """Follows the provider's redirects as a browser until it sends us to the callback."""
    parts = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(parts.query))
    q["login_hint"] = account
    if tweak:
        tweak(q)
    url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())
    for _ in range(10):
        try:
            with opener.open(url, timeout=10 * SLOW) as r:
                pytest.fail("the provider answered %d instead of redirecting: %r" % (r.status, r.read()[:300]))
        except urllib.error.HTTPError as e:
            if e.code not in (302, 303):
                pytest.fail("the provider answered %d: %r" % (e.code, e.read()[:300]))
            url = urllib.parse.urljoin(url, e.headers["Location"])
        if url.startswith(PUBLIC_URL + "/"):
            return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    pytest.fail("too many redirects")


def callback(srv, back, name="local"):
    query = urllib.parse.urlencode({k: v for k, v in back.items() if k in ("code", "state", "error", "iss")})
    return call(srv, "GET", "/api/v1/auth/oauth2/%s/callback?%s" % (name, query))


def oidc_login(srv, provider, account, tweak=None):
    return callback(srv, browse(provider, start(srv), account, tweak))


def me(srv, token):
    return call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})


def register(srv, email, password=PASSWORD):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": password})
    assert st == 201, doc
    return doc


# ---- the flow ----------------------------------------------------------------


def test_providers_are_listed_with_their_start_route(srv):
    st, doc, _ = call(srv, "GET", "/api/v1/auth/oauth2/providers")
    assert st == 200, doc
    assert doc == {"providers": [{"name": "local", "start": "/api/v1/auth/oauth2/local/start"},
                                 {"name": "down", "start": "/api/v1/auth/oauth2/down/start"}]}


def test_start_redirects_to_the_provider_with_pkce_state_and_nonce(srv, provider):
    url = start(srv)
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme + "://" + parts.netloc == provider.issuer
    q = dict(urllib.parse.parse_qsl(parts.query))
    assert q["response_type"] == "code"
    assert q["client_id"] == "galley"
    assert q["redirect_uri"] == CALLBACK % "local"
    assert q["scope"] == "openid email profile"
    assert q["code_challenge_method"] == "S256"
    assert len(q["code_challenge"]) == 43 and len(q["state"]) == 43 and len(q["nonce"]) == 43
    # every start is a new state, nonce and challenge
    q2 = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start(srv)).query))
    assert {q2["state"], q2["nonce"], q2["code_challenge"]}.isdisjoint({q["state"], q["nonce"], q["code_challenge"]})


def test_login_makes_an_account_and_tokens_that_work(srv, provider):
    st, doc, r = oidc_login(srv, provider, "carol")
    assert st == 200, doc
    assert r.getheader("Cache-Control") == "no-store"
    assert doc["token_type"] == "Bearer" and doc["refresh_token"]
    assert doc["user"]["email"] == "carol@example.com"
    assert doc["user"]["name"] == "Carol"
    assert doc["user"]["email_verified"] is True
    st, who, _ = me(srv, doc["access_token"])
    assert st == 200 and who["id"] == doc["user"]["id"]
    # the refresh token works as a password login's does
    st, again, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": doc["refresh_token"]})
    assert st == 200, again
    # the next login finds the same account by the provider's subject
    st, doc2, _ = oidc_login(srv, provider, "carol")
    assert st == 200, doc2
    assert doc2["user"]["id"] == doc["user"]["id"]
    # the account has no password anyone could use
    st, _, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "carol@example.com", "password": "!oidc"})
    assert st == 401


def test_a_state_works_once(srv, provider):
    back = browse(provider, start(srv), "carol")
    st, doc, _ = callback(srv, back)
    assert st == 200, doc
    st, doc, r = callback(srv, back)
    assert st == 400, doc
    assert doc["code"] == "invalid-state"
    assert r.getheader("Content-Type").startswith("application/problem+json")


def test_an_unknown_or_missing_state_is_refused(srv, provider):
    back = browse(provider, start(srv), "carol")
    forged = dict(back, state=base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
    st, doc, _ = callback(srv, forged)
    assert st == 400 and doc["code"] == "invalid-state", doc
    st, doc, _ = callback(srv, {"code": back["code"]})
    assert st == 400 and doc["code"] == "invalid-state", doc
    # nor may another provider's callback spend it
    st, doc, _ = callback(srv, back, name="down")
    assert st == 400 and doc["code"] == "invalid-state", doc
    # the real one still works
    st, doc, _ = callback(srv, back)
    assert st == 200, doc


def test_an_id_token_with_another_nonce_is_refused(srv, provider):
    def other_nonce(q):
        q["nonce"] = "A" * 43

    st, doc, r = oidc_login(srv, provider, "carol", tweak=other_nonce)
    assert st == 401, doc
    assert doc["code"] == "invalid-id-token"
    assert r.getheader("WWW-Authenticate")


def test_an_answer_naming_another_issuer_is_refused(srv, provider):
    back = browse(provider, start(srv), "carol")
    assert back["iss"] == provider.issuer  # RFC 9207, which oidc-provider sends
    st, doc, _ = callback(srv, dict(back, iss="https://evil.example"))
    assert st == 400 and doc["code"] == "issuer-mismatch", doc


def test_a_code_the_provider_does_not_know_is_refused(srv, provider):
    back = browse(provider, start(srv), "carol")
    st, doc, _ = callback(srv, dict(back, code="not-a-code"))
    assert st == 401 and doc["code"] == "code-refused", doc


@pytest.mark.parametrize("mode", ["sig", "claims"])
def test_a_tampered_id_token_is_refused(srv, provider, mode):
    provider.tamper(mode)
    try:
        st, doc, _ = oidc_login(srv, provider, "carol")
    finally:
        provider.tamper("off")
    assert st == 401, doc
    assert doc["code"] == "invalid-id-token"
    st, doc, _ = oidc_login(srv, provider, "carol")
    assert st == 200, doc
    assert doc["user"]["email"] == "carol@example.com"


def test_a_verified_email_links_to_the_password_account(srv, provider):
    ann = register(srv, "alice@example.com")
    st, doc, _ = oidc_login(srv, provider, "alice")
    assert st == 200, doc
    assert doc["user"]["id"] == ann["id"]
    # both ways in still work
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    assert st == 200, doc
    st, doc, _ = oidc_login(srv, provider, "alice")
    assert st == 200 and doc["user"]["id"] == ann["id"], doc


def test_an_unverified_email_is_not_linked(srv, provider):
    bob = register(srv, "bob@example.com")
    st, doc, _ = oidc_login(srv, provider, "bob")
    assert st == 409, doc
    assert doc["code"] == "email-taken"
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "bob@example.com", "password": PASSWORD})
    assert st == 200 and doc["user"]["id"] == bob["id"]


def test_a_new_account_with_an_unverified_email_is_unverified(srv, provider):
    st, doc, _ = oidc_login(srv, provider, "bob")
    assert st == 200, doc
    assert doc["user"]["email"] == "bob@example.com"
    assert doc["user"]["email_verified"] is False


def test_a_rotated_provider_key_is_fetched_once(srv, provider):
    st, doc, _ = oidc_login(srv, provider, "dave")
    assert st == 200, doc
    fetched = provider.jwks_fetches()
    provider.rotate()
    # the new kid is unknown: the JWKS is fetched again, and the login works
    st, doc, _ = oidc_login(srv, provider, "dave")
    assert st == 200, doc
    assert provider.jwks_fetches() == fetched + 1
    # the cache serves the next login
    st, doc, _ = oidc_login(srv, provider, "dave")
    assert st == 200, doc
    assert provider.jwks_fetches() == fetched + 1
    # a second rotation within a minute is not followed: no fetch storm from forged kids
    provider.rotate()
    st, doc, _ = oidc_login(srv, provider, "dave")
    assert st == 401 and doc["code"] == "invalid-id-token", doc
    assert provider.jwks_fetches() == fetched + 1


def test_a_provider_that_is_down_is_502(srv):
    st, doc, r = call(srv, "GET", "/api/v1/auth/oauth2/down/start")
    assert st == 502, doc
    assert doc["code"] == "provider-unavailable"
    assert r.getheader("Content-Type").startswith("application/problem+json")


def test_an_unknown_provider_is_404(srv):
    st, doc, _ = call(srv, "GET", "/api/v1/auth/oauth2/nobody/start")
    assert st == 404 and doc["code"] == "unknown-provider", doc
    st, doc, _ = call(srv, "GET", "/api/v1/auth/oauth2/nobody/callback?code=x&state=y")
    assert st == 404, doc


def test_logins_are_audited(srv, provider, args, backend):
    register(srv, "alice@example.com")
    assert oidc_login(srv, provider, "alice")[0] == 200
    assert oidc_login(srv, provider, "alice")[0] == 200
    assert oidc_login(srv, provider, "carol")[0] == 200
    assert callback(srv, {"code": "x", "state": "y" * 43})[0] == 400
    if backend != "sqlite":
        return
    db = sqlite3.connect(os.path.join(args[args.index("--data") + 1], "data.db"))
    events = [e for (e,) in db.execute("SELECT event FROM auth_audit WHERE event LIKE 'oauth2%' ORDER BY id")]
    assert events == ["oauth2_link", "oauth2_login", "oauth2_register", "oauth2_login_failure"]


def test_the_routes_are_documented(srv):
    st, doc, _ = call(srv, "GET", "/openapi.json")
    assert st == 200
    for path in ("/api/v1/auth/oauth2/providers", "/api/v1/auth/oauth2/{provider}/start",
                 "/api/v1/auth/oauth2/{provider}/callback", "/.well-known/jwks.json"):
        assert path in doc["paths"], path


def test_bad_provider_settings_stop_the_start(start_server, args):
    for env in ({"GALLEY_OIDC_PROVIDERS": "x=http://example.com", "GALLEY_OIDC_CLIENTS": "x=a:b"},
                {"GALLEY_OIDC_PROVIDERS": "x=https://example.com"},
                {"GALLEY_OIDC_PROVIDERS": "X=https://example.com", "GALLEY_OIDC_CLIENTS": "X=a:b"}):
        s = start_server(*args, binary="galley", env=env, wait=False)
        assert s.wait(10 * SLOW) not in (None, 0), env


# ---- access tokens signed with ES256 and EdDSA ----------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_asymmetric_access_tokens_verify_with_the_published_key(start_server, args, alg):
    s = start_server(*args, "--jwt-alg", alg, binary="galley")
    register(s, "ann@example.com")
    st, doc, _ = call(s, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD})
    assert st == 200, doc
    token = doc["access_token"]
    st, jwks, r = call(s, "GET", "/.well-known/jwks.json")
    assert st == 200 and len(jwks["keys"]) == 1, jwks
    assert r.getheader("Content-Type").startswith("application/jwk-set+json")
    jwk = jwks["keys"][0]
    assert jwk["alg"] == alg and jwk["use"] == "sig" and "d" not in jwk
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg], audience="galley", issuer="galley")
    assert claims["sub"] == doc["user"]["id"]
    assert me(s, token)[0] == 200

    # the key was made once, private to its owner, and is kept across restarts
    data = args[args.index("--data") + 1]
    path = os.path.join(data, "jwt-%s.pem" % alg.lower())
    assert os.stat(path).st_mode & 0o777 == 0o600
    s.stop()
    s2 = start_server(*args, "--jwt-alg", alg, binary="galley")
    assert call(s2, "GET", "/.well-known/jwks.json")[1] == jwks
    assert me(s2, token)[0] == 200

    # a token PyJWT signs with another key of the same kind and kid is refused
    if alg == "ES256":
        other = ec.generate_private_key(ec.SECP256R1())
    else:
        from cryptography.hazmat.primitives.asymmetric import ed25519
        other = ed25519.Ed25519PrivateKey.generate()
    forged = jwt.encode(claims, other, algorithm=alg, headers={"kid": jwk["kid"]})
    st, doc, _ = me(s2, forged)
    assert st == 401, doc
    # and so is HS256 keyed with the published key
    confused = jwt.encode(claims, json.dumps(jwk).encode(), algorithm="HS256", headers={"kid": jwk["kid"]})
    assert me(s2, confused)[0] == 401


def test_es256_key_file_is_used(start_server, args, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import serialization as S
    path = tmp_path / "es.pem"
    path.write_bytes(key.private_bytes(S.Encoding.PEM, S.PrivateFormat.PKCS8, S.NoEncryption()))
    s = start_server(*args, "--jwt-alg", "ES256", "--jwt-key-file", str(path), binary="galley")
    register(s, "ann@example.com")
    st, doc, _ = call(s, "POST", "/api/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD})
    assert st == 200, doc
    claims = jwt.decode(doc["access_token"], key.public_key(), algorithms=["ES256"], audience="galley")
    assert claims["sub"] == doc["user"]["id"]
    # a key of the wrong kind stops the start
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    s2 = start_server(*args, "--jwt-alg", "ES256", "--jwt-key-file", str(bad), binary="galley", wait=False)
    assert s2.wait(10 * SLOW) not in (None, 0)


def test_hs256_publishes_no_key(start_server, args):
    s = start_server(*args, binary="galley")
    st, doc, _ = call(s, "GET", "/.well-known/jwks.json")
    assert st == 200 and doc == {"keys": []}
