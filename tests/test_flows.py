"""User flows, compounding, experience curve and colocation move of the monthly model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import blocks
from forecast.parameters import PARAMETERS
from forecast.priors import load_scenario
from forecast.simulate import block_uniforms, correlate_uniforms, forward_function, prior_values

PRIORS = Path(__file__).resolve().parent.parent / "priors"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("base", PRIORS)


@pytest.fixture(scope="module")
def base_paths(scenario):
    """2,000 base-scenario paths through the numpy backend, with their prior values."""
    uniforms = correlate_uniforms(scenario, block_uniforms(7, 0, list(PARAMETERS), 2000))
    p = prior_values(scenario, uniforms)
    return p, blocks.simulate_paths(p, scenario.settings)


def previous(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Shift monthly values one month later, with ``start`` before the first month."""
    return np.concatenate([start[:, None], values[:, :-1]], axis=1)


def hand_parameters(scenario) -> dict[str, np.ndarray]:
    """One path with round numbers: constant market, demand 2,000 at a $10 price."""
    p = {name: scenario.priors[name].quantile(0.5) for name in PARAMETERS}
    p.update(
        agent_users_reference=1e6,
        market_ceiling=1e6,
        segment_share=1.0,
        capture_rate=0.002,
        price_bootstrap=10.0,
        price_breakeven=10.0,
        price_mature=10.0,
        price_commodity=10.0,
        signup_rate=0.5,
        monthly_churn=0.05,
        first_month_churn=0.2,
        # 1 - 0.99^12: exactly 1% of self-hosted users convert each month.
        self_hosted_conversion_annual=1 - 0.99**12,
        paid_share=0.5,
        initial_hosted_users=1000.0,
        memory_price_factor_annual=1.0,
    )
    return {name: np.array([value], dtype=float) for name, value in p.items()}


def test_hosted_stock_flow_identity_every_path(base_paths):
    p, out = base_paths
    start = previous(out["hosted_users"], p["initial_hosted_users"])
    np.testing.assert_allclose(
        start + out["new_hosted_users"] - out["churned_users"], out["hosted_users"], rtol=1e-12
    )


def test_new_users_are_signups_plus_conversions(base_paths):
    _, out = base_paths
    np.testing.assert_allclose(
        out["signups"] + out["converted_users"], out["new_hosted_users"], rtol=1e-12
    )


def test_self_hosted_stock_flow_identity_every_path(base_paths):
    p, out = base_paths
    paid = p["paid_share"][:, None]
    initial = p["initial_hosted_users"] * (1 - p["paid_share"]) / p["paid_share"]
    start = previous(out["self_hosted_users"], initial)
    expected = (
        start * (1 - p["monthly_churn"][:, None])
        - out["converted_users"]
        + out["signups"] * (1 - paid) / paid
    )
    np.testing.assert_allclose(expected, out["self_hosted_users"], rtol=1e-12)


def test_churn_splits_first_month_cohort(base_paths):
    p, out = base_paths
    hosted = previous(out["hosted_users"], p["initial_hosted_users"])
    cohort = previous(out["new_hosted_users"], 0 * p["initial_hosted_users"])
    expected = (
        cohort * p["first_month_churn"][:, None] + (hosted - cohort) * p["monthly_churn"][:, None]
    )
    np.testing.assert_allclose(out["churned_users"], expected, rtol=1e-12)


def test_user_flows_hand_computed_months(scenario):
    out = blocks.simulate_paths(hand_parameters(scenario), scenario.settings)
    # Month 1: 1,000 tenured users churn 5% (50); 1% of 1,000 self-hosted convert (10);
    # sign-ups are half the gap 2,000 - 950 - 10 = 1,040.
    assert out["churned_users"][0, 0] == pytest.approx(50.0)
    assert out["converted_users"][0, 0] == pytest.approx(10.0)
    assert out["signups"][0, 0] == pytest.approx(520.0)
    assert out["hosted_users"][0, 0] == pytest.approx(1480.0)
    assert out["self_hosted_users"][0, 0] == pytest.approx(1000 * 0.95 - 10 + 520)
    # Month 2: last month's 530 new users churn 20%, the other 950 churn 5%.
    assert out["churned_users"][0, 1] == pytest.approx(530 * 0.2 + 950 * 0.05)
    assert out["converted_users"][0, 1] == pytest.approx(14.6)


