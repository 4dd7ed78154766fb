#!/usr/bin/env bash
# bench/run.sh - galley against the reference servers, in one run (what `make bench` runs).
#
# Usage: bench/run.sh [BUILD_DIR]        (default: build; galley-bench must be built there)
#
# Runs ../shared/bench/peers/run-peers.sh (wrk, server on CPU 0, wrk on CPU 1)
# with galley-bench added as the peer "galley" (--workers 1), so galley is
# measured in the same run and with the same settings as nginx, h2o, node,
# go and fastapi. Then prints, per endpoint and mode, galley against each
# peer: req/s, p50, p99, server CPU, requests per server CPU-second and the
# ratios galley/peer. Then bench/idle_conns.py measures the RSS of 10,000
# idle keep-alive connections. Last, the TechEmpower database tests
# (bench/db.py): galley-bench on SQLite (a fresh --data directory) and on a
# throw-away PostgreSQL that bench/pg.sh starts on loopback and stops at the
# end, against the Node.js peer bench/node-db/raw.js (node:http + pg) on the
# same PostgreSQL (the peers of ../shared/bench implement only plaintext and
# json), and the group-commit figure (inserts/s, 64 clients against one).
#
# Environment (passed through to run-peers.sh; its defaults in brackets):
#   REPEAT [1]      rounds; use REPEAT=3 for figures worth quoting (medians)
#   DURATION [10]   WARMUP [3]   CONNS [64]   THREADS [1]   PIPE_DEPTH [16]
#   PIPELINE [1]    SERVER_CPU [0]   WRK_CPU [1]   BASE_PORT [28080]
#   QUIET_BUSY_PCT [15]   QUIET_WAIT_S [90]
#   ONLY            comma-separated peers (--only); galley is always added
#   NO_INSTALL=1    do not apt-get / npm install (--no-install)
#   IDLE_CONNS [10000]  connections for idle_conns.py (0 skips it)
#   HTTP [1]        0 skips the plaintext/json run (run-peers.sh) and idle_conns.py
#   AUTH [1]        0 skips bench/auth.sh (GET /api/v1/auth/me vs /json; a login storm)
#   DB [1]          0 skips the database tests; DB_POOL [8] PostgreSQL connections
#                   of galley (--db-pool-min/max) and of the Node peer (one worker each)
#   PG_BIN [/usr/lib/postgresql/15/bin]   PG_PORT [25432] first port tried
#   RECORDS [1]     0 skips bench/records.py (the records API: galley on SQLite and
#                   PostgreSQL against FastAPI; on the database tests' PostgreSQL)
#
# Output: $BUILD/peers/results-<UTC time>.csv and .md (every number), wrk
# outputs and server logs in $BUILD/peers/logs/, the run's log in
# $BUILD/peers/run-<UTC time>.log; the database runs in
# $BUILD/peers/db-results-<UTC time>.csv, their wrk outputs and server logs in
# $BUILD/dbbench/logs/.
#
# Exits non-zero only when the benchmark cannot be set up (no run-peers.sh, no
# galley-bench, no results); figures, however bad, never fail it.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$REPO/$BUILD" ;; esac
PY=/usr/bin/python3
PEERS_SCRIPT="$REPO/../shared/bench/peers/run-peers.sh"
BENCH_BIN="$BUILD/galley-bench"

die() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

[ -f "$PEERS_SCRIPT" ] ||
    die "missing $PEERS_SCRIPT (the shared peers benchmark; the repository must sit beside shared/)"
[ -x "$BENCH_BIN" ] || die "missing $BENCH_BIN (build it: cmake --build $BUILD --target galley-bench)"
[ -x "$PY" ] || die "missing $PY"

export PEERS_BUILD="$BUILD/peers"
mkdir -p "$PEERS_BUILD" || die "cannot create $PEERS_BUILD"
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
export OUT_CSV="$PEERS_BUILD/results-$STAMP.csv"
export OUT_MD="$PEERS_BUILD/results-$STAMP.md"
RUN_LOG="$PEERS_BUILD/run-$STAMP.log"
export REPEAT="${REPEAT:-1}"
EXTRA_VERSION="galley"
[ -x "$BUILD/galley" ] && EXTRA_VERSION="$("$BUILD/galley" version 2>/dev/null || echo galley)"
export EXTRA_VERSION

