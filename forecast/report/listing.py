"""``forecast runs``: list the runs in a runs folder and show one of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecast import runs
from forecast.errors import InputError
from forecast.report.data import read_table

DEFAULT_BY = "2027-12"


@dataclass(frozen=True)
class RunEntry:
    """One row of ``forecast runs list``."""

    run_id: str
    scenario: str
    draws: str
    seed: str
    created: str
    breakeven: str


def _odds_at(run: Path, month: str) -> str:
    table = pd.read_csv(run / "breakeven.csv", dtype={"month": str}).set_index("month")
    if month not in table.index:
        return "n/a (month outside horizon)"
    row = table.loc[month]
    return f"{row['p_sustained']:.1%} +/- {row['mcse_sustained']:.1%}"


def check_month(month: str) -> str:
    """Return ``month`` if it is ``YYYY-MM``; raise :class:`InputError` otherwise."""
    year, _, number = month.partition("-")
    if not (len(year) == 4 and year.isdigit() and number.isdigit() and 1 <= int(number) <= 12):
        raise InputError(
            "invalid month", key="--by", value=month, fix="Write YYYY-MM, e.g. 2027-12"
        )
    return month


def list_runs(runs_dir: Path, *, by: str = DEFAULT_BY) -> list[RunEntry]:
    """List every run folder in ``runs_dir``, oldest first, marking damaged folders.

    Hidden folders (runs still being written) are skipped.
    """
    check_month(by)
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    entries = []
    for folder in sorted(path for path in runs_dir.iterdir() if path.is_dir()):
        if folder.name.startswith("."):
            continue
        try:
            run = runs.resolve_run(folder.name, runs_dir)
            manifest = runs.read_manifest(run)
            odds = _odds_at(run, by)
        except (InputError, OSError, KeyError, ValueError, pd.errors.ParserError) as error:
            entries.append(RunEntry(folder.name, "?", "?", "?", "?", f"damaged: {error}"))
            continue
        entries.append(
            RunEntry(
                folder.name,
                str(manifest.get("scenario", "?")),
                str(manifest.get("draws", "?")),
                str(manifest.get("seed", "?")),
                str(manifest.get("created", "?")),
                odds,
            )
        )
    return sorted(entries, key=lambda entry: (entry.created, entry.run_id))


@dataclass
class RunDetails:
    """Manifest, year-end break-even odds and headline table of one run."""

    path: Path
    manifest: dict
    breakeven: pd.DataFrame
    headline: pd.DataFrame


def show_run(reference: str | Path, runs_dir: Path) -> RunDetails:
    """Read one run's manifest, year-end break-even odds and headline table."""
    run = runs.resolve_run(reference, runs_dir)
    manifest = runs.read_manifest(run)
    headline = read_table(run, "headline.csv")
    breakeven = read_table(run, "breakeven.csv")
    year_ends = breakeven[breakeven["month"].isin(headline["month"])]
    return RunDetails(run, manifest, year_ends.reset_index(drop=True), headline)
