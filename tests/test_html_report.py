"""The HTML report where a manager reads it: phone, no scripts, print, size, tables, a11y (#9)."""

from __future__ import annotations

import email
import io
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from reportgen.report import charts, embed, export, render
from tests.conftest import ROOT, TINY
from tests.factories import HOSTILE, empty_report, make_preset, make_report
from tests.test_render import CHROMIUM, fake_svgs, needs_chromium, squash, tags_of

#: A trace type registered in a plotly.js bundle, as its minified source spells it.
TRACE = re.compile(r'moduleType:"trace",name:"(\w+)"')


@pytest.fixture(scope="module")
def report():
    # 40 influencers: more than the folded tables show (render.COLLAPSE_ROWS).
    return make_report(n_influencers=40)


@pytest.fixture(scope="module")
def page(report, figures, env) -> str:
    return render.render_html(report, figures, env, fake_svgs(figures))


def svg_of(uri: str) -> str:
    head, _, body = uri.partition(",")
    assert head == "data:image/svg+xml;charset=utf-8"
    return urllib.parse.unquote(body)


def static_images(page: str) -> list[dict[str, str | None]]:
    return [a for t, a in tags_of(page) if t == "img" and a.get("class") == "chart-static"]


# --- size: the plotly.js partial bundle ------------------------------------------------------


def test_bundle_is_the_plotly_js_version_plotly_py_targets():
    bundle = render.plotly_bundle()
    version = get_plotlyjs_version()
    assert f"plotly.js (basic - minified) v{version}\n" in bundle[:200]
    assert f'version="{version}"' in bundle
    recorded = (render.ASSETS_DIR / "plotly-bundle.txt").read_text()
    assert recorded.startswith(f"plotly.js-basic-dist-min@{version} sha512-")


def test_bundle_has_every_trace_type_the_charts_draw():
    # The pattern finds the traces of plotly.py's full bundle too: it does not match nothing.
    assert {"bar", "scatter", "heatmap", "sankey"} <= set(TRACE.findall(get_plotlyjs()))
    bundled = set(TRACE.findall(render.plotly_bundle()))
    used = {
        trace.type
        for report in (make_report(), empty_report(), make_report(n_influencers=1))
        for fig in charts.build_figures(report).values()
        for trace in fig.data
    }
    assert used and used <= bundled, used - bundled


def test_html_inlines_the_partial_bundle_not_the_full_one(page):
    assert page.count(render.plotly_bundle()[:400]) == 1
    assert get_plotlyjs()[:300] not in page
    # 1.2 MB of plotly.js and the report around it, against 4.8 MB for the full bundle.
    assert len(page.encode()) < 1_500_000


# --- no JavaScript: static charts --------------------------------------------------------------


def test_each_chart_has_its_static_svg_and_the_script_swaps_it(page, figures):
    images = static_images(page)
    assert len(images) == len(figures)
    for (key, svg), img in zip(fake_svgs(figures).items(), images, strict=True):
        assert svg_of(img["src"] or "") == svg, key
        assert img["height"] == str(int(figures[key].layout.height or 360))
        assert (img["alt"] or "").startswith(charts.meta(figures[key])["title"])
    assert "<noscript>" not in page  # the static charts replace the "needs JavaScript" boxes
    assert "html:not(.js) .plot { display: none; }" in page
    assert "html.js .chart-static { display: none; }" in page


def test_svg_uri_cannot_leave_its_attribute():
    svg = '<svg><text>O\'Brien & <b>"x"</b> 100%#</text></svg>'
    uri = str(embed.svg_uri(svg))
    assert not set("'\"<>&#") & set(uri)
    assert svg_of(uri) == svg


def test_compact_svg_states_the_font_once_and_keeps_every_text():
    font = "font-family: Arial, 'Liberation Sans', sans-serif; "
    svg = (
        '<svg class="main-svg" width="680" height="100" style="">'
        f'<text class="xtick" x="12.3456" y="7" style="{font}font-size: 12px;">₹1.23456L</text>'
        f'<path d="M0,1.23999L5.5,6" style="{font}fill: red;"/></svg>'
    )
    out = render.compact_svg(svg)
    assert out == (
        '<svg font-family="Arial, \'Liberation Sans\', sans-serif" width="680" height="100">'
        '<text x="12.34" y="7" style="font-size: 12px;">₹1.23456L</text>'  # text untouched
        '<path d="M0,1.23L5.5,6" style="fill: red;"/></svg>'
    )


