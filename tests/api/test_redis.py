"""
tests/api/test_redis.py - the Redis client (galley/redis.h) through
galley-redisapp, and revocation across galley nodes through Redis, against a
real redis-server (redisserver.py) and PostgreSQL (pgserver.py).
"""
import threading
import time

import pytest

import redisserver
from conftest import SLOW, call, galley

PASSWORD = "correct horse battery staple"
SECRET = ["--jwt-secret", "k" * 40]


def app(start_server, url, *extra, workers=2):
    return start_server("--redis-url", url, *extra, binary="galley-redisapp", workers=workers)


def cmd(srv, *args):
    return call(srv, "POST", "/cmd", list(args))


def ready(srv):
    st, doc, _ = call(srv, "GET", "/health/ready")
    checks = {c["name"]: c for c in doc["checks"]}
    return st, checks


def wait_for(pred, timeout, step=0.02):
    """Polls pred until it is true; returns the seconds it took, or fails."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met within %.1f s" % timeout)
        time.sleep(step)


@pytest.fixture
def own_redis():
    """A Redis server of the test's own, which it may kill and start again."""
    srv = redisserver.make()
    yield srv
    srv.teardown()


# ---- commands ---------------------------------------------------------------------------------


def test_commands_run_in_handlers_and_replies_keep_their_types(start_server, redis):
    srv = app(start_server, redis.url)
    assert cmd(srv, "SET", "t1:s", "v\u00e9")[1] == {"type": 5, "str": "OK"}
    assert cmd(srv, "GET", "t1:s")[1] == {"type": 1, "str": "v\u00e9"}
    assert cmd(srv, "GET", "t1:none")[1] == {"type": 4}
    assert cmd(srv, "RPUSH", "t1:l", "a", "b", "")[1] == {"type": 3, "integer": 3}
    assert cmd(srv, "LRANGE", "t1:l", "0", "-1")[1] == {"type": 2, "elements": ["a", "b", ""]}
    assert cmd(srv, "MGET", "t1:s", "t1:none")[1] == {"type": 2, "elements": ["v\u00e9", None]}
    assert redis.cli("GET", "t1:s") == "v\u00e9"  # really in Redis


def test_error_replies_are_a_clear_error_with_redis_text(start_server, redis):
    srv = app(start_server, redis.url)
    cmd(srv, "SET", "t2:s", "v")
    st, doc, _ = cmd(srv, "LPUSH", "t2:s", "x")
    assert st == 422 and doc["code"] == "redis-error", doc
    assert doc["detail"].startswith("WRONGTYPE"), doc
    st, doc, _ = cmd(srv, "NOSUCHCOMMAND")
    assert st == 422 and doc["detail"].startswith("ERR unknown command"), doc
    # the connection goes on serving
    assert cmd(srv, "GET", "t2:s")[1] == {"type": 1, "str": "v"}


def test_values_of_megabytes_round_trip_intact(start_server, redis):
    srv = app(start_server, redis.url)
    for n in (0, 1, 16383, 16384, 5 * 1024 * 1024):
        st, body, _ = call(srv, "GET", "/big/%d" % n)
        assert (st, body) == (200, b"same"), n


