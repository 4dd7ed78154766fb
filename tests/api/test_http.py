"""HTTP/1.1 semantics over the wire: connections, bodies, routing, built-in fields."""
import calendar
import re
import time

from conftest import exchange, problem, request

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT"
)


def get(path, *headers, **kw):
    return request("GET", path, headers, **kw)


# --------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_socket(app):
    with app.connect() as c:
        for i in range(5):
            c.send(get("/users/%d" % i))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.body == b"user %d" % i
            assert resp.header("Connection") is None, resp
        c.send(request("POST", "/echo", ["Content-Type: text/plain"], body=b"ping"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"ping")
        assert resp.header("Content-Type") == "text/plain"


def test_connection_close_request_gets_close_and_eof(app):
    with app.connect() as c:
        c.send(get("/hello", "Connection: close"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")
        assert resp.header("Connection") == "close"
        assert c.at_eof()


def test_http10_request_without_keep_alive_is_answered_and_closed(app):
    with app.connect() as c:
        c.send(b"GET /hello HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")
        assert resp.header("Content-Length") == "5"
        assert resp.header("Connection") == "close"
        assert c.at_eof()


def test_http10_keep_alive_keeps_the_connection_open(app):
    with app.connect() as c:
        c.send(b"GET /users/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"user 1")
        assert resp.header("Connection").lower() == "keep-alive"
        c.send(b"GET /users/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"user 2")
        c.send(b"GET /users/3 HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"user 3")
        assert resp.header("Connection") == "close"
        assert c.at_eof()


def test_100_pipelined_requests_in_one_write_get_100_ordered_responses(app):
    data = b"".join(get("/users/%d" % i) for i in range(1, 101))
    with app.connect() as c:
        c.send(data)
        for i in range(1, 101):
            resp = c.read_response()
            assert (resp.status, resp.body) == (200, b"user %d" % i), (i, resp)
        # nothing extra after the 100th, and the connection is still usable
        c.send(get("/hello"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")


def test_pipelined_requests_with_bodies_and_methods_stay_in_order(app):
    data = (
        request("POST", "/echo", body=b"one")
        + get("/nope")
        + request("PUT", "/echo", body=b"two")
        + request("DELETE", "/users/9")
        + request("HEAD", "/hello")
        + get("/users/10")
    )
    with app.connect() as c:
        c.send(data)
        got = [c.read_response() for _ in range(4)]
        got.append(c.read_response(head=True))
        got.append(c.read_response())
        assert [r.status for r in got] == [200, 404, 200, 200, 200, 200]
        assert got[0].body == b"one" and got[2].body == b"two"
        assert got[3].body == b"user 9" and got[5].body == b"user 10"


# --------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------


def test_chunked_upload_with_extensions_and_trailers_is_echoed(app):
    head = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-test\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    body = (
        b"3;name=value\r\nabc\r\n"
        b'A;quoted="a;b" ; bare\r\n0123456789\r\n'
        b"1\r\n\n\r\n"
        b"0\r\nX-Trailer: t1\r\nX-Other: t2\r\n\r\n"
    )
    with app.connect() as c:
        c.send(head + body)
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.body == b"abc0123456789\n"
        assert resp.header("Content-Type") == "text/x-test"
        assert resp.header("Content-Length") == "14"
        # the connection is still in sync after the trailers
        c.send(get("/hello"))
        assert c.read_response().body == b"hello"


def test_chunked_upload_sent_in_small_pieces_is_echoed(app):
    payload = bytes(range(256)) * 40
    with app.connect() as c:
        c.send(b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(payload), 1000):
            piece = payload[i : i + 1000]
            c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
        c.send(b"0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == payload


def test_content_length_body_split_across_writes_is_echoed(app):
    with app.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.1)
        c.send(b"world")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"helloworld")


def test_expect_100_continue_gets_100_then_the_final_response(app):
    with app.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = c.read_response()
        assert interim.status == 100, interim
        assert interim.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"abcde")
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"abcde")


def test_expect_100_continue_with_a_too_large_body_gets_413_without_100(app):
    with app.connect() as c:
        c.send(b"POST /small HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n")
        resp = c.read_response()
        problem(resp, 413)


# --------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------


def test_unknown_path_gets_404_problem_json_with_request_id(app):
    resp, c = exchange(app, get("/no/such/path"))
    c.close()
    doc = problem(resp, 404)
    assert doc["title"] == "Not Found"
    assert doc["request_id"] == resp.header("X-Request-Id")
    assert set(doc) >= {"type", "title", "status", "detail", "request_id"}
    assert resp.header("Content-Length") == str(len(resp.body))


def test_wrong_method_gets_405_with_allow(app):
    resp, c = exchange(app, request("POST", "/hello", body=b"x"))
    c.close()
    problem(resp, 405)
    allow = {m.strip() for m in resp.header("Allow").split(",")}
    assert allow == {"GET", "HEAD", "OPTIONS"}, allow


def test_405_allow_lists_every_method_of_the_path(app):
    resp, c = exchange(app, request("PATCH", "/users/1"))
    c.close()
    problem(resp, 405)
    allow = {m.strip() for m in resp.header("Allow").split(",")}
    assert allow == {"GET", "HEAD", "DELETE", "OPTIONS"}, allow


def test_options_on_a_path_gets_204_with_allow(app):
    resp, c = exchange(app, request("OPTIONS", "/echo"))
    c.close()
    assert resp.status == 204, resp
    allow = {m.strip() for m in resp.header("Allow").split(",")}
    assert allow == {"POST", "PUT", "OPTIONS"}, allow
    assert resp.header("Content-Length") is None
    assert resp.header("Transfer-Encoding") is None


def test_options_asterisk_gets_204_with_allow(app):
    with app.connect() as c:
        c.send(request("OPTIONS", "*"))
        resp = c.read_response()
        assert resp.status == 204, resp
        allow = {m.strip() for m in resp.header("Allow").split(",")}
        assert {"GET", "POST", "OPTIONS"} <= allow, allow
        assert resp.header("Content-Length") is None
        # 204 has no body: the next response follows immediately
        c.send(get("/hello"))
        assert c.read_response().body == b"hello"


def test_head_is_answered_for_a_get_route_without_body_but_with_content_length(app):
    with app.connect() as c:
        c.send(request("HEAD", "/users/42") + get("/users/43"))
        head = c.read_response(head=True)
        assert head.status == 200, head
        assert head.header("Content-Length") == str(len(b"user 42"))
        assert head.header("Content-Type") == "text/plain; charset=utf-8"
        # no body bytes were sent: the next response starts right away
        nxt = c.read_response()
        assert (nxt.status, nxt.body) == (200, b"user 43")


def test_head_of_a_streamed_get_sends_no_body(app):
    with app.connect() as c:
        c.send(request("HEAD", "/stream?n=3&size=5") + get("/hello"))
        head = c.read_response(head=True)
        assert head.status == 200, head
        # GET would send 15 bytes chunked: a HEAD must not claim a length of 0
        assert head.header("Content-Length") in (None, "15"), head
        # the handler's stream writes are discarded, the connection stays in sync
        nxt = c.read_response()
        assert (nxt.status, nxt.body) == (200, b"hello"), nxt


def test_path_params_are_percent_decoded(app):
    resp, c = exchange(app, get("/params/a%20b%C3%A9/c/d%20e"))
    c.close()
    assert resp.status == 200, resp
    assert resp.json() == {"a": "a b\u00e9", "rest": "c/d e", "route": "/params/:a/*rest"}


def test_query_string_is_not_part_of_the_path(app):
    resp, c = exchange(app, get("/users/5?x=1&y=%20"))
    c.close()
    assert (resp.status, resp.body) == (200, b"user 5")


def test_non_integer_id_gets_the_handlers_400_problem(app):
    resp, c = exchange(app, get("/users/abc"))
    c.close()
    doc = problem(resp, 400)
    assert doc["detail"] == "id must be an integer"


# --------------------------------------------------------------------------
# Built-in response fields
# --------------------------------------------------------------------------


def test_every_response_has_server_and_an_imf_fixdate_date(app):
    with app.connect() as c:
        c.send(get("/hello") + get("/nope") + request("POST", "/hello") + request("OPTIONS", "*"))
        resps = [c.read_response() for _ in range(4)]
    resp_bad, c2 = exchange(app, b"GET / HTTP/1.1\r\nHost: x\r\nBad Field: 1\r\n\r\n")
    c2.close()
    resps.append(resp_bad)
    assert [r.status for r in resps] == [200, 404, 405, 204, 400]
    now = time.time()
    for r in resps:
        assert r.header("Server") == "galley", r
        date = r.header("Date")
        m = IMF_FIXDATE.fullmatch(date or "")
        assert m, "Date %r is not IMF-fixdate" % date
        stamp = calendar.timegm(time.strptime(date, "%a, %d %b %Y %H:%M:%S GMT"))
        assert abs(stamp - now) <= 3, (date, now)
        # the weekday must agree with the date
        assert time.strftime("%a", time.gmtime(stamp)) == m.group(1)


def test_request_id_is_generated_unique_per_request(app):
    ids = []
    for _ in range(3):
        with app.connect() as c:
            c.send(b"".join(get("/hello") for _ in range(10)))
            for _ in range(10):
                rid = c.read_response().header("X-Request-Id")
                assert rid and re.fullmatch(r"[A-Za-z0-9._:-]{8,64}", rid), rid
                ids.append(rid)
    assert len(set(ids)) == len(ids), ids


def test_sane_incoming_request_id_is_honoured(app):
    rid = "req-42_abc.DEF:9"
    resp, c = exchange(app, get("/nope", "X-Request-Id: " + rid))
    c.close()
    assert resp.header("X-Request-Id") == rid
    assert resp.json()["request_id"] == rid


def test_request_id_of_200_chars_is_replaced(app):
    resp, c = exchange(app, get("/hello", "X-Request-Id: " + "a" * 200))
    c.close()
    rid = resp.header("X-Request-Id")
    assert rid and rid != "a" * 200 and len(rid) <= 64, rid


def test_request_id_with_spaces_or_quotes_is_replaced(app):
    for bad in ("a b", 'x"y', "a,b", "<script>"):
        resp, c = exchange(app, get("/nope", "X-Request-Id: " + bad))
        c.close()
        rid = resp.header("X-Request-Id")
        assert rid and rid != bad, (bad, rid)
        assert re.fullmatch(r"[A-Za-z0-9._:-]+", rid), rid
        assert resp.json()["request_id"] == rid


def test_request_id_off_sends_no_request_id(start_server):
    srv = start_server("--no-request-id")
    resp, c = exchange(srv, get("/hello", "X-Request-Id: keep-me"))
    c.close()
    assert resp.status == 200
    assert resp.header("X-Request-Id") is None, resp


def test_access_log_line_has_the_request_fields(app):
    rid = "access-log-check-1"
    with app.connect() as c:
        c.send(get("/users/77", "X-Request-Id: " + rid))
        resp = c.read_response()
        peer = "127.0.0.1:%d" % c.sock.getsockname()[1]
    assert resp.status == 200
    line = app.wait_log(lambda l: l.get("msg") == "request" and l.get("request_id") == rid)
    assert line["method"] == "GET"
    assert line["path"] == "/users/77"
    assert line["status"] == 200
    assert line["bytes"] == len(resp.raw), (line, len(resp.raw))
    assert isinstance(line["duration_ms"], (int, float)) and 0 <= line["duration_ms"] < 5000
    assert line["peer"] == peer
    assert line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["time"]), line["time"]


def test_access_log_records_post_and_404(app):
    rid = "access-log-check-2"
    resp, c = exchange(app, request("POST", "/nowhere", ["X-Request-Id: " + rid], body=b"abc"))
    c.close()
    assert resp.status == 404
    line = app.wait_log(lambda l: l.get("msg") == "request" and l.get("request_id") == rid)
    assert (line["method"], line["path"], line["status"]) == ("POST", "/nowhere", 404)
    assert line["bytes"] == len(resp.raw)


def test_access_log_off_writes_no_request_lines(start_server):
    srv = start_server("--access-log", "off")
    resp, c = exchange(srv, get("/hello", "Connection: close"))
    c.close()
    assert resp.status == 200
    assert srv.stop() == 0
    assert [l for l in srv.log_lines() if l.get("msg") == "request"] == []


# --------------------------------------------------------------------------
# Handlers and middleware
# --------------------------------------------------------------------------


def test_handler_error_gets_500_with_only_the_request_id(app):
    resp, c = exchange(app, get("/fail"))
    c.close()
    doc = problem(resp, 500)
    rid = resp.header("X-Request-Id")
    assert doc["request_id"] == rid
    text = resp.body.decode()
    for leak in ("EIO", "i/o", "/fail", "route"):
        assert leak not in text, "500 body leaks %r: %s" % (leak, text)
    # the detail goes to the log, tied to the request id
    line = app.wait_log(lambda l: l.get("level") == "error" and rid in l.get("msg", ""))
    assert "EIO" in line["msg"]


def test_handler_without_response_gets_500(app):
    resp, c = exchange(app, get("/noresp"))
    c.close()
    doc = problem(resp, 500)
    assert doc["request_id"] == resp.header("X-Request-Id")
    # the connection stays usable
    c = app.connect()
    c.send(get("/hello"))
    assert c.read_response().status == 200
    c.close()


def test_middleware_adds_its_header_to_responses(app):
    for path, status in (("/hello", 200), ("/nope", 404)):
        resp, c = exchange(app, get(path))
        c.close()
        assert resp.status == status
        assert resp.header("X-Middleware") == "1", resp


def test_middleware_short_circuits_with_403(app):
    resp, c = exchange(app, get("/hello", "X-Block: 1"))
    c.close()
    doc = problem(resp, 403)
    assert doc["detail"] == "blocked by middleware"
    assert resp.header("X-Middleware") == "1"
    assert b"hello" not in resp.body


def test_middleware_short_circuit_does_not_run_the_handler(start_server):
    srv = start_server()
    resp, c = exchange(srv, request("POST", "/stop", ["X-Block: yes"]))
    c.close()
    assert resp.status == 403, resp
    time.sleep(0.3)
    assert srv.alive(), "POST /stop ran although the middleware answered 403"
    resp, c = exchange(srv, get("/hello"))
    c.close()
    assert resp.status == 200


def test_handler_cannot_set_reserved_or_injected_headers(app):
    resp, c = exchange(app, get("/headers"))
    c.close()
    assert resp.status == 200
    assert resp.body == b"reserved=EINVAL injection=EINVAL"
    assert resp.header("X-Custom") == "yes"
    assert resp.header("Injected") is None
    assert resp.header("X-Evil") is None
    assert resp.header("Content-Length") == str(len(resp.body))
