"""The report's tables as rows of formatted text: year-end figures, economics, assumptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import summarize
from forecast.parameters import PARAMETERS
from forecast.report.data import RunView, month_label

# User counts of the unit-economics table: the plan's own scaling rows.
ECONOMICS_USERS = (1_000, 10_000, 50_000, 100_000, 1_000_000)
ECONOMICS_PRICE = 10.0
ECONOMICS_DRAWS = 20_000

LEVELS = {
    "hosted_users": ("Hosted users", "users", "P10"),
    "mrr": ("Monthly recurring revenue", "$", "P10"),
    "cash": ("Cash", "$", "P10"),
}
# Annual flows: the metric in annual.csv, the per-path metric it sums, label, unit, the
# quantile that is the downside, and the sign that turns the stored figure into the one
# shown (net burn = -operating profit).
FLOWS = (
    ("revenue", "mrr", "Revenue", "$", "P10", 1.0),
    ("total_cost", "total_cost", "Total cost", "$", "P90", 1.0),
    ("operating_profit", "operating_profit", "Net burn (operating loss)", "$", "P90", -1.0),
)


def money(value: float) -> str:
    """Format dollars compactly: $1.23M, -$45.6K."""
    if not np.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    return sign + "$" + count(abs(value))


def count(value: float) -> str:
    """Format a count compactly: 1.23M, 45.6K, 789."""
    if not np.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def with_error(value: float, error: float, unit: str) -> str:
    """Format a figure and its Monte Carlo SE: ``$1.2M +/- $30K``."""
    fmt = money if unit == "$" else count
    if not np.isfinite(error):
        return fmt(value)
    return f"{fmt(value)} +/- {fmt(error)}"


@dataclass(frozen=True)
class QuantileRow:
    """P10 / P50 / P90 of one figure at one month or year, with Monte Carlo SEs."""

    period: str
    label: str
    unit: str
    downside: str
    values: tuple[float, float, float]
    errors: tuple[float, float, float]

    def cells(self) -> list[str]:
        """Return the formatted P10, P50 and P90 cells."""
        return [
            with_error(value, error, self.unit)
            for value, error in zip(self.values, self.errors, strict=True)
        ]


def year_end_rows(view: RunView) -> list[QuantileRow]:
    """Return the year-end levels of ``headline.csv`` (users, MRR, cash)."""
    rows = []
    for record in view.headline.itertuples(index=False):
        label, unit, downside = LEVELS[record.metric]
        rows.append(
            QuantileRow(
                period=month_label(record.month),
                label=label,
                unit=unit,
                downside=downside,
                values=(record.p10, record.p50, record.p90),
                errors=(record.mcse_p10, record.mcse_p50, record.mcse_p90),
            )
        )
    return rows


def annual_rows(view: RunView) -> list[QuantileRow]:
    """Return the annual revenue, total cost and net burn of ``annual.csv``.

    Quantiles come from ``annual.csv``. Net burn is minus operating profit, and
    its P10 / P50 / P90 are minus the profit's P90 / P50 / P10, which is exact
    for numpy's linear quantiles. Monte Carlo SEs are computed from the stored
    draws, or left out when the run kept no draws.
    """
    annual = view.annual.set_index(["year", "metric"])
    years = list(dict.fromkeys(view.annual["year"]))
    months = np.array([month[:4] for month in view.months])
    rows = []
    for year in years:
        for annual_metric, path_metric, label, unit, downside, sign in FLOWS:
            record = annual.loc[(year, annual_metric)]
            quantiles = [float(record[column]) for column in ("p10", "p50", "p90")]
            if sign < 0:
                quantiles = [-value for value in reversed(quantiles)]
            errors = [float("nan")] * 3
            paths = view.path_values(path_metric)
            if paths is not None:
                totals = sign * paths[:, months == year].sum(axis=1)
                errors = [summarize.quantile_mcse(totals, q) for q in (0.10, 0.50, 0.90)]
            rows.append(QuantileRow(year, label, unit, downside, tuple(quantiles), tuple(errors)))
    return rows


def economics(view: RunView) -> dict[str, pd.DataFrame]:
    """Rebuild the unit-economics tables from the run's priors files and seed.

    The run folder stores no unit economics, so these ranges are recomputed
    from the priors files (checked against the manifest's SHA-256) with the
    run's seed, and they come out the same every time.
    """
    from forecast.economics import economics_tables
    from forecast.report.data import priors_dir_of

    return economics_tables(
        str(view.manifest["scenario"]),
        users=list(ECONOMICS_USERS),
        price=ECONOMICS_PRICE,
        draws=ECONOMICS_DRAWS,
        seed=int(view.manifest["seed"]),
        priors_dir=priors_dir_of(view.manifest, view.path),
    )


@dataclass(frozen=True)
class AssumptionRow:
    """One prior as the assumptions appendix lists it."""

    name: str
    description: str
    unit: str
    distribution: str
    interval: str
    source: str
    set_by: str
    file: str


def _number(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def assumption_rows(view: RunView) -> list[AssumptionRow]:
    """List every prior with its distribution, 90% interval, source and file."""
    rows = []
    for name in PARAMETERS:
        prior = view.scenario.priors[name]
        if prior.is_fixed:
            interval = f"fixed at {_number(prior.params[0])}"
        else:
            interval = f"{_number(prior.quantile(0.05))} to {_number(prior.quantile(0.95))}"
        rows.append(
            AssumptionRow(
                name=name,
                description=prior.description,
                unit=prior.unit,
                distribution=prior.describe(),
                interval=interval,
                source=prior.source,
                set_by=prior.set_by,
                file=_short_file(prior.file),
            )
        )
    return rows


def _short_file(file: str) -> str:
    path = Path(file)
    return f"scenarios/{path.name}" if path.parent.name == "scenarios" else path.name


def stress_rows(view: RunView) -> list[tuple[str, str]]:
    """Return the run's stresses (priors replaced by a band or a value) as text."""
    rows = []
    for name, band in sorted(view.manifest.get("stresses", {}).items()):
        if band.get("value") is not None:
            rows.append((name, f"fixed at {_number(band['value'])}"))
        else:
            rows.append(
                (
                    name,
                    f"drawn between its prior's {band['low']:.0%} and {band['high']:.0%} quantiles",
                )
            )
    return rows
