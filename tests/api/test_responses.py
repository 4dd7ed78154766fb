"""Response framing: chunked streaming, HTTP/1.0 streaming, large and slow reads."""
import time

from conftest import Conn, SLOW, request


def digits(n):
    """The /big body: '0123456789' repeated to n bytes."""
    return (b"0123456789" * (n // 10 + 1))[:n]


def stream_body(n, size):
    return b"".join(bytes([ord("a") + i % 26]) * size for i in range(n))


def test_streaming_response_uses_exact_chunk_framing(app):
    with app.connect() as c:
        c.send(request("GET", "/stream?n=3&size=5"))
        head = c.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        assert b"\r\nTransfer-Encoding: chunked\r\n" in head, head
        assert b"Content-Length" not in head, head
        expected = b"5\r\naaaaa\r\n5\r\nbbbbb\r\n5\r\nccccc\r\n0\r\n\r\n"
        assert c.read_exact(len(expected)) == expected
        # the connection stays usable after the last chunk
        c.send(request("GET", "/hello"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"hello")


def test_streaming_large_chunks_with_pauses_arrives_intact(app):
    with app.connect() as c:
        c.send(request("GET", "/stream?n=6&size=70000&pause=20"))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.header("Transfer-Encoding") == "chunked"
        assert resp.body == stream_body(6, 70000)
        # each write is its own chunk (or split further), never merged across writes
        assert all(len(d) <= 70000 for _, d in resp.chunks), [len(d) for _, d in resp.chunks]
        assert resp.trailers == b""


def test_empty_stream_is_just_the_last_chunk(app):
    with app.connect() as c:
        c.send(request("GET", "/stream?n=0"))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.header("Transfer-Encoding") == "chunked"
        assert resp.chunks == [] and resp.body == b""


def test_streaming_to_http10_is_close_delimited_without_chunked(app):
    with app.connect() as c:
        c.send(b"GET /stream?n=4&size=3 HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.header("Transfer-Encoding") is None, resp
        assert resp.header("Content-Length") is None, resp
        assert resp.header("Connection") == "close"
        assert resp.body == b"aaabbbcccddd"


def test_streaming_to_http10_keep_alive_still_closes(app):
    with app.connect() as c:
        c.send(b"GET /stream?n=2&size=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.header("Transfer-Encoding") is None
        assert resp.header("Connection") == "close", resp
        assert resp.body == b"aaabbb"


def test_large_response_read_slowly_arrives_intact(app):
    size = 3 * 1024 * 1024 + 7
    c = Conn(app.port, rcvbuf=8192)
    with c:
        c.send(request("GET", "/big?size=%d" % size))
        time.sleep(1.0)  # the server fills the socket buffers and must wait
        got = b""
        resp_head = c.read_until(b"\r\n\r\n")
        assert resp_head.startswith(b"HTTP/1.1 200 OK\r\n"), resp_head
        assert b"\r\nContent-Length: %d\r\n" % size in resp_head, resp_head
        while len(got) < size:
            piece = c.read_exact(min(256 * 1024, size - len(got)))
            got += piece
            time.sleep(0.02)
        assert got == digits(size)
        c.send(request("GET", "/hello"))
        assert c.read_response().body == b"hello"


def test_16_mib_response_arrives_intact(app):
    size = 16 * 1024 * 1024
    with Conn(app.port, timeout=30 * SLOW) as c:
        c.send(request("GET", "/big?size=%d" % size))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.header("Content-Length") == str(size)
        assert len(resp.body) == size
        assert resp.body == digits(size)


def test_large_echo_round_trips(app):
    payload = bytes(range(256)) * 4096 * 2  # 2 MiB
    with Conn(app.port, timeout=30 * SLOW) as c:
        c.send(request("PUT", "/echo", body=payload))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == payload


def test_head_of_a_large_get_has_its_length_and_no_body(app):
    with app.connect() as c:
        c.send(request("HEAD", "/big?size=1048576") + request("GET", "/hello"))
        head = c.read_response(head=True)
        assert head.status == 200
        assert head.header("Content-Length") == "1048576"
        nxt = c.read_response()
        assert nxt.body == b"hello"
