import datetime as dt
import decimal

from finsql.db.results import normalize_value, results_match


def test_multiset_ignores_order_but_counts_duplicates():
    assert results_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=False)
    assert not results_match([(1,), (1,)], [(1,)], ordered=False)


def test_order_matters_only_when_ordered():
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    assert results_match([(1,), (2,)], [(1,), (2,)], ordered=True)


def test_numbers_dates_and_decimals_normalise():
    assert normalize_value(decimal.Decimal("2.50")) == normalize_value(2.5)
    assert normalize_value(3.0) == 3
    assert normalize_value(1 / 3) == normalize_value(0.33333333334)
    assert normalize_value(dt.date(2024, 1, 2)) == "2024-01-02"
    assert results_match([(0.1 + 0.2,)], [(0.3,)], ordered=False)
    assert not results_match([(0.3,)], [(0.31,)], ordered=False)


def test_infinities_and_nan_compare_without_failing():
    """DuckDB divides by zero into infinity: a result holding one is compared, not a crash."""
    assert normalize_value(float("inf")) == "Infinity" and normalize_value(float("-inf")) == "-Infinity"
    assert results_match([(float("inf"),)], [(float("inf"),)], ordered=False)
    assert not results_match([(float("inf"),)], [(float("-inf"),)], ordered=False)
    assert results_match([(float("nan"), 1)], [(float("nan"), 1)], ordered=True)
