"""Very long text from data: clipped for display in one place (fmt.clip), whole in the data files.

Issue #7: a 100,000-character influencer name with no spaces kept WeasyPrint busy for over
10 minutes. The end-to-end cases (PDF, CSV, summary.json, HTML) are RENDER_CASES rows in
tests/test_hostile.py; this file holds the helper's rules and the charts.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from reportgen.report import charts, fmt, render
from tests.factories import SCRIPT, make_report

LONG = "N" * 100_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Asha Rao", "Asha Rao"),
        ("x" * 80, "x" * 80),  # at the limit: as is
        ("x" * 81, "x" * 79 + "…"),
        (LONG, "N" * 79 + "…"),
        ("a" * 70 + " " * 9 + "bb", "a" * 70 + "…"),  # no space before the ellipsis
        ("e" * 78 + "e\u0301" + "tail", "e" * 78 + "…"),  # no accent left on its own
        (12345, "12345"),
        (None, ""),
    ],
)
def test_clip_examples(value, expected):
    assert fmt.clip(value) == expected


@given(st.text(max_size=300), st.integers(min_value=1, max_value=120))
def test_clip_is_bounded_and_a_prefix(text, limit):
    out = fmt.clip(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        assert out.endswith(fmt.ELLIPSIS)
        assert text.startswith(out[:-1])


def test_clip_filter_in_html_keeps_a_bounded_escaped_tooltip(env):
    value = SCRIPT + "x" * 5000
    html = env.from_string("{{ v | clip }}").render(v=value)
    title = re.fullmatch(r'<span class="clipped" title="([^"]*)">([^<]*)</span>', html)
    assert title, html[:300]
    assert title.group(1) == str(escape(value[: fmt.TITLE_CHARS - 1])) + "…"
    assert title.group(2) == str(escape(fmt.clip(value)))
    assert "<script>" not in html


def test_clip_filter_leaves_short_text_alone_and_plain_text_unmarked(env):
    assert env.from_string("{{ v | clip }}").render(v="Asha & Co") == "Asha &amp; Co"
    text_env = render.make_environment(None)
    text_env.autoescape = False
    assert text_env.from_string("{{ v | clip }}").render(v=LONG) == "N" * 79 + "…"


def test_long_names_are_clipped_in_every_chart(tmp_path):
    report = make_report()
    for frame in (report.influencers, report.top_by_revenue, report.top_by_roas):
        frame.loc[frame.index[0], "name"] = LONG
    report.by_category.loc[report.by_category.index[0], "category"] = "C" * 50_000
    figures = charts.build_figures(report)
    for key in ("top_revenue", "top_roas", "by_category"):
        ticks = figures[key].layout.yaxis.ticktext
        assert any(t.endswith("…") for t in ticks), key
        assert max(len(html.unescape(t)) for t in ticks) <= 28, key
    for key, fig in figures.items():
        text = fig.to_json()
        # Hover boxes and point labels hold at most the 80-character display form.
        assert not re.search("N{80}|C{80}", text), key
    hover = [row[0] for row in figures["top_revenue"].data[0].customdata]
    assert "N" * 79 + "…" in hover