def test_total_users_add_both_tiers(base_paths):
    _, out = base_paths
    np.testing.assert_allclose(
        out["total_users"], out["hosted_users"] + out["self_hosted_users"], rtol=1e-12
    )


def test_monthly_rate_compounds_to_annual():
    monthly = blocks.monthly_rate(np.array([0.12, 1.72, -0.05]))
    np.testing.assert_allclose((1 + monthly) ** 12, [1.12, 2.72, 0.95], rtol=1e-12)


def test_monthly_rate_one_percent_example():
    # 1.01^12 - 1 = 12.6825...% a year is exactly 1% a month, and a twelfth would be 1.0569%.
    assert blocks.monthly_rate(1.01**12 - 1) == pytest.approx(0.01, abs=1e-14)


def test_monthly_share_moves_annual_share():
    annual = 0.05
    monthly = blocks.monthly_share(annual)
    remaining = 1.0
    for _ in range(12):
        remaining -= remaining * monthly
    assert 1 - remaining == pytest.approx(annual, abs=1e-14)


def test_monthly_share_above_twelfth():
    # Each month applies to fewer users, so moving 60% in a year needs 7.35% a month.
    assert blocks.monthly_share(0.6) == pytest.approx(1 - 0.4 ** (1 / 12), abs=1e-15)
    assert blocks.monthly_share(0.6) > 0.6 / 12


def test_memory_price_index_compounds_monthly():
    p = {"memory_price_factor_annual": np.array([1.21])}
    index = blocks.memory_price_index(p, np.array([0.0, 6.0, 12.0, 24.0]))
    np.testing.assert_allclose(index, [1.0, 1.1, 1.21, 1.4641], rtol=1e-12)


def test_experience_multiplier_wrights_law():
    p = {"learning_reference_user_months": np.array([1e4]), "infra_learning_rate": np.array([0.9])}
    volumes = np.array([0.0, 1e4, 3e4, 7e4])
    # Total volume 1x, 2x, 4x, 8x the reference: cost 1, 0.9, 0.81, 0.729.
    np.testing.assert_allclose(
        blocks.experience_multiplier(p, volumes), [1.0, 0.9, 0.81, 0.729], rtol=1e-12
    )


def test_experience_follows_own_cumulative_users(base_paths):
    p, out = base_paths
    cumulative = np.cumsum(out["hosted_users"], axis=1)
    np.testing.assert_allclose(out["cumulative_user_months"], cumulative, rtol=1e-12)
    before = previous(cumulative, 0 * p["capture_rate"])
    columns = {name: value[:, None] for name, value in p.items()}
    np.testing.assert_allclose(
        out["experience_multiplier"], blocks.experience_multiplier(columns, before), rtol=1e-12
    )


def test_colo_move_ramps_once_with_one_cost():
    p = {
        "colo_crossover_users": np.array([100.0]),
        "colo_ramp_months": np.array([4.0]),
        "colo_migration_cost": np.array([5000.0]),
    }
    hosted_before = [0.0, 50.0, 150.0, 40.0, 40.0, 40.0, 40.0]
    months = np.array([0.0])
    shares, costs = [], []
    for hosted in hosted_before:
        step = blocks.colo_move(p, np.array([hosted]), months, blocks.NUMPY)
        months = step["colo_months"]
        shares.append(float(step["colo_share"][0]))
        costs.append(float(step["migration_cost"][0]))
    # Users fall back below the crossover, but the move goes on to the end.
    assert shares == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert costs == [0.0, 0.0, 5000.0, 0.0, 0.0, 0.0, 0.0]


