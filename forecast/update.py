r"""Condition a scenario on monthly actuals and forecast from the posterior.

The months up to the last actual are fitted. The scenario's priors are the
PyMC random variables of :func:`forecast.model.prior_variable`, and the monthly
equations are :func:`forecast.blocks.simulate_paths` on one path. Each actual is
observed with a relative model error :math:`\epsilon`, whose lognormal prior
has a 90% interval of 2-11%:

- users and MRR: :math:`\log(1 + y) \sim N(\log(1 + \hat y), \epsilon)`, so a
  zero is a valid actual;
- cash, which can be negative: :math:`y \sim N(\hat y, \epsilon C)` with
  :math:`C` the largest absolute cash actual.

NUTS samples the posterior, and the convergence checks of
:mod:`forecast.diagnostics` must pass. Priors that no observed month depends on
(:func:`uninformed_priors`) are not sampled but drawn from their priors. The
capture rate is sampled at the bootstrap price (:func:`conditioned_model`). The
manifest records both. Every posterior draw is then run through
the whole horizon by the compiled model that ``forecast run`` uses, and the run
folder gets the files that ``forecast run`` writes, plus ``prior_posterior.csv``
and ``forecast_check.csv``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.diagnostics import FitDiagnostics, check_fit, fit_diagnostics
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Prior, Scenario, _parse_month, load_scenario, sha256_file

ACTUAL_METRICS = ("hosted_users", "self_hosted_users", "mrr", "cash")
NONNEGATIVE_METRICS = ("hosted_users", "self_hosted_users", "mrr")
MODEL_ERROR = "model_error"
CAPTURE_AT_PRICE = "capture_link_at_bootstrap_price"
# A prior counts as moved by the actuals when its 90% interval narrowed, or its
# median shifted, by at least this share of the prior's 90% interval width. The
# value is an estimate: it sits above the scatter of the 5th and 95th percentiles
# of 2,000 NUTS draws from a prior that the data did not touch.
MOVED_THRESHOLD = 0.15


@dataclass(frozen=True)
class Actuals:
    """Observed monthly figures; ``values[metric]`` is NaN where a cell was blank."""

    path: Path
    sha256: str
    months: tuple[str, ...]
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class UpdateResult:
    """An updated run: the run folder and the fit behind it."""

    run: object  # forecast.pipeline.RunResult
    diagnostics: FitDiagnostics
    prior_posterior: pd.DataFrame
    forecast_check: pd.DataFrame
    drawn_from_prior: tuple[str, ...] = ()


def read_actuals(path: Path, horizon: list[str]) -> Actuals:
    """Read and check an actuals CSV against the scenario's horizon.

    Raises
    ------
    InputError
        On a missing file, a missing ``month`` column, an unknown column, an
        invalid, duplicate or out-of-horizon month, a non-numeric cell or a
        negative user count or MRR; the message names the row and column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("actuals file not found", file=path, fix="Check the --actuals path")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        if "month" not in header:
            raise InputError(
                "missing column month",
                file=path,
                key="row 1",
                value=header,
                fix="Name the first column month and write months as YYYY-MM",
            )
        for column in header:
            if column != "month" and column not in ACTUAL_METRICS:
                raise InputError(
                    "unknown column",
                    file=path,
                    key=f"row 1, column {column!r}",
                    fix="Use month and any of " + ", ".join(ACTUAL_METRICS),
                )
        if len(set(header)) != len(header):
            raise InputError(
                "a column appears twice", file=path, key="row 1", value=header, fix="Keep one"
            )
        rows: dict[str, dict[str, float]] = {}
        for row_number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise InputError(
                    f"row has {len(row)} cells but the header names {len(header)} columns",
                    file=path,
                    key=f"row {row_number}",
                    value=row,
                    fix="Remove the extra cells or add their column names",
                )
            cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
            month = _check_month(cells.get("month", ""), path, row_number, horizon, rows)
            rows[month] = {
                metric: _check_cell(cells.get(metric, ""), metric, path, row_number)
                for metric in header
                if metric != "month"
            }
    metrics = [column for column in header if column != "month"]
    observed = [m for m in rows if any(not math.isnan(v) for v in rows[m].values())]
    if not observed:
        raise InputError(
            "no actuals: every cell is blank",
            file=path,
            fix="Fill in at least one month of " + ", ".join(ACTUAL_METRICS),
        )
    months = tuple(sorted(rows))
    values = {
        metric: np.array([rows[month][metric] for month in months], dtype=float)
        for metric in metrics
    }
    return Actuals(path=path, sha256=sha256_file(path), months=months, values=values)


