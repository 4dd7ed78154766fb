"""Settings: defaults < config file < GALLEY_* env < flags, and `galley config`."""
import json
import os

from conftest import exchange, request
from test_cli import one_line, run


def effective(*args, env=None):
    res = run("config", *args, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    return json.loads(res.stdout)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_config_prints_every_default():
    doc = effective()
    assert doc["http"] == "127.0.0.1:8090"
    assert doc["max-body"] == "10M"
    assert doc["header-timeout"] == "10s"
    assert doc["idle-timeout"] == "1m"
    assert doc["access-log"] == "on"
    assert doc["rate-limit"] == "off"
    assert all(isinstance(v, str) for v in doc.values())


def test_file_is_overridden_by_env_which_is_overridden_by_flags(tmp_path):
    f = write(tmp_path, "galley.json",
              '{"workers": 2, "max-body": "1M", "access-log": false, "log-level": "warn"}')
    doc = effective("--config", f)
    assert (doc["workers"], doc["max-body"], doc["access-log"], doc["log-level"]) == \
        ("2", "1M", "off", "warn")
    doc = effective("--config", f, env={"GALLEY_WORKERS": "3"})
    assert (doc["workers"], doc["max-body"]) == ("3", "1M")
    doc = effective("--config", f, "--workers", "4", env={"GALLEY_WORKERS": "3"})
    assert (doc["workers"], doc["max-body"]) == ("4", "1M")


def test_env_can_name_the_config_file(tmp_path):
    f = write(tmp_path, "galley.json", '{"max-headers": 50}')
    assert effective(env={"GALLEY_CONFIG": f})["max-headers"] == "50"


def test_config_output_round_trips_as_a_config_file(tmp_path):
    first = run("config", "--workers", "3", "--max-body", "2M", "--rate-limit", "10/m",
                "--cors-origins", "https://app.example")
    assert first.returncode == 0
    f = write(tmp_path, "saved.json", first.stdout.decode())
    again = run("config", "--config", f)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)


def test_unknown_setting_in_file_exits_2_naming_file_line_and_setting(tmp_path):
    f = write(tmp_path, "bad.json", '{\n  "workers": 2,\n  "max_bodyy": "1M"\n}')
    res = run("serve", "--config", f)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert "%s:3:" % f in line and 'unknown setting "max_bodyy"' in line, line


def test_bad_value_in_file_exits_2_naming_the_setting(tmp_path):
    f = write(tmp_path, "bad.json", '{"workers": "many"}')
    res = run("serve", "--config", f)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert "%s:1:" % f in line and "--workers" in line and '"many"' in line, line


def test_invalid_json_in_file_exits_2_with_line_and_column(tmp_path):
    f = write(tmp_path, "bad.json", '{\n  "workers": 2,\n  "max-body" "1M"\n}')
    res = run("config", "--config", f)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert "%s:3:14:" % f in line, line


def test_file_must_hold_an_object_of_scalars(tmp_path):
    res = run("config", "--config", write(tmp_path, "a.json", "[1, 2]"))
    assert res.returncode == 2 and "one JSON object" in one_line(res.stderr)
    res = run("config", "--config", write(tmp_path, "b.json", '{"workers": [2]}'))
    assert res.returncode == 2 and "string, number or boolean" in one_line(res.stderr)
    res = run("config", "--config", write(tmp_path, "c.json", '{"config": "x.json"}'))
    assert res.returncode == 2 and "cannot be set in a config file" in one_line(res.stderr)


def test_missing_config_file_exits_2_naming_it(tmp_path):
    missing = str(tmp_path / "nope.json")
    res = run("serve", "--config", missing)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert missing in line and "no such file" in line.lower(), line


def test_serve_applies_the_config_file(start_server, tmp_path):
    f = write(tmp_path, "galley.json", '{"max-body": 16, "access-log": "off"}')
    srv = start_server("--config", f, binary="galley")
    resp, c = exchange(srv, request("POST", "/health/live", body=b"x" * 17))
    c.close()
    assert resp.status == 413
    assert not any(l.get("msg") == "request" for l in srv.log_lines())
