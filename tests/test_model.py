"""The PyMC model agrees with the numpy equations and with the priors' own densities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forecast import blocks
from forecast.parameters import PARAMETERS
from forecast.priors import load_scenario
from forecast.simulate import (
    PATHS_PER_BLOCK,
    Band,
    block_uniforms,
    forward_function,
    prior_values,
    simulate,
)

PRIORS = Path(__file__).resolve().parent.parent / "priors"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("base", PRIORS)


def test_pymc_forward_matches_numpy(scenario):
    uniforms = block_uniforms(5, 0, list(PARAMETERS), PATHS_PER_BLOCK)
    values = prior_values(scenario, uniforms)
    compiled = forward_function(scenario)(values)
    direct = blocks.simulate_paths(values, scenario.settings)
    for name in blocks.METRICS:
        np.testing.assert_allclose(compiled[name], direct[name], rtol=1e-9, err_msg=name)


def test_pymc_prior_logp_matches_scipy(scenario):
    import pymc as pm

    from forecast.model import build_model

    model = build_model(scenario, 3)
    for name in ("spot_price", "monthly_churn", "capture_rate"):
        prior = scenario.priors[name]
        points = np.array([prior.quantile(q) for q in (0.1, 0.5, 0.9)])
        logp = pm.logp(model[name], points).eval()
        expected = prior._scipy.logpdf(points)
        np.testing.assert_allclose(logp, expected, rtol=1e-6, err_msg=name)


def test_same_seed_same_paths(scenario):
    first = simulate(scenario, 500, seed=9)
    second = simulate(scenario, 500, seed=9)
    np.testing.assert_array_equal(first.metrics["cash"], second.metrics["cash"])


def test_different_seed_different_paths(scenario):
    first = simulate(scenario, 500, seed=9)
    second = simulate(scenario, 500, seed=10)
    assert not np.array_equal(first.metrics["cash"], second.metrics["cash"])


def test_fewer_paths_are_a_prefix(scenario):
    many = simulate(scenario, 5000, seed=4)
    few = simulate(scenario, 300, seed=4)
    np.testing.assert_array_equal(few.metrics["mrr"], many.metrics["mrr"][:300])


def test_scenarios_share_random_numbers(priors_dir):
    # Conservative overrides capture and paid share only: every other prior gets the
    # same draws, so the spot prices of the two scenarios match path by path.
    base = simulate(load_scenario("base", priors_dir), 400, seed=2)
    other = simulate(load_scenario("conservative", priors_dir), 400, seed=2)
    np.testing.assert_array_equal(base.inputs["spot_price"], other.inputs["spot_price"])
    assert not np.array_equal(base.inputs["capture_rate"], other.inputs["capture_rate"])


def test_stress_band_stays_inside_prior_quantiles(scenario):
    stressed = simulate(scenario, 400, seed=2, stresses={"spot_price": Band(0.8, 1.0)})
    floor = scenario.priors["spot_price"].quantile(0.8)
    assert stressed.inputs["spot_price"].min() >= floor


def test_stress_fixed_value_applies(scenario):
    stressed = simulate(scenario, 100, seed=2, stresses={"spot_price": Band(value=0.5)})
    assert np.all(stressed.inputs["spot_price"] == 0.5)


def test_outputs_finite_and_nonnegative(scenario):
    draws = simulate(scenario, 2000, seed=8)
    for name, values in draws.metrics.items():
        if name == "net_revenue_retention":
            # Undefined until a cohort is 12 months old, then finite.
            assert np.isnan(values[:, :12]).all()
            values = values[:, 12:]
        assert np.isfinite(values).all(), name
    for name in ("hosted_users", "self_hosted_users", "infra_cost", "team_cost", "mrr"):
        assert (draws.metrics[name] >= 0).all(), name


def test_run_order_does_not_change_numbers(priors_dir):
    base = load_scenario("base", priors_dir)
    alone = simulate(base, 600, seed=21)
    simulate(load_scenario("conservative", priors_dir), 900, seed=5)
    simulate(load_scenario("segment", priors_dir), 300, seed=21)
    again = simulate(base, 600, seed=21)
    for name in blocks.METRICS:
        np.testing.assert_array_equal(alone.metrics[name], again.metrics[name], err_msg=name)
