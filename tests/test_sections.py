"""Report sections through the seam: attribution and incrementality end to end."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from reportgen.analysis.attribution import attribute
from reportgen.analysis.incrementality import estimate_incrementality
from reportgen.errors import ConfigError
from reportgen.sections.incrementality import outcomes
from reportgen.sources import open_dataset
from tests.conftest import ROOT, TINY, make_config
from tests.test_deliver import server

MODELS = ["last_touch", "linear", "time_decay", "markov", "shapley"]  # the documented default
WINDOW = ("2025-06-03", "2025-06-30")  # the simulated 28-day study
CONFIG = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
presets:
  study:
    window: {{start: {start}, end: {end}}}
    formats: [html, csv]
    sections: [overview, attribution, incrementality]
"""
#: The study build with a PDF and email to a local SMTP server (port filled in by the fixture).
MAILED = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
schedule: {{state_dir: {state}}}
email: {{host: 127.0.0.1, port: {port}, security: none, sender: r@example.com, timeout: 10}}
presets:
  study:
    window: {{start: {start}, end: {end}}}
    formats: [html, pdf, csv]
    sections: [overview, attribution, incrementality]
    to: [ana@example.com]
"""


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def smtp_server():
    """Run one SMTP server on loopback for the module's study build."""
    with server() as rec:
        yield rec


@pytest.fixture(scope="module")
def built(tmp_path_factory, smtp_server):
    """Simulate a study beside the seed layout and build it with both sections (HTML, PDF)."""
    root = tmp_path_factory.mktemp("study")
    data, out = root / "data", root / "output"
    sim = ["--seed", "5", "--influencers", "4", "--days", "60", "--end-date", WINDOW[1]]
    r = cli("simulate", *sim, "--journeys", "20000", "--format", "csv", "--out", str(data))
    assert r.returncode == 0, r.stderr
    (root / "config.yaml").write_text(
        MAILED.format(
            data=data,
            out=out,
            state=root / "state",
            port=smtp_server.port,
            start=WINDOW[0],
            end=WINDOW[1],
        )
    )
    r = cli("build", "-c", str(root / "config.yaml"), "--as-of", WINDOW[1])
    assert r.returncode == 0, r.stderr
    latest = out / "study" / WINDOW[1]
    return data, latest, json.loads((latest / "summary.json").read_text())


@pytest.fixture(scope="module")
def mailed(built, smtp_server):
    """Email the study build as ``reportgen send`` does (it reuses the build) and return it."""
    _, latest, _ = built
    config = latest.parent.parent.parent / "config.yaml"
    r = cli("send", "-c", str(config), "--preset", "study", "--as-of", WINDOW[1])
    assert r.returncode == 0, r.stderr
    assert "reusing the build" in r.stderr  # the email describes the build on disk
    (msg,) = smtp_server.to("ana@example.com")
    return msg


def test_attribution_matches_the_analysis(built):
    data, _, summary = built
    conv = pd.read_csv(data / "conversions.csv", parse_dates=["time"])
    touches = pd.read_csv(data / "touchpoints.csv", parse_dates=["time"])
    expected = attribute(touches, conv, models=tuple(MODELS), lookback_days=7, half_life_days=7)
    assert list(summary["attribution"]) == MODELS
    for model in MODELS:
        want = expected.credited[expected.credited["model"] == model]
        got = {r["influencer_id"]: r["revenue"] for r in summary["attribution"][model]}
        assert got == pytest.approx(
            dict(zip(want["influencer_id"], want["revenue"], strict=True)), abs=0.01
        )
        # Every model credits the same total: the attributed revenue.
        assert sum(got.values()) == pytest.approx(expected.attributed_revenue, abs=0.05)


