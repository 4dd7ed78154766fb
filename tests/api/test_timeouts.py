"""Timeouts and clients that misbehave: slow, silent, or gone mid-request."""
import select
import time

import pytest

from conftest import SLOW, Conn, _finish, _start, problem, request


@pytest.fixture(scope="module")
def quick():
    """A testapp whose header, idle and body timeouts are 1 s."""
    srv = _start(
        "galley-testapp",
        ["--header-timeout", "1s", "--idle-timeout", "1s", "--body-timeout", "1s"],
    )
    yield srv
    _finish([srv])


def read_408_then_eof(c, started, what):
    resp = c.read_response()
    elapsed = time.monotonic() - started
    doc = problem(resp, 408)
    assert what in doc["detail"], doc
    assert resp.header("Connection") == "close", resp
    assert c.at_eof(), "connection still open after 408"
    assert 0.9 <= elapsed <= 1.0 + 1.5 * SLOW, "408 after %.2f s, timeout is 1 s" % elapsed


def test_partial_head_gets_408_and_close_after_the_header_timeout(quick):
    with quick.connect() as c:
        started = time.monotonic()
        c.send(b"GET /hello HTTP/1.1\r\nHo")
        read_408_then_eof(c, started, "head")


def test_connection_that_sends_nothing_is_closed_after_the_header_timeout(quick):
    with quick.connect() as c:
        started = time.monotonic()
        # Nothing sent: the server may close silently or answer 408.
        data = c.read_to_eof()
        elapsed = time.monotonic() - started
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
        # TCP_DEFER_ACCEPT (1 s) may delay the accept, and the timer starts there
        assert 0.9 <= elapsed <= 2.0 + 1.5 * SLOW, elapsed


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(quick):
    with quick.connect() as c:
        c.send(request("GET", "/hello"))
        resp = c.read_response()
        assert resp.status == 200
        started = time.monotonic()
        assert c.at_eof(timeout=1 + 2 * SLOW), "idle connection not closed"
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed <= 1 + 1.5 * SLOW, elapsed
        assert c.buf == b"", "bytes sent on an idle close: %r" % c.buf


def test_idle_connection_survives_just_under_the_idle_timeout(quick):
    with quick.connect() as c:
        for i in range(3):
            c.send(request("GET", "/users/%d" % i))
            assert c.read_response().body == b"user %d" % i
            time.sleep(0.6)


def test_stalled_body_gets_408_after_the_body_timeout(quick):
    with quick.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        read_408_then_eof(c, started, "body")


def test_stalled_chunked_body_gets_408_after_the_body_timeout(quick):
    with quick.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        started = time.monotonic()
        read_408_then_eof(c, started, "body")


def test_body_trickling_faster_than_the_body_timeout_is_accepted(quick):
    with quick.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        for ch in b"abcd":
            time.sleep(0.4)
            c.send(bytes([ch]))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"abcd")


def test_slow_client_sending_a_byte_per_100ms_is_cut_off_by_the_header_timeout(quick):
    # 60 bytes at 10/s need 6 s; the header timeout (1 s) bounds the whole head.
    req = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 30 + b"\r\n\r\n"
    with quick.connect() as c:
        started = time.monotonic()
        sent = 0
        try:
            for ch in req:
                c.send(bytes([ch]))
                sent += 1
                # wait 100 ms, or less if the server answered meanwhile
                if select.select([c.sock], [], [], 0.1)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        elapsed = time.monotonic() - started
        assert sent < len(req), "server let a 1 byte/100 ms client send its whole head"
        assert elapsed <= 1.0 + 1.5 * SLOW, elapsed
        resp = c.read_response()
        problem(resp, 408)
        assert resp.header("Connection") == "close"
    line = quick.wait_log(lambda l: l.get("msg") == "request" and l.get("status") == 408)
    assert line["status"] == 408


def test_client_that_disconnects_mid_head_leaves_the_server_healthy(app):
    for _ in range(5):
        c = app.connect()
        c.send(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Half")
        c.close()
    c = app.connect()
    c.send(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Half")
    c.reset()
    with app.connect() as c:
        c.send(request("GET", "/hello"))
        assert c.read_response().body == b"hello"
    assert app.alive()


def test_client_that_disconnects_mid_body_leaves_the_server_healthy(app):
    for reset in (False, True):
        c = app.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        time.sleep(0.05)
        c.reset() if reset else c.close()
        c = app.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\nabc")
        time.sleep(0.05)
        c.reset() if reset else c.close()
    with app.connect() as c:
        c.send(request("POST", "/echo", body=b"still here"))
        assert c.read_response().body == b"still here"
    assert app.alive()


def test_client_that_disconnects_while_its_handler_runs_leaves_the_server_healthy(app):
    for _ in range(3):
        c = app.connect()
        c.send(request("GET", "/slow?ms=200"))
        c.reset()
    time.sleep(0.4)
    with app.connect() as c:
        c.send(request("GET", "/slow?ms=10"))
        assert c.read_response().body == b"slept"
    assert app.alive()


def test_client_that_disconnects_mid_response_leaves_the_server_healthy(app):
    for path in ("/big?size=8388608", "/stream?n=200&size=65536"):
        c = Conn(app.port, rcvbuf=4096)
        c.send(request("GET", path))
        c.sock.recv(1000)
        c.reset()
    time.sleep(0.2)
    with app.connect() as c:
        c.send(request("GET", "/hello"))
        assert c.read_response().body == b"hello"
    assert app.alive()


def test_client_that_stops_reading_is_closed_after_the_write_timeout(start_server):
    srv = start_server("--write-timeout", "1s")
    size = 16 * 1024 * 1024
    c = Conn(srv.port, rcvbuf=4096)  # set before connect, so the window stays small
    c.send(request("GET", "/big?size=%d" % size))
    time.sleep(1.0 + 1.5 * SLOW)  # the server's writes stall past the write timeout
    data = c.read_to_eof()
    c.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:100]
    assert len(data) < size, "the whole response arrived; nothing stalled"
    with srv.connect() as c2:
        c2.send(request("GET", "/hello"))
        assert c2.read_response().body == b"hello"
