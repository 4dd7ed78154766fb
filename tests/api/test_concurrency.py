"""Many connections at once."""
import errno
import selectors
import socket
import time

from conftest import SANITIZED, SLOW

N = 300 if SANITIZED else 1000


def open_all(port, n, deadline):
    """Opens n connections (non-blocking connect), all established before any request."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", port))
        assert rc in (0, errno.EINPROGRESS), rc
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE)
    pending = n
    while pending:
        assert time.monotonic() < deadline, "%d of %d connects still pending" % (pending, n)
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            assert err == 0, "connect failed: %s" % errno.errorcode.get(err, err)
            sel.unregister(s)
            pending -= 1
    sel.close()
    return socks


def exchange_all(socks, path_of, deadline):
    """Sends one request per socket (Connection: close), reads every response to EOF."""
    sel = selectors.DefaultSelector()
    out = {}
    for i, s in enumerate(socks):
        req = ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path_of(i)).encode()
        assert s.send(req) == len(req)
        out[i] = bytearray()
        sel.register(s, selectors.EVENT_READ, i)
    open_left = len(socks)
    while open_left:
        assert time.monotonic() < deadline, "%d responses incomplete" % open_left
        for key, _ in sel.select(timeout=1):
            try:
                d = key.fileobj.recv(65536)
            except ConnectionResetError:
                d = b""
            if d:
                out[key.data] += d
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_left -= 1
    sel.close()
    return out


def test_1000_concurrent_connections_each_get_200(app):
    deadline = time.monotonic() + 30 * SLOW
    socks = open_all(app.port, N, deadline)
    try:
        out = exchange_all(socks, lambda i: "/users/%d" % i, deadline)
    finally:
        for s in socks:
            s.close()
    bad = []
    for i, raw in out.items():
        raw = bytes(raw)
        if not raw.startswith(b"HTTP/1.1 200 OK\r\n") or not raw.endswith(b"\r\n\r\nuser %d" % i):
            bad.append((i, raw[:120]))
    assert bad == [], "%d of %d failed, e.g. %r" % (len(bad), N, bad[:3])
    assert app.alive()


def test_1000_concurrent_slow_requests_overlap(app):
    # Every handler sleeps 300 ms; served one at a time this would take 300 s.
    deadline = time.monotonic() + 30 * SLOW
    socks = open_all(app.port, N, deadline)
    started = time.monotonic()
    try:
        out = exchange_all(socks, lambda i: "/slow?ms=300", deadline)
    finally:
        for s in socks:
            s.close()
    elapsed = time.monotonic() - started
    ok = sum(1 for raw in out.values() if bytes(raw).startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"slept"))
    assert ok == N, "%d of %d got 200 slept" % (ok, N)
    assert elapsed < 5 * SLOW, "1000 sleeping handlers took %.1f s: not concurrent" % elapsed
