"""Source rules of #7: number formats, delimiters, empty tables, file choice, money ranges,
payees and branded posts; each against numbers computed by hand on tests/data/tiny."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.errors import ConfigError, DataError
from reportgen.metrics import engine as metrics
from reportgen.sources import open_dataset
from reportgen.sources.numbers import NumberFormat, parse_sql
from tests.conftest import TINY_WEEK, issues, load, make_config

TOTAL = 8699  # revenue of every tiny tracking row


def revenue(ds):
    return float(ds.con.execute("select sum(revenue) from tracking_facts").fetchall()[0][0])


def semicolons(path, **revenues):
    """Rewrite a tiny CSV with ';' between fields and the given revenue text per tracking id."""
    lines = path.read_text().splitlines()
    out = [lines[0].replace(",", ";")]
    for line in lines[1:]:
        fields = line.split(",")
        if fields[0] in revenues:
            fields[-1] = revenues[fields[0]]
        out.append(";".join(fields))
    path.write_text("\n".join(out) + "\n")


# --- numbers --------------------------------------------------------------------------------


def test_decimal_comma_in_semicolon_file_is_an_error_naming_row_and_fix(tmp_path, tiny):
    semicolons(tiny / "tracking_data.csv", T01="2000,50")
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value) == (
        f"{tiny / 'tracking_data.csv'}: row 1 (line 2), column 'revenue': cannot read "
        "'2000,50' as a number with '.' as the decimal mark; if this file writes decimals "
        "with ',', set source.decimal: ','"
    )


def test_declared_decimal_comma_reads_hand_computed_sum(tmp_path, tiny):
    # 2000 -> 2000,50; 1500 -> 1.500,25 (thousands '.'); 500 -> 499,5
    semicolons(tiny / "tracking_data.csv", T01="2000,50", T02="1.500,25", T03="499,5")
    ds = load(tmp_path, tiny, "  decimal: ','\n  thousands: '.'\n")
    assert revenue(ds) == pytest.approx(TOTAL + 0.50 + 0.25 - 0.5)


def test_quoted_decimal_comma_in_comma_file(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().replace(",2000\n", ',"2000,50"\n'))
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column 'revenue'.*source.decimal"):
        load(tmp_path, tiny)
    ds = load(tmp_path, tiny, "  decimal: ','\n")
    assert revenue(ds) == pytest.approx(TOTAL + 0.5)


def test_lone_thousands_group_is_ambiguous_until_declared(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().replace(",1500\n", ',"1,500"\n'))
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value) == (
        f"{path}: row 2 (line 3), column 'revenue': '1,500' is ambiguous: 1500 if ',' "
        "separates thousands, 1.500 if it is the decimal mark; declare the file's format with "
        "source.thousands: ',' or source.decimal: ','"
    )
    assert revenue(load(tmp_path, tiny, "  thousands: ','\n")) == pytest.approx(TOTAL)
    assert revenue(load(tmp_path, tiny, "  decimal: ','\n")) == pytest.approx(TOTAL - 1498.5)


def test_unambiguous_groupings_read_without_a_declaration(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    text = path.read_text().replace(",2000\n", ',"2,000.00"\n')  # point after the group
    path.write_text(text.replace(",1200\n", ',"0,01,200"\n'))  # Indian grouping, two groups
    assert revenue(load(tmp_path, tiny)) == pytest.approx(TOTAL)


def test_same_marks_for_decimal_and_thousands_is_a_config_error(tmp_path, tiny):
    with pytest.raises(ConfigError, match="source.thousands: ',' is also source.decimal"):
        load(tmp_path, tiny, "  decimal: ','\n  thousands: ','\n")


_con = duckdb.connect()


def _read(text: str, fmt: NumberFormat) -> float | None:
    return _con.execute(f"SELECT {parse_sql('v', fmt)} FROM (SELECT ? AS v)", [text]).fetchone()[0]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.,-", min_size=1, max_size=10))
def test_no_text_reads_as_two_numbers_without_a_declaration(text):
    """Whatever the text, the two decimal marks never read it as two different numbers."""
    point, comma = _read(text, NumberFormat(".")), _read(text, NumberFormat(","))
    if point is not None and comma is not None:
        assert point == comma


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([(".", ","), (",", "."), (",", " "), (".", "'"), (".", ""), (",", "")]),
)
def test_declared_format_reads_back_what_it_wrote(cents, marks):
    decimal, thousands = marks
    whole, frac = divmod(abs(cents), 100)
    grouped = f"{whole:,}".replace(",", thousands)
    text = f"{'-' if cents < 0 else ''}{grouped}{decimal}{frac:02d}"
    assert _read(text, NumberFormat(decimal, thousands)) == pytest.approx(cents / 100)


# --- delimiter, empty tables, file choice ---------------------------------------------------


def test_semicolon_file_with_decimal_commas_keeps_its_columns(tmp_path, tiny):
    # Every data row holds more commas than the header: the header decides the delimiter.
    path = tiny / "tracking_data.csv"
    semicolons(path, **{f"T0{i}": "1,5" for i in range(1, 10)})
    path.write_text(path.read_text().replace("influencer_marketing", "a,b,c,d,e,f,g,h,i,j"))
    ds = load(tmp_path, tiny, "  decimal: ','\n")
    assert revenue(ds) == pytest.approx(1.5 * 9)
    assert ds.rows["tracking_data"] == 9


def test_header_only_tracking_file_is_an_error(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value).startswith(f"{path}: tracking_data has no rows (only a header)")
    assert "source.allow_empty" in str(exc.value)


def test_empty_file_is_an_error(tmp_path, tiny):
    (tiny / "posts.csv").write_text("")
    with pytest.raises(DataError, match=r"posts.csv: the file is empty \(not even a header"):
        load(tmp_path, tiny)


def test_allowed_empty_table_is_a_finding(tmp_path, tiny):
    path = tiny / "posts.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    ds = load(tmp_path, tiny, "  allow_empty: [posts]\n")
    found = issues(ds)["empty_table"]
    assert (found.table, found.file, found.rows) == ("posts", "posts.csv", 0)
    assert revenue(ds) == pytest.approx(TOTAL)  # tracking untouched


def test_csv_and_parquet_of_one_table_is_refused(tmp_path, tiny):
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{tiny / 'payouts.csv'}')) TO '{tiny / 'payouts.parquet'}'"
    )
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value) == (
        f"{tiny}: both payouts.parquet and payouts.csv hold table 'payouts'; remove one, or "
        "choose with source.format (csv or parquet) or source.files.payouts: payouts.csv"
    )
    assert load(tmp_path, tiny, "  format: csv\n").rows["payouts"] == 3
    ds = load(tmp_path, tiny, "  files: {payouts: payouts.parquet}\n")
    assert ds.provenance["files"]["payouts"]["file"] == "payouts.parquet"


# --- money range, payees --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        ("B2,per_order,100,5,500", "B2,per_order,1e20,5,500", "rate"),
        ("B2,per_order,100,5,500", "B2,per_order,100,5,100000000000000", "total_payout"),
    ],
)
def test_every_money_column_has_the_revenue_range_rule(tmp_path, tiny, old, new, column):
    path = tiny / "payouts.csv"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value).startswith(
        f"{path}: row 2 (line 3), column '{column}': {column} {new.split(',')[2 if column == 'rate' else 4]} "
        "is out of range (a money value must be less than 100,000,000,000,000)"
    )


def test_whole_number_beyond_bigint_is_an_error_not_a_crash(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().replace("12:00:00,3,1200", "12:00:00,1e20,1200"))
    with pytest.raises(DataError, match=r"row 4 \(line 5\), column 'orders': cannot read '1e20'"):
        load(tmp_path, tiny)


def test_payouts_of_an_unknown_influencer_are_a_finding(tmp_path, tiny):
    with (tiny / "payouts.csv").open("a") as fh:
        fh.write("Z9,per_post,700,1,700\n")
    found = [i for i in load(tmp_path, tiny).issues if i.table == "payouts"]
    unknown = next(i for i in found if i.code == "unknown_influencer")
    assert (unknown.rows, unknown.examples, unknown.file) == (1, ["Z9"], "payouts.csv")


# --- posts that carry a brand ---------------------------------------------------------------

BRANDS = """
presets:
  all: {window: {start: 2025-07-01, end: 2025-07-07}}
  mb: {window: {start: 2025-07-01, end: 2025-07-07}, brands: [MuscleBlaze]}
  hkv: {window: {start: 2025-07-01, end: 2025-07-07}, brands: [HKVitals]}
  gritzo: {window: {start: 2025-07-01, end: 2025-07-07}, brands: [Gritzo]}