def test_exported_svg_ids_are_stable():
    svg = (
        '<svg><defs id="defs-4d6ed2"><clipPath id="clip4d6ed2xy"/></defs>'
        '<g clip-path="url(#clip4d6ed2xy)"/><clipPath id="legend889f99"/>'
        '<use xlink:href="#legend889f99"/><pattern id="pf0a8d7-1d438b-8"/>'
        "<path style=\"fill: url('#pf0a8d7-1d438b-8');\"/><text>clip4d6ed2xy</text></svg>"
    )
    assert export._stable_ids(svg, "top_roas") == (
        '<svg><defs id="top-roas-0"><clipPath id="top-roas-1"/></defs>'
        '<g clip-path="url(#top-roas-1)"/><clipPath id="top-roas-2"/>'
        '<use xlink:href="#top-roas-2"/><pattern id="top-roas-3"/>'
        "<path style=\"fill: url('#top-roas-3');\"/><text>clip4d6ed2xy</text></svg>"
    )


def test_exported_svg_drops_only_what_draws_nothing():
    svg = (
        '<svg><g class="layer"><g class="x"/><g class="y"></g><path class="xlines-below"/></g>'
        '<g class="bars"><path d="M0,0h5" style="fill: red;"/></g><g><text>₹1</text></g>'
        '<path style="fill: blue;" d="M1,1"/></svg>'
    )
    pruned = export._prune(svg)
    # Nested empties go too: "layer" held only empty groups and a path with nothing to draw.
    assert pruned == (
        '<svg><g class="bars"><path d="M0,0h5" style="fill: red;"/></g><g><text>₹1</text></g>'
        '<path style="fill: blue;" d="M1,1"/></svg>'
    )
    assert export._prune(pruned) == pruned


# --- tables ----------------------------------------------------------------------------------


def table_rows(page: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table is not None
    return re.findall(r"<tr[ >].*?</tr>", table.group(0).split("<tbody>")[1], re.S)


def test_payout_table_leads_with_influencer_revenue_payout_and_roas(page):
    table = re.search(r'<table[^>]*id="payouts-table".*?</thead>', page, re.S)
    assert table is not None
    heads = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', table.group(0))
    assert heads[:4] == ["Influencer", "Revenue", "Payout in window", "ROAS"]


def test_long_tables_fold_after_the_top_rows_and_keep_every_row(page, report):
    top = render.COLLAPSE_ROWS
    for table_id, frame in (
        ("payouts-table", report.influencers),
        ("engagement-table", report.engagement),
    ):
        rows = table_rows(page, table_id)
        assert len(rows) == len(frame) == 40
        folded = ['class="more"' in r or 'class="below more"' in r for r in rows]
        assert folded == [i >= top for i in range(40)], table_id
    names = [squash(str(escape(n))) for n in report.influencers["name"]]
    assert all(n in squash(page) for n in names)
    assert page.count('class="show-all-toggle"') == 2
    assert "Show all 40 influencers" in page and "Show all 40 rows" in page


def test_short_tables_are_not_folded(env):
    small = make_report(n_influencers=render.COLLAPSE_ROWS + 2)
    page = render.render_html(small, charts.build_figures(small), env)
    assert 'class="show-all-toggle"' not in page and 'class="more"' not in page


def test_csv_links_only_when_the_build_writes_csv(env):
    with_csv = make_report()
    page = render.render_html(with_csv, charts.build_figures(with_csv), env)
    hrefs = {a.get("href") for t, a in tags_of(page) if t == "a" and "download" in a}
    assert hrefs == {
        "payouts.csv",
        "engagement.csv",
        "daily.csv",
        "by_brand.csv",
        "by_category.csv",
        "by_platform.csv",
    }
    no_csv = make_report(preset=make_preset(formats=("html", "pdf")))
    page = render.render_html(no_csv, charts.build_figures(no_csv), env)
    assert not [a for t, a in tags_of(page) if t == "a" and "download" in a]


def test_hostile_names_stay_escaped_with_static_charts(page):
    for bad in HOSTILE:
        assert bad not in page, bad
    for tag, attrs in tags_of(page):
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_same_input_gives_identical_html_with_static_charts(env):
    one, two = make_report(), make_report()
    first = render.render_html(
        one, charts.build_figures(one), env, fake_svgs(charts.build_figures(one))
    )
    second = render.render_html(
        two, charts.build_figures(two), env, fake_svgs(charts.build_figures(two))
    )
    assert first == second


# --- tagged PDF ------------------------------------------------------------------------------


def test_pdf_is_tagged_for_accessibility(report, figures, env):
    from pypdf import PdfReader

    data = render.render_pdf(report, fake_svgs(figures), env, figures=figures)
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert bool(root["/MarkInfo"]["/Marked"]) is True


# --- real browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def real_page(tmp_path_factory, report, figures, env) -> Path:
    """The report with SVGs exported by kaleido, as a build writes it, beside its CSV files."""
    with export.ChartExporter(browser=CHROMIUM) as ex:
        svgs = ex.to_svgs(figures)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render.render_html(report, figures, env, svgs), encoding="utf-8")
    return path


