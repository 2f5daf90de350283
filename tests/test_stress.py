"""Stress tests: parsing --set, the paired runs and the shift table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.errors import InputError
from forecast.priors import load_scenario
from forecast.simulate import Band
from forecast.stress import paired_shift_errors, parse_stress, run_stress

PRIORS = Path(__file__).resolve().parent.parent / "priors"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("base", PRIORS)


def test_parse_stress_single_percentile(scenario):
    assert parse_stress("spot_price=p90", scenario) == ("spot_price", Band(0.9, 0.9))


def test_parse_stress_band(scenario):
    assert parse_stress("spot_price=p80:p100", scenario) == ("spot_price", Band(0.8, 1.0))


def test_parse_stress_fixed_value(scenario):
    assert parse_stress("spot_price=0.35", scenario) == ("spot_price", Band(value=0.35))


def test_parse_stress_value_of_fixed_prior(scenario):
    _, band = parse_stress("starting_cash=1e6", scenario)
    assert band.value == 1e6


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("spot_prise=p90", "unknown prior.*spot_price"),
        ("spot_price", "stress must be NAME=pXX"),
        ("spot_price=p120", "invalid percentile"),
        ("spot_price=p90:p80", "lower percentile below its upper"),
        ("spot_price=p100", "single percentile must be inside"),
        ("spot_price=-0.1", "outside the prior's support"),
        ("capture_rate=1.5", "outside the prior's support"),
        ("spot_price=cheap", "not a number or a percentile"),
        ("starting_cash=p90", "prior is fixed"),
    ],
)
def test_parse_stress_rejects_invalid(scenario, setting, message):
    with pytest.raises(InputError, match=message):
        parse_stress(setting, scenario)


@pytest.fixture(scope="module")
def stress_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stress") / "paid"
    return run_stress(
        "base",
        settings=["paid_share=p80:p100"],
        draws=3000,
        seed=11,
        priors_dir=PRIORS,
        out=out,
        with_charts=False,
        command=["test"],
    )


def test_run_stress_unstressed_equals_plain_run(stress_run, small_run):
    pd.testing.assert_frame_equal(stress_run.unstressed.headline, small_run.headline)


def test_run_stress_raises_breakeven_odds(stress_run):
    shift = stress_run.shift.set_index(["metric", "month", "statistic"])
    row = shift.loc[("p_breakeven_sustained", "2028-12", "probability")]
    assert row["stressed"] > row["unstressed"] + 4 * row["mcse_unstressed"]


def test_run_stress_shift_is_difference(stress_run):
    table = stress_run.shift
    assert (table["shift"] == table["stressed"] - table["unstressed"]).all()


def test_run_stress_changes_only_stressed_prior(stress_run):
    # Both runs share their random numbers: every other prior has the same draws.
    plain = stress_run.unstressed.draws.inputs
    held = stress_run.stressed.draws.inputs
    assert not np.array_equal(plain["paid_share"], held["paid_share"])
    for name in plain:
        if name != "paid_share":
            np.testing.assert_array_equal(plain[name], held[name], err_msg=name)


def test_run_stress_shift_error_by_hand(stress_run):
    from forecast.summarize import breakeven_months

    column = stress_run.unstressed.draws.months.index("2028-12")
    plain = breakeven_months(stress_run.unstressed.draws.metrics["operating_profit"])
    held = breakeven_months(stress_run.stressed.draws.metrics["operating_profit"])
    difference = (held["sustained"] <= column).astype(float) - (plain["sustained"] <= column)
    expected = difference.std(ddof=1) / np.sqrt(len(difference))
    shift = stress_run.shift.set_index(["metric", "month", "statistic"])
    row = shift.loc[("p_breakeven_sustained", "2028-12", "probability")]
    assert row["mcse_shift"] == pytest.approx(expected)


def test_paired_shift_errors_identical_runs():
    values = np.random.default_rng(2).normal(size=1000)
    errors = paired_shift_errors(values, values.copy(), seed=1)
    assert errors == {0.1: 0.0, 0.5: 0.0, 0.9: 0.0}


def test_paired_shift_errors_constant_offset():
    values = np.random.default_rng(2).normal(size=1000)
    errors = paired_shift_errors(values, values + 5.0, seed=1)
    assert max(errors.values()) == pytest.approx(0.0, abs=1e-9)


def test_paired_shift_errors_independent_runs_positive():
    rng = np.random.default_rng(2)
    errors = paired_shift_errors(rng.normal(size=1000), rng.normal(size=1000), seed=1)
    # Two independent medians of 1,000 normals: sqrt(2 * pi / 2 / 1000), about 0.056.
    assert errors[0.5] == pytest.approx(0.056, rel=0.3)


def test_run_stress_writes_folder(stress_run):
    names = {p.name for p in stress_run.path.iterdir()}
    assert names == {"manifest.json", "shift.csv", "stressed", "unstressed"}
    manifest = json.loads((stress_run.path / "manifest.json").read_text())
    assert manifest["stresses"] == {"paid_share": {"low": 0.8, "high": 1.0, "value": None}}
    assert manifest["seed"] == 11


def test_cli_stress_without_set_exits_2(tmp_path):
    result = CliRunner().invoke(
        app, ["stress", "--seed", "1", "--priors", str(PRIORS), "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 2
    assert "no stress given" in result.output
    assert not (tmp_path / "s").exists()


def test_cli_stress_prints_shift(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "stress",
            "--set",
            "spot_price=p95",
            "--draws",
            "300",
            "--seed",
            "1",
            "--no-charts",
            "--priors",
            str(PRIORS),
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "spot_price in p95-p95" in result.output
