"""Run folders shared by the report, compare and runs tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "<script>alert(1)</script>"


@dataclass
class RunsFolder:
    """A runs folder holding copies of the session run and a few more runs."""

    root: Path
    runs_dir: Path
    priors_dir: Path


def make_runs_folder(small_run, factory: pytest.TempPathFactory) -> RunsFolder:
    """Build runs/: base (the session run), base-copy, optimistic (same seed) and base-seed12."""
    from forecast.pipeline import run_scenario

    root = factory.mktemp("report_runs")
    runs_dir = root / "runs"
    runs_dir.mkdir()
    shutil.copytree(small_run.path, runs_dir / "base")
    shutil.copytree(small_run.path, runs_dir / "base-copy")
    priors = REPO / "priors"
    run_scenario(
        "optimistic",
        draws=3000,
        seed=11,
        priors_dir=priors,
        out=runs_dir / "optimistic",
        with_charts=False,
        command=["test"],
    )
    run_scenario(
        "base",
        draws=2000,
        seed=12,
        priors_dir=priors,
        out=runs_dir / "base-seed12",
        with_charts=False,
        keep_draws=False,
        command=["test"],
    )
    return RunsFolder(root, runs_dir, priors)


def make_hostile_run(factory: pytest.TempPathFactory) -> RunsFolder:
    """Build a run whose scenario name, description and a prior source contain HTML."""
    from forecast.pipeline import run_scenario

    root = factory.mktemp("hostile")
    priors = root / "priors"
    shutil.copytree(REPO / "priors", priors)
    base = (priors / "base.toml").read_text()
    base = base.replace(
        'source = "Company 2026 hosting-economics plan: 5-10M agent users',
        f'source = "{HOSTILE_TEXT} Company 2026 hosting-economics plan: 5-10M agent users',
        1,
    )
    (priors / "base.toml").write_text(base)
    (priors / "scenarios" / f"{HOSTILE_NAME}.toml").write_text(f'description = "{HOSTILE_TEXT}"\n')
    runs_dir = root / "runs"
    run_scenario(
        HOSTILE_NAME,
        draws=500,
        seed=3,
        priors_dir=priors,
        out=runs_dir / "hostile",
        with_charts=False,
        command=["test"],
    )
    return RunsFolder(root, runs_dir, priors)