def _check_month(
    text: str, path: Path, row: int, horizon: list[str], seen: Mapping[str, object]
) -> str:
    where = f"row {row}, column month"
    try:
        year, number = _parse_month(text)
    except ValueError:
        raise InputError(
            "invalid month", file=path, key=where, value=text, fix="Write it as YYYY-MM"
        ) from None
    month = f"{year:04d}-{number:02d}"
    if month not in horizon:
        raise InputError(
            "month is outside the forecast horizon",
            file=path,
            key=where,
            value=text,
            fix=f"Use months from {horizon[0]} to {horizon[-1]}",
        )
    if month in seen:
        raise InputError(
            "duplicate month", file=path, key=where, value=text, fix="Give each month one row"
        )
    return month


def _check_cell(text: str, metric: str, path: Path, row: int) -> float:
    where = f"row {row}, column {metric}"
    if text == "":
        return math.nan
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise InputError(
            "not a number",
            file=path,
            key=where,
            value=text,
            fix="Write a plain number or leave it blank",
        ) from None
    if not math.isfinite(value):
        raise InputError(
            "not a finite number", file=path, key=where, value=text, fix="Write a number"
        )
    if metric in NONNEGATIVE_METRICS and value < 0:
        raise InputError(
            f"{metric} cannot be negative",
            file=path,
            key=where,
            value=text,
            fix="Write 0 or more",
        )
    return value


def random_priors(scenario: Scenario) -> list[str]:
    """Return the names of the scenario's priors that are not fixed, in model order."""
    return [name for name in PARAMETERS if not scenario.priors[name].is_fixed]


def uninformed_priors(
    scenario: Scenario, actuals: Actuals, seed: int, paths: int = 4096
) -> list[str]:
    """Return the random priors that cannot change any observed metric in the fitted months.

    Each random prior in turn is redrawn independently while every other prior
    keeps its draw. A prior is uninformed when, over ``paths`` joint prior draws,
    no observed metric in an observed month changed at all. This happens when a
    prior only acts beyond a switch that the fitted months never reach (the move
    to colocation, the later price-ladder steps). Such a prior is absent from the
    likelihood, so its posterior is its prior.

    NOTE: the test is empirical. A prior that changes the fitted months only on
    rare prior paths can pass it (``price_breakeven`` passed for one set of 4,096
    base-scenario draws and failed for another), so :func:`check_uninformed`
    repeats the test on the posterior paths.
    """
    from forecast.simulate import prior_values

    rng = np.random.default_rng([seed, 1])
    names = random_priors(scenario)
    base = prior_values(scenario, rng.uniform(size=(paths, len(PARAMETERS))))
    columns = _observed_columns(scenario, actuals)
    reference = forecast_from_inputs(scenario, base)
    unchanged = []
    for name in names:
        redrawn = dict(base)
        redrawn[name] = scenario.priors[name].ppf(rng.uniform(size=paths))
        if _same_observed(forecast_from_inputs(scenario, redrawn), reference, columns):
            unchanged.append(name)
    return unchanged


def check_uninformed(
    scenario: Scenario, actuals: Actuals, sampled, unseen: Sequence[str], rng
) -> None:
    """Check on the posterior paths that the priors drawn from their priors touch no actual.

    :func:`uninformed_priors` looked at prior draws. This function redraws every
    prior in ``unseen`` on the posterior paths of ``sampled`` and requires each
    observed metric in each observed month to stay exactly the same.

    Raises
    ------
    FitError
        When a redraw changed an observed value: those priors do reach the
        fitted months, so drawing them from their priors would be wrong.
    """
    from forecast.diagnostics import FitError

    if not unseen:
        return
    redrawn = dict(sampled.inputs)
    size = sampled.paths
    for name in unseen:
        redrawn[name] = scenario.priors[name].ppf(rng.uniform(size=size))
    columns = _observed_columns(scenario, actuals)
    if not _same_observed(forecast_from_inputs(scenario, redrawn), sampled.metrics, columns):
        raise FitError(
            f"scenario {scenario.name}: the priors drawn from their priors "
            f"({', '.join(unseen)}) change an observed month on the posterior paths, "
            "so the actuals inform them and the update cannot draw them from their priors"
        )


