"""JSON request bodies (gly_req_json): media type, parse errors, limits, problem documents."""
import json

import pytest

from conftest import exchange, problem, request

JSON = ("Content-Type", "application/json")


def post(app, body, headers=(JSON,)):
    resp, c = exchange(app, request("POST", "/json/echo", headers=headers, body=body))
    c.close()
    return resp


def invalid(resp, code="invalid-json"):
    """A 400 problem document for a JSON body; returns it."""
    doc = problem(resp, 400)
    assert doc["code"] == code, doc
    assert doc["type"] == "about:blank", doc
    assert doc["title"] == "Bad Request", doc
    assert doc["request_id"] == resp.header("X-Request-Id"), doc
    return doc


def test_valid_object_is_parsed_and_echoed(app):
    body = b'{\n  "name": "caf\\u00e9",\n  "tags": ["a", "b"],\n  "n": 1.50, "ok": true, "z": null\n}'
    resp = post(app, body)
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "application/json"
    doc = resp.json()
    assert doc["type"] == "object" and doc["keys"] == 5, doc
    assert doc["value"] == {"name": "caf\u00e9", "tags": ["a", "b"], "n": 1.5, "ok": True, "z": None}
    # numbers keep their text
    assert b'"n":1.50' in resp.body, resp.body


def test_valid_array_and_scalar_roots(app):
    doc = post(app, b" [1, 2, 3] ").json()
    assert (doc["type"], doc["len"], doc["value"]) == ("array", 3, [1, 2, 3])
    doc = post(app, b'"\xf0\x9f\x98\x80"').json()
    assert (doc["type"], doc["value"]) == ("string", "\U0001F600")


@pytest.mark.parametrize(
    "ctype",
    [
        "application/json; charset=utf-8",
        "Application/JSON;charset=\"UTF-8\"",
        "application/merge-patch+json",
        "application/vnd.api+json ; charset=utf-8",
    ],
)
def test_json_media_types_are_accepted(app, ctype):
    resp = post(app, b'{"a":1}', headers=[("Content-Type", ctype)])
    assert resp.status == 200, resp


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Type", "text/plain")],
        [("Content-Type", "application/x-www-form-urlencoded")],
        [("Content-Type", "application/jsonx")],
        [("Content-Type", "application/json; charset=latin1")],
        [("Content-Type", "application/json; charset=iso-8859-1")],
        [],
    ],
)
def test_other_media_types_get_415(app, headers):
    resp = post(app, b'{"a":1}', headers=headers)
    doc = problem(resp, 415)
    assert doc["code"] == "unsupported-media-type", doc
    assert "application/json" in doc["detail"] or "utf-8" in doc["detail"], doc
    assert doc["request_id"] == resp.header("X-Request-Id"), doc


def test_charset_latin1_names_utf8_in_detail(app):
    doc = problem(post(app, b"{}", headers=[("Content-Type", "application/json; charset=latin1")]), 415)
    assert "UTF-8" in doc["detail"], doc


def test_invalid_json_reports_line_and_column(app):
    body = b'{\n  "a": 1,\n  "b" 2\n}'
    doc = invalid(post(app, body))
    assert doc["line"] == 3 and doc["column"] == 7, doc
    assert doc["detail"] == "invalid JSON at line 3, column 7: expected ':' after object key", doc


def test_trailing_comma_and_garbage_are_400(app):
    doc = invalid(post(app, b"[1,2,]"))
    assert "trailing comma" in doc["detail"], doc
    doc = invalid(post(app, b"{} {}"))
    assert "trailing characters" in doc["detail"], doc
    assert (doc["line"], doc["column"]) == (1, 4), doc


def test_duplicate_key_is_400(app):
    doc = invalid(post(app, b'{"id": 1,\n "id": 2}'))
    assert doc["detail"] == 'invalid JSON at line 2, column 2: duplicate key "id"', doc
    assert (doc["line"], doc["column"]) == (2, 2), doc


def test_invalid_utf8_is_400(app):
    doc = invalid(post(app, b'{"a": "\xc0\xaf"}'))
    assert "invalid UTF-8 byte 0xC0" in doc["detail"], doc
    assert doc["column"] == 8, doc
    doc = invalid(post(app, b'["\\ud800"]'))
    assert "unpaired surrogate" in doc["detail"], doc


def test_too_deep_is_400_json_limit(app):
    doc = invalid(post(app, b"[" * 65 + b"]" * 65), code="json-limit")
    assert "nesting deeper than 64" in doc["detail"], doc
    assert doc["column"] == 65, doc


def test_empty_body_is_400(app):
    doc = invalid(post(app, b""))
    assert doc["detail"] == "request body is empty", doc
    assert "line" not in doc, doc


def test_error_then_keep_alive_connection_still_serves(app):
    with app.connect() as c:
        c.send(request("POST", "/json/echo", headers=[JSON], body=b"[1,"))
        invalid(c.read_response())
        c.send(request("POST", "/json/echo", headers=[JSON], body=b"[1]"))
        resp = c.read_response()
        assert resp.status == 200 and json.loads(resp.body)["len"] == 1, resp
