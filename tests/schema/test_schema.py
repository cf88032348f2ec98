import json
from pathlib import Path

import polars as pl
from csvdock.schema.detect import detect_schema
from csvdock.schema.table import Column, TableSchema


def detect(tmp_path: Path, values: dict[str, list[str | None]], share: float = 0.001):
    path = tmp_path / "records.parquet"
    pl.DataFrame(values, schema={k: pl.String for k in values}).write_parquet(path)
    names = list(values)
    schema = detect_schema(path, "t", names, names, ("", "NA", "N/A", "NULL", "null", "\\N"), share)
    return {c.name: c.type for c in schema.columns}


def test_types_are_detected_from_every_value(tmp_path):
    types = detect(
        tmp_path,
        {
            "i": ["1", "-2", "NA"],
            "big": ["1", "99999999999", None],
            "money": ["12.50", "3.1", "0.99"],
            "f": ["1e3", "2.5", "-1"],
            "b": ["true", "False", "N/A"],
            "d": ["2024-01-31", "2024-02-29", ""],
            "ts": ["2024-01-31 10:00:00", "2024-02-29T11:12", "2024-03-01"],
            "s": ["x", "NA", "1"],
        },
    )
    assert types == {
        "i": "integer",
        "big": "bigint",
        "money": "decimal(38,2)",
        "f": "double",
        "b": "boolean",
        "d": "date",
        "ts": "timestamp",
        "s": "text",
    }


def test_leading_zero_codes_stay_text(tmp_path):
    assert detect(tmp_path, {"zip": ["00501", "12345", "007"]}) == {"zip": "text"}


def test_a_late_float_widens_the_column(tmp_path):
    values = [str(i) for i in range(200_000)] + ["1.5"]
    assert detect(tmp_path, {"n": values}) == {"n": "decimal(38,1)"}


def test_a_rare_outlier_keeps_the_type(tmp_path):
    values = [str(i % 90) for i in range(100_000)]
    values[77_777] = "forty"
    assert detect(tmp_path, {"age": values}) == {"age": "integer"}


def test_too_many_outliers_make_the_column_text(tmp_path):
    assert detect(tmp_path, {"age": ["1", "2", "forty"]}) == {"age": "text"}


def test_the_integer_cast_accepts_exactly_the_integer_pattern():
    import polars as pl
    from csvdock.schema import types as t

    values = [
        "1",
        "+5",
        "-0",
        "007",
        "1_000",
        "١٢",
        "1.0",
        "1e3",
        "",
        "+",
        "0x10",
        "−5",
        "１２",
        "9223372036854775807",
        "9223372036854775808",
        "2147483648",
    ]
    frame = pl.DataFrame({"v": values})
    for logical in (t.INTEGER, t.BIGINT):
        cast = frame.select(t.typed_expr("v", logical)).to_series()
        guarded = frame.select(
            pl.when(pl.col("v").str.contains(t.INTEGER_PATTERN)).then(t.typed_expr("v", logical))
        ).to_series()
        assert cast.to_list() == guarded.to_list()
        assert cast.is_not_null().sum() == (6 if logical == t.BIGINT else 4)


def test_concurrent_writers_of_different_schemas_record_contiguous_complete_versions(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from csvdock.schema.registry import SchemaRegistry
    from csvdock.schema.table import Column, TableSchema

    registry = SchemaRegistry(tmp_path / "schemas")
    kinds = ["integer", "bigint", "decimal(38,2)", "double", "text"]
    detected = [TableSchema("t", [Column("a", "a", kind)]) for kind in kinds * 6]
    with ThreadPoolExecutor(8) as pool:
        versions = list(
            pool.map(lambda d: registry.resolve_and_record(d, "evolve").schema.version, detected)
        )
    found = registry.versions("t")
    assert found == list(range(1, len(found) + 1))  # no gaps, no clash lost
    assert set(versions) <= set(found)
    assert registry.latest("t").columns[0].type == "text"  # the widest of them all
    widening = [registry.read("t", v).columns[0].type for v in found]
    order = {kind: rank for rank, kind in enumerate(kinds)}
    assert widening == sorted(widening, key=order.__getitem__)  # never narrower than before


def test_a_proposal_from_the_first_rows_is_checked_against_every_row(tmp_path):
    # The first look (10,000 rows) proposes integer and date; later rows decide otherwise.
    head, tail = 15_000, 5_000
    types = detect(
        tmp_path,
        {
            "widens": ["7"] * head + ["1.5"] * tail,
            "one_outlier": ["7"] * head + ["8"] * (tail - 1) + ["oops"],
            "zeros_late": ["7"] * head + ["007"] * tail,
            "later_times": ["2024-01-31"] * head + ["2024-01-31 10:00"] * tail,
            "too_big_late": ["7"] * head + ["99999999999"] * tail,
        },
    )
    assert types == {
        "widens": "decimal(38,1)",
        "one_outlier": "integer",  # one misfit in 20,000 is within the 0.1% outlier share
        "zeros_late": "text",
        "later_times": "timestamp",
        "too_big_late": "bigint",
    }


def test_a_schema_file_holds_one_column_a_line_and_reads_back_the_same(tmp_path):
    columns = [
        Column("id", "id", "bigint", False, {"samples": ["1", "2"], "min": "1"}),
        Column('na"me\n', "name", "text", True, {"examples": ["é", "\t"]}, None),
        Column("when", "when", "date", True, {}, "day-first"),
    ]
    schema = TableSchema("t", columns, 3, 2, "evolved", ["id"], [{"added": ["when"]}])
    text = schema.to_json()
    path = tmp_path / "v3.json"
    path.write_text(text, encoding="utf-8")

    assert TableSchema.read(path) == schema
    lines = text.splitlines()
    start = lines.index('  "columns": [')
    assert [json.loads(line.strip().rstrip(",")) for line in lines[start + 1 : start + 4]] == [
        {f: getattr(c, f) for f in ("name", "source", "type", "nullable", "evidence", "format")}
        for c in columns
    ]
    assert lines[start + 4] == "  ],"
    assert TableSchema("t", []).to_json().count("[]") == 3  # (no columns, key, changes)
