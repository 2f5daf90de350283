"""Rank correlations between priors: recovery, independence elsewhere, rejection."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from forecast.copula import (
    components,
    correlation_matrix,
    correlation_notice,
    gaussian_copula,
)
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import load_scenario
from forecast.simulate import block_uniforms, correlate_uniforms

NAMES = list(PARAMETERS)
DRAWS = 100_000


@pytest.fixture(scope="module")
def base_draws() -> tuple[list, np.ndarray, np.ndarray]:
    """Base-scenario correlations, 100K independent uniforms and their correlated copy."""
    scenario = load_scenario("base", Path(__file__).resolve().parent.parent / "priors")
    uniforms = block_uniforms(5, 0, NAMES, DRAWS)
    return list(scenario.correlations), uniforms, correlate_uniforms(scenario, uniforms)


def spearman_matrix(values: np.ndarray) -> np.ndarray:
    return stats.spearmanr(values).statistic


def test_copula_recovers_declared_rank_correlations(base_draws):
    pairs, _, correlated = base_draws
    rho = spearman_matrix(correlated)
    assert len(pairs) >= 2
    for first, second, declared in pairs:
        # The sampling sd of a Spearman correlation is about (1 - rho^2) / sqrt(n),
        # 0.003 here, so 0.015 is five of them.
        recovered = rho[NAMES.index(first), NAMES.index(second)]
        assert abs(recovered - declared) < 0.015, (first, second, recovered)


def test_copula_leaves_undeclared_pairs_uncorrelated(base_draws):
    pairs, _, correlated = base_draws
    declared = {frozenset((a, b)) for a, b, _ in pairs}
    rho = spearman_matrix(correlated)
    worst = max(
        abs(rho[i, j])
        for i, j in combinations(range(len(NAMES)), 2)
        if frozenset((NAMES[i], NAMES[j])) not in declared
    )
    assert worst < 0.02


def test_copula_keeps_uniform_marginals(base_draws):
    pairs, _, correlated = base_draws
    for name in {name for a, b, _ in pairs for name in (a, b)}:
        column = correlated[:, NAMES.index(name)]
        statistic = stats.kstest(column, "uniform").statistic
        # The 99.9% critical value of the KS statistic at n = 100K is 1.95 / sqrt(n).
        assert statistic < 1.95 / np.sqrt(DRAWS), name


def test_copula_keeps_prior_values_marginal(base_draws):
    _, uniforms, correlated = base_draws
    scenario = load_scenario("base", Path(__file__).resolve().parent.parent / "priors")
    prior = scenario.priors["capture_rate"]
    column = NAMES.index("capture_rate")
    independent = prior.ppf(uniforms[:, column])
    dependent = prior.ppf(correlated[:, column])
    for q in (0.05, 0.5, 0.95):
        expected = scenario.priors["capture_rate"].quantile(q)
        assert np.quantile(dependent, q) == pytest.approx(expected, rel=0.02)
        assert np.quantile(independent, q) == pytest.approx(expected, rel=0.02)


def test_copula_leaves_unlinked_columns_untouched(base_draws):
    pairs, uniforms, correlated = base_draws
    linked = {name for a, b, _ in pairs for name in (a, b)}
    unlinked = [i for i, name in enumerate(NAMES) if name not in linked]
    np.testing.assert_array_equal(correlated[:, unlinked], uniforms[:, unlinked])


def test_copula_keeps_first_prior_of_component():
    uniforms = block_uniforms(3, 0, NAMES, 1000)
    pairs = [("capture_rate", "agent_users_reference", -0.5)]
    out = gaussian_copula(uniforms, NAMES, pairs)
    first = min(NAMES.index("capture_rate"), NAMES.index("agent_users_reference"))
    np.testing.assert_allclose(out[:, first], uniforms[:, first], rtol=1e-12)


def test_correlation_matrix_uses_sine_transform():
    matrix = correlation_matrix(["a", "b"], [("a", "b", 0.5)])
    # 2 sin(pi * 0.5 / 6) = 2 sin(15 degrees) = 0.517638...
    assert matrix[0, 1] == pytest.approx(0.5176380902050415, abs=1e-15)


def test_components_group_linked_priors():
    names = ["a", "b", "c", "d", "e"]
    groups = components(names, [("a", "c", 0.1), ("c", "d", 0.2)])
    assert groups == [[0, 2, 3]]


def test_copula_rejects_inconsistent_triangle():
    names = ["a", "b", "c", "d", "e"]
    pairs = [("a", "b", 0.9), ("b", "c", 0.9), ("a", "c", -0.9), ("d", "e", 0.3)]
    uniforms = np.full((4, 5), 0.5)
    with pytest.raises(InputError, match=r"not positive semi-definite") as raised:
        gaussian_copula(uniforms, names, pairs)
    message = str(raised.value)
    assert "a:b = 0.9" in message
    assert "b:c = 0.9" in message
    assert "a:c = -0.9" in message
    assert "d:e" not in message


def test_copula_later_declaration_replaces_earlier():
    names = ["a", "b", "c"]
    # The first declaration alone would be inconsistent with the other two.
    pairs = [("a", "c", -0.9), ("a", "b", 0.9), ("b", "c", 0.9), ("c", "a", 0.8)]
    out = gaussian_copula(block_uniforms(1, 0, names, 20_000), names, pairs)
    rho = spearman_matrix(out)
    assert rho[0, 2] == pytest.approx(0.8, abs=0.02)


def test_scenario_file_with_inconsistent_correlations_rejected(tmp_priors):
    scenario_file = tmp_priors / "scenarios" / "clash.toml"
    scenario_file.write_text(
        'description = "Inconsistent correlations"\n'
        'extends = "base"\n'
        "[correlations]\n"
        '"capture_rate:price_elasticity" = 0.9\n'
        '"price_elasticity:signup_rate" = 0.9\n'
        '"capture_rate:signup_rate" = -0.9\n'
    )
    with pytest.raises(InputError, match=r"capture_rate:signup_rate = -0\.9") as raised:
        load_scenario("clash", tmp_priors)
    assert "clash.toml" in str(raised.value)
    assert "spot_price:colo_cost_factor" not in str(raised.value)


def test_correlation_notice_names_pairs():
    notice = correlation_notice([("spot_price", "colo_cost_factor", 0.4)])
    assert "spot_price:colo_cost_factor = 0.4" in notice


def test_correlation_notice_none_without_pairs():
    assert correlation_notice([("spot_price", "colo_cost_factor", 0.0)]) is None
