"""``forecast runs list|show`` and the exit code 2 of every command on a bad run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.report.listing import list_runs

runner = CliRunner()


def test_runs_list_shows_each_run(report_runs) -> None:
    entries = {entry.run_id: entry for entry in list_runs(report_runs.runs_dir)}
    assert sorted(entries) == ["base", "base-copy", "base-seed12", "optimistic"]
    assert entries["optimistic"].scenario == "optimistic"
    assert entries["base-seed12"].seed == "12"


def test_runs_list_odds_equal_csv(report_runs) -> None:
    import pandas as pd

    csv = pd.read_csv(report_runs.runs_dir / "base" / "breakeven.csv", dtype={"month": str})
    row = csv.set_index("month").loc["2027-12"]
    entry = next(e for e in list_runs(report_runs.runs_dir) if e.run_id == "base")
    assert entry.breakeven == f"{row['p_sustained']:.1%} +/- {row['mcse_sustained']:.1%}"


def test_runs_list_marks_damaged_folder(tmp_path: Path, report_runs) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(report_runs.runs_dir / "base-seed12", runs_dir / "broken")
    (runs_dir / "broken" / "summary.csv").unlink()
    (runs_dir / ".staging").mkdir()
    entries = list_runs(runs_dir)
    assert len(entries) == 1
    assert entries[0].breakeven.startswith("damaged: ")


def test_runs_list_cli_exit_zero(report_runs) -> None:
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(report_runs.runs_dir)])
    assert result.exit_code == 0
    assert "optimistic" in result.output


def test_runs_list_invalid_month_exits_2(report_runs) -> None:
    result = runner.invoke(
        app, ["runs", "list", "--runs-dir", str(report_runs.runs_dir), "--by", "2027"]
    )
    assert result.exit_code == 2
    assert "invalid month" in result.output


def test_runs_show_prints_manifest(report_runs) -> None:
    result = runner.invoke(app, ["runs", "show", "base", "--runs-dir", str(report_runs.runs_dir)])
    assert result.exit_code == 0
    assert "seed: 11" in result.output


def test_runs_show_accepts_path_inside(report_runs) -> None:
    path = str(report_runs.runs_dir / "optimistic")
    result = runner.invoke(app, ["runs", "show", path, "--runs-dir", str(report_runs.runs_dir)])
    assert result.exit_code == 0
    assert "scenario: optimistic" in result.output


def test_runs_show_symlink_outside_exits_2(tmp_path: Path, report_runs) -> None:
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (runs_dir / "elsewhere").symlink_to(report_runs.runs_dir / "base", target_is_directory=True)
    result = runner.invoke(app, ["runs", "show", "elsewhere", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 2
    assert "outside the runs folder" in result.output


@pytest.mark.parametrize(
    ("command", "reference", "message"),
    [
        ("show", "no-such-run", "run not found"),
        ("show", "../..", "outside the runs folder"),
        ("show", "/tmp", "outside the runs folder"),
        ("report", "no-such-run", "run not found"),
        ("report", "../..", "outside the runs folder"),
        ("compare", "no-such-run", "run not found"),
    ],
)
def test_bad_run_reference_exits_2(report_runs, tmp_path, command, reference, message) -> None:
    runs_dir = ["--runs-dir", str(report_runs.runs_dir)]
    if command == "show":
        arguments = ["runs", "show", reference, *runs_dir]
    elif command == "report":
        arguments = ["report", reference, *runs_dir, "--reports-dir", str(tmp_path)]
    else:
        arguments = ["compare", "base", reference, *runs_dir, "--reports-dir", str(tmp_path)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert message in result.output


def test_report_cli_prints_headline(report_runs, tmp_path: Path) -> None:
    arguments = ["report", "base", "--runs-dir", str(report_runs.runs_dir)]
    result = runner.invoke(app, [*arguments, "--reports-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "P(break-even by Dec 2027)" in result.output


def test_help_lists_report_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("report", "compare", "runs"):
        assert command in result.output, command