"""


def a1_payouts(tmp_path, data, extra=""):
    cfg = make_config(tmp_path, extra + BRANDS, data=data)
    engine = metrics.Engine(open_dataset(cfg))
    day = date(2025, 7, 7)
    out = {}
    for name, p in cfg.presets.items():
        r = metrics.compute(engine, p, p.window_for(day), day)
        pay = r.influencers.set_index("influencer_id")["payout"]
        out[name] = float(pay.get("A1", 0.0))  # a report lists no one paid and selling nothing
    return out, r.assumptions


def test_post_brand_takes_its_whole_fee(tmp_path, tiny):
    # A1: per_post 1000; P1 and P2 in the window; sales 3500 MuscleBlaze + 500 HKVitals.
    # Without brands: MB 2 x 1000 x 3500/4000 = 1750, HKV 2 x 1000 x 500/4000 = 250.
    assert a1_payouts(tmp_path, tiny)[0] == {"all": 2000, "mb": 1750, "hkv": 250, "gritzo": 0}
    # P1 sponsored by HKVitals: its 1000 goes to HKV; P2 (no brand) splits 875 / 125.
    path = tiny / "posts.csv"
    lines = path.read_text().splitlines()
    lines[0] += ",sponsor"
    lines[1:] = [line + (",HKVitals" if line.startswith("P1,") else ",") for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    pay, notes = a1_payouts(tmp_path, tiny, "  columns: {posts: {brand: sponsor}}\n")
    assert pay == {"all": 2000, "mb": 875, "hkv": 1125, "gritzo": 0}
    assert any("names its brand" in n for n in notes)


def test_post_brand_nobody_sells_is_a_finding(tmp_path, tiny):
    path = tiny / "posts.csv"
    lines = path.read_text().splitlines()
    lines[0] += ",brand"
    lines[1:] = [line + (",Muscleblaze" if line.startswith("P3,") else ",") for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    found = {i.code: i for i in load(tmp_path, tiny).issues if i.table == "posts"}
    assert (found["unknown_brand"].rows, found["unknown_brand"].examples) == (1, ["Muscleblaze"])
    ds = load(tmp_path, tiny, "  values: {posts.brand: {Muscleblaze: MuscleBlaze}}\n")
    assert "unknown_brand" not in {i.code for i in ds.issues}


def test_influencer_without_its_id_is_a_missing_value(tmp_path, tiny):
    path = tiny / "influencers.csv"
    path.write_text(path.read_text().replace("D4,Dev Nair", ",Dev Nair"))
    ds = load(tmp_path, tiny)
    found = [i for i in ds.issues if i.table == "influencers"]
    assert [(i.code, i.rows, i.examples) for i in found] == [("missing_values", 1, ["row 4"])]


def test_allowed_empty_tracking_computes_a_report_of_nothing_and_says_so(tmp_path, tiny):
    path = tiny / "tracking_data.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    cfg = make_config(tmp_path, "  allow_empty: [tracking_data]\n" + TINY_WEEK, data=tiny)
    ds = open_dataset(cfg)
    p, day = cfg.presets["all"], date(2025, 7, 7)
    r = metrics.compute(metrics.Engine(ds), p, p.window_for(day), day)
    assert r.kpis["revenue"].value == 0
    assert "empty_table" in {i.code for i in r.data_quality}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.sampled_from("abc")), st.sampled_from([1.0, 2.5])),
        max_size=8,
    )
)
def test_repeats_count_once_and_conflicts_stop(rows):
    """No genuine sale is dropped: one id on two contents stops; exact repeats count once."""
    from reportgen.sources import Dataset, rules
    from reportgen.sources.dialects import Dialect

    ds = Dataset(con=duckdb.connect())
    con = ds.con
    con.execute("CREATE TABLE t (tracking_id VARCHAR, revenue DOUBLE)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?)", rows)
    contents = {i: {r for j, r in rows if j == i} for i, _ in rows if i is not None}
    dialect = Dialect.local_duckdb(ds, "here")
    t = dialect.table("t")
    origin = rules.Origin("tracking_data.csv", "tracking_data.csv", {"tracking_id": "id"})
    if any(len(c) > 1 for c in contents.values()):
        with pytest.raises(DataError, match="is on rows that differ"):
            rules.check_conflicts(ds, t, "tracking_data", "tracking_id", origin, dialect)
        return
    rules.check_conflicts(ds, t, "tracking_data", "tracking_id", origin, dialect)
    _, _, n_dup = rules.duplicate_ids(ds, t, "tracking_id", dialect)
    assert n_dup == sum(1 for i, _ in rows if i is not None) - len(contents)
    if not n_dup:
        return
    kept_rows = rules.drop_repeats(ds, t, t, "tracking_data", "tracking_id", n_dup, origin, dialect)
    kept = dialect.fetch_row(ds, kept_rows.aggregate(r=kept_rows.revenue.sum()))["r"] or 0
    expected = sum(r for i, r in rows if i is None) + sum(c.pop() for c in contents.values())
    assert kept == pytest.approx(expected)
    assert ds.issues[0].rows == n_dup


def test_a_finding_is_recorded_only_when_it_touches_rows():
    from reportgen.model import Issue
    from reportgen.sources import Dataset, record_finding

    ds = Dataset(duckdb.connect())
    kw = {"table": "posts", "file": "posts.csv"}
    record_finding(ds, "unknown_brand", "0 post(s) ...", rows=0, examples=("X",), **kw)
    assert ds.issues == []
    record_finding(ds, "unknown_brand", "2 post(s) ...", rows=2, examples=("X", "Y"), **kw)
    assert ds.issues == [
        Issue("unknown_brand", "warning", "2 post(s) ...", "posts", "posts.csv", 2, 0.0, ["X", "Y"])
    ]