def test_incrementality_matches_the_analysis(built):
    data, latest, summary = built
    conv = pd.read_csv(data / "conversions.csv", parse_dates=["time"])
    assignments = pd.read_csv(data / "assignments.csv", dtype={"influencer_id": str})
    pay = pd.read_csv(latest / "payouts.csv")  # the report's window payouts and tracked sales
    terms = pay.rename(columns={"payout": "total_payout"})
    want = estimate_incrementality(
        conv, assignments, terms, pay[["influencer_id", "orders", "revenue"]]
    )
    got = summary["incrementality"]
    keys = ("incremental_revenue", "payout", "iroas", "iroas_low", "iroas_high", "reason")
    for est, row in [
        (want.overall, got["overall"]),
        *zip(want.influencers, got["influencers"], strict=True),
    ]:
        assert row.get("influencer_id", "overall") == est.scope
        for key in keys:
            value = getattr(est, key)
            assert row[key] == (
                value if value is None or isinstance(value, str) else pytest.approx(value, abs=1e-2)
            )
        # Commission on orders that would have happened anyway is part of what was paid.
        if row["commission_on_baseline_orders"] is not None:
            assert 0 <= row["commission_on_baseline_orders"] <= row["commission"] + 0.01
    assert got["overall"]["users_holdout"] > 0 and len(got["influencers"]) == 4
    assert summary["analyses_not_done"] == []


def test_report_labels_every_roas(built):
    _, latest, summary = built
    html = (latest / "report.html").read_text()
    assert "Direct ROAS (tracked)" in html and "Incremental ROAS (iROAS, interval)" in html
    assert "Not done" not in html
    table = pd.read_csv(latest / "incrementality.csv")
    assert list(table["scope"]) == [
        "overall",
        *[r["influencer_id"] for r in summary["incrementality"]["influencers"]],
    ]
    assert (latest / "attribution.csv").exists()


def test_sections_without_the_tables_say_why(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(data=data, out=tmp_path / "out", start="2025-07-01", end="2025-07-07")
    )
    r = cli("build", "-c", str(tmp_path / "config.yaml"), "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    latest = tmp_path / "out" / "study" / "2025-07-07"
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["attribution"] is None and summary["incrementality"] is None
    assert summary["analyses_not_done"] == [
        {
            "section": "attribution",
            "reason": "Attribution needs the touchpoints and conversions tables; the data has "
            "no touchpoints or conversions (see README, Data: study tables)",
        },
        {
            "section": "incrementality",
            "reason": "Incrementality needs the conversions and assignments tables; the data "
            "has no conversions or assignments (see README, Data: study tables)",
        },
    ]
    html = (latest / "report.html").read_text()
    assert html.count("Not done:") == 2
    assert "chart-attribution" not in html and "chart-incrementality" not in html  # no chart
    assert summary["kpis"]["revenue"] == 6700  # the overview is as before


def test_overview_only_by_default_adds_nothing(tmp_path):
    cfg = make_config(tmp_path, "presets:\n  a: {}\n")
    assert cfg.presets["a"].sections == ("overview",)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[]", "list at least one section"),
        ("[attribution, attribution]", "listed twice"),
        ("[funnel]", "funnel"),
    ],
)
def test_bad_sections_are_config_errors(tmp_path, value, says):
    with pytest.raises(ConfigError, match=says):
        make_config(tmp_path, f"presets:\n  a: {{sections: {value}}}\n")


