"""Config validation: every mistake names file, line and key path; windows resolve inclusively."""

from __future__ import annotations

from datetime import date

import pytest

from reportgen import config as config_mod
from reportgen.errors import ConfigError
from reportgen.model import Window
from reportgen.windows import resolve
from tests.conftest import ROOT, make_config


def error_for(tmp_path, body: str) -> str:
    with pytest.raises(ConfigError) as exc:
        make_config(tmp_path, body)
    return str(exc.value)


def test_shipped_config_is_valid():
    cfg = config_mod.load(ROOT / "config.yaml")
    assert cfg.source.kind == "simulate"
    assert len(cfg.presets) >= 3
    assert cfg.presets["muscleblaze-30d"].filters.brands == ("MuscleBlaze",)


def test_defaults_apply_and_presets_override(tmp_path):
    cfg = make_config(
        tmp_path,
        """
        defaults: {timezone: Europe/Berlin, top_n: 5, formats: [html]}
        presets:
          a: {}
          b: {timezone: America/New_York, formats: [pdf, csv]}
        """,
    )
    a, b = cfg.presets["a"], cfg.presets["b"]
    assert (a.timezone, a.top_n, a.formats) == ("Europe/Berlin", 5, ("html",))
    assert (b.timezone, b.top_n, b.formats) == ("America/New_York", 5, ("pdf", "csv"))
    assert a.currency == "INR" and a.locale == "en_IN" and a.window == "last_30_days"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "presets:\n  a:\n    windw: last_7_days\n",
            "config.yaml:3: presets.a.windw: unknown key (did you mean 'window'?)",
        ),
        (
            "presets:\n  a:\n    brands: [MuscleBlast]\n",
            "config.yaml:3: presets.a.brands[0]: unknown brand 'MuscleBlast' (did you mean 'MuscleBlaze'?)",
        ),
        (
            "presets:\n  a:\n    categories:\n      - Fitness\n      - Gaming\n",
            "config.yaml:5: presets.a.categories[1]: unknown category 'Gaming'",
        ),
        (
            "presets:\n  a:\n    timezone: Asia/Kolkatta\n",
            "config.yaml:3: presets.a.timezone: unknown timezone 'Asia/Kolkatta'",
        ),
        (
            "presets:\n  a:\n    window: {start: 2025-02-30, end: 2025-03-01}\n",
            "config.yaml:3: presets.a.window.start: expected a date YYYY-MM-DD, got '2025-02-30'",
        ),
        (
            "presets:\n  a:\n    window: {start: 2025-03-02, end: 2025-03-01}\n",
            "presets.a.window.end: end 2025-03-01 is before start 2025-03-02",
        ),
        ("presets:\n  a:\n    window: last_week\n", "presets.a.window: unknown window 'last_week'"),
        (
            "presets:\n  a:\n    top_n: ten\n",
            "config.yaml:3: presets.a.top_n: expected an integer, got 'ten'",
        ),
        (
            "presets:\n  a:\n    formats: [html, docx]\n",
            "presets.a.formats[1]: 'docx' is not one of html, pdf, csv",
        ),
        (
            "presets:\n  a:\n    schedule: '0 25 * * *'\n",
            "presets.a.schedule: invalid cron expression '0 25 * * *'",
        ),
        (
            "defaults:\n  currency: RUPEES\npresets:\n  a: {}\n",
            "config.yaml:2: defaults.currency: unknown currency 'RUPEES'",
        ),
        (
            "sourc:\n  kind: files\npresets:\n  a: {}\n",
            "config.yaml:1: sourc: unknown key (did you mean 'source'?)",
        ),
        (
            "source:\n  kind: csv\npresets:\n  a: {}\n",
            "config.yaml:2: source.kind: 'csv' is not one of simulate, files",
        ),
        (
            "source:\n  columns:\n    tracking: {date: order_date}\npresets:\n  a: {}\n",
            "config.yaml:3: source.columns.tracking: unknown table (did you mean 'tracking_data'?)",
        ),
        (
            "presets:\n  a: {}\n  a: {}\n",
            "config.yaml:3: presets.a: duplicate key (first at line 2)",
        ),
        ("presets:\n  a: [1, 2\n", "config.yaml:"),
        ("presets: {}\n", "presets: define at least one preset"),
        (
            "presets:\n  a:\n    to: [not-an-address]\n",
            "presets.a.to[0]: expected one email address",
        ),
    ],
)
def test_errors_name_line_and_key(tmp_path, body, expected):
    message = error_for(tmp_path, body)
    assert expected in message
    assert message.startswith(str(tmp_path / "config.yaml"))