def open_tab(
    browser,
    path: Path,
    *,
    width: int = 1280,
    js: bool = True,
    media: str = "screen",
    wait: bool = True,
):
    tab = browser.new_page(viewport={"width": width, "height": 900}, java_script_enabled=js)
    tab.emulate_media(media=media)
    tab.route(
        "**/*",
        lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
    )
    tab.goto(path.as_uri())
    if js and wait:
        tab.wait_for_function(
            "() => [...document.querySelectorAll('.plot')].every(p => p.querySelector('.main-svg'))"
        )
    return tab


@pytest.mark.browser
@needs_chromium
def test_without_javascript_each_chart_shows_its_svg(browser, real_page):
    tab = open_tab(browser, real_page, width=390, js=False)
    shown = tab.eval_on_selector_all(
        ".chart",
        """figs => figs.map(f => {
            const img = f.querySelector('img.chart-static');
            const plot = f.querySelector('.plot');
            return {img: !!img && img.complete && img.naturalWidth > 0 && img.offsetHeight > 0,
                    svg: !!img && img.src.startsWith('data:image/svg+xml'),
                    plot: plot.offsetHeight};
        })""",
    )
    tab.close()
    assert len(shown) == len(charts.build_figures(make_report()))
    assert all(s["img"] and s["svg"] and s["plot"] == 0 for s in shown), shown


@pytest.mark.browser
@needs_chromium
def test_with_javascript_interactive_charts_replace_the_static_ones(browser, real_page):
    tab = open_tab(browser, real_page)
    hidden = tab.eval_on_selector_all("img.chart-static", "els => els.map(e => e.offsetHeight)")
    version = tab.evaluate("Plotly.version")
    tab.close()
    assert hidden == [0] * len(charts.build_figures(make_report()))
    assert version == get_plotlyjs_version()


@pytest.mark.browser
@needs_chromium
def test_phone_shows_influencer_revenue_payout_and_roas_without_scrolling(browser, real_page):
    tab = open_tab(browser, real_page, width=390)
    edges = tab.evaluate(
        """() => {
            const wrap = document.querySelector('#payouts .table-wrap').getBoundingClientRect();
            const rows = [...document.querySelectorAll('#payouts-table tr')].filter(r => r.offsetHeight);
            return {wrap: wrap.right, cells: rows.map(r => r.cells[3].getBoundingClientRect().right),
                    page: document.documentElement.scrollWidth};
        }"""
    )
    visible = tab.eval_on_selector_all(
        "#payouts-table tbody tr", "rs => rs.filter(r => r.offsetHeight).length"
    )
    tab.click("label[for=payouts-all]")
    unfolded = tab.eval_on_selector_all(
        "#payouts-table tbody tr", "rs => rs.filter(r => r.offsetHeight).length"
    )
    tab.close()
    assert edges["page"] == 390  # nothing widens the page
    assert len(edges["cells"]) == 1 + render.COLLAPSE_ROWS
    assert all(right <= edges["wrap"] for right in edges["cells"]), edges
    assert (visible, unfolded) == (render.COLLAPSE_ROWS, 40)


def column(tab, table: str, index: int) -> list[str]:
    """Return the text of column ``index`` in the rows a filter leaves, folded or not."""
    return tab.eval_on_selector_all(
        f"#{table} tbody tr",
        f"rs => rs.filter(r => !r.hidden).map(r => r.cells[{index}].textContent)",
    )


def names_in(tab) -> list[str]:
    return tab.eval_on_selector_all(
        "#payouts-table tbody tr",
        "rs => rs.filter(r => !r.hidden).map(r => r.querySelector('.name').textContent)",
    )


