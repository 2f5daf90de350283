"""Read a run folder back into the tables and draws a report shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast import runs, summarize
from forecast.errors import InputError
from forecast.priors import Scenario, load_scenario, sha256_file

BREAKEVEN_LABELS = {
    "sustained": "operating profit >= 0 from then on",
    "payback": "cumulative operating cash flow >= 0 (starting cash earned back)",
}


@dataclass
class RunView:
    """A run folder's tables, manifest and resolved scenario, as read from disk."""

    path: Path
    manifest: dict
    summary: pd.DataFrame
    breakeven: pd.DataFrame
    breakeven_month: pd.DataFrame
    annual: pd.DataFrame
    headline: pd.DataFrame
    scenario: Scenario
    _paths: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _draws: Any = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        """Return the run folder's name, which is the run id."""
        return self.path.name

    @property
    def months(self) -> list[str]:
        """Return the run's months as ``YYYY-MM`` strings."""
        return list(self.breakeven["month"])

    @property
    def has_draws(self) -> bool:
        """Return whether the run kept every path's draws (``draws.nc``)."""
        return (self.path / runs.DRAWS_FILE).is_file()

    def path_values(self, metric: str) -> np.ndarray | None:
        """Return one metric's per-path values, shape (paths, months), or None without draws.

        The draws file stores metrics as float32, so values carry about seven
        significant digits.
        """
        if not self.has_draws:
            return None
        if self._draws is None:
            # Opened once per run; each metric is then read from the file on first use.
            self._draws = runs.open_draws(self.path)
        if metric not in self._paths:
            if metric not in self._draws.data_vars:
                raise InputError(
                    "metric missing from the run's draws",
                    file=self.path / runs.DRAWS_FILE,
                    key=metric,
                    fix="Run the scenario again with this version of forecast",
                )
            values = np.asarray(self._draws[metric].values, dtype=np.float64)
            self._paths[metric] = values.reshape(-1, values.shape[-1])
        return self._paths[metric]


def read_table(run: Path, name: str) -> pd.DataFrame:
    """Read one CSV table of a run, keeping months as text."""
    path = run / name
    try:
        return pd.read_csv(path, dtype={"month": str, "year": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(
            f"failed to read run table: {error}",
            file=path,
            fix="Run the scenario again; the run folder is damaged",
        ) from None


def priors_dir_of(manifest: dict, run: Path) -> Path:
    """Return the run's own copy of its priors, else the folder the manifest records.

    Runs keep a hash-checked copy in ``priors/`` (checked by :func:`runs.check_run`);
    the recorded originals serve only runs written before copies existed.
    """
    if manifest.get("priors_copies") and (run / "priors" / "base.toml").is_file():
        return run / "priors"
    for name in manifest.get("priors_files", {}):
        path = Path(name)
        if path.name == "base.toml" and path.parent.name != "scenarios":
            return path.parent
    raise InputError(
        "base priors file missing from the manifest",
        file=run / runs.MANIFEST,
        key="priors_files",
        fix="Run the scenario again with this version of forecast",
    )


def check_priors_unchanged(manifest: dict, run: Path) -> None:
    """Raise unless every priors file the run used still has its recorded SHA-256.

    Raises
    ------
    InputError
        If a priors file is missing or its contents changed since the run, since
        the assumptions appendix would then describe other priors than the run's.
    """
    if manifest.get("priors_copies"):
        return  # the run's own copies were checked against their hashes already
    for name, recorded in manifest.get("priors_files", {}).items():
        path = Path(name)
        if not path.is_file():
            raise InputError(
                "priors file of the run not found",
                file=path,
                fix="Restore the file, or run the scenario again and report the new run",
            )
        if sha256_file(path) != recorded:
            raise InputError(
                "priors file changed since the run (SHA-256 differs from the manifest)",
                file=path,
                fix="Restore the file, or run the scenario again and report the new run",
            )


def load_run(reference: str | Path, runs_dir: Path) -> RunView:
    """Find a run by id or path inside ``runs_dir`` and read its tables and priors.

    Raises
    ------
    InputError
        If the run does not exist, lies outside ``runs_dir``, is incomplete or
        damaged, or its priors files changed since it was sampled.
    """
    path = runs.resolve_run(reference, runs_dir)
    manifest = runs.read_manifest(path)
    check_priors_unchanged(manifest, path)
    scenario = load_scenario(str(manifest["scenario"]), priors_dir_of(manifest, path))
    headline_path = path / "headline.csv"
    if not headline_path.is_file():
        raise InputError(
            "run folder is incomplete: missing headline.csv",
            key="RUN",
            value=str(path),
            fix="Run the scenario again; an interrupted run cannot be repaired",
        )
    return RunView(
        path=path,
        manifest=manifest,
        summary=read_table(path, "summary.csv"),
        breakeven=read_table(path, "breakeven.csv"),
        breakeven_month=read_table(path, "breakeven_month.csv"),
        annual=read_table(path, "annual.csv"),
        headline=read_table(path, "headline.csv"),
        scenario=scenario,
    )


def month_label(month: str) -> str:
    """Format ``2027-12`` as ``Dec 2027``."""
    return pd.Timestamp(f"{month}-01").strftime("%b %Y")


@dataclass(frozen=True)
class Odds:
    """P(break-even by a month) with its Monte Carlo standard error."""

    month: str
    kind: str
    probability: float
    mcse: float

    def sentence(self, event: str = "break-even") -> str:
        """Format as ``P(break-even by Dec 2027) = 62.0% +/- 1.1%``."""
        return (
            f"P({event} by {month_label(self.month)}) = {self.probability:.1%} +/- {self.mcse:.1%}"
        )


def headline_odds(view: RunView) -> list[Odds]:
    """Return the break-even odds at each year-end month of ``headline.csv``."""
    table = view.breakeven.set_index("month")
    found = []
    for kind in BREAKEVEN_LABELS:
        for month in dict.fromkeys(view.headline["month"]):
            row = table.loc[month]
            found.append(Odds(month, kind, float(row[f"p_{kind}"]), float(row[f"mcse_{kind}"])))
    return found


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo figure with its standard error (``nan`` when unknown)."""

    value: float
    mcse: float


def funding_need(view: RunView) -> dict[str, Estimate] | None:
    """Summarise the minimum cash over the horizon per path, or None without draws.

    The shortfall of a path is ``max(0, -minimum cash)``: the funding it needs
    to stay solvent. Its P90 is the downside figure.
    """
    cash = view.path_values("cash")
    if cash is None:
        return None
    low = summarize.minimum_cash(cash)
    shortfall = np.maximum(0.0, -low)
    share = float((low < 0).mean())
    found = {
        "p_negative": Estimate(share, float(np.sqrt(share * (1 - share) / len(low)))),
    }
    for q in (0.10, 0.50, 0.90):
        found[f"min_cash_p{round(q * 100)}"] = Estimate(
            float(np.quantile(low, q)), summarize.quantile_mcse(low, q)
        )
    found["shortfall_p90"] = Estimate(
        float(np.quantile(shortfall, 0.9)), summarize.quantile_mcse(shortfall, 0.9)
    )
    return found


def minimum_cash_values(view: RunView) -> np.ndarray | None:
    """Return each path's minimum cash over the horizon, or None without draws."""
    cash = view.path_values("cash")
    return None if cash is None else summarize.minimum_cash(cash)
