"""The command line end to end: exit codes, one-line errors, untouched output, ad hoc builds."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import PEER, ROOT
from tests.conftest import run_cli as run

HOSTILE = '=HYPERLINK("http://evil.example/x","click")'


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def adhoc(tiny: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(
        "build",
        "--data",
        str(tiny),
        "--from",
        "2025-07-01",
        "--to",
        "2025-07-07",
        "--out",
        str(out),
        *extra,
        cwd=tiny.parent,
    )


def test_config_option_works_before_and_after_the_command(tmp_path):
    (tmp_path / "config.yaml").write_text("presets:\n  a:\n    brands: [MuscleBlast]\n")
    good = tmp_path / "elsewhere" / "good.yaml"
    good.parent.mkdir()
    good.write_text("presets:\n  a: {brands: [MuscleBlaze]}\n")
    assert run("validate", cwd=tmp_path).returncode == 2  # the default file is the bad one
    assert run("validate", "--config", str(good), cwd=tmp_path).returncode == 0
    assert run("-c", str(good), "validate", cwd=tmp_path).returncode == 0
    r = run("--config", str(good), "validate", "--config", "config.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "config.yaml:3:" in r.stderr  # the later one wins


@pytest.mark.parametrize(
    ("encoding", "line"), [("utf-16", 1), ("latin-1", 3)], ids=["utf-16", "latin-1"]
)
def test_config_not_in_utf8_is_a_config_error(tmp_path, encoding, line):
    text = "presets:\n  a:\n    title: Café report\n"
    (tmp_path / "config.yaml").write_bytes(text.encode(encoding))
    r = run("validate", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith(f"reportgen: error: config.yaml:{line}: not UTF-8 text")
    assert "Traceback" not in r.stderr
    (tmp_path / "config.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())  # a BOM is fine
    assert run("validate", cwd=tmp_path).returncode == 0


def test_output_folder_that_is_a_file_fails_before_building(tmp_path, tiny):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    r = adhoc(tiny, blocker / "reports")
    assert r.returncode == 9
    assert r.stderr.strip().splitlines()[-1] == (
        f"reportgen: error: {blocker}: not a folder; choose another output folder (--out DIR)"
    )
    assert "rendered" not in r.stderr  # refused before any work
    r = run("simulate", "--rows", "100", "--out", str(blocker), cwd=tmp_path)
    assert r.returncode == 9 and "not a folder" in r.stderr and "Traceback" not in r.stderr
    assert blocker.read_text() == "not a folder"


def test_closed_stdout_pipe_stops_quietly(tmp_path, tiny):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone, like `| head -0`
    r = subprocess.run(
        [sys.executable, "-m", "reportgen", "simulate", "--rows", "100", "--out", "d"],
        cwd=tmp_path,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    os.close(write_end)
    assert r.returncode == 141
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def test_ad_hoc_filters_accept_values_found_in_the_data(tmp_path, tiny):
    edit = tiny / "influencers.csv"
    edit.write_text(edit.read_text().replace("A1,Asha Rao,Fitness", "A1,Asha Rao,Gaming"))
    out = tmp_path / "out"
    r = adhoc(tiny, out, "--category", "gaming")  # not in the config, but in the data
    assert r.returncode == 0, r.stderr
    data = json.loads(next(out.glob("*/*/summary.json")).read_text())
    assert data["filters"]["categories"] == ["Gaming"]
    assert data["kpis"]["revenue"] == 4000  # A1 alone: 2000 + 1500 + 500
    r = adhoc(tiny, out, "--category", "Gamng")
    assert r.returncode == 2
    assert "--category: unknown category 'Gamng' (did you mean 'Gaming'?)" in r.stderr
    assert "catalogue.categories" in r.stderr
    # With a value map, reports filter on the mapped value: that is the one to offer.
    (tiny.parent / "config.yaml").write_text(
        "source: {values: {influencers.category: {Gaming: Esports}}}\npresets: {x: {}}\n"
    )
    r = adhoc(tiny, tmp_path / "mapped", "--category", "esports")
    assert r.returncode == 0, r.stderr
    data = json.loads(next((tmp_path / "mapped").glob("*/*/summary.json")).read_text())
    assert (data["filters"]["categories"], data["kpis"]["revenue"]) == (["Esports"], 4000)
    assert adhoc(tiny, tmp_path / "mapped", "--category", "Gaming").returncode == 2


def test_validate_reports_one_line_and_exit_2(tmp_path):
    (tmp_path / "config.yaml").write_text("presets:\n  a:\n    brands: [MuscleBlast]\n")
    r = run("validate", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert "config.yaml:3: presets.a.brands[0]: unknown brand 'MuscleBlast'" in r.stderr


def test_validate_ok_lists_presets():
    r = run("validate", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "weekly-overview: previous_week" in r.stdout


def test_adhoc_build_writes_everything(tmp_path, tiny):
    out = tmp_path / "out"
    r = adhoc(tiny, out, "--brand", "MuscleBlaze")
    assert r.returncode == 0, r.stderr
    d = out / "adhoc-2025-07-01-2025-07-07" / "2025-07-07"
    names = {p.name for p in d.iterdir()}
    assert {"report.html", "report.pdf", "summary.json", "payouts.csv", "data_quality.csv"} <= names
    s = json.loads((d / "summary.json").read_text())
    assert s["window"] == {"start": "2025-07-01", "end": "2025-07-07"}
    assert s["kpis"]["revenue"] == 3800 and s["kpis"]["payout"] == 1750
    assert s["top_influencers_by_revenue"][0]["influencer_id"] == "A1"
    assert (out / "adhoc-2025-07-01-2025-07-07" / "latest").resolve() == d.resolve()
    assert "adhoc-2025-07-01-2025-07-07/2025-07-07/report.html" in (out / "index.html").read_text()
    assert not (tiny.parent / ".reportgen").exists(), "ad hoc builds have no schedule: no ledger"


def test_bad_data_fails_and_keeps_previous_output(tmp_path, tiny):
    out = tmp_path / "out"
    assert adhoc(tiny, out).returncode == 0
    before = snapshot(out)
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().replace("2025-07-05 15:00:00", "yesterday-ish"))
    r = adhoc(tiny, out)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    assert (
        "tracking_data.csv: row 6 (line 7), column 'date': cannot read 'yesterday-ish'" in r.stderr
    )
    assert snapshot(out) == before


def test_adhoc_flags_are_validated(tmp_path, tiny):
    r = adhoc(tiny, tmp_path / "out", "--brand", "Nope")
    assert r.returncode == 2 and "--brand: unknown brand 'Nope'" in r.stderr
    r = run("build", "--from", "2025-07-07", "--to", "2025-07-01", cwd=tmp_path)
    assert r.returncode == 2 and "--to 2025-07-01 is before --from 2025-07-07" in r.stderr


def test_csv_cells_are_neutralised(tmp_path, tiny):
    path = tiny / "influencers.csv"
    path.write_text(
        path.read_text().replace("Asha Rao", f'"{HOSTILE.replace(chr(34), chr(34) * 2)}"')
    )
    out = tmp_path / "out"
    assert adhoc(tiny, out).returncode == 0
    d = out / "adhoc-2025-07-01-2025-07-07" / "2025-07-07"
    rows = list(csv.DictReader((d / "payouts.csv").open()))
    a1 = next(r for r in rows if r["influencer_id"] == "A1")
    assert a1["name"] == "'" + HOSTILE
    assert a1["revenue"] == "4000"  # numbers untouched
    html = (d / "report.html").read_text()
    assert HOSTILE not in html  # the quotes are escaped in HTML
    assert "=HYPERLINK(&#34;http://evil.example/x&#34;" in html or "=HYPERLINK(&quot;" in html


@pytest.mark.skipif(not PEER.exists(), reason="shared/peer-data not present")
def test_peer_seed_builds(tmp_path):
    out = tmp_path / "out"
    r = run(
        "build",
        "--data",
        str(PEER / "seed-layout-pranavadache"),
        "--from",
        "2025-06-28",
        "--to",
        "2025-07-27",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(next(out.glob("*/2025-07-27/summary.json")).read_text())
    codes = {d["code"] for d in s["data_quality"]}
    assert {"no_payout_terms", "payout_mismatch", "window_no_payout_terms"} <= codes
    # Only INF050 has terms, 0.04% of revenue: the headline ROAS would be 8,473x from a
    # sliver of the data, so it is n/a and says why (per-influencer ROAS stays in the table).
    assert s["kpis"]["roas"] is None
    assert s["roas_note"] == (
        "n/a: payout terms cover only 0.04% of revenue; see ROAS per influencer"
    )


# -- preset builds are guarded by the run ledger --------------------------------------------------

PRESET_CONFIG = """\
source: {{kind: files, path: {data}}}
output: {{dir: out}}
schedule: {{state_dir: state/ledger}}
presets:
  weekly: {{window: last_7_days, formats: [html, csv], schedule: "0 8 * * 1"}}
