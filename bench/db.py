#!/usr/bin/env python3
"""bench/db.py - the TechEmpower database tests: galley on SQLite and PostgreSQL, the Node.js peer.

Usage: bench/db.py --bench BUILD/galley-bench --work DIR [--pg-url URL] [--node-dir DIR]
                   [--out-csv FILE]

run.sh calls it after starting a throw-away PostgreSQL (bench/pg.sh). For each
round (REPEAT) it measures, each server pinned to SERVER_CPU and wrk to WRK_CPU,
a WARMUP-second warm-up then `wrk -t THREADS -c CONNS -d DURATION` per test:

  sqlite   galley-bench --data DIR/sqlite (a fresh directory on disk)
  postgres galley-bench --db URL, and node-db (bench/node-db/raw.js: node:http + pg)

on /db, /queries?queries=20, /fortunes, /updates?queries=20 and
/cached-queries?count=100, after checking each answer's shape. Then the
group-commit figure on SQLite: POST /bench/insert (one INSERT per request,
answered once durable) under wrk -c CONNS, against the honest serial baseline:
one client, one transaction per insert, synchronous=FULL, WAL, on the same disk,
twice: through galley (wrk -c1) and with no HTTP at all (a loop over Python's
sqlite3 module, i.e. the C library: each INSERT its own commit and fsync).

Prints req/s, p50, p99 and server CPU per cell (medians over the rounds) and
the ratios; writes every run to --out-csv. Figures never fail it: a server that
does not start or a test whose check fails is reported as such.
"""
import argparse
import csv
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_LUA = os.path.join(HERE, "..", "..", "shared", "bench", "peers", "bench.lua")

ENV = os.environ
DURATION = int(ENV.get("DURATION", "10"))
WARMUP = int(ENV.get("WARMUP", "3"))
CONNS = int(ENV.get("CONNS", "64"))
THREADS = int(ENV.get("THREADS", "1"))
REPEAT = int(ENV.get("REPEAT", "1"))
SERVER_CPU = ENV.get("SERVER_CPU", "0")
WRK_CPU = ENV.get("WRK_CPU", "1")
POOL = int(ENV.get("DB_POOL", "8"))
QUIET_BUSY_PCT = int(ENV.get("QUIET_BUSY_PCT", "15"))
QUIET_WAIT_S = int(ENV.get("QUIET_WAIT_S", "90"))
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

TESTS = [
    ("db", "/db"),
    ("queries20", "/queries?queries=20"),
    ("fortunes", "/fortunes"),
    ("updates20", "/updates?queries=20"),
    ("cached100", "/cached-queries?count=100"),
]

# wrk's POST for the insert runs; done() prints the line bench.lua prints.
POST_LUA = r"""
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d lat_fix=0\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def free_port(start):
    for p in range(start, start + 500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


def get(port, path, method="GET", timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()
    except Exception as e:  # refused, reset, timeout
        return None, "", str(e).encode()


class Server:
    """One server process pinned to SERVER_CPU; stopped by its own PID only."""

    def __init__(self, name, cmd, port, logdir, env=None, cwd=None):
        self.name, self.port = name, port
        self.logf = open(os.path.join(logdir, f"{name}.server.log"), "ab")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=cwd)

    def wait_ready(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            if get(self.port, "/plaintext", timeout=1)[0] == 200:
                return True
            time.sleep(0.2)
        return False

    def cpu_ticks(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime, stime (all threads)
        except OSError:
            return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def wrk(port, path, conns, seconds, logfile, lua):
    cmd = ["taskset", "-c", WRK_CPU, "wrk", f"-t{min(THREADS, conns)}", f"-c{conns}",
           f"-d{seconds}s", "--timeout", "8s", "--latency", "-s", lua,
           f"http://127.0.0.1:{port}{path}"]
    if lua == BENCH_LUA:
        cmd += ["--", "1"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    except subprocess.TimeoutExpired:
        out = ""
    with open(logfile, "w") as f:
        f.write(out)
    for line in out.splitlines():
        if line.startswith("WRKRESULT"):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def all_busy():
    """Busy and total jiffies over all CPUs (as run-peers.sh reads /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)


