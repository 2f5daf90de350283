"""The actuals parser of ``forecast update``: accepted files and every rejected case."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.errors import InputError
from forecast.priors import month_range
from forecast.update import read_actuals

HORIZON = month_range("2026-01", "2028-12")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "actuals.csv"
    path.write_text(text)
    return path


def test_read_actuals_blank_cells_become_nan(tmp_path):
    path = write(tmp_path, "month,hosted_users,cash\n2026-02,120,\n2026-01,80,1950000\n")
    actuals = read_actuals(path, HORIZON)
    assert actuals.months == ("2026-01", "2026-02")
    assert actuals.values["hosted_users"].tolist() == [80.0, 120.0]
    assert actuals.values["cash"][0] == 1950000.0
    assert math.isnan(actuals.values["cash"][1])


def test_read_actuals_records_file_hash(tmp_path):
    import hashlib

    path = write(tmp_path, "month,mrr\n2026-03,2500\n")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_actuals(path, HORIZON).sha256 == expected


def test_read_actuals_negative_cash_allowed(tmp_path):
    path = write(tmp_path, "month,cash\n2026-03,-12000\n")
    assert read_actuals(path, HORIZON).values["cash"][0] == -12000.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("month,hosted_users,churn\n2026-01,5,0.1\n", r"row 1, column 'churn': unknown column"),
        ("month,hosted_users\n2025-12,5\n", r"row 2, column month: month is outside the forecast"),
        ("month,hosted_users\n2029-01,5\n", r"row 2, column month: month is outside the forecast"),
        ("month,hosted_users\n2026-01,5\n2026-01,6\n", r"row 3, column month: duplicate month"),
        ("month,hosted_users\n2026-01,-5\n", r"row 2, column hosted_users: hosted_users cannot"),
        ("month,self_hosted_users\n2026-01,-1\n", r"row 2, column self_hosted_users: self_host"),
        ("month,mrr\n2026-01,12k\n", r"row 2, column mrr: not a number \(got '12k'\)"),
        ("month,cash\n2026-01,nan\n", r"row 2, column cash: not a finite number"),
        ("month,mrr\nJan 2026,5\n", r"row 2, column month: invalid month"),
        ("hosted_users\n5\n", r"row 1: missing column month"),
        ("month,mrr\n2026-01,\n", r"no actuals: every cell is blank"),
        ("month,mrr\n2026-01,5,6\n", r"row 2: row has 3 cells but the header names 2"),
    ],
)
def test_read_actuals_rejects_bad_file(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=match):
        read_actuals(path, HORIZON)


def test_read_actuals_missing_file_rejected(tmp_path):
    with pytest.raises(InputError, match="actuals file not found"):
        read_actuals(tmp_path / "none.csv", HORIZON)


def test_update_command_bad_actuals_exit_two(tmp_path, priors_dir):
    from forecast.cli import app

    path = write(tmp_path, "month,hosted_users\n2026-01,5\n2026-01,6\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["update", "--actuals", str(path), "--priors", str(priors_dir), "--out", str(out)],
    )
    assert result.exit_code == 2
    assert "row 3, column month: duplicate month" in result.output
    assert not out.exists()
