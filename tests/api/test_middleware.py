"""Middleware with a context of its own (gly_use_ctx / gly_mw_ctx)."""
from conftest import exchange, request


def test_middleware_context_reaches_its_middleware(start_server):
    srv = start_server()
    resp, c = exchange(srv, request("GET", "/hello"))
    c.close()
    assert resp.status == 200
    assert resp.header("X-Ctx") == "ctx-ok"
    assert resp.header("X-Middleware") == "1"


def test_middleware_context_is_on_unrouted_answers_too(start_server):
    srv = start_server()
    resp, c = exchange(srv, request("GET", "/no/such/path"))
    c.close()
    assert resp.status == 404
    assert resp.header("X-Ctx") == "ctx-ok"
