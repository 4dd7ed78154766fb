"""
tests/api/test_db.py - the database driver suite (galley/db.h), run on
embedded SQLite and on a real PostgreSQL (the pg fixture of pgserver.py)
through galley-dbapp (tests/api/dbapp.c).
"""
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import SANITIZED, SLOW, call, galley


@pytest.fixture
def dbapp(start_server, db_args):
    return start_server(*db_args, "--access-log", "off", binary="galley-dbapp")


def test_crud_round_trip(dbapp):
    st, doc, r = call(dbapp, "POST", "/items", {"name": "alpha", "n": 3, "score": 1.5})
    assert st == 201, doc
    assert doc["name"] == "alpha" and doc["n"] == 3 and doc["score"] == 1.5
    item_id = doc["id"]
    st, doc, _ = call(dbapp, "GET", "/items/%d" % item_id)
    assert (st, doc) == (200, {"id": item_id, "name": "alpha", "n": 3, "score": 1.5})
    st, doc, _ = call(dbapp, "GET", "/items")
    assert st == 200 and doc["count"] == 1
    st, _, _ = call(dbapp, "DELETE", "/items/%d" % item_id)
    assert st == 204
    st, doc, _ = call(dbapp, "GET", "/items/%d" % item_id)
    assert st == 404 and doc["code"] == "not-found"
    st, _, _ = call(dbapp, "DELETE", "/items/%d" % item_id)
    assert st == 404


def test_values_keep_their_types(dbapp):
    st, doc, _ = call(dbapp, "GET", "/types")
    assert st == 200, doc
    assert doc == {
        "i": 9007199254740993,
        "r": 2.5,
        "t": 'it\'s "quoted"',
        "b": "AAEC/w==",
        "z": None,
        "utf8": "h\u00e9llo \u20ac",
    }


def test_unique_violation_names_the_column(dbapp):
    assert call(dbapp, "POST", "/items", {"name": "dup"})[0] == 201
    st, doc, r = call(dbapp, "POST", "/items", {"name": "dup"})
    assert st == 409, doc
    assert doc["errors"] == [{"field": "name", "code": "unique"}]
    st, doc, _ = call(dbapp, "GET", "/items")
    assert doc["count"] == 1


def test_check_violation_names_the_column(dbapp):
    st, doc, _ = call(dbapp, "POST", "/items", {"name": "neg", "n": -1})
    assert st == 422, doc
    assert doc["errors"][0]["code"] == "check"
    assert doc["errors"][0]["field"] in ("n", "")  # PostgreSQL names the constraint, not always the column
    assert call(dbapp, "GET", "/items")[1]["count"] == 0


def test_database_errors_reveal_no_sql(dbapp):
    for path in ("/bad", "/params", "/extra", "/begin"):
        st, doc, r = call(dbapp, "GET", path)
        assert st == 500, doc
        text = json.dumps(doc).lower()
        for leak in ("select", "selekt", "secret_column", "nowhere", "syntax", "$1", "begin"):
            assert leak not in text, (path, doc)
        assert set(doc) >= {"type", "title", "status", "detail", "request_id"}
    # the operator sees the reason in the log, with the request id
    dbapp.wait_log(lambda l: "query" in l.get("msg", "") and "failed" in l.get("msg", ""))


def test_transaction_commits_both_writes_or_neither(dbapp):
    st, doc, _ = call(dbapp, "POST", "/tx?name=one")
    assert (st, doc) == (200, {"counter": 1})
    st, doc, _ = call(dbapp, "POST", "/tx?name=two&fail=1")
    assert st == 409, doc
    assert call(dbapp, "GET", "/counter")[1] == {"counter": 1}
    names = [i["name"] for i in call(dbapp, "GET", "/items")[1]["items"]]
    assert names == ["one"]
    # a failing statement inside the transaction rolls everything back: "one" exists
    st, doc, _ = call(dbapp, "POST", "/tx?name=one")
    assert st == 409 or st >= 500
    assert call(dbapp, "GET", "/counter")[1] == {"counter": 1}


def test_concurrent_transactions_lose_no_update(dbapp):
    n = 40 if SANITIZED else 100
    results = []

    def worker(i):
        results.append(call(dbapp, "POST", "/tx?name=w%d" % i)[0])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) == n, results
    assert call(dbapp, "GET", "/counter")[1] == {"counter": n}
    assert call(dbapp, "GET", "/items")[1]["count"] == n


def test_200_concurrent_writers_no_lost_or_duplicated_write(dbapp):
    n = 200
    ids, failures = [], []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def writer(i):
        start.wait()
        try:
            st, doc, _ = call(dbapp, "POST", "/items", {"name": "c%03d" % i, "n": i})
        except Exception as e:  # noqa: BLE001 - reported below
            st, doc = None, repr(e)
        with lock:
            if st == 201:
                ids.append((doc["id"], doc["name"]))
            else:
                failures.append((i, st, doc))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len({i for i, _ in ids}) == n
    st, doc, _ = call(dbapp, "GET", "/items")
    assert doc["count"] == n
    assert sorted(i["name"] for i in doc["items"]) == ["c%03d" % i for i in range(n)]
    assert sorted((i["id"], i["name"]) for i in doc["items"]) == sorted(ids)


