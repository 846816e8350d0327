"""The message: headline, rankings, ROAS of a total loss, calendar comparisons, one voice.

Numbers are computed by hand on tests/data/tiny plus two loss-makers (see ``lossy``):

    window 2025-07-01..07: influencer  revenue  payout  ROAS    net
                           A1 Asha       4000    2000   2.00   +2000
                           B2 Bala       1600     400   4.00   +1200
                           C3 Chitra      800     n/a    n/a     n/a   (no payout terms)
                           D4 Dev         300       0    n/a    +300   (paid nothing)
                           E5 Esha       1000    5000   0.20   -4000   (per post 5000, 1 post)
                           F6 Faiz          0    2000   0.00   -2000   (per post 2000, 1 post)
    previous 06-24..30:    A1 Asha       1000    1000   1.00       0
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reportgen.build import build
from reportgen.metrics import engine as metrics
from reportgen.metrics import kpis
from reportgen.model import Window
from reportgen.report import fmt
from reportgen.sources import open_dataset
from reportgen.windows import compare_label, comparison, resolve
from tests.conftest import TINY, make_config

AS_OF = date(2025, 7, 7)
PRESET = """
output:
  dir: {out}
presets:
  weekly:
    title: Tiny weekly
    window: {{start: 2025-07-01, end: 2025-07-07}}
    formats: [html, csv]
    attach: [html, csv]
