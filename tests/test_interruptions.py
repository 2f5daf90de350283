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
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and the run would inherit
        # that if the tests themselves run in the background.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def same_command(process: subprocess.Popen) -> list[int]:
    """Processes still running ``process``'s command line: its forked sampling workers."""
    expected = "\0".join(process.args)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").rstrip("\0")
        except OSError:
            continue
        if command == expected:
            found.append(int(entry.name))
    return found


def no_workers_left(process: subprocess.Popen, seconds: float = 10.0) -> bool:
    """Wait up to ``seconds`` for every worker of a finished run to end."""
    deadline = time.monotonic() + seconds
    while same_command(process):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


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
    # Workers end with the run, even one killed without a chance to stop them.
    assert no_workers_left(process)
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
