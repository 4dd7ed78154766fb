"""Built-in middleware: security headers, CORS, rate limiting, client IP behind trusted proxies."""
import time

from conftest import SLOW, exchange, request

SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}

ORIGIN = "https://app.example.com"


def get(srv, target, headers=(), method="GET"):
    resp, c = exchange(srv, request(method, target, headers=headers))
    c.close()
    return resp


def get_many(srv, target, n, headers=()):
    """n requests on one connection, in turn."""
    c = srv.connect()
    out = []
    try:
        for _ in range(n):
            c.send(request("GET", target, headers=headers))
            out.append(c.read_response())
    finally:
        c.close()
    return out


# ---- security headers ---------------------------------------------------------


def test_security_headers_are_on_every_response_by_default(start_server):
    srv = start_server()
    for target, status in (("/hello", 200), ("/no/such/path", 404), ("/health/live", 200)):
        resp = get(srv, target)
        assert resp.status == status
        for name, value in SECURITY.items():
            assert resp.header(name) == value, (target, name, resp)
        assert resp.header("Strict-Transport-Security") is None


def test_security_headers_are_on_405_and_middleware_answers(start_server):
    srv = start_server()
    assert get(srv, "/hello", method="DELETE").header("X-Frame-Options") == "DENY"
    blocked = get(srv, "/hello", headers=[("X-Block", "1")])
    assert blocked.status == 403
    assert blocked.header("X-Content-Type-Options") == "nosniff"


def test_security_headers_can_be_turned_off(start_server):
    srv = start_server("--no-security-headers")
    resp = get(srv, "/hello")
    assert resp.status == 200
    for name in SECURITY:
        assert resp.header(name) is None


def test_hsts_only_when_asked(start_server):
    srv = start_server("--hsts")
    assert get(srv, "/hello").header("Strict-Transport-Security") == "max-age=31536000"


# ---- CORS ---------------------------------------------------------------------


def test_cors_is_off_by_default(start_server):
    srv = start_server()
    resp = get(srv, "/hello", headers=[("Origin", ORIGIN)])
    assert resp.status == 200
    assert resp.header("Access-Control-Allow-Origin") is None


def test_cors_allowed_origin_gets_its_origin_back_and_vary(start_server):
    srv = start_server("--cors-origins", ORIGIN + ", http://localhost:5173")
    resp = get(srv, "/hello", headers=[("Origin", ORIGIN)])
    assert resp.status == 200
    assert resp.header("Access-Control-Allow-Origin") == ORIGIN
    assert resp.header("Vary") == "Origin"
    assert resp.header("Access-Control-Expose-Headers") == "X-Request-Id"
    assert resp.header("Access-Control-Allow-Credentials") is None
    other = get(srv, "/hello", headers=[("Origin", "http://localhost:5173")])
    assert other.header("Access-Control-Allow-Origin") == "http://localhost:5173"


def test_cors_other_origin_gets_no_cors_fields(start_server):
    srv = start_server("--cors-origins", ORIGIN)
    for origin in ("https://evil.example.com", ORIGIN + ".evil.com", "null", ORIGIN.upper()):
        resp = get(srv, "/hello", headers=[("Origin", origin)])
        assert resp.status == 200
        assert not [n for n, _ in resp.headers if n.lower().startswith("access-control-")], resp
        assert resp.header("Vary") is None


def test_cors_without_origin_gets_no_cors_fields(start_server):
    srv = start_server("--cors-origins", ORIGIN)
    resp = get(srv, "/hello")
    assert resp.header("Access-Control-Allow-Origin") is None


def test_cors_preflight_answers_204_with_methods_headers_and_max_age(start_server):
    srv = start_server("--cors-origins", ORIGIN, "--cors-max-age", "120")
    resp = get(
        srv,
        "/echo",
        method="OPTIONS",
        headers=[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type, x-request-id"),
        ],
    )
    assert resp.status == 204
    assert resp.header("Access-Control-Allow-Origin") == ORIGIN
    assert resp.header("Vary") == "Origin"
    methods = [m.strip() for m in resp.header("Access-Control-Allow-Methods").split(",")]
    assert "PUT" in methods and "GET" in methods
    assert resp.header("Access-Control-Allow-Headers") == "Content-Type, Authorization, X-Request-Id, X-API-Key"
    assert resp.header("Access-Control-Max-Age") == "120"
    assert resp.header("X-Content-Type-Options") == "nosniff"


def test_cors_preflight_with_a_header_not_allowed_leaves_allow_headers_out(start_server):
    srv = start_server("--cors-origins", ORIGIN)
    resp = get(
        srv,
        "/echo",
        method="OPTIONS",
        headers=[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type, x-secret"),
        ],
    )
    assert resp.status == 204
    assert resp.header("Access-Control-Allow-Origin") == ORIGIN
    assert resp.header("Access-Control-Allow-Headers") is None


def test_cors_preflight_from_another_origin_is_403(start_server):
    srv = start_server("--cors-origins", ORIGIN)
    resp = get(
        srv,
        "/echo",
        method="OPTIONS",
        headers=[("Origin", "https://evil.example.com"), ("Access-Control-Request-Method", "POST")],
    )
    assert resp.status == 403
    assert resp.json()["code"] == "cors-origin-denied"
    assert resp.header("Access-Control-Allow-Origin") is None


