"""Fiscal-year and quarterly roll-ups of monthly paths.

Every figure is a per-path total (or a per-path ratio of totals, or a per-path
level at the period's last month) first, and quantiles across paths after.
Quantiles of monthly figures are never added up.

Fiscal years are named by the calendar year they end in: with an April start,
April 2026 to March 2027 is FY2027 and its first quarter is FY2027Q1 (April to
June 2026). pandas' anchored period frequencies (``Y-MAR``, ``Q-MAR``) do the
labelling. Months of the horizon outside a whole fiscal period still count, so a
horizon that does not start on a fiscal-year boundary has partial first and last
periods, marked ``complete = False``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecast.errors import InputError
from forecast.summarize import describe

PERIODS_FILE = "periods.csv"
"""Roll-up table in a run folder."""

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)

FLOW_TOTALS = {
    "mrr": "revenue",
    "infra_cost": "infra_cost",
    "team_cost": "team_cost",
    "migration_cost": "migration_cost",
    "total_cost": "total_cost",
    "operating_profit": "operating_profit",
    "signups": "signups",
    "converted_users": "converted_users",
    "churned_users": "churned_users",
}
"""Monthly flows summed over a period, with the name of the total."""

PERIOD_END_LEVELS = {
    "hosted_users": "hosted_users_end",
    "self_hosted_users": "self_hosted_users_end",
    "total_users": "total_users_end",
    "mrr": "mrr_end",
    "net_revenue_retention": "net_revenue_retention_end",
    "cash": "cash_end",
}
"""Levels read at the period's last month, with the name of the level.

Net revenue retention is NaN for periods that end in the horizon's first 12 months.
"""

MONTHS_IN = {"fiscal_year": 12, "quarter": 3}


def parse_fiscal_year_start(text: str | int) -> int:
    """Parse a month number (1-12) or an English month name or its first three letters.

    Raises
    ------
    InputError
        If ``text`` names no month.
    """
    word = str(text).strip().lower()
    if word.isdigit() and 1 <= int(word) <= 12:
        return int(word)
    for number, name in enumerate(MONTH_NAMES, start=1):
        if len(word) >= 3 and name.startswith(word):
            return number
    raise InputError(
        "invalid fiscal-year start month",
        key="--fiscal-year-start",
        value=text,
        fix="Pass a month number 1-12 or a name such as April",
    )


def monthly_periods(months: list[str]) -> pd.PeriodIndex:
    """Return the horizon as monthly periods, checking that no month is missing or repeated.

    Raises
    ------
    ValueError
        If ``months`` is not a run of consecutive months.
    """
    periods = pd.PeriodIndex(months, freq="M")
    expected = pd.period_range(periods[0], periods[-1], freq="M")
    if len(periods) != len(expected) or not (periods == expected).all():
        raise ValueError(f"months are not consecutive: {months[0]} .. {months[-1]}")
    return periods


def period_labels(months: list[str], fiscal_year_start: int, period_type: str) -> list[str]:
    """Label each month with its fiscal year (``FY2027``) or quarter (``FY2027Q1``)."""
    start = parse_fiscal_year_start(fiscal_year_start)
    # A fiscal year starting in April ends in March: pandas anchors on the end month.
    anchor = MONTH_NAMES[(start - 2) % 12][:3].upper()
    periods = monthly_periods(months)
    if period_type == "fiscal_year":
        return [f"FY{period.year}" for period in periods.asfreq(f"Y-{anchor}")]
    if period_type == "quarter":
        return [f"FY{q.qyear}Q{q.quarter}" for q in periods.asfreq(f"Q-{anchor}")]
    raise ValueError(f"unknown period type {period_type!r}: use 'fiscal_year' or 'quarter'")


PERIOD_FIGURES = (
    *FLOW_TOTALS.values(),
    "operating_margin",
    "gross_margin",
    *PERIOD_END_LEVELS.values(),
)
"""Figures of each period, in table order."""


def period_bounds(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index of each period's first and last month; each period is a run of one label."""
    starts = np.flatnonzero([i == 0 or labels[i] != labels[i - 1] for i in range(len(labels))])
    if len(starts) != len(set(labels)):
        raise ValueError("each period's months must be consecutive")
    return starts, np.append(starts[1:], len(labels)) - 1