def test_category_names_are_matched_case_insensitively(tmp_path):
    cfg = make_config(tmp_path, "presets:\n  a: {categories: [fitness], brands: [gritzo]}\n")
    assert cfg.presets["a"].filters.categories == ("Fitness",)
    assert cfg.presets["a"].filters.brands == ("Gritzo",)


def test_extra_products_extend_brands(tmp_path):
    cfg = make_config(
        tmp_path,
        "catalogue: {extra_products: {Kids Protein: Gritzo, Shampoo: TrueBasics}}\n"
        "presets:\n  a: {brands: [TrueBasics]}\n",
    )
    assert cfg.products["Kids Protein"] == "Gritzo"
    assert cfg.presets["a"].filters.brands == ("TrueBasics",)


def test_yaml_tags_are_not_executed(tmp_path):
    message = error_for(tmp_path, "presets: !!python/object/apply:os.system ['true']\n")
    assert "config.yaml:1: presets: unsupported YAML tag" in message


def test_unknown_preset_on_select(tmp_path):
    cfg = make_config(tmp_path, "presets:\n  weekly: {}\n")
    with pytest.raises(ConfigError, match="unknown preset 'weekyl' \\(did you mean 'weekly'\\?\\)"):
        cfg.select(["weekyl"])


@pytest.mark.parametrize(
    ("spec", "as_of", "start", "end"),
    [
        ("last_7_days", date(2025, 7, 7), date(2025, 7, 1), date(2025, 7, 7)),
        ("last_30_days", date(2025, 3, 1), date(2025, 1, 31), date(2025, 3, 1)),
        ("yesterday", date(2025, 7, 7), date(2025, 7, 7), date(2025, 7, 7)),
        # 2025-07-09 is a Wednesday: the last complete week is Mon 06-30 .. Sun 07-06
        ("previous_week", date(2025, 7, 9), date(2025, 6, 30), date(2025, 7, 6)),
        ("previous_week", date(2025, 7, 6), date(2025, 6, 30), date(2025, 7, 6)),
        ("previous_month", date(2025, 3, 15), date(2025, 2, 1), date(2025, 2, 28)),
        ("previous_month", date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29)),
        ("previous_month", date(2025, 1, 3), date(2024, 12, 1), date(2024, 12, 31)),
        ("previous_quarter", date(2025, 5, 10), date(2025, 1, 1), date(2025, 3, 31)),
        ("previous_quarter", date(2025, 1, 2), date(2024, 10, 1), date(2024, 12, 31)),
        ("month_to_date", date(2025, 7, 9), date(2025, 7, 1), date(2025, 7, 9)),
        ("quarter_to_date", date(2025, 8, 9), date(2025, 7, 1), date(2025, 8, 9)),
        ("week_to_date", date(2025, 7, 9), date(2025, 7, 7), date(2025, 7, 9)),
        ("year_to_date", date(2025, 7, 9), date(2025, 1, 1), date(2025, 7, 9)),
    ],
)
def test_relative_windows(spec, as_of, start, end):
    assert resolve(spec, as_of) == Window(start, end)


def test_previous_window_has_equal_length():
    w = Window(date(2025, 3, 1), date(2025, 3, 31))
    assert w.previous() == Window(date(2025, 1, 29), date(2025, 2, 28))
    assert w.previous().days == w.days == 31
