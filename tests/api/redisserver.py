"""
tests/api/redisserver.py - a pytest plugin that runs a real Redis server for
the tests (Debian's redis-server).

Fixtures (session scope):
  redis      a RedisServer: .url, .port, .password, .stop(), .start(), .restart(),
             .cli(*args), .log_text()
  redis_url  redis.url: redis://127.0.0.1:PORT

The server lives in a temporary directory, listens on 127.0.0.1 on a free
port, keeps nothing on disk (no RDB, no AOF) and runs as long as the session
unless a test stops it. RedisServer(password=...) makes one with requirepass.

GALLEY_REDIS_SERVER overrides the server binary.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

REDIS_SERVER = os.environ.get("GALLEY_REDIS_SERVER", "redis-server")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server in a temporary directory."""

    def __init__(self, password=None):
        self.base = tempfile.mkdtemp(prefix="galley-redis-")
        self.port = _free_port()
        self.password = password
        self.logfile = os.path.join(self.base, "server.log")
        self.proc = None
        auth = ":%s@" % password if password else ""
        self.url = "redis://%s127.0.0.1:%d" % (auth, self.port)

    def start(self):
        """Starts the server on the same port; waits until it answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            return
        argv = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.base,
                "--save", "", "--appendonly", "no", "--logfile", self.logfile, "--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, cwd=self.base, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited (%r):\n%s" % (self.proc.returncode, self.log_text()))
            try:
                if self.cli("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer within 10 s:\n%s" % self.log_text())

    def stop(self):
        """Kills the server at once (SIGKILL): connections break as on a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def teardown(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def cli(self, *args):
        """Sends one command over a fresh connection; returns the decoded reply (RESP2)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            f = s.makefile("rb")
            cmds = []
            if self.password:
                cmds.append(("AUTH", self.password))
            cmds.append(args)
            for c in cmds:
                out = b"*%d\r\n" % len(c)
                for a in c:
                    a = a if isinstance(a, bytes) else str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
                s.sendall(out)
            reply = None
            for _ in cmds:
                reply = _read(f)
            return reply

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class RedisError(Exception):
    pass


def _read(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RedisError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise OSError("bad reply %r" % line)


def missing():
    if not shutil.which(REDIS_SERVER):
        return "redis-server not found (install Debian's redis-server)"
    return None


def make(password=None):
    """A started RedisServer (skips the test when redis-server is not installed)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    srv = RedisServer(password)
    try:
        srv.start()
    except Exception as e:
        srv.teardown()
        pytest.fail("could not start redis-server: %s" % e)
    return srv


@pytest.fixture(scope="session")
def redis():
    """A running Redis server for the session; a test that stops it must start it again."""
    srv = make()
    try:
        yield srv
    finally:
        srv.teardown()


@pytest.fixture(scope="session")
def redis_url(redis):
    return redis.url