def period_arrays(
    metrics: Mapping[str, np.ndarray],
    months: list[str],
    labels: list[str],
    *,
    levels: bool = True,
) -> dict[str, np.ndarray]:
    """Per-path totals, ratios and period-end levels, each ``(paths, periods)``.

    The columns are the periods in horizon order; each period is a run of
    consecutive months with the same label. Totals are summed in float64.
    Without ``levels`` the period-end levels are left out: they are the monthly
    values of their month (see :func:`level_stats`).
    """
    if len(labels) != len(months):
        raise ValueError(f"{len(labels)} labels for {len(months)} months")
    starts, ends = period_bounds(labels)
    # Each metric is read once (it may be loaded from disk); one reduceat sums every
    # period of a path at once.
    totals = {
        total: np.add.reduceat(metrics[name], starts, axis=1, dtype=np.float64)
        for name, total in FLOW_TOTALS.items()
    }
    revenue = totals["revenue"]
    with np.errstate(divide="ignore", invalid="ignore"):
        margins = {
            "operating_margin": totals["operating_profit"] / revenue,
            "gross_margin": (revenue - totals["infra_cost"]) / revenue,
        }
    out = {**totals, **margins}
    if levels:
        out.update(
            {level: metrics[name][:, ends].copy() for name, level in PERIOD_END_LEVELS.items()}
        )
    return out


def level_stats(
    metric_stats: Mapping[str, Mapping[str, np.ndarray]], labels: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of each period-end level, taken from its metric's monthly statistics.

    A level is its metric's value in the period's last month on every path, so
    its statistics are those of that month.
    """
    _, ends = period_bounds(labels)
    return {
        level: {key: np.asarray(values)[ends] for key, values in metric_stats[name].items()}
        for name, level in PERIOD_END_LEVELS.items()
    }


def period_values(
    metrics: Mapping[str, np.ndarray], months: list[str], labels: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Per-path totals, ratios and period-end levels for each label, in horizon order.

    Parameters
    ----------
    metrics
        Monthly metrics, ``(paths, months)`` each; needs the keys of
        :data:`FLOW_TOTALS` and :data:`PERIOD_END_LEVELS`.
    months
        The horizon's months, ``YYYY-MM``.
    labels
        The period of each month (see :func:`period_labels`).

    Returns
    -------
    dict
        For each period, one ``(paths,)`` array per figure.
    """
    arrays = period_arrays(metrics, months, labels)
    return {
        label: {figure: values[:, index] for figure, values in arrays.items()}
        for index, label in enumerate(dict.fromkeys(labels))
    }


def rollup_values(
    metrics: Mapping[str, np.ndarray], months: list[str], *, fiscal_year_start: int = 1
) -> dict[str, np.ndarray]:
    """Per-path roll-up figures, each ``(paths, periods)``, keyed ``"<period type>.<figure>"``.

    The columns are the periods of that type in horizon order (see
    :func:`period_arrays`); :func:`rollup_frame` turns their statistics into the
    table.
    """
    out = {}
    for period_type in MONTHS_IN:
        labels = period_labels(months, fiscal_year_start, period_type)
        for figure, values in period_arrays(metrics, months, labels).items():
            out[f"{period_type}.{figure}"] = values
    return out


def rollup_frame(
    months: list[str],
    stats: Mapping[str, Mapping[str, np.ndarray]],
    *,
    fiscal_year_start: int = 1,
) -> pd.DataFrame:
    """Roll-up table from the statistics of each :func:`rollup_values` figure per period."""
    rows = []
    for period_type, length in MONTHS_IN.items():
        labels = period_labels(months, fiscal_year_start, period_type)
        figures = {
            key.split(".", 1)[1]: figure
            for key, figure in stats.items()
            if key.split(".", 1)[0] == period_type
        }
        for index, label in enumerate(dict.fromkeys(labels)):
            in_period = [month for month, own in zip(months, labels, strict=True) if own == label]
            header = {
                "period_type": period_type,
                "period": label,
                "first_month": in_period[0],
                "last_month": in_period[-1],
                "months": len(in_period),
                "complete": len(in_period) == length,
                "fiscal_year_start": fiscal_year_start,
            }
            for name, figure in figures.items():
                rows.append({**header, "metric": name, **{k: v[index] for k, v in figure.items()}})
    return pd.DataFrame(rows)


def rollup_table(
    metrics: Mapping[str, np.ndarray], months: list[str], *, fiscal_year_start: int = 1
) -> pd.DataFrame:
    """Fiscal-year and quarterly quantiles of per-path figures.

    Parameters
    ----------
    metrics
        Monthly metrics, ``(paths, months)`` each.
    months
        The horizon's months, ``YYYY-MM``, consecutive.
    fiscal_year_start
        First month of the fiscal year, 1 (January, calendar years) to 12.

    Returns
    -------
    pandas.DataFrame
        One row per period and figure: ``period_type`` (fiscal_year or quarter),
        ``period``, ``first_month``, ``last_month``, ``months``, ``complete``,
        ``fiscal_year_start``, ``metric``, then mean, sd and quantiles.
    """
    values = rollup_values(metrics, months, fiscal_year_start=fiscal_year_start)
    stats = {key: describe(per_path) for key, per_path in values.items()}
    return rollup_frame(months, stats, fiscal_year_start=fiscal_year_start)
