#!/usr/bin/env bash
# bench/auth.sh - the issue-5 auth figures (part of `make bench` via bench/run.sh, AUTH=0 skips).
#
# Usage: bench/auth.sh [BUILD_DIR]      (default: build)
#
# 1. GET /api/v1/auth/me with a JWT against the unauthenticated /json, in the same
#    galley-bench process (SQLite in a temporary --data), wrk -t1 -c64 pinned like the
#    peer runs (server on CPU 0, wrk on CPU 1), ROUNDS alternating rounds of DURATION.
# 2. A login storm: galley serve (2 workers, default settings) under wrk -c32 on
#    POST /api/v1/auth/login (argon2id), and meanwhile wrk -c4 on /health/live: its p99.
# Prints figures; never fails on them.
set -uo pipefail
BUILD="${1:-build}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
PORT_BENCH="${PORT_BENCH:-28190}"
PORT_SERVE="${PORT_SERVE:-28191}"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
body='{"email":"bench@example.com","password":"correct horse battery staple"}'
login_lua="$work/login.lua"
cat > "$login_lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
wait_port() { for _ in $(seq 100); do curl -s "http://127.0.0.1:$1/health/live" >/dev/null && return 0; sleep 0.1; done; return 1; }
rps() { awk '/Requests\/sec/ {print $2}'; }

echo "== GET /api/v1/auth/me (JWT) against /json, galley-bench, SQLite"
taskset -c 0 "$BUILD/galley-bench" --http "127.0.0.1:$PORT_BENCH" --workers 1 --data "$work/bench" \
    2>"$work/bench.log" &
pids+=($!)
wait_port "$PORT_BENCH" || { echo "galley-bench did not start"; exit 1; }
curl -s -o /dev/null -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$PORT_BENCH/api/v1/auth/register"
token=$(curl -s -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$PORT_BENCH/api/v1/auth/login" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
json_all=() me_all=()
for r in $(seq "$ROUNDS"); do
    j=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT_BENCH/json" | rps)
    m=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$PORT_BENCH/api/v1/auth/me" | rps)
    printf '  round %d: /json %s req/s, /api/v1/auth/me %s req/s\n' "$r" "$j" "$m"
    json_all+=("$j") me_all+=("$m")
done
/usr/bin/python3 - "${json_all[*]}" "${me_all[*]}" <<'PY'
import statistics, sys
j = [float(x) for x in sys.argv[1].split()]
m = [float(x) for x in sys.argv[2].split()]
print("  medians: /json %.0f, /me %.0f req/s; /me / /json = %.2f (target >= 0.80)"
      % (statistics.median(j), statistics.median(m), statistics.median(m) / statistics.median(j)))
PY
kill "${pids[0]}" 2>/dev/null

echo "== login storm: p99 of /health/live while wrk -c32 logs in (argon2id), galley serve, 2 workers"
"$BUILD/galley" serve --http "127.0.0.1:$PORT_SERVE" --workers 2 --access-log off \
    --data "$work/serve" 2>"$work/serve.log" &
pids+=($!)
wait_port "$PORT_SERVE" || { echo "galley did not start"; exit 1; }
curl -s -o /dev/null -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$PORT_SERVE/api/v1/auth/register"
quiet=$(wrk -t1 -c4 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT_SERVE/health/live" |
    awk '$1 == "99%" {print $2}')
wrk -t1 -c32 -d"$((DURATION * ROUNDS + 4))s" -s "$login_lua" \
    "http://127.0.0.1:$PORT_SERVE/api/v1/auth/login" > "$work/storm.txt" &
storm=$!
sleep 2
for r in $(seq "$ROUNDS"); do
    p99=$(wrk -t1 -c4 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT_SERVE/health/live" |
        awk '$1 == "99%" {print $2}')
    printf '  round %d: /health/live p99 %s during the storm (without: %s)\n' "$r" "$p99" "$quiet"
done
wait "$storm"
printf '  logins: %s/s (%s)\n' "$(rps < "$work/storm.txt")" \
    "$(grep -q 'Non-2xx' "$work/storm.txt" && grep 'Non-2xx' "$work/storm.txt" || echo 'all 2xx')"
echo "  target: p99 <= 5ms"