http_bench() {
args=(--extra "galley=$BENCH_BIN --port {PORT} --workers 1")
if [ -n "${ONLY:-}" ]; then
    case ",$ONLY," in *,galley,*) ;; *) ONLY="$ONLY,galley" ;; esac
    args+=(--only "$ONLY")
fi
[ "${NO_INSTALL:-0}" = 1 ] && args+=(--no-install)

echo "== run-peers.sh ${args[*]} (REPEAT=$REPEAT; log: $RUN_LOG)"
bash "$PEERS_SCRIPT" "${args[@]}" 2>&1 | tee "$RUN_LOG"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || die "run-peers.sh failed with status $rc (see $RUN_LOG)"
[ -s "$OUT_CSV" ] || die "run-peers.sh wrote no $OUT_CSV"

echo
echo "== galley against each peer ($OUT_CSV)"
"$PY" - "$OUT_CSV" "$RUN_LOG" <<'EOF'
import csv, statistics, sys

csv_path, log_path = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(csv_path)))
MODES = [("plaintext", "keepalive"), ("json", "keepalive")]
MODES += sorted({(r["endpoint"], r["mode"]) for r in rows if r["mode"].startswith("pipeline")})

def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None

def med(group, k):
    vals = [v for v in (num(r, k) for r in group) if v is not None]
    return statistics.median(vals) if vals else None

def fmt(v, spec):
    return "—" if v is None else format(v, spec)

def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}"

peers, cells, notes = [], {}, []
for r in rows:
    if r["peer"] not in peers:
        peers.append(r["peer"])
    if r["rps"]:
        cells.setdefault((r["peer"], r["endpoint"], r["mode"]), []).append(r)
    elif r["peer"] == "galley" or not r["endpoint"]:
        where = f" {r['endpoint']} {r['mode']}" if r["endpoint"] else ""
        notes.append(f"{r['peer']}{where}: {r['status']}")
peers = ["galley"] + [p for p in peers if p != "galley"]
nrounds = max([int(r["rep"]) for r in rows if r["rep"]] or [1])

print(f"{'medians over ' + str(nrounds) + ' rounds' if nrounds > 1 else 'one round'}; "
      "req/CPU-s = requests per second of server CPU time (rps_per_server_core); "
      "ratios are galley/peer (above 1: galley ahead)")
for ep, mode in MODES:
    g = cells.get(("galley", ep, mode), [])
    g_rps, g_eff = med(g, "rps"), med(g, "rps_per_server_core")
    print()
    print(f"### {ep} {mode}")
    print()
    print("| server | n | req/s | p50 ms | p99 ms | srv CPU % | req/CPU-s | galley/peer req/s | galley/peer req/CPU-s | status |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for p in peers:
        c = cells.get((p, ep, mode), [])
        if not c:
            continue
        rps, eff = med(c, "rps"), med(c, "rps_per_server_core")
        odd = sorted({r["status"] for r in c if r["status"] != "ok"})
        print(f"| {p} | {len(c)} | {fmt(rps, ',.0f')} | {fmt(med(c, 'p50_ms'), '.3f')} "
              f"| {fmt(med(c, 'p99_ms'), '.3f')} | {fmt(med(c, 'server_cpu_pct'), '.0f')} "
              f"| {fmt(eff, ',.0f')} | {'' if p == 'galley' else ratio(g_rps, rps)} "
              f"| {'' if p == 'galley' else ratio(g_eff, eff)} | {'; '.join(odd) or 'ok'} |")
    if not g:
        notes.append(f"galley {ep} {mode}: no result")

# what run-peers.sh said about galley that the CSV does not hold (a failed pipelining check)
for line in open(log_path, errors="replace"):
    if "galley" in line and ("fail" in line.lower() or "SKIP" in line):
        notes.append(line.strip())
if notes:
    print()
    print("Not measured / failed:")
    for n in dict.fromkeys(notes):
        print(f"- {n}")
EOF
[ $? = 0 ] || echo "bench/run.sh: could not summarize $OUT_CSV" >&2

if [ "${IDLE_CONNS:-10000}" != 0 ]; then
    echo
    echo "== idle keep-alive connections (bench/idle_conns.py)"
    "$PY" "$REPO/bench/idle_conns.py" --conns "${IDLE_CONNS:-10000}" "$BENCH_BIN" ||
        echo "idle_conns.py: no figure (see above)"
fi
}

