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


def call(srv, method, target, body=None, headers=()):
    data = json.dumps(body).encode() if body is not None else b""
    hdrs = list(headers)
    if body is not None:
        hdrs.append(("Content-Type", "application/json"))
    resp, c = exchange(srv, request(method, target, headers=hdrs, body=data))
    c.close()
    return resp


def test_notes_example_creates_lists_gets_and_deletes(start_server):
    srv = start_server(binary="example-notes_api")
    resp = call(srv, "POST", "/api/notes", {"title": "first", "body": "hello", "tags": ["a", "b"]})
    assert resp.status == 201
    note = json.loads(resp.body)
    assert note == {"id": note["id"], "title": "first", "body": "hello", "tags": ["a", "b"]}
    assert resp.header("Location") == "/api/notes/%d" % note["id"]
    call(srv, "POST", "/api/notes", {"title": "second"})

    listed = json.loads(call(srv, "GET", "/api/notes?limit=1").body)
    assert listed["total_items"] == 2 and [n["title"] for n in listed["items"]] == ["first"]
    got = call(srv, "GET", "/api/notes/%d" % note["id"])
    assert got.status == 200 and json.loads(got.body) == note

    assert call(srv, "DELETE", "/api/notes/%d" % note["id"]).status == 204
    assert problem(call(srv, "GET", "/api/notes/%d" % note["id"]), 404)["code"] == "not-found"


def test_notes_example_reports_every_bad_field(start_server):
    srv = start_server(binary="example-notes_api")
    resp = call(srv, "POST", "/api/notes", {"body": 5, "tags": [""] * 11, "color": "red"})
    doc = problem(resp, 422)
    got = sorted((e["field"], e["code"]) for e in doc["errors"])
    assert ("title", "required") in got
    assert ("body", "type") in got
    assert ("tags", "max_items") in got
    assert ("color", "unknown_field") in got
    bad = call(srv, "GET", "/api/notes?limit=500")
    assert [(e["field"], e["code"]) for e in problem(bad, 400)["errors"]] == [("query.limit", "max")]
    assert problem(call(srv, "GET", "/api/notes/abc"), 400)["errors"][0]["field"] == "path.id"


def test_notes_example_documents_its_routes(start_server):
    srv = start_server(binary="example-notes_api")
    doc = json.loads(call(srv, "GET", "/openapi.json").body)
    assert doc["info"]["title"] == "Notes"
    post = doc["paths"]["/api/notes"]["post"]
    assert post["summary"] == "Create a note"
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["title"] and body["additionalProperties"] is False
    assert body["properties"]["title"]["maxLength"] == 200
    assert "201" in post["responses"]
    assert "delete" in doc["paths"]["/api/notes/{id}"]
