"""What the pages embed: each chart's context entry, figure JSON safe in <script>, SVG data: URIs.

Also the vendored plotly.js bundle the HTML report inlines once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from reportgen.errors import RenderError
from reportgen.report.templating import ASSETS_DIR

#: The plotly.js partial bundle report.html inlines: only the trace types our charts draw
#: (scatter, bar; 1.2 MB instead of the full 4.8 MB), of the version plotly.py targets.
PLOTLY_BUNDLE = "plotly-basic.min.js"


@lru_cache(maxsize=1)
def plotly_bundle() -> str:
    """Return the vendored plotly.js partial bundle (see scripts/update-plotly-bundle.sh)."""
    text = (ASSETS_DIR / PLOTLY_BUNDLE).read_text(encoding="utf-8")
    # Inlined in a <script> element, which this text would end early.
    if "</script" in text.lower():
        raise RenderError(f"{PLOTLY_BUNDLE} contains '</script' and cannot be inlined")
    return text


def chart_entries(
    figures: Mapping[str, Any], *, with_json: bool = True
) -> dict[str, dict[str, Any]]:
    """Return each chart's context entry; its figure JSON only ``with_json``."""
    from reportgen.report import charts

    out = {}
    for key, fig in figures.items():
        info = charts.meta(fig)
        # The PDF draws the exported SVG; serialising the figure for it would be wasted work.
        text = _script_json(fig.to_json()) if with_json else ""
        out[key] = {
            "key": key,
            "id": f"chart-{_slug(key)}",
            "title": info["title"],
            "caption": info["caption"],
            "height": int(fig.layout.height or 360),
            "json": Markup(text),  # noqa: S704 - escaped for <script>
            "svg": "",
        }
    return out


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(key)).strip("-").lower() or "chart"


def _script_json(text: str) -> str:
    """Return JSON that cannot close or comment out the <script> element holding it."""
    # "<", ">" and "&" only occur inside JSON strings, where \\u escapes mean the same text.
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def compact_svg(svg: str) -> str:
    """Return a plotly SVG with its font stack stated once on the root, not on every text.

    plotly repeats the 130-character font stack in each text's style: a quarter of a chart.
    A presentation attribute on the root is inherited by every text that has no font-family.
    """
    families = _FONT_FAMILY.findall(svg)
    if not families or len(set(families)) > 1:
        return svg  # several fonts: leave them where they are
    body = _FONT_FAMILY.sub("", svg)
    # Classes style nothing in an <img>; decimals past the hundredth of a pixel show nothing.
    body = _CLASS.sub("", body).replace(' style=""', "")
    body = _GEOMETRY.sub(lambda m: _DECIMALS.sub(r"\1", m.group(0)), body)
    family = families[0].replace('"', "'")
    return body.replace("<svg ", f'<svg font-family="{family}" ', 1)


_CLASS = re.compile(r' class="[^"]*"')
#: Attributes that hold only coordinates, never text, and a number with over two decimals.
_GEOMETRY = re.compile(r' (?:transform|d|x|y|x1|x2|y1|y2|width|height|points|cx|cy|r)="[^"]*"')
_DECIMALS = re.compile(r"(\d\.\d\d)\d+")
#: A font-family declaration inside a style attribute of plotly's SVG.
_FONT_FAMILY = re.compile(r"font-family: ([^;\"]*);\s?")


def svg_uri(svg: str) -> Markup:
    """Return ``svg`` as a data: URI, percent-encoded: a sixth smaller than base64 for SVG.

    Quotes, ``<``, ``>`` and ``&`` are encoded, so the URI is safe in any attribute as is.
    """
    if not svg:
        return Markup("")
    uri = "data:image/svg+xml;charset=utf-8," + quote(svg, safe=_URI_SAFE)
    return Markup(uri)  # noqa: S704 - percent-encoded: holds no quote, <, > or &


#: Characters left as they are in a data: URI's text: the rest are percent-encoded.
_URI_SAFE = " /=:;,.()-_!*~@$?+"
