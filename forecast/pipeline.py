"""The ``forecast run`` job as a plain function: sample, summarise, write a run folder."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import calendar, charts, chunked, runs, summarize
from forecast.blocks import METRICS
from forecast.calendar import MONTHS_IN
from forecast.chunked import StoppingRecord, StoredDraws
from forecast.copula import latest_pairs
from forecast.parallel import check_workers
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


def month_rows(draws: Draws | StoredDraws, metric: str, columns: list[int]) -> np.ndarray:
    """Return one metric's paths at some month indices, ``(len(columns), paths)``.

    A stored run reads only those months from its files.
    """
    if isinstance(draws, StoredDraws):
        return draws.store.rows(metric, columns)
    return np.asarray(draws.metrics[metric])[:, columns].T


def headline_rows(draws: Draws | StoredDraws, metric: str) -> list[dict[str, object]]:
    """Year-end P10 / P50 / P90 of one metric, each with its Monte Carlo SE."""
    months = year_end_months(draws.months)
    columns = [draws.months.index(month) for month in months]
    rows = []
    for month, paths in zip(months, month_rows(draws, metric, columns), strict=True):
        values = paths.astype(np.float64)
        row: dict[str, object] = {"metric": metric, "month": month}
        for q in HEADLINE_QUANTILES:
            label = f"p{round(q * 100)}"
            row[label] = float(np.quantile(values, q))
            row[f"mcse_{label}"] = summarize.quantile_mcse(values, q)
        rows.append(row)
    return rows


def headline_frame(rows: list[dict[str, object]], months: list[str]) -> pd.DataFrame:
    """Headline table from :func:`headline_rows`, ordered by month, then metric."""
    order = {month: index for index, month in enumerate(months)}
    rows = sorted(
        rows, key=lambda row: (order[row["month"]], HEADLINE_METRICS.index(row["metric"]))
    )
    return pd.DataFrame(rows)


def headline_table(draws: Draws | StoredDraws) -> pd.DataFrame:
    """Year-end P10 / P50 / P90 of users, MRR and cash, each with its Monte Carlo SE."""
    rows = [row for metric in HEADLINE_METRICS for row in headline_rows(draws, metric)]
    return headline_frame(rows, draws.months)


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
    workers: int | None = None,
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
    workers
        Processes that sample in parallel; default
        :func:`forecast.parallel.sampling_workers`. The numbers do not depend on it.

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
    if workers is not None:
        check_workers(workers)
    if target_mcse is not None:
        draws = chunked.round_up_to_blocks(draws)
        chunk_paths = chunked.round_up_to_blocks(chunk_paths)
    largest = max_draws if target_mcse is not None else draws
    if keep_draws is None:
        keep_draws = chunked.default_keep_draws(largest)
    months = scenario.settings.months
    figures = run_figures(months, fiscal_year_start)
    chunked.check_disk_space(
        Path(out or runs_dir), largest, stored_columns(figures, months), len(months), keep_draws
    )
    destination = (
        Path(out) if out is not None else runs_dir / runs.new_run_name(scenario.name, runs_dir)
    )

    # The staging folder is created before sampling, so an existing --out is
    # rejected at once and an interrupted run leaves nothing behind. The
    # per-metric files (about 5.2 KB per path for 36 months) sit in it until the
    # summaries are written.
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        store = chunked.DrawStore(
            folder / SPILL_FOLDER, len(months), keep_inputs=keep_draws, figures=figures
        )
        stored = chunked.StoredDraws(months, store, seed, stresses=dict(stresses or {}))
        stopping = sample_run(
            scenario,
            stored,
            draws=draws,
            target_mcse=target_mcse,
            max_draws=max_draws,
            chunk_paths=chunk_paths,
            progress=progress,
            workers=workers,
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
    workers: int | None = None,
) -> StoppingRecord | None:
    """Fill ``stored`` with ``draws`` paths, or sample toward ``target_mcse``."""

    def sample(paths: int) -> None:
        chunked.sample_into(
            stored.store,
            scenario,
            paths,
            stored.seed,
            stresses=stored.stresses,
            progress=progress,
            workers=workers,
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


def run_figures(months: list[str], fiscal_year_start: int) -> chunked.Figures:
    """Per-path annual and fiscal-period figures of a block, computed as it is sampled.

    Keys are ``annual.<figure>`` for :func:`forecast.summarize.annual_values` and
    ``<period type>.<figure>`` for :func:`forecast.calendar.period_arrays`. Levels
    at a period's end are left out: they are monthly values, summarised with
    their month.
    """

    labels = {
        period_type: calendar.period_labels(months, fiscal_year_start, period_type)
        for period_type in MONTHS_IN
    }

    def figures(metrics: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # A path without revenue in a period has no margin there (NaN), not a warning.
        with np.errstate(divide="ignore", invalid="ignore"):
            annual = summarize.annual_values(metrics, months, levels=False)
            out = {f"{ANNUAL}.{name}": values for name, values in annual.items()}
            for period_type, own in labels.items():
                periods = calendar.period_arrays(metrics, months, own, levels=False)
                out.update({f"{period_type}.{name}": values for name, values in periods.items()})
        return out

    return figures


ANNUAL = "annual"


def stored_columns(figures: chunked.Figures, months: list[str]) -> int:
    """Float32 values a run stores per path: every metric's months and every figure."""
    probe = {name: np.ones((1, len(months))) for name in METRICS}
    return len(METRICS) * len(months) + sum(v.shape[1] for v in figures(probe).values())


