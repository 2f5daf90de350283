"""Summaries of sampled paths: monthly quantiles, break-even odds, annual totals.

Every figure is computed per path first and summarised across paths after:
break-even months come from each path's own profit, annual margins are each
path's annual profit over its annual revenue, never ratios of quantiles.

Break-even definitions (month ``m`` of path ``i``):

- ``sustained``: the first month whose operating profit is >= 0 and stays >= 0
  in every later month of the horizon.
- ``payback``: the first month whose cumulative operating cash flow since the
  start is >= 0 and stays >= 0 to the horizon end (the starting cash is
  earned back).

A path that never qualifies has no break-even month ("never").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
QUANTILE_COLUMNS = tuple(f"p{round(q * 100)}" for q in QUANTILES)
SUMMARY_COLUMNS = ("metric", "month", "mean", "sd", *QUANTILE_COLUMNS)
BREAKEVEN_KINDS = ("sustained", "payback")


def sorted_quantiles(rows: np.ndarray) -> np.ndarray:
    """Return the :data:`QUANTILES` of rows already sorted along their last axis.

    The result, shape ``(len(QUANTILES), *rows.shape[:-1])`` in float64, equals
    ``np.quantile(rows, QUANTILES, axis=-1)`` bit for bit: the same linear
    interpolation between order statistics, and NaN for a row with any NaN
    (sorted last). numpy would partition the rows again, which costs as much as
    sorting them; on sorted rows the order statistics are at known positions.
    """
    count = rows.shape[-1]
    # The arithmetic below follows numpy's linear method step by step (its virtual
    # index, the clamp at the last value and the two-sided interpolation), so
    # rounding is the same.
    virtual = (count - 1) * np.asarray(QUANTILES)
    previous = np.floor(virtual)
    following = previous + 1
    last = virtual >= count - 1
    previous[last] = -1
    following[last] = -1
    previous = previous.astype(np.intp)
    following = following.astype(np.intp)
    gamma = virtual - previous
    low = np.moveaxis(rows[..., previous], -1, 0)
    high = np.moveaxis(rows[..., following], -1, 0)
    gamma = gamma.reshape(gamma.shape + (1,) * (low.ndim - 1))
    # Between an infinite and a finite order statistic the result is NaN, as numpy
    # gives it, without a warning for each such row.
    with np.errstate(invalid="ignore"):
        difference = high - low
        result = low + difference * gamma
        np.subtract(high, difference * (1 - gamma), out=result, where=gamma >= 0.5)
    has_nan = np.isnan(rows[..., -1])
    return np.where(has_nan, rows[..., -1], result).astype(np.float64)


def describe_rows(
    rows: np.ndarray, moments: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    """Return mean, sd and the :data:`QUANTILES` of each row, sorting ``rows`` in place.

    ``rows`` contains one statistic's paths per row, C-contiguous, for example
    one month of one metric per row. ``moments`` is its ``(mean, sd)`` per row,
    merged from float64 draws when the rows are float32 copies.
    """
    rows.sort(axis=-1)
    out = {"mean": moments[0], "sd": moments[1]}
    out.update(dict(zip(QUANTILE_COLUMNS, sorted_quantiles(rows), strict=True)))
    return out


def describe(
    values: np.ndarray,
    axis: int = 0,
    moments: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Return mean, sd and the :data:`QUANTILES` of ``values`` along ``axis``.

    ``moments`` is an already computed ``(mean, sd)``, for example merged block
    by block from float64 draws when ``values`` were stored as float32.

    Quantiles use numpy's default linear interpolation between order statistics.
    Means and standard deviations accumulate in float64 whatever the input type,
    and float32 input (stored draws) gives float64 quantiles of its exact values.
    """
    if moments is None:
        ddof = 1 if values.shape[axis] > 1 else 0  # one path has no spread, not an undefined one
        moments = (
            values.mean(axis=axis, dtype=np.float64),
            values.std(axis=axis, ddof=ddof, dtype=np.float64),
        )
    # One contiguous row per statistic, sorted: faster than numpy's quantile, which
    # partitions a strided copy. For 36 float32 rows of 1,000,000 paths: 0.25 s to
    # sort, against 0.74 s to partition.
    rows = np.array(np.moveaxis(values, axis, -1), order="C")
    return describe_rows(rows, moments)


