"""Runs killed at random points leave no folder that looks like a run, and harm no other."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forecast.runs import RUN_FILES

REPO = Path(__file__).resolve().parent.parent


def start_run(workdir: Path, draws: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "forecast.cli",
        "run",
        "--scenario",
        "base",
        "--draws",
        str(draws),
        "--seed",
        "5",
        "--priors",
        str(REPO / "priors"),
    ]
    return subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def visible_runs(workdir: Path) -> list[Path]:
    runs = workdir / "runs"
    if not runs.exists():
        return []
    return [p for p in runs.iterdir() if not p.name.startswith(".")]


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A folder holding one finished run, shared by every kill below."""
    workdir = tmp_path_factory.mktemp("kills")
    process = start_run(workdir, 200)
    process.communicate(timeout=300)
    assert process.returncode == 0
    (finished,) = visible_runs(workdir)
    return workdir, finished, {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGINT, 130, "cancelled: nothing was written"),
        (signal.SIGTERM, 143, "terminated: nothing was written"),
        (signal.SIGKILL, -9, None),
    ],
)
def test_killed_run_leaves_no_run(earlier_run, sig, code, message):
    workdir, finished, contents = earlier_run
    rng = random.Random(sig)
    process = start_run(workdir, 400_000)
    time.sleep(rng.uniform(2.0, 5.0))
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)

    assert process.returncode == code, err
    if message is not None:
        assert message in err
    assert visible_runs(workdir) == [finished]
    for name, data in contents.items():
        assert (finished / name).read_bytes() == data
    for folder in visible_runs(workdir):
        assert all((folder / name).is_file() for name in RUN_FILES)


def test_two_runs_same_second_distinct_folders(tmp_path):
    first = start_run(tmp_path, 200)
    second = start_run(tmp_path, 200)
    for process in (first, second):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    folders = visible_runs(tmp_path)
    assert len(folders) == 2
    assert all(folder.name.endswith(("-base", "-base-2")) for folder in folders)
