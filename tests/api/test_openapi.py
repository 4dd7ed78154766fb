"""
tests/api/test_openapi.py - GET /openapi.json (validated with an npm OpenAPI
validator run by node) and GET /docs (Swagger UI from assets in the binary).
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, exchange, request

HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATOR_SRC = os.path.join(HERE, "openapi")
DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"


def get(srv, target):
    resp, c = exchange(srv, request("GET", target))
    c.close()
    return resp


@pytest.fixture(scope="module")
def validator():
    """A build-tree copy of tests/api/openapi with its node_modules (npm ci, only when stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed to validate /openapi.json (scripts/bootstrap installs them)")
    dest = os.path.join(BUILD, "openapi-validator")
    os.makedirs(dest, exist_ok=True)
    for name in ("package.json", "package-lock.json", "validate.js"):
        shutil.copyfile(os.path.join(VALIDATOR_SRC, name), os.path.join(dest, name))
    stamp = os.path.join(dest, "node_modules", ".package-lock.json")
    lock = os.path.join(VALIDATOR_SRC, "package-lock.json")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(lock):
        r = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", "--loglevel=error"],
            cwd=dest, capture_output=True, text=True, timeout=300,
        )
        assert r.returncode == 0, "npm ci for the validator failed:\n%s%s" % (r.stdout, r.stderr)

    def validate(doc_bytes):
        r = subprocess.run([node, "validate.js"], cwd=dest, input=doc_bytes, capture_output=True, timeout=60)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    return validate


@pytest.fixture(scope="module")
def doc(app):
    resp = get(app, "/openapi.json")
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "application/json", resp
    return resp


def test_openapi_json_is_valid_openapi_3_1(doc, validator):
    rc, out = validator(doc.body)
    assert rc == 0, "validator rejected /openapi.json:\n%s\n--- document ---\n%s" % (out, doc.body[:2000])
    assert "3.1" in out


def test_validator_rejects_a_broken_document(validator):
    rc, out = validator(b'{"openapi":"3.1.0","info":{"title":"x"},"paths":{}}')
    assert rc != 0 and "version" in out, out


def test_openapi_has_info_and_problem_schema(doc):
    d = doc.json()
    assert d["openapi"] == "3.1.0"
    assert d["info"]["title"] == "Galley API"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", d["info"]["version"]), d["info"]
    problem = d["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= set(problem["properties"])


def test_openapi_paths_use_template_params(doc):
    paths = doc.json()["paths"]
    assert "/users/{id}" in paths and "/users/:id" not in paths, sorted(paths)
    assert "/params/{a}/{rest}" in paths, sorted(paths)
    assert set(paths["/users/{id}"]) >= {"get", "delete", "parameters"}, paths["/users/{id}"]
    assert paths["/users/{id}"]["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    params = paths["/params/{a}/{rest}"]["parameters"]
    assert [p["name"] for p in params] == ["a", "rest"]
    assert all(p["in"] == "path" and p["required"] is True for p in params)
    assert "multi-segment" in params[1]["description"]
    # one path item for the methods of a pattern; automatic HEAD/OPTIONS left out
    assert set(paths["/echo"]) == {"post", "put"}, paths["/echo"]
    assert set(paths["/hello"]) == {"get"}


def test_openapi_operations_answer_ok_or_problem(doc):
    d = doc.json()
    for path, item in d["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            if (path, method) == ("/validate/user", "post"):
                continue  # documented as 201, see below
            assert op["responses"]["200"]["description"] == "OK", (path, method)
            assert op["responses"]["default"] == {"$ref": "#/components/responses/Problem"}, (path, method)
    prob = d["components"]["responses"]["Problem"]["content"]["application/problem+json"]
    assert prob["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_route_doc_summary_tags_and_operation_id(doc):
    op = doc.json()["paths"]["/users/{id}"]["get"]
    assert op["summary"] == "Get a user"
    assert op["tags"] == ["users"]
    assert op["operationId"] == "getUser"
    # the DELETE route of the same pattern was not documented
    assert "summary" not in doc.json()["paths"]["/users/{id}"]["delete"]


def test_builtin_routes_are_tagged_system(doc):
    paths = doc.json()["paths"]
    for p in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"):
        assert paths[p]["get"]["tags"] == ["system"], (p, paths[p])
    assert "system" not in paths["/hello"]["get"].get("tags", [])


def test_docs_page_references_embedded_assets_only(app):
    resp = get(app, "/docs")
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    html = resp.body.decode()
    for asset in ("/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"):
        assert asset in html, html
    assert "http://" not in html and "https://" not in html, html
    assert "<script>" not in html, "inline script would need script-src 'unsafe-inline'"
    init = get(app, "/docs/init.js")
    assert init.status == 200 and b"/openapi.json" in init.body, init


def test_docs_has_relaxed_csp_others_keep_strict(app):
    csp = get(app, "/docs").all("Content-Security-Policy")
    assert len(csp) == 1, csp
    assert csp[0].startswith(DOCS_CSP), csp
    assert get(app, "/hello").header("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    "name,ctype,min_size",
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", 100 * 1024),
        ("swagger-ui.css", "text/css; charset=utf-8", 10 * 1024),
        ("init.js", "text/javascript; charset=utf-8", 10),
    ],
)
def test_docs_assets_served_with_type_and_cache(app, name, ctype, min_size):
    resp = get(app, "/docs/" + name)
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == ctype
    assert resp.header("Cache-Control") == "public, max-age=86400"
    assert len(resp.body) == int(resp.header("Content-Length")) > min_size


def test_docs_bundle_is_the_npm_file(app):
    path = os.path.join(BUILD, "web-docs", "node_modules", "swagger-ui-dist", "swagger-ui-bundle.js")
    with open(path, "rb") as f:
        assert get(app, "/docs/swagger-ui-bundle.js").body == f.read()


def test_docs_unknown_asset_is_404(app):
    resp = get(app, "/docs/nope.js")
    assert resp.status == 404
    assert resp.header("Content-Type") == "application/problem+json"
    assert json.loads(resp.body)["code"] == "not-found"


def test_route_schemas_become_request_body_and_response_content(doc):
    op = doc.json()["paths"]["/validate/user"]["post"]
    assert op["requestBody"]["required"] is True
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    assert "email" in schema["required"]
    assert schema["properties"]["email"]["format"] == "email"
    assert schema["additionalProperties"] is False
    created = op["responses"]["201"]
    assert created["description"] == "Created"
    assert created["content"]["application/json"]["schema"] == schema
    assert op["responses"]["default"] == {"$ref": "#/components/responses/Problem"}


def get_with(srv, target, headers):
    resp, c = exchange(srv, request("GET", target, headers=headers))
    c.close()
    return resp


def test_docs_assets_have_a_strong_etag_and_answer_304(app):
    first = get(app, "/docs/swagger-ui.css")
    etag = first.header("ETag")
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag), etag
    again = get_with(app, "/docs/swagger-ui.css", [("If-None-Match", etag)])
    assert again.status == 304
    assert again.body == b""
    assert again.header("ETag") == etag
    assert again.header("Content-Length") is None
    listed = get_with(app, "/docs/swagger-ui.css", [("If-None-Match", '"x", W/%s' % etag)])
    assert listed.status == 304
    other = get_with(app, "/docs/swagger-ui.css", [("If-None-Match", '"0000"')])
    assert other.status == 200 and len(other.body) == len(first.body)
    # each file has its own tag
    assert get(app, "/docs/init.js").header("ETag") != etag
