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
    if values.ndim == 2 and axis == 0:
        # Same numbers, faster: each month's paths are made contiguous and sorted
        # first (numpy's vectorised sort), and selecting quantiles from sorted rows is
        # quick. For 36 float32 rows of 1,000,000 paths: 0.52 s against 0.85 s.
        columns = np.ascontiguousarray(values.T)
        columns.sort(axis=1)
        quantiles = np.quantile(columns, QUANTILES, axis=1)
    else:
        quantiles = np.quantile(values, QUANTILES, axis=axis)
    quantiles = quantiles.astype(np.float64)
    if moments is None:
        ddof = 1 if values.shape[axis] > 1 else 0  # one path has no spread, not an undefined one
        moments = (
            values.mean(axis=axis, dtype=np.float64),
            values.std(axis=axis, ddof=ddof, dtype=np.float64),
        )
    out = {"mean": moments[0], "sd": moments[1]}
    out.update(dict(zip(QUANTILE_COLUMNS, quantiles, strict=True)))
    return out


def summary_table(
    metrics: Mapping[str, np.ndarray],
    months: list[str],
    moments: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Tidy table, one row per metric and month, with the :data:`SUMMARY_COLUMNS`.

    ``moments`` optionally gives each metric's ``(mean, sd)`` per month (see
    :func:`describe`).
    """
    frames = []
    for name, values in metrics.items():
        # Months where a metric is undefined on every path (net revenue retention
        # before a year-old cohort exists) get no row rather than a row of NaN.
        defined = ~np.isnan(values).all(axis=0)
        given = None if moments is None else tuple(m[defined] for m in moments[name])
        stats = describe(values[:, defined], axis=0, moments=given)
        frame = pd.DataFrame({"metric": name, "month": np.asarray(months)[defined], **stats})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(SUMMARY_COLUMNS)]


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


def annual_table(metrics: Mapping[str, np.ndarray], months: list[str]) -> pd.DataFrame:
    """Per calendar year: quantiles of per-path totals, ratios and year-end levels.

    Months outside a full year still count toward their calendar year, so a
    horizon that starts mid-year has a partial first year.
    """
    years = np.array([month[:4] for month in months])
    masks = {year: years == year for year in dict.fromkeys(years)}
    # Each metric is read once for all years: ``metrics`` may load it from disk.
    totals: dict[str, dict[str, np.ndarray]] = {year: {} for year in masks}
    for name in ANNUAL_TOTALS:
        values = metrics[name]
        for year, in_year in masks.items():
            total = values[:, in_year].sum(axis=1, dtype=np.float64)
            totals[year][ANNUAL_NAMES.get(name, name)] = total
    year_end: dict[str, dict[str, np.ndarray]] = {year: {} for year in masks}
    for name in ("hosted_users", "mrr", "cash"):
        values = metrics[name]
        for year, in_year in masks.items():
            level = values[:, np.flatnonzero(in_year)[-1]].astype(np.float64)
            year_end[year][f"{name}_year_end"] = level
    rows = []
    for year, in_year in masks.items():
        revenue = totals[year]["revenue"]
        per_path = {
            **totals[year],
            "operating_margin": totals[year]["operating_profit"] / revenue,
            "gross_margin": (revenue - totals[year]["infra_cost"]) / revenue,
            **year_end[year],
            "months_in_year": np.full(len(revenue), float(in_year.sum())),
        }
        for name, values in per_path.items():
            rows.append({"year": year, "metric": name, **describe(values)})
    return pd.DataFrame(rows)


def minimum_cash(cash: np.ndarray) -> np.ndarray:
    """Lowest cash balance over the horizon, per path."""
    return cash.min(axis=-1)


def quantile_mcse(values: np.ndarray, prob: float) -> float:
    """Monte Carlo standard error of one quantile of independent draws (ArviZ)."""
    import arviz as az

    array = np.asarray(values, dtype=float)[None, :]
    return float(az.mcse(array, method="quantile", prob=prob))
