"""The admin's commands: `schema`, `init`, `serve` and `validate --data`, through the real CLI."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reportgen import config as config_mod
from reportgen.config import jsonschema as schema
from tests.conftest import ROOT, TINY, TINY_CONFIG, run_cli


def cli(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the command line in ``cwd`` as a user would."""
    return run_cli(*args, cwd=cwd, timeout=timeout)


def as_editor_sees(value: Any) -> Any:
    """Return YAML data as JSON sees it: dates are the text they were written as."""
    if isinstance(value, dict):
        return {str(k): as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_editor_sees(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema.json_schema(), format_checker=jsonschema.FormatChecker()
    )


def readme_examples() -> list[dict]:
    """Return every ```yaml block of the README, completed with a preset when it has none."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README has YAML examples"
    out = []
    for text in blocks:
        data = yaml.safe_load(text)
        data.setdefault("presets", {"a": {}})  # a fragment shows one section of a config
        out.append(as_editor_sees(data))
    return out


# -- schema ---------------------------------------------------------------------------------


def test_schema_is_draft_2020_12_and_the_shipped_config_and_readme_validate():
    jsonschema.Draft202012Validator.check_schema(schema.json_schema())
    shipped = as_editor_sees(yaml.safe_load((ROOT / "config.yaml").read_text()))
    for data in [shipped, *readme_examples()]:
        errors = [e.message for e in validator().iter_errors(data)]
        assert not errors, errors


def test_schema_command_prints_what_the_declarations_say(tmp_path):
    r = cli(tmp_path, "schema")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    preset = printed["$defs"]["preset"]["properties"]
    assert set(preset) == set(config_mod.PRESET_FIELDS)
    assert preset["formats"]["description"] == config_mod.PRESET_FIELDS["formats"].doc
    assert preset["formats"]["default"] == ["html", "pdf", "csv"]
    assert preset["top_n"] | {} == {
        "description": "How many influencers the top lists show.",
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    assert printed["properties"]["email"]["properties"]["max_attachment_mb"]["minimum"] == 0.1
    assert printed["required"] == ["presets"]
    r = cli(tmp_path, "schema", "--out", "config.schema.json")
    assert r.returncode == 0 and r.stdout == ""
    assert json.loads((tmp_path / "config.schema.json").read_text()) == printed


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"presets": {"a": {"formats": "html, pdf"}}}, ["presets", "a", "formats"]),
        ({"presets": {"a": {"windw": "yesterday"}}}, ["presets", "a"]),
        ({"presets": {"a": {"window": "last_week"}}}, ["presets", "a", "window"]),
        ({"presets": {"a": {"window": {"start": "2025-02-30", "end": "2025-03-01"}}}}, None),
        ({"presets": {"a": {"top_n": 0}}}, ["presets", "a", "top_n"]),
        ({"presets": {"a": {"to": ["not-an-address"]}}}, ["presets", "a", "to"]),
        ({"presets": {}}, ["presets"]),
        ({"source": {"kind": "csv"}, "presets": {"a": {}}}, ["source", "kind"]),
        ({"sourc": {}, "presets": {"a": {}}}, []),
        ({"email": {"port": 70000}, "presets": {"a": {}}}, ["email", "port"]),
        ({"presets": {"bad name": {}}}, ["presets"]),
    ],
)
def test_schema_rejects_what_validate_rejects(tmp_path, data, path):
    errors = list(validator().iter_errors(data))
    assert errors
    if path is not None:
        assert any(list(e.absolute_path) == path for e in errors), [e.message for e in errors]
    # The same mistake is a validation error with a line, too.
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(config_mod.ConfigError):
        config_mod.load(tmp_path / "config.yaml")


# -- init -----------------------------------------------------------------------------------


def test_init_writes_a_config_that_validates_and_never_overwrites(tmp_path):
    r = cli(tmp_path, "init", "site")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "site" / "config.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=config.schema.json\n")
    assert json.loads((tmp_path / "site" / "config.schema.json").read_text()) == (
        schema.json_schema()
    )
    r = cli(tmp_path / "site", "validate")
    assert r.returncode == 0, r.stderr
    assert "config.yaml: OK, 2 preset(s)" in r.stdout
    data = as_editor_sees(yaml.safe_load(text))
    assert not list(validator().iter_errors(data))

    (tmp_path / "site" / "config.yaml").write_text("presets: {mine: {}}\n")
    r = cli(tmp_path, "init", "site")
    assert r.returncode == 9
    assert r.stderr == (
        "reportgen: error: site/config.yaml: already exists; init never overwrites a config: "
        "move it away or run init with another folder\n"
    )
    assert (tmp_path / "site" / "config.yaml").read_text() == "presets: {mine: {}}\n"


# -- validate --data ------------------------------------------------------------------------


def test_validate_data_says_what_it_checked(tmp_path):
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    r = cli(tmp_path, "validate", "--data")
    assert r.returncode == 0, r.stderr
    assert (
        "data: OK, files source data reachable; loaded and checked influencers.csv 4 rows, "
        "posts.csv 5 rows, tracking_data.csv 9 rows, payouts.csv 3 rows; 1 finding(s)"
    ) in r.stdout


def test_validate_data_with_no_data_folder_is_exit_4_and_no_ok(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    r = cli(tmp_path, "validate", "--data")
    assert r.returncode == 4
    assert r.stdout == ""
    assert r.stderr == (
        f"reportgen: error: {tmp_path}/data: data folder not found; set source.path in the "
        "config or pass --data DIR\n"
    )


# -- serve ----------------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A workspace with the tiny data, its config and a finished build in output/."""
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    r = cli(tmp_path, "build", "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    return tmp_path


class Served:
    """`reportgen serve` running in a child process, with the address it printed."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reportgen", "serve", "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"at http://(127\.0\.0\.1):(\d+)/ ", line)
        assert match, line + self.stop()
        self.host, self.port = match.group(1), int(match.group(2))

    def get(self, path: str) -> tuple[int, bytes]:
        """Send one raw GET (the path exactly as given) and return status and body."""
        con = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            con.request("GET", path)
            resp = con.getresponse()
            return resp.status, resp.read()
        finally:
            con.close()

    def stop(self) -> str:
        """Stop the server as Ctrl-C would; return its stderr."""
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=60)
        return err


def test_serve_serves_output_over_http_on_loopback_only(built):
    (built / "secret.txt").write_text("outside output/")
    (built / "output" / "escape").symlink_to(built)
    server = Served(built)
    try:
        status, body = server.get("/")
        assert status == 200
        assert body == (built / "output" / "index.html").read_bytes()
        status, body = server.get("/weekly/latest/summary.json")
        assert status == 200 and json.loads(body)["preset"] == "weekly"
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/escape/secret.txt", "/escape/"):
            assert server.get(path)[0] == 404, path
    finally:
        err = server.stop()
    assert "Traceback" not in err
    assert server.proc.returncode == 0


def test_serve_without_output_says_build_first(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    r = cli(tmp_path, "serve", "--port", "0")
    assert r.returncode == 9
    assert r.stderr == (
        f"reportgen: error: {tmp_path}/output: no output yet; run `reportgen build` first "
        "(or --watch)\n"
    )


def test_serve_listens_on_127_0_0_1(tmp_path):
    from reportgen.cli.serve import make_server

    server = make_server(tmp_path, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


@pytest.mark.slow
def test_serve_watch_rebuilds_when_the_config_changes(built):
    server = Served(built, "--watch", "--poll", "0.2")
    try:
        config = built / "config.yaml"
        config.write_text(config.read_text().replace("Tiny weekly", "Tiny weekly, renamed"))
        deadline = time.monotonic() + 240
        title = ""
        while time.monotonic() < deadline:
            status, body = server.get("/weekly/latest/summary.json")
            title = json.loads(body)["title"] if status == 200 else ""
            if title == "Tiny weekly, renamed":
                break
            time.sleep(0.5)
        assert title == "Tiny weekly, renamed"
    finally:
        err = server.stop()
    assert "change seen: rebuilding" in err and "Traceback" not in err
