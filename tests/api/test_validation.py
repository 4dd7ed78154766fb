"""Declarative validation through the testapp /validate routes: 422 for bodies, 400 for parameters."""
import json

import pytest

from conftest import exchange, problem, request

JSON = ("Content-Type", "application/json")


def post_user(app, doc, raw=None):
    body = raw if raw is not None else json.dumps(doc).encode()
    resp, c = exchange(app, request("POST", "/validate/user", headers=[JSON], body=body))
    c.close()
    return resp


def get(app, target):
    resp, c = exchange(app, request("GET", target))
    c.close()
    return resp


def failed(resp, status):
    """A validation problem document; returns {(field, code)} of its errors."""
    doc = problem(resp, status)
    assert doc["code"] == "validation-failed", doc
    assert doc["type"] == "about:blank", doc
    assert doc["request_id"] == resp.header("X-Request-Id"), doc
    n = len(doc["errors"])
    assert doc["detail"] == ("1 field is invalid" if n == 1 else "%d fields are invalid" % n), doc
    for e in doc["errors"]:
        assert set(e) == {"field", "code", "message"}, e
        assert isinstance(e["message"], str) and e["message"], e
    return {(e["field"], e["code"]) for e in doc["errors"]}


def test_valid_user_is_created_and_echoed(app):
    doc = {"email": "ann@example.com", "name": "Ann", "age": 30, "role": "admin", "slug": "ann-1",
           "tags": ["a", "b"]}
    resp = post_user(app, doc)
    assert resp.status == 201, resp
    assert resp.json() == doc


def test_three_bad_fields_give_exactly_three_errors(app):
    resp = post_user(app, {"email": "not-an-email", "age": 151, "role": "root", "name": "Ann"})
    assert resp.status == 422, resp
    assert failed(resp, 422) == {("email", "format"), ("age", "max"), ("role", "enum")}
    by_field = {e["field"]: e for e in resp.json()["errors"]}
    assert by_field["age"]["message"] == "must be at most 150"
    assert resp.json()["title"] == "Unprocessable Content"


def test_wrong_types_are_reported(app):
    resp = post_user(app, {"email": "a@b.co", "age": "30", "name": 5, "tags": "x"})
    assert failed(resp, 422) == {("age", "type"), ("name", "type"), ("tags", "type")}


def test_missing_required_field(app):
    resp = post_user(app, {"name": "Ann"})
    assert failed(resp, 422) == {("email", "required")}
    assert resp.json()["errors"][0]["message"] == "is required"


def test_unknown_field_is_rejected(app):
    resp = post_user(app, {"email": "a@b.co", "admin": True})
    assert failed(resp, 422) == {("admin", "unknown_field")}


def test_array_items_and_patterns_have_precise_paths(app):
    resp = post_user(app, {"email": "a@b.co", "slug": "Bad Slug", "tags": ["ok", "", "x", "y"]})
    assert failed(resp, 422) == {("slug", "pattern"), ("tags", "max_items"), ("tags[1]", "min_length")}


def test_non_object_body_is_422_and_syntax_errors_stay_400(app):
    assert failed(post_user(app, None, raw=b"[1,2]"), 422) == {("", "type")}
    doc = problem(post_user(app, None, raw=b'{"email": '), 400)
    assert doc["code"] == "invalid-json", doc
    resp, c = exchange(app, request("POST", "/validate/user", headers=[("Content-Type", "text/plain")],
                                    body=b"{}"))
    c.close()
    assert problem(resp, 415)["code"] == "unsupported-media-type"


@pytest.mark.parametrize("query", ["", "?limit=1", "?limit=100&sort=-name", "?sort=created"])
def test_valid_query_parameters_pass(app, query):
    resp = get(app, "/validate/items" + query)
    assert resp.status == 200, resp
    assert resp.json() == {"ok": True}


@pytest.mark.parametrize(
    "query, errors",
    [
        ("?limit=0", {("query.limit", "min")}),
        ("?limit=101", {("query.limit", "max")}),
        ("?limit=ten", {("query.limit", "type")}),
        ("?limit=", {("query.limit", "type")}),
        ("?limit=1.5", {("query.limit", "type")}),
        ("?sort=size", {("query.sort", "enum")}),
        ("?limit=0&sort=size", {("query.limit", "min"), ("query.sort", "enum")}),
    ],
)
def test_bad_query_parameters_are_400_with_every_error(app, query, errors):
    assert failed(get(app, "/validate/items" + query), 400) == errors


def test_path_parameter_must_be_a_uuid(app):
    resp = get(app, "/validate/items/123e4567-e89b-12d3-a456-426614174000")
    assert resp.status == 200, resp
    resp = get(app, "/validate/items/42")
    assert failed(resp, 400) == {("path.id", "format")}
    assert resp.json()["errors"][0]["message"] == "must be a UUID"
