"""The ``forecast run`` job as a plain function: sample, summarise, write a run folder."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import calendar, charts, chunked, runs, summarize
from forecast.chunked import StoppingRecord, StoredDraws
from forecast.copula import latest_pairs
from forecast.priors import Scenario, load_scenario
from forecast.simulate import Band, Draws, check_draws, check_seed

HEADLINE_METRICS = ("hosted_users", "mrr", "cash")
HEADLINE_QUANTILES = (0.10, 0.50, 0.90)


@dataclass
class RunResult:
    """Run folder path, the tables written to it and, when stored, its draws.

    ``draws`` contains every path (float32 metrics) only when the run stored its
    draws, and is ``None`` otherwise. ``stopping`` is set when the run sampled
    toward a Monte Carlo error target.
    """

    path: Path
    scenario: Scenario
    paths: int
    seed: int
    draws: Draws | None
    summary: pd.DataFrame
    breakeven: pd.DataFrame
    annual: pd.DataFrame
    headline: pd.DataFrame
    stopping: StoppingRecord | None = None


def draw_seed() -> int:
    """Return a fresh seed for a run that was given none (recorded in its manifest)."""
    return secrets.randbits(32)


def year_end_months(months: list[str]) -> list[str]:
    """Return each December in the horizon, and the last month if it is not one."""
    ends = [month for month in months if month.endswith("-12")]
    if months[-1] not in ends:
        ends.append(months[-1])
    return ends


def headline_table(draws: Draws | StoredDraws) -> pd.DataFrame:
    """Year-end P10 / P50 / P90 of users, MRR and cash, each with its Monte Carlo SE."""
    rows = []
    columns = [draws.months.index(month) for month in year_end_months(draws.months)]
    for metric in HEADLINE_METRICS:
        # Loaded once per metric: a stored run reads it from disk.
        monthly = draws.metrics[metric]
        for column in columns:
            month = draws.months[column]
            values = monthly[:, column].astype(np.float64)
            row = {"metric": metric, "month": month}
            for q in HEADLINE_QUANTILES:
                label = f"p{round(q * 100)}"
                row[label] = float(np.quantile(values, q))
                row[f"mcse_{label}"] = summarize.quantile_mcse(values, q)
            rows.append(row)
    # Rows by month, then metric, as before metrics were loaded one at a time.
    order = {month: index for index, month in enumerate(draws.months)}
    rows.sort(key=lambda row: (order[row["month"]], HEADLINE_METRICS.index(row["metric"])))
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
    keep_draws: bool | None = None,
    target_mcse: float | None = None,
    max_draws: int = chunked.MAX_DRAWS,
    chunk_paths: int = chunked.CHUNK_PATHS,
    command: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    fiscal_year_start: int = 1,
) -> RunResult:
    """Sample a scenario block by block and write a complete run folder.

    Memory stays bounded by one block of paths plus one metric of every path
    in float32 (see :mod:`forecast.chunked`), unless the draws are stored.

    Parameters
    ----------
    scenario_name
        A scenario in ``priors_dir/scenarios``.
    draws
        Number of sampled paths. With ``target_mcse``, the paths of the first
        step, rounded up to whole blocks of
        :data:`~forecast.simulate.PATHS_PER_BLOCK`.
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
    with_charts
        Write the PNG/SVG charts.
    keep_draws
        Store every path's draws as netCDF (``draws.nc``). ``None`` stores
        them for runs of up to :data:`~forecast.chunked.KEEP_DRAWS_MAX_PATHS`
        paths.
    target_mcse
        When given, add ``chunk_paths`` paths at a time until the Monte Carlo
        standard errors of the break-even probabilities and of the year-end
        quantiles are at most this (see :class:`forecast.chunked.Precision`),
        or until ``max_draws`` paths.
    max_draws, chunk_paths
        Cap on the paths, and paths per step, when sampling toward ``target_mcse``.
    fiscal_year_start
        First month (1-12) of the fiscal years and quarters in ``periods.csv``.

    Returns
    -------
    RunResult
        The run folder and the tables written to it.
    """
    scenario = load_scenario(scenario_name, priors_dir)
    check_draws(draws)
    chunked.check_target(target_mcse, max_draws)
    seed = draw_seed() if seed is None else seed
    check_seed(seed)
    if target_mcse is not None:
        draws = chunked.round_up_to_blocks(draws)
        chunk_paths = chunked.round_up_to_blocks(chunk_paths)
    largest = max_draws if target_mcse is not None else draws
    if keep_draws is None:
        keep_draws = chunked.default_keep_draws(largest)
    months = len(scenario.settings.months)
    chunked.check_disk_space(Path(out or runs_dir), largest, months, keep_draws)
    destination = (
        Path(out) if out is not None else runs_dir / runs.new_run_name(scenario.name, runs_dir)
    )

    # The staging folder is created before sampling, so an existing --out is
    # rejected at once and an interrupted run leaves nothing behind.
    # NOTE: the per-metric files need about 2.6 KB of disk per path (36 months)
    # beside the destination until the summaries are written. Free space is not checked.
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        store = chunked.DrawStore(
            folder / SPILL_FOLDER, len(scenario.settings.months), keep_inputs=keep_draws
        )
        stored = chunked.StoredDraws(
            scenario.settings.months, store, seed, stresses=dict(stresses or {})
        )
        stopping = sample_run(
            scenario,
            stored,
            draws=draws,
            target_mcse=target_mcse,
            max_draws=max_draws,
            chunk_paths=chunk_paths,
            progress=progress,
        )
        tables = summarize_run(stored, fiscal_year_start=fiscal_year_start)
        for name, table in tables.items():
            table.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
        kept = None
        if keep_draws:
            kept = stored.load()
            runs.write_draws(folder / runs.DRAWS_FILE, kept)
        store.remove()
        if with_charts:
            charts.write_run_charts(tables["summary"], tables["breakeven"], folder / "charts")
        copies = runs.copy_priors(scenario, folder)
        written = [f"{name}.csv" for name in tables] + [runs.DRAWS_FILE]
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(
                scenario,
                stored,
                command=command,
                keep_draws=keep_draws,
                storage=storage_record(keep_draws),
                precision=precision_record(stopping),
                priors_copies=copies,
                files=runs.file_hashes(folder, written),
                fiscal_year_start=fiscal_year_start,
                correlations={
                    f"{a}:{b}": rho for a, b, rho in latest_pairs(scenario.correlations).values()
                },
            ),
        )
    return RunResult(
        path=destination,
        scenario=scenario,
        paths=stored.paths,
        seed=seed,
        draws=kept,
        summary=tables["summary"],
        breakeven=tables["breakeven"],
        annual=tables["annual"],
        headline=tables["headline"],
        stopping=stopping,
    )


SPILL_FOLDER = ".draws-by-metric"


def sample_run(
    scenario: Scenario,
    stored: chunked.StoredDraws,
    *,
    draws: int,
    target_mcse: float | None,
    max_draws: int,
    chunk_paths: int,
    progress: Callable[[int], None] | None,
) -> StoppingRecord | None:
    """Fill ``stored`` with ``draws`` paths, or sample toward ``target_mcse``."""

    def sample(paths: int) -> None:
        chunked.sample_into(
            stored.store, scenario, paths, stored.seed, stresses=stored.stresses, progress=progress
        )

    if target_mcse is None:
        sample(draws)
        return None
    columns = [stored.months.index(month) for month in year_end_months(stored.months)]
    return chunked.sample_until_precise(
        sample,
        lambda: chunked.measure_precision(stored, columns),
        target=target_mcse,
        first=draws,
        chunk=chunk_paths,
        maximum=max_draws,
    )


def summarize_run(
    stored: chunked.StoredDraws, *, fiscal_year_start: int = 1
) -> dict[str, pd.DataFrame]:
    """Compute the run's tables, keyed by CSV file name, loading one metric at a time.

    NOTE: exact quantiles of every metric and month take most of a large run's
    time: 1,000,000 paths took 2.1 to 2.8 times the numpy arithmetic alone on 2
    shared cores (benchmarks/README.md).
    """
    first_months = stored.breakeven()
    return {
        "summary": summarize.summary_table(stored.metrics, stored.months, stored.moments()),
        "breakeven": summarize.breakeven_table_from_months(first_months, stored.months),
        "breakeven_month": summarize.breakeven_distribution_from_months(
            first_months, stored.months
        ),
        "annual": summarize.annual_table(stored.metrics, stored.months),
        "headline": headline_table(stored),
        # Fiscal-year and quarterly roll-ups; the table records its own fiscal-year start.
        Path(calendar.PERIODS_FILE).stem: calendar.rollup_table(
            stored.metrics, stored.months, fiscal_year_start=fiscal_year_start
        ),
    }


def storage_record(keep_draws: bool) -> dict[str, object]:
    """Describe the precision of the stored draws and of the draws behind the summaries."""
    return {
        "quantiles_from": "float32 metrics of every path (exact quantiles of those values)",
        "means_from": "float64 metrics, merged block by block",
        "breakeven_from": "float64 operating profit of every path",
        "draws_file": runs.DRAWS_FILE if keep_draws else None,
        "metrics_dtype": "float32",
        "inputs_dtype": "float64",
    }


def precision_record(stopping: StoppingRecord | None) -> dict[str, object] | None:
    """Describe how a run sampled toward a Monte Carlo error target, if it did."""
    if stopping is None:
        return None
    return {
        "target_mcse": stopping.target,
        "paths": stopping.paths,
        "reached": stopping.reached,
        "breakeven_mcse": stopping.precision.breakeven,
        "quantile_mcse_over_p10_p90": stopping.precision.quantile,
        "checks": stopping.checks,
    }
