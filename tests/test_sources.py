"""Loading: bad input stops with file/row/column, or is excluded and counted; peer data loads."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen import config
from reportgen.errors import DataError, SourceUnavailable
from reportgen.metrics import engine as metrics
from reportgen.sources import open_dataset, rules
from reportgen.sources.dialects import Dialect
from tests.conftest import PEER, ROOT, TINY_WEEK, issues, load, make_config


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_clean_tiny_has_only_expected_findings(tmp_path, tiny):
    ds = load(tmp_path, tiny)
    assert set(issues(ds)) == {"no_payout_terms"}  # C3 has no terms
    assert issues(ds)["no_payout_terms"].file == "payouts.csv"
    assert ds.rows == {"influencers": 4, "posts": 5, "tracking_data": 9, "payouts": 3}


def test_bad_date_names_file_row_and_column(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "2025-07-06 20:00:00", "2025-07-32 20:00:00")
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    msg = str(exc.value)
    assert "tracking_data.csv: row 3 (line 4), column 'date'" in msg
    assert "'2025-07-32 20:00:00'" in msg and "date/time" in msg


def test_bad_number_names_row(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "12:00:00,3,1200", "12:00:00,1.5,1200")
    with pytest.raises(DataError, match=r"row 4 \(line 5\), column 'orders': cannot read '1.5'"):
        load(tmp_path, tiny)


def test_revenue_beyond_exact_range_names_the_row(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "15:00:00,1,800", "15:00:00,1,123456789012345678")
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value).startswith(
        f"{tiny / 'tracking_data.csv'}: row 6 (line 7), column 'revenue': revenue "
        "123456789012345678 is out of range"
    )


def test_nan_revenue_in_parquet_names_the_row(tmp_path, tiny):
    data = tmp_path / "parquet"
    data.mkdir()
    con = duckdb.connect()
    for name in ("influencers", "posts", "payouts"):
        con.execute(
            f"COPY (SELECT * FROM read_csv('{tiny / name}.csv')) TO '{data / name}.parquet'"
        )
    con.execute(
        "COPY (SELECT * REPLACE (CASE WHEN tracking_id = 'T05' THEN 'NaN'::DOUBLE "
        f"ELSE revenue::DOUBLE END AS revenue) FROM read_csv('{tiny / 'tracking_data.csv'}')) "
        f"TO '{data / 'tracking_data.parquet'}'"
    )
    with pytest.raises(DataError) as exc:
        load(tmp_path, data)
    assert str(exc.value) == (
        f"{data / 'tracking_data.parquet'}: row 5, column 'revenue': revenue nan is not a "
        "number; fix the source data"
    )


def test_missing_column_says_how_to_map(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "product,date", "item,date")
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert "missing column 'product'" in str(exc.value)
    assert "source.columns.tracking_data.product" in str(exc.value)


def test_column_mapping_fixes_renamed_column(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "product,date", "item,date")
    ds = load(tmp_path, tiny, "  columns: {tracking_data: {product: item}}\n")
    assert ds.con.execute("select count(*) from tracking").fetchall()[0][0] == 9


def test_mapping_to_a_column_that_is_not_there_is_an_error(tmp_path, tiny):
    # total_payout is optional, but a mapping says the file should have it.
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny, "  columns: {payouts: {total_payout: paid_total}}\n")
    assert "payouts.csv: missing column 'paid_total' for payouts.total_payout" in str(exc.value)
    assert "source.columns.payouts.total_payout names 'paid_total'" in str(exc.value)


def test_missing_folder(tmp_path):
    with pytest.raises(SourceUnavailable, match="data folder not found"):
        load(tmp_path, tmp_path / "nope")


def test_negative_orders_excluded_and_counted(tmp_path, tiny):
    edit(
        tiny / "tracking_data.csv",
        "U6,Collagen,2025-07-05 15:00:00,1,800",
        "U6,Collagen,2025-07-05 15:00:00,-1,800",
    )
    found = issues(load(tmp_path, tiny))["negative_values"]
    assert (found.rows, found.revenue, found.examples) == (1, 800, ["row 6"])


def test_exact_repeat_of_a_row_counts_once(tmp_path, tiny):
    with (tiny / "tracking_data.csv").open("a") as fh:
        fh.write(
            "T01,influencer_marketing,MB_Summer,A1,U1,Whey Protein,2025-07-02 11:00:00,1,2000\n"
        )
    ds = load(tmp_path, tiny)
    dup = issues(ds)["duplicate_rows"]
    assert (dup.rows, dup.revenue, dup.examples) == (1, 2000, ["T01"])
    assert ds.con.execute("select sum(revenue) from tracking").fetchall()[0][0] == pytest.approx(
        8699
    )


def test_adjacent_exact_repeat_in_sorted_ids_is_found(tmp_path, tiny):
    # Sorted ids take the one-pass uniqueness proof; an equal neighbour must break it.
    row = "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 08:00:00,2,1500\n"
    edit(tiny / "tracking_data.csv", row, row + row)
    dup = issues(load(tmp_path, tiny))["duplicate_rows"]
    assert (dup.rows, dup.revenue, dup.examples) == (1, 1500, ["T02"])


def test_same_id_with_other_content_is_a_conflict_naming_the_rows(tmp_path, tiny):
    edit(
        tiny / "tracking_data.csv",
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 08:00:00,2,1500\n",
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 08:00:00,2,1500\n"
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 09:00:00,1,700\n",
    )
    with pytest.raises(DataError) as exc:
        load(tmp_path, tiny)
    assert str(exc.value) == (
        f"{tiny / 'tracking_data.csv'}: column 'tracking_id': id 'T02' is on rows that differ "
        "(row 2 (line 3), row 3 (line 4)); an id must name one sale (an exact repeat counts "
        "once): map source.columns.tracking_data.tracking_id to a column that is unique per "
        "row, or set it to null to count every row as its own sale"
    )


def test_mapping_the_id_to_null_counts_every_row(tmp_path, tiny):
    # The conflict above, read as the error says: no id, so both rows are sales.
    edit(
        tiny / "tracking_data.csv",
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 08:00:00,2,1500\n",
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 08:00:00,2,1500\n"
        "T02,influencer_marketing,MB_Summer,A1,U2,BCAA,2025-07-03 09:00:00,1,700\n",
    )
    ds = load(tmp_path, tiny, "  columns: {tracking_data: {tracking_id: null}}\n")
    assert not {"duplicate_rows", "missing_ids"} & set(issues(ds))
    total = ds.con.execute("select sum(revenue), sum(n) from tracking_facts").fetchall()[0]
    assert (float(total[0]), total[1]) == (8699 + 700, 10)


def test_tables_without_id_columns_count_every_row(tmp_path, tiny):
    for name in ("tracking_data", "posts"):
        path = tiny / f"{name}.csv"
        lines = path.read_text().splitlines(keepends=True)
        # Drop the first column (the id) and repeat one row exactly: two genuine sales.
        rows = [line.split(",", 1)[1] for line in lines]
        path.write_text("".join([*rows, rows[1]]))
    ds = load(tmp_path, tiny)
    assert not {"duplicate_rows", "missing_ids"} & set(issues(ds))
    assert ds.rows["tracking_data"] == 10 and ds.rows["posts"] == 6
    total = ds.con.execute("select sum(revenue), sum(n) from tracking_facts").fetchall()[0]
    assert (float(total[0]), total[1]) == (8699 + 2000, 10)


def test_row_without_its_id_is_kept_and_counted(tmp_path, tiny):
    edit(tiny / "tracking_data.csv", "T04,influencer_marketing", ",influencer_marketing")
    ds = load(tmp_path, tiny)
    found = issues(ds)["missing_ids"]
    assert (found.rows, found.revenue, found.examples) == (1, 1200, ["row 4"])
    assert not {"duplicate_rows", "missing_values"} & set(issues(ds))
    assert ds.rows["tracking_data"] == 9
    total = ds.con.execute("select sum(revenue), sum(n) from tracking_facts").fetchall()[0]
    assert (float(total[0]), total[1]) == (8699, 9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"])), max_size=12))
def test_duplicate_id_count_matches_python(ids):
    from reportgen.sources import Dataset

    ds = Dataset(con=duckdb.connect())
    queries = []

    class Recording(Dialect):
        def fetch(self, ds, expr):
            queries.append(expr)
            return super().fetch(ds, expr)

    dialect = Recording("duckdb", "t", local=True, backend=Dialect.local_duckdb(ds, "t").backend)

    def count(values):
        ds.con.execute("CREATE OR REPLACE TABLE t (id VARCHAR)")
        if values:
            ds.con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
        return rules.duplicate_ids(ds, dialect.table("t"), "id", dialect)

    present = [i for i in ids if i is not None]
    assert count(ids) == (len(ids), len(present), len(present) - len(set(present)))
    unique = sorted(set(present))  # the fast path: strictly increasing, so unique
    assert count(unique) == (len(unique), len(unique), 0)
    queries.clear()
    count(unique)
    assert len(queries) == 1, "sorted unique ids must not need the count(DISTINCT) pass"


@pytest.mark.parametrize("table", ["tracking_data", "posts"])
def test_damaged_parquet_is_a_data_error_naming_the_file(tmp_path, tiny, table):
    data = tmp_path / "parquet"
    data.mkdir()
    con = duckdb.connect()
    for name in ("influencers", "posts", "tracking_data", "payouts"):
        con.execute(
            f"COPY (SELECT * FROM read_csv('{tiny / name}.csv')) TO '{data / name}.parquet'"
        )
    # Keep the footer (so the schema reads) and scramble every data page before it.
    path = data / f"{table}.parquet"
    raw = bytearray(path.read_bytes())
    footer = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    raw[4:footer] = bytes((i * 7 + 3) & 0xFF for i in range(footer - 4))
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as exc:
        load(tmp_path, data)
    assert str(exc.value).startswith(f"{path}: cannot read {table}: ")
    assert "export it again" in str(exc.value)


def test_duplicate_influencer_is_an_error(tmp_path, tiny):
    with (tiny / "influencers.csv").open("a") as fh:
        fh.write("A1,Someone Else,Beauty,Female,10,Instagram\n")
    with pytest.raises(DataError, match="influencers.csv: column 'influencer_id': 1 duplicate"):
        load(tmp_path, tiny)


def test_unknown_product_and_influencer(tmp_path, tiny):
    with (tiny / "tracking_data.csv").open("a") as fh:
        fh.write("T10,x,y,A1,U10,Moon Dust,2025-07-02 11:00:00,1,111\n")
        fh.write("T11,x,y,ZZ9,U11,BCAA,2025-07-02 11:00:00,1,222\n")
    ds = load(tmp_path, tiny)
    found = issues(ds)
    assert (found["unknown_product"].rows, found["unknown_product"].revenue) == (1, 111)
    assert found["unknown_product"].examples == ["Moon Dust"]
    assert (found["unknown_influencer"].rows, found["unknown_influencer"].revenue) == (1, 222)
    assert found["unknown_product"].file == found["unknown_influencer"].file == "tracking_data.csv"
    # The unknown product still counts for all-brand reports, under "(unmapped)".
    cfg = make_config(tmp_path, TINY_WEEK, data=tiny)
    p = cfg.presets["all"]
    r = metrics.compute(metrics.Engine(ds), p, p.window_for(date(2025, 7, 7)), date(2025, 7, 7))
    assert r.kpis["revenue"].value == pytest.approx(6811)
    assert "(unmapped)" in set(r.by_brand["brand"])


def test_tracking_is_summed_per_brand_and_unknown_products_keep_their_name(tmp_path, tiny):
    # A1 on 2 July: T01 sold Whey Protein (MuscleBlaze); add BCAA (MuscleBlaze too) and two
    # products the catalogue does not know.
    with (tiny / "tracking_data.csv").open("a") as fh:
        fh.write("T10,x,y,A1,U10,BCAA,2025-07-02 12:00:00,2,300\n")
        fh.write("T11,x,y,A1,U11,Moon Dust,2025-07-02 13:00:00,1,111\n")
        fh.write("T12,x,y,A1,U12,Star Salt,2025-07-02 14:00:00,1,7\n")
    ds = load(tmp_path, tiny)
    rows = ds.con.execute(
        "SELECT brand, product, orders, CAST(revenue AS DOUBLE), n FROM tracking_agg "
        "WHERE influencer_id = 'A1' AND bucket = DATE '2025-07-02' ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("MuscleBlaze", None, 3, 2300.0, 2),
        (None, "Moon Dust", 1, 111.0, 1),
        (None, "Star Salt", 1, 7.0, 1),
    ]
    found = issues(ds)["unknown_product"]
    assert (found.rows, found.revenue, found.examples) == (2, 118, ["Moon Dust", "Star Salt"])
    total = ds.con.execute("select sum(revenue), sum(n) from tracking_facts").fetchall()[0]
    assert (float(total[0]), total[1]) == (8699 + 300 + 111 + 7, 12)


def test_payout_mismatch_is_reported(tmp_path, tiny):
    edit(tiny / "payouts.csv", "B2,per_order,100,5,500", "B2,per_order,100,5,9999")
    found = issues(load(tmp_path, tiny))["payout_mismatch"]
    assert found.rows == 1 and "B2" in found.examples[0]


def test_unknown_basis_is_an_error_with_a_fix(tmp_path, tiny):
    edit(tiny / "payouts.csv", "B2,per_order", "B2,per_click")
    with pytest.raises(DataError, match="basis 'per_click'.*source.values") as exc:
        load(tmp_path, tiny)
    assert str(exc.value).startswith(
        f"{tiny / 'payouts.csv'}: row 2 (line 3), column 'basis': influencer 'B2' has basis"
    )


def test_naive_timestamps_are_local_days(tmp_path, tiny):
    """23:30 on the last day stays in the window whatever the preset's timezone."""
    cfg = make_config(
        tmp_path,
        "presets:\n  ny: {timezone: America/New_York, window: {start: 2025-07-07, end: 2025-07-07}}\n",
        data=tiny,
    )
    p = cfg.presets["ny"]
    r = metrics.compute(
        metrics.Engine(open_dataset(cfg)), p, p.window_for(date(2025, 7, 7)), date(2025, 7, 7)
    )
    assert r.kpis["revenue"].value == pytest.approx(400)


