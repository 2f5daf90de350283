"""Fan charts and the break-even probability chart (matplotlib, Agg backend).

Bands are the run's own per-month quantiles from ``summary.csv``: 90% (p5-p95)
and 50% (p25-p75) around the median, with no smoothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FAN_CHARTS = {
    "hosted_users": ("Hosted users", "users"),
    "mrr": ("Monthly recurring revenue", "$"),
    "operating_margin": ("Operating margin", "%"),
    "cash": ("Cash", "$"),
}
MARGIN_FLOOR = -1.0  # margin axes stop at -100%: early months can reach -10,000%


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_format(ax, unit: str) -> None:
    from matplotlib import ticker

    if unit == "$":
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _money(v)))
    elif unit == "%":
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
    else:
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _count(v)))


def _money(value: float) -> str:
    sign = "-" if value < 0 else ""
    return sign + "$" + _count(abs(value))


def _count(value: float) -> str:
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def fan_chart(summary: pd.DataFrame, metric: str, title: str, unit: str, path_stem: Path) -> None:
    """Draw one metric's fan chart and save it as PNG and SVG."""
    plt = _pyplot()
    rows = summary[summary["metric"] == metric]
    months = pd.to_datetime(rows["month"], format="%Y-%m")
    fig, ax = plt.subplots(figsize=(10, 5.6), dpi=100)
    low, high = rows["p5"].to_numpy(), rows["p95"].to_numpy()
    clipped = unit == "%" and bool((low < MARGIN_FLOOR).any())
    ax.fill_between(months, low, high, alpha=0.2, color="tab:blue", label="90% of paths")
    ax.fill_between(
        months, rows["p25"], rows["p75"], alpha=0.35, color="tab:blue", label="50% of paths"
    )
    ax.plot(months, rows["p50"], color="tab:blue", linewidth=2, label="median")
    if unit == "%":
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_ylim(bottom=MARGIN_FLOOR if clipped else None, top=max(1.0, float(np.nanmax(high))))
    _axis_format(ax, unit)
    ax.set_title(title + (" (axis cut at -100%)" if clipped else ""), fontsize=14)
    ax.set_xlabel("Month")
    ax.set_ylabel({"$": "US dollars", "%": "share of revenue", "users": "users"}[unit])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    for suffix in (".png", ".svg"):
        fig.savefig(path_stem.with_suffix(suffix), metadata=_metadata(suffix))
    plt.close(fig)


def breakeven_chart(breakeven: pd.DataFrame, path_stem: Path) -> None:
    """Draw P(break-even by month) for both definitions, with 2-SE bands."""
    plt = _pyplot()
    months = pd.to_datetime(breakeven["month"], format="%Y-%m")
    fig, ax = plt.subplots(figsize=(10, 5.6), dpi=100)
    labels = {"sustained": "profit >= 0 from then on", "payback": "cumulative cash flow >= 0"}
    for kind, label in labels.items():
        share = breakeven[f"p_{kind}"].to_numpy()
        error = breakeven[f"mcse_{kind}"].to_numpy()
        ax.plot(months, share, linewidth=2, label=label)
        ax.fill_between(
            months, np.clip(share - 2 * error, 0, 1), np.clip(share + 2 * error, 0, 1), alpha=0.2
        )
    ax.set_ylim(0, 1)
    _axis_format(ax, "%")
    ax.set_title("Probability of break-even by month", fontsize=14)
    ax.set_xlabel("Month")
    ax.set_ylabel("share of paths")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    for suffix in (".png", ".svg"):
        fig.savefig(path_stem.with_suffix(suffix), metadata=_metadata(suffix))
    plt.close(fig)


def _metadata(suffix: str) -> dict[str, str | None]:
    # No creation date in the files, so the same run draws byte-identical charts.
    return {"Date": None} if suffix == ".svg" else {"Software": "forecast"}


def write_run_charts(summary: pd.DataFrame, breakeven: pd.DataFrame, folder: Path) -> list[Path]:
    """Write every fan chart and the break-even chart into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, (title, unit) in FAN_CHARTS.items():
        stem = folder / f"fan_{metric}"
        fan_chart(summary, metric, title, unit, stem)
        written.append(stem.with_suffix(".png"))
    breakeven_chart(breakeven, folder / "breakeven")
    written.append(folder / "breakeven.png")
    return written
