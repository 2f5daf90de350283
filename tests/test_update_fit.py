"""``forecast update`` end to end on a small scenario, and the convergence gate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.diagnostics import FitDiagnostics, FitError, check_fit
from forecast.parameters import PARAMETERS

# The small scenario keeps three demand priors random and fixes every other
# prior at its base median, so NUTS compiles and samples a short graph.
RANDOM = ("capture_rate", "signup_rate", "monthly_churn")
TRUTH = {"capture_rate": 0.003, "signup_rate": 0.12, "monthly_churn": 0.05}
FITTED_MONTHS = [f"2026-{number:02d}" for number in range(1, 7)]


@pytest.fixture(scope="module")
def small_priors(tmp_path_factory):
    import shutil
    from pathlib import Path

    from forecast.priors import load_scenario

    tmp_priors = tmp_path_factory.mktemp("small") / "priors"
    shutil.copytree(Path(__file__).resolve().parent.parent / "priors", tmp_priors)
    base = load_scenario("base", tmp_priors)
    lines = ['description = "Three random demand priors, the rest fixed"', 'extends = "base"']
    for name in PARAMETERS:
        prior = base.priors[name]
        if name in RANDOM or prior.is_fixed:
            continue
        lines += [
            f"[priors.{name}]",
            f"value = {prior.quantile(0.5)!r}",
            'source = "Base scenario median, fixed for a small test model"',
        ]
    (tmp_priors / "scenarios" / "small.toml").write_text("\n".join(lines) + "\n")
    return tmp_priors


def true_hosted_users(priors_dir) -> np.ndarray:
    from forecast.blocks import simulate_paths
    from forecast.priors import load_scenario

    scenario = load_scenario("small", priors_dir)
    values = {
        name: np.array([TRUTH.get(name, scenario.priors[name].quantile(0.5))])
        for name in PARAMETERS
    }
    return simulate_paths(values, scenario.settings)["hosted_users"][0, : len(FITTED_MONTHS)]


@pytest.fixture(scope="module")
def updated(small_priors, tmp_path_factory):
    from forecast.update import update_scenario

    hosted = true_hosted_users(small_priors)
    # Actuals simulated by the model itself, with its 3% relative model error.
    noisy = np.expm1(np.log1p(hosted) + np.random.default_rng(5).normal(0, 0.03, len(hosted)))
    frame = pd.DataFrame({"month": FITTED_MONTHS, "hosted_users": np.round(noisy)})
    frame.loc[2, "hosted_users"] = np.nan  # a blank cell
    tmp_path = tmp_path_factory.mktemp("update")
    actuals = tmp_path / "actuals.csv"
    frame.to_csv(actuals, index=False)
    result = update_scenario(
        "small",
        actuals=actuals,
        priors_dir=small_priors,
        draws=1000,
        tune=500,
        chains=2,
        seed=3,
        target_accept=0.99,
        prior_paths=2000,
        out=tmp_path / "run",
        with_charts=True,
        command=["test"],
    )
    return result, actuals


def test_update_scenario_writes_run_folder(updated):
    result, _ = updated
    folder = result.run.path
    for name in ("summary.csv", "headline.csv", "prior_posterior.csv", "forecast_check.csv"):
        assert (folder / name).is_file(), name
    assert (folder / "charts" / "prior_posterior.png").is_file()


def test_update_scenario_manifest_records_actuals(updated):
    import hashlib

    result, actuals = updated
    manifest = json.loads((result.run.path / "manifest.json").read_text())
    assert manifest["actuals"]["sha256"] == hashlib.sha256(actuals.read_bytes()).hexdigest()
    assert manifest["conditioned"]["divergences"] == 0
    assert manifest["draws"] == 2000


def test_update_scenario_truth_inside_interval(updated):
    result, _ = updated
    table = result.prior_posterior
    for name, value in TRUTH.items():
        assert table.loc[name, "posterior_p5"] <= value <= table.loc[name, "posterior_p95"], name


def test_update_scenario_capture_rate_moved(updated):
    result, _ = updated
    assert result.prior_posterior.loc["capture_rate", "moved"]


def test_update_scenario_checks_each_actual(updated):
    result, _ = updated
    check = result.forecast_check
    assert len(check) == 5
    assert check["percentile"].between(0, 1).all()


def test_update_scenario_fitted_months_track_actuals(updated):
    result, _ = updated
    summary = result.run.summary
    june = summary[(summary["metric"] == "hosted_users") & (summary["month"] == "2026-06")]
    check = result.forecast_check.set_index("month")
    assert june["p5"].iloc[0] <= check.loc["2026-06", "actual"] <= june["p95"].iloc[0]


def diagnostics(r_hat: float, ess: float, divergences: int) -> FitDiagnostics:
    table = pd.DataFrame(
        {"r_hat": [1.0, r_hat], "ess_bulk": [900.0, ess], "ess_per_second": [90.0, 9.0]},
        index=pd.Index(["rate", "level"], name="parameter"),
    )
    return FitDiagnostics(table, divergences, 10.0, draws=1000, tune=1000, chains=2)


def test_check_fit_accepts_converged_fit():
    check_fit(diagnostics(1.01, 400.0, 0), "curve")


def test_check_fit_rejects_high_rhat():
    with pytest.raises(FitError, match=r"curve: fit did not converge: R-hat of level is 1.020"):
        check_fit(diagnostics(1.02, 900.0, 0), "curve")


def test_check_fit_rejects_low_ess():
    with pytest.raises(FitError, match=r"bulk ESS of level is 399 \(at least 400"):
        check_fit(diagnostics(1.0, 399.0, 0), "curve")


def test_check_fit_rejects_divergences():
    with pytest.raises(FitError, match=r"curve: 2 divergent transitions"):
        check_fit(diagnostics(1.0, 900.0, 2), "curve")
