"""
tests/api/test_mail.py - the email flows of /api/v1/auth (verification,
password reset, email change, account deletion) on SQLite and PostgreSQL,
delivered by SMTP to a real local sink (Debian's python3-aiosmtpd) running in
the test process, and in development mode to files under DATA/mail.
"""
import email
import email.policy
import glob
import os
import re
import socket
import sqlite3
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import SLOW, call

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase here"
TOKEN = re.compile(r"token=([A-Za-z0-9_-]{43})")


class Sink:
    """An SMTP handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def wait(self, n, timeout=10 * SLOW):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            pytest.fail("expected %d emails, got %d" % (n, len(self.messages)))

    def to(self, addr):
        with self.lock:
            return [m for (_, rcpt, m) in self.messages if addr in rcpt]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sink():
    handler = Sink()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    handler.port = ctl.port
    yield handler
    ctl.stop()


@pytest.fixture
def srv(start_server, args, sink):
    env = {"GALLEY_SMTP_URL": "smtp://127.0.0.1:%d" % sink.port, "GALLEY_MAIL_FROM": "Galley Test <robot@galley.test>",
           "GALLEY_PUBLIC_URL": "https://app.example/"}
    s = start_server(*args, "--login-lock-after", "2", binary="galley", env=env)
    yield s
    assert not TOKEN.search(s.stderr_text()), "a token reached the log"


def register(srv, addr="ann@example.com", password=PASSWORD):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": addr, "password": password})
    assert st == 201, doc
    return doc


def login(srv, addr="ann@example.com", password=PASSWORD):
    return call(srv, "POST", "/api/v1/auth/login", {"email": addr, "password": password})


def token_of(msg):
    body = msg.get_body(preferencelist=("plain",)).get_content()
    m = TOKEN.search(body)
    assert m, body
    return m.group(1)


def authed(srv, method, path, token, body=None):
    st, doc, _ = call(srv, method, path, body, headers={"Authorization": "Bearer " + token})
    return st, doc


def session(srv, addr="ann@example.com", password=PASSWORD):
    st, doc, _ = login(srv, addr, password)
    assert st == 200, doc
    return doc


# ---- verification ------------------------------------------------------------


def test_verification_email_goes_by_smtp_and_its_token_verifies_once(srv, sink):
    register(srv)
    tok = session(srv)["access_token"]
    st, doc = authed(srv, "POST", "/api/v1/auth/verify/request", tok)
    assert st == 202, doc
    (mail_from, rcpt, msg), = sink.wait(1)
    assert mail_from == "robot@galley.test" and rcpt == ["ann@example.com"]
    assert msg["From"] == "Galley Test <robot@galley.test>"
    assert msg["Subject"] == "Confirm your email address"
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "https://app.example/verify?token=" in body
    token = token_of(msg)
    st, doc, _ = call(srv, "POST", "/api/v1/auth/verify", {"token": token})
    assert st == 200, doc
    assert doc["email"] == "ann@example.com" and doc["email_verified"] is True
    st, doc = authed(srv, "GET", "/api/v1/auth/me", tok)
    assert doc["email_verified"] is True
    # single use; then verified accounts are not sent more
    st, doc, _ = call(srv, "POST", "/api/v1/auth/verify", {"token": token})
    assert (st, doc["code"]) == (400, "invalid-token")
    st, doc = authed(srv, "POST", "/api/v1/auth/verify/request", tok)
    assert (st, doc["code"]) == (409, "already-verified")


def test_bad_tokens_are_refused(srv, sink):
    for bad in ["", "x" * 43, "not a token"]:
        st, doc, _ = call(srv, "POST", "/api/v1/auth/verify", {"token": bad})
        assert (st, doc["code"]) == (400, "invalid-token"), bad
        st, doc, _ = call(srv, "POST", "/api/v1/auth/email/change/confirm", {"token": bad})
        assert (st, doc["code"]) == (400, "invalid-token"), bad
        st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": bad, "new_password": NEW_PASSWORD})
        assert (st, doc["code"]) == (400, "invalid-token"), bad
    st, doc, _ = call(srv, "POST", "/api/v1/auth/verify/request")
    assert st == 401


def test_a_token_of_one_kind_does_not_serve_another(srv, sink):
    register(srv)
    tok = session(srv)["access_token"]
    assert authed(srv, "POST", "/api/v1/auth/verify/request", tok)[0] == 202
    token = token_of(sink.wait(1)[0][2])
    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": token, "new_password": NEW_PASSWORD})
    assert (st, doc["code"]) == (400, "invalid-token")
    assert call(srv, "POST", "/api/v1/auth/verify", {"token": token})[0] == 200


# ---- password reset ---------------------------------------------------------------


def test_reset_sets_the_password_ends_sessions_and_unlocks_the_account(srv, sink):
    register(srv)
    old = session(srv)
    # two failures lock the account (--login-lock-after 2)
    for _ in range(2):
        assert login(srv, password="wrong wrong wrong")[0] == 401
    assert login(srv)[0] == 429

    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "ANN@example.com"})
    assert st == 202, doc
    msg = sink.wait(1)[0][2]
    assert msg["Subject"] == "Reset your password"
    assert "https://app.example/reset-password?token=" in msg.get_body(preferencelist=("plain",)).get_content()
    token = token_of(msg)

    # the policy refuses the email as a password: the token stays good
    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": token, "new_password": "short"})
    assert st == 422 and doc["errors"][0]["field"] == "new_password", doc
    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": token, "new_password": NEW_PASSWORD})
    assert st == 204, doc

    # the old session ended, its refresh token too
    assert authed(srv, "GET", "/api/v1/auth/me", old["access_token"])[0] == 401
    assert call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": old["refresh_token"]})[0] == 401
    # the lock is gone; the old password is not the password any more
    assert login(srv, password=NEW_PASSWORD)[0] == 200
    assert login(srv, password=PASSWORD)[0] == 401
    # single use
    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": token, "new_password": "yet another passphrase"})
    assert (st, doc["code"]) == (400, "invalid-token")


def test_reset_request_for_an_unknown_email_answers_the_same_and_sends_nothing(srv, sink):
    register(srv)
    st1, known, r1 = call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "ann@example.com"})
    st2, unknown, r2 = call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "nobody@example.com"})
    assert st1 == st2 == 202
    assert known == unknown
    assert r1.getheader("Content-Type") == r2.getheader("Content-Type")
    sink.wait(1)
    time.sleep(0.5 * SLOW)
    assert len(sink.messages) == 1 and sink.to("nobody@example.com") == []


# ---- email change ------------------------------------------------------------------


def test_email_change_confirms_from_the_new_address(srv, sink):
    register(srv)
    register(srv, "bob@example.com")
    tok = session(srv)["access_token"]
    st, doc = authed(srv, "POST", "/api/v1/auth/email/change", tok, {"new_email": "bob@example.com", "password": PASSWORD})
    assert (st, doc["code"]) == (409, "email-taken")
    st, doc = authed(srv, "POST", "/api/v1/auth/email/change", tok, {"new_email": "ann2@example.com", "password": "wrong password!"})
    assert st == 422 and doc["errors"][0]["field"] == "password"
    st, doc = authed(srv, "POST", "/api/v1/auth/email/change", tok, {"new_email": "Ann2@Example.com", "password": PASSWORD})
    assert st == 202, doc
    sink.wait(2)
    (confirm,), (notice,) = sink.to("ann2@example.com"), sink.to("ann@example.com")
    assert "ann2@example.com" in notice.get_body(preferencelist=("plain",)).get_content()
    assert not TOKEN.search(notice.get_body(preferencelist=("plain",)).get_content())
    # nothing changes before the confirmation
    assert login(srv)[0] == 200
    st, doc, _ = call(srv, "POST", "/api/v1/auth/email/change/confirm", {"token": token_of(confirm)})
    assert st == 200, doc
    assert doc["email"] == "ann2@example.com" and doc["email_verified"] is True
    assert login(srv)[0] == 401
    assert login(srv, "ann2@example.com")[0] == 200
    st, doc, _ = call(srv, "POST", "/api/v1/auth/email/change/confirm", {"token": token_of(confirm)})
    assert (st, doc["code"]) == (400, "invalid-token")


def test_a_reset_link_to_the_old_address_dies_with_an_email_change(srv, sink):
    register(srv)
    tok = session(srv)["access_token"]
    assert call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "ann@example.com"})[0] == 202
    reset = token_of(sink.wait(1)[0][2])
    assert authed(srv, "POST", "/api/v1/auth/email/change", tok, {"new_email": "ann2@example.com", "password": PASSWORD})[0] == 202
    sink.wait(3)
    assert call(srv, "POST", "/api/v1/auth/email/change/confirm", {"token": token_of(sink.to("ann2@example.com")[0])})[0] == 200
    st, doc, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": reset, "new_password": NEW_PASSWORD})
    assert (st, doc["code"]) == (400, "invalid-token")


# ---- account deletion -----------------------------------------------------------------


def test_account_deletion_needs_the_password_and_ends_everything(srv, sink):
    register(srv)
    s = session(srv)
    tok = s["access_token"]
    st, doc = authed(srv, "DELETE", "/api/v1/auth/me", tok, {"password": "wrong password!"})
    assert st == 422 and doc["errors"][0]["field"] == "password"
    st, doc = authed(srv, "DELETE", "/api/v1/auth/me", tok, {"password": PASSWORD})
    assert st == 204, doc
    assert authed(srv, "GET", "/api/v1/auth/me", tok)[0] == 401
    assert call(srv, "POST", "/api/v1/auth/refresh", {"refresh_token": s["refresh_token"]})[0] == 401
    assert login(srv)[0] == 401
    # the email is free again
    register(srv)


# ---- delivery ------------------------------------------------------------------------


def test_development_mode_writes_the_emails_under_data_mail(start_server, args, backend, tmp_path):
    srv = start_server(*args, binary="galley")
    register(srv)
    assert call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "ann@example.com"})[0] == 202
    maildir = str(tmp_path / "data" / "mail")
    deadline = time.monotonic() + 10 * SLOW
    files = []
    while time.monotonic() < deadline and not files:
        files = glob.glob(os.path.join(maildir, "*.eml"))
        time.sleep(0.02)
    assert len(files) == 1, os.listdir(maildir)
    assert os.stat(maildir).st_mode & 0o777 == 0o700
    with open(files[0], "rb") as f:
        raw = f.read()
    assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "ann@example.com" and msg["Subject"] == "Reset your password"
    assert msg["From"] == "Galley <no-reply@localhost>"
    assert "http://127.0.0.1:8090/reset-password?token=" in msg.get_body(preferencelist=("plain",)).get_content()
    st, _, _ = call(srv, "POST", "/api/v1/auth/password/reset", {"token": token_of(msg), "new_password": NEW_PASSWORD})
    assert st == 204
    assert login(srv, password=NEW_PASSWORD)[0] == 200
    assert not TOKEN.search(srv.stderr_text())
    if backend == "sqlite":  # the outbox records the email; its body (the token) is gone
        db = sqlite3.connect(str(tmp_path / "data" / "data.db"))
        row = db.execute("SELECT to_addr, subject, sent, body FROM auth_outbox").fetchone()
        db.close()
        assert row[:2] == ("ann@example.com", "Reset your password") and row[2] and row[3] == ""


def test_an_email_the_smtp_server_missed_stays_in_the_outbox(start_server, args, backend):
    # first no server listens: the email stays in the outbox
    dead = free_port()
    env = {"GALLEY_SMTP_URL": "smtp://127.0.0.1:%d" % dead}
    srv = start_server(*args, binary="galley", env=env)
    register(srv)
    assert call(srv, "POST", "/api/v1/auth/password/reset/request", {"email": "ann@example.com"})[0] == 202
    srv.wait_log(lambda l: "not delivered" in str(l), timeout=10 * SLOW)
    assert "127.0.0.1:%d" % dead not in srv.stderr_text()
    if backend == "sqlite":
        # the failure is logged just before it is recorded
        deadline = time.monotonic() + 5 * SLOW
        while True:
            db = sqlite3.connect(os.path.join(args[1], "data.db"))
            row = db.execute("SELECT to_addr, attempts, sent, last_error, body, next_attempt FROM auth_outbox").fetchone()
            db.close()
            if row[1] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        to, attempts, sent, error, body, next_attempt = row
        assert (to, attempts, sent) == ("ann@example.com", 1, None)
        assert error.startswith("smtp: ") and TOKEN.search(body) and next_attempt > time.time()
