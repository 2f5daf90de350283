"""Priors files: families from 90% intervals, validation errors, scenario layering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from forecast.errors import InputError
from forecast.priors import beta_from_interval, list_scenarios, load_scenario, month_range


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def set_prior(priors: Path, name: str, body: str) -> None:
    """Append an override of one prior to the base scenario file."""
    scenario = priors / "scenarios" / "base.toml"
    scenario.write_text(scenario.read_text() + f"\n[priors.{name}]\n{body}\n")


def test_lognormal_interval_parameters_by_hand(priors_dir):
    prior = load_scenario("base", priors_dir).priors["agent_users_reference"]
    # 90% interval [5M, 10M]: mu is the mean of the logs, sigma spans 2 x 1.6449 sds.
    assert prior.dist == "lognormal"
    assert prior.params[0] == pytest.approx((math.log(5e6) + math.log(10e6)) / 2)
    assert prior.params[1] == pytest.approx(math.log(2) / (2 * 1.6448536269514722))


def test_lognormal_interval_quantiles_match_ends(priors_dir):
    prior = load_scenario("base", priors_dir).priors["agent_users_reference"]
    assert prior.quantile(0.05) == pytest.approx(5e6, rel=1e-9)
    assert prior.quantile(0.95) == pytest.approx(10e6, rel=1e-9)


def test_beta_interval_quantiles_match_ends():
    a, b = beta_from_interval(0.03, 0.08)
    from scipy import stats

    assert stats.beta.ppf(0.05, a, b) == pytest.approx(0.03, rel=1e-6)
    assert stats.beta.ppf(0.95, a, b) == pytest.approx(0.08, rel=1e-6)


def test_probability_interval_defaults_to_beta(priors_dir):
    assert load_scenario("base", priors_dir).priors["monthly_churn"].dist == "beta"


def test_scenario_override_replaces_distribution(priors_dir):
    base = load_scenario("base", priors_dir).priors["capture_rate"]
    conservative = load_scenario("conservative", priors_dir).priors["capture_rate"]
    assert conservative.quantile(0.05) == pytest.approx(0.0007, rel=1e-6)
    assert conservative.description == base.description
    assert "conservative" in conservative.source


def test_every_prior_has_source_and_description(priors_dir):
    for name in list_scenarios(priors_dir):
        for prior in load_scenario(name, priors_dir).priors.values():
            assert prior.source.strip(), prior.name
            assert prior.description.strip(), prior.name
            assert "shared" not in prior.source
            assert "/" not in prior.source.split()[0]


def test_list_scenarios_lists_shipped(priors_dir):
    expected = {"base", "conservative", "optimistic", "segment", "calibrated"}
    assert set(list_scenarios(priors_dir)) == expected


def test_month_range_has_no_gaps():
    months = month_range("2026-11", "2027-02")
    assert months == ["2026-11", "2026-12", "2027-01", "2027-02"]


def test_horizon_is_36_months(priors_dir):
    months = load_scenario("base", priors_dir).settings.months
    assert len(months) == 36
    assert (months[0], months[-1]) == ("2026-01", "2028-12")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('interval = [10.0, 5.0]\nsource = "x"', "reversed"),
        ('interval = [0.0, 5.0]\nsource = "x"', "above zero"),
        ('interval = [-1.0, 5.0]\nsource = "x"', "above zero"),
        ('interval = [0.2, 0.1]\nsource = "x"', "reversed"),
        ('interval = [nan, 5.0]\nsource = "x"', "finite"),
        ('interval = [1.0, inf]\nsource = "x"', "finite"),
        ('interval = [1.0]\nsource = "x"', "two numbers"),
        ('interval = ["a", 2]\nsource = "x"', "expected a number"),
        ("value = 3.0", "no source"),
        ('value = 3.0\ninterval = [1.0, 2.0]\nsource = "x"', "exactly one"),
        ('interval = [1.0, 2.0]\ndist = "gamma"\nsource = "x"', "unknown distribution"),
        ('interval = [1.0, 2.0]\nsource = "x"\nsorce = "y"', "Did you mean 'source'"),
        ('interval = [1.0, 2.0]\ndist = "normal"\nsource = "x"', "normal prior"),
    ],
)
def test_invalid_spot_price_rejected(tmp_priors, body, match):
    set_prior(tmp_priors, "spot_price", body)
    with pytest.raises(InputError, match=match) as caught:
        load_scenario("base", tmp_priors)
    assert "base.toml" in str(caught.value)
    assert "spot_price" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('value = 1.5\nsource = "x"', "between 0 and 1"),
        ('interval = [0.5, 1.5]\nsource = "x"', "between 0 and 1"),
        ('range = [-0.1, 0.5]\nsource = "x"', "between 0 and 1"),
    ],
)
def test_probability_outside_unit_interval_rejected(tmp_priors, body, match):
    set_prior(tmp_priors, "monthly_churn", body)
    with pytest.raises(InputError, match=match):
        load_scenario("base", tmp_priors)


def test_unknown_prior_suggests_name(tmp_priors):
    set_prior(tmp_priors, "spot_prize", 'value = 1.0\nsource = "x"')
    with pytest.raises(InputError, match="Did you mean 'spot_price'"):
        load_scenario("base", tmp_priors)


def test_malformed_toml_names_file(tmp_priors):
    write(tmp_priors / "scenarios" / "base.toml", 'description = "x"\n[priors.spot_price\n')
    with pytest.raises(InputError, match="invalid TOML") as caught:
        load_scenario("base", tmp_priors)
    assert "scenarios/base.toml" in str(caught.value)


def test_unknown_scenario_lists_valid(priors_dir):
    with pytest.raises(InputError, match="conservative") as caught:
        load_scenario("conservativ", priors_dir)
    assert "Did you mean" in str(caught.value)


def test_scenario_extending_itself_rejected(tmp_priors):
    write(tmp_priors / "scenarios" / "loop.toml", 'description = "x"\nextends = "loop"\n')
    with pytest.raises(InputError, match="extends itself"):
        load_scenario("loop", tmp_priors)


def test_scenario_cycle_of_two_rejected(tmp_priors):
    write(tmp_priors / "scenarios" / "a.toml", 'description = "x"\nextends = "b"\n')
    write(tmp_priors / "scenarios" / "b.toml", 'description = "y"\nextends = "a"\n')
    with pytest.raises(InputError, match="a -> b -> a"):
        load_scenario("a", tmp_priors)


def test_scenario_extends_chain_applies_in_order(tmp_priors):
    write(
        tmp_priors / "scenarios" / "child.toml",
        'description = "x"\nextends = "conservative"\n'
        '[priors.spot_price]\nvalue = 0.3\nsource = "test"\n',
    )
    scenario = load_scenario("child", tmp_priors)
    assert scenario.priors["spot_price"].params == (0.3,)
    assert scenario.priors["capture_rate"].quantile(0.05) == pytest.approx(0.0007, rel=1e-6)


def test_empty_scenario_file_rejected(tmp_priors):
    write(tmp_priors / "scenarios" / "empty.toml", "")
    with pytest.raises(InputError, match="empty"):
        load_scenario("empty", tmp_priors)


def test_horizon_ending_before_start_rejected(tmp_priors):
    write(
        tmp_priors / "scenarios" / "base.toml",
        'description = "x"\n[settings]\nend = "2025-12"\n',
    )
    with pytest.raises(InputError, match="ends before it starts") as caught:
        load_scenario("base", tmp_priors)
    assert "scenarios/base.toml" in str(caught.value)


def test_missing_prior_in_base_named(tmp_priors):
    base = tmp_priors / "base.toml"
    text = base.read_text()
    start = text.index("[priors.relay_cost_per_user]")
    end = text.index("[priors.control_plane_monthly]")
    base.write_text(text[:start] + text[end:])
    with pytest.raises(InputError, match="relay_cost_per_user"):
        load_scenario("base", tmp_priors)


def test_fixed_prior_ppf_is_constant(priors_dir):
    prior = load_scenario("base", priors_dir).priors["vm_memory_gb"]
    assert np.all(prior.ppf(np.array([0.01, 0.5, 0.99])) == 128.0)


def test_equal_interval_ends_suggest_fixed_value(tmp_priors):
    set_prior(tmp_priors, "spot_price", 'interval = [7.0, 7.0]\nsource = "x"')
    with pytest.raises(InputError, match="value = 7 for a fixed prior"):
        load_scenario("base", tmp_priors)


def test_override_of_wording_keeps_distribution(tmp_priors, priors_dir):
    set_prior(tmp_priors, "spot_price", 'source = "Board-approved quote"')
    prior = load_scenario("base", tmp_priors).priors["spot_price"]
    original = load_scenario("base", priors_dir).priors["spot_price"]
    assert prior.params == original.params
    assert prior.source == "Board-approved quote"


def test_missing_scenarios_folder_named(tmp_priors):
    import shutil

    shutil.rmtree(tmp_priors / "scenarios")
    with pytest.raises(InputError, match="scenarios folder not found"):
        load_scenario("base", tmp_priors)
