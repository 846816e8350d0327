"""Golden output: the default config on simulated data gives the same summary.json every time.

Regenerate after an intended change with:  REPORTGEN_UPDATE_GOLDEN=1 ./check.sh -k golden
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from reportgen import config as config_mod
from reportgen.build import build
from tests.conftest import ROOT

GOLDEN = Path(__file__).parent / "golden"
AS_OF = date(2025, 12, 31)


def default_config(tmp: Path, out: str) -> config_mod.Config:
    text = (ROOT / "config.yaml").read_text()
    text = text.replace("end_date: yesterday", f"end_date: {AS_OF.isoformat()}")
    text = text.replace("formats: [html, pdf, csv]", "formats: [html, csv]")
    text = text.replace("attach: [pdf]", "attach: []")  # no PDF made, so none to attach
    text = text.replace("dir: output", f"dir: {out}")
    path = tmp / "config.yaml"
    path.write_text(text)
    return config_mod.load(path)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """Build twice from the same config; return the outputs and each build's file bytes."""
    tmp = tmp_path_factory.mktemp("golden")
    cfg = default_config(tmp, "out")
    runs = []
    for _ in range(2):
        outputs = build(cfg, as_of=AS_OF, force=True)  # the second build renders too
        runs.append(
            (outputs, [{k: o.files[k].read_bytes() for k in ("html", "summary")} for o in outputs])
        )
    return runs


def test_summaries_match_golden(two_builds):
    outputs, _ = two_builds[0]
    update = os.environ.get("REPORTGEN_UPDATE_GOLDEN") == "1"
    for o in outputs:
        got = o.files["summary"].read_text()
        golden = GOLDEN / f"{o.preset.name}.summary.json"
        if update:
            golden.write_text(got)
        assert golden.exists(), f"missing {golden}; run with REPORTGEN_UPDATE_GOLDEN=1"
        assert json.loads(got) == json.loads(golden.read_text()), f"{o.preset.name} changed"


def test_same_input_gives_identical_files(two_builds):
    (outputs, first), (_, second) = two_builds
    for o, x, y in zip(outputs, first, second, strict=True):
        for key in ("html", "summary"):
            assert x[key] == y[key], (o.preset.name, key)


def test_golden_numbers_are_consistent(two_builds):
    """Cross-check the golden summaries against their own tables."""
    outputs, _ = two_builds[0]
    for o in outputs:
        s = o.summary
        t = o.report.influencers
        assert s["kpis"]["revenue"] == pytest.approx(t["revenue"].sum(), abs=0.01)
        assert s["kpis"]["payout"] == pytest.approx(t["payout"].sum(), abs=0.01)
        assert s["kpis"]["orders"] == t["orders"].sum()
        assert sum(b["revenue"] for b in s["breakdowns"]["brand"]) == pytest.approx(
            s["kpis"]["revenue"], abs=0.05
        )
        if s["kpis"]["roas"] is not None:
            assert 0 < s["kpis"]["roas"] < 1000
