"""GET /metrics (Prometheus text, checked by promtool) and /health/ready."""
import json
import os
import shutil
import signal
import subprocess
import time

from conftest import SLOW, Conn, binary, exchange, request


def get(srv, target):
    resp, c = exchange(srv, request("GET", target))
    c.close()
    return resp


def samples(text):
    """{(name, frozenset(labels)): value} from a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        if "{" in head:
            name, labels = head.split("{", 1)
            pairs = []
            for part in labels.rstrip("}").split('",'):
                k, v = part.split("=", 1)
                pairs.append((k, v.strip('"')))
            key = (name, frozenset(pairs))
        else:
            key = (head, frozenset())
        out[key] = float(value)
    return out


def metric(page, name, **labels):
    return samples(page).get((name, frozenset(labels.items())))


def test_metrics_page_passes_promtool(start_server):
    srv = start_server()
    get(srv, "/hello")
    get(srv, "/nope")
    resp = get(srv, "/metrics")
    assert resp.status == 200
    assert resp.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/bootstrap installs the prometheus package"
    check = subprocess.run([promtool, "check", "metrics"], input=resp.body, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_count_requests_by_method_route_and_status(start_server):
    srv = start_server()
    for _ in range(3):
        assert get(srv, "/hello").status == 200
    assert get(srv, "/users/7").status == 200
    assert get(srv, "/no/such/thing").status == 404
    assert get(srv, "/fail").status == 500
    page = get(srv, "/metrics").body.decode()
    assert metric(page, "galley_http_requests_total", method="GET", route="/hello", status="200") == 3
    assert metric(page, "galley_http_requests_total", method="GET", route="/users/:id", status="200") == 1
    assert metric(page, "galley_http_requests_total", method="GET", route="(unmatched)", status="404") == 1
    assert metric(page, "galley_http_requests_total", method="GET", route="/fail", status="500") == 1
    # the histogram is cumulative and ends in the count
    count = metric(page, "galley_http_request_duration_seconds_count", route="/hello")
    assert count == 3
    assert metric(page, "galley_http_request_duration_seconds_bucket", route="/hello", le="+Inf") == 3
    assert metric(page, "galley_http_request_duration_seconds_sum", route="/hello") > 0


def test_metrics_count_engine_errors_without_a_route(start_server):
    srv = start_server()
    with Conn(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host
        assert c.read_response().status == 400
    page = get(srv, "/metrics").body.decode()
    assert metric(page, "galley_http_requests_total", method="other", route="(unmatched)", status="400") == 1


def test_metrics_show_in_flight_requests_and_open_connections(start_server):
    srv = start_server()
    with Conn(srv.port) as slow:
        slow.send(request("GET", "/slow?ms=%d" % int(1500 * SLOW)))
        time.sleep(0.3 * SLOW)
        page = get(srv, "/metrics").body.decode()
        # the slow request and the /metrics request itself
        assert metric(page, "galley_http_requests_in_flight") == 2
        assert metric(page, "galley_http_connections_open") == 2
        assert slow.read_response().status == 200
    page = get(srv, "/metrics").body.decode()
    assert metric(page, "galley_http_received_bytes_total") > 0
    assert metric(page, "galley_http_sent_bytes_total") > 0
    assert metric(page, "galley_workers") == 2
    assert metric(page, "process_resident_memory_bytes") > 1_000_000
    assert metric(page, "process_open_fds") >= 3
    assert abs(metric(page, "process_start_time_seconds") - time.time()) < 120
    version = subprocess.run([binary("galley"), "version"], capture_output=True, text=True)
    assert metric(page, "galley_build_info", version=version.stdout.split()[1]) == 1


def test_health_ready_lists_checks_with_state_and_latency(start_server):
    srv = start_server()
    resp = get(srv, "/health/ready")
    assert resp.status == 200
    doc = json.loads(resp.body)
    assert doc["status"] == "ready"
    assert [c["name"] for c in doc["checks"]] == ["flag"]
    assert doc["checks"][0]["state"] == "up"
    assert doc["checks"][0]["latency_ms"] >= 0


def test_health_ready_is_503_while_a_check_fails(start_server):
    srv = start_server()
    flag = os.path.join(srv.cwd, "not-ready")
    open(flag, "w").close()
    resp = get(srv, "/health/ready")
    assert resp.status == 503
    doc = json.loads(resp.body)
    assert doc["status"] == "not_ready"
    assert doc["checks"][0] == {**doc["checks"][0], "name": "flag", "state": "down",
                                "message": "the not-ready file exists"}
    os.unlink(flag)
    assert get(srv, "/health/ready").status == 200
    # liveness does not depend on readiness
    assert get(srv, "/health/live").status == 200


def test_health_ready_is_503_during_graceful_stop(start_server):
    srv = start_server("--shutdown-timeout", "5s")
    with Conn(srv.port) as busy, Conn(srv.port) as probe:
        busy.send(request("GET", "/slow?ms=%d" % int(1000 * SLOW)))
        # a head in progress is not idle: the stop lets it complete
        probe.send(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\n")
        time.sleep(0.2 * SLOW)
        srv.signal(signal.SIGTERM)
        time.sleep(0.2 * SLOW)
        probe.send(b"\r\n")
        resp = probe.read_response()
        assert resp.status == 503
        assert json.loads(resp.body)["status"] == "stopping"
        assert resp.header("Connection") == "close"
        assert busy.read_response().status == 200
    assert srv.wait(10 * SLOW) == 0
