"""``forecast compare``: overlaid fan charts and break-even odds of several runs.

Runs with the same seed, draw count, block size and horizon draw every prior
from the same keyed random streams, so path ``i`` of one run and path ``i`` of
another share their random numbers (common random numbers). Their difference
in break-even odds then has the paired standard error ``sd(d_i) / sqrt(n)``,
where ``d_i`` is the difference of the two paths' break-even indicators, and
most of the sampling noise cancels. Otherwise the runs are independent and the
standard errors add in quadrature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import runs, summarize
from forecast.errors import InputError
from forecast.report import figures, render, tables
from forecast.report.data import RunView, load_run, month_label

MAX_FOLDER_NAME = 120
PAIRED = "paired SE over common random numbers"
INDEPENDENT = "SE of independent runs"


@dataclass(frozen=True)
class OddsDifference:
    """P(break-even by a month) of a run minus that of the baseline run, with its SE."""

    month: str
    baseline: str
    other: str
    difference: float
    mcse: float
    method: str

    def sentence(self) -> str:
        """Format as ``optimistic minus base, P(break-even by Dec 2027): +12.3 points ...``."""
        return (
            f"{self.other} minus {self.baseline}, P(break-even by {month_label(self.month)}): "
            f"{self.difference * 100:+.1f} points +/- {self.mcse * 100:.1f}, {self.method}"
        )


@dataclass
class CompareResult:
    """The comparison folder, whether the runs share random numbers, and the differences."""

    path: Path
    common_random_numbers: bool
    differences: list[OddsDifference]


def share_random_numbers(views: list[RunView]) -> bool:
    """Return whether every run used the same seed, draws, block size and horizon."""
    keys = {
        (
            view.manifest.get("seed"),
            view.manifest.get("draws"),
            view.manifest.get("paths_per_block"),
            tuple(view.months),
        )
        for view in views
    }
    return len(keys) == 1


def _breakeven_indicators(view: RunView) -> np.ndarray | None:
    profit = view.path_values("operating_profit")
    if profit is None:
        return None
    first = summarize.first_month_staying_nonnegative(profit)
    return first[:, None] <= np.arange(profit.shape[1])[None, :]


def run_label(view: RunView, views: list[RunView]) -> str:
    """Return the scenario name, with the run id added when two runs share that scenario."""
    names = [other.scenario.name for other in views]
    if names.count(view.scenario.name) > 1:
        return f"{view.scenario.name} ({view.run_id})"
    return view.scenario.name


def odds_differences(views: list[RunView], common: bool) -> list[OddsDifference]:
    """Return each later run's break-even odds minus the first run's, at its year ends.

    The differences of the odds come from each run's ``breakeven.csv``. The SE is
    paired when the runs share random numbers and kept their draws; otherwise
    it is ``sqrt(se_a**2 + se_b**2)`` from the two tables.
    """
    baseline = views[0]
    base_table = baseline.breakeven.set_index("month")
    base_paths = _breakeven_indicators(baseline) if common else None
    found = []
    for other in views[1:]:
        table = other.breakeven.set_index("month")
        other_paths = _breakeven_indicators(other) if common else None
        for month in dict.fromkeys(baseline.headline["month"]):
            if month not in table.index:
                continue
            difference = float(
                table.loc[month, "p_sustained"] - base_table.loc[month, "p_sustained"]
            )
            if base_paths is not None and other_paths is not None:
                column = baseline.months.index(month)
                paired = other_paths[:, column].astype(float) - base_paths[:, column]
                error = float(paired.std() / np.sqrt(len(paired)))
                method = PAIRED
            else:
                error = float(
                    np.hypot(
                        table.loc[month, "mcse_sustained"], base_table.loc[month, "mcse_sustained"]
                    )
                )
                method = INDEPENDENT
            found.append(
                OddsDifference(
                    month,
                    run_label(baseline, views),
                    run_label(other, views),
                    difference,
                    error,
                    method,
                )
            )
    return found


def headline_frame(views: list[RunView]) -> pd.DataFrame:
    """Build one row per run and year end: break-even odds and P10/P50/P90 of users, MRR, cash."""
    rows = []
    for view in views:
        odds = view.breakeven.set_index("month")
        for month, group in view.headline.groupby("month", sort=True):
            row = {
                "scenario": view.scenario.name,
                "run": view.run_id,
                "month": month,
                "P(break-even)": f"{odds.loc[month, 'p_sustained']:.1%} +/- "
                f"{odds.loc[month, 'mcse_sustained']:.1%}",
            }
            for record in group.itertuples(index=False):
                label, unit, _ = tables.LEVELS[record.metric]
                for q in ("p10", "p50", "p90"):
                    row[f"{label} {q.upper()}"] = tables.with_error(
                        getattr(record, q), getattr(record, f"mcse_{q}"), unit
                    )
            rows.append(row)
    return pd.DataFrame(rows)


def comparison_folder_name(views: list[RunView]) -> str:
    """Return ``compare-<id>-<id>...``, shortened with a hash when too long for a folder."""
    name = "compare-" + "-".join(view.run_id for view in views)
    if len(name) <= MAX_FOLDER_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_FOLDER_NAME - 13]}-{digest}"


def _legend_name(name: str) -> str:
    # matplotlib reads text between dollar signs as math; a scenario name is plain text.
    return name.replace("$", r"\$")


def write_comparison(
    references: list[str | Path],
    *,
    runs_dir: Path = Path("runs"),
    reports_dir: Path = Path("reports"),
    overwrite: bool = False,
) -> CompareResult:
    """Write ``reports_dir/compare-<ids>/`` with compare.html, charts and CSV tables.

    Raises
    ------
    InputError
        If fewer than two runs are given, a run is given twice, a run cannot be
        read, or the folder exists and ``overwrite`` is false.
    """
    if len(references) < 2:
        raise InputError(
            "compare needs at least two runs",
            key="RUN",
            value=[str(reference) for reference in references],
            fix="Give two or more run ids, e.g. `forecast compare RUN_A RUN_B`",
        )
    views = [load_run(reference, runs_dir) for reference in references]
    paths = [view.path for view in views]
    if len(set(paths)) < len(paths):
        raise InputError(
            "the same run is given twice",
            key="RUN",
            value=[str(reference) for reference in references],
            fix="Give each run once",
        )
    common = share_random_numbers(views)
    differences = odds_differences(views, common)
    headline = headline_frame(views)
    destination = Path(reports_dir) / comparison_folder_name(views)
    with runs.staged_folder(destination, overwrite=overwrite, key="compare folder") as folder:
        charts = []
        labelled = [(_legend_name(run_label(view, views)), view.summary) for view in views]
        for metric, (title, _) in figures.FAN_METRICS.items():
            fig = figures.fan_chart(labelled, metric, inner_band=False, log_when_spread=True)
            svg = figures.save_figure(fig, folder / f"fan_{metric}")
            caption = "Median and the band holding 90% of paths, per scenario."
            charts.append(render.Chart.from_svg(f"fan_{metric}", title, caption, svg))
        headline.to_csv(folder / "headline.csv", index=False)
        pd.DataFrame([vars(item) for item in differences]).to_csv(
            folder / "breakeven_differences.csv", index=False, float_format="%.10g"
        )
        html = render.render_html(
            "compare.html.j2",
            title="Scenario comparison: " + ", ".join(view.scenario.name for view in views),
            views=views,
            common=common,
            differences=differences,
            headline=headline,
            charts=charts,
        )
        (folder / "compare.html").write_text(html, encoding="utf-8")
    return CompareResult(destination, common, differences)
