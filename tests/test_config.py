"""Config validation: every mistake names file, line and key path; windows resolve inclusively."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- schedule: crontab semantics, checked with the scheduler's own translation --------------------


def fire_days(tmp_path, cron: str, n: int = 7) -> list[date]:
    """Return the local dates of the next ``n`` fires of a preset scheduled with ``cron``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reportgen.scheduling.schedule import make_trigger

    cfg = make_config(tmp_path, f"presets:\n  x: {{schedule: '{cron}', timezone: Asia/Kolkata}}\n")
    trigger = make_trigger(cfg.presets["x"])
    fire, out = None, []
    now = datetime(2025, 7, 2, tzinfo=ZoneInfo("Asia/Kolkata"))  # a Wednesday
    for _ in range(n):
        fire = trigger.get_next_fire_time(fire, now)
        out.append(fire.date())
        now = fire
    return out


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 8 * * 1", {0}),  # Monday
        ("0 8 * * 7", {6}),  # Sunday, as in crontab (APScheduler would reject 7)
        ("0 8 * * 0", {6}),  # Sunday too (APScheduler would read Monday)
        ("0 8 * * MON-FRI", {0, 1, 2, 3, 4}),
        ("0 8 * * 1-5", {0, 1, 2, 3, 4}),
        ("0 8 * * 5-7", {4, 5, 6}),
    ],
)
def test_schedule_weekdays_use_crontab_numbering(tmp_path, cron, weekdays):
    days = fire_days(tmp_path, cron, n=10)
    assert {d.weekday() for d in days} == weekdays


def test_schedule_with_day_and_weekday_fires_on_either_as_crontab_does(tmp_path):
    # 08:00 on the 1st of the month and on every Monday (APScheduler alone: Mondays that are
    # the 1st). From Wednesday 2 July 2025: Mondays 7, 14, 21, 28 July, then Friday 1 August.
    assert fire_days(tmp_path, "0 8 1 * 1", n=6) == [
        date(2025, 7, 7),
        date(2025, 7, 14),
        date(2025, 7, 21),
        date(2025, 7, 28),
        date(2025, 8, 1),
        date(2025, 8, 4),
    ]
    # A day field starting with '*' is unrestricted, so both must match (Vixie cron/cronie):
    # odd days of the month that are Mondays.
    assert fire_days(tmp_path, "0 8 */2 * 1", n=3) == [
        date(2025, 7, 7),
        date(2025, 7, 21),
        date(2025, 8, 11),
    ]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 25 * * *", "the last value (25) is higher than the maximum value (23)"),
        ("0 8 * * 8", "unknown weekday '8'; use 0-7 (0 and 7 are Sunday) or sun-sat"),
        ("0 8 * * 1/x", "bad step 'x' in weekday field '1/x'"),
        ("0 8 * *", "expected 5 fields (minute hour day month weekday), got 4"),
    ],
)
def test_invalid_schedules_name_file_line_and_key(tmp_path, cron, expected):
    message = error_for(tmp_path, f"presets:\n  y: {{}}\n  x:\n    schedule: '{cron}'\n")
    assert message.startswith(
        f"{tmp_path / 'config.yaml'}:4: presets.x.schedule: invalid cron expression {cron!r}: "
    )
    assert expected in message
    assert message.endswith("with crontab numbering (0 or 7 = Sunday)")


def test_readme_documents_every_option():
    """The README's configuration reference names every option the schema accepts."""
    from reportgen.config import PRESET_FIELDS, TOP_FIELDS
    from reportgen.config.options import Section

    readme = (ROOT / "README.md").read_text()
    missing = [f"`{k}`" for k in PRESET_FIELDS if f"| `{k}` |" not in readme]
    for key, opt in TOP_FIELDS.items():
        if f"| `{key}` |" not in readme:
            missing.append(key)
        if isinstance(opt, Section):
            missing += [f"{key}.{k}" for k in opt.fields if f"| `{key}.{k}` |" not in readme]
    assert not missing, f"README lacks: {missing}"


