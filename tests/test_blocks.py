"""Model blocks against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import blocks
from forecast.priors import load_scenario

THRESHOLDS = (5000.0, 50000.0, 500000.0)


def hand_parameters(**changes: float) -> dict[str, np.ndarray]:
    """One path of round numbers, close to the plan's mid-range figures."""
    values = {
        "agent_users_reference": 7e6,
        "market_growth_rate": 0.2,
        "market_ceiling": 800e6,
        "segment_share": 1.0,
        "capture_rate": 0.002,
        "price_elasticity": 2.0,
        "signup_rate": 0.1,
        "monthly_churn": 0.05,
        "paid_share": 0.04,
        "initial_hosted_users": 0.0,
        "price_bootstrap": 27.5,
        "price_breakeven": 22.5,
        "price_mature": 17.5,
        "price_commodity": 12.5,
        "spot_price": 0.23,
        "vm_memory_gb": 128.0,
        "usable_memory_share": 0.9,
        "memory_at_rest_gb": 0.75,
        "memory_at_peak_gb": 2.5,
        "peak_share": 0.4,
        "minimum_vms": 2.0,
        "ebs_gb_per_user": 10.0,
        "ebs_price_per_gb": 0.08,
        "egress_gb_per_user": 5.6,
        "egress_price_per_gb": 0.09,
        "relay_cost_per_user": 0.5,
        "control_plane_monthly": 73.0,
        "self_hosted_cost_per_user": 0.75,
        "colo_crossover_users": 75000.0,
        "colo_cost_factor": 4.0,
        "engineering_cost_reference": 120000.0,
        "support_cost_reference": 60000.0,
        "team_scale_exponent": 0.5,
        "team_cost_minimum": 30000.0,
        "starting_cash": 2e6,
        # Neutral values: no extra first-month churn, no conversions, no learning,
        # flat memory prices and an instant, free move to colocation.
        "first_month_churn": 0.05,
        "self_hosted_conversion_annual": 0.0,
        "colo_migration_cost": 0.0,
        "colo_ramp_months": 1.0,
        "infra_learning_rate": 1.0,
        "learning_reference_user_months": 1e6,
        "memory_price_factor_annual": 1.0,
    }
    values.update(changes)
    return {name: np.array([value]) for name, value in values.items()}


def test_agent_users_at_reference_month_is_level():
    p = hand_parameters()
    assert blocks.agent_users(p, 0.0)[0] == pytest.approx(7e6)


def test_agent_users_one_year_later_by_hand():
    # 800M / (1 + (800/7 - 1) e^-2.4) = 800M / (1 + 113.2857 x 0.0907180) = 70.94M
    p = hand_parameters()
    assert blocks.agent_users(p, 12.0)[0] == pytest.approx(70.94e6, rel=1e-3)


def test_agent_users_approach_ceiling():
    p = hand_parameters()
    assert blocks.agent_users(p, 200.0)[0] == pytest.approx(800e6, rel=1e-6)


@pytest.mark.parametrize(
    ("hosted", "price"),
    [(0, 27.5), (4999, 27.5), (5000, 22.5), (49999, 22.5), (50000, 17.5), (500000, 12.5)],
)
def test_ladder_price_at_scale(hosted, price):
    p = hand_parameters()
    assert blocks.ladder_price(p, np.array([float(hosted)]), THRESHOLDS)[0] == price


def test_instances_per_vm_by_hand():
    # 128 GB x 0.9 / (0.75 + 0.4 x (2.5 - 0.75)) = 115.2 / 1.45
    assert blocks.instances_per_vm(hand_parameters())[0] == pytest.approx(115.2 / 1.45)


def test_marginal_cost_on_cloud_by_hand():
    p = hand_parameters(vm_memory_gb=80 * 1.45 / 0.9)  # exactly 80 instances a VM
    # 0.23 x 730 / 80 + 10 x 0.08 + 5.6 x 0.09 + 0.5 = 2.09875 + 0.8 + 0.504 + 0.5
    assert blocks.marginal_cost(p, np.array([1000.0]), 730)[0] == pytest.approx(3.90275)


