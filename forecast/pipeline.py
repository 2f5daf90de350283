"""The ``forecast run`` job as a plain function: sample, summarise, write a run folder."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import calendar, charts, runs, summarize
from forecast.copula import latest_pairs
from forecast.priors import Scenario, load_scenario
from forecast.simulate import Band, Draws, check_draws, simulate

HEADLINE_METRICS = ("hosted_users", "mrr", "cash")
HEADLINE_QUANTILES = (0.10, 0.50, 0.90)


@dataclass
class RunResult:
    """Run folder path, the tables written to it and the sampled draws."""

    path: Path
    scenario: Scenario
    draws: Draws
    summary: pd.DataFrame
    breakeven: pd.DataFrame
    annual: pd.DataFrame
    headline: pd.DataFrame


def draw_seed() -> int:
    """Return a fresh seed for a run that was given none (recorded in its manifest)."""
    return secrets.randbits(32)


def year_end_months(months: list[str]) -> list[str]:
    """Return each December in the horizon, and the last month if it is not one."""
    ends = [month for month in months if month.endswith("-12")]
    if months[-1] not in ends:
        ends.append(months[-1])
    return ends


def headline_table(draws: Draws) -> pd.DataFrame:
    """Year-end P10 / P50 / P90 of users, MRR and cash, each with its Monte Carlo SE."""
    rows = []
    for month in year_end_months(draws.months):
        column = draws.months.index(month)
        for metric in HEADLINE_METRICS:
            values = draws.metrics[metric][:, column]
            row = {"metric": metric, "month": month}
            for q in HEADLINE_QUANTILES:
                label = f"p{round(q * 100)}"
                row[label] = float(np.quantile(values, q))
                row[f"mcse_{label}"] = summarize.quantile_mcse(values, q)
            rows.append(row)
    return pd.DataFrame(rows)


def run_scenario(
    scenario_name: str,
    *,
    draws: int = 10_000,
    seed: int | None = None,
    priors_dir: Path | None = None,
    out: Path | None = None,
    runs_dir: Path = Path("runs"),
    overwrite: bool = False,
    stresses: Mapping[str, Band] | None = None,
    with_charts: bool = True,
    keep_draws: bool = True,
    command: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    fiscal_year_start: int = 1,
) -> RunResult:
    """Sample a scenario and write a complete run folder.

    Parameters
    ----------
    scenario_name
        A scenario in ``priors_dir/scenarios``.
    draws
        Number of sampled paths.
    seed
        Seed of every random stream; drawn and recorded when ``None``.
    priors_dir
        Folder with ``base.toml`` and ``scenarios/``; default as in
        :func:`forecast.priors.default_priors_dir`.
    out
        Run folder; default ``runs_dir/<UTC timestamp>-<scenario>``.
    overwrite
        Replace ``out`` if it exists (otherwise that is an error).
    stresses
        Bands or fixed values for some priors (stress tests).
    with_charts, keep_draws
        Write the PNG/SVG charts and the netCDF draws.
    fiscal_year_start
        First month (1-12) of the fiscal years and quarters in ``periods.csv``.

    Returns
    -------
    RunResult
        The run folder and the tables written to it.
    """
    scenario = load_scenario(scenario_name, priors_dir)
    check_draws(draws)
    seed = draw_seed() if seed is None else int(seed)
    destination = (
        Path(out) if out is not None else runs_dir / runs.new_run_name(scenario.name, runs_dir)
    )
    if destination.exists() and not overwrite:
        # Checked before sampling as well, so the user does not wait for a refusal.
        with runs.staged_folder(destination, overwrite=False):
            pass

    sampled = simulate(scenario, draws, seed, stresses=stresses, progress=progress)
    summary = summarize.summary_table(sampled.metrics, sampled.months)
    breakeven = summarize.breakeven_table(sampled.metrics["operating_profit"], sampled.months)
    distribution = summarize.breakeven_month_distribution(
        sampled.metrics["operating_profit"], sampled.months
    )
    annual = summarize.annual_table(sampled.metrics, sampled.months)
    headline = headline_table(sampled)
    # Fiscal-year and quarterly roll-ups; the table records its own fiscal-year start.
    periods = calendar.rollup_table(
        sampled.metrics, sampled.months, fiscal_year_start=fiscal_year_start
    )

    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        summary.to_csv(folder / "summary.csv", index=False, float_format="%.10g")
        breakeven.to_csv(folder / "breakeven.csv", index=False, float_format="%.10g")
        distribution.to_csv(folder / "breakeven_month.csv", index=False, float_format="%.10g")
        annual.to_csv(folder / "annual.csv", index=False, float_format="%.10g")
        headline.to_csv(folder / "headline.csv", index=False, float_format="%.10g")
        periods.to_csv(folder / calendar.PERIODS_FILE, index=False, float_format="%.10g")
        if keep_draws:
            runs.write_draws(folder / runs.DRAWS_FILE, sampled)
        if with_charts:
            charts.write_run_charts(summary, breakeven, folder / "charts")
        copies = runs.copy_priors(scenario, folder)
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(
                scenario,
                sampled,
                command=command,
                keep_draws=keep_draws,
                priors_copies=copies,
                fiscal_year_start=fiscal_year_start,
                correlations={
                    f"{a}:{b}": rho for a, b, rho in latest_pairs(scenario.correlations).values()
                },
            ),
        )
    return RunResult(destination, scenario, sampled, summary, breakeven, annual, headline)
