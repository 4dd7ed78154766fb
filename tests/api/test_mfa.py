"""
tests/api/test_mfa.py - TOTP multi-factor authentication of the galley binary
(/api/v1/auth/mfa/*, /api/v1/auth/login/mfa) on SQLite and PostgreSQL. Codes
come from oathtool (Debian's oathtool), an independent RFC 6238
implementation; the QR code is read back from its SVG.
"""
import os
import re
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from conftest import call, galley

PASSWORD = "correct horse battery staple"
ROOT_PASSWORD = "the root of all good things"
STEP = 30
MARGIN = 6  # seconds a test needs before the time step ends






@pytest.fixture
def srv(start_server, args):
    out = galley("admin", "create", "root@example.com", *args, stdin=ROOT_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    return start_server(*args, binary="galley")


def as_(tok):
    return {"Authorization": "Bearer " + tok}


def totp(secret, at):
    """The code of the time at (unix seconds), by oathtool."""
    out = subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % at, secret], capture_output=True, text=True, check=True)
    code = out.stdout.strip()
    assert re.fullmatch(r"\d{6}", code), out
    return code


def step_start():
    """The start of the current time step, waiting for the next one when too little of it is left."""
    now = time.time()
    if STEP - now % STEP < MARGIN:
        time.sleep(STEP - now % STEP + 0.1)
        now = time.time()
    return int(now) // STEP * STEP


def register(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert st == 201, doc
    return doc


def login(srv, email):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert st == 200, doc
    return doc


def ticket(srv, email):
    doc = login(srv, email)
    assert set(doc) == {"mfa_required", "mfa_ticket"}, doc
    assert doc["mfa_required"] is True and len(doc["mfa_ticket"]) >= 43
    return doc["mfa_ticket"]


def second(srv, tk, code):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login/mfa", {"mfa_ticket": tk, "code": code})
    return st, doc


def enrol(srv, email):
    """Registers email and turns MFA on with the code of the step before; (user, token, secret, codes, t0)."""
    user = register(srv, email)
    tok = login(srv, email)["access_token"]
    st, setup, r = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(tok))
    assert st == 200, setup
    assert r.getheader("Cache-Control") == "no-store"
    t0 = step_start()
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": totp(setup["secret"], t0 - STEP)}, headers=as_(tok))
    assert st == 200, doc
    return user, tok, setup, doc["recovery_codes"], t0


def audit(srv, user_id):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": "root@example.com", "password": ROOT_PASSWORD})
    assert st == 200, doc
    st, doc, _ = call(srv, "GET", "/api/v1/audit?per_page=200&user_id=" + user_id, headers=as_(doc["access_token"]))
    assert st == 200, doc
    return [(e["event"], e["detail"]) for e in reversed(doc["items"])]


