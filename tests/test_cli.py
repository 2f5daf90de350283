"""The command line end to end, with small draws, through typer's test runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run commands from an empty folder so runs/ lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_writes_complete_folder(workdir):
    result = invoke(
        "run",
        "--scenario",
        "conservative",
        "--draws",
        "1500",
        "--seed",
        "3",
        "--priors",
        str(REPO / "priors"),
        "--no-charts",
    )
    assert result.exit_code == 0, result.output
    runs = list((workdir / "runs").iterdir())
    assert len(runs) == 1
    folder = runs[0]
    assert folder.name.endswith("-conservative")
    for name in ("manifest.json", "summary.csv", "breakeven.csv", "annual.csv", "draws.nc"):
        assert (folder / name).is_file(), name
    assert "run folder:" in result.output
    assert "2028-12" in result.output


def test_run_summary_has_required_metrics(small_run):
    summary = pd.read_csv(small_run.path / "summary.csv")
    required = {
        "agent_users",
        "hosted_users",
        "self_hosted_users",
        "price",
        "mrr",
        "infra_cost",
        "team_cost",
        "total_cost",
        "operating_profit",
        "gross_margin",
        "operating_margin",
        "cash",
    }
    assert required <= set(summary["metric"])
    assert summary["month"].iloc[0] == "2026-01"
    assert len(summary[summary["metric"] == "mrr"]) == 36


def test_manifest_records_inputs(small_run):
    manifest = json.loads((small_run.path / "manifest.json").read_text())
    assert manifest["seed"] == 11
    assert manifest["draws"] == 3000
    assert manifest["scenario"] == "base"
    assert manifest["horizon"] == {"start": "2026-01", "end": "2028-12", "months": 36}
    assert all(len(digest) == 64 for digest in manifest["priors_files"].values())
    assert {"forecast", "pymc", "numpy"} <= set(manifest["versions"])


def test_charts_written(small_run):
    for stem in ("fan_hosted_users", "fan_mrr", "fan_operating_margin", "fan_cash", "breakeven"):
        for suffix in (".png", ".svg"):
            assert (small_run.path / "charts" / f"{stem}{suffix}").stat().st_size > 1000


def test_draws_open_with_arviz(small_run):
    import arviz as az

    tree = az.from_netcdf(small_run.path / "draws.nc")
    cash = tree["prior"]["cash"]
    assert cash.dims == ("chain", "draw", "month")
    assert cash.shape == (1, 3000, 36)


def test_breakeven_matches_paths(small_run):
    table = pd.read_csv(small_run.path / "breakeven.csv")
    profit = small_run.draws.metrics["operating_profit"]
    stays = (profit[:, 23:] >= 0).all(axis=1)  # profitable from 2027-12 to the end
    row = table[table["month"] == "2027-12"].iloc[0]
    assert row["p_sustained"] == pytest.approx(stays.mean())
    assert row["mcse_sustained"] == pytest.approx((stays.mean() * (1 - stays.mean()) / 3000) ** 0.5)


@pytest.mark.parametrize("hash_seed", ["0", "123"])
def test_same_seed_identical_summary_new_process(small_run, tmp_path, hash_seed):
    out = tmp_path / "again"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    command = [
        sys.executable,
        "-m",
        "forecast.cli",
        "run",
        "--scenario",
        "base",
        "--draws",
        "3000",
        "--seed",
        "11",
        "--priors",
        str(REPO / "priors"),
        "--out",
        str(out),
        "--no-charts",
        "--no-keep-draws",
    ]
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=tmp_path)
    assert (out / "summary.csv").read_bytes() == (small_run.path / "summary.csv").read_bytes()
    assert (out / "annual.csv").read_bytes() == (small_run.path / "annual.csv").read_bytes()


def test_unknown_scenario_exit_two(workdir):
    result = invoke("run", "--scenario", "optimstic", "--priors", str(REPO / "priors"))
    assert result.exit_code == 2
    assert "Did you mean 'optimistic'" in result.output
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize("draws", ["0", "-5"])
def test_nonpositive_draws_exit_two(workdir, draws):
    result = invoke("run", "--draws", draws, "--seed", "1", "--priors", str(REPO / "priors"))
    assert result.exit_code == 2
    assert "--draws" in result.output
    assert not (workdir / "runs").exists()


def test_invalid_priors_exit_two_no_folder(workdir, tmp_priors):
    scenario = tmp_priors / "scenarios" / "base.toml"
    scenario.write_text(
        scenario.read_text() + '\n[priors.spot_price]\ninterval = [0.5, 0.2]\nsource = "x"\n'
    )
    result = invoke("run", "--seed", "1", "--draws", "100", "--priors", str(tmp_priors))
    assert result.exit_code == 2
    assert "spot_price" in result.output
    assert "[0.2, 0.5]" in result.output
    assert not (workdir / "runs").exists()


def test_existing_out_refused_without_overwrite(workdir):
    target = workdir / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    result = invoke(
        "run",
        "--draws",
        "100",
        "--seed",
        "1",
        "--out",
        str(target),
        "--priors",
        str(REPO / "priors"),
    )
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert (target / "keep.txt").read_text() == "old"


def test_seed_drawn_and_recorded(workdir):
    result = invoke("run", "--draws", "100", "--priors", str(REPO / "priors"), "--no-charts")
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((workdir / "runs").glob("*/manifest.json")).read_text())
    assert f"--seed {manifest['seed']}" in result.output


def test_scenarios_lists_descriptions():
    result = invoke("scenarios", "--priors", str(REPO / "priors"))
    assert result.exit_code == 0
    for name in ("base", "conservative", "optimistic", "segment"):
        assert name in result.output


def test_economics_csv_shows_plan_checks():
    result = invoke("economics", "--format", "csv", "--draws", "2000")
    assert result.exit_code == 0, result.output
    assert "$2.10" in result.output
    assert "112 instances" in result.output


def test_economics_bad_users_exit_two():
    result = invoke("economics", "--users", "1000,ten")
    assert result.exit_code == 2
    assert "--users" in result.output


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "run" in result.output


def test_overwrite_refuses_folder_of_user_files(workdir):
    target = workdir / "userdata"
    target.mkdir()
    (target / "precious.txt").write_text("keep")
    result = invoke(
        "run",
        "--draws",
        "100",
        "--seed",
        "1",
        "--out",
        str(target),
        "--overwrite",
        "--priors",
        str(REPO / "priors"),
        "--no-charts",
    )
    assert result.exit_code == 2
    assert "not one this tool wrote" in result.output
    assert (target / "precious.txt").read_text() == "keep"


def test_overwrite_refuses_working_folder(workdir):
    result = invoke(
        "run",
        "--draws",
        "100",
        "--seed",
        "1",
        "--out",
        ".",
        "--overwrite",
        "--priors",
        str(REPO / "priors"),
        "--no-charts",
    )
    assert result.exit_code == 2
    assert "working folder" in result.output
    assert [p.name for p in workdir.iterdir()] == []


def test_overwrite_replaces_earlier_run(workdir):
    target = workdir / "again"
    for seed in ("1", "2"):
        result = invoke(
            "run",
            "--draws",
            "100",
            "--seed",
            seed,
            "--out",
            str(target),
            "--overwrite",
            "--priors",
            str(REPO / "priors"),
            "--no-charts",
        )
        assert result.exit_code == 0, result.output
    assert json.loads((target / "manifest.json").read_text())["seed"] == 2


def test_negative_seed_exit_two(workdir):
    result = invoke("run", "--draws", "100", "--seed", "-1", "--priors", str(REPO / "priors"))
    assert result.exit_code == 2
    assert "--seed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_huge_draws_exit_two(workdir):
    result = invoke("run", "--draws", "10000000000", "--priors", str(REPO / "priors"))
    assert result.exit_code == 2
    assert "above the limit" in result.output
    assert not (workdir / "runs").exists()


def test_priors_error_is_first_and_only_line(workdir, tmp_priors):
    scenario = tmp_priors / "scenarios" / "base.toml"
    scenario.write_text(scenario.read_text() + '\n[priors.spot_price]\nvalue = nan\nsource = "x"\n')
    result = invoke("run", "--draws", "100", "--priors", str(tmp_priors))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_economics_csv_parses(tmp_path):
    import io

    result = invoke("economics", "--format", "csv", "--draws", "1000")
    assert result.exit_code == 0
    blocks = [b for b in result.stdout.split("# ") if b.strip()]
    assert len(blocks) >= 4
    for block in blocks:
        title, _, body = block.partition("\n")
        frame = pd.read_csv(io.StringIO(body))
        assert len(frame) >= 1, title
