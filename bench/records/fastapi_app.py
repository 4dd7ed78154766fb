"""The FastAPI peer of the records benchmark (bench/records.py): galley's three record
endpoints for one collection, `posts` with a relation to `authors`, on Debian's
python3-fastapi and python3-uvicorn and the stdlib sqlite3 module.

  GET  /api/v1/collections/posts/records/{id}    the record; 404 when missing
  GET  /api/v1/collections/posts/records         ?filter=status="S" && votes>N&sort=-votes
                                                 &per_page=K[&page=P][&expand=author][&skip_total=1]
                                                 only this query shape (400 otherwise)
  POST /api/v1/collections/posts/records         create: pydantic validation, 201 + Location

The JSON is galley's: a record is {id, created, updated, title, body, votes, status,
author}, ids are 15 characters of [a-z0-9], times are ISO 8601 UTC with milliseconds; a
page is {items (each with expand.author when asked), page, per_page, total_items,
total_pages, next}, total_items and total_pages -1 with skip_total=1, next the cursor of
the following page (base64url of [votes, id]) or null. The tables and indexes are
galley's for the same collection definition (id primary key, created, the relation,
(status, votes)). SQLite as galley's default: WAL, synchronous=FULL, foreign_keys on.

The handlers are `async def` on one connection per process: the queries are short and
local, so running them on the event loop costs less than FastAPI's thread-pool hop for
plain `def` handlers, and one
connection is what one process with one event loop thread can use at a time. The
responses are serialized with the stdlib json module as the shared peer does
(../../../shared/bench/peers/python/app.py), not through response_model.

Run:   RECORDS_DB=posts.db python3 -m uvicorn --app-dir bench/records fastapi_app:app ...
Seed:  python3 bench/records/fastapi_app.py seed DB AUTHORS.jsonl POSTS.jsonl
       (each line a JSON object as galley's create takes it, with its id)
"""
import base64
import json
import os
import re
import sqlite3
import sys
import time
from typing import Literal, Optional

