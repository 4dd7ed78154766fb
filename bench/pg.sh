#!/usr/bin/env bash
# bench/pg.sh - a throw-away PostgreSQL on loopback, for the benchmarks (and for trying the driver).
#
# Usage:
#   bench/pg.sh start DIR    creates DIR (a fresh cluster unless DIR/data exists), starts
#                            PostgreSQL on 127.0.0.1 at the first free port from PG_PORT
#                            [25432], and prints its URL on stdout:
#                              postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:PORT/hello_world
#                            (TechEmpower's user, password and database names), with
#                            TechEmpower's tables world(id, randomnumber) and fortune(id,
#                            message) made and seeded when missing. The URL is also
#                            written to DIR/url.
#   bench/pg.sh stop DIR     stops that server (pg_ctl stop -m fast: only the one of DIR).
#   bench/pg.sh url DIR      prints the URL of a started DIR.
#
# Uses the Debian postgresql-15 binaries (/usr/lib/postgresql/15/bin, PG_BIN to change),
# installing the package when missing (apt-get, without starting the system's cluster).
# Run as root, the server runs as the `postgres` user (runuser); DIR is given to it.
# Settings: listen_addresses=127.0.0.1, unix socket in DIR, scram-sha-256 for TCP,
# max_connections=200, shared_buffers=128MB, otherwise PostgreSQL's defaults
# (fsync and synchronous_commit on).
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
USER_NAME=benchmarkdbuser
USER_PASS=benchmarkdbpass
DB_NAME=hello_world

die() {
    echo "bench/pg.sh: $*" >&2
    exit 1
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install_pg() {
    [ -x "$PG_BIN/postgres" ] && return 0
    [ "$(id -u)" = 0 ] || die "no $PG_BIN/postgres, and not root to install postgresql-15"
    echo "bench/pg.sh: installing postgresql-15" >&2
    local created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then # do not start the system's cluster
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created=1
    fi
    apt-get update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
        >/dev/null 2>&1 || echo "bench/pg.sh: apt-get install postgresql-15 failed" >&2
    [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ -x "$PG_BIN/postgres" ] || die "no $PG_BIN/postgres"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local dir="$1" port
    install_pg
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        chmod 700 "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        printf '%s\n' "$USER_PASS" >"$dir/pw" # the superuser's, for scram over TCP
        [ "$(id -u)" = 0 ] && chown postgres: "$dir/pw"
        as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" -E UTF8 \
            --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
            die "initdb failed (see $dir/initdb.log)"
    fi
    port="${PG_PORT:-25432}"
    while port_busy "$port"; do port=$((port + 1)); done
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=128MB" \
        start >/dev/null || die "PostgreSQL did not start (see $dir/server.log)"
    as_pg "$PG_BIN/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<EOF ||
SELECT 'CREATE ROLE $USER_NAME LOGIN PASSWORD ''$USER_PASS'''
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$USER_NAME') \gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $USER_NAME'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
        die "could not create $USER_NAME / $DB_NAME (see $dir/server.log)"
    # TechEmpower's tables (as galley-bench's migration makes them when missing), so a
    # peer finds them even when galley-bench has not run first
    PGPASSWORD="$USER_PASS" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U "$USER_NAME" -d "$DB_NAME" \
        -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || die "could not create the tables"
CREATE TABLE IF NOT EXISTS world (id integer NOT NULL PRIMARY KEY,
  randomnumber integer NOT NULL DEFAULT 0);
INSERT INTO world (id, randomnumber)
  SELECT i, floor(random() * 10000 + 1)::integer FROM generate_series(1, 10000) AS i
  WHERE NOT EXISTS (SELECT 1 FROM world);
CREATE TABLE IF NOT EXISTS fortune (id integer NOT NULL PRIMARY KEY,
  message varchar(2048) NOT NULL);
INSERT INTO fortune (id, message) VALUES
(1, 'fortune: No such file or directory'),
(2, 'A computer scientist is someone who fixes things that aren''t broken.'),
(3, 'After enough decimal places, nobody gives a damn.'),
(4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
(5, 'A computer program does what you tell it to do, not what you want it to do.'),
(6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
(7, 'Any program that runs right is obsolete.'),
(8, 'A list is only as strong as its weakest link. — Donald Knuth'),
(9, 'Feature: A bug with seniority.'),
(10, 'Computers make very fast, very accurate mistakes.'),
(11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
(12, 'フレームワークのベンチマーク')
ON CONFLICT DO NOTHING;
ANALYZE world;
ANALYZE fortune;
EOF
    echo "postgres://$USER_NAME:$USER_PASS@127.0.0.1:$port/$DB_NAME" | tee "$dir/url"
}

stop() {
    local dir="$1"
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
        die "pg_ctl stop failed for $dir/data"
}

case "${1:-}" in
start) [ $# = 2 ] || die "usage: $0 start DIR"; start "$2" ;;
stop) [ $# = 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
url) [ $# = 2 ] || die "usage: $0 url DIR"; cat "$2/url" ;;
*) awk 'NR>1 && /^#/{sub(/^# ?/,""); print; next} NR>1{exit}' "$0"; exit 2 ;;
esac