def test_migration_cost_paid_once_per_path(base_paths):
    p, out = base_paths
    moved = out["colo_months"][:, -1] > 0
    assert moved.any()
    np.testing.assert_allclose(
        out["migration_cost"].sum(axis=1), np.where(moved, p["colo_migration_cost"], 0.0)
    )


def test_colocation_lowers_hosting_cost():
    p = {name: np.array([1.0]) for name in PARAMETERS}
    p.update(colo_cost_factor=np.array([4.0]), minimum_vms=np.array([0.0]))
    cloud = blocks.hosting_costs(p, 100.0, 730.0, colo_share=0.0)
    half = blocks.hosting_costs(p, 100.0, 730.0, colo_share=0.5)
    # Half the compute at a quarter of the cost: 0.5 + 0.5 / 4 = 0.625 of it.
    assert half["compute"][0] == pytest.approx(0.625 * cloud["compute"][0])


def test_net_revenue_retention_single_cohort():
    p = {"monthly_churn": np.array([0.05]), "first_month_churn": np.array([0.2])}
    months = 14
    out = {
        "hosted_users": np.full((1, months), 100.0),
        "new_hosted_users": np.array([[100.0] + [0.0] * (months - 1)]),
        "price": np.array([[10.0] * 12 + [8.0, 8.0]]),
    }
    out["mrr"] = out["hosted_users"] * out["price"]
    nrr = blocks.net_revenue_retention(p, out, months)
    # Month 13: the 100 users of month 1, all new then, keep 0.8 * 0.95^11 at $8 not $10.
    assert nrr[0, 12] == pytest.approx(0.8 * 0.95**11 * 0.8)
    # Month 14: the stock of month 2 is all tenured: 0.95^12, again at $8 not $10.
    assert nrr[0, 13] == pytest.approx(0.95**12 * 0.8)
    assert np.isnan(nrr[0, :12]).all()


def test_compiled_model_matches_numpy(scenario, base_paths):
    p, out = base_paths
    block = {name: np.resize(value, 4096) for name, value in p.items()}
    compiled = forward_function(scenario)(block)
    for name in blocks.METRICS:
        np.testing.assert_allclose(
            compiled[name][:2000], out[name], rtol=1e-9, equal_nan=True, err_msg=name
        )


def test_fixed_prior_override_changes_paths(scenario):
    fixed = replace(
        scenario.priors["first_month_churn"], dist="fixed", params=(0.5,), source="test"
    )
    changed = {**scenario.priors, "first_month_churn": fixed}
    uniforms = block_uniforms(7, 0, list(PARAMETERS), 50)
    p = prior_values(replace(scenario, priors=changed), uniforms)
    out = blocks.simulate_paths(p, scenario.settings)
    cohort = previous(out["new_hosted_users"], 0 * p["capture_rate"])
    hosted = previous(out["hosted_users"], p["initial_hosted_users"])
    expected = cohort * 0.5 + (hosted - cohort) * p["monthly_churn"][:, None]
    np.testing.assert_allclose(out["churned_users"], expected, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), low=st.floats(0.0, 0.98), width=st.floats(0.01, 1.0))
def test_stock_flow_identity_any_prior_band(scenario, seed, low, width):
    # Every prior drawn from the band [low, low + width] of its own distribution.
    high = min(low + width, 1.0)
    uniforms = low + block_uniforms(seed, 0, list(PARAMETERS), 64) * (high - low)
    p = prior_values(scenario, uniforms)
    out = blocks.simulate_paths(p, scenario.settings)
    start = previous(out["hosted_users"], p["initial_hosted_users"])
    np.testing.assert_allclose(
        start + out["new_hosted_users"] - out["churned_users"], out["hosted_users"], rtol=1e-10
    )
    assert (out["self_hosted_users"] >= 0).all()