# The database tests: SQLite, a throw-away PostgreSQL, the Node.js peer on it.
PG_DIR=""
stop_pg() {
    if [ -n "$PG_DIR" ]; then
        "$REPO/bench/pg.sh" stop "$PG_DIR" || echo "bench/run.sh: could not stop PostgreSQL in $PG_DIR" >&2
        rm -rf "$PG_DIR"
        PG_DIR=""
    fi
}
db_bench() {
    local work="$BUILD/dbbench" url="" node_dir="$BUILD/node-db" dbargs=()
    rm -rf "$work"
    mkdir -p "$work" || die "cannot create $work"
    echo
    echo "== database tests (bench/db.py; log: $PEERS_BUILD/db-run-$STAMP.log)"
    # the Node.js peer: pg from npm, locked by bench/node-db/package-lock.json
    if command -v node >/dev/null && command -v npm >/dev/null; then
        mkdir -p "$node_dir"
        cp "$REPO"/bench/node-db/raw.js "$REPO"/bench/node-db/package.json \
            "$REPO"/bench/node-db/package-lock.json "$node_dir/"
        if [ "${NO_INSTALL:-0}" != 1 ] && { [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
            [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; }; then
            (cd "$node_dir" && npm ci --no-audit --no-fund >"$work/npm-ci.log" 2>&1) ||
                echo "bench/run.sh: npm ci for node-db failed (see $work/npm-ci.log)"
        fi
        [ -f "$node_dir/node_modules/pg/package.json" ] && dbargs+=(--node-dir "$node_dir")
    fi
    [ ${#dbargs[@]} = 0 ] && echo "bench/run.sh: no Node.js peer for the database tests (node or pg missing)"
    # PostgreSQL in a temp directory the postgres user can reach, on loopback
    if [ "${NO_INSTALL:-0}" = 1 ] && [ ! -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" ]; then
        echo "bench/run.sh: no PostgreSQL (NO_INSTALL=1); SQLite only"
    else
        PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/galley-pg.XXXXXX")"
        trap 'stop_pg' EXIT
        if url="$("$REPO/bench/pg.sh" start "$PG_DIR")"; then
            echo "PostgreSQL $("${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" --version | awk '{print $3}') at ${url##*@}"
            dbargs+=(--pg-url "$url")
        else
            echo "bench/run.sh: PostgreSQL did not start; SQLite only"
            stop_pg
        fi
    fi
    "$PY" "$REPO/bench/db.py" --bench "$BENCH_BIN" --work "$work" \
        --out-csv "$PEERS_BUILD/db-results-$STAMP.csv" "${dbargs[@]}" 2>&1 |
        tee "$PEERS_BUILD/db-run-$STAMP.log"
    [ "${PIPESTATUS[0]}" = 0 ] || echo "bench/run.sh: bench/db.py failed (see above)" >&2
    [ "${RECORDS:-1}" = 0 ] || records_bench "$url"
    stop_pg
    trap - EXIT
}

# The records API (issue 6); with no URL (DB=0) records.py starts its own PostgreSQL
records_bench() {
    local pg=(--no-pg)
    [ -n "$1" ] && pg=(--pg-url "$1")
    [ -z "$1" ] && [ "${DB:-1}" = 0 ] && { [ "${NO_INSTALL:-0}" != 1 ] ||
        [ -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" ]; } && pg=()
    echo
    echo "== records API (bench/records.py; log: $PEERS_BUILD/records-run-$STAMP.log)"
    "$PY" "$REPO/bench/records.py" --galley "$BUILD/galley" --work "$BUILD/recordsbench" \
        --out-csv "$PEERS_BUILD/records-results-$STAMP.csv" "${pg[@]}" 2>&1 |
        tee "$PEERS_BUILD/records-run-$STAMP.log"
    [ "${PIPESTATUS[0]}" = 0 ] || echo "bench/run.sh: bench/records.py failed (see above)" >&2
}

[ "${HTTP:-1}" = 0 ] || http_bench
[ "${DB:-1}" = 0 ] || db_bench
[ "${DB:-1}" != 0 ] || [ "${RECORDS:-1}" = 0 ] || records_bench ""
# the auth figures: /api/v1/auth/me against /json, and /health/live during a login storm
[ "${AUTH:-1}" = 0 ] || bash "$REPO/bench/auth.sh" "$BUILD"
exit 0
