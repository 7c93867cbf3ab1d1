"""Drift: our per-column path agrees with Evidently's own DataDriftPreset, column by column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from governance.domain.errors import InvalidInput
from governance.domain.monitoring import ColumnDrift

# Evidently itself is imported inside the tests that need it, after governance.ml.drift has
# loaded it with its import-time deprecation warnings silenced (the tests run warnings-as-errors).
from governance.ml.drift import (
    column_drift,
    dataset_drift,
    drift_report_html,
    evidently_verdicts,
)
from governance.ml.profile import column_kind, profile_reference

KS = "K-S p_value"
WASSERSTEIN = "Wasserstein distance (normed)"
JS = "Jensen-Shannon distance"
CHI = "chi-square p_value"
Z = "Z-test p_value"


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def parity(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, ColumnDrift]:
    """Our verdicts, after asserting Evidently's Report gives the same for every column."""
    ours = dataset_drift(reference, current, profile_reference(reference), max_share=0.5)
    theirs = {v.column: v for v in evidently_verdicts(reference, current)}
    assert [c.column for c in ours.columns] == list(reference.columns)
    assert set(theirs) == set(reference.columns)
    for mine in ours.columns:
        other = theirs[mine.column]
        assert (mine.kind, mine.reference_kind, mine.method, mine.threshold, mine.drifted) == (
            other.kind,
            other.reference_kind,
            other.method,
            other.threshold,
            other.drifted,
        ), (mine, other)
        assert abs(mine.score - other.score) <= 1e-9, (mine, other)
    return {c.column: c for c in ours.columns}


def test_numeric_columns_with_a_small_reference_use_ks():
    r = rng(1)
    reference = pd.DataFrame({"shifted": r.normal(0, 1, 600), "same": r.normal(0, 1, 600)})
    current = pd.DataFrame({"shifted": r.normal(0.6, 1, 500), "same": r.normal(0, 1, 500)})
    got = parity(reference, current)
    assert {c.method for c in got.values()} == {KS}
    assert got["shifted"].threshold == 0.05
    assert got["shifted"].drifted and got["shifted"].score < 1e-6
    assert not got["same"].drifted


def test_numeric_columns_with_a_large_reference_use_normed_wasserstein():
    r = rng(2)
    reference = pd.DataFrame({"shifted": r.normal(0, 1, 3000), "same": r.normal(0, 1, 3000)})
    current = pd.DataFrame({"shifted": r.normal(0.5, 1, 2000), "same": r.normal(0, 1, 2000)})
    got = parity(reference, current)
    assert {c.method for c in got.values()} == {WASSERSTEIN}
    assert got["shifted"].threshold == 0.1
    assert got["shifted"].drifted and got["shifted"].score > 0.4
    assert not got["same"].drifted and got["same"].score < 0.1


