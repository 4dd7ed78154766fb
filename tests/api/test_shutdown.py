"""Graceful stop: SIGTERM, POST /stop, and the shutdown deadline."""
import signal
import socket
import time

from conftest import SANITIZED, SLOW, Conn, Closed, request

# Time for requests just sent to reach their (sleeping) handlers; every /slow
# below sleeps well past it, so the requests are still in flight at the stop.
SETTLE = 0.6 if SANITIZED else 0.3


def wait_refused(port, within):
    """True once a new connection to port is refused, polling for `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        finally:
            s.close()
        time.sleep(0.02)
    return False


def start_in_flight(srv, path, n):
    conns = []
    for i in range(n):
        c = Conn(srv.port, timeout=10 * SLOW)
        c.send(request("GET", path, ["X-Request-Id: inflight-%d" % i]))
        conns.append(c)
    time.sleep(SETTLE)  # every handler is running (sleeping) before the stop
    return conns


def test_sigterm_lets_in_flight_requests_complete_and_refuses_new_connections(start_server):
    srv = start_server("--shutdown-timeout", "10s")
    conns = start_in_flight(srv, "/slow?ms=1500", 4)
    idle = Conn(srv.port)
    idle.send(request("GET", "/hello"))
    assert idle.read_response().status == 200
    stopped = time.monotonic()
    srv.signal(signal.SIGTERM)

    assert wait_refused(srv.port, within=1.0 * SLOW), "new connections still accepted after SIGTERM"
    assert idle.at_eof(timeout=2 * SLOW), "idle keep-alive connection not closed at the stop"

    for c in conns:
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"slept"), resp
        assert resp.header("Connection") == "close", resp
        assert c.at_eof()
        c.close()
    rc = srv.wait(3.0 * SLOW)
    elapsed = time.monotonic() - stopped
    assert rc == 0, "exit %r after SIGTERM; stderr:\n%s" % (rc, srv.stderr_text())
    assert elapsed < 1.5 + 2.0 * SLOW, elapsed
    logged = [l for l in srv.log_lines() if l.get("msg") == "request" and l.get("path") == "/slow"]
    assert sorted(l["status"] for l in logged) == [200] * 4


def test_sigint_stops_gracefully_too(start_server):
    srv = start_server()
    with srv.connect() as c:
        c.send(request("GET", "/hello"))
        assert c.read_response().status == 200
    srv.signal(signal.SIGINT)
    assert srv.wait(5 * SLOW) == 0


def test_pipelined_request_behind_an_in_flight_one_is_not_started_after_sigterm(start_server):
    srv = start_server()
    with Conn(srv.port, timeout=10 * SLOW) as c:
        c.send(request("GET", "/slow?ms=1200"))
        time.sleep(SETTLE)
        srv.signal(signal.SIGTERM)
        time.sleep(0.1)
        try:
            c.send(request("GET", "/users/5"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"slept")
        assert resp.header("Connection") == "close"
        assert c.at_eof(), "a request sent after the stop was served: %r" % c.buf
    assert srv.wait(5 * SLOW) == 0


def test_post_stop_from_a_handler_stops_the_server_gracefully(start_server):
    srv = start_server()
    slow = Conn(srv.port, timeout=10 * SLOW)
    slow.send(request("GET", "/slow?ms=1200"))
    time.sleep(SETTLE)
    with srv.connect() as c:
        c.send(request("POST", "/stop"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (202, b"stopping"), resp
        assert resp.header("Connection") == "close", resp
        assert c.at_eof()
    resp = slow.read_response()
    assert (resp.status, resp.body) == (200, b"slept")
    slow.close()
    assert srv.wait(5 * SLOW) == 0, srv.stderr_text()
    assert wait_refused(srv.port, within=1.0)


def test_shutdown_deadline_ends_long_requests_and_exits_0(start_server):
    srv = start_server("--shutdown-timeout", "500ms")
    conns = start_in_flight(srv, "/slow?ms=5000", 2)
    stopped = time.monotonic()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(2.0 * SLOW)
    elapsed = time.monotonic() - stopped
    assert rc == 0, "exit %r (None: still running) %.2f s after SIGTERM" % (rc, elapsed)
    assert elapsed >= 0.4, "exited before the deadline: %.2f s" % elapsed
    for c in conns:
        # cut off: no 200 "slept" ever arrives, the connection ends
        try:
            data = c.read_to_eof()
        except (ConnectionResetError, Closed):
            data = b""
        assert b"slept" not in data, data
        c.close()


def test_stop_with_no_connections_exits_0_quickly(start_server):
    srv = start_server()
    started = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - started < 1.0 * SLOW
    assert wait_refused(srv.port, within=0.5)
