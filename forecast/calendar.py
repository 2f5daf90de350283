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
    labels_array = np.asarray(labels)
    periods = {label: np.flatnonzero(labels_array == label) for label in dict.fromkeys(labels)}
    out: dict[str, dict[str, np.ndarray]] = {label: {} for label in periods}
    # Each metric is read once (it may be loaded from disk) and only the per-period
    # results are kept: copies, not views that would keep the whole metric alive.
    for name, total in FLOW_TOTALS.items():
        monthly = metrics[name]
        for label, columns in periods.items():
            out[label][total] = monthly[:, columns].sum(axis=1)
    for name, level in PERIOD_END_LEVELS.items():
        monthly = metrics[name]
        for label, columns in periods.items():
            out[label][level] = monthly[:, columns[-1]].copy()
    for label, values in out.items():
        revenue = values["revenue"]
        with np.errstate(divide="ignore", invalid="ignore"):
            margins = {
                "operating_margin": values["operating_profit"] / revenue,
                "gross_margin": (revenue - values["infra_cost"]) / revenue,
            }
        totals = {total: values[total] for total in FLOW_TOTALS.values()}
        levels = {level: values[level] for level in PERIOD_END_LEVELS.values()}
        out[label] = {**totals, **margins, **levels}
    return out


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
    rows = []
    for period_type, length in MONTHS_IN.items():
        labels = period_labels(months, fiscal_year_start, period_type)
        for label, values in period_values(metrics, months, labels).items():
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
            for name, per_path in values.items():
                rows.append({**header, "metric": name, **describe(per_path)})
    return pd.DataFrame(rows)
