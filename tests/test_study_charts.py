"""The study sections' charts and the programme iROAS line, on hand-built numbers."""

from __future__ import annotations

import html

import pandas as pd
import pytest

from reportgen.delivery.compose import iroas_line
from reportgen.metrics import kpis
from reportgen.sections.attribution import LABELS
from reportgen.sections.study_charts import attribution_chart, iroas_chart

HOSTILE = "<script>alert(1)</script>" + "N" * 200


# --- the iROAS line: one text for the report and the email -------------------------------------


@pytest.mark.parametrize(
    ("estimate", "line"),
    [
        (
            {"iroas": 1.5, "iroas_low": 1.2049, "iroas_high": 1.8, "decision": "above break-even"},
            "Programme iROAS (incremental revenue / payout): 1.50x (90% interval 1.20x to "
            "1.80x), above break-even (1x)",
        ),
        (
            {"iroas": 0.9, "iroas_low": 0.4, "iroas_high": 1.4, "decision": "inconclusive"},
            "Programme iROAS (incremental revenue / payout): 0.90x (90% interval 0.40x to "
            "1.40x), inconclusive: the interval holds break-even (1x)",
        ),
        # Too wide: the interval only, no point estimate (as the report's table).
        (
            {
                "iroas": 2.26,
                "iroas_low": -4.3621,
                "iroas_high": 8.8863,
                "decision": "too wide to decide",
            },
            "Programme iROAS (incremental revenue / payout): too wide to decide (90% interval "
            "-4.36x to 8.89x)",
        ),
        ({"iroas": None, "reason": "fewer than 200 held-out users"}, None),
    ],
)
def test_iroas_text(estimate, line):
    assert kpis.iroas_text(estimate, 0.9) == line


def test_email_iroas_comes_from_the_summary():
    overall = {"iroas": 0.1143, "iroas_low": -0.0769, "iroas_high": 0.3054}
    overall["decision"] = "below break-even"
    stored = "Programme iROAS (incremental revenue / payout): 0.11x (90% interval -0.08x to 0.31x), below break-even (1x)"
    assert iroas_line({"incrementality": {"iroas_text": stored, "overall": overall}}) == stored
    # A build from before the text was stored: the same formatter on its fields.
    assert iroas_line({"incrementality": {"confidence": 0.9, "overall": overall}}) == stored
    assert iroas_line({"incrementality": {"iroas_text": None, "overall": {"iroas": None}}}) is None
    assert iroas_line({"incrementality": None}) is None  # the section was not done
    assert iroas_line({"kpis": {}}) is None  # the preset does not list it


# --- the iROAS chart ---------------------------------------------------------------------------


def _scope(scope, payout, iroas, low, high, decision, direct=2.0, name=None):
    return {
        "scope": scope,
        "name": name or f"Name {scope}",
        "payout": payout,
        "iroas": iroas,
        "iroas_low": low,
        "iroas_high": high,
        "decision": decision,
        "direct_roas": direct,
    }


def test_iroas_chart_draws_the_programme_and_the_ten_biggest_payouts():
    rows = [_scope("overall", 78_000, 1.3, 1.1, 1.5, "above break-even", name="All influencers")]
    # I01..I12 paid 1,000..12,000; I07 paid 7,000 and has no estimate.
    for i in range(1, 13):
        rows.append(_scope(f"I{i:02d}", 1000.0 * i, 0.5, 0.2, 0.8, "below break-even"))
    rows[7] = {**rows[7], "iroas": None, "iroas_low": None, "iroas_high": None, "decision": None}
    fig = iroas_chart(rows, confidence=0.9)
    decided, direct = fig.data
    # The 10 biggest payouts among the 11 with an estimate: I12..I02 without I07.
    expected = ["overall", *[f"I{i:02d}" for i in (12, 11, 10, 9, 8, 6, 5, 4, 3, 2)]]
    assert list(decided.y) == expected and list(direct.y) == expected
    caption = fig.layout.meta["caption"]
    assert "The 10 influencers with the largest payout of 11 with an estimate" in caption
    assert "1 scope without an iROAS estimate not shown" in caption
    assert "cut" not in caption
    # No scope too wide: no hollow trace, and the legend still names both ROAS marks.
    assert [t.name for t in fig.data] == [
        "iROAS (incremental revenue / payout), 90% interval",
        "Direct ROAS (tracked revenue / payout)",
    ]
    assert fig.layout.showlegend is True
    # x from 0 (the lowest end here: direct and iROAS are positive) to 2.0 (direct), padded 8%.
    assert tuple(fig.layout.xaxis.range) == pytest.approx((-0.16, 2.16))


