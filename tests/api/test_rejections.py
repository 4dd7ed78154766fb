"""Limits, malformed requests and request-smuggling defences, over the wire.

Every rejection is a problem+json with Connection: close, then EOF: nothing
after the bad request on the same connection may be executed.
"""
import pytest

from conftest import Conn, assert_rejected, problem, request


def head_with(*fields, method="GET", target="/hello", version="HTTP/1.1"):
    return ("%s %s %s\r\n" % (method, target, version)).encode() + b"".join(
        f.encode("latin1") + b"\r\n" for f in fields
    ) + b"\r\n"


SMUGGLED = b"GET /users/666 HTTP/1.1\r\nHost: x\r\n\r\n"


def assert_not_executed(app, path="/users/666"):
    """No access-log line for the smuggled request."""
    bad = [l for l in app.log_lines() if l.get("msg") == "request" and l.get("path") == path]
    assert bad == [], "smuggled request was executed: %r" % bad


# --------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------


def request_line_of(n):
    """A GET head whose request line (without CRLF) is n bytes."""
    target = "/" + "a" * (n - len("GET  HTTP/1.1") - 1)
    return head_with("Host: x", target=target)


def head_of(n):
    """A GET /hello head of exactly n bytes, final CRLF CRLF included."""
    base = b"GET /hello HTTP/1.1\r\nHost: x\r\n"
    pad = n - len(base) - len(b"X-Pad: \r\n\r\n")
    return base + b"X-Pad: " + b"v" * pad + b"\r\n\r\n"


def test_request_line_over_8k_gets_414(app):
    assert_rejected(app, request_line_of(8 * 1024 + 1), 414)


def test_request_line_of_exactly_8k_is_routed(app):
    with app.connect() as c:
        c.send(request_line_of(8 * 1024))
        resp = c.read_response()
        assert resp.status == 404, resp


def test_header_section_over_64k_gets_431(app):
    resp = assert_rejected(app, head_of(64 * 1024 + 1), 431)
    assert "head" in resp.json()["detail"]


def test_header_section_of_many_fields_over_64k_gets_431(app):
    fields = ["Host: x"] + ["X-Pad-%02d: %s" % (i, "v" * 1000) for i in range(70)]
    assert_rejected(app, head_with(*fields), 431)


def test_header_section_of_exactly_64k_is_accepted(app):
    with app.connect() as c:
        c.send(head_of(64 * 1024))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")


def test_max_request_line_setting_is_applied(start_server):
    srv = start_server("--max-request-line", "300")
    assert_rejected(srv, request_line_of(301), 414)
    with srv.connect() as c:
        c.send(request_line_of(300))
        assert c.read_response().status == 404


def test_max_head_setting_is_applied(start_server):
    srv = start_server("--max-head", "1K", "--max-request-line", "512")
    assert_rejected(srv, head_of(1025), 431)
    with srv.connect() as c:
        c.send(head_of(1024))
        assert c.read_response().status == 200


def test_max_headers_setting_is_applied(start_server):
    srv = start_server("--max-headers", "3")
    assert_rejected(srv, head_with("Host: x", "A: 1", "B: 2", "C: 3"), 431)
    with srv.connect() as c:
        c.send(head_with("Host: x", "A: 1", "B: 2"))
        assert c.read_response().status == 200


def test_more_than_100_header_fields_get_431(app):
    fields = ["Host: x"] + ["X-F%d: v" % i for i in range(100)]
    resp = assert_rejected(app, head_with(*fields), 431)
    assert "field" in resp.json()["detail"]


def test_exactly_100_header_fields_are_accepted(app):
    fields = ["Host: x"] + ["X-F%d: v" % i for i in range(99)]
    with app.connect() as c:
        c.send(head_with(*fields))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")


def test_content_length_over_max_body_gets_413(start_server):
    srv = start_server("--max-body", "1K")
    data = head_with("Host: x", "Content-Length: 1025", method="POST", target="/echo") + b"a" * 1025
    assert_rejected(srv, data, 413)


def test_body_of_exactly_max_body_is_accepted(start_server):
    srv = start_server("--max-body", "1K")
    with srv.connect() as c:
        c.send(request("POST", "/echo", body=b"z" * 1024))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"z" * 1024)


def test_content_length_over_default_10m_gets_413_before_the_body_is_sent(app):
    data = head_with("Host: x", "Content-Length: %d" % (10 * 1024 * 1024 + 1), method="POST", target="/echo")
    assert_rejected(app, data, 413)


def test_chunked_body_over_max_body_gets_413(start_server):
    srv = start_server("--max-body", "1K")
    chunk = b"200\r\n" + b"c" * 0x200 + b"\r\n"
    data = head_with("Host: x", "Transfer-Encoding: chunked", method="POST", target="/echo")
    assert_rejected(srv, data + chunk * 3 + b"0\r\n\r\n", 413)


def test_route_body_limit_rejects_17_bytes_on_small(app):
    data = head_with("Host: x", "Content-Length: 17", method="POST", target="/small") + b"a" * 17
    assert_rejected(app, data, 413)