def _observed_columns(scenario: Scenario, actuals: Actuals) -> dict[str, list[int]]:
    """Column of each observed (non-blank) month, per observed metric."""
    return {
        metric: [
            scenario.settings.months.index(m)
            for m, v in zip(actuals.months, observed, strict=True)
            if not math.isnan(v)
        ]
        for metric, observed in actuals.values.items()
    }


def _same_observed(outputs: Mapping, reference: Mapping, columns: Mapping) -> bool:
    return all(
        np.array_equal(outputs[metric][:, cols], reference[metric][:, cols])
        for metric, cols in columns.items()
    )


def conditioned_model(scenario: Scenario, actuals: Actuals, constant: Sequence[str] = ()):
    """Build the PyMC model of the months up to the last actual, observing the actuals.

    Priors named in ``constant`` enter at their prior median; pass only priors
    that :func:`uninformed_priors` found to leave every observed metric unchanged.

    When ``capture_rate`` and ``price_elasticity`` are random, NUTS samples
    :data:`CAPTURE_AT_PRICE`, :math:`z = g(\\kappa) - \\eta \\log(p_0 / p_{ref})`
    with :math:`g` the logit for a beta prior and the log for a lognormal one,
    and ``capture_rate`` :math:`\\kappa = g^{-1}(z + \\eta \\log(p_0/p_{ref}))` is a
    deterministic. The prior density of :math:`z` is the capture prior's density
    at :math:`\\kappa` times the Jacobian :math:`d\\kappa/dz`, added as a potential
    on top of a normal carrier whose own density is subtracted, so the joint
    prior is unchanged. Below the first ladder step demand is proportional to
    :math:`\\kappa (p_0/p_{ref})^{-\\eta}`, which is close to :math:`e^z`: the
    actuals pin one coordinate instead of a curved ridge.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from forecast.blocks import pytensor_ops, simulate_paths
    from forecast.model import prior_variable

    settings = replace(scenario.settings, end=actuals.months[-1])
    fitted = settings.months
    # An unrolled loop instead of a scan: only the fitted months are in the graph.
    # NOTE: the two were not timed against each other on the full base scenario.
    ops = replace(pytensor_ops(), scan=None)
    capture = scenario.priors["capture_rate"]
    reparameterise = (
        capture.dist in ("beta", "lognormal")
        and not scenario.priors["price_elasticity"].is_fixed
        and "capture_rate" not in constant
        and "price_elasticity" not in constant
    )
    with pm.Model(coords={"path": [0]}) as model:
        values = {}
        for name in PARAMETERS:
            prior = scenario.priors[name]
            if prior.is_fixed:
                values[name] = pt.as_tensor(np.full(1, prior.params[0]))
            elif name in constant:
                values[name] = pt.as_tensor(np.full(1, prior.quantile(0.5)))
            elif name == "capture_rate" and reparameterise:
                continue
            else:
                values[name] = prior_variable(prior)
        if reparameterise:
            values["capture_rate"] = _capture_at_price(
                capture, values["price_elasticity"], values["price_bootstrap"], settings
            )
        metrics = simulate_paths(values, settings, ops)
        error = pm.LogNormal(MODEL_ERROR, mu=math.log(0.05), sigma=0.5)
        for metric, observed in actuals.values.items():
            have = ~np.isnan(observed)
            if not have.any():
                continue
            columns = np.array([fitted.index(m) for m in np.array(actuals.months)[have]])
            predicted = metrics[metric][0, columns]
            if metric == "cash":
                scale = float(np.max(np.abs(observed[have]))) or 1.0
                pm.Normal(
                    f"observed_{metric}",
                    mu=predicted,
                    sigma=error * scale,
                    observed=observed[have],
                )
            else:
                pm.Normal(
                    f"observed_{metric}",
                    mu=pt.log1p(predicted),
                    sigma=error,
                    observed=np.log1p(observed[have]),
                )
    return model


def _capture_at_price(capture: Prior, elasticity, bootstrap, settings):
    """Add :data:`CAPTURE_AT_PRICE` and the deterministic ``capture_rate`` to the model."""
    import pymc as pm
    import pytensor.tensor as pt

    shift = elasticity * pt.log(bootstrap / settings.reference_price)
    centre = capture.quantile(0.5)
    if capture.dist == "beta":
        link, inverse = math.log(centre / (1 - centre)), pt.sigmoid
        prior = pm.Beta.dist(alpha=capture.params[0], beta=capture.params[1])
    else:
        link, inverse = math.log(centre), pt.exp
        prior = pm.LogNormal.dist(mu=capture.params[0], sigma=capture.params[1])
    # The normal carrier only gives NUTS a start and a scale. The potential below
    # removes its density, so z's prior is exactly the capture prior moved to z.
    carrier = pm.Normal.dist(mu=link - shift, sigma=1.0)
    z = pm.Normal(CAPTURE_AT_PRICE, mu=link - shift, sigma=1.0, dims="path")
    rate = pm.Deterministic("capture_rate", inverse(z + shift), dims="path")
    log_jacobian = pt.log(rate) + (pt.log1p(-rate) if capture.dist == "beta" else 0.0)
    pm.Potential(
        "capture_prior_at_price",
        pm.logp(prior, rate) + log_jacobian - pm.logp(carrier, z),
    )
    return rate


def posterior_inputs(scenario: Scenario, tree) -> dict[str, np.ndarray]:
    """Return every prior's posterior draws, flattened over chains (fixed: repeated).

    A random prior the model did not sample gets NaN; the caller fills it in.
    """
    posterior = tree["posterior"]
    size = posterior.sizes["chain"] * posterior.sizes["draw"]
    inputs = {}
    for name in PARAMETERS:
        prior = scenario.priors[name]
        if prior.is_fixed:
            inputs[name] = np.full(size, prior.params[0])
        elif name not in posterior:
            inputs[name] = np.full(size, np.nan)
        else:
            inputs[name] = posterior[name].values.reshape(size)
    return inputs


def forecast_from_inputs(scenario: Scenario, inputs: Mapping[str, np.ndarray]) -> dict:
    """Run the compiled model over the whole horizon for the given prior values."""
    from forecast.simulate import PATHS_PER_BLOCK, forward_function

    forward = forward_function(scenario)
    size = len(next(iter(inputs.values())))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, size, PATHS_PER_BLOCK):
        stop = min(start + PATHS_PER_BLOCK, size)
        block = {}
        for name, values in inputs.items():
            padded = np.resize(values[start:stop], PATHS_PER_BLOCK)
            block[name] = padded
        outputs = forward(block)
        parts.append({name: value[: stop - start] for name, value in outputs.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def prior_posterior_table(scenario: Scenario, inputs: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Compare each random prior with its posterior: quantiles, shrinkage, median shift.

    ``shrinkage`` is one minus the ratio of the posterior's to the prior's 90%
    interval width, so 0 is unchanged and 1 pinned down. ``shift`` is the move of
    the median, in prior 90% interval widths.
    """
    rows = []
    for name in random_priors(scenario):
        prior = scenario.priors[name]
        low, median, high = (prior.quantile(q) for q in (0.05, 0.5, 0.95))
        post_low, post_median, post_high = np.quantile(inputs[name], [0.05, 0.5, 0.95])
        width = high - low
        shrinkage = 1 - (post_high - post_low) / width
        shift = (post_median - median) / width
        rows.append(
            {
                "prior": name,
                "prior_p5": low,
                "prior_p50": median,
                "prior_p95": high,
                "posterior_p5": float(post_low),
                "posterior_p50": float(post_median),
                "posterior_p95": float(post_high),
                "shrinkage": float(shrinkage),
                "shift": float(shift),
                "moved": bool(shrinkage >= MOVED_THRESHOLD or abs(shift) >= MOVED_THRESHOLD),
            }
        )
    return pd.DataFrame(rows).set_index("prior")