def wait_quiet():
    """Waits (at most QUIET_WAIT_S) until the machine is used below QUIET_BUSY_PCT of a core."""
    end = time.time() + QUIET_WAIT_S
    while True:
        b0, t0 = all_busy()
        time.sleep(1)
        b1, t1 = all_busy()
        pct = 100 * NCPU * (b1 - b0) / max(t1 - t0, 1)
        if pct <= QUIET_BUSY_PCT or time.time() >= end:
            return pct


def measure(srv, path, logdir, tag, conns=None, lua=None):
    conns = conns or CONNS
    lua = lua or BENCH_LUA
    if WARMUP > 0:
        wrk(srv.port, path, conns, WARMUP, os.path.join(logdir, f"{tag}.warmup.txt"), lua)
    before = wait_quiet()
    t0, c0, (b0, j0) = time.time(), srv.cpu_ticks(), all_busy()
    r = wrk(srv.port, path, conns, DURATION, os.path.join(logdir, f"{tag}.txt"), lua)
    el, c1, (b1, j1) = time.time() - t0, srv.cpu_ticks(), all_busy()
    if r is None:
        return {"status": "wrk produced no result"}
    # everything but the server process, as % of one core: wrk, PostgreSQL and others
    machine = 100 * (b1 - b0) / HZ / el
    reqs, dur = int(r["requests"]), int(r["duration_us"])
    errs = sum(int(r[k]) for k in ("err_connect", "err_read", "err_write", "err_status",
                                   "err_timeout"))
    status = "ok" if errs == 0 else f"{errs} errors (non-2xx {r['err_status']})"
    if srv.proc.poll() is not None:
        status = "server died"
    cpu = 100 * (c1 - c0) / HZ / el
    return {"rps": reqs / (dur / 1e6) if dur else 0.0, "p50_ms": int(r["p50_us"]) / 1000,
            "p99_ms": int(r["p99_us"]) / 1000, "cpu_pct": cpu, "rest_cpu_pct": machine - cpu,
            "busy_before_pct": before, "requests": reqs, "status": status}


def check(port, path):
    """The shape TechEmpower's verifier looks at; returns "ok" or why not."""
    st, ctype, body = get(port, path)
    if st != 200:
        return f"status {st}: {body[:200]!r}"
    if path == "/fortunes":
        if not ctype.startswith("text/html") or "utf-8" not in ctype.lower():
            return f"content-type {ctype}"
        text = body.decode("utf-8", "replace")
        want = ("<tr><td>0</td><td>Additional fortune added at request time.</td></tr>",
                "&lt;script&gt;", "フレームワークのベンチマーク")
        missing = [w for w in want if w not in text]
        return f"missing {missing}" if missing else "ok"
    if not ctype.startswith("application/json"):
        return f"content-type {ctype}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    rows = doc if isinstance(doc, list) else [doc]
    want_n = 1
    if "=" in path:
        want_n = int(path.rsplit("=", 1)[1])
    if path == "/db" and isinstance(doc, list):
        return "an array for /db"
    if len(rows) != want_n:
        return f"{len(rows)} rows, want {want_n}"
    for w in rows:
        if set(w) != {"id", "randomNumber"} or not 1 <= w["id"] <= 10000:
            return f"bad row {w}"
    return "ok"


