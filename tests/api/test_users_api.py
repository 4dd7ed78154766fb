"""
tests/api/test_users_api.py - examples/users_api.c, the users service on the
database API, black-box on embedded SQLite and on a real PostgreSQL (the pg
fixture of tests/api/pgserver.py).
"""
import json
import os
import re
import sqlite3
import time

import pytest

from conftest import exchange, problem, request

USER_KEYS = {"id", "email", "name", "created_at"}


@pytest.fixture
def users(start_server, db_args):
    return start_server(*db_args, binary="example-users_api")


def call(srv, method, target, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = [("Content-Type", "application/json")] if body is not None else []
    resp, c = exchange(srv, request(method, target, headers=headers, body=data))
    c.close()
    return resp


def create(srv, email, name="Ann"):
    resp = call(srv, "POST", "/api/users", {"email": email, "name": name})
    assert resp.status == 201, resp
    return resp.json()


def errors(doc):
    return sorted((e["field"], e["code"]) for e in doc["errors"])


def test_create_answers_201_with_the_row_and_its_location(users):
    resp = call(users, "POST", "/api/users", {"email": "ann@example.com", "name": "Ann"})
    assert resp.status == 201, resp
    assert resp.header("Content-Type") == "application/json"
    user = resp.json()
    assert set(user) == USER_KEYS
    assert isinstance(user["id"], int) and user["id"] >= 1
    assert (user["email"], user["name"]) == ("ann@example.com", "Ann")
    # seconds since the epoch, the same on both backends
    assert isinstance(user["created_at"], int) and abs(user["created_at"] - time.time()) < 300, user
    assert resp.header("Location") == "/api/users/%d" % user["id"]

    got = call(users, "GET", resp.header("Location"))
    assert got.status == 200 and got.json() == user


def test_unknown_and_bad_ids(users):
    assert problem(call(users, "GET", "/api/users/424242"), 404)["code"] == "not-found"
    assert problem(call(users, "PATCH", "/api/users/424242", {"name": "X"}), 404)["code"] == "not-found"
    assert problem(call(users, "DELETE", "/api/users/424242"), 404)["code"] == "not-found"
    for bad in ("abc", "0", "-1", "1.5", "99999999999999999999"):
        doc = problem(call(users, "GET", "/api/users/" + bad), 400)
        assert [e["field"] for e in doc["errors"]] == ["path.id"], (bad, doc)


def test_list_pages_through_the_users_in_id_order(users):
    made = [create(users, "u%d@example.com" % i) for i in range(5)]
    doc = call(users, "GET", "/api/users").json()
    assert doc == {"items": made, "page": 1, "per_page": 30, "total_items": 5, "total_pages": 1}

    page2 = call(users, "GET", "/api/users?page=2&per_page=2").json()
    assert page2["items"] == made[2:4]
    assert (page2["page"], page2["per_page"], page2["total_items"], page2["total_pages"]) == (2, 2, 5, 3)
    assert call(users, "GET", "/api/users?page=3&per_page=2").json()["items"] == made[4:]
    past = call(users, "GET", "/api/users?page=9&per_page=2").json()
    assert past["items"] == [] and past["total_items"] == 5
    assert call(users, "GET", "/api/users?per_page=100").json()["per_page"] == 100


def test_an_empty_list_has_no_pages(users):
    doc = call(users, "GET", "/api/users").json()
    assert doc == {"items": [], "page": 1, "per_page": 30, "total_items": 0, "total_pages": 0}


@pytest.mark.parametrize(
    "query,field,code",
    [
        ("per_page=0", "query.per_page", "min"),
        ("per_page=101", "query.per_page", "max"),
        ("per_page=ten", "query.per_page", "type"),
        ("page=0", "query.page", "min"),
        ("page=-3", "query.page", "min"),
        ("page=1.5", "query.page", "type"),
    ],
)
def test_list_rejects_bad_paging_naming_the_parameter(users, query, field, code):
    doc = problem(call(users, "GET", "/api/users?" + query), 400)
    assert errors(doc) == [(field, code)]


def test_list_reports_both_bad_parameters_at_once(users):
    doc = problem(call(users, "GET", "/api/users?page=0&per_page=1000"), 400)
    assert errors(doc) == [("query.page", "min"), ("query.per_page", "max")]


def test_patch_changes_only_the_given_fields(users):
    user = create(users, "bob@example.com", "Bob")
    resp = call(users, "PATCH", "/api/users/%d" % user["id"], {"name": "Robert"})
    assert resp.status == 200, resp
    assert resp.json() == dict(user, name="Robert")
    resp = call(users, "PATCH", "/api/users/%d" % user["id"], {"email": "rob@example.com"})
    assert resp.json() == dict(user, name="Robert", email="rob@example.com")
    assert call(users, "PATCH", "/api/users/%d" % user["id"], {}).json() == resp.json()
    assert call(users, "GET", "/api/users/%d" % user["id"]).json() == resp.json()


def test_patch_validates_what_it_is_given(users):
    user = create(users, "cy@example.com")
    doc = problem(call(users, "PATCH", "/api/users/%d" % user["id"], {"email": "x", "name": "", "age": 3}), 422)
    assert errors(doc) == [("age", "unknown_field"), ("email", "format"), ("name", "min_length")]
    doc = problem(call(users, "PATCH", "/api/users/%d" % user["id"], {"name": None}), 422)
    assert errors(doc) == [("name", "type")]
    assert call(users, "GET", "/api/users/%d" % user["id"]).json() == user


def test_delete_answers_204_then_the_user_is_gone(users):
    user = create(users, "dee@example.com")
    keep = create(users, "eve@example.com")
    resp = call(users, "DELETE", "/api/users/%d" % user["id"])
    assert resp.status == 204 and resp.body == b""
    assert problem(call(users, "GET", "/api/users/%d" % user["id"]), 404)["code"] == "not-found"
    assert problem(call(users, "DELETE", "/api/users/%d" % user["id"]), 404)["code"] == "not-found"
    assert call(users, "GET", "/api/users").json()["items"] == [keep]


def test_a_taken_email_is_a_409_naming_the_field(users):
    ann = create(users, "ann@example.com")
    bob = create(users, "bob@example.com")
    doc = problem(call(users, "POST", "/api/users", {"email": "ann@example.com", "name": "Other"}), 409)
    assert errors(doc) == [("email", "unique")]
    doc = problem(call(users, "PATCH", "/api/users/%d" % bob["id"], {"email": "ann@example.com"}), 409)
    assert errors(doc) == [("email", "unique")]
    # nothing changed, and the service goes on
    assert call(users, "GET", "/api/users").json()["items"] == [ann, bob]
    assert create(users, "cat@example.com")["id"] > bob["id"]


def test_422_lists_every_bad_field(users):
    doc = problem(call(users, "POST", "/api/users", {"email": "not-an-email", "name": "x" * 101, "role": "admin"}), 422)
    assert doc["code"] == "validation-failed"
    assert errors(doc) == [("email", "format"), ("name", "max_length"), ("role", "unknown_field")]
    doc = problem(call(users, "POST", "/api/users", {}), 422)
    assert errors(doc) == [("email", "required"), ("name", "required")]
    doc = problem(call(users, "POST", "/api/users", {"email": 7, "name": ""}), 422)
    assert errors(doc) == [("email", "type"), ("name", "min_length")]
    assert call(users, "GET", "/api/users").json()["total_items"] == 0


def test_a_body_that_is_not_json_is_refused(users):
    resp, c = exchange(users, request("POST", "/api/users", headers=[("Content-Type", "application/json")], body=b"{"))
    c.close()
    problem(resp, 400)
    resp, c = exchange(users, request("POST", "/api/users", headers=[("Content-Type", "text/plain")], body=b"{}"))
    c.close()
    problem(resp, 415)


def test_data_survives_a_restart_with_the_same_database(start_server, db_args):
    first = start_server(*db_args, binary="example-users_api")
    ann = create(first, "ann@example.com")
    bob = create(first, "bob@example.com")
    assert call(first, "DELETE", "/api/users/%d" % ann["id"]).status == 204
    assert "applied migration users 1" in first.stderr_text()
    assert first.stop() == 0

    second = start_server(*db_args, binary="example-users_api")
    assert call(second, "GET", "/api/users").json()["items"] == [bob]
    assert problem(call(second, "GET", "/api/users/%d" % ann["id"]), 404)
    assert "applied migration" not in second.stderr_text()  # recorded: not run twice
    # the unique index came back too, and ids go on
    problem(call(second, "POST", "/api/users", {"email": "bob@example.com", "name": "B"}), 409)
    assert create(second, "cy@example.com")["id"] > bob["id"]


def test_a_changed_migration_stops_the_start(start_server, db_args, backend, request):
    srv = start_server(*db_args, binary="example-users_api")
    assert srv.stop() == 0
    tamper = "UPDATE galley_migrations SET checksum = '0123456789abcdef' WHERE module = 'users'"
    if backend == "sqlite":
        with sqlite3.connect(os.path.join(db_args[1], "data.db")) as db:
            db.execute(tamper)
    else:
        request.getfixturevalue("pg").psql(tamper, dbname=db_args[1].rsplit("/", 1)[1])
    again = start_server(*db_args, binary="example-users_api", wait=False)
    assert again.wait(10) == 1
    assert "migration users 1 (create users) differs from the one applied" in again.stderr_text()


def test_the_database_is_in_readiness_and_metrics(users):
    create(users, "ann@example.com")
    call(users, "GET", "/api/users")
    ready = call(users, "GET", "/health/ready")
    assert ready.status == 200, ready
    assert "db" in ready.body.decode()
    metrics = call(users, "GET", "/metrics").body.decode()
    assert re.search(r'^galley_db_queries_total\{statement="count_users"\} 1$', metrics, re.M), metrics
    assert re.search(r'^galley_db_queries_total\{statement="insert_users"\} 1$', metrics, re.M), metrics
    assert 'galley_db_query_duration_seconds_bucket{statement="select_users",le="+Inf"} 1' in metrics


def test_the_service_documents_its_routes(users):
    doc = call(users, "GET", "/openapi.json").json()
    post = doc["paths"]["/api/users"]["post"]
    assert post["summary"] == "Create a user" and "201" in post["responses"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert sorted(body["required"]) == ["email", "name"]
    assert body["properties"]["email"]["format"] == "email"
    assert set(doc["paths"]["/api/users/{id}"]) >= {"get", "patch", "delete"}