def metric_frame(
    name: str, months: list[str], stats: Mapping[str, np.ndarray], defined: np.ndarray
) -> pd.DataFrame:
    """Summary rows of one metric: the months in ``defined`` with their ``stats``."""
    kept = {key: np.asarray(value)[defined] for key, value in stats.items()}
    frame = pd.DataFrame({"metric": name, "month": np.asarray(months)[defined], **kept})
    return frame[list(SUMMARY_COLUMNS)]


def summary_table(
    metrics: Mapping[str, np.ndarray],
    months: list[str],
    moments: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Tidy table, one row per metric and month, with the :data:`SUMMARY_COLUMNS`.

    ``moments`` optionally gives each metric's ``(mean, sd)`` per month (see
    :func:`describe`). Months where a metric is undefined on every path (net
    revenue retention before a year-old cohort exists) get no row rather than a
    row of NaN.
    """
    frames = []
    for name, values in metrics.items():
        stats = describe(values, axis=0, moments=None if moments is None else moments[name])
        defined = ~np.isnan(values).all(axis=0)
        frames.append(metric_frame(name, months, stats, defined))
    return pd.concat(frames, ignore_index=True)


def first_month_staying_nonnegative(values: np.ndarray) -> np.ndarray:
    """Index of the first month from which ``values`` stay >= 0 to the end, per path.

    Paths that end below zero get ``months`` (one past the last index): never.
    """
    nonnegative = values >= 0
    stays = np.flip(np.logical_and.accumulate(np.flip(nonnegative, axis=-1), axis=-1), axis=-1)
    months = values.shape[-1]
    return np.where(stays.any(axis=-1), stays.argmax(axis=-1), months)


def breakeven_months(operating_profit: np.ndarray) -> dict[str, np.ndarray]:
    """Break-even month index per path for each definition in :data:`BREAKEVEN_KINDS`."""
    return {
        "sustained": first_month_staying_nonnegative(operating_profit),
        "payback": first_month_staying_nonnegative(np.cumsum(operating_profit, axis=-1)),
    }


def probability_by_month(first: np.ndarray, months: int) -> tuple[np.ndarray, np.ndarray]:
    """Share of paths that have broken even by each month, and its Monte Carlo SE.

    Paths are independent draws, so the standard error of a share ``p`` of ``n``
    paths is the binomial ``sqrt(p (1 - p) / n)``.
    """
    counts = np.bincount(first, minlength=months + 1)[:months]
    share = np.cumsum(counts) / len(first)
    return share, np.sqrt(share * (1 - share) / len(first))


def breakeven_table(operating_profit: np.ndarray, months: list[str]) -> pd.DataFrame:
    """Per month: P(break-even by then) and its Monte Carlo SE, for both definitions."""
    return breakeven_table_from_months(breakeven_months(operating_profit), months)


def breakeven_table_from_months(
    first_months: Mapping[str, np.ndarray], months: list[str]
) -> pd.DataFrame:
    """:func:`breakeven_table` from each path's break-even month index per definition."""
    table = {"month": months}
    for kind in BREAKEVEN_KINDS:
        share, error = probability_by_month(first_months[kind], len(months))
        table[f"p_{kind}"] = share
        table[f"mcse_{kind}"] = error
    return pd.DataFrame(table)


def breakeven_month_distribution(operating_profit: np.ndarray, months: list[str]) -> pd.DataFrame:
    """Share of paths whose break-even month is each month, plus a final "never" row."""
    return breakeven_distribution_from_months(breakeven_months(operating_profit), months)


def breakeven_distribution_from_months(
    first_months: Mapping[str, np.ndarray], months: list[str]
) -> pd.DataFrame:
    """:func:`breakeven_month_distribution` from each path's break-even month index."""
    table = {"month": [*months, "never"]}
    for kind in BREAKEVEN_KINDS:
        first = first_months[kind]
        table[f"share_{kind}"] = np.bincount(first, minlength=len(months) + 1) / len(first)
    return pd.DataFrame(table)