def forecast_check_table(
    actuals: Actuals, months: list[str], prior_metrics: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Place each actual within the forecast made before it was known.

    ``percentile`` is the mid-rank of the actual among the prior forecast's
    paths in that month (ties count half); ``inside_90`` is true when it fell
    within the forecast's 5th-95th percentile band.
    """
    rows = []
    for metric, observed in actuals.values.items():
        for month, value in zip(actuals.months, observed, strict=True):
            if math.isnan(value):
                continue
            paths = prior_metrics[metric][:, months.index(month)]
            below = np.mean(paths < value)
            equal = np.mean(paths == value)
            p5, p50, p95 = np.quantile(paths, [0.05, 0.5, 0.95])
            rows.append(
                {
                    "month": month,
                    "metric": metric,
                    "actual": value,
                    "forecast_p5": float(p5),
                    "forecast_p50": float(p50),
                    "forecast_p95": float(p95),
                    "percentile": float(below + equal / 2),
                    "inside_90": bool(p5 <= value <= p95),
                }
            )
    return pd.DataFrame(rows)


def update_scenario(
    scenario_name: str,
    *,
    actuals: Path,
    priors_dir: Path | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    target_accept: float = 0.99,
    seed: int = 0,
    prior_paths: int = 4096,
    out: Path | None = None,
    runs_dir: Path = Path("runs"),
    overwrite: bool = False,
    with_charts: bool = True,
    command: list[str] | None = None,
):
    """Condition a scenario on actuals with NUTS and write a run folder from the posterior.

    Parameters
    ----------
    scenario_name
        Scenario in ``priors_dir/scenarios``.
    actuals
        CSV with ``month`` (YYYY-MM) and any of :data:`ACTUAL_METRICS`.
    priors_dir
        Priors folder; default as in :func:`forecast.priors.default_priors_dir`.
    draws, tune, chains, target_accept
        NUTS settings; the run has ``draws * chains`` paths.
    seed
        Seed of the sampler and of the prior forecast the actuals are checked against.
    prior_paths
        Paths of that prior forecast.
    out, runs_dir, overwrite, with_charts, command
        As for :func:`forecast.pipeline.run_scenario`.

    Returns
    -------
    UpdateResult
        The run (a :class:`forecast.pipeline.RunResult`) and the fit's tables.

    Raises
    ------
    InputError
        On bad actuals or options; nothing is written.
    FitError
        When the fit fails its convergence checks; nothing is written.
    """
    from forecast import runs
    from forecast.calibrate import check_sampler_options, sample_model
    from forecast.simulate import Draws, simulate

    scenario = load_scenario(scenario_name, priors_dir)
    check_sampler_options(draws, tune, chains, target_accept)
    observed = read_actuals(actuals, scenario.settings.months)
    destination = (
        Path(out) if out is not None else runs_dir / runs.new_run_name(scenario.name, runs_dir)
    )
    if destination.exists() and not overwrite:
        with runs.staged_folder(destination, overwrite=False):
            pass

    # A prior the fitted months cannot see has a posterior equal to its prior:
    # sampling it with NUTS adds nothing but slower mixing, so it is drawn from
    # its prior for the forecast instead.
    unseen = uninformed_priors(scenario, observed, seed)
    fitted = [name for name in random_priors(scenario) if name not in unseen]
    model = conditioned_model(scenario, observed, constant=unseen)
    tree = sample_model(
        model,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
    )
    reported = [*fitted, MODEL_ERROR]
    if CAPTURE_AT_PRICE in model.named_vars:
        reported.append(CAPTURE_AT_PRICE)
    diagnostics = fit_diagnostics(tree, reported)
    check_fit(diagnostics, f"scenario {scenario.name} conditioned on {Path(actuals).name}")

    inputs = posterior_inputs(scenario, tree)
    rng = np.random.default_rng([seed, 2])
    for name in unseen:
        inputs[name] = scenario.priors[name].ppf(rng.uniform(size=len(inputs[name])))
    sampled = Draws(
        months=scenario.settings.months,
        inputs=inputs,
        metrics=forecast_from_inputs(scenario, inputs),
        seed=seed,
    )
    check_uninformed(scenario, observed, sampled, unseen, rng)
    # NOTE: the actuals are checked against the scenario's forecast rerun now with
    # this seed, not against a stored earlier run folder.
    prior_forecast = simulate(scenario, prior_paths, seed)
    table = prior_posterior_table(scenario, inputs)
    check = forecast_check_table(observed, scenario.settings.months, prior_forecast.metrics)
    extra = {
        "actuals": {"file": str(observed.path), "sha256": observed.sha256},
        "conditioned": {
            "sampler": "NUTS (PyMC)",
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "target_accept": target_accept,
            "divergences": diagnostics.divergences,
            "max_r_hat": float(diagnostics.table["r_hat"].max()),
            "min_ess_bulk": float(diagnostics.table["ess_bulk"].min()),
            "sampling_seconds": diagnostics.sampling_seconds,
            "fitted_months": [observed.months[0], observed.months[-1]],
            "sampled_priors": fitted,
            "drawn_from_prior": unseen,
            "drawn_from_prior_reason": (
                "redrawing each of these priors alone changed no observed metric in any "
                "observed month over 4,096 joint prior draws, nor did redrawing them all on "
                "every posterior path, so the actuals cannot move them; their posterior is "
                "their prior and they are drawn from it"
            ),
            "reparameterised": (
                f"capture_rate sampled as {CAPTURE_AT_PRICE}"
                if CAPTURE_AT_PRICE in model.named_vars
                else None
            ),
            "prior_forecast_paths": prior_paths,
        },
    }
    result = write_update_run(
        scenario, sampled, destination, overwrite, with_charts, command, extra, table, check
    )
    return UpdateResult(
        run=result,
        diagnostics=diagnostics,
        prior_posterior=table,
        forecast_check=check,
        drawn_from_prior=tuple(unseen),
    )


def write_update_run(
    scenario: Scenario,
    sampled,
    destination: Path,
    overwrite: bool,
    with_charts: bool,
    command: list[str] | None,
    extra: dict,
    table: pd.DataFrame,
    check: pd.DataFrame,
):
    """Write the posterior forecast as a run folder, plus the update's own tables."""
    from forecast import charts, runs, summarize
    from forecast.pipeline import RunResult, headline_table

    # The same tables as forecast.pipeline.run_scenario writes, from posterior paths.
    summary = summarize.summary_table(sampled.metrics, sampled.months)
    profit = sampled.metrics["operating_profit"]
    breakeven = summarize.breakeven_table(profit, sampled.months)
    distribution = summarize.breakeven_month_distribution(profit, sampled.months)
    annual = summarize.annual_table(sampled.metrics, sampled.months)
    headline = headline_table(sampled)
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        summary.to_csv(folder / "summary.csv", index=False, float_format="%.10g")
        breakeven.to_csv(folder / "breakeven.csv", index=False, float_format="%.10g")
        distribution.to_csv(folder / "breakeven_month.csv", index=False, float_format="%.10g")
        annual.to_csv(folder / "annual.csv", index=False, float_format="%.10g")
        headline.to_csv(folder / "headline.csv", index=False, float_format="%.10g")
        table.to_csv(folder / "prior_posterior.csv", float_format="%.10g")
        check.to_csv(folder / "forecast_check.csv", index=False, float_format="%.10g")
        runs.write_draws(folder / runs.DRAWS_FILE, sampled)
        if with_charts:
            charts.write_run_charts(summary, breakeven, folder / "charts")
            prior_posterior_chart(scenario, sampled.inputs, table, folder / "charts")
        copies = runs.copy_priors(scenario, folder)
        written = [*runs.RUN_FILES[1:], "prior_posterior.csv", "forecast_check.csv"]
        hashes = runs.file_hashes(folder, [*written, runs.DRAWS_FILE])
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(
                scenario,
                sampled,
                command=command,
                keep_draws=True,
                priors_copies=copies,
                files=hashes,
                **extra,
            ),
        )
    return RunResult(
        path=destination,
        scenario=scenario,
        paths=sampled.paths,
        seed=sampled.seed,
        draws=sampled,
        summary=summary,
        breakeven=breakeven,
        annual=annual,
        headline=headline,
    )


def prior_posterior_chart(
    scenario: Scenario, inputs: Mapping[str, np.ndarray], table: pd.DataFrame, folder: Path
) -> None:
    """Draw each moved prior's density against its posterior histogram (PNG and SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moved = list(table.index[table["moved"]])
    if not moved:
        return
    columns = min(3, len(moved))
    rows = math.ceil(len(moved) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, moved, strict=False):
        prior = scenario.priors[name]
        low, high = prior.quantile(0.005), prior.quantile(0.995)
        grid = np.linspace(low, high, 200)
        density = np.gradient([prior.cdf(x) for x in grid], grid)
        ax.plot(grid, density, color="0.4", label="prior")
        ax.hist(
            inputs[name], bins=40, range=(low, high), density=True, alpha=0.6, label="posterior"
        )
        ax.set_title(
            f"{name}\n90% interval {table.loc[name, 'shrinkage']:.0%} narrower", fontsize=9
        )
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(moved) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "svg"):
        figure.savefig(folder / f"prior_posterior.{suffix}", dpi=120)
    plt.close(figure)