def test_zoned_timestamps_convert_to_report_timezone(tmp_path, tiny):
    # In Kolkata (UTC+5:30) 07-07 holds T03 (07-06 20:00 UTC = 07-07 01:30); T05 (07-07 20:00
    # UTC) falls on 07-08. In New York (UTC-4) it holds T05 (16:00) and T09 (07-08 00:00 UTC).
    path = tiny / "tracking_data.csv"
    path.write_text(re.sub(r"(2025-\d\d-\d\d \d\d:\d\d:\d\d)", r"\1+00:00", path.read_text()))
    edit(tiny / "tracking_data.csv", "2025-07-07 23:30:00+00:00", "2025-07-07 20:00:00+00:00")
    cfg = make_config(
        tmp_path,
        "presets:\n  ist: {window: {start: 2025-07-07, end: 2025-07-07}}\n"
        "  ny: {timezone: America/New_York, window: {start: 2025-07-07, end: 2025-07-07}}\n",
        data=tiny,
    )
    engine = metrics.Engine(open_dataset(cfg))
    d = date(2025, 7, 7)
    ist, ny = cfg.presets["ist"], cfg.presets["ny"]
    assert metrics.compute(engine, ist, ist.window_for(d), d).kpis["revenue"].value == 500
    assert metrics.compute(engine, ny, ny.window_for(d), d).kpis["revenue"].value == 1399


