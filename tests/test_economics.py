"""The priors reproduce the plan's own tables; the arithmetic checks are right."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import blocks, economics
from forecast.priors import load_scenario

# The plan's cost per hosted user-month by scale (its scaling table).
PLAN_COST = {
    1_000: (25, 40),
    10_000: (8, 12),
    50_000: (5, 7),
    100_000: (4.5, 5.7),
    1_000_000: (2, 4),
}


@pytest.fixture(scope="module")
def draws(request):
    from pathlib import Path

    priors = Path(__file__).resolve().parent.parent / "priors"
    scenario = load_scenario("base", priors)
    return scenario, economics.prior_draws(scenario, 20_000, seed=0)


@pytest.mark.parametrize("users", sorted(PLAN_COST))
def test_median_cost_per_user_near_plan(draws, users):
    scenario, p = draws
    median = np.median(economics.cost_per_user(p, users, scenario)["total"])
    low, high = PLAN_COST[users]
    # Within the plan's range, widened by a quarter either side for its rounding.
    assert 0.75 * low <= median <= 1.25 * high


@pytest.mark.parametrize(
    ("month", "low", "high"), [("2027-06", 50e6, 100e6), ("2028-06", 300e6, 500e6)]
)
def test_market_median_inside_plan_year_figures(draws, month, low, high):
    scenario, p = draws
    offset = blocks.months_between(scenario.settings.market_reference_month, month)
    median = np.median(blocks.agent_users(p, float(offset)))
    assert low <= median <= high


def test_ladder_margin_range_by_hand():
    # Cost $10-15 at price $20-25: 1 - 15/20 = 25% to 1 - 10/25 = 60%.
    low, high = economics.ladder_margin_range((10, 15), (20, 25))
    assert low == pytest.approx(0.25)
    assert high == pytest.approx(0.60)


def test_plan_checks_list_compute_disagreement(draws):
    _, p = draws
    checks = economics.plan_checks(p)
    compute = checks[checks["item"].str.startswith("compute per instance (r6a.4xlarge)")]
    assert "$2.10" in compute["arithmetic"].iloc[0]


def test_parse_user_counts_rejects_zero():
    from forecast.errors import InputError

    with pytest.raises(InputError, match="above zero"):
        economics.parse_user_counts("1000,0")