def run_server_tests(name, backend, cmd, env, logdir, rnd, rows, cwd=None, extra=None):
    port = free_port(29080)
    cmd = [c.replace("{PORT}", str(port)) for c in cmd]
    if env is not None:
        env = {k: v.replace("{PORT}", str(port)) for k, v in env.items()}
    srv = Server(f"{name}-{backend}", cmd, port, logdir, env=env, cwd=cwd)
    log(f"== {name} on {backend} (127.0.0.1:{port})")
    if not srv.wait_ready():
        srv.stop()
        log(f"FAIL {name} {backend}: did not start (see {logdir}/{name}-{backend}.server.log)")
        for test, _ in TESTS + (extra or []):
            rows.append({"round": rnd, "backend": backend, "server": name, "test": test,
                         "status": "did not start"})
        return
    try:
        for test, path in TESTS:
            row = {"round": rnd, "backend": backend, "server": name, "test": test}
            chk = check(port, path)
            if chk != "ok":
                row["status"] = f"check failed: {chk}"
                log(f"FAIL {name} {backend} {path}: {chk}")
            else:
                row.update(measure(srv, path, logdir, f"{name}.{backend}.{test}.{rnd}"))
                log(f"{name} {backend} {test} #{rnd}: {row.get('rps', 0):,.0f} req/s "
                    f"p50 {row.get('p50_ms', 0):.3f} ms p99 {row.get('p99_ms', 0):.3f} ms "
                    f"cpu {row.get('cpu_pct', 0):.0f}% [{row['status']}]")
            rows.append(row)
        for test, path, conns, lua in extra or []:
            row = {"round": rnd, "backend": backend, "server": name, "test": test}
            st = get(port, path, method="POST")[0]
            if st not in (200, 201):
                row["status"] = f"check failed: status {st}"
            else:
                row.update(measure(srv, path, logdir, f"{name}.{backend}.{test}.{rnd}",
                                   conns=conns, lua=lua))
                log(f"{name} {backend} {test} #{rnd}: {row.get('rps', 0):,.0f} inserts/s "
                    f"p50 {row.get('p50_ms', 0):.3f} ms p99 {row.get('p99_ms', 0):.3f} ms "
                    f"[{row['status']}]")
            rows.append(row)
    finally:
        srv.stop()


