"""Property-based checks of the priors parser and of the model's invariants."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast import blocks, summarize
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import _parse_prior, load_scenario
from forecast.simulate import prior_values

REPO = Path(__file__).resolve().parent.parent
SCENARIO = load_scenario("base", REPO / "priors")
numbers = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(low=numbers, high=numbers)
@settings(max_examples=300, deadline=None)
def test_positive_interval_parses_or_raises_input_error(low, high):
    table = {"interval": [low, high], "source": "test", "description": "test"}
    try:
        prior = _parse_prior("spot_price", table, Path("x.toml"))
    except InputError as error:
        assert "x.toml" in str(error)
        assert "spot_price" in str(error)
        return
    assert 0 < low < high
    assert math.isfinite(low)
    assert math.isfinite(high)
    assert prior.quantile(0.05) == pytest.approx(low, rel=1e-6)
    assert prior.quantile(0.95) == pytest.approx(high, rel=1e-6)


@given(low=st.floats(0.001, 0.98), width=st.floats(0.005, 0.5))
@settings(max_examples=60, deadline=None)
def test_probability_interval_becomes_fitting_beta(low, width):
    high = min(low + width, 0.995)
    prior = _parse_prior(
        "monthly_churn", {"interval": [low, high], "source": "t", "description": "t"}, Path("x")
    )
    assert prior.dist == "beta"
    assert prior.quantile(0.05) == pytest.approx(low, rel=1e-4, abs=1e-7)
    assert prior.quantile(0.95) == pytest.approx(high, rel=1e-4, abs=1e-7)


@given(value=st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=3)))
@settings(max_examples=100, deadline=None)
def test_non_numeric_value_raises_input_error(value):
    with pytest.raises(InputError):
        _parse_prior("spot_price", {"value": value, "source": "t", "description": "t"}, Path("x"))


uniform_rows = st.lists(
    st.floats(1e-9, 1 - 1e-9), min_size=len(PARAMETERS), max_size=len(PARAMETERS)
)


@given(rows=st.lists(uniform_rows, min_size=1, max_size=8))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_model_invariants_hold_anywhere_in_the_priors(rows):
    values = prior_values(SCENARIO, np.array(rows))
    paths = blocks.simulate_paths(values, SCENARIO.settings)

    for name, array in paths.items():
        if name == "net_revenue_retention":
            assert np.isnan(array[:, :12]).all()
            array = array[:, 12:]
        assert np.isfinite(array).all(), name
    for name in (
        "agent_users",
        "hosted_users",
        "self_hosted_users",
        "price",
        "mrr",
        "infra_cost",
        "team_cost",
        "total_cost",
        "new_hosted_users",
        "churned_users",
    ):
        assert (paths[name] >= 0).all(), name
    expected_cash = values["starting_cash"][:, None] + np.cumsum(paths["operating_profit"], axis=1)
    np.testing.assert_allclose(paths["cash"], expected_cash, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(
        paths["total_cost"],
        paths["infra_cost"] + paths["team_cost"] + paths["migration_cost"],
        rtol=1e-12,
    )
    table = summarize.summary_table(paths, SCENARIO.settings.months)
    ordered = table[["p5", "p10", "p25", "p50", "p75", "p90", "p95"]].to_numpy()
    assert (np.diff(ordered, axis=1) >= -1e-9 * np.abs(ordered[:, 1:]).clip(1)).all()