def test_concurrent_requests_share_the_pipelined_connection_exactly(start_server, redis):
    """Many requests at once, each one INCR on the worker's one connection: none lost or doubled."""
    srv = app(start_server, redis.url, workers=2)
    threads, per = 16, 40 if SLOW == 1 else 10
    statuses = []

    def hammer():
        for _ in range(per):
            statuses.append(call(srv, "POST", "/incr/t3:n")[0])

    ts = [threading.Thread(target=hammer) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert statuses == [200] * (threads * per)
    assert int(redis.cli("GET", "t3:n")) == threads * per
    st, body, _ = call(srv, "GET", "/metrics")
    m = [l for l in body.decode().splitlines() if l.startswith("galley_redis_commands_total ")]
    assert int(m[0].split()[1]) >= threads * per


def test_publish_from_a_worker_and_from_another_thread_reaches_the_subscriber(start_server, redis):
    srv = app(start_server, redis.url)
    wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
    assert call(srv, "POST", "/publish?m=one")[0] == 202
    wait_for(lambda: call(srv, "GET", "/seen")[1]["last"] == "one", 2 * SLOW)
    assert call(srv, "POST", "/publish-offload?m=two")[0] == 202
    wait_for(lambda: call(srv, "GET", "/seen")[1]["last"] == "two", 2 * SLOW)
    redis.cli("PUBLISH", "redisapp:events", "three")  # from outside galley
    wait_for(lambda: call(srv, "GET", "/seen")[1]["last"] == "three", 2 * SLOW)
    seen = call(srv, "GET", "/seen")[1]
    assert seen["messages"] == 3 and seen["resubscribed"] == 1, seen


def test_without_redis_url_commands_are_unavailable(start_server):
    srv = start_server(binary="galley-redisapp")
    st, doc, r = call(srv, "POST", "/incr/x")
    assert st == 503 and r.getheader("Retry-After") == "1", doc
    st, checks = ready(srv)
    assert st == 200 and "redis" not in checks


def test_a_bad_redis_url_is_refused_at_start(tmp_path):
    r = galley("config", "--redis-url", "http://127.0.0.1:6379")
    assert r.returncode == 2 and "redis-url" in r.stderr
    r = galley("serve", "--data", str(tmp_path), "--http", "127.0.0.1:0",
               "--redis-url", "redis://:hunter2-secret@127.0.0.1:99999")
    assert r.returncode == 1 and "redis-url: bad port" in r.stderr, r.stderr
    assert "hunter2" not in r.stderr


def test_a_host_name_is_resolved(start_server, redis):
    srv = app(start_server, "redis://localhost:%d/3" % redis.port)
    wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
    assert cmd(srv, "SET", "t8:k", "in db 3")[0] == 200
    assert redis.cli("GET", "t8:k") is None  # not in db 0: SELECT 3 went first


def test_a_stuck_server_times_out_then_the_client_recovers(start_server, own_redis):
    srv = app(start_server, own_redis.url, "--redis-timeout", "300ms", workers=1)
    assert cmd(srv, "PING")[0] == 200
    own_redis.cli("CLIENT", "PAUSE", "1500", "ALL")
    t0 = time.monotonic()
    st, doc, _ = cmd(srv, "GET", "t4:x")
    took = time.monotonic() - t0
    assert st == 503, doc
    assert 0.25 < took < 1.2 * SLOW, took
    # the next connection works once the pause is over
    wait_for(lambda: cmd(srv, "PING")[0] == 200, 5 * SLOW, step=0.1)
    assert "did not answer within redis-timeout" in srv.stderr_text()


def test_redis_down_answers_503_and_ready_fails_then_both_recover(start_server, own_redis):
    srv = app(start_server, own_redis.url)
    wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
    assert call(srv, "POST", "/incr/t5:n")[0] == 200
    own_redis.stop()
    st, doc, r = call(srv, "POST", "/incr/t5:n")
    assert st == 503 and r.getheader("Retry-After") == "1", doc
    st, checks = ready(srv)
    assert st == 503 and checks["redis"]["state"] == "down", checks
    assert "127.0.0.1:%d" % own_redis.port in checks["redis"]["message"], checks
    # commands fail fast while it is down: no waiting out the timeout
    t0 = time.monotonic()
    assert call(srv, "POST", "/incr/t5:n")[0] == 503
    assert time.monotonic() - t0 < 0.5 * SLOW
    own_redis.start()
    took = wait_for(lambda: call(srv, "POST", "/incr/t5:n")[0] == 200, 5 * SLOW, step=0.05)
    assert took < 3.0 * SLOW  # the backoff is capped at 2 s
    wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
    # the subscriber came back too, and said so
    wait_for(lambda: call(srv, "GET", "/seen")[1]["resubscribed"] >= 2, 5 * SLOW)
    st, body, _ = call(srv, "GET", "/metrics")
    assert 'galley_redis_connections{role="subscriber",state="up"} 1' in body.decode()


def test_a_restart_under_load_gives_503s_then_recovers(start_server, own_redis):
    srv = app(start_server, own_redis.url, workers=2)
    wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
    statuses, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            statuses.append(call(srv, "POST", "/incr/t6:n")[0])

    ts = [threading.Thread(target=load) for _ in range(8)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    own_redis.restart()
    time.sleep(0.3)
    wait_for(lambda: call(srv, "POST", "/incr/t6:n")[0] == 200, 5 * SLOW, step=0.05)
    time.sleep(0.3)
    stop.set()
    for t in ts:
        t.join()
    assert set(statuses) <= {200, 503}, set(statuses)
    assert statuses.count(200) > 0
    assert statuses[-1] == 200
    assert srv.alive()


def test_a_password_in_the_url_is_used_and_never_shown(start_server, tmp_path):
    pw = "s3cr3t-pass-%d" % time.monotonic_ns()
    red = redisserver.make(password=pw)
    try:
        srv = app(start_server, red.url)
        wait_for(lambda: ready(srv)[0] == 200, 5 * SLOW)
        assert cmd(srv, "SET", "t7:k", "v")[0] == 200
        assert red.cli("GET", "t7:k") == "v"
        # a wrong password: refused, reported, not shown
        bad = app(start_server, red.url.replace(pw, "wrong-" + pw))
        wait_for(lambda: ready(bad)[0] == 503, 5 * SLOW)
        st, checks = ready(bad)
        assert "AUTH refused" in checks["redis"]["message"], checks
        assert cmd(bad, "PING")[0] == 503
        for s in (srv, bad):
            assert pw not in s.stderr_text()
        assert "AUTH refused: WRONGPASS" in bad.stderr_text()
        out = galley("config", "--redis-url", red.url)
        assert out.returncode == 0 and pw not in out.stdout and "redis://:***@127.0.0.1" in out.stdout
        env_out = galley("config")
        assert pw not in env_out.stdout
    finally:
        red.teardown()


# ---- revocation across nodes (the galley binary) ------------------------------------------------


def register(srv, email="ann@example.com"):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD, "name": "Ann"})
    assert st == 201, doc


