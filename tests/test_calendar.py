"""Fiscal-year and quarterly roll-ups: labels, per-path totals, partial periods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.calendar import (
    FLOW_TOTALS,
    PERIOD_END_LEVELS,
    monthly_periods,
    parse_fiscal_year_start,
    period_labels,
    period_values,
    rollup_table,
)
from forecast.cli import app
from forecast.errors import InputError
from forecast.priors import month_range

MONTHS = month_range("2026-01", "2028-12")


@pytest.fixture(scope="module")
def metrics() -> dict[str, np.ndarray]:
    """Random monthly figures for 50 paths, every metric the roll-ups read."""
    rng = np.random.default_rng(3)
    names = set(FLOW_TOTALS) | set(PERIOD_END_LEVELS)
    return {name: rng.gamma(2.0, 1000.0, size=(50, len(MONTHS))) for name in names}


def test_labels_april_start_names_ending_year():
    labels = dict(zip(MONTHS, period_labels(MONTHS, 4, "fiscal_year"), strict=True))
    assert labels["2026-03"] == "FY2026"
    assert labels["2026-04"] == "FY2027"
    assert labels["2027-03"] == "FY2027"
    assert labels["2027-04"] == "FY2028"


def test_labels_april_start_quarters():
    labels = dict(zip(MONTHS, period_labels(MONTHS, 4, "quarter"), strict=True))
    assert labels["2026-01"] == "FY2026Q4"
    assert labels["2026-04"] == "FY2027Q1"
    assert labels["2026-06"] == "FY2027Q1"
    assert labels["2026-07"] == "FY2027Q2"
    assert labels["2027-03"] == "FY2027Q4"


def test_labels_january_start_calendar_years():
    labels = period_labels(MONTHS, 1, "fiscal_year")
    assert labels == [f"FY{month[:4]}" for month in MONTHS]


def test_labels_december_start():
    labels = dict(zip(MONTHS, period_labels(MONTHS, 12, "fiscal_year"), strict=True))
    assert labels["2026-11"] == "FY2026"
    assert labels["2026-12"] == "FY2027"


def test_labels_reject_unknown_period_type():
    with pytest.raises(ValueError, match="unknown period type 'week'"):
        period_labels(MONTHS, 1, "week")


def test_labels_reject_month_thirteen():
    with pytest.raises(InputError, match="invalid fiscal-year start month"):
        period_labels(MONTHS, 13, "fiscal_year")


def test_monthly_periods_reject_gap():
    with pytest.raises(ValueError, match="not consecutive"):
        monthly_periods(["2026-01", "2026-02", "2026-04"])


def test_monthly_periods_cover_horizon():
    periods = monthly_periods(MONTHS)
    assert len(periods) == 36
    assert str(periods[-1]) == "2028-12"


def test_fiscal_totals_add_to_horizon_total(metrics):
    labels = period_labels(MONTHS, 4, "fiscal_year")
    values = period_values(metrics, MONTHS, labels)
    # FY2026 (Jan-Mar 2026) and FY2029 (Apr-Dec 2028) are partial years.
    assert list(values) == ["FY2026", "FY2027", "FY2028", "FY2029"]
    for name, total in FLOW_TOTALS.items():
        summed = sum(period[total] for period in values.values())
        np.testing.assert_allclose(summed, metrics[name].sum(axis=1), rtol=1e-12, err_msg=name)


def test_fiscal_totals_match_calendar_totals(metrics):
    fiscal = period_values(metrics, MONTHS, period_labels(MONTHS, 7, "fiscal_year"))
    calendar = period_values(metrics, MONTHS, period_labels(MONTHS, 1, "fiscal_year"))
    np.testing.assert_allclose(
        sum(period["revenue"] for period in fiscal.values()),
        sum(period["revenue"] for period in calendar.values()),
        rtol=1e-12,
    )


def test_quarters_add_to_fiscal_year(metrics):
    years = period_values(metrics, MONTHS, period_labels(MONTHS, 4, "fiscal_year"))
    quarters = period_values(metrics, MONTHS, period_labels(MONTHS, 4, "quarter"))
    in_fy2028 = [quarters[f"FY2028Q{q}"]["operating_profit"] for q in range(1, 5)]
    np.testing.assert_allclose(sum(in_fy2028), years["FY2028"]["operating_profit"], rtol=1e-12)


def test_period_end_levels_read_last_month(metrics):
    values = period_values(metrics, MONTHS, period_labels(MONTHS, 4, "fiscal_year"))
    march_2027 = MONTHS.index("2027-03")
    np.testing.assert_array_equal(values["FY2027"]["cash_end"], metrics["cash"][:, march_2027])


def test_period_margin_is_ratio_of_totals(metrics):
    values = period_values(metrics, MONTHS, period_labels(MONTHS, 1, "fiscal_year"))
    year = values["FY2027"]
    np.testing.assert_allclose(
        year["operating_margin"], year["operating_profit"] / year["revenue"], rtol=1e-12
    )


def test_rollup_quantiles_of_path_totals():
    # Path totals are 201, 12 and 120, so the median total is 120. The monthly
    # medians 10 and 20 would add up to 30.
    months = ["2026-01", "2026-02"]
    flows = {name: np.zeros((3, 2)) for name in set(FLOW_TOTALS) | set(PERIOD_END_LEVELS)}
    flows["mrr"] = np.array([[1.0, 200.0], [10.0, 2.0], [100.0, 20.0]])
    table = rollup_table(flows, months, fiscal_year_start=1)
    row = table[(table["period"] == "FY2026") & (table["metric"] == "revenue")].iloc[0]
    assert row["p50"] == pytest.approx(120.0)
    assert row["mean"] == pytest.approx(111.0)


def test_rollup_marks_partial_periods(metrics):
    table = rollup_table(metrics, MONTHS, fiscal_year_start=4)
    years = table[(table["period_type"] == "fiscal_year") & (table["metric"] == "revenue")]
    assert years["months"].tolist() == [3, 12, 12, 9]
    assert years["complete"].tolist() == [False, True, True, False]


def test_rollup_quarters_cover_every_month(metrics):
    table = rollup_table(metrics, MONTHS, fiscal_year_start=4)
    quarters = table[(table["period_type"] == "quarter") & (table["metric"] == "revenue")]
    assert quarters["months"].sum() == len(MONTHS)
    assert quarters["complete"].all()


@pytest.mark.parametrize(
    ("text", "expected"), [("4", 4), ("04", 4), ("April", 4), ("apr", 4), ("DEC", 12), (7, 7)]
)
def test_parse_fiscal_year_start_accepts(text, expected):
    assert parse_fiscal_year_start(text) == expected


@pytest.mark.parametrize("text", ["0", "13", "ju", "Smarch", ""])
def test_parse_fiscal_year_start_rejects(text):
    with pytest.raises(InputError, match="invalid fiscal-year start month"):
        parse_fiscal_year_start(text)


def test_cli_rejects_bad_fiscal_start(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--draws",
            "10",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "run"),
            "--fiscal-year-start",
            "13",
        ],
    )
    assert result.exit_code == 2
    assert "--fiscal-year-start" in result.output
    assert not (tmp_path / "run").exists()


def test_run_writes_fiscal_periods(tmp_path, priors_dir):
    from forecast.pipeline import run_scenario

    result = run_scenario(
        "base",
        draws=200,
        seed=4,
        priors_dir=priors_dir,
        out=tmp_path / "run",
        with_charts=False,
        keep_draws=True,
        fiscal_year_start=4,
    )
    table = pd.read_csv(result.path / "periods.csv")
    revenue = table[(table["period_type"] == "fiscal_year") & (table["metric"] == "revenue")]
    assert revenue["period"].tolist() == ["FY2026", "FY2027", "FY2028", "FY2029"]
    fy2027 = revenue[revenue["period"] == "FY2027"].iloc[0]
    first, last = MONTHS.index("2026-04"), MONTHS.index("2027-03")
    # Kept draws are the float32 values the roll-up summed, so both sums agree closely.
    per_path = result.draws.metrics["mrr"][:, first : last + 1].astype(float).sum(axis=1)
    assert fy2027["p50"] == pytest.approx(np.quantile(per_path, 0.5), rel=1e-6)


def test_run_manifest_records_fiscal_start(tmp_path, priors_dir):
    import json

    from forecast.pipeline import run_scenario

    result = run_scenario(
        "base",
        draws=50,
        seed=4,
        priors_dir=priors_dir,
        out=tmp_path / "run",
        with_charts=False,
        keep_draws=False,
        fiscal_year_start=7,
    )
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["fiscal_year_start"] == 7
    assert manifest["correlations"]["spot_price:colo_cost_factor"] == 0.4
