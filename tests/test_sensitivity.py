"""Sensitivity review: Sobol indices against closed forms, outputs, tables and the folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.errors import InputError
from forecast.outputs import Output, base_uniforms, evaluate_outputs, free_priors, parse_output
from forecast.priors import load_scenario
from forecast.sensitivity import (
    CORRELATED_NOTE,
    NEGATIVE_INDEX_TEXT,
    analyse,
    derived_seed,
    index_text,
    power_of_two,
    rank_correlation_from_run,
    run_sensitivity,
    sobol_indices,
    spearman_table,
    tornado_table,
)
from forecast.simulate import simulate

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]


def additive(design: np.ndarray) -> np.ndarray:
    """Y = 3 X1 + X2 with uniform inputs: S1 = ST = 9/10 and 1/10."""
    return (3 * design[:, 0] + design[:, 1])[:, None]


def product(design: np.ndarray) -> np.ndarray:
    """Y = X1 X2 with uniform inputs: S1 = 3/7 and ST = 4/7 for each input."""
    return (design[:, 0] * design[:, 1])[:, None]


def test_sobol_indices_additive_model_first_order():
    table, _ = sobol_indices(additive, ["x1", "x2"], ["y"], 4096, seed=5)
    assert table["S1"].to_numpy() == pytest.approx([0.9, 0.1], abs=0.02)


def test_sobol_indices_additive_model_total():
    table, _ = sobol_indices(additive, ["x1", "x2"], ["y"], 4096, seed=5)
    assert table["ST"].to_numpy() == pytest.approx([0.9, 0.1], abs=0.02)


def test_sobol_indices_product_model_first_order():
    table, _ = sobol_indices(product, ["x1", "x2"], ["y"], 8192, seed=5)
    assert table["S1"].to_numpy() == pytest.approx([3 / 7, 3 / 7], abs=0.02)


def test_sobol_indices_product_model_total():
    table, _ = sobol_indices(product, ["x1", "x2"], ["y"], 8192, seed=5)
    assert table["ST"].to_numpy() == pytest.approx([4 / 7, 4 / 7], abs=0.02)


def test_sobol_indices_intervals_cover_closed_form():
    table, _ = sobol_indices(product, ["x1", "x2"], ["y"], 8192, seed=5)
    assert ((table["S1"] - 3 / 7).abs() <= table["S1_conf"]).all()
    assert ((table["ST"] - 4 / 7).abs() <= table["ST_conf"]).all()


def test_sobol_indices_evaluation_count():
    _, evaluations = sobol_indices(additive, ["x1", "x2", "x3"], ["y"], 100, seed=1)
    assert evaluations == 128 * (3 + 2)


def test_sobol_indices_same_seed_identical():
    first, _ = sobol_indices(product, ["x1", "x2"], ["y"], 256, seed=3)
    second, _ = sobol_indices(product, ["x1", "x2"], ["y"], 256, seed=3)
    pd.testing.assert_frame_equal(first, second)


def test_sobol_indices_constant_output_nan():
    table, _ = sobol_indices(lambda d: np.ones((len(d), 1)), ["x1", "x2"], ["y"], 64, seed=3)
    assert table["S1"].isna().all()


def test_power_of_two_rounds_up():
    assert power_of_two(1000) == 1024
    assert power_of_two(1024) == 1024
    assert power_of_two(1025) == 2048
    assert power_of_two(1) == 1


def test_derived_seed_nonzero_and_stable():
    assert derived_seed(0, "sobol design") != 0
    assert derived_seed(7, "a") == derived_seed(7, "a")
    assert derived_seed(7, "a") != derived_seed(7, "b")


def test_index_text_negative_estimate():
    assert index_text(-0.02, 0.05) == NEGATIVE_INDEX_TEXT


def test_index_text_positive_estimate():
    assert index_text(0.4321, 0.05) == "43.2% +/- 5.0%"


def test_index_text_missing_estimate():
    assert index_text(math.nan, math.nan) == "n/a (output does not vary)"


def metrics_by_hand() -> dict[str, np.ndarray]:
    profit = np.array(
        [
            [-5.0, -1.0, 2.0, 3.0],  # sustained from month 2, payback never (sum -1)
            [-1.0, 1.0, 1.0, 1.0],  # sustained from month 1, payback from month 1
            [1.0, -1.0, -1.0, -1.0],  # never
        ]
    )
    cash = 10 + np.cumsum(profit, axis=1)
    mrr = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [0.0, 0.0, 0.0, 9.0]])
    return {"operating_profit": profit, "cash": cash, "mrr": mrr}


def test_output_breakeven_indicator_by_hand():
    output = Output("breakeven_by", "2026-02")
    assert output.per_path(metrics_by_hand(), MONTHS).tolist() == [0.0, 1.0, 0.0]


def test_output_payback_indicator_by_hand():
    output = Output("payback_by", "2026-04")
    assert output.per_path(metrics_by_hand(), MONTHS).tolist() == [0.0, 1.0, 0.0]


def test_output_minimum_cash_by_hand():
    output = Output("minimum_cash", "2026-02")
    assert output.per_path(metrics_by_hand(), MONTHS).tolist() == [4.0, 9.0, 10.0]


def test_output_metric_at_month():
    output = Output("metric", "2026-03", "mrr")
    assert output.per_path(metrics_by_hand(), MONTHS).tolist() == [3.0, 7.0, 0.0]


def test_parse_output_metric_and_month():
    assert parse_output("mrr=2026-03", MONTHS) == Output("metric", "2026-03", "mrr")


def test_parse_output_minimum_cash_defaults_to_end():
    assert parse_output("minimum_cash", MONTHS) == Output("minimum_cash", "2026-04")


def test_parse_output_unknown_name():
    with pytest.raises(InputError, match=r"unknown output.*Did you mean 'mrr'"):
        parse_output("mrrr=2026-01", MONTHS)


def test_parse_output_month_outside_horizon():
    with pytest.raises(InputError, match=r"outside the horizon.*2026-01 to 2026-04"):
        parse_output("breakeven_by=2030-12", MONTHS)


def test_tornado_table_swing_and_order():
    sweep = pd.DataFrame(
        {
            "output": ["y"] * 4,
            "statistic": ["p50"] * 4,
            "prior": ["a", "a", "b", "b"],
            "percentile": [0.1, 0.9, 0.1, 0.9],
            "prior_value": [1.0, 2.0, 3.0, 4.0],
            "estimate": [10.0, 12.0, 20.0, 5.0],
            "mcse": [0.1] * 4,
        }
    )
    baseline = pd.DataFrame({"output": ["y"], "estimate": [11.0]})
    table = tornado_table(sweep, baseline)
    assert table["prior"].tolist() == ["b", "a"]
    assert table["swing"].tolist() == [15.0, 2.0]
    assert table["baseline"].tolist() == [11.0, 11.0]


def test_spearman_table_monotone_prior():
    x = np.arange(100.0)
    values = np.column_stack([x**3, -x])
    outputs = [Output("metric", "2026-01", "mrr"), Output("metric", "2026-01", "cash")]
    table = spearman_table({"a": x}, outputs, values).set_index("output")
    assert table.loc["mrr=2026-01", "rho"] == pytest.approx(1.0)
    assert table.loc["cash=2026-01", "rho"] == pytest.approx(-1.0)


def test_spearman_table_interval_brackets_rho():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=500)
    values = (x + rng.uniform(size=500))[:, None]
    table = spearman_table({"a": x}, [Output("metric", "2026-01", "mrr")], values)
    row = table.iloc[0]
    assert row["rho_low"] < row["rho"] < row["rho_high"]


@pytest.fixture(scope="module")
def base_scenario():
    return load_scenario("base", Path(__file__).resolve().parent.parent / "priors")


def test_base_uniforms_reproduce_plain_run(base_scenario):
    from forecast.simulate import prior_values

    plain = simulate(base_scenario, 300, seed=4)
    values = prior_values(base_scenario, base_uniforms(base_scenario, 300, seed=4))
    assert np.array_equal(values["capture_rate"], plain.inputs["capture_rate"])
    assert np.array_equal(values["spot_price"], plain.inputs["spot_price"])


def test_evaluate_outputs_matches_plain_run(base_scenario):
    plain = simulate(base_scenario, 300, seed=4)
    output = Output("metric", "2027-06", "mrr")
    values = evaluate_outputs(base_scenario, base_uniforms(base_scenario, 300, 4), [output])
    column = plain.months.index("2027-06")
    assert np.array_equal(values[:, 0], plain.metrics["mrr"][:, column])


@pytest.fixture(scope="module")
def small_review(base_scenario):
    outputs = [
        parse_output(text, base_scenario.settings.months)
        for text in ("breakeven_by=2028-12", "mrr=2028-12")
    ]
    return analyse(
        base_scenario,
        outputs,
        draws=400,
        seed=9,
        spider_priors=2,
        sobol_output=outputs[1],
        sobol_samples=32,
    )


def test_analyse_same_seed_identical(base_scenario, small_review):
    before = simulate(base_scenario, 500, seed=1)
    again = analyse(
        base_scenario,
        small_review.outputs,
        draws=400,
        seed=9,
        spider_priors=2,
        sobol_output=small_review.outputs[1],
        sobol_samples=32,
    )
    after = simulate(base_scenario, 500, seed=1)
    pd.testing.assert_frame_equal(again.tornado, small_review.tornado)
    pd.testing.assert_frame_equal(again.sobol, small_review.sobol)
    pd.testing.assert_frame_equal(again.spearman, small_review.spearman)
    assert np.array_equal(before.metrics["cash"], after.metrics["cash"])


def test_analyse_baseline_matches_plain_run(base_scenario, small_review):
    plain = simulate(base_scenario, 400, seed=9)
    column = plain.months.index("2028-12")
    expected = float(np.median(plain.metrics["mrr"][:, column]))
    baseline = small_review.baseline.set_index("output")
    assert baseline.loc["mrr=2028-12", "estimate"] == expected


def test_analyse_tornado_held_value_by_hand(base_scenario, small_review):
    # Holding capture_rate at its P90 must equal a plain stressed run with that value.
    from forecast.simulate import Band

    value = base_scenario.priors["capture_rate"].quantile(0.9)
    stressed = simulate(base_scenario, 400, seed=9, stresses={"capture_rate": Band(value=value)})
    column = stressed.months.index("2028-12")
    expected = float(np.median(stressed.metrics["mrr"][:, column]))
    rows = small_review.tornado.set_index(["output", "prior"])
    assert rows.loc[("mrr=2028-12", "capture_rate"), "at_p90"] == pytest.approx(expected)


def test_analyse_spider_agrees_with_tornado(small_review):
    spider = small_review.spider.set_index(["output", "prior", "percentile"])["estimate"]
    compared = 0
    for row in small_review.tornado.itertuples():
        if (row.output, row.prior, 0.9) in spider.index:
            assert spider[(row.output, row.prior, 0.1)] == row.at_p10
            assert spider[(row.output, row.prior, 0.9)] == row.at_p90
            compared += 1
    assert compared == 2 * 2


def test_analyse_skips_fixed_priors(small_review):
    assert "starting_cash" not in set(small_review.tornado["prior"])
    assert "starting_cash" not in set(small_review.sobol["prior"])


def test_analyse_sobol_outputs_per_year(small_review):
    labels = list(dict.fromkeys(small_review.sobol["output"]))
    assert labels == ["mrr=2026-12", "mrr=2027-12", "mrr=2028-12"]


def test_analyse_sobol_evaluation_count(small_review):
    priors = small_review.tornado["prior"].nunique()
    assert small_review.sobol_evaluations == 32 * (priors + 2)


def test_analyse_spider_percentiles(small_review):
    counts = small_review.spider.groupby(["output", "prior"]).size()
    assert (counts == 7).all()
    assert len(counts) == 2 * 2


def test_run_sensitivity_writes_folder(tmp_path, priors_dir):
    path, _ = run_sensitivity(
        "base",
        outputs=["mrr=2028-12"],
        draws=200,
        seed=3,
        sobol_output="mrr=2028-12",
        sobol_samples=16,
        spider_priors=1,
        priors_dir=priors_dir,
        out=tmp_path / "review",
        with_charts=True,
        command=["test"],
    )
    names = {p.name for p in path.iterdir()}
    assert {"manifest.json", "tornado.csv", "spearman.csv", "sobol.csv", "spider.csv"} <= names
    assert (path / "charts" / "tornado_mrr_2028_12.svg").is_file()
    assert (path / "charts" / "spider_mrr_2028_12.png").is_file()
    assert (path / "charts" / "sobol_mrr_2027_12.png").is_file()
    manifest = json.loads((path / "manifest.json").read_text())
    priors = len(free_priors(load_scenario("base", priors_dir)))
    assert manifest["sensitivity"]["sobol_model_evaluations"] == 16 * (priors + 2)
    # The base priors declare rank correlations, which Sobol indices do not account for.
    assert manifest["sensitivity"]["sobol_inputs_correlated"] is True
    assert manifest["seed"] == 3


def test_run_sensitivity_existing_folder_rejected(tmp_path, priors_dir):
    (tmp_path / "review").mkdir()
    with pytest.raises(InputError, match="already exists"):
        run_sensitivity(
            "base",
            outputs=["mrr=2028-12"],
            draws=100,
            seed=3,
            sobol_output=None,
            priors_dir=priors_dir,
            out=tmp_path / "review",
        )


def test_run_sensitivity_correlated_scenario_noted(tmp_path, tmp_priors):
    scenario_file = tmp_priors / "scenarios" / "base.toml"
    scenario_file.write_text(
        scenario_file.read_text() + '\n[correlations]\n"capture_rate:signup_rate" = 0.5\n'
    )
    path, _ = run_sensitivity(
        "base",
        outputs=["mrr=2028-12"],
        draws=100,
        seed=3,
        sobol_output="mrr=2028-12",
        sobol_samples=8,
        spider_priors=1,
        priors_dir=tmp_priors,
        out=tmp_path / "review",
        with_charts=False,
    )
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["sensitivity"]["sobol_inputs_correlated"] is True
    assert CORRELATED_NOTE in manifest["sensitivity"]["notes"]


@pytest.mark.parametrize(
    ("draws", "samples", "spider", "message"),
    [
        (5, 64, 2, "at least 10 paths"),
        (100, 1, 2, "Sobol sample size"),
        (100, 64, 0, "at least 1 prior"),
    ],
)
def test_check_review_options_rejects_invalid(draws, samples, spider, message):
    from forecast.sensitivity import check_review_options

    with pytest.raises(InputError, match=message):
        check_review_options(draws, samples, spider)


def test_cli_sensitivity_unknown_output_exits_2(tmp_path, priors_dir):
    result = CliRunner().invoke(
        app,
        [
            "sensitivity",
            "--output",
            "revenue=2028-12",
            "--seed",
            "1",
            "--priors",
            str(priors_dir),
            "--out",
            str(tmp_path / "review"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown output" in result.output
    assert not (tmp_path / "review").exists()


def test_cli_sensitivity_prints_tables(tmp_path, priors_dir):
    result = CliRunner().invoke(
        app,
        [
            "sensitivity",
            "--output",
            "mrr=2028-12",
            "--draws",
            "200",
            "--sobol-samples",
            "8",
            "--spider-priors",
            "1",
            "--seed",
            "2",
            "--no-charts",
            "--priors",
            str(priors_dir),
            "--out",
            str(tmp_path / "review"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Sobol indices" in result.output
    assert "N = 8," in result.output
    assert "N = 8 is small" in result.output


def test_rank_correlation_from_run_matches_memory(small_run, base_scenario):
    path, table, _ = rank_correlation_from_run(
        small_run.path.name,
        outputs=["mrr=2028-12"],
        runs_dir=small_run.path.parent,
        out=small_run.path.parent / "rank-check",
    )
    output = Output("metric", "2028-12", "mrr")
    values = output.per_path(small_run.draws.metrics, small_run.draws.months)[:, None]
    inputs = {name: small_run.draws.inputs[name] for name in free_priors(base_scenario)}
    expected = spearman_table(inputs, [output], values).set_index("prior")["rho"]
    found = table.set_index("prior")["rho"]
    assert found["capture_rate"] == pytest.approx(expected["capture_rate"], abs=1e-3)
    assert found["price_elasticity"] == pytest.approx(expected["price_elasticity"], abs=1e-3)
    assert "starting_cash" not in found.index
    assert (path / "spearman.csv").is_file()


def test_rank_correlation_from_run_unknown_run(small_run):
    with pytest.raises(InputError, match="run not found"):
        rank_correlation_from_run(
            "no-such-run", outputs=["mrr=2028-12"], runs_dir=small_run.path.parent
        )