@pytest.mark.browser
@needs_chromium
def test_tables_sort_by_number_and_name_and_filter_by_name(browser, real_page, report):
    tab = open_tab(browser, real_page)
    frame = report.influencers
    tab.click("#payouts-table th:nth-child(3) button")  # payout: largest first
    payouts = column(tab, "payouts-table", 2)
    sort_state = tab.get_attribute("#payouts-table th:nth-child(3)", "aria-sort")
    expected = frame.sort_values("payout", ascending=False, kind="stable")["name"].tolist()
    by_payout = names_in(tab)
    folded = tab.eval_on_selector_all("#payouts-table tr.more", "rs => rs.length")
    tab.click("#payouts-table th:nth-child(3) button")  # then smallest first
    ascending = names_in(tab)
    tab.click("#payouts-table th:nth-child(4) button")  # ROAS: n/a last either way
    roas = column(tab, "payouts-table", 3)
    tab.click("#payouts-table th:nth-child(1) button")  # names A to Z
    by_name = names_in(tab)
    target = frame["name"].iloc[7]
    tab.fill("#payouts .table-filter", target[:6].upper())
    filtered = names_in(tab)
    count = tab.inner_text("#payouts .table-count")
    tab.close()
    assert sort_state == "descending" and by_payout == expected, payouts
    assert folded == 40 - render.COLLAPSE_ROWS
    assert ascending == frame.sort_values("payout", kind="stable")["name"].tolist()
    assert roas[-1] == "n/a" and roas[0].startswith(f"{frame['roas'].max():.2f}")
    assert by_name == sorted(by_name, key=str.casefold)
    matching = [n for n in frame["name"] if target[:6].lower() in n.lower()]
    assert filtered == sorted(matching, key=str.casefold) and target in filtered
    assert count == f"{len(matching)} of 40 shown"


@pytest.mark.browser
@needs_chromium
def test_browser_print_keeps_every_row_and_column_without_controls(browser, real_page, report):
    from pypdf import PdfReader

    tab = open_tab(browser, real_page, media="print")
    clipped = tab.eval_on_selector_all(
        ".table-wrap",
        "ws => ws.filter(w => w.offsetHeight && w.scrollWidth > w.clientWidth + 1).length",
    )
    charts_shown = tab.eval_on_selector_all(
        "img.chart-static", "is => is.filter(i => i.offsetHeight).length"
    )
    pdf = tab.pdf(format="A4")
    tab.close()
    pages = PdfReader(io.BytesIO(pdf)).pages
    text = squash("".join(p.extract_text() or "" for p in pages))
    assert clipped == 0 and charts_shown == len(charts.build_figures(make_report()))
    for name in report.influencers["name"]:
        assert squash(str(name)) in text, name
    for header in ("ROAS", "Rate", "CPE", "Revenuetouched"):
        assert header.upper() in text.upper(), header
    assert "Filterbyname" not in text and "Showall" not in text and "Download" not in text


# --- accessibility (axe-core) ----------------------------------------------------------------


def axe_problems(tab) -> list[str]:
    """Return the serious and critical axe-core violations on the open page."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe.Axe().run(tab).response
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A real build and dry-run email of the tiny data: report.html, index.html and an .eml."""
    root = tmp_path_factory.mktemp("a11y")
    (root / "config.yaml").write_text(
        f"source:\n  kind: files\n  path: {TINY}\noutput:\n  dir: {root / 'output'}\n"
        f"schedule:\n  state_dir: {root / 'state'}\n"
        "email:\n  host: localhost\n  sender: reports@example.com\n"
        "presets:\n  weekly:\n    title: Tiny weekly\n    window: previous_week\n"
        "    formats: [html, pdf, csv]\n    to: [boss@example.com]\n"
    )
    for args in (
        ("build",),
        ("send", "--preset", "weekly", "--dry-run", "--out", str(root / "eml")),
    ):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "reportgen",
                "-c",
                str(root / "config.yaml"),
                *args,
                "--as-of",
                "2025-07-07",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    return root


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("js", [True, False])
def test_report_has_no_serious_axe_violations(browser, built, js):
    tab = open_tab(browser, built / "output" / "weekly" / "latest" / "report.html")
    if not js:  # as a viewer without scripts shows it: static charts, no table controls
        tab.evaluate("() => document.documentElement.classList.remove('js')")
    problems = axe_problems(tab)
    tab.close()
    assert problems == []


@pytest.mark.browser
@needs_chromium
def test_index_and_email_have_no_serious_axe_violations(browser, built):
    tab = open_tab(browser, built / "output" / "index.html", wait=False)
    index = axe_problems(tab)
    tab.close()
    eml = next((built / "eml").rglob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes())
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    page = built / "email.html"
    page.write_bytes(html.get_payload(decode=True))
    tab = open_tab(browser, page, wait=False)
    mail = axe_problems(tab)
    tab.close()
    assert index == [] and mail == []