"""


def _append(path: Path, rows: str) -> None:
    with path.open("a") as f:
        f.write(rows)


@pytest.fixture(scope="module")
def lossy(tmp_path_factory) -> Path:
    """Return the tiny dataset plus E5 (sells 1000 on a 5000 fee) and F6 (sells nothing)."""
    root = tmp_path_factory.mktemp("lossy") / "data"
    shutil.copytree(TINY, root)
    _append(
        root / "influencers.csv",
        "E5,Esha Lal,Fitness,Female,900,Instagram\nF6,Faiz Khan,Fitness,Male,800,Instagram\n",
    )
    _append(root / "payouts.csv", "E5,per_post,5000,1,5000\nF6,per_post,2000,0,2000\n")
    _append(
        root / "posts.csv",
        "P6,E5,Instagram,2025-07-03 10:00:00,https://i.com/e/6,Shake,900,9,1\n"
        "P7,F6,Instagram,2025-07-04 10:00:00,https://i.com/f/7,Shake,800,8,0\n",
    )
    _append(
        root / "tracking_data.csv",
        "T10,influencer_marketing,MB_Summer,E5,U10,Whey Protein,2025-07-03 12:00:00,1,1000\n",
    )
    return root


@pytest.fixture(scope="module")
def built(lossy, tmp_path_factory):
    """Build the weekly preset on the lossy data: HTML and CSV on disk, with the report."""
    tmp = tmp_path_factory.mktemp("built")
    cfg = make_config(tmp, PRESET.format(out=tmp / "out"), data=lossy)
    (out,) = build(cfg, as_of=AS_OF)
    return cfg, out


def _report(lossy, tmp_path, extra: str = ""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = make_config(tmp_path, PRESET.format(out=tmp_path / "out") + extra, data=lossy)
    p = cfg.presets["weekly"]
    return metrics.compute(metrics.Engine(open_dataset(cfg)), p, p.window_for(AS_OF), AS_OF)


# --- ROAS of a total loss, rankings ----------------------------------------------------------


def test_total_loss_is_zero_roas_not_na(built):
    _, out = built
    t = out.report.influencers.set_index("influencer_id")
    assert t.loc["F6", "roas"] == 0.0 and t.loc["F6", "payout"] == 2000
    assert t.loc["E5", "roas"] == pytest.approx(0.2)
    assert fmt.ratio(t.loc["F6", "roas"]) == "0.00x"
    assert bool(t.loc["F6", "profitable"]) is False


def test_kpi_roas_of_a_window_with_payout_and_no_revenue_is_zero(lossy, tmp_path):
    body = (
        "presets:\n  f6:\n    window: {start: 2025-07-04, end: 2025-07-04}\n"
        "    categories: [Fitness]\n"
    )
    cfg = make_config(tmp_path, body, data=lossy)
    p = cfg.presets["f6"]
    r = metrics.compute(metrics.Engine(open_dataset(cfg)), p, p.window_for(AS_OF), AS_OF)
    # Fitness on 07-04: only F6's post (2000 paid) and no sale: a total loss, 0.00x, not n/a.
    assert r.kpis["revenue"].value == 0 and r.kpis["payout"].value == pytest.approx(2000)
    assert r.kpis["roas"].value == 0.0
    assert r.kpis["net"].value == pytest.approx(-2000)
    assert kpis.card(r.kpis["roas"], "INR", "en_IN")["value_text"] == "0.00x"


def test_rankings_never_list_zero_revenue_and_roas_needs_a_minimum_payout(built, lossy, tmp_path):
    _, out = built
    r = out.report
    assert "F6" not in set(r.top_by_revenue["influencer_id"])
    assert list(r.top_by_revenue["influencer_id"]) == ["A1", "B2", "E5", "C3", "D4"]
    # Default minimum: 1% of 9400 paid = 94: A1, B2, E5 (F6 sold nothing, C3/D4 are n/a).
    assert r.roas_min_payout == pytest.approx(94)
    assert list(r.top_by_roas["influencer_id"]) == ["B2", "A1", "E5"]
    assert list(r.by_net["influencer_id"]) == ["A1", "B2", "D4", "F6", "E5"]
    assert list(r.by_net["net"]) == [2000, 1200, 300, -2000, -4000]
    high = _report(lossy, tmp_path, "    roas_min_payout: 2500\n")
    assert list(high.top_by_roas["influencer_id"]) == ["E5"]
    share = _report(lossy, tmp_path / "b", "    roas_min_payout: '25%'\n")
    assert share.roas_min_payout == pytest.approx(2350)  # 25% of 9400
    s = out.summary
    assert [x["influencer_id"] for x in s["top_influencers_by_net"]] == ["A1", "B2", "D4"]
    assert [x["influencer_id"] for x in s["biggest_losses_by_net"]] == ["E5", "F6"]
    assert [x["below_break_even"] for x in s["top_influencers_by_revenue"]] == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_loss_makers_are_marked_in_charts_not_by_colour_alone(built):
    from reportgen.report import charts

    _, out = built
    figs = charts.build_figures(out.report)
    bar = figs["top_revenue"].data[0]
    marked = [t.endswith("▼ below 1x") for t in bar.text]
    assert marked == [False, False, True, False, False]  # E5, third by revenue
    assert bar.marker.pattern.shape[2] == "/" and bar.marker.color[2] == charts.BAD
    assert "▼ below 1x" in charts.meta(figs["top_revenue"])["caption"]
    net = figs["net_return"].data[0]
    assert list(net.y) == ["A1", "B2", "D4", "F6", "E5"]
    assert [t.endswith("▼ below 1x") for t in net.text] == [False, False, False, True, True]
    assert "₹94.00" in charts.meta(figs["top_roas"])["caption"]


# --- the headline -----------------------------------------------------------------------------


def test_headline_counts_and_shares_match_the_payout_table(built):
    _, out = built
    h = out.summary["headline"]
    t = out.report.influencers
    paid = t[t["payout"] > 0]
    below = paid[paid["roas"] < 1]
    # By hand: paid A1 2000, B2 400, E5 5000, F6 2000 = 9400; below: E5 + F6 = 7000.
    assert (len(paid), len(below), below["payout"].sum()) == (4, 2, 7000)
    assert h["numbers"]["break_even"] == {
        "paid_partnerships": 4,
        "below_break_even": 2,
        "below_payout": 7000.0,
        "below_payout_share": round(7000 / 9400, 4),
    }
    assert h["sentences"] == [
        "Revenue ₹7,700 (+670.0% vs 24–30 Jun 2025), payout ₹9,400 (+840.0%), "
        "net return −₹2,500 (no comparison).",
        "2 of 4 paid partnerships are below break-even (ROAS under 1x) and took 74.5% of the "
        "payout (₹7,000).",
        "Best net return: Asha Rao (+₹2,000); biggest loss: Esha Lal (−₹4,000).",
        "Biggest movers vs 24–30 Jun 2025: Asha Rao revenue +₹3,000 (₹4,000, +300.0%).",
        "Read with care: ₹800.00 of revenue (10.4%) came from 1 influencer(s) without payout "
        "terms, left out of ROAS and net return; 2 more data-quality note(s) in the report.",
    ]
    assert 3 <= len(h["sentences"]) <= 5


def test_headline_movers_need_a_minimum_size(built):
    from reportgen.metrics import headline

    _, out = built
    r = out.report
    # Every revenue change here is at least 300 of 7700 (3.9%); at a 5% floor only A1 (3000),
    # B2 (1600), E5 (1000) and C3 (800) qualify, and the largest rise still leads.
    old = r.influencers.iloc[0:0]
    numbers: dict = {}
    text = headline._movers_sentence(r, old.assign(revenue=[]), "vs x", numbers)
    assert numbers["movers"][0]["influencer_id"] == "A1"
    assert text.startswith("Biggest movers vs x: Asha Rao revenue +₹4,000")
    tiny = r.influencers.assign(revenue=r.influencers["revenue"] + 1.0)
    numbers = {}
    assert headline._movers_sentence(dataclasses.replace(r), tiny, "vs x", numbers) == ""
    assert numbers["movers"] == []  # +/-1 rupee each: noise, no mover


def test_headline_leads_the_report_and_the_email(built, tmp_path):
    from reportgen.delivery.deliver import Recipients, compose

    cfg, out = built
    page = out.files["html"].read_text()
    msg = compose(cfg, cfg.presets["weekly"], out, Recipients(("a@example.com",)))
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for sentence in out.summary["headline"]["sentences"]:
        assert _plain(sentence) in _plain(page)
        assert _plain(sentence) in _plain(html)
        assert sentence in text
    assert page.index('id="headline"') < page.index('class="kpis"')


# --- one voice --------------------------------------------------------------------------------


def _plain(html: str) -> str:
    """Return the visible text of an HTML fragment with whitespace collapsed."""
    import html as html_mod

    text = html_mod.unescape(re.sub(r"<[^>]+>", " ", html)).replace("\u2060", "")
    return " ".join(text.split())


def test_every_kpi_text_in_the_email_is_in_the_report(built):
    from reportgen.delivery.deliver import Recipients, compose

    cfg, out = built
    page = _plain(out.files["html"].read_text())
    msg = compose(cfg, cfg.presets["weekly"], out, Recipients(("a@example.com",)))
    body = _plain(msg.get_body(("html",)).get_content())
    text = msg.get_body(("plain",)).get_content()
    cards = out.summary["kpi_cards"]
    assert [c["key"] for c in cards] == ["revenue", "payout", "net", "roas", "orders", "aov"]
    for c in cards:
        for key in ("value_text", "change_text", "previous_text"):
            if key == "previous_text" and c["previous"] is None:
                continue
            assert c[key] in body and c[key] in page and c[key] in text, (c["key"], key)
    # The same tone (colour) in both: payout rising is neutral, revenue rising good.
    tones = {c["key"]: c["tone"] for c in cards}
    assert tones["payout"] == "neutral" and tones["revenue"] == "good"
    assert "kpi-payout" in out.files["html"].read_text()
    assert "tone-neutral" in re.search(
        r"kpi-payout.*?</article>", out.files["html"].read_text(), re.S
    ).group(0)


def test_kpi_texts_are_the_same_in_csv_and_summary(built):
    _, out = built
    rows = list(csv.DictReader(io.StringIO(out.files["csv:kpis"].read_text())))
    cards = {c["key"]: c for c in out.summary["kpi_cards"]}
    assert [r["kpi"] for r in rows] == list(cards)
    for r in rows:
        assert r["value_text"] == cards[r["kpi"]]["value_text"]
    assert out.summary["kpis"]["net"] == -2500
    assert out.summary["kpis"]["roas"] == round(6900 / 9400, 4)


def test_a_kpi_added_to_the_spec_flows_everywhere(lossy, tmp_path, monkeypatch):
    from reportgen.delivery.deliver import Recipients, compose

    extra = kpis.KpiSpec(
        "cpo",
        "Cost per order",
        "money",
        2,
        False,
        lambda t: t["payout"] / t["orders"] if t["orders"] else None,
    )
    monkeypatch.setattr(kpis, "SPECS", (*kpis.SPECS, extra))
    cfg = make_config(tmp_path, PRESET.format(out=tmp_path / "out"), data=lossy)
    (out,) = build(cfg, as_of=AS_OF)
    # 9400 paid / 11 orders (A1 4, B2 4, C3 1, D4 1, E5 1) = 854.545...
    assert out.summary["kpis"]["cpo"] == pytest.approx(854.55)
    card = next(c for c in out.summary["kpi_cards"] if c["key"] == "cpo")
    assert card["value_text"] == "₹854.55" and card["label"] == "Cost per order"
    assert "Cost per order" in out.files["html"].read_text()
    assert "₹854.55" in out.files["csv:kpis"].read_text()
    msg = compose(cfg, cfg.presets["weekly"], out, Recipients(("a@example.com",)))
    assert "₹854.55" in msg.get_body(("plain",)).get_content()
    assert "Cost per order" in msg.get_body(("html",)).get_content()


def test_email_names_attachments_and_says_data_up_to_window_end(built):
    from reportgen.delivery.deliver import Recipients, compose

    cfg, out = built
    msg = compose(cfg, cfg.presets["weekly"], out, Recipients(("a@example.com",)))
    names = [a.get_filename() for a in msg.iter_attachments()]
    assert names == [
        "weekly_2025-07-01_2025-07-07.html",
        "weekly_2025-07-01_2025-07-07_payouts.csv",
    ]
    payouts = next(a for a in msg.iter_attachments() if a.get_filename().endswith(".csv"))
    assert payouts.get_content_type() == "text/csv"
    assert "influencer_id" in payouts.get_content() and ",net" in payouts.get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "data up to and including 2025-07-07" in text


def test_email_from_an_older_summary_formats_with_the_same_spec(built):
    from reportgen.delivery.compose import summary_kpi_cards

    cfg, out = built
    old = {k: v for k, v in out.summary.items() if k != "kpi_cards"}
    cards = summary_kpi_cards(old, cfg.presets["weekly"])
    now = {c["key"]: c["value_text"] for c in out.summary["kpi_cards"]}
    assert {c["key"]: c["value_text"] for c in cards} == now


# --- comparison windows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "as_of", "mode", "start", "end", "label"),
    [
        # previous_month: November against October (31 days against 30).
        (
            "previous_month",
            "2026-12-01",
            "previous_calendar",
            "2026-10-01",
            "2026-10-31",
            "October 2026",
        ),
        (
            "previous_month",
            "2026-12-01",
            "previous_period",
            "2026-10-02",
            "2026-10-31",
            "2–31 Oct 2026",
        ),
        (
            "previous_month",
            "2026-12-01",
            "previous_year",
            "2025-11-01",
            "2025-11-30",
            "November 2025",
        ),
        # month_to_date: the same days of the previous month, clamped at its end.
        (
            "month_to_date",
            "2026-11-15",
            "previous_calendar",
            "2026-10-01",
            "2026-10-15",
            "1–15 Oct 2026",
        ),
        (
            "month_to_date",
            "2024-03-30",
            "previous_calendar",
            "2024-02-01",
            "2024-02-29",
            "February 2024",
        ),  # leap year: 30 Mar clamps to 29 Feb
        (
            "month_to_date",
            "2025-03-30",
            "previous_calendar",
            "2025-02-01",
            "2025-02-28",
            "February 2025",
        ),
        (
            "month_to_date",
            "2024-02-29",
            "previous_calendar",
            "2024-01-01",
            "2024-01-31",
            "January 2024",
        ),  # a whole month (ends on its last day) against the whole month
        (
            "month_to_date",
            "2024-02-28",
            "previous_calendar",
            "2024-01-01",
            "2024-01-28",
            "1–28 Jan 2024",
        ),
        (
            "month_to_date",
            "2024-02-29",
            "previous_year",
            "2023-02-01",
            "2023-02-28",
            "February 2023",
        ),
        # quarter_to_date: the same days of the previous quarter.
        (
            "quarter_to_date",
            "2026-11-15",
            "previous_calendar",
            "2026-07-01",
            "2026-08-15",
            "1 Jul – 15 Aug 2026",
        ),
        (
            "quarter_to_date",
            "2026-01-10",
            "previous_calendar",
            "2025-10-01",
            "2025-10-10",
            "1–10 Oct 2025",
        ),
        (
            "previous_quarter",
            "2026-10-01",
            "previous_calendar",
            "2026-04-01",
            "2026-06-30",
            "Q2 2026",
        ),
        # weeks: the week before; a year back is 52 weeks back (same weekdays).
        (
            "previous_week",
            "2026-11-30",
            "previous_calendar",
            "2026-11-16",
            "2026-11-22",
            "16–22 Nov 2026",
        ),
        (
            "week_to_date",
            "2026-11-26",
            "previous_calendar",
            "2026-11-16",
            "2026-11-19",
            "16–19 Nov 2026",
        ),
        (
            "previous_week",
            "2026-11-30",
            "previous_year",
            "2025-11-24",
            "2025-11-30",
            "24–30 Nov 2025",
        ),
        # A rolling window keeps its length a year back, 29 February or not.
        (
            "last_7_days",
            "2025-02-28",
            "previous_year",
            "2024-02-22",
            "2024-02-28",
            "22–28 Feb 2024",
        ),
        (
            "last_7_days",
            "2026-01-03",
            "previous_calendar",
            "2025-12-21",
            "2025-12-27",
            "21–27 Dec 2025",
        ),
        (
            "year_to_date",
            "2024-02-29",
            "previous_calendar",
            "2023-01-01",
            "2023-02-28",
            "1 Jan – 28 Feb 2023",
        ),
    ],
)
def test_comparison_windows_match_the_calendar(spec, as_of, mode, start, end, label):
    window = resolve(spec, date.fromisoformat(as_of))
    got = comparison(spec, window, mode)
    assert (got.start.isoformat(), got.end.isoformat()) == (start, end)
    assert compare_label(got) == label


def test_fixed_window_of_whole_months_compares_with_the_months_before():
    w = Window(date(2025, 7, 1), date(2025, 9, 30))
    assert comparison(w, w) == Window(date(2025, 4, 1), date(2025, 6, 30))
    odd = Window(date(2025, 7, 3), date(2025, 7, 9))
    assert comparison(odd, odd) == odd.previous()


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(
        [
            "previous_month",
            "month_to_date",
            "quarter_to_date",
            "previous_quarter",
            "previous_week",
            "week_to_date",
            "year_to_date",
            "last_30_days",
            "yesterday",
        ]
    ),
    st.sampled_from(["previous_calendar", "previous_period", "previous_year"]),
)
def test_comparison_is_a_valid_earlier_window(as_of, spec, mode):
    window = resolve(spec, as_of)
    got = comparison(spec, window, mode)
    assert got.start <= got.end < window.start
    if mode == "previous_period":
        assert got.days == window.days and got.end == window.start - timedelta(days=1)
    whole_months = window.start.day == 1 and (window.end + timedelta(days=1)).day == 1
    if mode == "previous_year" and not whole_months:
        assert got.days == window.days
    if mode == "previous_calendar" and spec in ("month_to_date", "quarter_to_date"):
        assert got.start.day == 1 and got.days <= window.days + 3


def test_report_and_summary_say_what_is_compared(lossy, tmp_path):
    cfg = make_config(
        tmp_path,
        f"output:\n  dir: {tmp_path / 'out'}\npresets:\n  m:\n    window: previous_month\n"
        "    formats: [html]\n",
        data=lossy,
    )
    (out,) = build(cfg, as_of=date(2025, 7, 31))
    s = out.summary
    assert s["previous_window"] == {"start": "2025-06-01", "end": "2025-06-30"}
    assert s["compare"] == {"mode": "previous_calendar", "label": "June 2025"}
    # June: T08 (06-30, 1000) only; July: the week's 7700 plus T09 (07-08, 999).
    assert s["kpis_previous"]["revenue"] == 1000 and s["kpis"]["revenue"] == 8699
    assert "June 2025" in out.files["html"].read_text()
    json.dumps(s)  # JSON-safe


def test_pdf_shows_the_same_kpi_texts_and_headline(built):
    from pypdf import PdfReader

    from reportgen.report import charts, render

    _, out = built
    pdf = render.render_pdf(out.report, {}, figures=charts.build_figures(out.report))
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    for c in out.summary["kpi_cards"]:
        assert c["value_text"] in text, c["key"]
    assert "2 of 4 paid partnerships are below break-even" in text


def test_email_marks_loss_makers_in_its_top_list(built):
    from reportgen.delivery.deliver import Recipients, compose

    cfg, out = built
    msg = compose(cfg, cfg.presets["weekly"], out, Recipients(("a@example.com",)))
    lines = msg.get_body(("plain",)).get_content().splitlines()
    marked = [line.split(".")[1].split()[0] for line in lines if line.endswith("▼ below 1x")]
    assert marked == ["Esha"]  # E5 at 0.20x; F6 sold nothing and is not "top" anything


_ROWS = st.lists(
    st.tuples(
        st.floats(0, 1e7, allow_nan=False),
        st.one_of(st.none(), st.just(0.0), st.floats(0.01, 1e7, allow_nan=False)),
    ),
    max_size=30,
)


@given(_ROWS)
def test_break_even_numbers_are_the_payout_tables(rows):
    import math

    import pandas as pd

    from reportgen.metrics import headline

    t = pd.DataFrame(rows, columns=["revenue", "payout"], dtype=float)
    t["roas"] = [r / p if p is not None and p > 0 else math.nan for r, p in rows]
    numbers: dict = {}
    text = headline._break_even_sentence(t, "INR", "en_IN", numbers)
    b = numbers["break_even"]
    paid = [(r, p) for r, p in rows if p is not None and p > 0]
    below = [(r, p) for r, p in paid if r < p]
    assert b["paid_partnerships"] == len(paid) and b["below_break_even"] == len(below)
    assert b["below_payout"] == pytest.approx(sum(p for _, p in below), abs=0.01)
    if paid:
        share = b["below_payout_share"]
        assert 0 <= share <= 1
        assert share == pytest.approx(sum(p for _, p in below) / sum(p for _, p in paid), abs=1e-4)
    if below:
        assert text.startswith(f"{fmt.count(len(below))} of {fmt.count(len(paid))} paid")


@given(
    st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)),
    st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)),
    st.sampled_from([s.key for s in kpis.SPECS]),
)
@example(1.0, 5e-324, "revenue")  # subnormal previous: the ratio overflowed to inf
def test_a_card_never_contradicts_itself(value, previous, key):
    from reportgen.model import Kpi

    s = kpis.spec(key)
    card = kpis.card(Kpi(key, s.label, value, previous, s.kind), "INR", "en_IN")
    assert card["value_text"] == fmt.by_kind(value, s.kind, "INR", "en_IN")
    if card["direction"] == "up":
        assert card["change_text"].startswith("+") and card["arrow"] == "▲"
    elif card["direction"] == "down":
        assert card["change_text"].startswith(fmt.MINUS) and card["arrow"] == "▼"
    else:
        assert card["tone"] == "neutral"
    if s.up_is_good is None:
        assert card["tone"] == "neutral"


@pytest.mark.parametrize(
    ("now", "before", "change"),
    [
        (150.0, 100.0, 0.5),
        (-50.0, -100.0, 0.5),  # a loss that halved is a rise
        (0.0, 5e-324, -1.0),  # all of a tiny value gone is still -100%
        (1.0, 1e-9, (1.0 - 1e-9) / 1e-9),  # at the epsilon: still a number
        (1.0, 9e-10, None),  # below it: no comparison
        (1.0, 5e-324, None),  # subnormal: 1/5e-324 overflows to inf
        (1e308, -1e308, None),  # the difference overflows
        (1.0, 0.0, None),
        (None, 1.0, None),
        (float("nan"), 1.0, None),
    ],
)
def test_relative_change_is_a_finite_number_or_none(now, before, change):
    from reportgen.model import relative_change

    assert relative_change(now, before) == change


def test_a_previous_value_too_close_to_zero_reads_no_comparison_everywhere():
    from reportgen.model import Kpi

    kpi = Kpi("revenue", "Revenue", 1.0, 5e-324, "money")
    card = kpis.card(kpi, "INR", "en_IN")
    assert kpi.change is None
    assert (card["change"], card["change_text"], card["direction"], card["arrow"]) == (
        None,
        "No comparison",
        None,
        "",
    )
    assert card["tone"] == "neutral"


def test_caveats_name_revenue_that_flatters_roas_only_when_it_matters(built):
    from reportgen.metrics import headline
    from reportgen.model import Issue

    _, out = built
    r = out.report
    cards = {c["key"]: c for c in kpis.cards(r.kpis, "INR", "en_IN")}
    old = r.influencers.head(1)
    unpaid = Issue("window_zero_payout", "warning", "paid nothing", rows=2, revenue=1000.0)
    numbers: dict = {}
    text = headline._caveat_sentence(
        dataclasses.replace(r, data_quality=[unpaid]), cards, old, numbers
    )
    # 1000 of 7700 revenue = 13.0%: above the 5% floor.
    assert text == (
        "Read with care: ₹1,000 of revenue (13.0%) came from 2 influencer(s) paid nothing this "
        "window, which flatters ROAS and net return."
    )
    small = dataclasses.replace(unpaid, revenue=300.0)  # 3.9%: not worth a headline
    numbers = {}
    assert (
        headline._caveat_sentence(dataclasses.replace(r, data_quality=[small]), cards, old, numbers)
        == ""
    )
    assert numbers["caveats"] == []


def test_index_downloads_the_pdf_under_its_name():
    from reportgen.report import render

    build_row = {
        "preset": "weekly-overview",
        "title": "Weekly",
        "as_of": "2026-11-30",
        "window_start": "2026-11-23",
        "window_end": "2026-11-29",
        "href_html": "weekly-overview/2026-11-30/report.html",
        "href_pdf": "weekly-overview/2026-11-30/report.pdf",
        "href_summary": "weekly-overview/2026-11-30/summary.json",
    }
    page = render.render_index([build_row])
    assert 'download="weekly-overview_2026-11-23_2026-11-29.pdf"' in page


def test_headline_names_from_data_are_escaped_in_report_and_email(built):
    from markupsafe import escape

    from reportgen.delivery.deliver import Recipients, compose
    from reportgen.report import charts, render
    from tests.factories import SCRIPT

    cfg, out = built
    report = dataclasses.replace(out.report, headline={"sentences": [f"Best: {SCRIPT} (+₹1)"]})
    page = render.render_html(report, charts.build_figures(report))
    assert SCRIPT not in page and str(escape(SCRIPT)) in page
    summary = dict(out.summary) | {"headline": report.headline}
    msg = compose(
        cfg,
        cfg.presets["weekly"],
        dataclasses.replace(out, summary=summary),
        Recipients(("a@example.com",)),
    )
    html = msg.get_body(("html",)).get_content()
    assert SCRIPT not in html and str(escape(SCRIPT)) in html
    assert f"* Best: {SCRIPT} (+₹1)" in msg.get_body(("plain",)).get_content()
