"""What must be true: tree rules on data with a known box, and the drivers command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.drivers import (
    Condition,
    Rule,
    check_tree_options,
    describe_condition,
    describe_rule,
    find_drivers,
    parse_target,
    tree_rules,
)
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import load_scenario

PRIORS = Path(__file__).resolve().parent.parent / "priors"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("base", PRIORS)


@pytest.fixture(scope="module")
def known_box_rules():
    # The target is true exactly in the box a > 0.7 and b <= 0.4: 12% of the paths.
    rng = np.random.default_rng(3)
    features = pd.DataFrame(rng.uniform(size=(20_000, 3)), columns=["a", "b", "noise"])
    target = ((features["a"] > 0.7) & (features["b"] <= 0.4)).to_numpy().astype(float)
    return tree_rules(features, target, depth=2, min_leaf_share=0.02)


def test_tree_rules_best_rule_bounds(known_box_rules):
    best = {c.prior: c for c in known_box_rules[0].conditions}
    assert set(best) == {"a", "b"}
    assert best["a"].low == pytest.approx(0.7, abs=0.01)
    assert best["b"].high == pytest.approx(0.4, abs=0.01)


def test_tree_rules_best_rule_density(known_box_rules):
    assert known_box_rules[0].density == pytest.approx(1.0, abs=0.01)


def test_tree_rules_best_rule_coverage(known_box_rules):
    assert known_box_rules[0].coverage == pytest.approx(1.0, abs=0.02)


def test_tree_rules_best_rule_mass(known_box_rules):
    assert known_box_rules[0].mass == pytest.approx(0.3 * 0.4, abs=0.01)


def test_tree_rules_masses_sum_to_one(known_box_rules):
    assert sum(rule.mass for rule in known_box_rules) == pytest.approx(1.0)


def test_parse_target_breakeven(scenario):
    target = parse_target("breakeven_by=2027-12", scenario.settings.months)
    assert target.label == "breakeven_by=2027-12"


def test_parse_target_rejects_metric(scenario):
    with pytest.raises(InputError, match="target must be a break-even event"):
        parse_target("mrr=2027-12", scenario.settings.months)


def test_check_tree_options_rejects_depth():
    with pytest.raises(InputError, match="tree depth"):
        check_tree_options(0, 0.05)


def test_check_tree_options_rejects_share():
    with pytest.raises(InputError, match="smallest rule share"):
        check_tree_options(3, 0.8)


def test_describe_condition_open_below(scenario):
    text = describe_condition(Condition("spot_price", high=0.3), scenario)
    percentile = scenario.priors["spot_price"].cdf(0.3) * 100
    assert text == f"spot_price at most $0.3/VM-hour (P{percentile:.0f})"


def test_describe_condition_share_in_percent(scenario):
    text = describe_condition(Condition("capture_rate", low=0.003), scenario)
    assert text.startswith("capture_rate above 0.3% (P")


def test_describe_rule_figures(scenario):
    rule = Rule(
        conditions=(Condition("capture_rate", low=0.003),),
        density=0.78,
        mcse_density=0.02,
        coverage=0.5,
        mass=0.21,
        paths=100,
    )
    target = parse_target("breakeven_by=2027-12", scenario.settings.months)
    text = describe_rule(rule, target, scenario)
    assert ": 78% (+/- 2%) of paths break even by 2027-12, covering 21% of all paths" in text


def test_find_drivers_same_seed_identical(scenario):
    target = parse_target("breakeven_by=2028-12", scenario.settings.months)
    first = find_drivers(scenario, target, draws=2000, seed=5)
    second = find_drivers(scenario, target, draws=2000, seed=5)
    pd.testing.assert_frame_equal(first.table, second.table)


def test_find_drivers_best_rule_beats_average(scenario):
    target = parse_target("breakeven_by=2028-12", scenario.settings.months)
    result = find_drivers(scenario, target, draws=2000, seed=5)
    best = result.rules[0]
    assert best.density - 2 * best.mcse_density > result.probability
    assert math.isclose(sum(rule.mass for rule in result.rules), 1.0)


def test_cli_drivers_prints_rules():
    result = CliRunner().invoke(
        app,
        [
            "drivers",
            "--target",
            "breakeven_by=2028-12",
            "--draws",
            "1000",
            "--seed",
            "3",
            "--priors",
            str(PRIORS),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "breakeven_by=2028-12" in result.output
    first_rule = next(line for line in result.output.splitlines() if line.startswith("1. "))
    assert first_rule.split()[1] in PARAMETERS


def test_cli_drivers_writes_folder(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "drivers",
            "--target",
            "payback_by=2028-12",
            "--draws",
            "1000",
            "--seed",
            "3",
            "--priors",
            str(PRIORS),
            "--out",
            str(tmp_path / "drivers"),
        ],
    )
    assert result.exit_code == 0, result.output
    rules = pd.read_csv(tmp_path / "drivers" / "rules.csv")
    assert rules["mass"].sum() == pytest.approx(1.0)
    manifest = json.loads((tmp_path / "drivers" / "manifest.json").read_text())
    assert manifest["target"] == "payback_by=2028-12"
    assert manifest["seed"] == 3


def test_cli_drivers_existing_folder_exits_2(tmp_path):
    (tmp_path / "drivers").mkdir()
    result = CliRunner().invoke(
        app,
        ["drivers", "--seed", "3", "--priors", str(PRIORS), "--out", str(tmp_path / "drivers")],
    )
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_cli_drivers_bad_target_exits_2():
    result = CliRunner().invoke(
        app, ["drivers", "--target", "breakeven=2028", "--seed", "3", "--priors", str(PRIORS)]
    )
    assert result.exit_code == 2
    assert "unknown output" in result.output