def qr_modules(svg):
    """The dark modules of the SVG's path, as a set of (x, y), and the side of the picture."""
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x0, y0, w, h = (int(v) for v in root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and w == h
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1
    dark = set()
    for m in re.finditer(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", paths[0].get("d")):
        x, y, n, back = (int(v) for v in m.groups())
        assert n == back
        dark.update((x + i, y) for i in range(n))
    assert re.sub(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", "", paths[0].get("d")) == ""
    return dark, w


# ---- enrolment --------------------------------------------------------------


def test_setup_gives_the_secret_uri_and_a_qr_code(srv):
    register(srv, "ann@example.com")
    tok = login(srv, "ann@example.com")["access_token"]
    assert call(srv, "POST", "/api/v1/auth/mfa/totp/setup")[0] == 401
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(tok))
    assert st == 200, doc
    assert set(doc) == {"secret", "otpauth_uri", "qr_svg"}
    assert re.fullmatch(r"[A-Z2-7]{32}", doc["secret"])  # 20 bytes, base32 without padding
    uri = urllib.parse.urlsplit(doc["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == "/Galley:ann@example.com"
    assert "@" not in uri.path  # percent-encoded
    q = dict(urllib.parse.parse_qsl(uri.query, strict_parsing=True))
    assert q == {"secret": doc["secret"], "issuer": "Galley", "algorithm": "SHA1", "digits": "6", "period": "30"}

    dark, side = qr_modules(doc["qr_svg"])
    width = side - 8  # a quiet zone of 4 modules on each side
    assert width >= 21 and (width - 17) % 4 == 0, width
    assert all(4 <= x < 4 + width and 4 <= y < 4 + width for x, y in dark)
    # the three finder patterns: a dark ring, a light ring, a dark 3x3 core
    for cx, cy in ((0, 0), (width - 7, 0), (0, width - 7)):
        for y in range(7):
            for x in range(7):
                ring = max(abs(x - 3), abs(y - 3))
                assert ((cx + x + 4, cy + y + 4) in dark) == (ring != 2), (cx, cy, x, y)
    # the timing patterns alternate between them
    for i in range(8, width - 8):
        assert ((i + 4, 6 + 4) in dark) == (i % 2 == 0)
        assert ((6 + 4, i + 4) in dark) == (i % 2 == 0)

    # a second set-up replaces the pending secret; MFA is not on until verified
    st, again, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(tok))
    assert st == 200 and again["secret"] != doc["secret"]
    assert "access_token" in login(srv, "ann@example.com")


def test_verify_needs_a_setup_and_a_current_code(srv):
    register(srv, "ann@example.com")
    tok = login(srv, "ann@example.com")["access_token"]
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": "123456"}, headers=as_(tok))
    assert st == 409 and doc["code"] == "mfa-not-set-up", doc
    st, setup, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(tok))
    t0 = step_start()
    valid = {totp(setup["secret"], t0 + d * STEP) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": wrong}, headers=as_(tok))
    assert st == 422 and doc["errors"][0]["field"] == "code", doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": totp(setup["secret"], t0 + 3 * STEP)}, headers=as_(tok))
    assert st == 422, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": totp(setup["secret"], t0)}, headers=as_(tok))
    assert st == 200, doc
    codes = doc["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-z]{5}-[0-9a-z]{5}", c) for c in codes), codes
    # on: no second set-up, no second verify
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(tok))
    assert st == 409 and doc["code"] == "mfa-enabled", doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/verify", {"code": totp(setup["secret"], t0 + STEP)}, headers=as_(tok))
    assert st == 409, doc


# ---- login ------------------------------------------------------------------


def test_login_with_mfa_gives_tokens_after_the_code_once(srv):
    user, _, setup, _, t0 = enrol(srv, "ann@example.com")
    secret = setup["secret"]
    tk = ticket(srv, "ann@example.com")
    code = totp(secret, t0)
    st, doc, r = call(srv, "POST", "/api/v1/auth/login/mfa", {"mfa_ticket": tk, "code": code})
    assert st == 200, doc
    assert set(doc) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert doc["user"]["id"] == user["id"] and r.getheader("Cache-Control") == "no-store"
    st, me, _ = call(srv, "GET", "/api/v1/auth/me", headers=as_(doc["access_token"]))
    assert st == 200 and me["email"] == "ann@example.com"
    st, fresh, _ = call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": doc["refresh_token"]})
    assert st == 200, fresh

    # the same ticket again, even with a good code: refused
    next_code = totp(secret, t0 + STEP)
    st, doc = second(srv, tk, next_code)
    assert st == 401 and doc["code"] == "invalid-ticket", doc
    st, doc = second(srv, "A" * 43, next_code)
    assert st == 401 and doc["code"] == "invalid-ticket", doc

    # the same code on a new ticket: a replay
    tk = ticket(srv, "ann@example.com")
    st, doc = second(srv, tk, code)
    assert st == 401 and doc["code"] == "invalid-code", doc
    valid = {totp(secret, t0 + d * STEP) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    st, doc = second(srv, tk, wrong)
    assert st == 401 and doc["code"] == "invalid-code", doc
    st, doc = second(srv, tk, "not a code")
    assert st == 401, doc
    # the ticket survived three failures; the next step's code works
    st, doc = second(srv, tk, next_code)
    assert st == 200 and "access_token" in doc, doc

    events = audit(srv, user["id"])
    names = [e for e, _ in events]
    for e in ("mfa_setup", "mfa_enabled", "mfa_challenge", "mfa_replay", "mfa_failure"):
        assert e in names, events
    assert names.count("login_success") == 3  # one before MFA was on, two with it
    assert [d for e, d in events if e == "login_success"][-2:] == ["mfa", "mfa"]
    assert names.count("mfa_challenge") == 2

    srv.wait_log(lambda l: l.get("level") == "warn" and "presented again" in l.get("msg", ""))
    log = srv.stderr_text()
    for s in [secret, code, next_code, tk]:
        assert s not in log


def test_window_is_one_step_each_way(srv):
    _, _, setup, _, t0 = enrol(srv, "ann@example.com")  # verified with the code of t0 - 30
    secret = setup["secret"]
    tk = ticket(srv, "ann@example.com")
    st, doc = second(srv, tk, totp(secret, t0 + 3 * STEP))
    assert st == 401, doc
    st, doc = second(srv, tk, totp(secret, t0 + 2 * STEP))
    assert st == 401, doc
    st, doc = second(srv, tk, totp(secret, t0 + STEP))
    assert st == 200, doc
    # a code of a step before the last accepted one is refused too
    st, doc = second(srv, ticket(srv, "ann@example.com"), totp(secret, t0))
    assert st == 401 and doc["code"] == "invalid-code", doc


def test_five_wrong_codes_end_the_ticket(srv):
    _, _, setup, _, t0 = enrol(srv, "ann@example.com")
    secret = setup["secret"]
    valid = {totp(secret, t0 + d * STEP) for d in (-1, 0, 1)}
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555", "666666") if c not in valid]
    tk = ticket(srv, "ann@example.com")
    for i in range(5):
        st, doc = second(srv, tk, wrong[i % len(wrong)])
        assert st == 401 and doc["code"] == "invalid-code", (i, doc)
    st, doc = second(srv, tk, totp(secret, t0))
    assert st == 401 and doc["code"] == "invalid-ticket", doc
    # the good code was not spent on the dead ticket
    st, doc = second(srv, ticket(srv, "ann@example.com"), totp(secret, t0))
    assert st == 200, doc


def test_recovery_codes_work_once(srv):
    user, _, setup, codes, _ = enrol(srv, "ann@example.com")
    st, doc = second(srv, ticket(srv, "ann@example.com"), codes[0])
    assert st == 200 and "access_token" in doc, doc
    st, doc = second(srv, ticket(srv, "ann@example.com"), codes[0])
    assert st == 401 and doc["code"] == "invalid-code", doc
    # typed without the dash, in capitals
    st, doc = second(srv, ticket(srv, "ann@example.com"), codes[1].replace("-", "").upper())
    assert st == 200, doc
    tok = doc["access_token"]
    # a recovery code also turns MFA off
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": codes[1]}, headers=as_(tok))
    assert st == 422, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": codes[2]}, headers=as_(tok))
    assert st == 204, doc
    assert "access_token" in login(srv, "ann@example.com")
    events = audit(srv, user["id"])
    assert [d for e, d in events if e == "mfa_recovery_used"] == ["9 left", "8 left"], events
    assert ("mfa_disabled", "recovery code") in events
    log = srv.stderr_text()
    for c in codes:
        assert c not in log and c.replace("-", "") not in log


def test_disable_needs_a_current_code(srv):
    user, _, setup, codes, t0 = enrol(srv, "ann@example.com")
    secret = setup["secret"]
    st, doc = second(srv, ticket(srv, "ann@example.com"), totp(secret, t0))
    assert st == 200, doc
    tok = doc["access_token"]
    assert call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": totp(secret, t0)})[0] == 401
    # the code just used is spent
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": totp(secret, t0)}, headers=as_(tok))
    assert st == 422, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": totp(secret, t0 + STEP)}, headers=as_(tok))
    assert st == 204, doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": totp(secret, t0 + STEP)}, headers=as_(tok))
    assert st == 409 and doc["code"] == "mfa-not-enabled", doc
    doc = login(srv, "ann@example.com")
    assert "access_token" in doc and "mfa_ticket" not in doc
    # the recovery codes went with it
    st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/totp/setup", headers=as_(doc["access_token"]))
    assert st == 200, doc
    events = [e for e, _ in audit(srv, user["id"])]
    assert "mfa_disabled" in events and events.count("mfa_replay") == 1, events


def test_wrong_codes_on_disable_are_limited(srv):
    _, _, setup, _, t0 = enrol(srv, "ann@example.com")
    secret = setup["secret"]
    st, doc = second(srv, ticket(srv, "ann@example.com"), totp(secret, t0))
    tok = doc["access_token"]
    valid = {totp(secret, t0 + d * STEP) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    for _ in range(5):
        st, doc, _ = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": wrong}, headers=as_(tok))
        assert st == 422, doc
    st, doc, r = call(srv, "POST", "/api/v1/auth/mfa/disable", {"code": totp(secret, t0 + STEP)}, headers=as_(tok))
    assert st == 429 and int(r.getheader("Retry-After")) > 0, doc


def test_secret_is_stored_and_codes_hashed(srv, backend, args):
    if backend != "sqlite":
        pytest.skip("reads the SQLite file")
    import sqlite3

    user, _, setup, codes, _ = enrol(srv, "ann@example.com")
    tk = ticket(srv, "ann@example.com")
    db = sqlite3.connect(os.path.join(args[1], "data.db"))
    try:
        rows = db.execute("SELECT code_hash FROM auth_mfa_recovery WHERE user_id = ?", (user["id"],)).fetchall()
        assert len(rows) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", h) for (h,) in rows)
        dump = "\n".join(db.iterdump())
        for c in codes:
            assert c not in dump and c.replace("-", "") not in dump
        assert tk not in dump
        (enabled, last_step), = db.execute("SELECT enabled, last_step FROM auth_mfa_totp WHERE user_id = ?", (user["id"],)).fetchall()
        assert enabled == 1 and last_step > 0
    finally:
        db.close()


def test_expired_ticket_is_refused(srv, backend, args):
    if backend != "sqlite":
        pytest.skip("ages the ticket in the SQLite file")
    import sqlite3

    _, _, setup, _, t0 = enrol(srv, "ann@example.com")
    tk = ticket(srv, "ann@example.com")
    db = sqlite3.connect(os.path.join(args[1], "data.db"), timeout=10)
    try:
        (expires,), = db.execute("SELECT expires FROM auth_mfa_tickets").fetchall()
        assert 280 <= expires - time.time() <= 300
        with db:
            db.execute("UPDATE auth_mfa_tickets SET expires = ?", (int(time.time()) - 1,))
    finally:
        db.close()
    st, doc = second(srv, tk, totp(setup["secret"], t0))
    assert st == 401 and doc["code"] == "invalid-ticket", doc