def serial_sqlite_inserts(path, seconds):
    """One client, one transaction (and fsync) per INSERT: WAL, synchronous=FULL."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS bench_insert (id INTEGER PRIMARY KEY, "
                "v INTEGER NOT NULL)")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        con.execute("INSERT INTO bench_insert (v) VALUES (?)", (n % 10000,))  # autocommit
        n += 1
    el = time.perf_counter() - t0
    con.close()
    return n / el


def med(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pg-url", default="")
    ap.add_argument("--node-dir", default="")
    ap.add_argument("--out-csv", default="")
    a = ap.parse_args()

    logdir = os.path.join(a.work, "logs")
    os.makedirs(logdir, exist_ok=True)
    post_lua = os.path.join(a.work, "post.lua")
    with open(post_lua, "w") as f:
        f.write(POST_LUA)
    rows = []
    bench = os.path.abspath(a.bench)
    base = [bench, "--workers", "1"]
    inserts = [("insert_c%d" % CONNS, "/bench/insert", CONNS, post_lua),
               ("insert_c1", "/bench/insert", 1, post_lua)]
    log(f"server on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}; wrk -t{THREADS} -c{CONNS} "
        f"-d{DURATION}s (warm-up {WARMUP}s); {REPEAT} round(s); PostgreSQL pool {POOL}")
    for rnd in range(1, REPEAT + 1):
        data = tempfile.mkdtemp(prefix="sqlite-", dir=a.work)
        run_server_tests("galley", "sqlite", base + ["--port", "{PORT}", "--data", data],
                         None, logdir, rnd, rows, extra=inserts)
        shutil.rmtree(data, ignore_errors=True)
        serial = tempfile.mkdtemp(prefix="serial-", dir=a.work)
        rps = serial_sqlite_inserts(os.path.join(serial, "serial.db"), DURATION)
        shutil.rmtree(serial, ignore_errors=True)
        log(f"sqlite3 serial, one commit per insert #{rnd}: {rps:,.0f} inserts/s")
        rows.append({"round": rnd, "backend": "sqlite", "server": "sqlite3-serial",
                     "test": "insert_serial", "rps": rps, "status": "ok"})
        if a.pg_url:
            run_server_tests("galley", "postgres",
                             base + ["--port", "{PORT}", "--db", a.pg_url, "--db-pool-max",
                                     str(POOL), "--db-pool-min", str(POOL)],
                             None, logdir, rnd, rows)
            if a.node_dir:
                env = dict(os.environ, DATABASE_URL=a.pg_url, PG_POOL=str(POOL),
                           NODE_ENV="production", PORT="{PORT}")
                run_server_tests("node-db", "postgres", ["node", "raw.js"], env, logdir, rnd,
                                 rows, cwd=a.node_dir)

    if a.out_csv:
        cols = ["round", "backend", "server", "test", "rps", "p50_ms", "p99_ms", "cpu_pct",
                "rest_cpu_pct", "busy_before_pct", "requests", "status"]
        with open(a.out_csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    report(rows)


def report(rows):
    cells = {}
    for r in rows:
        cells.setdefault((r["backend"], r["server"], r["test"]), []).append(r)

    def cell(backend, server, test):
        return cells.get((backend, server, test), [])

    print(f"\n{'medians over ' + str(REPEAT) + ' rounds' if REPEAT > 1 else 'one round'}; "
          f"wrk -c{CONNS}; srv CPU = the server process only; rest CPU = everything else on "
          f"the machine during the run (wrk, PostgreSQL, others), % of one core; busy before = "
          f"the machine's use just before the run")
    print("\n| test | backend | server | req/s | p50 ms | p99 ms | srv CPU % | rest CPU % "
          "| busy before % | status |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    order = [t for t, _ in TESTS] + [f"insert_c{CONNS}", "insert_c1", "insert_serial"]
    for test in order:
        for (backend, server, t), c in cells.items():
            if t != test:
                continue
            odd = sorted({r["status"] for r in c if r.get("status") != "ok"})
            print(f"| {test} | {backend} | {server} | {fmt(med(c, 'rps'), ',.0f')} "
                  f"| {fmt(med(c, 'p50_ms'), '.3f')} | {fmt(med(c, 'p99_ms'), '.3f')} "
                  f"| {fmt(med(c, 'cpu_pct'), '.0f')} | {fmt(med(c, 'rest_cpu_pct'), '.0f')} "
                  f"| {fmt(med(c, 'busy_before_pct'), '.0f')} | {'; '.join(odd) or 'ok'} |")

    print("\nRatios (req/s):")
    for test, _ in TESTS:
        g = med(cell("postgres", "galley", test), "rps")
        n = med(cell("postgres", "node-db", test), "rps")
        print(f"- {test}: galley PostgreSQL / node-db PostgreSQL = {ratio(g, n)}"
              f"   (target >= 1.5 for db and fortunes)" if test in ("db", "fortunes") else
              f"- {test}: galley PostgreSQL / node-db PostgreSQL = {ratio(g, n)}")
    for test in ("db", "queries20"):
        s = med(cell("sqlite", "galley", test), "rps")
        p = med(cell("postgres", "galley", test), "rps")
        n = med(cell("postgres", "node-db", test), "rps")
        print(f"- {test}: galley SQLite / galley PostgreSQL = {ratio(s, p)}"
              f"{'   (target >= 3 for single-row reads)' if test == 'db' else ''}; "
              f"galley SQLite / node-db PostgreSQL = {ratio(s, n)}")
    gc = med(cell("sqlite", "galley", f"insert_c{CONNS}"), "rps")
    c1 = med(cell("sqlite", "galley", "insert_c1"), "rps")
    se = med(cell("sqlite", "sqlite3-serial", "insert_serial"), "rps")
    print(f"- group commit: {fmt(gc, ',.0f')} inserts/s with {CONNS} clients; one commit per "
          f"insert, serial: {fmt(se, ',.0f')}/s in-process (sqlite3, no HTTP), "
          f"{fmt(c1, ',.0f')}/s through galley with one client")
    print(f"  group commit / serial in-process = {ratio(gc, se)}   (target >= 10); "
          f"group commit / galley one client = {ratio(gc, c1)}")


if __name__ == "__main__":
    main()
