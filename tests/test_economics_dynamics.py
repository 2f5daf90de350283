"""The economics command's table of churn, conversion, unit-cost and colocation priors."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.economics import (
    correlations_table,
    dynamics_table,
    economics_tables,
    prior_draws,
)
from forecast.priors import load_scenario

PRIORS = Path(__file__).resolve().parent.parent / "priors"
NEW_PRIORS = (
    "first_month_churn",
    "self_hosted_conversion_annual",
    "memory_price_factor_annual",
    "infra_learning_rate",
    "learning_reference_user_months",
    "colo_migration_cost",
    "colo_ramp_months",
)


@pytest.fixture(scope="module")
def table():
    """The table for 2,000 base-scenario prior draws."""
    scenario = load_scenario("base", PRIORS)
    return dynamics_table(prior_draws(scenario, 2000, 0), scenario)


@pytest.mark.parametrize("name", NEW_PRIORS)
def test_dynamics_table_lists_prior(table, name):
    assert name in table["prior"].tolist()


def test_dynamics_table_shows_sources(table):
    scenario = load_scenario("base", PRIORS)
    row = table[table["prior"] == "colo_migration_cost"].iloc[0]
    assert row["source"] == scenario.priors["colo_migration_cost"].source


def test_dynamics_table_compounds_conversion(table):
    row = table[table["prior"] == "self_hosted_conversion_annual"].iloc[0]
    assert "1 - (1 - a)^(1/12)" in row["meaning"]


def test_economics_tables_include_dynamics():
    tables = economics_tables(
        "base", users=[1000], price=10.0, draws=500, seed=0, priors_dir=PRIORS
    )
    assert any(title.startswith("Churn, conversion") for title in tables)


def test_correlations_table_matches_declared():
    scenario = load_scenario("base", PRIORS)
    table = correlations_table(prior_draws(scenario, 20_000, 1), scenario)
    row = table[table["pair"] == "spot_price:colo_cost_factor"].iloc[0]
    sampled, error = (float(part) for part in row["in draws"].split(" +/- "))
    # 20K draws give a standard error of about 0.006 around the declared 0.4.
    assert error == pytest.approx(0.84 * (1.06 / 19_999) ** 0.5, rel=0.05)
    assert abs(sampled - 0.4) < 4 * error