def test_route_body_limit_accepts_16_bytes_on_small(app):
    with app.connect() as c:
        c.send(request("POST", "/small", body=b"0123456789abcdef"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"0123456789abcdef")


def test_route_body_limit_rejects_a_chunked_body_over_16_bytes(app):
    data = head_with("Host: x", "Transfer-Encoding: chunked", method="POST", target="/small")
    assert_rejected(app, data + b"10\r\n" + b"a" * 16 + b"\r\n1\r\nb\r\n0\r\n\r\n", 413)


# --------------------------------------------------------------------------
# Methods and versions
# --------------------------------------------------------------------------


def test_unknown_method_gets_501(app):
    assert_rejected(app, head_with("Host: x", method="BREW"), 501)


def test_lowercase_method_is_not_get(app):
    assert_rejected(app, head_with("Host: x", method="get"), 501)


def test_http_1_2_gets_505(app):
    assert_rejected(app, head_with("Host: x", version="HTTP/1.2"), 505)


def test_http_2_0_gets_505(app):
    assert_rejected(app, head_with("Host: x", version="HTTP/2.0"), 505)


def test_http_3_0_gets_505(app):
    assert_rejected(app, head_with("Host: x", version="HTTP/3.0"), 505)


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"GET /hello XTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /hello HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET hello HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /he llo HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    ],
    ids=[
        "garbage",
        "bad-protocol",
        "extra-token",
        "double-space",
        "target-without-slash",
        "space-in-target",
        "field-without-colon",
        "empty-field-name",
        "space-in-field-name",
    ],
)
def test_malformed_request_gets_400_problem_json_and_close(app, raw):
    assert_rejected(app, raw, 400)


# --------------------------------------------------------------------------
# Request smuggling
# --------------------------------------------------------------------------


def test_content_length_with_transfer_encoding_gets_400_and_nothing_is_smuggled(app):
    data = head_with(
        "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked", method="POST", target="/echo"
    )
    assert_rejected(app, data + b"0\r\n\r\n" + SMUGGLED, 400)
    assert_not_executed(app)


def test_transfer_encoding_before_content_length_gets_400(app):
    data = head_with(
        "Host: x", "Transfer-Encoding: chunked", "Content-Length: 5", method="POST", target="/echo"
    )
    assert_rejected(app, data + b"0\r\n\r\n" + SMUGGLED, 400)
    assert_not_executed(app)


def test_two_different_content_lengths_get_400(app):
    data = head_with("Host: x", "Content-Length: 3", "Content-Length: 40", method="POST", target="/echo")
    assert_rejected(app, data + b"abc" + SMUGGLED, 400)
    assert_not_executed(app)


def test_content_length_list_with_different_values_gets_400(app):
    data = head_with("Host: x", "Content-Length: 3, 40", method="POST", target="/echo")
    assert_rejected(app, data + b"abc" + SMUGGLED, 400)


@pytest.mark.parametrize("value", ["+3", "-3", "3a", "0x3", " ", "99999999999999999999999"])
def test_malformed_content_length_gets_400(app, value):
    data = head_with("Host: x", "Content-Length: " + value, method="POST", target="/echo")
    assert_rejected(app, data + b"abc", 400)


def test_transfer_encoding_gzip_then_chunked_gets_501(app):
    data = head_with("Host: x", "Transfer-Encoding: gzip, chunked", method="POST", target="/echo")
    assert_rejected(app, data + b"0\r\n\r\n", 501)


def test_transfer_encoding_gzip_alone_gets_400(app):
    # RFC 9112 6.3: chunked is not the final coding -> the length cannot be
    # determined -> 400 and close.
    data = head_with("Host: x", "Transfer-Encoding: gzip", method="POST", target="/echo")
    assert_rejected(app, data + b"abc" + SMUGGLED, 400)
    assert_not_executed(app)


def test_transfer_encoding_in_http10_gets_400(app):
    data = head_with("Transfer-Encoding: chunked", method="POST", target="/echo", version="HTTP/1.0")
    assert_rejected(app, data + b"3\r\nabc\r\n0\r\n\r\n", 400)


def test_obs_fold_gets_400(app):
    assert_rejected(app, head_with("Host: x", "X-Folded: a", " b"), 400)


def test_whitespace_before_colon_gets_400(app):
    assert_rejected(app, head_with("Host : x"), 400)
    assert_rejected(app, head_with("Host: x", "Content-Length\t: 0"), 400)


def test_missing_host_on_http11_gets_400(app):
    assert_rejected(app, head_with("Accept: */*"), 400)


def test_two_hosts_get_400(app):
    assert_rejected(app, head_with("Host: a", "Host: b"), 400)


def test_http10_without_host_is_accepted(app):
    with app.connect() as c:
        c.send(b"GET /hello HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")


def test_bare_lf_line_endings_get_400(app):
    assert_rejected(app, b"GET /hello HTTP/1.1\nHost: x\n\n", 400)


def test_bare_lf_inside_the_header_section_gets_400(app):
    assert_rejected(app, b"GET /hello HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400)


def test_bare_cr_in_a_field_value_gets_400(app):
    assert_rejected(app, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400)


@pytest.mark.parametrize("ch", [b"\x00", b"\x01", b"\x1f", b"\x7f"])
def test_control_character_in_a_field_value_gets_400(app, ch):
    assert_rejected(app, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a" + ch + b"b\r\n\r\n", 400)


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        b"-1\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabcX\r\n0\r\n\r\n",
        b" 3\r\nabc\r\n0\r\n\r\n",
    ],
    ids=["not-hex", "overflow", "negative", "no-crlf-after-data", "leading-space"],
)
def test_invalid_chunk_framing_gets_400(app, body):
    data = head_with("Host: x", "Transfer-Encoding: chunked", method="POST", target="/echo")
    assert_rejected(app, data + body + SMUGGLED, 400)
    assert_not_executed(app)


def test_rejection_body_is_problem_json_with_matching_length(app):
    c = Conn(app.port)
    c.send(b"GET /hello HTTP/1.1\r\n\r\n")
    resp = c.read_response()
    c.close()
    doc = problem(resp, 400)
    assert doc["title"] == "Bad Request"
    assert int(resp.header("Content-Length")) == len(resp.body)
    assert resp.header("Server") == "galley" and resp.header("Date")
