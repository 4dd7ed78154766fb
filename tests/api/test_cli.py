"""The galley command line: version, help, settings errors, start-up failures."""
import os
import re
import socket
import subprocess

import pytest

from conftest import SANITIZED, SLOW, binary, exchange, request, sanitizer_env

RUN_TIMEOUT = 20 if SANITIZED else 10

SETTINGS = [
    "--http",
    "--workers",
    "--max-request-line",
    "--max-head",
    "--max-headers",
    "--max-body",
    "--header-timeout",
    "--idle-timeout",
    "--body-timeout",
    "--write-timeout",
    "--shutdown-timeout",
    "--log-level",
    "access-log",
    "request-id",
]


def run(*args, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("GALLEY_")}
    full.update(env or {})
    return subprocess.run(
        [binary("galley")] + list(args),
        env=sanitizer_env(full),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )


def one_line(stderr):
    text = stderr.decode()
    lines = text.splitlines()
    assert len(lines) == 1, "expected one stderr line, got %r" % text
    assert text.endswith("\n")
    return lines[0]


def test_version_prints_the_version_and_exits_0():
    r = run("version")
    assert r.returncode == 0, r
    assert re.fullmatch(rb"galley \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout
    assert r.stderr == b""


def test_help_prints_usage_and_exits_0():
    r = run("--help")
    assert r.returncode == 0, r
    assert r.stdout.startswith(b"usage: galley"), r.stdout
    for word in (b"serve", b"version", b"help"):
        assert word in r.stdout
    assert r.stderr == b""


def test_serve_help_lists_every_setting_and_exits_0():
    r = run("serve", "--help")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    for name in SETTINGS:
        assert name in out, "serve --help does not list %s:\n%s" % (name, out)
    assert "GALLEY_WORKERS" in out


def test_no_command_prints_usage_to_stderr_and_exits_2():
    r = run()
    assert r.returncode == 2, r
    assert r.stdout == b""
    assert b"usage: galley" in r.stderr


def test_unknown_command_exits_2_with_one_stderr_line():
    r = run("frobnicate")
    assert r.returncode == 2, r
    assert r.stdout == b""
    assert "frobnicate" in one_line(r.stderr)


def test_unknown_flag_exits_2_with_one_line_naming_it():
    r = run("serve", "--bogus-flag", "1")
    assert r.returncode == 2, r
    assert r.stdout == b""
    assert "--bogus-flag" in one_line(r.stderr)


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--workers", "abc"),
        ("--max-body", "10Q"),
        ("--header-timeout", "soon"),
        ("--http", "nonsense"),
        ("--access-log", "maybe"),
    ],
)
def test_bad_flag_value_exits_2_with_one_line_naming_flag_and_value(flag, value):
    r = run("serve", "%s=%s" % (flag, value))
    assert r.returncode == 2, r
    assert r.stdout == b""
    line = one_line(r.stderr)
    assert flag in line and value in line, line


def test_bad_environment_value_exits_2_naming_the_variable():
    r = run("serve", env={"GALLEY_WORKERS": "abc"})
    assert r.returncode == 2, r
    line = one_line(r.stderr)
    assert "GALLEY_WORKERS" in line and "abc" in line, line


def test_flag_without_value_exits_2():
    r = run("serve", "--workers")
    assert r.returncode == 2, r
    assert "--workers" in one_line(r.stderr)


def test_environment_setting_is_applied(start_server):
    srv = start_server(binary="galley", workers=None, env={"GALLEY_WORKERS": "3"})
    assert srv.workers == 3


def test_flag_wins_over_environment(start_server):
    srv = start_server(binary="galley", workers=1, env={"GALLEY_WORKERS": "3"})
    assert srv.workers == 1


def test_port_held_by_another_program_fails_with_a_clear_log_line():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        r = run("serve", "--http", "127.0.0.1:%d" % port, "--workers", "2")
    finally:
        holder.close()
    assert r.returncode != 0, r
    text = r.stderr.decode()
    assert "address already in use" in text and str(port) in text, text
    assert "listening" not in text


def test_port_held_by_another_galley_fails_with_a_clear_log_line(start_server):
    first = start_server(binary="galley")
    second = start_server("--http", "127.0.0.1:%d" % first.port, binary="galley", wait=False)
    rc = second.wait(min(3 * SLOW, 5))
    assert rc is not None, (
        "a second galley on port %d did not fail; it is serving the same port (stderr %r)"
        % (first.port, second.stderr_text())
    )
    assert rc != 0
    assert "address already in use" in second.stderr_text(), second.stderr_text()


def test_health_live_answers_200_status_ok(start_server):
    srv = start_server(binary="galley")
    resp, c = exchange(srv, request("GET", "/health/live"))
    c.close()
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "application/json"
    assert resp.json() == {"status": "ok"}
    assert srv.stop() == 0
