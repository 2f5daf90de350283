"""Shared fixtures: the shipped priors, an editable copy, and one small run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRIORS = REPO / "priors"


@pytest.fixture
def priors_dir() -> Path:
    """The repository's priors folder (read only)."""
    return PRIORS


@pytest.fixture
def tmp_priors(tmp_path: Path) -> Path:
    """A writable copy of the priors folder, for tests that edit priors files."""
    target = tmp_path / "priors"
    shutil.copytree(PRIORS, target)
    return target


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory):
    """One complete base-scenario run of 3,000 paths with seed 11, charts included."""
    from forecast.pipeline import run_scenario

    runs_dir = tmp_path_factory.mktemp("runs_root") / "runs"
    return run_scenario(
        "base", draws=3000, seed=11, priors_dir=PRIORS, runs_dir=runs_dir, command=["test"]
    )
