#!/usr/bin/env python3
"""bench/records.py - the records API under load (issue 6): galley on SQLite and PostgreSQL, FastAPI.

Usage: bench/records.py [--galley BUILD/galley] [--work DIR] [--pg-url URL | --no-pg]
                        [--only galley-sqlite,galley-postgres,fastapi] [--out-csv FILE]
                        [--posts N] [--authors N] [--perf]

run.sh calls it (RECORDS=1, the default) with the throw-away PostgreSQL it started for
bench/db.py; run alone without --pg-url it starts one itself through bench/pg.sh (and
stops it at the end). For each round (REPEAT; the servers' order rotates) it sets up,
each server pinned to SERVER_CPU with one worker and wrk pinned to WRK_CPU:

  galley-sqlite    galley serve --data DIR (fresh) --workers 1 --no-access-log
  galley-postgres  galley serve --db URL --db-pool-min/max DB_POOL (the collections
                   dropped and made again each round)
  fastapi          bench/records/fastapi_app.py on uvicorn, one process, uvloop and
                   httptools (as the shared python-fastapi peer), stdlib sqlite3, WAL,
                   synchronous=FULL (galley's default)

the same data set: 1,000 authors and 100,000 posts (title, body, votes 0-99, status
draft/published, author), each with the same id on every server. Galley is seeded through
its API (POST, wrk -t1 -c CONNS, bench/records/seed.lua): the rate is printed as the
create figure of a warm-up. FastAPI's database is loaded directly with sqlite3. Then,
after checking each answer's shape, a WARMUP-second warm-up and
`wrk -t THREADS -c CONNS -d DURATION` of

  get          GET /api/v1/collections/posts/records/{id}, a random seeded id a request
  page         GET ...records?filter=status="published" && votes>50&sort=-votes
               &per_page=30&expand=author (a page of 30 of ~24,500 matches, the total
               counted, each author expanded)
  page_nototal the same with skip_total=1 (no count)
  create       POST ...records (a new post, random votes/status/author; 201s counted)

It prints req/s, p50, p99, the server's CPU and the rest of the machine's per cell
(medians over the rounds), the ratios galley/fastapi and SQLite/PostgreSQL, the issue's
targets as MET / NOT MET, and writes every run to --out-csv. Figures never fail it: a
server that does not start or a check that fails is reported as such.

Environment: REPEAT [1] DURATION [10] WARMUP [3] CONNS [64] THREADS [1] SERVER_CPU [0]
WRK_CPU [1] DB_POOL [8] QUIET_BUSY_PCT [15] QUIET_WAIT_S [90] PG_BIN PG_PORT (bench/pg.sh).
"""
import argparse
import csv
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LUA = os.path.join(HERE, "records")
PY = "/usr/bin/python3"

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

EMAIL, PASSWORD = "root@example.com", "the root of all good things"
BASE = "/api/v1/collections/posts/records"
FILTER = 'status = "published" && votes > 50'
PAGE_Q = ("?filter=" + urllib.parse.quote(FILTER, safe="") +
          "&sort=-votes&per_page=30&expand=author")
TESTS = [("get", "GET one by id"), ("page", "page of 30, filter+sort+expand, total"),
         ("page_nototal", "the same page, skip_total=1"), ("create", "create (POST)")]
SERVERS = ["galley-sqlite", "galley-postgres", "fastapi"]
RULES = {"list": "", "view": "", "create": "", "update": "", "delete": ""}
AUTHORS_DEF = {"name": "authors", "fields": [{"name": "name", "type": "text"}], "rules": RULES}
POSTS_DEF = {"name": "posts", "fields": [
    {"name": "title", "type": "text", "required": True},
    {"name": "body", "type": "text"},
    {"name": "votes", "type": "number", "integer": True},
    {"name": "status", "type": "select", "values": ["draft", "published"]},
    {"name": "author", "type": "relation", "collection": "authors"}],
    "indexes": [{"fields": ["status", "votes"]}], "rules": RULES}
RECORD_KEYS = {"id", "created", "updated", "title", "body", "votes", "status", "author"}
WORDS = ("galley records filter sort page cursor expand relation author index query "
         "sqlite postgres request answer commit group write read token field value").split()


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