# -- YAML syntax and alias bombs --------------------------------------------------------------


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """Return the classic 'billion laughs': each level repeats the one before ``width`` times."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\npresets:\n  a: {}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("presets:\n\ta: {}\n", ":2: a tab in the indentation; YAML indents with spaces only"),
        (
            "presets:\n  a:\n    window: last_7_days\n   formats: [html]\n",
            ":4: this line is not indented like the keys around it",
        ),
        (
            "presets:\n  a:\n    window: last_7_days\n      formats: [html]\n",
            ":4: this line is not indented like the keys around it",
        ),
        ("presets:\n  a\n    window: last_7_days\n", ":2: a key without ':'; write a:"),
        (
            "presets:\n  a:\n    title: Sales: weekly\n",
            ':3: a colon inside an unquoted value; put the value in quotes: title: "Sales: weekly"',
        ),
        (
            "presets:\n  a:\n    formats: [html, pdf\n    window: last_7_days\n",
            ":3: the [ opened here is not closed; close it with ]",
        ),
        ("presets: {a: {}\n", ":1: the { opened here is not closed; close it with }"),
        (
            'presets:\n  a:\n    title: "Sales\n    window: last_7_days\n',
            ':3: the quote " opened here is never closed; end the value with "',
        ),
        (
            'presets:\n  a:\n    title: "Sales" weekly\n',
            ":3: text after a closing quote; put the whole value inside the quotes",
        ),
        (
            "presets:\n  a:\n    window: last_7_days\n    - pdf\n",
            ":4: a list item (-) among keys",
        ),
        ("presets:\n  a:\n    title: @home\n", ":3: a plain value cannot start with '@'"),
        (
            "presets:\n  a:\n    formats: html, pdf\n",
            ":3: presets.a.formats: 'html, pdf' is one text, not a list; write a list: [html, pdf]",
        ),
        (
            "presets:\n  a:\n    to: a@example.com, b@example.com\n",
            ":3: presets.a.to: 'a@example.com, b@example.com' is one text, not a list; "
            "write a list: [a@example.com, b@example.com]",
        ),
        ("presets:\n  a: *nothing\n", ":2: found undefined alias 'nothing'; define it with &name"),
        ("x: &x [*x]\npresets:\n  a: {}\n", ":1: the alias refers to the value that contains it"),
    ],
)
def test_yaml_mistakes_in_plain_words_at_their_line(tmp_path, body, expected):
    message = error_for(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'config.yaml'}{expected}"), message
    assert "\n" not in message


def test_a_few_aliases_still_work(tmp_path):
    cfg = make_config(
        tmp_path,
        "defaults: {to: &team [a@example.com, b@example.com]}\n"
        "presets:\n  a: {}\n  b: {to: [c@example.com], cc: *team}\n",
    )
    assert cfg.presets["a"].to == cfg.presets["b"].cc == ("a@example.com", "b@example.com")


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    # In a child with 1 GB of address space: expanding the bomb would need over 14 GB, so a
    # regression fails with MemoryError here instead of taking the machine down.
    path = tmp_path / "config.yaml"
    path.write_text(alias_bomb())
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from reportgen.cli import main\n"
        f"sys.exit(main(['--config', {str(path)!r}, 'validate']))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"reportgen: error: {path}:5: YAML aliases (*name) here repeat more than 10,000 values "
        "(an alias bomb?); write the values out, or use `defaults` for what presets share\n"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=":-[]{}\"'&*!#|>@`\t\n ,ab1", max_size=60))
def test_any_yaml_text_parses_or_gives_one_line_with_a_line_number(text):
    from reportgen.config.yamlsrc import loads_yaml

    try:
        loads_yaml(text)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message
        assert re.match(r"<config>(:\d+)?: \S", message), message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "presets:\n  a:\n    formats: [html, csv]\n    attach: [html, pdf]\n",
            "config.yaml:4: presets.a.attach[1]: preset a attaches pdf, but its formats "
            "(html, csv) make no pdf",
        ),
        (
            "defaults:\n  attach: [pdf]\npresets:\n  a:\n    formats: [html]\n",
            "config.yaml:2: defaults.attach[0]: preset a attaches pdf, but its formats (html)",
        ),
        ("presets:\n  ok: {}\n  index.html: {}\n", "config.yaml:3: presets.index.html: the name"),
        ("presets:\n  Manifest.JSON: {}\n", "config.yaml:2: presets.Manifest.JSON: the name"),
        (
            "presets:\n  adhoc-2025-07-01-2025-07-07: {}\n",
            "presets.adhoc-2025-07-01-2025-07-07: names like",
        ),
        (
            "presets:\n  team.weekly: {}\n  team:\n    groups:\n      - {name: weekly}\n",
            "config.yaml:5: presets.team.groups[0].name: its reports would go to "
            "output/team.weekly/, like those of presets.team.weekly",
        ),
        (
            "presets:\n  weekly: {}\n  Weekly: {}\n",
            "config.yaml:3: presets.Weekly: its reports would go to output/Weekly/",
        ),
        ("output:\n  dir: /\npresets:\n  a: {}\n", "config.yaml:2: output.dir: /: it is the root"),
        ("output:\n  dir: .\npresets:\n  a: {}\n", "output.dir: {root}: it is the project folder"),
        ("output:\n  dir: ..\npresets:\n  a: {}\n", ": it holds the project folder"),
        (
            "source:\n  path: reports\noutput:\n  dir: reports\npresets:\n  a: {}\n",
            "config.yaml:4: output.dir: {root}/reports: it is the data folder (source.path)",
        ),
        (
            "output:\n  dir: out\nschedule:\n  state_dir: out/.state\npresets:\n  a: {}\n",
            "output.dir: {root}/out: it holds schedule.state_dir",
        ),
        (
            "presets:\n  a:\n    schedule: '0 8 31 2 *'\n",
            "config.yaml:3: presets.a.schedule: cron expression '0 8 31 2 *' never fires",
        ),
        ("presets:\n  a:\n    schedule: '0 8 31 4,6,9,11 *'\n", "never fires"),
    ],
)
def test_what_would_fail_later_is_refused_now(tmp_path, body, expected):
    message = error_for(tmp_path, body)
    assert expected.format(root=tmp_path) in message, message
    assert message.startswith(str(tmp_path / "config.yaml"))


def test_attach_defaults_to_the_pdf_only_when_one_is_made(tmp_path):
    cfg = make_config(
        tmp_path,
        "presets:\n  a: {formats: [html, csv]}\n  b: {}\n  c: {schedule: '0 8 29 2 *'}\n",
    )
    assert [cfg.presets[n].attach for n in "abc"] == [(), ("pdf",), ("pdf",)]


def test_the_home_folder_is_not_an_output_folder(tmp_path):
    message = error_for(tmp_path, f"output:\n  dir: {Path.home()}\npresets:\n  a: {{}}\n")
    assert f"config.yaml:2: output.dir: {Path.home()}: it is the home folder" in message


@settings(max_examples=300, deadline=None)
@given(
    as_of=st.dates(min_value=date.min, max_value=date.max),
    spec=st.sampled_from(
        "yesterday last_7_days last_9999_days previous_week previous_month previous_quarter "
        "week_to_date month_to_date quarter_to_date year_to_date".split()
    ),
)
def test_any_as_of_gives_a_reportable_window_or_one_config_error(as_of, spec):
    from reportgen import windows

    preset = make_preset_for(spec)
    try:
        window = windows.check_as_of(as_of, preset, future=True)
    except ConfigError as exc:
        assert str(exc).startswith("--as-of ")
        return
    previous = window.previous()  # the comparison period never overflows
    assert windows.EARLIEST <= previous.start <= window.start <= window.end <= windows.LATEST
    assert window.end <= as_of


def make_preset_for(spec: str) -> config_mod.Preset:
    return config_mod.Preset(
        name="p",
        title="P",
        description="",
        window=spec,
        timezone="UTC",
        currency="INR",
        locale="en_IN",
        filters=config_mod.Filters(),
        formats=("html",),
    )