def login(srv, email="ann@example.com"):
    st, doc, _ = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert st == 200, doc
    return doc["access_token"]


def me(srv, token):
    return call(srv, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})[0]


def logout(srv, token):
    return call(srv, "POST", "/api/v1/auth/logout", headers={"Authorization": "Bearer " + token})[0]


def nodes(start_server, pg, tmp_path, redis_url=None, cache="60s"):
    """Two galley nodes on one PostgreSQL database, with one token key and session-cache.

    One worker each: a request then always meets the worker whose cache the test warmed,
    so a 401 on the other node can only come from the revocation reaching it."""
    url = pg.fresh_db()
    extra = SECRET + ["--session-cache", cache] + (["--redis-url", redis_url] if redis_url else [])
    a = start_server("--db", url, "--data", str(tmp_path / "a"), *extra, binary="galley", workers=1)
    b = start_server("--db", url, "--data", str(tmp_path / "b"), *extra, binary="galley", workers=1)
    if redis_url:
        for n in (a, b):
            wait_for(lambda: ready(n)[0] == 200, 5 * SLOW)
    return a, b


def revoke_and_time(a, b, email):
    """Logs in on a, warms b's session cache, logs out on a; returns seconds until b says 401."""
    token = login(a, email)
    assert me(b, token) == 200  # b checks the session in the database and caches it
    assert me(b, token) == 200
    assert logout(a, token) == 204
    assert me(a, token) == 401
    return wait_for(lambda: me(b, token) == 401, 5 * SLOW, step=0.005)


def test_a_logout_on_one_node_ends_the_session_on_the_other_at_once(start_server, pg, redis, tmp_path):
    a, b = nodes(start_server, pg, tmp_path, redis.url)
    register(a)
    took = [revoke_and_time(a, b, "ann@example.com") for _ in range(3)]
    print("revocation reached the other node in %s ms" % ", ".join("%.1f" % (t * 1000) for t in took))
    assert max(took) < 0.5 * SLOW, took  # not the 60 s of session-cache


def test_without_redis_the_other_node_trusts_its_cache_for_session_cache(start_server, pg, tmp_path):
    """The control: the same nodes without redis-url keep accepting the revoked token."""
    a, b = nodes(start_server, pg, tmp_path)
    register(a)
    token = login(a)
    assert me(b, token) == 200
    assert logout(a, token) == 204
    assert me(a, token) == 401
    time.sleep(1.0)
    assert [me(b, token) for _ in range(4)] == [200] * 4


def test_with_redis_down_nodes_serve_and_fall_back_then_propagate_again(start_server, pg, own_redis, tmp_path):
    a, b = nodes(start_server, pg, tmp_path, own_redis.url)
    register(a)
    token = login(a)
    assert me(b, token) == 200
    own_redis.stop()
    # both serve authenticated requests without Redis
    assert [me(a, token), me(b, token)] == [200, 200]
    for n in (a, b):
        st, checks = ready(n)
        assert st == 503 and checks["redis"]["state"] == "down" and checks["db"]["state"] == "up", checks
    # a logout still works where it is made
    t2 = login(a)
    assert logout(a, t2) == 204 and me(a, t2) == 401
    own_redis.start()
    for n in (a, b):
        wait_for(lambda: ready(n)[0] == 200, 5 * SLOW, step=0.05)
    assert revoke_and_time(a, b, "ann@example.com") < 0.5 * SLOW
    assert revoke_and_time(b, a, "ann@example.com") < 0.5 * SLOW


def test_revocation_through_a_password_protected_redis(start_server, pg, tmp_path):
    pw = "node-pass-%d" % time.monotonic_ns()
    red = redisserver.make(password=pw)
    try:
        a, b = nodes(start_server, pg, tmp_path, red.url)
        register(a)
        assert revoke_and_time(a, b, "ann@example.com") < 0.5 * SLOW
        for n in (a, b):
            assert pw not in n.stderr_text()
    finally:
        red.teardown()