def test_a_query_past_db_timeout_answers_503(start_server, db_args):
    srv = start_server(*db_args, "--db-timeout", "300ms", binary="galley-dbapp")
    t0 = time.monotonic()
    st, doc, r = call(srv, "GET", "/slow")
    took = time.monotonic() - t0
    assert st == 503, doc
    assert r.getheader("Retry-After") == "1"
    assert took < 5 * SLOW
    # and the database still answers
    assert call(srv, "POST", "/items", {"name": "after"})[0] == 201


def test_readiness_and_metrics_show_the_database(dbapp):
    st, doc, _ = call(dbapp, "GET", "/health/ready")
    assert st == 200, doc
    assert [c["name"] for c in doc["checks"]] == ["db"]
    assert doc["checks"][0]["state"] == "up"
    call(dbapp, "POST", "/items", {"name": "m"})
    call(dbapp, "GET", "/items/1")
    st, text, _ = call(dbapp, "GET", "/metrics")
    text = text.decode()
    assert 'galley_db_queries_total{statement="insert_items"} 1' in text
    assert 'galley_db_query_duration_seconds_count{statement="select_items"}' in text
    with tempfile.NamedTemporaryFile("w", suffix=".prom") as f:
        f.write(text)
        f.flush()
        out = subprocess.run(["promtool", "check", "metrics"], stdin=open(f.name), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_acknowledged_writes_survive_kill_9(start_server, db_args):
    srv = start_server(*db_args, "--access-log", "off", binary="galley-dbapp")
    acked = []
    stop = threading.Event()

    def writer(k):
        i = 0
        while not stop.is_set():
            name = "k%d-%d" % (k, i)
            try:
                st, doc, _ = call(srv, "POST", "/items", {"name": name}, timeout=5)
            except Exception:  # noqa: BLE001 - the server died mid-request: not acknowledged
                return
            if st == 201:
                acked.append(name)
            i += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0 * SLOW)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20, len(acked)
    again = start_server(*db_args, "--access-log", "off", binary="galley-dbapp")
    st, doc, _ = call(again, "GET", "/items")
    have = {i["name"] for i in doc["items"]}
    missing = [a for a in acked if a not in have]
    assert missing == [], "%d acknowledged writes lost" % len(missing)


def test_changed_migration_refuses_to_start(start_server, db_args):
    srv = start_server(*db_args, binary="galley-dbapp")
    srv.stop()
    bad = start_server(*db_args, binary="galley-dbapp", env={"DBAPP_CHANGED": "1"}, wait=False)
    assert bad.wait(10 * SLOW) == 1
    err = bad.stderr_text()
    assert "migration dbtest 1 (items) differs from the one applied" in err, err


def test_data_survives_a_restart(start_server, db_args):
    srv = start_server(*db_args, binary="galley-dbapp")
    assert call(srv, "POST", "/items", {"name": "kept"})[0] == 201
    srv.stop()
    again = start_server(*db_args, binary="galley-dbapp")
    assert [i["name"] for i in call(again, "GET", "/items")[1]["items"]] == ["kept"]


# ---- SQLite only: the galley CLI on the same data directory ----------------




def test_backup_while_serving(start_server, tmp_path):
    data = str(tmp_path / "data")
    srv = start_server("--data", data, "--access-log", "off", binary="galley-dbapp")
    for i in range(50):
        assert call(srv, "POST", "/items", {"name": "b%d" % i})[0] == 201
    out = galley("backup", str(tmp_path / "copy.db"), "--data", data)
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(str(tmp_path / "copy.db"))
    assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 50
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert call(srv, "POST", "/items", {"name": "after-backup"})[0] == 201


def test_migrate_cli(tmp_path):
    data = str(tmp_path / "data")
    out = galley("migrate", "status", "--data", data)
    assert out.returncode == 0, out.stderr
    known = [["auth", "1"], ["auth", "2"], ["auth", "3"], ["auth_keys", "1"], ["auth_mfa", "1"],
             ["auth_cookies", "1"], ["auth_oidc", "1"], ["auth_mail", "1"], ["records", "1"], ["records", "2"]]
    assert [l.split()[:3] for l in out.stdout.splitlines()] == [k + ["pending"] for k in known]
    out = galley("migrate", "up", "--data", data)
    assert out.returncode == 0 and "%d migrations applied" % len(known) in out.stdout, out
    out = galley("migrate", "up", "--data", data)
    assert out.returncode == 0 and "0 migrations applied" in out.stdout, out
    out = galley("migrate", "status", "--data", data)
    assert [l.split()[:3] for l in out.stdout.splitlines()] == [k + ["applied"] for k in known]
    con = sqlite3.connect(os.path.join(data, "data.db"))
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in con.execute("PRAGMA table_info(galley_migrations)")]
    assert cols == ["module", "version", "name", "checksum", "applied_at"]
    con.close()
    out = galley("migrate", "sideways", "--data", data)
    assert out.returncode == 2
    out = galley("backup", "--data", data)
    assert out.returncode == 2


def test_migrate_status_lists_applied_migrations(start_server, tmp_path):
    data = str(tmp_path / "data")
    srv = start_server("--data", data, binary="galley-dbapp")
    srv.stop()
    con = sqlite3.connect(os.path.join(data, "data.db"))
    rows = con.execute("SELECT module, version, name, length(checksum) FROM galley_migrations ORDER BY version").fetchall()
    con.close()
    assert rows == [("dbtest", 1, "items", 16), ("dbtest", 2, "counters", 16)]
