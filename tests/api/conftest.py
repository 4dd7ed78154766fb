"""
tests/api/conftest.py - black-box harness: start the built binaries on port 0,
talk raw HTTP/1.1 over sockets, parse responses strictly.

GALLEY_BUILD     build directory holding galley and galley-testapp (/work/main/build)
GALLEY_SANITIZED 1 when the binaries are ASan/UBSan builds: longer timeouts,
                 fewer connections, and every server's stderr is checked for
                 sanitizer reports at teardown.
"""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from pgserver import pg, pg_url  # noqa: F401 - the PostgreSQL fixtures, for every test module
from redisserver import redis, redis_url  # noqa: F401 - the Redis fixtures, likewise

BUILD = os.environ.get("GALLEY_BUILD", "/work/main/build")
SANITIZED = os.environ.get("GALLEY_SANITIZED") == "1"
# Multiplier for waits that depend on the server's speed (never for the
# timeouts the server is configured with).
SLOW = 4.0 if SANITIZED else 1.0
IO_TIMEOUT = 5.0 * SLOW
START_TIMEOUT = 10.0 * (2 if SANITIZED else 1)

LISTENING = re.compile(r"galley listening on http://\S+ \(port (\d+), (\d+) workers?\)")
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer")


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        pytest.fail("binary %s not found; build first (GALLEY_BUILD=%s)" % (path, BUILD))
    return path


def sanitizer_env(env):
    env = dict(env)
    if SANITIZED:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