def test_iroas_chart_cuts_a_huge_whisker_and_says_so():
    rows = [
        _scope("overall", 10_000, 1.2, 0.9, 1.5, "inconclusive", direct=1.5),
        _scope("T", 50, 3.0, -400.0, 406.0, "too wide to decide", direct=4.0, name=HOSTILE),
    ]
    fig = iroas_chart(rows, confidence=0.9)
    wide = fig.data[1]
    assert [t.name for t in fig.data][1] == "iROAS too wide to decide (90% interval)"
    assert wide.marker.symbol == "circle-open" and list(wide.text) == ["too wide to decide"]
    # Reach: 3 x the largest drawn value (direct 4.0x) = 12 each side, then padded 8% of 24.
    assert tuple(fig.layout.xaxis.range) == pytest.approx((-12 - 1.92, 12 + 1.92))
    assert "Whiskers past the axis are cut at its edge" in fig.layout.meta["caption"]
    # The hostile name is escaped and clipped in the tick label and the hover.
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[1].startswith("&lt;script&gt;") and len(html.unescape(ticks[1])) <= 28
    assert len(html.unescape(wide.customdata[0][0])) == 80
    assert "<script>" not in fig.to_json()


def test_iroas_chart_is_none_without_an_estimate():
    rows = [{**_scope("overall", 0, None, None, None, None), "reason": "no holdout"}]
    assert iroas_chart(rows, confidence=0.9) is None


# --- the attribution chart ---------------------------------------------------------------------


def test_attribution_chart_orders_models_and_ranks_by_last_touch():
    ids = [f"I{i:02d}" for i in range(1, 13)]
    # Last touch 100..1200 by id; I01 and I02 swapped, and I03 ties I04 at 400 (id breaks it).
    last = [200.0, 100.0, 400.0, 400.0, *[100.0 * i for i in range(5, 13)]]
    wide = pd.DataFrame(
        {"influencer_id": ids, "last_touch": last, "linear": [1.0] * 12, "shapley": [2.0] * 12}
    )
    names = {"I01": HOSTILE}
    fig = attribution_chart(
        wide, ("shapley", "last_touch", "linear"), names, LABELS, currency="INR", locale="en_IN"
    )
    assert [t.name for t in fig.data] == ["Last touch", "Linear", "Shapley"]
    top = ["I12", "I11", "I10", "I09", "I08", "I07", "I06", "I05", "I03", "I04"]
    assert all(list(t.y) == top for t in fig.data)
    assert list(fig.data[0].x) == [1200, 1100, 1000, 900, 800, 700, 600, 500, 400, 400]
    assert "(2 more in the table below)" in fig.layout.meta["caption"]
    assert fig.data[0].customdata[0][1] == "₹1,200"


def test_attribution_chart_clips_names_and_is_none_when_nobody_is_credited():
    wide = pd.DataFrame({"influencer_id": ["I01"], "last_touch": [50.0]})
    fig = attribution_chart(
        wide, ("last_touch",), {"I01": HOSTILE}, LABELS, currency="INR", locale="en_IN"
    )
    (tick,) = fig.layout.yaxis.ticktext
    assert tick.startswith("&lt;script&gt;") and len(html.unescape(tick)) <= 28
    assert "<script>" not in fig.to_json()
    none = wide.assign(last_touch=[0.0])
    assert (
        attribution_chart(none, ("last_touch",), {}, LABELS, currency="INR", locale="en_IN") is None
    )
