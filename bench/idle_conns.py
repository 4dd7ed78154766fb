#!/usr/bin/python3
"""Memory cost of idle keep-alive connections.

Starts the server (galley-bench, or `galley serve` when given the galley
binary) with --workers 1 on a free loopback port, reads its VmRSS, opens N
keep-alive connections (default 10,000) that each send one GET /plaintext and
read the whole response (`galley serve`: GET /health/live) - so each is a real, served keep-alive connection -
leaves them idle for a second, reads VmRSS again and prints

    idle keep-alive connections: N, RSS before X KiB, after Y KiB, per connection Z bytes

One warm-up request on its own connection runs before the first reading, so
what the first request of a process allocates once (the output buffer, the
first coroutine stack) is not charged to the connections. The server is
stopped with SIGTERM at the end.

Usage: idle_conns.py [--conns N] [--path P] [BINARY]   (BINARY default: build/galley-bench)
Stdlib only; loopback only. Exit status 0 when the figure was measured, 1 on a
set-up failure (server did not start, connections failed).
"""

import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
MAX_CONNECTING = 256  # connects in flight at once, well inside the listen backlog


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < need:
        sys.exit(f"idle_conns: RLIMIT_NOFILE is {soft}, {need} needed (raise the hard limit)")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def complete(buf):
    """True once buf holds a whole response (head plus Content-Length body)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(buf) >= end + 4 + length


def one_request(port, request):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(request)
        buf = b""
        while not complete(buf):
            d = s.recv(4096)
            if not d:
                break
            buf += d
        return buf.startswith(b"HTTP/1.1 200") and complete(buf)


def open_served(port, request, n, deadline_s=60):
    """Opens n connections, each served one request. Returns (sockets, failures)."""
    sel = selectors.DefaultSelector()
    done, failed = [], 0
    bufs = {}
    started = in_flight = 0
    deadline = time.monotonic() + deadline_s

    def fail(s):
        nonlocal failed, in_flight
        sel.unregister(s)
        s.close()
        failed += 1
        in_flight -= 1

    while len(done) + failed < n:
        while started < n and in_flight < MAX_CONNECTING:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                started += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, "connect")
            started += 1
            in_flight += 1
        if time.monotonic() > deadline:
            break
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if key.data == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    fail(s)
                    continue
                try:
                    s.send(request)  # a few dozen bytes: always fit an empty send buffer
                except OSError:
                    fail(s)
                    continue
                bufs[s] = b""
                sel.modify(s, selectors.EVENT_READ, "read")
            else:
                try:
                    d = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    bufs.pop(s, None)
                    fail(s)
                    continue
                bufs[s] += d
                if complete(bufs[s]):
                    ok = bufs.pop(s).startswith(b"HTTP/1.1 200")
                    sel.unregister(s)
                    in_flight -= 1
                    if ok:
                        done.append(s)
                    else:
                        s.close()
                        failed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    sel.close()
    return done, failed


def still_open(socks):
    """Counts connections the server has not closed (an idle one is not readable)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    readable = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - readable


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "galley-bench"))
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--path", help="path each connection requests "
                    "(default /plaintext; /health/live for the galley binary)")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"idle_conns: {binary} is not an executable (build galley-bench first)")
    # both this process and the server (which inherits the limit) hold one fd per connection
    raise_nofile(args.conns + 64)

    port = free_port()
    cmd = [binary]
    path = args.path or "/plaintext"
    if os.path.basename(binary) == "galley":
        cmd.append("serve")
        path = args.path or "/health/live"
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    cmd += ["--http", f"{HOST}:{port}", "--workers", "1", "--no-access-log"]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    socks = []
    rc = 1
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with status {proc.returncode}")
            try:
                if one_request(port, request):  # the warm-up request
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > 10:
                raise RuntimeError(f"server did not answer GET {path} with 200 within 10 s")
            time.sleep(0.05)
        time.sleep(0.2)
        before = vmrss_kib(proc.pid)

        t1 = time.monotonic()
        socks, failed = open_served(port, request, args.conns)
        took = time.monotonic() - t1
        if failed:
            raise RuntimeError(f"{failed} of {args.conns} connections failed "
                               f"({len(socks)} served)")
        time.sleep(1.0)
        after = vmrss_kib(proc.pid)
        open_now = still_open(socks)

        per_conn = (after - before) * 1024 / len(socks)
        print(f"idle keep-alive connections: {len(socks)}, RSS before {before} KiB, "
              f"after {after} KiB, per connection {per_conn:.0f} bytes")
        note = f"(opened and served in {took:.1f} s"
        if open_now != len(socks):
            note += f"; {len(socks) - open_now} closed by the server during the idle second"
        print(note + ")")
        rc = 0
    except RuntimeError as e:
        log.seek(0)
        tail = log.read()[-2000:].decode(errors="replace")
        print(f"idle_conns: {e}", file=sys.stderr)
        if tail:
            print(f"server output (tail):\n{tail}", file=sys.stderr)
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
