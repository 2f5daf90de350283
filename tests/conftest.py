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


@pytest.fixture(scope="session")
def report_runs(small_run, tmp_path_factory: pytest.TempPathFactory):
    """A runs folder with copies of ``small_run`` and three more runs, for report tests.

    Holds ``base`` and ``base-copy`` (the session run), ``optimistic`` (3,000 paths,
    seed 11, so it shares random numbers with base) and ``base-seed12`` (2,000
    paths, seed 12, no draws kept).
    """
    from report_helpers import make_runs_folder

    return make_runs_folder(small_run, tmp_path_factory)


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):
    """A 500-path run whose scenario name, description and one prior source contain HTML."""
    from report_helpers import make_hostile_run

    return make_hostile_run(tmp_path_factory)