@pytest.mark.skipif(not PEER.exists(), reason="shared/peer-data not present")
def test_peer_seed_layout_loads_as_is(tmp_path):
    ds = load(tmp_path, PEER / "seed-layout-pranavadache")
    assert ds.rows["tracking_data"] == 24667
    found = issues(ds)
    # One payouts row for fifty influencers: the other 49 carry 41.6M of revenue without terms.
    assert found["no_payout_terms"].rows == 49
    assert found["no_payout_terms"].revenue == pytest.approx(41575941.99, abs=0.01)
    assert "rate x revenue" in found["payout_mismatch"].examples[0]


@pytest.mark.skipif(not PEER.exists(), reason="shared/peer-data not present")
def test_peer_variant_loads_with_mapping(tmp_path):
    extra = (
        "  columns: {payouts: {total_orders_by_influencer: orders}}\n"
        "catalogue:\n  extra_products: {Teen Nutrition: Gritzo, Kids Protein: Gritzo, "
        "Growth Formula: Gritzo, Immunity Booster: HKVitals, DHA Supplement: HKVitals, "
        "Pre-Workout: MuscleBlaze, Omega-3: HKVitals, Vitamin D: HKVitals}\n"
    )
    ds = load(tmp_path, PEER / "variant-gitraun", extra)
    assert ds.rows["payouts"] == 30
    assert "unknown_product" not in issues(ds)
    basis = dict(ds.con.execute("select basis, count(*) from payouts group by 1").fetchall())
    assert set(basis) == {"per_post", "per_order"}  # 'post'/'order' spellings mapped


@pytest.mark.skipif(not PEER.exists(), reason="shared/peer-data not present")
def test_readme_mapping_example_loads_the_folder_it_names(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("**Other layouts**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "path: ../shared/peer-data/variant-gitraun" in block
    text = block.replace("../shared/peer-data", str(PEER)) + TINY_WEEK
    (tmp_path / "config.yaml").write_text(text)
    ds = open_dataset(config.load(tmp_path / "config.yaml"))
    assert ds.rows["payouts"] == 30
    assert "unknown_product" not in issues(ds)