from fastapi import FastAPI, Request
from pydantic import BaseModel, Extra, StrictInt, constr
from starlette.responses import Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS authors (id TEXT PRIMARY KEY NOT NULL,
  created TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS authors_created ON authors (created);
CREATE TABLE IF NOT EXISTS posts (id TEXT PRIMARY KEY NOT NULL,
  created TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '',
  votes INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT '',
  author TEXT REFERENCES authors (id) ON DELETE SET NULL);
CREATE INDEX IF NOT EXISTS posts_created ON posts (created, id);
CREATE INDEX IF NOT EXISTS posts_author ON posts (author);
CREATE INDEX IF NOT EXISTS posts_status_votes ON posts (status, votes, id);
"""

POST_COLS = "id, created, updated, title, body, votes, status, author"
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_PER_PAGE = 500
# the one filter shape served: status = "..." && votes > N (PocketBase syntax, as galley)
FILTER_RE = re.compile(r'\s*status\s*=\s*"([a-z]*)"\s*&&\s*votes\s*>\s*(-?\d+)\s*')


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)  # autocommit: one transaction a write
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA busy_timeout=5000")
    con.executescript(SCHEMA)
    return con


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def new_id():
    return "".join(ID_ALPHABET[b % 36] for b in os.urandom(15))


def post_json(row):
    return {"id": row[0], "created": row[1], "updated": row[2], "title": row[3],
            "body": row[4], "votes": row[5], "status": row[6], "author": row[7] or ""}


def dumps(doc):
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def problem(status, detail):
    return Response(dumps({"status": status, "detail": detail}), status_code=status,
                    media_type="application/problem+json")


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
db = None


@app.on_event("startup")
def open_db():
    global db
    db = connect(os.environ.get("RECORDS_DB", "posts.db"))


@app.get("/health/live")
async def live():
    return Response(b"ok", media_type="text/plain")


@app.get("/api/v1/collections/posts/records/{rid}")
async def view_post(rid: str):
    row = db.execute(f"SELECT {POST_COLS} FROM posts WHERE id = ?", (rid,)).fetchone()
    if row is None:
        return problem(404, "no such record")
    return Response(dumps(post_json(row)), media_type="application/json")


def int_param(q, name, default, lo, hi):
    v = q.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        return None
    return n if lo <= n <= hi else None


@app.get("/api/v1/collections/posts/records")
async def list_posts(request: Request):
    q = request.query_params
    m = FILTER_RE.fullmatch(q.get("filter", ""))
    page = int_param(q, "page", 1, 1, 1_000_000_000)
    per = int_param(q, "per_page", 30, 1, MAX_PER_PAGE)
    skip_total = int_param(q, "skip_total", 0, 0, 1)
    expand = q.get("expand", "")
    if not m or q.get("sort") != "-votes" or expand not in ("", "author") or None in (
            page, per, skip_total):
        return problem(400, 'only filter=status="S" && votes>N, sort=-votes, expand=author')
    args = (m.group(1), int(m.group(2)))
    rows = db.execute(f"SELECT {POST_COLS} FROM posts WHERE status = ? AND votes > ? "
                      "ORDER BY votes DESC, id DESC LIMIT ? OFFSET ?",
                      args + (per, (page - 1) * per)).fetchall()
    total = -1
    if not skip_total:
        total = db.execute("SELECT count(*) FROM posts WHERE status = ? AND votes > ?",
                           args).fetchone()[0]
    items = [post_json(r) for r in rows]
    if expand and items:
        ids = list({r[7] for r in rows if r[7]})
        marks = ",".join("?" * len(ids))
        authors = {a[0]: {"id": a[0], "created": a[1], "updated": a[2], "name": a[3]}
                   for a in db.execute("SELECT id, created, updated, name FROM authors "
                                       f"WHERE id IN ({marks})", ids)}
        for it in items:
            a = authors.get(it["author"])
            it["expand"] = {"author": a} if a else {}
    nxt = None
    if len(rows) == per:
        last = rows[-1]
        nxt = base64.urlsafe_b64encode(dumps([last[5], last[0]]).encode()).rstrip(b"=").decode()
    doc = {"items": items, "page": page, "per_page": per, "total_items": total,
           "total_pages": -1 if total < 0 else (total + per - 1) // per, "next": nxt}
    return Response(dumps(doc), media_type="application/json")


RecordId = constr(regex=r"^[a-z0-9]{15}$")
NonEmpty = constr(min_length=1)


class PostIn(BaseModel):
    """A create: galley's rules for the collection (422 naming the field otherwise)."""

    id: Optional[RecordId] = None
    title: NonEmpty
    body: str = ""
    votes: StrictInt = 0
    status: Literal["", "draft", "published"] = ""
    author: str = ""

    class Config:
        extra = Extra.forbid


@app.post("/api/v1/collections/posts/records", status_code=201)
async def create_post(post: PostIn):
    if post.author and db.execute("SELECT 1 FROM authors WHERE id = ?",
                                  (post.author,)).fetchone() is None:
        return Response(dumps({"status": 422, "detail": [{"loc": ["body", "author"],
                                                          "msg": "names no record of authors",
                                                          "type": "not_found"}]}),
                        status_code=422, media_type="application/json")
    rid = post.id or new_id()
    ts = now_iso()
    row = (rid, ts, ts, post.title, post.body, post.votes, post.status, post.author or None)
    try:
        db.execute(f"INSERT INTO posts ({POST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    except sqlite3.IntegrityError:
        return problem(409, "id: a record has this id")
    return Response(dumps(post_json(row)), status_code=201, media_type="application/json",
                    headers={"Location": f"/api/v1/collections/posts/records/{rid}"})


def seed(path, authors_file, posts_file):
    """Bulk-loads the benchmark's data set (one transaction per table)."""
    con = connect(path)
    ts = now_iso()
    with open(authors_file) as f:
        authors = [json.loads(line) for line in f]
    with open(posts_file) as f:
        posts = [json.loads(line) for line in f]
    con.execute("BEGIN")
    con.executemany("INSERT INTO authors (id, created, updated, name) VALUES (?, ?, ?, ?)",
                    [(a["id"], ts, ts, a["name"]) for a in authors])
    con.execute("COMMIT")
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO posts ({POST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(p["id"], ts, ts, p["title"], p["body"], p["votes"], p["status"],
                      p["author"] or None) for p in posts])
    con.execute("COMMIT")
    con.close()  # no ANALYZE: galley does not run one either
    return len(authors), len(posts)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "seed":
        sys.exit(__doc__)
    t0 = time.perf_counter()
    na, np_ = seed(sys.argv[2], sys.argv[3], sys.argv[4])
    print(f"seeded {na} authors and {np_} posts in {time.perf_counter() - t0:.2f} s")