def summarize_run(
    stored: chunked.StoredDraws, *, fiscal_year_start: int = 1, workers: int | None = None
) -> dict[str, pd.DataFrame]:
    """Compute the run's tables, keyed by CSV file name, from the stored files.

    Each metric and figure is loaded, sorted and summarised by one of
    ``workers`` threads (default :func:`forecast.chunked.summary_workers`); the
    tables do not depend on the number of threads.
    """
    months = stored.months
    first_months = stored.breakeven()
    with ThreadPoolExecutor(workers or chunked.summary_workers(stored.paths, len(months))) as pool:
        # The headline's Monte Carlo errors (ArviZ) take longest: they start first.
        headline = [pool.submit(headline_rows, stored, metric) for metric in HEADLINE_METRICS]
        described = stored.describe_all(pool)
        headline_table_rows = [row for future in headline for row in future.result()]
    stats = {name: figure for name, (figure, _) in described.items()}
    monthly = {name: stats[name] for name in METRICS}
    summary = pd.concat(
        [summarize.metric_frame(name, months, *described[name]) for name in METRICS],
        ignore_index=True,
    )
    annual_stats = {
        **{
            key.split(".", 1)[1]: value
            for key, value in stats.items()
            if key.startswith(f"{ANNUAL}.")
        },
        **summarize.annual_level_stats(monthly, months),
    }
    annual = {name: annual_stats[name] for name in summarize.ANNUAL_FIGURES}
    periods = {}
    for period_type in MONTHS_IN:
        labels = calendar.period_labels(months, fiscal_year_start, period_type)
        levels = calendar.level_stats(monthly, labels)
        for name in calendar.PERIOD_FIGURES:
            key = f"{period_type}.{name}"
            periods[key] = stats[key] if key in stats else levels[name]
    return {
        "summary": summary,
        "breakeven": summarize.breakeven_table_from_months(first_months, months),
        "breakeven_month": summarize.breakeven_distribution_from_months(first_months, months),
        "annual": summarize.annual_frame(summarize.calendar_years(months), annual),
        "headline": headline_frame(headline_table_rows, months),
        # Fiscal-year and quarterly roll-ups; the table records its own fiscal-year start.
        Path(calendar.PERIODS_FILE).stem: calendar.rollup_frame(
            months, periods, fiscal_year_start=fiscal_year_start
        ),
    }


def storage_record(keep_draws: bool) -> dict[str, object]:
    """Describe the precision of the stored draws and of the draws behind the summaries."""
    return {
        "quantiles_from": (
            "float32 metrics and period figures of every path (exact quantiles of those values)"
        ),
        "means_from": "float64 metrics and period figures, merged block by block",
        "period_figures_from": "float64 metrics of each path, summed per block",
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