def http(port, path, method="GET", body=None, token=None, timeout=10):
    """(status, parsed JSON or raw bytes) of one request; status None when it did not connect."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            st, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, raw = e.code, e.read()
    except Exception as e:  # refused, reset, timeout
        return None, str(e).encode()
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw


# ---------------------------------------------------------------------------------------
# The data set: the same ids and values on every server.
# ---------------------------------------------------------------------------------------

def make_dataset(work, nauthors, nposts):
    rnd = random.Random(6)  # issue 6: the same set every run
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

    def rid():
        return "".join(rnd.choice(alphabet) for _ in range(15))

    authors = [{"id": rid(), "name": f"Author {i}"} for i in range(1, nauthors + 1)]
    posts = []
    for i in range(1, nposts + 1):
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(12, 30)))
        posts.append({"id": rid(), "title": f"Post {i}: {rnd.choice(WORDS)} {rnd.choice(WORDS)}",
                      "body": words.capitalize() + ".", "votes": rnd.randint(0, 99),
                      "status": rnd.choice(("draft", "published")),
                      "author": rnd.choice(authors)["id"]})
    files = {}
    for name, rows in (("authors", authors), ("posts", posts)):
        files[name] = os.path.join(work, f"{name}.jsonl")
        with open(files[name], "w") as f:
            f.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        files[name + "_ids"] = os.path.join(work, f"{name}.ids")
        with open(files[name + "_ids"], "w") as f:
            f.writelines(r["id"] + "\n" for r in rows)
    match = [p for p in posts if p["status"] == "published" and p["votes"] > 50]
    match.sort(key=lambda p: (p["votes"], p["id"]), reverse=True)  # -votes, then id DESC
    return files, posts, {a["id"]: a for a in authors}, match


# ---------------------------------------------------------------------------------------
# Servers, wrk, CPU
# ---------------------------------------------------------------------------------------

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
            if http(self.port, "/health/live", timeout=1)[0] == 200:
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


def wrk(port, path, conns, seconds, logfile, script, args=(), threads=None, timeout=None):
    cmd = ["taskset", "-c", WRK_CPU, "wrk", f"-t{min(threads or THREADS, conns)}", f"-c{conns}",
           f"-d{seconds}s", "--timeout", "8s", "--latency", "-s", os.path.join(LUA, script),
           f"http://127.0.0.1:{port}{path}"]
    if args:
        cmd += ["--"] + list(args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout or seconds + 30)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
    with open(logfile, "w") as f:
        f.write(out)
    for line in out.splitlines():
        if line.startswith("WRKRESULT"):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def wrk_seed(port, bodies, path, logfile, limit=300):
    """POSTs each line of bodies once (seed.lua, wrk -t1 -c CONNS); the WRKRESULT dict or None."""
    marker = logfile + ".done"
    if os.path.exists(marker):
        os.unlink(marker)
    cmd = ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{CONNS}", f"-d{limit}s", "--timeout", "8s",
           "--latency", "-s", os.path.join(LUA, "seed.lua"), f"http://127.0.0.1:{port}/", "--",
           bodies, path, marker]
    with open(logfile, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        end = time.time() + limit + 30
        while p.poll() is None and time.time() < end:
            if os.path.exists(marker):  # all answered: interrupt wrk until it ends
                p.send_signal(signal.SIGINT)
            time.sleep(0.02)
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(logfile) as f:
        for line in f:
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


def measure(srv, path, logdir, tag, script, args=(), perf=None):
    if WARMUP > 0:
        wrk(srv.port, path, CONNS, WARMUP, os.path.join(logdir, f"{tag}.warmup.txt"), script,
            args)
    before = wait_quiet()
    prof = None
    if perf:  # perf record on the server for the middle of the run
        prof = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(srv.proc.pid),
                                 "-o", perf, "--", "sleep", str(max(1, DURATION - 2))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, c0, (b0, _) = time.time(), srv.cpu_ticks(), all_busy()
    r = wrk(srv.port, path, CONNS, DURATION, os.path.join(logdir, f"{tag}.txt"), script, args)
    el, c1, (b1, _) = time.time() - t0, srv.cpu_ticks(), all_busy()
    if prof:
        prof.wait()
    if r is None:
        return {"status": "wrk produced no result"}
    machine = 100 * (b1 - b0) / HZ / el
    cpu = 100 * (c1 - c0) / HZ / el
    reqs, dur = int(r["requests"]), int(r["duration_us"])
    errs = sum(int(r[k]) for k in ("err_connect", "err_read", "err_write", "err_status",
                                   "err_timeout"))
    status = "ok" if errs == 0 else f"{errs} errors (non-2xx {r['err_status']})"
    ok = reqs
    if script == "create.lua":  # what counts is a 201
        ok = int(r["created"])
        if int(r["other"]):
            status = f"{r['other']} answers not 201" + ("" if errs == 0 else f"; {status}")
    if srv.proc.poll() is not None:
        status = "server died"
    return {"rps": ok / (dur / 1e6) if dur else 0.0, "p50_ms": int(r["p50_us"]) / 1000,
            "p99_ms": int(r["p99_us"]) / 1000, "cpu_pct": cpu, "rest_cpu_pct": machine - cpu,
            "busy_before_pct": before, "requests": ok, "status": status}


# ---------------------------------------------------------------------------------------
# Checks of the answers' shapes
# ---------------------------------------------------------------------------------------

def check_get(port, posts):
    p = posts[len(posts) // 2]
    st, doc = http(port, f"{BASE}/{p['id']}")
    if st != 200 or not isinstance(doc, dict):
        return f"GET one: status {st}: {str(doc)[:200]}"
    if set(doc) != RECORD_KEYS:
        return f"GET one: keys {sorted(doc)}"
    if any(doc[k] != p[k] for k in ("id", "title", "body", "votes", "status", "author")):
        return f"GET one: {doc} is not {p}"
    st, doc = http(port, f"{BASE}/zzzzzzzzzzzzzzz")
    return "ok" if st == 404 else f"GET a missing id: status {st}"


def check_page(port, match, authors, skip_total):
    st, doc = http(port, BASE + PAGE_Q + ("&skip_total=1" if skip_total else ""))
    if st != 200 or not isinstance(doc, dict):
        return f"page: status {st}: {str(doc)[:200]}"
    keys = {"items", "page", "per_page", "total_items", "total_pages", "next"}
    if set(doc) != keys:
        return f"page: keys {sorted(doc)}"
    want_total = -1 if skip_total else len(match)
    want_pages = -1 if skip_total else (len(match) + 29) // 30
    if (doc["page"], doc["per_page"], doc["total_items"], doc["total_pages"]) != (
            1, 30, want_total, want_pages):
        return (f"page: page/per_page/total_items/total_pages {doc['page']}/{doc['per_page']}/"
                f"{doc['total_items']}/{doc['total_pages']}, want 1/30/{want_total}/{want_pages}")
    if not doc["next"]:
        return "page: no next cursor"
    items = doc["items"]
    if [(i.get("id"), i.get("votes")) for i in items] != [(p["id"], p["votes"])
                                                           for p in match[:30]]:
        return "page: not the 30 first matches in order -votes, -id"
    for it in items:
        if set(it) != RECORD_KEYS | {"expand"}:
            return f"page: item keys {sorted(it)}"
        a = it["expand"].get("author") if isinstance(it["expand"], dict) else None
        want = authors[it["author"]]
        if not a or a.get("id") != want["id"] or a.get("name") != want["name"]:
            return f"page: expand.author {a} for {it['author']}"
    return "ok"


def check_create(port, authors):
    body = {"title": "check", "body": "b", "votes": 7, "status": "draft",
            "author": next(iter(authors))}
    st, doc = http(port, BASE, "POST", body)
    if st != 201 or not isinstance(doc, dict):
        return f"create: status {st}: {str(doc)[:200]}"
    if set(doc) != RECORD_KEYS or len(doc["id"]) != 15 or not doc["id"].isalnum():
        return f"create: {doc}"
    if any(doc[k] != v for k, v in body.items()):
        return f"create: {doc} is not {body}"
    st, _ = http(port, BASE, "POST", dict(body, votes=1.5, zzz=1))
    if st != 422:
        return f"create of an invalid post: status {st}, want 422"
    st, _ = http(port, f"{BASE}/{doc['id']}")
    return "ok" if st == 200 else f"the created record: status {st}"


# ---------------------------------------------------------------------------------------
# One server, one round
# ---------------------------------------------------------------------------------------

def galley_admin(galley, data, pg_url, logdir, name):
    """The superuser (on PostgreSQL it may be there from an earlier round: that error is fine)."""
    where = ["--db", pg_url] if pg_url else []
    p = subprocess.run([galley, "admin", "create", EMAIL, "--data", data] + where,
                       input=PASSWORD + "\n", capture_output=True, text=True)
    with open(os.path.join(logdir, f"{name}.admin.log"), "a") as f:
        f.write(p.stdout + p.stderr)
    return (p.stdout + p.stderr).strip()[-200:]


def galley_setup(port, logdir, files, name, admin_said):
    """Collections and the data set; returns (posts/s of the seeding, error)."""
    st, doc = http(port, "/api/v1/auth/login", "POST", {"email": EMAIL, "password": PASSWORD})
    if st != 200 or "access_token" not in doc:
        return None, f"login: status {st}: {str(doc)[:200]} (admin create: {admin_said})"
    tok = doc["access_token"]
    for c in ("posts", "authors"):  # PostgreSQL outlives a round: start from nothing
        http(port, f"/api/v1/collections/{c}", "DELETE", token=tok)
    for d in (AUTHORS_DEF, POSTS_DEF):
        st, doc = http(port, "/api/v1/collections", "POST", d, token=tok)
        if st != 201:
            return None, f"POST /api/v1/collections {d['name']}: status {st}: {str(doc)[:300]}"
    rate = None
    for coll in ("authors", "posts"):
        n = sum(1 for _ in open(files[coll]))
        r = wrk_seed(port, files[coll], f"/api/v1/collections/{coll}/records",
                     os.path.join(logdir, f"{name}.seed-{coll}.txt"))
        if r is None or int(r["created"]) != n:
            return None, (f"seeding {coll}: {r and r['created']} of {n} created, "
                          f"{r and r['other']} failed (see {name}.seed-{coll}.txt)")
        rate = int(r["created"]) / (int(r["duration_us"]) / 1e6)
        log(f"{name}: seeded {n} {coll} through the API in {int(r['duration_us']) / 1e6:.2f} s: "
            f"{rate:,.0f}/s (wrk -c{CONNS})")
    return rate, None


def run_server(name, rnd, a, files, posts, authors, match, logdir, rows, pg_url):
    port = free_port(29180)
    tmp = tempfile.mkdtemp(prefix=f"{name}-", dir=a.work)
    seed_rate, err, srv = None, None, None
    try:
        if name.startswith("galley"):
            cmd = [a.galley, "serve", "--data", tmp, "--http", f"127.0.0.1:{port}",
                   "--workers", "1", "--no-access-log"]
            url = pg_url if name == "galley-postgres" else ""
            if url:
                cmd += ["--db", url, "--db-pool-min", str(POOL), "--db-pool-max", str(POOL)]
            admin_said = galley_admin(a.galley, tmp, url, logdir, name)
            srv = Server(name, cmd, port, logdir)
            if not srv.wait_ready():
                err = "did not start"
            else:
                seed_rate, err = galley_setup(port, logdir, files, name, admin_said)
        else:
            db = os.path.join(tmp, "posts.db")
            p = subprocess.run([PY, os.path.join(LUA, "fastapi_app.py"), "seed", db,
                                files["authors"], files["posts"]], capture_output=True, text=True)
            log(f"{name}: {(p.stdout + p.stderr).strip()[-300:]}")
            if p.returncode != 0:
                err = "seeding failed"
            else:
                opts = []
                for mod, opt in (("uvloop", ["--loop", "uvloop"]),
                                 ("httptools", ["--http", "httptools"])):
                    if subprocess.run([PY, "-c", f"import {mod}"],
                                      capture_output=True).returncode == 0:
                        opts += opt
                srv = Server(name, [PY, "-m", "uvicorn", "--app-dir", LUA, "fastapi_app:app",
                                    "--host", "127.0.0.1", "--port", str(port)] + opts +
                             ["--no-access-log", "--log-level", "warning"], port, logdir,
                             env=dict(os.environ, RECORDS_DB=db, PYTHONDONTWRITEBYTECODE="1"))
                if not srv.wait_ready():
                    err = "did not start"
        if err:
            log(f"FAIL {name} #{rnd}: {err} (see {logdir}/{name}.server.log)")
            for t, _ in TESTS:
                rows.append({"round": rnd, "server": name, "test": t, "status": err})
            return
        if seed_rate is not None:
            rows.append({"round": rnd, "server": name, "test": "seed", "rps": seed_rate,
                         "status": "ok"})
        ids = files["posts_ids"]
        plan = [("get", BASE, "get.lua", (ids,), lambda: check_get(port, posts)),
                ("page", BASE + PAGE_Q, "page.lua", (),
                 lambda: check_page(port, match, authors, False)),
                ("page_nototal", BASE + PAGE_Q + "&skip_total=1", "page.lua", (),
                 lambda: check_page(port, match, authors, True)),
                ("create", BASE, "create.lua", (files["authors_ids"],),
                 lambda: check_create(port, authors))]
        for test, path, script, args, chk in plan:
            row = {"round": rnd, "server": name, "test": test}
            c = chk()
            if c != "ok":
                row["status"] = f"check failed: {c}"
                log(f"FAIL {name} {test} #{rnd}: {c}")
            else:
                perf = None
                if a.perf and rnd == 1 and test in ("page", "page_nototal", "get", "create"):
                    perf = os.path.join(logdir, f"perf-{name}-{test}.data")
                row.update(measure(srv, path, logdir, f"{name}.{test}.{rnd}", script, args, perf))
                log(f"{name} {test} #{rnd}: {row.get('rps', 0):,.0f} req/s "
                    f"p50 {row.get('p50_ms', 0):.3f} ms p99 {row.get('p99_ms', 0):.3f} ms "
                    f"cpu {row.get('cpu_pct', 0):.0f}% [{row['status']}]")
                if perf:
                    perf_top(perf, f"{name} {test}")
            rows.append(row)
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def perf_top(data, what, n=25):
    p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                        "--percent-limit", "0.7", "-q", "--sort", "dso,sym"],
                       capture_output=True, text=True)
    lines = [line for line in p.stdout.splitlines() if line.strip()][:n]
    with open(data + ".txt", "w") as f:
        f.write(p.stdout)
    print(f"\nperf, {what} (self time, top {len(lines)}; all in {data}.txt):")
    for line in lines:
        print("  " + line.strip())


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def med(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}"


def report(rows, nposts, nauthors):
    cells = {}
    for r in rows:
        cells.setdefault((r["server"], r["test"]), []).append(r)

    def m(server, test, key="rps"):
        return med(cells.get((server, test), []), key)

    print(f"\nrecords: {nauthors:,} authors, {nposts:,} posts; "
          f"{'medians over ' + str(REPEAT) + ' rounds' if REPEAT > 1 else 'one round'}; "
          f"wrk -t{THREADS} -c{CONNS} -d{DURATION}s; one worker / process on CPU {SERVER_CPU}; "
          "srv CPU = the server process; rest CPU = the rest of the machine (wrk, "
          "PostgreSQL, others), % of one core")
    print("\n| test | server | req/s | p50 ms | p99 ms | srv CPU % | rest CPU % "
          "| busy before % | status |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for test, what in TESTS:
        for s in SERVERS:
            c = cells.get((s, test))
            if not c:
                continue
            odd = sorted({r["status"] for r in c if r.get("status") != "ok"})
            print(f"| {test} | {s} | {fmt(m(s, test), ',.0f')} | {fmt(m(s, test, 'p50_ms'), '.3f')} "
                  f"| {fmt(m(s, test, 'p99_ms'), '.3f')} | {fmt(m(s, test, 'cpu_pct'), '.0f')} "
                  f"| {fmt(m(s, test, 'rest_cpu_pct'), '.0f')} "
                  f"| {fmt(m(s, test, 'busy_before_pct'), '.0f')} | {'; '.join(odd) or 'ok'} |")
    print("\nRatios (req/s, same run):")
    print("\n| test | galley SQLite / FastAPI | galley PostgreSQL / FastAPI "
          "| galley SQLite / galley PostgreSQL |")
    print("|---|---:|---:|---:|")
    for test, _ in TESTS:
        gs, gp, fa = m("galley-sqlite", test), m("galley-postgres", test), m("fastapi", test)
        print(f"| {test} | {ratio(gs, fa)} | {ratio(gp, fa)} | {ratio(gs, gp)} |")
    print(f"\nSeeding through the API ({nposts:,} posts, wrk -t1 -c{CONNS}, a warm-up of "
          f"creates): galley SQLite {fmt(m('galley-sqlite', 'seed'), ',.0f')}/s, galley "
          f"PostgreSQL {fmt(m('galley-postgres', 'seed'), ',.0f')}/s")

    print("\nTargets (galley on SQLite, 100,000 records):")
    for test, goal, what in (("get", 50000, "get-by-id"),
                             ("page", 10000, "filtered sorted page of 30 + expand (with total)"),
                             ("page_nototal", 10000, "the same, skip_total=1"),
                             ("create", 20000, "creates (group commit)")):
        v = m("galley-sqlite", test)
        verdict = "NOT MEASURED" if v is None else ("MET" if v >= goal else "NOT MET")
        print(f"- {what}: {fmt(v, ',.0f')} req/s, target >= {goal:,}: {verdict}")


def start_pg(work):
    pg_dir = tempfile.mkdtemp(prefix="galley-pg-", dir=ENV.get("TMPDIR", "/tmp"))
    p = subprocess.run([os.path.join(HERE, "pg.sh"), "start", pg_dir], capture_output=True,
                       text=True)
    if p.returncode != 0:
        log(f"PostgreSQL did not start: {p.stderr.strip()[-300:]}")
        subprocess.run([os.path.join(HERE, "pg.sh"), "stop", pg_dir], capture_output=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        return None, None
    return p.stdout.strip().splitlines()[-1], pg_dir


def main():
    ap = argparse.ArgumentParser(description="the records benchmark (issue 6)")
    ap.add_argument("--galley", default=os.path.join(REPO, "build", "galley"))
    ap.add_argument("--work", default=os.path.join(REPO, "build", "recordsbench"))
    ap.add_argument("--pg-url", default="")
    ap.add_argument("--no-pg", action="store_true", help="no PostgreSQL (do not start one)")
    ap.add_argument("--only", default="", help="comma list of " + ",".join(SERVERS))
    ap.add_argument("--out-csv", default="")
    ap.add_argument("--posts", type=int, default=100000)
    ap.add_argument("--authors", type=int, default=1000)
    ap.add_argument("--perf", action="store_true",
                    help="perf record galley on SQLite during each test of round 1")
    a = ap.parse_args()
    a.galley = os.path.abspath(a.galley)
    a.work = os.path.abspath(a.work)
    servers = [s for s in SERVERS if not a.only or s in a.only.split(",")]

    shutil.rmtree(a.work, ignore_errors=True)
    logdir = os.path.join(a.work, "logs")
    os.makedirs(logdir, exist_ok=True)
    if not os.access(a.galley, os.X_OK):
        sys.exit(f"records.py: no {a.galley} (build it first)")
    if "fastapi" in servers and subprocess.run([PY, "-c", "import fastapi, uvicorn"],
                                               capture_output=True).returncode != 0:
        log("no FastAPI peer: python3-fastapi / python3-uvicorn not importable by " + PY +
            " (scripts/bootstrap --bench installs them)")
        servers.remove("fastapi")
    pg_url, pg_dir = a.pg_url, None
    if "galley-postgres" in servers and not pg_url and not a.no_pg:
        pg_url, pg_dir = start_pg(a.work)
    if not pg_url and "galley-postgres" in servers:
        servers.remove("galley-postgres")
    if pg_url:
        log(f"PostgreSQL at {pg_url.rsplit('@', 1)[-1]}")

    t0 = time.time()
    files, posts, authors, match = make_dataset(a.work, a.authors, a.posts)
    log(f"data set: {a.authors} authors, {a.posts} posts ({len(match)} match the filter) in "
        f"{time.time() - t0:.1f} s; server on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}; "
        f"wrk -t{THREADS} -c{CONNS} -d{DURATION}s (warm-up {WARMUP}s); {REPEAT} round(s)")
    rows = []
    try:
        for rnd in range(1, REPEAT + 1):
            k = (rnd - 1) % len(servers)
            for name in servers[k:] + servers[:k]:
                log(f"== {name}, round {rnd}")
                run_server(name, rnd, a, files, posts, authors, match, logdir, rows, pg_url)
    finally:
        if pg_dir:
            subprocess.run([os.path.join(HERE, "pg.sh"), "stop", pg_dir], capture_output=True)
            shutil.rmtree(pg_dir, ignore_errors=True)
    if a.out_csv:
        cols = ["round", "server", "test", "rps", "p50_ms", "p99_ms", "cpu_pct",
                "rest_cpu_pct", "busy_before_pct", "requests", "status"]
        os.makedirs(os.path.dirname(os.path.abspath(a.out_csv)), exist_ok=True)
        with open(a.out_csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        log(f"CSV: {a.out_csv}")
    report(rows, a.posts, a.authors)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
