"""
tests/api/pgserver.py - a pytest plugin that runs a real PostgreSQL server for
the tests (Debian's postgresql-15: initdb, pg_ctl, psql).

Fixtures (session scope):
  pg      a PgServer: .url, .stop(), .start(), .restart(), .fresh_db(), .psql(sql),
          .log_text(), .tls
  pg_url  pg.url: postgres://galley:PASSWORD@127.0.0.1:PORT/galley

The cluster lives in a temporary directory owned by the postgres system user
(initdb refuses to run as root), listens on 127.0.0.1 on a free port with
scram-sha-256 password authentication, and on a unix socket in the same
directory where the superuser "postgres" is trusted (for psql). With openssl
at hand it has a self-signed certificate and ssl on (pg.tls), so libpq's
default sslmode=prefer talks TLS; add ?sslmode=disable for plain TCP. fsync
is off (the data is thrown away at the end of the session), but commits still
reach the kernel, so they survive pg.stop()/pg.restart().

GALLEY_PG_BIN overrides the directory of the server binaries.
"""
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

PG_BIN = os.environ.get("GALLEY_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
DB_USER = "galley"
DB_NAME = "galley"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary directory."""

    def __init__(self):
        self.base = None
        self.port = None
        self.password = secrets.token_hex(12)
        self.running = False
        self.tls = False
        self._ndb = 0

    # ------------------------------------------------------------------
    # set-up and teardown
    # ------------------------------------------------------------------

    def _as_pg(self, argv, **kw):
        """Runs argv as the postgres system user (the server refuses root)."""
        if os.geteuid() == 0:
            argv = ["runuser", "-u", PG_OS_USER, "--"] + argv
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("timeout", 60)
        r = subprocess.run(argv, **kw)
        if r.returncode != 0:
            raise RuntimeError(
                "%s failed (exit %d):\n%s" % (" ".join(argv), r.returncode, r.stdout.decode("utf-8", "replace"))
            )
        return r

    def setup(self):
        self.base = tempfile.mkdtemp(prefix="galley-pg-")
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "server.log")
        os.mkdir(self.sockdir)
        pwfile = os.path.join(self.base, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_OS_USER)
            for p in (self.base, self.sockdir, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._as_pg(
            [
                os.path.join(PG_BIN, "initdb"),
                "-D", self.data,
                "-U", "postgres",
                "--pwfile", pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        os.unlink(pwfile)
        self.port = _free_port()
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                "\n# galley tests\n"
                "listen_addresses = '127.0.0.1'\n"
                "port = %d\n"
                "unix_socket_directories = '%s'\n"
                "fsync = off\n"
                "full_page_writes = off\n"
                "max_connections = 300\n"
                "password_encryption = 'scram-sha-256'\n"
                "log_min_messages = warning\n" % (self.port, self.sockdir)
            )
        self.tls = self._make_cert()
        self.start()
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (DB_USER, self.password))
        self.psql("CREATE DATABASE %s OWNER %s" % (DB_NAME, DB_USER))
        self.url = self.url_for(DB_NAME)

    def _make_cert(self):
        """A self-signed certificate, so that clients may ask for TLS (sslmode=require)."""
        if not shutil.which("openssl"):
            return False
        crt = os.path.join(self.data, "server.crt")
        key = os.path.join(self.data, "server.key")
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )
        if r.returncode != 0:
            return False
        os.chmod(key, 0o600)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_OS_USER)
            for p in (crt, key):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("ssl = on\n")
        return True

    def teardown(self):
        if self.base is None:
            return
        if self.running:
            try:
                self.stop()
            except Exception:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    # ------------------------------------------------------------------
    # control
    # ------------------------------------------------------------------

    def url_for(self, dbname):
        return "postgres://%s:%s@127.0.0.1:%d/%s" % (DB_USER, self.password, self.port, dbname)

    def start(self):
        """Starts the server on the same port and data directory; waits until it accepts."""
        if self.running:
            return
        self._as_pg(
            [os.path.join(PG_BIN, "pg_ctl"), "start", "-w", "-t", "60", "-D", self.data, "-l", self.logfile]
        )
        self.running = True
        # pg_ctl -w waits for the postmaster; make sure TCP answers too
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)

    def stop(self):
        """Stops the server at once (-m immediate): connections break as on a crash."""
        if not self.running:
            return
        self._as_pg([os.path.join(PG_BIN, "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", self.data])
        self.running = False

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, dbname="postgres"):
        """Runs sql as the superuser over the unix socket; returns stdout (unaligned, no header)."""
        r = subprocess.run(
            [
                os.path.join(PG_BIN, "psql"),
                "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1",
                "-h", self.sockdir,
                "-p", str(self.port),
                "-U", "postgres",
                "-d", dbname,
                "-c", sql,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        if r.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (sql, r.stderr.decode("utf-8", "replace")))
        return r.stdout.decode("utf-8", "replace")

    def fresh_db(self):
        """Creates a new empty database owned by the test user; returns its URL."""
        self._ndb += 1
        name = "galley_t%d_%s" % (self._ndb, secrets.token_hex(3))
        self.psql("CREATE DATABASE %s OWNER %s" % (name, DB_USER))
        return self.url_for(name)

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _missing():
    for b in ("initdb", "pg_ctl", "postgres", "psql"):
        if not os.access(os.path.join(PG_BIN, b), os.X_OK):
            return "PostgreSQL binaries not found in %s (install postgresql-15)" % PG_BIN
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            return "no '%s' system user to run PostgreSQL as (running as root)" % PG_OS_USER
        if not shutil.which("runuser"):
            return "runuser not found (needed to run PostgreSQL as %s)" % PG_OS_USER
    return None


@pytest.fixture(scope="session")
def pg():
    """A running PostgreSQL server for the session (skips when PostgreSQL is not installed)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    srv = PgServer()
    try:
        srv.setup()
    except Exception as e:
        srv.teardown()
        pytest.fail("could not start PostgreSQL: %s" % e)
    try:
        yield srv
    finally:
        srv.teardown()


@pytest.fixture(scope="session")
def pg_url(pg):
    return pg.url