def test_plain_options_is_not_a_preflight(start_server):
    srv = start_server("--cors-origins", ORIGIN)
    resp = get(srv, "/echo", method="OPTIONS", headers=[("Origin", ORIGIN)])
    assert resp.status == 204
    assert "POST" in resp.header("Allow")  # the engine's OPTIONS answer
    assert resp.header("Access-Control-Allow-Origin") == ORIGIN
    assert resp.header("Access-Control-Max-Age") is None


def test_cors_credentials(start_server):
    srv = start_server("--cors-origins", ORIGIN, "--cors-credentials")
    resp = get(srv, "/hello", headers=[("Origin", ORIGIN)])
    assert resp.header("Access-Control-Allow-Origin") == ORIGIN
    assert resp.header("Access-Control-Allow-Credentials") == "true"


def test_cors_star_answers_star_without_vary(start_server):
    srv = start_server("--cors-origins", "*")
    resp = get(srv, "/hello", headers=[("Origin", "https://anyone.example")])
    assert resp.header("Access-Control-Allow-Origin") == "*"
    assert resp.header("Vary") is None


def test_cors_star_with_credentials_stops_start_up(start_server):
    srv = start_server("--cors-origins", "*", "--cors-credentials", wait=False)
    assert srv.wait(10 * SLOW) == 2
    assert "--cors-origins \"*\" cannot be used with --cors-credentials" in srv.stderr_text()


def test_bad_cors_origin_stops_start_up(start_server):
    srv = start_server("--cors-origins", "https://a.example/", wait=False)
    assert srv.wait(10 * SLOW) == 2
    assert "--cors-origins" in srv.stderr_text()


# ---- rate limiting --------------------------------------------------------------


def test_rate_limit_is_off_by_default(start_server):
    srv = start_server()
    for resp in get_many(srv, "/hello", 20):
        assert resp.status == 200
        assert resp.header("RateLimit-Limit") is None


def test_rate_limit_burst_then_429_then_recovery(start_server):
    srv = start_server("--rate-limit", "5/s", "--rate-limit-burst", "5")
    resps = get_many(srv, "/hello", 6)
    for i, resp in enumerate(resps[:5]):
        assert resp.status == 200, resp
        assert resp.header("RateLimit-Limit") == "5"
        # a slow (sanitized) run may refill a token between requests
        assert int(resp.header("RateLimit-Remaining")) >= 4 - i
    last = resps[5]
    if SLOW == 1.0:
        assert last.status == 429, last
    if last.status == 429:
        assert last.header("Content-Type") == "application/problem+json"
        assert last.json()["code"] == "rate-limited"
        assert int(last.header("Retry-After")) >= 1
        assert last.header("RateLimit-Limit") == "5"
        assert last.header("RateLimit-Remaining") == "0"
        assert int(last.header("RateLimit-Reset")) >= 1
        assert last.header("X-Content-Type-Options") == "nosniff"
    time.sleep(1.2)
    again = get(srv, "/hello")
    assert again.status == 200
    assert int(again.header("RateLimit-Remaining")) >= 3


def test_rate_limit_is_shared_by_the_workers_and_spans_connections(start_server):
    srv = start_server("--rate-limit", "3/m", workers=4)
    statuses = [get(srv, "/hello").status for _ in range(8)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429] * 5


def test_rate_limit_also_counts_404s_but_not_health(start_server):
    srv = start_server("--rate-limit", "2/m")
    assert get(srv, "/nope").status == 404
    assert get(srv, "/nope").status == 404
    assert get(srv, "/hello").status == 429
    health = get(srv, "/health/live")
    assert health.status == 200
    assert health.header("RateLimit-Limit") is None


def test_rate_limit_ignores_x_forwarded_for_without_trusted_proxies(start_server):
    srv = start_server("--rate-limit", "2/m")
    assert get(srv, "/hello", headers=[("X-Forwarded-For", "203.0.113.1")]).status == 200
    assert get(srv, "/hello", headers=[("X-Forwarded-For", "203.0.113.2")]).status == 200
    assert get(srv, "/hello", headers=[("X-Forwarded-For", "203.0.113.3")]).status == 429


def test_rate_limit_keys_by_forwarded_client_behind_a_trusted_proxy(start_server):
    srv = start_server("--rate-limit", "2/m", "--trusted-proxies", "127.0.0.1")
    a = [("X-Forwarded-For", "203.0.113.7")]
    b = [("X-Forwarded-For", "198.51.100.9, 127.0.0.1")]
    assert [get(srv, "/hello", headers=a).status for _ in range(3)] == [200, 200, 429]
    assert [get(srv, "/hello", headers=b).status for _ in range(3)] == [200, 200, 429]
    # the proxy itself (no X-Forwarded-For) has its own bucket
    assert get(srv, "/hello").status == 200


def test_trusted_proxies_bad_value_stops_start_up(start_server):
    srv = start_server("--trusted-proxies", "10.0.0.0/40", wait=False)
    assert srv.wait(10 * SLOW) == 2
    assert "--trusted-proxies" in srv.stderr_text()