"""


@pytest.mark.slow
def test_a_preset_build_is_refused_while_another_process_runs_its_window(tmp_path, tiny):
    from reportgen.delivery.ledger import Ledger
    from reportgen.model import Window
    from tests.test_ledger import hold_window

    (tmp_path / "config.yaml").write_text(PRESET_CONFIG.format(data=tiny))
    state = tmp_path / "state" / "ledger"
    build = ("build", "--preset", "weekly", "--as-of", "2025-07-07")
    # The first build creates the state folder and records its window as a manual run.
    first = run(*build, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    window = Window(date(2025, 7, 1), date(2025, 7, 7))
    row = Ledger(state).get_run("weekly", window)
    assert (row.state, row.trigger) == ("succeeded", "manual")
    assert row.files["outputs"][0]["files"]["html"].endswith("out/weekly/2025-07-07/report.html")
    before = snapshot(tmp_path / "out")
    # A second process (a scheduled run) holds the window: the build refuses, writes nothing.
    holder = hold_window(state)
    try:
        busy = run(*build, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 8
    assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.stderr
    assert busy.stderr.startswith(
        "reportgen: error: preset weekly 2025-07-01 – 2025-07-07: another run (scheduled) is in "
        f"progress (pid {holder.pid}, started "
    )
    assert snapshot(tmp_path / "out") == before
    # The holder died mid-run: the next build takes the window over.
    again = run(*build, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    row = Ledger(state).get_run("weekly", window)
    assert (row.state, row.trigger, row.attempts) == ("succeeded", "manual", 3)