def test_a_filtered_preset_says_the_study_is_not_cut(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    (data / "conversions.csv").write_text("order_id,user_id,time,revenue\nO1,U1,2025-07-02,10\n")
    (data / "assignments.csv").write_text("user_id,group\nU1,treatment\n")
    config = CONFIG.format(data=data, out=tmp_path / "out", start="2025-07-01", end="2025-07-07")
    (tmp_path / "config.yaml").write_text(config + "    brands: [MuscleBlaze]\n")
    r = cli("build", "-c", str(tmp_path / "config.yaml"), "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "study" / "2025-07-07" / "summary.json").read_text())
    reasons = {n["section"]: n["reason"] for n in summary["analyses_not_done"]}
    assert reasons["incrementality"].startswith(
        "Incrementality covers the whole study and is not cut by filters (brands: MuscleBlaze"
    )
    assert "no touchpoints" in reasons["attribution"]  # missing tables are named first


def test_holdout_periods_are_calendar_days_of_the_report_timezone(tmp_path, tiny):
    # Zoned assignment bounds are read in the report's timezone, like the (naive, local) orders:
    # 1 July 00:00 +05:30 to 7 July inclusive, in Asia/Kolkata.
    (tiny / "conversions.csv").write_text(
        "order_id,user_id,time,revenue\n"
        "O1,U1,2025-06-30 23:00:00,700\n"  # before the start (18:30 UTC the day before is not)
        "O2,U1,2025-07-01 00:30:00,1000\n"
        "O3,U1,2025-07-07 23:30:00,300\n"  # the end day counts to local midnight
        "O4,U1,2025-07-08 00:30:00,50\n"
        "O5,U2,2025-07-02 10:00:00,500.5\n"
    )
    (tiny / "assignments.csv").write_text(
        "user_id,group,start,end\n"
        "U1,treatment,2025-07-01T00:00:00+05:30,2025-07-07T00:00:00+05:30\n"
        "U2,holdout,2025-07-01T00:00:00+05:30,2025-07-07T00:00:00+05:30\n"
    )
    ds = open_dataset(make_config(tmp_path, "presets:\n  a: {}\n", data=tiny))
    report = SimpleNamespace(
        preset=SimpleNamespace(timezone="Asia/Kolkata"),
        window=SimpleNamespace(start=date(2025, 6, 30), end=date(2025, 7, 8)),
    )
    got = outcomes(ds, report)  # type: ignore[arg-type]
    assert list(got) == ["overall"]
    o = got["overall"]
    assert (o.users_treatment, o.users_holdout) == (1, 1)
    assert o.revenue_treatment.tolist() == [1300.0] and o.orders_treatment.tolist() == [2.0]
    assert o.revenue_holdout.tolist() == [500.5] and o.orders_holdout.tolist() == [1.0]


# --- the sections' charts and the iROAS line ---------------------------------------------------


def _chart_json(page: str, target: str) -> dict:
    """Return the plotly figure the HTML report draws into ``target``."""
    found = re.search(
        rf'<script type="application/json" class="chart-data" data-target="{target}">(.*?)'
        r"</script>",
        page,
        re.S,
    )
    assert found, target
    return json.loads(found.group(1))


def _ratio(x: float) -> str:
    return f"{x:.2f}x"


def test_attribution_chart_shows_each_model_side_by_side(built):
    _, latest, summary = built
    page = (latest / "report.html").read_text()
    fig = _chart_json(page, "chart-attribution")
    # Models in the fixed order, whatever the preset lists (here the documented default).
    names = [t["name"] for t in fig["data"]]
    assert names == ["Last touch", "Linear", "Time decay", "Markov removal", "Shapley"]
    assert fig["layout"]["barmode"] == "group"
    # Influencers ranked by last-touch revenue: INF0002 183,060.20 first, INF0001 67,177.50 last.
    credit = {
        m: {r["influencer_id"]: r["revenue"] for r in rows}
        for m, rows in summary["attribution"].items()
    }
    by_last = sorted(credit["last_touch"], key=lambda i: -credit["last_touch"][i])
    assert by_last[0] == "INF0002" and by_last[-1] == "INF0001"
    for trace, model in zip(fig["data"], MODELS, strict=True):
        assert trace["y"] == by_last and trace["orientation"] == "h"
        assert trace["x"] == pytest.approx([credit[model][i] for i in by_last], abs=0.01)
    # The colour-blind-safe colours of charts.py, one per model.
    assert [t["marker"]["color"] for t in fig["data"]] == [
        "#1d4ed8",
        "#56b4e9",
        "#009e73",
        "#d55e00",
        "#4b5563",
    ]
    # The same figure as a static SVG for viewers that run no script.
    figure = re.search(r'id="chart-attribution-figure">.*?</figure>', page, re.S).group(0)
    assert 'class="chart-static" src="data:image/svg+xml' in figure


def test_incrementality_chart_marks_iroas_interval_break_even_and_direct_roas(built):
    _, latest, summary = built
    fig = _chart_json((latest / "report.html").read_text(), "chart-incrementality")
    inc = summary["incrementality"]
    decided, wide, direct = fig["data"]
    assert decided["name"] == "iROAS (incremental revenue / payout), 90% interval"
    assert wide["name"] == "iROAS too wide to decide (90% interval)"
    assert direct["name"] == "Direct ROAS (tracked revenue / payout)"
    # The programme first, then influencers by payout: 6,30,000, 3,15,000, 1,60,000, 18,900.
    order = ["overall", "INF0001", "INF0002", "INF0003", "INF0004"]
    assert direct["y"] == order
    rows = {"overall": inc["overall"]} | {r["influencer_id"]: r for r in inc["influencers"]}
    # INF0004's interval (-4.36x to 8.89x) runs from below 0.5x to above 2x: hollow, grey, named.
    assert rows["INF0004"]["decision"] == "too wide to decide"
    assert wide["y"] == ["INF0004"] and wide["marker"]["symbol"] == "circle-open"
    assert wide["text"] == ["too wide to decide"]
    assert decided["y"] == order[:-1] and decided["marker"]["symbol"] == "circle"
    for trace in (decided, wide):
        for i, scope in enumerate(trace["y"]):
            r = rows[scope]
            assert trace["x"][i] == pytest.approx(r["iroas"])
            assert trace["x"][i] + trace["error_x"]["array"][i] == pytest.approx(r["iroas_high"])
            assert trace["x"][i] - trace["error_x"]["arrayminus"][i] == pytest.approx(
                r["iroas_low"]
            )
    assert decided["text"][0] == "iROAS 0.11x"  # 0.1143
    assert direct["x"] == pytest.approx([rows[s]["direct_roas"] for s in order])
    assert direct["text"][-1] == "direct 2.59x"  # 2.5903: labelled, never a bare "ROAS"
    (line,) = fig["layout"]["shapes"]
    assert (line["x0"], line["x1"], line["line"]["dash"]) == (1, 1, "dash")
    assert fig["layout"]["annotations"][0]["text"] == "Break-even 1x"


def test_section_charts_are_deterministic(built):
    """The same data gives the same figures (the HTML report is byte-deterministic)."""
    from reportgen import sections
    from reportgen.config import load
    from reportgen.metrics import engine as metrics

    _, latest, _ = built
    cfg = load(latest.parent.parent.parent / "config.yaml")
    ds = open_dataset(cfg)
    preset = cfg.presets["study"]
    as_of = date.fromisoformat(WINDOW[1])
    report = metrics.compute(metrics.Engine(ds), preset, preset.window_for(as_of), as_of)
    first, again = (
        {k: f.to_json() for s in sections.compute(report, ds) for k, f in s.figures.items()}
        for _ in range(2)
    )
    assert list(first) == ["attribution", "incrementality"] and first == again
    page = (latest / "report.html").read_text()
    for key, text in first.items():
        assert json.loads(text) == _chart_json(page, f"chart-{key}")
        assert '"uid"' not in text


def test_pdf_has_the_section_charts(built):
    from pypdf import PdfReader

    _, latest, _ = built
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(latest / "report.pdf").pages
    )
    assert "Credited revenue per influencer, by attribution model" in text
    assert "Incremental ROAS (iROAS) against break-even, with direct ROAS" in text
    # Text drawn inside the exported SVGs (legends, labels), not only the headings.
    assert "Markov removal" in text and "iROAS too wide to decide (90% interval)" in text
    assert "direct 2.59x" in text


def test_email_states_the_programme_iroas_as_the_report_does(built, mailed):
    from pypdf import PdfReader

    _, latest, summary = built
    o = summary["incrementality"]["overall"]
    # Hand-formatted from summary.json: 0.1143 (-0.0769 to 0.3054), below break-even.
    line = (
        f"Programme iROAS (incremental revenue / payout): {_ratio(o['iroas'])} (90% interval "
        f"{_ratio(o['iroas_low'])} to {_ratio(o['iroas_high'])}), below break-even (1x)"
    )
    assert line == (
        "Programme iROAS (incremental revenue / payout): 0.11x (90% interval -0.08x to 0.31x), "
        "below break-even (1x)"
    )
    assert summary["incrementality"]["iroas_text"] == line
    text = mailed.get_body(("plain",)).get_content()
    html = _plain(mailed.get_body(("html",)).get_content())
    page = _plain((latest / "report.html").read_text())
    pdf = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(latest / "report.pdf").pages
    )
    assert line in text and line in html and line in page and line in pdf
    # One voice: every KPI text of the email is in this report too.
    for c in summary["kpi_cards"]:
        assert c["value_text"] in text and c["value_text"] in page and c["value_text"] in pdf


def _plain(html: str) -> str:
    """Return the visible text of an HTML fragment with whitespace collapsed."""
    import html as html_mod

    text = html_mod.unescape(re.sub(r"<[^>]+>", " ", html)).replace("\u2060", "")
    return " ".join(text.split())
