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


# A second small scenario adds the two priors that meet capture_rate in demand,
# and one colocation prior that acts only above the colocation crossover.
PRICED = (*RANDOM, "price_elasticity", "price_bootstrap", "colo_cost_factor")


def write_small_scenario(priors_dir, name: str, random: tuple[str, ...]) -> None:
    from forecast.priors import load_scenario

    base = load_scenario("base", priors_dir)
    lines = [f'description = "Random priors {", ".join(random)}; the rest fixed"']
    lines.append('extends = "base"')
    for prior_name in PARAMETERS:
        prior = base.priors[prior_name]
        if prior_name in random or prior.is_fixed:
            continue
        lines += [
            f"[priors.{prior_name}]",
            f"value = {prior.quantile(0.5)!r}",
            'source = "Base scenario median, fixed for a small test model"',
        ]
    (priors_dir / "scenarios" / f"{name}.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def small_priors(tmp_path_factory):
    import shutil
    from pathlib import Path

    tmp_priors = tmp_path_factory.mktemp("small") / "priors"
    shutil.copytree(Path(__file__).resolve().parent.parent / "priors", tmp_priors)
    write_small_scenario(tmp_priors, "small", RANDOM)
    write_small_scenario(tmp_priors, "priced", PRICED)
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


def test_update_scenario_fits_every_demand_prior(updated):
    result, _ = updated
    manifest = json.loads((result.run.path / "manifest.json").read_text())
    assert manifest["conditioned"]["drawn_from_prior"] == []


@pytest.fixture(scope="module")
def priced(small_priors, tmp_path_factory):
    from forecast.priors import load_scenario
    from forecast.update import read_actuals

    scenario = load_scenario("priced", small_priors)
    hosted = np.round(true_hosted_users(small_priors))
    frame = pd.DataFrame({"month": FITTED_MONTHS, "hosted_users": hosted})
    path = tmp_path_factory.mktemp("priced") / "actuals.csv"
    frame.to_csv(path, index=False)
    return scenario, read_actuals(path, scenario.settings.months)


def test_uninformed_priors_finds_colocation_only(priced):
    from forecast.update import uninformed_priors

    scenario, actuals = priced
    # Six months of a few hundred users stay far below the colocation crossover.
    assert uninformed_priors(scenario, actuals, seed=0, paths=512) == ["colo_cost_factor"]


def priced_draws(scenario, paths: int):
    from forecast.simulate import Draws, prior_values
    from forecast.update import forecast_from_inputs

    uniforms = np.random.default_rng(4).uniform(size=(paths, len(PARAMETERS)))
    inputs = prior_values(scenario, uniforms)
    metrics = forecast_from_inputs(scenario, inputs)
    return Draws(months=scenario.settings.months, inputs=inputs, metrics=metrics, seed=4)


def test_check_uninformed_accepts_colocation(priced):
    from forecast.update import check_uninformed

    scenario, actuals = priced
    draws = priced_draws(scenario, 256)
    rng = np.random.default_rng(0)
    assert check_uninformed(scenario, actuals, draws, ["colo_cost_factor"], rng) is None


def test_check_uninformed_rejects_demand_prior(priced):
    from forecast.update import check_uninformed

    scenario, actuals = priced
    draws = priced_draws(scenario, 256)
    rng = np.random.default_rng(0)
    with pytest.raises(FitError, match=r"\(signup_rate\) change an observed month"):
        check_uninformed(scenario, actuals, draws, ["signup_rate"], rng)


@pytest.fixture(scope="module")
def priced_model(priced):
    from forecast.update import conditioned_model

    scenario, actuals = priced
    return scenario, conditioned_model(scenario, actuals, constant=["colo_cost_factor"])


def test_conditioned_model_samples_capture_at_price(priced_model):
    from forecast.update import CAPTURE_AT_PRICE

    _, model = priced_model
    assert CAPTURE_AT_PRICE in [rv.name for rv in model.free_RVs]


def test_conditioned_model_keeps_capture_prior(priced_model):
    from scipy import special, stats

    from forecast.update import CAPTURE_AT_PRICE

    scenario, model = priced_model
    names = [CAPTURE_AT_PRICE, "price_elasticity", "price_bootstrap"]
    terms = [model[name] for name in names] + [model["capture_prior_at_price"]]
    logp = model.compile_logp(vars=terms, jacobian=False, sum=True)
    z, elasticity, bootstrap = -6.0, 2.5, 27.0
    point = model.initial_point() | {
        CAPTURE_AT_PRICE: np.array([z]),
        "price_elasticity_log__": np.log([elasticity]),
        "price_bootstrap_log__": np.log([bootstrap]),
    }
    # By hand: the beta density of the capture rate times |d rate / d z|, and
    # the two lognormal priors, all at the same point.
    rate = special.expit(z + elasticity * np.log(bootstrap / 10.0))
    capture = scenario.priors["capture_rate"].params
    expected = stats.beta(*capture).logpdf(rate) + np.log(rate * (1 - rate))
    for name, value in (("price_elasticity", elasticity), ("price_bootstrap", bootstrap)):
        mu, sigma = scenario.priors[name].params
        expected += stats.lognorm(s=sigma, scale=np.exp(mu)).logpdf(value)
    assert logp(point) == pytest.approx(expected, rel=1e-9)


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
