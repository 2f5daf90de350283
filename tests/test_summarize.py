"""Break-even months, probabilities and annual totals on hand-made paths."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import summarize

MONTHS = ["2026-11", "2026-12", "2027-01", "2027-02"]


def test_sustained_breakeven_month_per_path():
    profit = np.array(
        [
            [-1.0, -1.0, 1.0, 1.0],  # turns positive in month 2 and stays
            [-1.0, 1.0, -1.0, 1.0],  # dips again: only the last month counts
            [1.0, 1.0, 1.0, 1.0],  # profitable from the start
            [-1.0, -1.0, -1.0, -1.0],  # never
            [-1.0, 0.0, 0.0, 0.0],  # zero counts as break-even
        ]
    )
    first = summarize.breakeven_months(profit)["sustained"]
    assert first.tolist() == [2, 3, 0, 4, 1]


def test_payback_month_uses_cumulative_cash_flow():
    profit = np.array([[-3.0, 1.0, 1.0, 2.0], [-3.0, 4.0, -2.0, 5.0]])
    # Cumulative: [-3, -2, -1, 1] -> month 3; [-3, 1, -1, 4] -> month 3 (dips in month 2).
    assert summarize.breakeven_months(profit)["payback"].tolist() == [3, 3]


def test_probability_by_month_and_error():
    first = np.array([0, 1, 1, 4])  # 4 months: the last path never breaks even
    share, error = summarize.probability_by_month(first, 4)
    np.testing.assert_allclose(share, [0.25, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(error, np.sqrt(share * (1 - share) / 4))


def test_breakeven_distribution_sums_to_one():
    profit = np.array([[-1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    table = summarize.breakeven_month_distribution(profit, MONTHS)
    assert table["month"].tolist()[-1] == "never"
    assert table["share_sustained"].sum() == pytest.approx(1.0)
    assert table["share_sustained"].tolist() == [0.0, 0.5, 0.0, 0.0, 0.5]


def test_annual_margin_is_ratio_of_totals():
    # Revenue 10, 30 and cost 20, 10 in two months of 2026: the year's margin is
    # (40 - 30) / 40 = 25%, not the mean of the monthly margins (-100% and 67%).
    revenue = np.array([[10.0, 30.0, 5.0, 5.0]])
    infra = np.array([[20.0, 10.0, 1.0, 1.0]])
    zeros = np.zeros_like(revenue)
    metrics = {
        "mrr": revenue,
        "infra_cost": infra,
        "team_cost": zeros,
        "total_cost": infra,
        "operating_profit": revenue - infra,
        "hosted_users": np.array([[1.0, 2.0, 3.0, 4.0]]),
        "cash": np.array([[100.0, 120.0, 124.0, 128.0]]),
    }
    table = summarize.annual_table(metrics, MONTHS).set_index(["year", "metric"])
    assert table.loc[("2026", "operating_margin"), "p50"] == pytest.approx(0.25)
    assert table.loc[("2026", "revenue"), "p50"] == pytest.approx(40.0)
    assert table.loc[("2027", "revenue"), "p50"] == pytest.approx(10.0)
    assert table.loc[("2026", "cash_year_end"), "p50"] == pytest.approx(120.0)
    assert table.loc[("2027", "months_in_year"), "p50"] == 2


def test_annual_totals_are_per_path_before_quantiles():
    # Two paths whose good months differ: the P50 of totals differs from the sum of P50s.
    revenue = np.array([[10.0, 1.0, 1.0, 1.0], [1.0, 10.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    metrics = {
        "mrr": revenue,
        "infra_cost": np.zeros_like(revenue),
        "team_cost": np.zeros_like(revenue),
        "total_cost": np.zeros_like(revenue),
        "operating_profit": revenue,
        "hosted_users": np.ones_like(revenue),
        "cash": np.ones_like(revenue),
    }
    table = summarize.annual_table(metrics, MONTHS).set_index(["year", "metric"])
    # 2026 totals per path are 11, 11 and 2: P50 11. The monthly P50s are 1 and 1.
    assert table.loc[("2026", "revenue"), "p50"] == pytest.approx(11.0)


def test_summary_columns_exact():
    metrics = {"mrr": np.arange(12.0).reshape(3, 4)}
    table = summarize.summary_table(metrics, MONTHS)
    assert tuple(table.columns) == (
        "metric",
        "month",
        "mean",
        "sd",
        "p5",
        "p10",
        "p25",
        "p50",
        "p75",
        "p90",
        "p95",
    )
    assert table["month"].tolist() == MONTHS


def test_summary_quantiles_ordered():
    rng = np.random.default_rng(3)
    table = summarize.summary_table({"x": rng.lognormal(size=(500, 4))}, MONTHS)
    columns = ["p5", "p10", "p25", "p50", "p75", "p90", "p95"]
    assert (np.diff(table[columns].to_numpy(), axis=1) >= 0).all()
