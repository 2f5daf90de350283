"""Tornado, spider and Sobol charts of a sensitivity review (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.charts import _axis_format, _metadata, _pyplot

TORNADO_BARS = 12  # priors shown per tornado; the CSV has every prior


def slug(label: str) -> str:
    """Turn an output label such as ``mrr=2028-12`` into a file-name part."""
    return "".join(c if c.isalnum() else "_" for c in label)


def _unit(statistic: str, label: str) -> str:
    if statistic == "probability":
        return "%"
    return "$" if label.startswith(("mrr", "cash", "minimum_cash")) or "cost" in label else ""


def _save(fig, path_stem: Path) -> list[Path]:
    written = []
    for suffix in (".png", ".svg"):
        path = path_stem.with_suffix(suffix)
        fig.savefig(path, metadata=_metadata(suffix))
        written.append(path)
    return written


def tornado_chart(tornado: pd.DataFrame, output: str, path_stem: Path) -> list[Path]:
    """Draw one output's tornado: the estimate with each prior at its P10 and at its P90."""
    plt = _pyplot()
    rows = tornado[tornado["output"] == output].head(TORNADO_BARS).iloc[::-1]
    statistic = rows["statistic"].iloc[0]
    baseline = float(rows["baseline"].iloc[0])
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8))
    positions = np.arange(len(rows))
    for position, row in zip(positions, rows.itertuples(), strict=True):
        ax.barh(position, row.at_p10 - baseline, left=baseline, color="#4c72b0", height=0.6)
        ax.barh(position, row.at_p90 - baseline, left=baseline, color="#dd8452", height=0.6)
    ax.axvline(baseline, color="black", linewidth=1)
    ax.set_yticks(positions, rows["prior"])
    from matplotlib.patches import Patch

    handles = [
        Patch(color="#4c72b0", label="prior at its P10"),
        Patch(color="#dd8452", label="prior at its P90"),
    ]
    ax.legend(handles=handles, loc="lower right")
    statistic_name = "probability" if statistic == "probability" else "P50"
    ax.set_title(f"{output}: {statistic_name} with one prior held, others sampled", fontsize=12)
    _format_x(ax, _unit(statistic, output))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    written = _save(fig, path_stem)
    plt.close(fig)
    return written


def _format_x(ax, unit: str) -> None:
    from matplotlib import ticker

    from forecast.charts import _money

    if unit == "$":
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _money(v)))
    elif unit == "%":
        ax.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))


def spider_chart(spider: pd.DataFrame, output: str, path_stem: Path) -> list[Path]:
    """Draw one output against the percentile of each top prior, others sampled."""
    plt = _pyplot()
    rows = spider[spider["output"] == output]
    statistic = rows["statistic"].iloc[0]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for prior, group in rows.groupby("prior", sort=True):
        group = group.sort_values("percentile")
        ax.errorbar(
            group["percentile"] * 100,
            group["estimate"],
            yerr=2 * group["mcse"],
            marker="o",
            capsize=3,
            label=prior,
        )
    ax.set_xlabel("percentile of the prior held fixed")
    statistic_name = "probability" if statistic == "probability" else "P50"
    ax.set_title(f"{output}: {statistic_name} as one prior moves (bars: +/- 2 MCSE)", fontsize=12)
    unit = _unit(statistic, output)
    if unit:
        _axis_format(ax, unit)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    written = _save(fig, path_stem)
    plt.close(fig)
    return written


def sobol_chart(sobol: pd.DataFrame, output: str, path_stem: Path, bars: int = 12) -> list[Path]:
    """Draw first-order and total Sobol indices of one output, negatives shown as 0."""
    plt = _pyplot()
    rows = sobol[sobol["output"] == output].sort_values("ST", ascending=False).head(bars)
    rows = rows.iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8))
    positions = np.arange(len(rows))
    first = rows["S1"].clip(lower=0)
    total = rows["ST"].clip(lower=0)
    ax.barh(positions + 0.2, total, height=0.4, xerr=rows["ST_conf"], label="total", capsize=2)
    ax.barh(
        positions - 0.2, first, height=0.4, xerr=rows["S1_conf"], label="first order", capsize=2
    )
    ax.set_yticks(positions, rows["prior"])
    ax.set_xlabel("share of output variance (bars: 95% interval)")
    _format_x(ax, "%")
    ax.set_title(f"{output}: Sobol indices", fontsize=12)
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    written = _save(fig, path_stem)
    plt.close(fig)
    return written
