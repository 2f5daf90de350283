"""Slide charts (16:9, 1920x1080 PNG and SVG) drawn from a run's own tables.

Bands are the run's per-month quantiles as ``summary.csv`` stores them, with no
smoothing, so no band leaves the range of the draws.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SLIDE_INCHES = (16, 9)
SLIDE_DPI = 120  # 16 x 9 inches at 120 dpi = 1920 x 1080 pixels
MARGIN_FLOOR = -1.0  # margin axes stop at -100%: early months can reach -10,000%
FAN_METRICS = {
    "hosted_users": ("Hosted users", "users"),
    "mrr": ("Monthly recurring revenue (MRR)", "$"),
    "operating_margin": ("Operating margin", "%"),
    "cash": ("Cash balance", "$"),
}
AXIS_LABELS = {"$": "US dollars ($)", "%": "share of revenue (%)", "users": "users"}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
STYLE = {
    "font.size": 18,
    "axes.titlesize": 26,
    "axes.labelsize": 20,
    "xtick.labelsize": 16,
    "ytick.labelsize": 16,
    "legend.fontsize": 16,
    # Fixed ids in the SVG (not random ones), so the same run draws identical files.
    "svg.hashsalt": "forecast-report",
}


def pyplot():
    """Return matplotlib's pyplot on the Agg backend, styled for slides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def format_axis(axis, unit: str) -> None:
    """Format an axis' ticks as dollars, percent or user counts."""
    from matplotlib import ticker

    from forecast.report.tables import count, money

    if unit == "$":
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: money(v)))
    elif unit == "%":
        axis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
    else:
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: count(v)))


def _date_axis(ax) -> None:
    from matplotlib import dates

    ax.xaxis.set_major_locator(dates.MonthLocator(bymonth=(1, 4, 7, 10)))
    ax.xaxis.set_major_formatter(dates.DateFormatter("%b %Y"))
    ax.set_xlabel("Month")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _dates(months: Sequence[str]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(months), format="%Y-%m"))


def _new_figure():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=SLIDE_INCHES, dpi=SLIDE_DPI)
    ax.grid(alpha=0.3)
    return fig, ax


def fan_chart(
    summaries: Sequence[tuple[str, pd.DataFrame]],
    metric: str,
    *,
    inner_band: bool = True,
    log_when_spread: bool = False,
):
    """Draw one metric's median and 90% band (and 50% band) for one or more runs.

    With ``log_when_spread``, a positive metric whose bands span more than two
    orders of magnitude gets a log axis, so a small scenario is not drawn flat
    beside a large one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; save it with :func:`save_figure`.
    """
    title, unit = FAN_METRICS[metric]
    fig, ax = _new_figure()
    lowest, highest = np.inf, -np.inf
    for (name, summary), color in zip(summaries, COLORS, strict=False):
        rows = summary[summary["metric"] == metric]
        months = _dates(rows["month"])
        low, high = rows["p5"].to_numpy(), rows["p95"].to_numpy()
        lowest = min(lowest, float(low.min()))
        highest = max(highest, float(high.max()))
        prefix = f"{name}: " if len(summaries) > 1 else ""
        ax.fill_between(months, low, high, alpha=0.18, color=color, label=f"{prefix}90% of paths")
        if inner_band:
            ax.fill_between(
                months, rows["p25"], rows["p75"], alpha=0.3, color=color, label="50% of paths"
            )
        ax.plot(months, rows["p50"], color=color, linewidth=3, label=f"{prefix}median")
    clipped = unit == "%" and lowest < MARGIN_FLOOR
    if unit == "%":
        ax.axhline(0, color="grey", linewidth=1)
        if clipped:
            ax.set_ylim(bottom=MARGIN_FLOOR, top=1.0)
    logarithmic = log_when_spread and unit != "%" and lowest > 0 and highest > 100 * lowest
    if logarithmic:
        ax.set_yscale("log")
    format_axis(ax.yaxis, unit)
    _date_axis(ax)
    note = ""
    if clipped:
        note = " (axis cut at -100%)"
    elif logarithmic:
        note = " (log scale)"
    ax.set_title(title + note)
    ax.set_ylabel(AXIS_LABELS[unit])
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def breakeven_curve(breakeven: pd.DataFrame):
    """Draw P(break-even by month) for both definitions, with +/- 2 SE bands."""
    from forecast.report.data import BREAKEVEN_LABELS

    fig, ax = _new_figure()
    months = _dates(breakeven["month"])
    for (kind, label), color in zip(BREAKEVEN_LABELS.items(), COLORS, strict=False):
        share = breakeven[f"p_{kind}"].to_numpy()
        error = breakeven[f"mcse_{kind}"].to_numpy()
        ax.plot(months, share, linewidth=3, color=color, label=label)
        ax.fill_between(
            months,
            np.clip(share - 2 * error, 0, 1),
            np.clip(share + 2 * error, 0, 1),
            color=color,
            alpha=0.2,
            label="+/- 2 Monte Carlo SE",
        )
    ax.set_ylim(0, 1)
    format_axis(ax.yaxis, "%")
    _date_axis(ax)
    ax.set_title("Probability of break-even by month")
    ax.set_ylabel("share of paths (%)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def breakeven_months_chart(distribution: pd.DataFrame):
    """Draw the share of paths breaking even in each month, with "never" as the last bar."""
    fig, ax = _new_figure()
    months = list(distribution["month"])
    labels = [
        "never" if month == "never" else pd.Timestamp(f"{month}-01").strftime("%b %Y")
        for month in months
    ]
    positions = np.arange(len(months))
    share = distribution["share_sustained"].to_numpy()
    ax.bar(positions, share, color=COLORS[0], label="operating profit >= 0 from then on")
    step = max(1, len(months) // 12)
    ticks = [*positions[:-1:step], positions[-1]]
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=30, ha="right")
    format_axis(ax.yaxis, "%")
    ax.set_title("Break-even month: share of paths")
    ax.set_xlabel("Break-even month")
    ax.set_ylabel("share of paths (%)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def minimum_cash_chart(minimum_cash: np.ndarray, shortfall_p90: float):
    """Draw the distribution of each path's lowest cash balance over the horizon.

    The bins span the 1st percentile to the maximum, because a few deep paths
    would otherwise squeeze every other path into one bar. The title states the cut.
    """
    fig, ax = _new_figure()
    low, high = float(np.quantile(minimum_cash, 0.01)), float(minimum_cash.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    ax.hist(minimum_cash, bins=60, range=(low, high), color=COLORS[0], alpha=0.8, label="paths")
    ax.axvline(0, color="black", linewidth=1.5, label="zero cash")
    if shortfall_p90 > 0:
        ax.axvline(
            -shortfall_p90,
            color=COLORS[1],
            linewidth=3,
            linestyle="--",
            label="P90 funding shortfall",
        )
    format_axis(ax.xaxis, "$")
    format_axis(ax.yaxis, "users")
    ax.set_title("Funding need: lowest cash balance per path (lowest 1% of paths not shown)")
    ax.set_xlabel("lowest cash balance over the horizon, US dollars ($)")
    ax.set_ylabel("number of paths")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def save_figure(fig, stem: Path) -> bytes:
    """Save ``fig`` as ``stem.png`` and ``stem.svg``, close it and return the SVG bytes."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    stem.with_suffix(".svg").write_bytes(svg)
    fig.savefig(stem.with_suffix(".png"), dpi=SLIDE_DPI, metadata={"Software": "forecast"})
    plt.close(fig)
    return svg