ANNUAL_TOTALS = ("mrr", "infra_cost", "team_cost", "total_cost", "operating_profit")
ANNUAL_NAMES = {"mrr": "revenue"}


def calendar_years(months: list[str]) -> list[str]:
    """Return the calendar years of the horizon, in order."""
    return list(dict.fromkeys(month[:4] for month in months))


YEAR_END_LEVELS = ("hosted_users", "mrr", "cash")
"""Metrics whose level at the end of each year the annual table shows."""

ANNUAL_FIGURES = (
    *(ANNUAL_NAMES.get(name, name) for name in ANNUAL_TOTALS),
    "operating_margin",
    "gross_margin",
    *(f"{name}_year_end" for name in YEAR_END_LEVELS),
    "months_in_year",
)
"""Figures of each year, in table order."""


def year_end_indices(months: list[str]) -> list[int]:
    """Index of each calendar year's last month in the horizon."""
    years = [month[:4] for month in months]
    return [len(years) - 1 - years[::-1].index(year) for year in calendar_years(months)]


def annual_values(
    metrics: Mapping[str, np.ndarray], months: list[str], *, levels: bool = True
) -> dict[str, np.ndarray]:
    """Per-path annual figures, each ``(paths, years)`` in float64, in table order.

    Totals are sums of each path's months in the year, margins are ratios of a
    path's totals, and year-end levels are the year's last month in the horizon.
    Without ``levels`` those are left out (see :func:`annual_level_stats`).
    """
    years = [month[:4] for month in months]
    starts = [years.index(year) for year in calendar_years(months)]
    # Each metric is read once for all years: ``metrics`` may load it from disk.
    totals = {
        ANNUAL_NAMES.get(name, name): np.add.reduceat(
            metrics[name], starts, axis=1, dtype=np.float64
        )
        for name in ANNUAL_TOTALS
    }
    revenue = totals["revenue"]
    out = {
        **totals,
        "operating_margin": totals["operating_profit"] / revenue,
        "gross_margin": (revenue - totals["infra_cost"]) / revenue,
    }
    if levels:
        ends = year_end_indices(months)
        for name in YEAR_END_LEVELS:
            out[f"{name}_year_end"] = metrics[name][:, ends].astype(np.float64)
    counts = np.diff([*starts, len(months)]).astype(np.float64)
    out["months_in_year"] = np.broadcast_to(counts, revenue.shape).copy()
    return out


def annual_level_stats(
    metric_stats: Mapping[str, Mapping[str, np.ndarray]], months: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of each year-end level, taken from its metric's monthly statistics."""
    ends = year_end_indices(months)
    return {
        f"{name}_year_end": {key: np.asarray(v)[ends] for key, v in metric_stats[name].items()}
        for name in YEAR_END_LEVELS
    }


def annual_frame(years: list[str], stats: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """Annual table from each figure's statistics per year (see :func:`describe`)."""
    rows = []
    for index, year in enumerate(years):
        for name, figure in stats.items():
            rows.append({"year": year, "metric": name, **{k: v[index] for k, v in figure.items()}})
    return pd.DataFrame(rows)


def annual_table(metrics: Mapping[str, np.ndarray], months: list[str]) -> pd.DataFrame:
    """Per calendar year: quantiles of per-path totals, ratios and year-end levels.

    Months outside a full year still count toward their calendar year, so a
    horizon that starts mid-year has a partial first year.
    """
    values = annual_values(metrics, months)
    return annual_frame(calendar_years(months), {name: describe(v) for name, v in values.items()})


def minimum_cash(cash: np.ndarray) -> np.ndarray:
    """Lowest cash balance over the horizon, per path."""
    return cash.min(axis=-1)


def quantile_mcse(values: np.ndarray, prob: float) -> float:
    """Monte Carlo standard error of one quantile of independent draws (ArviZ)."""
    import arviz as az

    array = np.asarray(values, dtype=float)[None, :]
    return float(az.mcse(array, method="quantile", prob=prob))