class Server:
    """A running galley binary; stderr goes to a file in its temp cwd."""

    def __init__(self, argv, env, cwd):
        self.argv = argv
        self.cwd = cwd
        self.stderr_path = os.path.join(cwd, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.port = None
        self.workers = None
        self.returncode = None

    def wait_listening(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTENING.search(self.stderr_text())
            if m:
                self.port, self.workers = int(m.group(1)), int(m.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.kill()
        pytest.fail(
            "server %r did not log its listening line within %.0f s (exit %r); stderr:\n%s"
            % (self.argv, timeout, self.proc.returncode, self.stderr_text())
        )

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        """Every stderr line that parses as a JSON object."""
        out = []
        for line in self.stderr_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def wait_log(self, pred, timeout=2.0 * SLOW):
        """Returns the first log line for which pred(line) is true, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                if pred(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(
                    "no matching log line within %.1f s; stderr:\n%s" % (timeout, self.stderr_text())
                )
            time.sleep(0.02)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code, or None if still running after timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=10.0 * SLOW):
        """SIGTERM, then wait (bounded). Returns the exit code (None: did not exit)."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def connect(self, timeout=IO_TIMEOUT):
        return Conn(self.port, timeout)

    def close(self):
        """Teardown: stop gracefully (so LeakSanitizer runs), kill if stuck."""
        if self.proc.poll() is None:
            self.stop(timeout=10.0 * SLOW)
        self.kill()
        self._stderr.close()

    def sanitizer_reports(self):
        return [l for l in self.stderr_text().splitlines() if SANITIZER_REPORT.search(l)]


def _start(binary_name, args, env=None, workers=2, wait=True):
    cwd = tempfile.mkdtemp(prefix="galley-api-")
    argv = [binary(binary_name)]
    if binary_name == "galley":
        argv.append("serve")
    argv += ["--http", "127.0.0.1:0"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    argv += list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GALLEY_")}
    full_env.update(env or {})
    srv = Server(argv, sanitizer_env(full_env), cwd)
    if wait:
        srv.wait_listening()
    return srv


def _finish(servers):
    problems = []
    for srv in servers:
        srv.close()
        if SANITIZED:
            reports = srv.sanitizer_reports()
            if reports:
                problems.append("%r:\n%s\n--- stderr ---\n%s" % (srv.argv, "\n".join(reports), srv.stderr_text()))
    if problems:
        pytest.fail("sanitizer reports at teardown:\n" + "\n\n".join(problems))


@pytest.fixture
def start_server():
    """Factory: start_server(*args, binary="galley-testapp", env=None, workers=2) -> Server."""
    servers = []

    def start(*args, binary="galley-testapp", env=None, workers=2, wait=True):
        srv = _start(binary, args, env=env, workers=workers, wait=wait)
        servers.append(srv)
        return srv

    yield start
    _finish(servers)


@pytest.fixture(scope="module")
def app():
    """One galley-testapp per test module, default settings, 2 workers."""
    srv = _start("galley-testapp", [])
    yield srv
    _finish([srv])


# --------------------------------------------------------------------------
# Raw HTTP client
# --------------------------------------------------------------------------


class Response:
    def __init__(self, version, status, reason, headers, body, raw, chunks=None, trailers=None):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as sent
        self.body = body
        self.raw = raw  # the exact bytes of this response on the wire
        self.chunks = chunks  # [(size_line, data)] for a chunked body
        self.trailers = trailers

    def all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def header(self, name):
        """The single value of name, or None; fails if the field repeats."""
        vals = self.all(name)
        assert len(vals) <= 1, "field %s repeated: %r" % (name, vals)
        return vals[0] if vals else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r headers=%r body=%r>" % (self.status, self.reason, self.headers, self.body[:200])


class Closed(Exception):
    pass


class Conn:
    """A client connection with a read buffer, so pipelined responses parse in turn."""

    def __init__(self, port, timeout=IO_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Closes with an RST (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise Closed("connection closed by the server; unparsed bytes %r" % self.buf[:300])
        self.buf += d

    def read_until(self, delim):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out, self.buf = self.buf[: i + len(delim)], self.buf[i + len(delim) :]
                return out
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        while True:
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                d = b""
            if not d:
                out, self.buf = self.buf, b""
                return out
            self.buf += d

    def at_eof(self, timeout=IO_TIMEOUT):
        """True when the server closes (FIN or RST) within timeout with no further bytes."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            if self.buf:
                return False
            d = self.sock.recv(65536)
            if d:
                self.buf += d
                return False
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)

    def read_response(self, head=False):
        """Parses one response strictly (CRLF only). head=True: a response to HEAD."""
        raw_head = self.read_until(b"\r\n\r\n")
        lines = raw_head[:-4].split(b"\r\n")
        for line in lines:
            assert b"\n" not in line and b"\r" not in line, "bare CR/LF in response head %r" % raw_head
        m = re.fullmatch(rb"(HTTP/1\.[01]) (\d{3}) (.*)", lines[0])
        assert m, "bad status line %r" % lines[0]
        version, status, reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin1")
        headers = []
        for line in lines[1:]:
            m2 = re.fullmatch(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*", line)
            assert m2, "bad header line %r" % line
            headers.append((m2.group(1).decode("latin1"), m2.group(2).decode("latin1")))
        resp = Response(version, status, reason, headers, b"", raw_head)
        if 100 <= status < 200 or status in (204, 304) or head:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        raw = raw_head
        if te is not None:
            assert te.lower() == "chunked", "unexpected Transfer-Encoding %r" % te
            assert cl is None, "both Transfer-Encoding and Content-Length in %r" % raw_head
            body, chunks = b"", []
            while True:
                size_line = self.read_until(b"\r\n")
                raw += size_line
                m3 = re.fullmatch(rb"([0-9A-Fa-f]+)\r\n", size_line)
                assert m3, "bad chunk size line %r" % size_line
                size = int(m3.group(1), 16)
                if size == 0:
                    break
                data = self.read_exact(size + 2)
                raw += data
                assert data[-2:] == b"\r\n", "chunk not followed by CRLF: %r" % data[-10:]
                chunks.append((size_line, data[:-2]))
                body += data[:-2]
            trailers = b""
            while True:
                line = self.read_until(b"\r\n")
                raw += line
                if line == b"\r\n":
                    break
                trailers += line
            resp.body, resp.chunks, resp.trailers, resp.raw = body, chunks, trailers, raw
        elif cl is not None:
            assert re.fullmatch(r"[0-9]+", cl), "bad Content-Length %r" % cl
            resp.body = self.read_exact(int(cl))
            resp.raw = raw + resp.body
        else:
            resp.body = self.read_to_eof()
            resp.raw = raw + resp.body
        return resp


def request(method, target, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    """Builds request bytes. headers: iterable of (name, value) or 'Name: value' strings."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    for h in headers:
        lines.append(h if isinstance(h, str) else "%s: %s" % h)
    if body and not any(
        (h if isinstance(h, str) else h[0]).lower().startswith(("content-length", "transfer-encoding"))
        for h in headers
    ):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


def exchange(srv, data, head=False, timeout=IO_TIMEOUT):
    """One connection: send data, read one response, return (response, conn)."""
    c = Conn(srv.port, timeout)
    c.send(data)
    return c.read_response(head=head), c


def problem(resp, status):
    """Asserts resp is an RFC 9457 problem+json with status; returns the parsed body."""
    assert resp.status == status, resp
    assert resp.header("Content-Type") == "application/problem+json", resp
    doc = resp.json()
    assert doc["status"] == status, doc
    assert isinstance(doc["title"], str) and doc["title"], doc
    assert isinstance(doc["type"], str) and doc["type"], doc
    assert isinstance(doc["detail"], str) and doc["detail"], doc
    return doc


def assert_rejected(srv, data, status):
    """data gets one problem+json response with status and Connection: close, then EOF."""
    c = Conn(srv.port)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = c.read_response()
    problem(resp, status)
    assert resp.header("Connection") == "close", resp
    assert c.at_eof(), "connection still open after %d: %r" % (status, c.buf[:200])
    c.close()
    return resp


# ---- the database suites (test_db.py, test_pg.py, test_users_api.py) ------------------------


def call(srv, method, path, body=None, timeout=10 * SLOW, headers=None):
    """One request on a fresh connection (http.client); body is sent as JSON.

    Returns (status, document, response): the document is parsed JSON when the
    response says json, else the raw bytes."""
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    raw = r.read()
    c.close()
    doc = json.loads(raw) if raw and "json" in (r.getheader("Content-Type") or "") else raw
    return r.status, doc, r


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    return request.param


@pytest.fixture
def db_args(backend, request, tmp_path):
    """Settings that give a server a fresh, empty database of the backend."""
    if backend == "sqlite":
        return ["--data", str(tmp_path / "data")]
    return ["--db", request.getfixturevalue("pg").fresh_db()]


def galley(*args, stdin="", cwd=None):
    """Runs the galley command (no GALLEY_* from the environment); returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLEY_")}
    return subprocess.run([binary("galley")] + list(args), input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


@pytest.fixture
def args(backend, request, tmp_path):
    """Settings of a fresh database of the backend, with a data directory (the token key)."""
    a = ["--data", str(tmp_path / "data")]
    if backend == "postgres":
        a += ["--db", request.getfixturevalue("pg").fresh_db()]
    return a
