"""Chunked sampling: identical paths, the Monte Carlo error stopping rule, bounded memory."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import chunked, summarize
from forecast.blocks import METRICS
from forecast.chunked import DrawStore, Precision, StoredDraws
from forecast.errors import InputError
from forecast.pipeline import run_scenario
from forecast.priors import load_scenario
from forecast.simulate import PATHS_PER_BLOCK, simulate
from forecast.summarize import breakeven_months

REPO = Path(__file__).resolve().parent.parent
TABLES = ("summary", "breakeven", "breakeven_month", "annual", "headline")


def new_store(folder: Path, keep_inputs: bool = True) -> DrawStore:
    return DrawStore(folder, months=36, keep_inputs=keep_inputs)


def test_sample_into_chunks_match_single_pass(tmp_path, priors_dir):
    scenario = load_scenario("base", priors_dir)
    whole = new_store(tmp_path / "whole")
    chunked.sample_into(whole, scenario, 3 * PATHS_PER_BLOCK, seed=5)
    parts = new_store(tmp_path / "parts")
    chunked.sample_into(parts, scenario, PATHS_PER_BLOCK, seed=5)
    chunked.sample_into(parts, scenario, 2 * PATHS_PER_BLOCK, seed=5)
    for name in METRICS:
        # equal_nan: net revenue retention is NaN, identically, in its first 12 months.
        assert np.array_equal(whole.metric(name), parts.metric(name), equal_nan=True), name
    for kind in ("sustained", "payback"):
        assert np.array_equal(whole.breakeven(kind), parts.breakeven(kind)), kind
    assert np.array_equal(whole.input("capture_rate"), parts.input("capture_rate"))


def test_sample_into_matches_in_memory_simulate(tmp_path, priors_dir):
    scenario = load_scenario("base", priors_dir)
    store = new_store(tmp_path / "store")
    chunked.sample_into(store, scenario, 5000, seed=9)
    draws = simulate(scenario, 5000, seed=9)
    for name in METRICS:
        expected = draws.metrics[name].astype(np.float32)
        assert np.array_equal(store.metric(name), expected, equal_nan=True), name
    first = breakeven_months(draws.metrics["operating_profit"])
    assert np.array_equal(store.breakeven("payback"), first["payback"])
    assert np.array_equal(store.input("monthly_churn"), draws.inputs["monthly_churn"])


def test_sample_into_partial_block_rejected(tmp_path, priors_dir):
    scenario = load_scenario("base", priors_dir)
    store = new_store(tmp_path / "store", keep_inputs=False)
    chunked.sample_into(store, scenario, 100, seed=1)
    with pytest.raises(ValueError, match="not whole blocks"):
        chunked.sample_into(store, scenario, 100, seed=1)


def test_draw_store_inputs_missing_when_not_kept(tmp_path):
    store = new_store(tmp_path / "store", keep_inputs=False)
    with pytest.raises(ValueError, match="not stored"):
        store.input("capture_rate")


def test_run_scenario_target_matches_plain_run(tmp_path, priors_dir):
    targeted = run_scenario(
        "base",
        draws=PATHS_PER_BLOCK,
        seed=3,
        priors_dir=priors_dir,
        out=tmp_path / "targeted",
        with_charts=False,
        target_mcse=0.004,
        chunk_paths=PATHS_PER_BLOCK,
        max_draws=4 * PATHS_PER_BLOCK,
    )
    plain = run_scenario(
        "base",
        draws=targeted.paths,
        seed=3,
        priors_dir=priors_dir,
        out=tmp_path / "plain",
        with_charts=False,
    )
    assert targeted.paths > PATHS_PER_BLOCK
    assert plain.paths == targeted.paths
    for table in TABLES:
        left = pd.read_csv(tmp_path / "targeted" / f"{table}.csv")
        right = pd.read_csv(tmp_path / "plain" / f"{table}.csv")
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=table)


def test_run_scenario_manifest_records_stopping(tmp_path, priors_dir):
    result = run_scenario(
        "base",
        draws=PATHS_PER_BLOCK,
        seed=4,
        priors_dir=priors_dir,
        out=tmp_path / "run",
        with_charts=False,
        target_mcse=0.06,
        chunk_paths=PATHS_PER_BLOCK,
        max_draws=8 * PATHS_PER_BLOCK,
    )
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["draws"] == result.paths
    assert manifest["precision"]["paths"] == result.paths
    assert manifest["precision"]["reached"] is True
    assert manifest["precision"]["quantile_mcse_over_p10_p90"] <= 0.06
    assert manifest["storage"]["metrics_dtype"] == "float32"


def test_run_scenario_stops_at_first_precise_chunk(tmp_path, priors_dir):
    result = run_scenario(
        "base",
        draws=PATHS_PER_BLOCK,
        seed=4,
        priors_dir=priors_dir,
        out=tmp_path / "run",
        with_charts=False,
        keep_draws=False,
        target_mcse=0.04,
        chunk_paths=PATHS_PER_BLOCK,
        max_draws=12 * PATHS_PER_BLOCK,
    )
    written = pd.read_csv(tmp_path / "run" / "breakeven.csv")
    largest = written[["mcse_sustained", "mcse_payback"]].to_numpy().max()
    stopping = result.stopping
    assert stopping is not None
    assert stopping.reached
    assert stopping.precision.breakeven == pytest.approx(largest, rel=1e-12)
    assert largest <= 0.04
    assert len(stopping.checks) >= 2
    earlier = stopping.checks[-2]
    assert max(earlier["breakeven"], earlier["quantile"]) > 0.04
    assert result.draws is None
    assert not (tmp_path / "run" / "draws.nc").exists()


def bernoulli_sampler(pattern: list[int]):
    """Return a sampler of break-even months repeating ``pattern`` and its precision."""
    sampled: list[int] = []

    def sample(paths: int) -> None:
        start = len(sampled)
        sampled.extend(pattern[(start + i) % len(pattern)] for i in range(paths))

    def measure() -> Precision:
        first = np.array(sampled)
        return Precision(breakeven=chunked.breakeven_mcse(first, months=1), quantile=0.0)

    return sample, measure


def test_sample_until_precise_known_probability():
    # One path in five breaks even, so the share is exactly 0.2 after every chunk of
    # 500 and its standard error is sqrt(0.2 * 0.8 / n): 0.0179, 0.0126, 0.0103 and
    # 0.0089 at 500, 1000, 1500 and 2000 paths. The first at or below 0.01 is 2000.
    sample, measure = bernoulli_sampler([0, 1, 1, 1, 1])
    record = chunked.sample_until_precise(
        sample, measure, target=0.01, first=500, chunk=500, maximum=10_000
    )
    assert record.paths == 2000
    assert record.reached
    assert record.precision.breakeven == pytest.approx(math.sqrt(0.16 / 2000))
    assert [check["paths"] for check in record.checks] == [500, 1000, 1500, 2000]


def test_sample_until_precise_stops_at_maximum():
    sample, measure = bernoulli_sampler([0, 1, 1, 1, 1])
    record = chunked.sample_until_precise(
        sample, measure, target=0.01, first=500, chunk=500, maximum=1500
    )
    assert record.paths == 1500
    assert not record.reached


def test_sample_until_precise_random_draws_near_formula():
    # Independent draws with P = 0.3: the rule stops near 0.3 * 0.7 / 0.01**2 = 2100.
    rng = np.random.default_rng(np.random.SeedSequence(2024))
    first = (rng.random(20_000) >= 0.3).astype(np.intp)
    used = [0]

    def sample(paths: int) -> None:
        used[0] += paths

    def measure() -> Precision:
        return Precision(chunked.breakeven_mcse(first[: used[0]], months=1), 0.0)

    record = chunked.sample_until_precise(
        sample, measure, target=0.01, first=100, chunk=100, maximum=20_000
    )
    assert 1800 <= record.paths <= 2400


def test_breakeven_mcse_hand_value():
    # Month 0: 1 of 4 paths has broken even; month 1: 3 of 4. Largest SE at p = 0.25
    # and 0.75 alike: sqrt(0.25 * 0.75 / 4) = 0.2165.
    first = np.array([0, 1, 1, 2])
    assert chunked.breakeven_mcse(first, months=2) == pytest.approx(0.21650635)


def test_relative_quantile_mcse_constant_is_zero():
    assert chunked.relative_quantile_mcse(np.full(1000, 7.0)) == 0.0


def test_relative_quantile_mcse_scale_free():
    values = np.random.default_rng(np.random.SeedSequence(8)).normal(size=4000)
    plain = chunked.relative_quantile_mcse(values)
    scaled = chunked.relative_quantile_mcse(1000 * values + 50)
    assert scaled == pytest.approx(plain, rel=1e-9)


@pytest.mark.parametrize("target", [0.0, -0.1, 0.5, 2.0])
def test_check_target_out_of_range(target):
    with pytest.raises(InputError, match="--target-mcse"):
        chunked.check_target(target, 1000)


def test_check_target_max_draws_zero():
    with pytest.raises(InputError, match="--max-draws"):
        chunked.check_target(0.01, 0)


def test_default_keep_draws_large_run():
    assert chunked.default_keep_draws(chunked.KEEP_DRAWS_MAX_PATHS)
    assert not chunked.default_keep_draws(chunked.KEEP_DRAWS_MAX_PATHS + 1)
    assert not chunked.default_keep_draws(10**9)


def traced_peak_bytes(tmp_path: Path, priors_dir: Path, draws: int) -> int:
    tracemalloc.start()
    try:
        run_scenario(
            "base",
            draws=draws,
            seed=2,
            priors_dir=priors_dir,
            out=tmp_path / f"run-{draws}",
            with_charts=False,
            keep_draws=None,
        )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_run_scenario_memory_not_all_draws(tmp_path, priors_dir, monkeypatch):
    # Lower the default so a small run counts as large: its draws are not stored.
    monkeypatch.setattr(chunked, "KEEP_DRAWS_MAX_PATHS", PATHS_PER_BLOCK)
    small = traced_peak_bytes(tmp_path, priors_dir, 2 * PATHS_PER_BLOCK)
    large = traced_peak_bytes(tmp_path, priors_dir, 10 * PATHS_PER_BLOCK)
    # Holding every metric of the 8 extra blocks in float64 would add this much.
    all_draws = 8 * PATHS_PER_BLOCK * 36 * len(METRICS) * 8
    assert large - small < all_draws / 4
    assert not (tmp_path / f"run-{10 * PATHS_PER_BLOCK}" / "draws.nc").exists()


def test_stored_draws_load_matches_draws_file(small_run):
    import arviz as az

    tree = az.from_netcdf(small_run.path / "draws.nc")
    stored = tree["prior"]["mrr"].to_numpy()[0]
    assert small_run.draws is not None
    assert np.array_equal(stored, small_run.draws.metrics["mrr"])


def test_summary_quantile_matches_stored_draws(small_run):
    # Quantiles interpolate between order statistics of the stored float32 draws;
    # numpy may interpolate in float32, which rounds at about 6e-8 relative.
    mrr = small_run.draws.metrics["mrr"][:, -1].astype(np.float64)
    row = small_run.summary.query("metric == 'mrr'").iloc[-1]
    assert row["p50"] == pytest.approx(np.quantile(mrr, 0.5), rel=1e-7)
    assert row["p90"] == pytest.approx(np.quantile(mrr, 0.9), rel=1e-7)


def test_summary_moments_match_float64_draws(small_run, priors_dir):
    # Means and sds are merged block by block from the float64 draws.
    draws = simulate(load_scenario("base", priors_dir), small_run.paths, small_run.seed)
    cash = draws.metrics["cash"]
    row = small_run.summary.query("metric == 'cash'").iloc[-1]
    assert row["mean"] == pytest.approx(cash[:, -1].mean(), rel=1e-13)
    assert row["sd"] == pytest.approx(cash[:, -1].std(ddof=1), rel=1e-12)


def test_running_moments_two_blocks_by_hand():
    moments = chunked.RunningMoments(rows=1)
    moments.add(np.array([[1.0, 2.0]]))
    moments.add(np.array([[3.0, 4.0, 10.0]]))
    mean, sd = moments.mean_sd()
    # Values 1, 2, 3, 4, 10: mean 4, squared deviations 9+4+1+0+36 = 50, sd sqrt(50/4).
    assert mean[0] == pytest.approx(4.0)
    assert sd[0] == pytest.approx(math.sqrt(12.5))


def test_running_moments_one_row_sd_nan():
    moments = chunked.RunningMoments(rows=2)
    moments.add(np.array([[1.0], [2.0]]))
    assert np.isnan(moments.mean_sd()[1]).all()


def test_stored_draws_mapping_rejects_unknown(tmp_path):
    stored = StoredDraws(["2026-01"], new_store(tmp_path / "store"), seed=1)
    with pytest.raises(KeyError, match="revenue"):
        stored.metrics["revenue"]


def heavy_modules_after(code: str) -> str:
    """Run ``code`` in a fresh interpreter; return the heavy packages it imported."""
    report = (
        "\nimport sys\n"
        "heavy = ('numpy', 'scipy', 'pandas', 'pymc', 'pytensor', 'arviz', 'matplotlib')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code + report],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def test_cli_help_imports_no_heavy_package():
    code = (
        "from typer.testing import CliRunner\n"
        "from forecast.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0"
    )
    assert heavy_modules_after(code) == ""


def test_cli_scenarios_imports_no_heavy_package():
    code = (
        "from typer.testing import CliRunner\n"
        "from forecast.cli import app\n"
        "result = CliRunner().invoke(app, ['scenarios'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'conservative' in result.output"
    )
    assert heavy_modules_after(code) == ""


def test_cli_run_target_out_of_range(tmp_path):
    from typer.testing import CliRunner

    from forecast.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "--target-mcse", "0.9", "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "--target-mcse" in result.output
    assert not out.exists()


def test_cli_run_target_records_paths(tmp_path):
    from typer.testing import CliRunner

    from forecast.cli import app

    out = tmp_path / "run"
    arguments = ["run", "--draws", "4096", "--target-mcse", "0.06", "--max-draws", "16384"]
    arguments += ["--seed", "1", "--no-charts", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    manifest = json.loads((out / "manifest.json").read_text())
    assert result.exit_code == 0, result.output
    assert "target 0.06 met" in result.output
    assert manifest["precision"]["paths"] == manifest["draws"]
    assert manifest["keep_draws"] is True


def test_sorted_quantiles_match_numpy():
    rng = np.random.default_rng(np.random.SeedSequence(12))
    cases = [
        rng.lognormal(size=(5, 1001)).astype(np.float32),
        rng.normal(size=(3, 2)),
        rng.normal(size=(2, 1)).astype(np.float32),
        np.array([[1.0, np.inf, 3.0, -np.inf], [np.nan, 1.0, 2.0, 3.0]]),
        np.full((1, 7), 2.5, dtype=np.float32),
    ]
    for values in cases:
        rows = np.sort(values, axis=1)
        with np.errstate(invalid="ignore"):
            expected = np.quantile(values, summarize.QUANTILES, axis=1)
        got = summarize.sorted_quantiles(rows)
        assert np.array_equal(got, expected, equal_nan=True), values.dtype


def stores_sampled(tmp_path: Path, priors_dir: Path, workers: int, paths: int) -> DrawStore:
    scenario = load_scenario("base", priors_dir)
    store = new_store(tmp_path / f"workers-{workers}")
    chunked.sample_into(store, scenario, paths, seed=11, workers=workers)
    return store


def test_workers_give_identical_store(tmp_path, priors_dir):
    # Three processes share 3 blocks and a partial one: the same rows, the same
    # moments to the last bit, break-even months and inputs as one process.
    paths = 3 * PATHS_PER_BLOCK + 77
    one = stores_sampled(tmp_path, priors_dir, 1, paths)
    three = stores_sampled(tmp_path, priors_dir, 3, paths)
    assert len(three._parts) == 3
    for name in METRICS:
        assert np.array_equal(one.rows(name), three.rows(name), equal_nan=True), name
        for left, right in zip(one.moments(name), three.moments(name), strict=True):
            assert np.array_equal(left, right, equal_nan=True), name
    for kind in ("sustained", "payback"):
        assert np.array_equal(one.breakeven(kind), three.breakeven(kind))
    assert np.array_equal(one.input("capture_rate"), three.input("capture_rate"))


def test_run_tables_identical_for_any_workers(tmp_path, priors_dir):
    common = dict(draws=2 * PATHS_PER_BLOCK + 5, seed=6, priors_dir=priors_dir, with_charts=False)
    run_scenario("base", out=tmp_path / "one", workers=1, **common)
    run_scenario("base", out=tmp_path / "two", workers=2, **common)
    for table in (*TABLES, "periods"):
        left = (tmp_path / "one" / f"{table}.csv").read_bytes()
        assert left == (tmp_path / "two" / f"{table}.csv").read_bytes(), table


def test_rows_without_direct_io_identical(tmp_path, priors_dir, monkeypatch):
    direct = stores_sampled(tmp_path / "direct", priors_dir, 1, PATHS_PER_BLOCK + 3)
    monkeypatch.delattr("os.O_DIRECT", raising=False)
    cached = stores_sampled(tmp_path / "cached", priors_dir, 1, PATHS_PER_BLOCK + 3)
    assert np.array_equal(direct.rows("cash"), cached.rows("cash"))


def test_failed_worker_stops_run(tmp_path, priors_dir, monkeypatch):
    from forecast import parallel

    def crash(*args) -> None:
        import os

        os._exit(3)

    monkeypatch.setattr(parallel, "worker", crash)
    scenario = load_scenario("base", priors_dir)
    store = new_store(tmp_path / "store")
    with pytest.raises(RuntimeError, match="failed with exit code 3"):
        chunked.sample_into(store, scenario, 2 * PATHS_PER_BLOCK, seed=1, workers=2)


def test_split_blocks_contiguous():
    from forecast.parallel import split_blocks

    # 5 blocks from block 2 over 2 workers: blocks 2-4 and 5-6, the last partial.
    paths = 4 * PATHS_PER_BLOCK + 10
    assert split_blocks(2, 5, paths, 2) == [(2, 3 * PATHS_PER_BLOCK), (5, PATHS_PER_BLOCK + 10)]
    assert split_blocks(0, 1, 10, 4) == [(0, 10)]


def test_levels_come_from_monthly_summary(small_run):
    summary = pd.read_csv(small_run.path / "summary.csv").set_index(["metric", "month"])
    annual = pd.read_csv(small_run.path / "annual.csv").set_index(["year", "metric"])
    periods = pd.read_csv(small_run.path / "periods.csv")
    december = summary.loc[("cash", "2026-12")]
    assert annual.loc[(2026, "cash_year_end"), "p50"] == december["p50"]
    quarter = periods[(periods["period_type"] == "quarter") & (periods["metric"] == "mrr_end")]
    first = quarter.iloc[0]
    assert first["p90"] == summary.loc[("mrr", first["last_month"]), "p90"]


def test_worker_stopped_by_ctrl_c_cancels(tmp_path, priors_dir, monkeypatch):
    import os
    import signal

    from forecast import parallel

    def interrupted(*args) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(parallel, "worker", interrupted)
    scenario = load_scenario("base", priors_dir)
    store = new_store(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        chunked.sample_into(store, scenario, 2 * PATHS_PER_BLOCK, seed=1, workers=2)


def test_summary_threads_limited_by_memory(monkeypatch):
    monkeypatch.setattr(chunked.os, "sched_getaffinity", lambda pid: set(range(8)))
    # 8 cores: four threads for small runs. At 10,000,000 paths one metric is 1.44 GB
    # of float32, so the 1.5 GB budget leaves one thread.
    assert chunked.summary_workers(10_000) == 4
    assert chunked.summary_workers(10_000_000) == 1
    assert chunked.summary_workers(4_000_000) == 2


def test_cli_rejects_more_workers_than_cores(tmp_path, priors_dir, monkeypatch):
    from typer.testing import CliRunner

    from forecast import parallel
    from forecast.cli import app

    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    result = CliRunner().invoke(
        app, ["run", "--draws", "100", "--priors", str(priors_dir), "--workers", "3"]
    )
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert "above the 2 cores" in result.output


def test_cli_failed_worker_one_line(priors_dir, monkeypatch):
    from typer.testing import CliRunner

    from forecast import pipeline
    from forecast.cli import app
    from forecast.errors import RunFailed

    def killed(*args, **kwargs):
        raise RunFailed("sampling process forecast-sample-8 failed with exit code -9")

    monkeypatch.setattr(pipeline, "run_scenario", killed)
    result = CliRunner().invoke(app, ["run", "--draws", "100", "--priors", str(priors_dir)])
    assert result.exit_code == 1
    assert "error: sampling process forecast-sample-8 failed" in result.output
    assert "Traceback" not in result.output
