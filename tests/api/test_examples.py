"""The programs under examples/ are built with the rest and serve what they promise."""
import json

from conftest import exchange, problem, request


def test_hello_example_answers_json_with_decoded_name(start_server):
    srv = start_server(binary="example-hello")
    resp, c = exchange(srv, request("GET", "/hello/w%C3%B6rld"))
    c.close()
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/json"
    assert json.loads(resp.body) == {"hello": "wörld"}


def test_hello_example_is_a_full_galley_app(start_server):
    srv = start_server(binary="example-hello")
    resp, c = exchange(srv, request("GET", "/health/live"))
    c.close()
    assert resp.status == 200
    resp, c = exchange(srv, request("GET", "/hello"))
    c.close()
    assert problem(resp, 404)["code"] == "not-found"