def test_marginal_cost_in_colocation_by_hand():
    p = hand_parameters(vm_memory_gb=80 * 1.45 / 0.9)
    # (2.09875 + 0.8) / 4 + 0.504 + 0.5 above the 75K crossover
    assert blocks.marginal_cost(p, np.array([100000.0]), 730)[0] == pytest.approx(1.7286875)


def test_hosting_cost_uses_minimum_fleet():
    p = hand_parameters()
    costs = blocks.hosting_costs(p, np.array([10.0]), 730)
    # 10 users need far less than one VM, so the two-VM floor applies: 2 x 0.23 x 730.
    assert costs["compute"][0] == pytest.approx(2 * 0.23 * 730)
    assert costs["control_plane"][0] == 73.0


def test_team_cost_at_reference_scale():
    team = blocks.team_costs(hand_parameters(), np.array([100000.0]), 100000.0)
    assert team["engineering"][0] == pytest.approx(120000.0)
    assert team["support"][0] == pytest.approx(60000.0)


def test_team_cost_grows_less_than_users():
    team = blocks.team_costs(hand_parameters(), np.array([10000.0]), 100000.0)
    # 180K x (10K / 100K)^0.5 = 180K x 0.3162278 = 56,921.0
    assert team["engineering"][0] + team["support"][0] == pytest.approx(56921.0, rel=1e-6)


def test_team_cost_floor_split_in_proportion():
    team = blocks.team_costs(hand_parameters(), np.array([100.0]), 100000.0)
    assert team["engineering"][0] == pytest.approx(20000.0)
    assert team["support"][0] == pytest.approx(10000.0)


@pytest.fixture
def hand_paths(priors_dir):
    settings = load_scenario("base", priors_dir).settings
    return blocks.simulate_paths(hand_parameters(), settings), settings


def test_first_month_by_hand(hand_paths):
    paths, _ = hand_paths
    # January 2026 is five months before the June level: agents = logistic at t = -5.
    agents = 800e6 / (1 + (800e6 / 7e6 - 1) * np.exp(0.2 * 5))
    # No users yet, so the bootstrap price; demand = agents x 0.2% x (27.5 / 10)^-2.
    demand = agents * 0.002 * (27.5 / 10) ** -2
    hosted = 0.1 * demand
    assert paths["agent_users"][0, 0] == pytest.approx(agents)
    assert paths["price"][0, 0] == 27.5
    assert paths["demand"][0, 0] == pytest.approx(demand)
    assert paths["hosted_users"][0, 0] == pytest.approx(hosted)
    assert paths["self_hosted_users"][0, 0] == pytest.approx(hosted * 24)
    assert paths["mrr"][0, 0] == pytest.approx(hosted * 27.5)


def test_stock_flow_identity(hand_paths):
    paths, _ = hand_paths
    hosted = paths["hosted_users"][0]
    before = np.concatenate([[0.0], hosted[:-1]])
    change = paths["new_hosted_users"][0] - paths["churned_users"][0]
    np.testing.assert_allclose(hosted, before + change, rtol=1e-12)


def test_cash_is_start_plus_cumulative_profit(hand_paths):
    paths, _ = hand_paths
    expected = 2e6 + np.cumsum(paths["operating_profit"][0])
    np.testing.assert_allclose(paths["cash"][0], expected, rtol=1e-12)


def test_price_follows_previous_month_scale(hand_paths):
    paths, settings = hand_paths
    hosted = paths["hosted_users"][0]
    price = paths["price"][0]
    p = hand_parameters()
    for month in range(1, len(settings.months)):
        ladder = blocks.ladder_price(p, hosted[month - 1 : month], THRESHOLDS)[0]
        floor = blocks.marginal_cost(p, hosted[month - 1 : month], 730)[0]
        assert price[month] == pytest.approx(max(ladder, floor))


def test_price_never_below_marginal_cost():
    p = hand_parameters(price_bootstrap=1.0, spot_price=2.0)
    floor = blocks.marginal_cost(p, np.array([0.0]), 730)[0]
    assert floor > 1.0
    paths = blocks.simulate_paths(p, load_scenario("base").settings)
    assert paths["price"][0, 0] == pytest.approx(floor)