@pytest.mark.parametrize(("rows", "many", "binary"), [(800, CHI, Z), (2500, JS, JS)])
def test_numeric_columns_with_few_values(rows, many, binary):
    r = rng(3)
    levels = np.array([0.0, 1.0, 2.0])
    reference = pd.DataFrame(
        {
            "levels": r.choice(levels, rows),
            "flag": r.choice([0.0, 1.0], rows),
            # Five values in the reference, a sixth only in current: the union decides (K-S/W).
            "five_plus_one": r.choice([0.0, 1.0, 2.0, 3.0, 4.0], rows),
        }
    )
    current = pd.DataFrame(
        {
            "levels": r.choice(levels, 600, p=[0.6, 0.3, 0.1]),
            "flag": r.choice([0.0, 1.0], 600, p=[0.8, 0.2]),
            "five_plus_one": r.choice([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 600),
        }
    )
    profile = profile_reference(reference)
    assert {c["kind"] for c in profile["columns"].values()} == {"num"}
    got = parity(reference, current)
    assert got["levels"].method == many and got["levels"].drifted
    assert got["flag"].method == binary and got["flag"].drifted
    assert got["five_plus_one"].method == (KS if rows <= 1000 else WASSERSTEIN)


@pytest.mark.parametrize(("rows", "method"), [(700, Z), (1500, JS)])
def test_binary_columns_are_categorical(rows, method):
    r = rng(4)
    reference = pd.DataFrame(
        {
            "bool_shifted": r.random(rows) < 0.5,
            "int_shifted": (r.random(rows) < 0.3).astype(int),
            "bool_same": r.random(rows) < 0.5,
        }
    )
    current = pd.DataFrame(
        {
            "bool_shifted": r.random(900) < 0.8,
            "int_shifted": (r.random(900) < 0.6).astype(int),
            "bool_same": r.random(900) < 0.5,
        }
    )
    assert {c["kind"] for c in profile_reference(reference)["columns"].values()} == {"cat"}
    got = parity(reference, current)
    assert {c.method for c in got.values()} == {method}
    assert got["bool_shifted"].drifted and got["int_shifted"].drifted
    assert not got["bool_same"].drifted


@pytest.mark.parametrize(("rows", "method"), [(900, CHI), (4000, JS)])
def test_categorical_string_columns(rows, method):
    r = rng(5)
    colours = ["red", "green", "blue", "grey"]
    reference = pd.DataFrame({"shifted": r.choice(colours, rows), "same": r.choice(colours, rows)})
    current = pd.DataFrame(
        {
            # A category never seen in the reference, and the others rebalanced.
            "shifted": r.choice([*colours, "pink"], 800, p=[0.1, 0.1, 0.2, 0.2, 0.4]),
            "same": r.choice(colours, 800),
        }
    )
    got = parity(reference, current)
    assert {c.method for c in got.values()} == {method}
    assert got["shifted"].drifted
    assert not got["same"].drifted


def test_a_mix_with_missing_values_and_infinities():
    r = rng(6)
    n_ref, n_cur = 1200, 1000
    reference = pd.DataFrame(
        {
            "income": r.lognormal(10, 0.5, n_ref),
            "age": r.integers(18, 90, n_ref),
            "segment": r.choice(["a", "b", "c", None], n_ref, p=[0.4, 0.3, 0.2, 0.1]),
            "rating": r.integers(1, 6, n_ref),  # <= 10 integer values: categorical
            "score": r.normal(0, 1, n_ref),
        }
    )
    current = pd.DataFrame(
        {
            "income": r.lognormal(10.4, 0.5, n_cur),
            "age": r.integers(18, 90, n_cur),
            "segment": r.choice(["a", "b", "c", None], n_cur, p=[0.1, 0.3, 0.5, 0.1]),
            "rating": r.integers(1, 6, n_cur),
            "score": r.normal(0, 1, n_cur),
        }
    )
    reference.loc[r.choice(n_ref, 60, replace=False), "score"] = np.nan
    current.loc[r.choice(n_cur, 200, replace=False), "income"] = np.nan
    current.loc[[3, 5], "score"] = [np.inf, -np.inf]  # Evidently drops these like NaN
    profile = profile_reference(reference)
    kinds = {name: c["kind"] for name, c in profile["columns"].items()}
    assert kinds == dict(income="num", age="num", segment="cat", rating="cat", score="num")
    assert profile["columns"]["score"]["missing"] == 60
    got = parity(reference, current)
    assert got["income"].drifted and got["segment"].drifted
    assert not got["age"].drifted and not got["rating"].drifted and not got["score"].drifted
    assert got["income"].method == WASSERSTEIN and got["segment"].method == JS


@pytest.mark.parametrize("kind", ["num", "cat"])
@pytest.mark.parametrize("rows", [1000, 1001])
@pytest.mark.parametrize("n_values", [1, 2, 3, 5, 6, 7])
def test_the_choice_of_test_is_evidentlys_default(kind, rows, n_values):
    from evidently.legacy.calculations.stattests.registry import _get_default_stattest
    from evidently.legacy.core import ColumnType

    # Current brings the last value, so the union (not the reference alone) is what counts.
    values = [float(i) if kind == "num" else f"v{i}" for i in range(n_values)]
    ref_values = values[:-1] or values
    reference = pd.Series(np.resize(np.array(ref_values, dtype=object), rows), name="x")
    current = pd.Series(np.resize(np.array(values, dtype=object), 300), name="x")
    if kind == "num":
        reference, current = reference.astype(float), current.astype(float)
    stats = profile_reference(reference.to_frame())["columns"]["x"]
    assert stats["kind"] == kind
    feature_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    expected = _get_default_stattest(reference, current, feature_type)
    assert column_drift(reference, current, stats).method == expected.display_name


def with_gaps(values: np.ndarray, every: int = 7) -> np.ndarray:
    """Integers as float64 with every `every`-th value missing, as a column with gaps arrives."""
    out = values.astype(float)
    out[::every] = np.nan
    return out


@pytest.mark.parametrize(
    ("levels", "rows", "method"),
    [(5, 800, CHI), (5, 1800, JS), (8, 800, KS), (8, 1800, WASSERSTEIN)],
)
def test_an_integer_column_arriving_as_floats_with_gaps_is_typed_as_the_report_types_it(
    levels, rows, method
):
    # The reference types `code` categorical (int64, <= 10 values); the current batch has gaps,
    # so it arrives as float64 and Evidently's Report types it numeric: with 8 values that is
    # K-S / Wasserstein, not the chi-square / Jensen-Shannon the reference's type would choose.
    r = rng(14)
    reference = pd.DataFrame({"code": r.integers(0, levels, rows), "x": r.normal(0, 1, rows)})
    current = pd.DataFrame(
        {
            "code": with_gaps(
                r.choice(levels, 600, p=np.r_[0.4, np.full(levels - 1, 0.6 / (levels - 1))])
            ),
            "x": r.normal(0, 1, 600),
        }
    )
    assert profile_reference(reference)["columns"]["code"]["kind"] == "cat"
    got = parity(reference, current)
    assert (got["code"].kind, got["code"].reference_kind) == ("num", "cat")
    assert got["code"].method == method
    assert got["code"].drifted  # value 0 doubled its share
    assert (got["x"].kind, got["x"].reference_kind) == ("num", "num")


def test_an_integer_column_gaining_values_is_typed_by_the_current_batch():
    # 5 integer values in the reference (categorical), 12 in current: the Report types it
    # numeric and runs K-S, and so does the audit.
    r = rng(13)
    reference = pd.DataFrame({"rating": r.integers(1, 6, 800)})
    current = pd.DataFrame({"rating": r.integers(1, 13, 700)})
    got = parity(reference, current)["rating"]
    assert (got.kind, got.reference_kind, got.method, got.drifted) == ("num", "cat", KS, True)


def test_codes_as_strings_in_the_reference_and_numbers_in_current():
    r = rng(15)
    codes = ["1", "2", "3"]
    reference = pd.DataFrame({"code": r.choice(codes, 800), "x": r.normal(0, 1, 800)})
    # As integers (int64, 3 values): categorical in the Report, and no value matches "1".
    as_ints = reference.iloc[:600].assign(code=r.choice([1, 2, 3], 600))
    got = parity(reference, as_ints)["code"]
    assert (got.kind, got.reference_kind, got.method) == ("cat", "cat", CHI)
    assert got.drifted and got.score == 0.0
    # The other way round: numbers in the reference, their text in current (object, few values).
    numbers = reference.assign(code=r.choice([1.5, 2.5, 3.5], 800))
    as_text = as_ints.assign(code=r.choice(["1.5", "2.5", "3.5"], 600))
    got = parity(numbers, as_text)["code"]
    assert (got.kind, got.reference_kind, got.method, got.drifted) == ("cat", "num", CHI, True)
    # As floats: numeric in the Report, which then refuses the reference's strings; so does the
    # audit, naming the column.
    as_floats = as_ints.assign(code=as_ints["code"].astype(float))
    with pytest.raises(ValueError, match="Column 'code' in reference dataset should contain"):
        evidently_verdicts(reference, as_floats)
    with pytest.raises(InvalidInput) as refused:
        dataset_drift(reference, as_floats, profile_reference(reference), 0.5)
    assert str(refused.value) == (
        "reference column 'code' should hold numbers (the current batch, float64, types it num), "
        "got object"
    )


def test_a_float_column_whose_current_values_are_all_integral():
    r = rng(16)
    reference = pd.DataFrame({"tenure": r.integers(0, 8, 900).astype(float)})
    assert profile_reference(reference)["columns"]["tenure"]["kind"] == "num"
    # Still float64: numeric, 8 values over both samples, K-S as for the reference.
    as_floats = pd.DataFrame({"tenure": r.integers(0, 8, 500).astype(float)})
    got = parity(reference, as_floats)["tenure"]
    assert (got.kind, got.reference_kind, got.method, got.drifted) == ("num", "num", KS, False)
    # Read back as int64 (a CSV or JSON of whole numbers): 8 values is categorical in the
    # Report, so chi-square, and the same verdict on the same values.
    as_ints = as_floats.astype(int)
    got_ints = parity(reference, as_ints)["tenure"]
    assert (got_ints.kind, got_ints.reference_kind, got_ints.method) == ("cat", "num", CHI)
    assert not got_ints.drifted


@pytest.mark.parametrize(
    ("values", "dtype", "kind"),
    [
        ([f"note {i}" for i in range(300)], "object", "text"),
        (pd.date_range("2026-01-01", periods=300, freq="h"), "datetime64[ns]", "datetime"),
    ],
)
def test_a_column_the_current_batch_types_as_neither_num_nor_cat_is_refused(values, dtype, kind):
    r = rng(17)
    reference = pd.DataFrame({"amount": r.normal(0, 1, 400), "x": r.normal(0, 1, 400)})
    current = pd.DataFrame({"amount": values, "x": r.normal(0, 1, 300)})
    with pytest.raises(InvalidInput) as refused:
        dataset_drift(reference, current, profile_reference(reference), 0.5)
    assert str(refused.value) == (
        f"current column 'amount' arrives as {dtype}, typed {kind} by Evidently (the reference: "
        "num); only num and cat columns are drift-tested"
    )
    if kind == "datetime":
        # The Report leaves such a column out of its drift share altogether, silently.
        assert [v.column for v in evidently_verdicts(reference, current)] == ["x"]


def test_share_exactly_at_the_limit_is_drifting():
    r = rng(8)
    reference = pd.DataFrame({f"c{i}": r.normal(0, 1, 2000) for i in range(4)})
    current = pd.DataFrame({f"c{i}": r.normal(0, 1, 2000) for i in range(4)})
    current[["c1", "c3"]] += 1.0
    profile = profile_reference(reference)
    at_limit = dataset_drift(reference, current, profile, max_share=0.5)
    assert at_limit.drifted_columns() == ["c1", "c3"]
    assert at_limit.share == 0.5 and at_limit.drifting
    assert (at_limit.reference_rows, at_limit.current_rows) == (2000, 2000)
    above = dataset_drift(reference, current, profile, max_share=0.51)
    assert above.share == 0.5 and not above.drifting


def test_a_profiled_column_missing_from_current_is_refused_by_name():
    r = rng(9)
    reference = pd.DataFrame({"kept": r.normal(size=50), "dropped_col": r.normal(size=50)})
    with pytest.raises(InvalidInput, match="dropped_col"):
        dataset_drift(reference, reference[["kept"]], profile_reference(reference), 0.5)


def test_an_all_missing_current_column_is_refused_by_name():
    r = rng(10)
    reference = pd.DataFrame({"fine": r.normal(size=50), "empty_now": r.normal(size=50)})
    current = reference.assign(empty_now=np.nan)
    with pytest.raises(InvalidInput, match="empty_now"):
        dataset_drift(reference, current, profile_reference(reference), 0.5)


def test_the_html_report_names_the_drifted_columns():
    r = rng(11)
    reference = pd.DataFrame(
        {
            "calm_column": r.normal(0, 1, 800),
            "drifting_income": r.normal(0, 1, 800),
            # Chi-square on a numeric column: ValueDrift refuses "chisquare" by name here.
            "drifting_levels": r.choice([0.0, 1.0, 2.0], 800),
        }
    )
    current = pd.DataFrame(
        {
            "calm_column": r.normal(0, 1, 700),
            "drifting_income": r.normal(1, 1, 700),
            "drifting_levels": r.choice([0.0, 1.0, 2.0], 700, p=[0.7, 0.2, 0.1]),
        }
    )
    drift = dataset_drift(reference, current, profile_reference(reference), 0.5)
    assert drift.drifted_columns() == ["drifting_income", "drifting_levels"]
    assert drift.columns[2].method == CHI
    html = drift_report_html(reference, current, drift)
    assert isinstance(html, bytes)
    assert html.lstrip().lower().startswith(b"<!doctype html") or b"<html" in html[:500]
    assert b"drifting_income" in html and b"drifting_levels" in html
    assert b"calm_column" not in html  # only drifted columns are plotted
    calm = drift.model_copy(update={"columns": [drift.columns[0]]})
    with pytest.raises(InvalidInput, match="a drift report needs at least one drifted column"):
        drift_report_html(reference, current, calm)


def test_the_profile_is_json_and_types_columns_as_evidently_does():
    from evidently import Dataset

    r = rng(12)
    n = 400
    frame = pd.DataFrame(
        {
            "real": r.normal(size=n),
            "count": r.integers(0, 1000, n),
            "small_int": r.integers(0, 4, n),
            "flag": r.random(n) < 0.3,
            "colour": r.choice(["red", "green"], n),
            "note": [f"free text number {i}" for i in range(n)],
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "blowup": np.r_[np.inf, r.normal(size=n - 2), np.nan],
        }
    )
    profile = profile_reference(frame)
    assert json.loads(json.dumps(profile, allow_nan=False)) == profile
    with np.errstate(invalid="ignore"):  # Evidently's own column stats meet the infinity
        definition = Dataset.from_pandas(frame).data_definition
    assert [c for c, s in profile["columns"].items() if s["kind"] == "num"] == (
        definition.numerical_columns
    )
    assert [c for c, s in profile["columns"].items() if s["kind"] == "cat"] == (
        definition.categorical_columns
    )
    assert profile["skipped"] == {"note": "text", "when": "datetime"}
    assert profile["rows"] == n
    small, colour, blowup = (profile["columns"][c] for c in ("small_int", "colour", "blowup"))
    assert small["values"] == [0, 1, 2, 3] and small["n_unique"] == 4
    assert colour["values"] == ["green", "red"] and sum(colour["top"].values()) == n
    assert profile["columns"]["real"]["values"] is None
    assert (blowup["count"], blowup["missing"]) == (n - 2, 2)
    assert blowup["min"] > -10 and blowup["max"] < 10  # the infinity did not reach the stats


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([0.5, 1.5, np.nan]),
        pd.Series(range(10)),
        pd.Series(range(11)),
        pd.Series(["a", "b", "a", "a"]),
        pd.Series(["a", "b", "c", "d"]),
        pd.Series(["a", "b", "a", "a"], dtype="string"),
        pd.Series([None, None], dtype=object),
        pd.Series([[1], [2]]),
        pd.Series([1, "a"], dtype=object),
        pd.Series([True, False]),
        pd.Series(["x", "y"], dtype="category"),
        pd.Series(pd.to_datetime(["2026-01-01", "2026-01-02"])),
    ],
    ids=lambda s: f"{s.dtype}-{len(s)}",
)
def test_column_kind_is_evidentlys_inference(series):
    """ml/profile.py mirrors Evidently's column typing so a promotion need not import it."""
    from evidently.core.datasets import infer_column_type

    assert column_kind(series) == infer_column_type(series).value
