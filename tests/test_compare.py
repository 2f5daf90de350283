"""``forecast compare``: common random numbers, paired errors, output files and errors."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import InputError
from forecast.report import compare


@pytest.fixture(scope="module")
def paired(report_runs, tmp_path_factory: pytest.TempPathFactory):
    reports_dir = tmp_path_factory.mktemp("compare")
    return compare.write_comparison(
        ["base", "optimistic"], runs_dir=report_runs.runs_dir, reports_dir=reports_dir
    )


def _csv(report_runs, run: str) -> pd.DataFrame:
    path = report_runs.runs_dir / run / "breakeven.csv"
    return pd.read_csv(path, dtype={"month": str}).set_index("month")


def test_compare_detects_common_random_numbers(paired) -> None:
    assert paired.common_random_numbers


def test_compare_html_states_common_random_numbers(paired) -> None:
    html = (paired.path / "compare.html").read_text()
    assert "so they use common random" in html


def test_compare_writes_charts_and_tables(paired) -> None:
    assert paired.path.name == "compare-base-optimistic"
    for metric in ("hosted_users", "mrr", "operating_margin", "cash"):
        assert (paired.path / f"fan_{metric}.png").is_file(), metric
        assert (paired.path / f"fan_{metric}.svg").is_file(), metric
    assert (paired.path / "headline.csv").is_file()
    assert (paired.path / "breakeven_differences.csv").is_file()


def test_compare_difference_equals_csv(report_runs, paired) -> None:
    base, optimistic = _csv(report_runs, "base"), _csv(report_runs, "optimistic")
    by_month = {item.month: item for item in paired.differences}
    expected = optimistic.loc["2027-12", "p_sustained"] - base.loc["2027-12", "p_sustained"]
    assert by_month["2027-12"].difference == pytest.approx(expected, abs=1e-15)


def test_compare_paired_error_below_independent(report_runs, paired) -> None:
    # Same random numbers make most noise cancel: the paired SE is below the
    # independent-runs SE whenever both scenarios move together.
    base, optimistic = _csv(report_runs, "base"), _csv(report_runs, "optimistic")
    item = next(item for item in paired.differences if item.month == "2028-12")
    independent = np.hypot(
        base.loc["2028-12", "mcse_sustained"], optimistic.loc["2028-12", "mcse_sustained"]
    )
    assert item.method == compare.PAIRED
    assert item.mcse < independent


def test_compare_identical_runs_zero_error(report_runs, tmp_path: Path) -> None:
    result = compare.write_comparison(
        ["base", "base-copy"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
    )
    for item in result.differences:
        assert item.difference == 0.0, item.month
        assert item.mcse == 0.0, item.month


def test_compare_independent_runs_flagged(report_runs, tmp_path: Path) -> None:
    result = compare.write_comparison(
        ["base", "base-seed12"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
    )
    html = (result.path / "compare.html").read_text()
    assert not result.common_random_numbers
    assert "do not use common random numbers" in html


def test_compare_independent_error_adds_in_quadrature(report_runs, tmp_path: Path) -> None:
    result = compare.write_comparison(
        ["base", "base-seed12"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
    )
    base, other = _csv(report_runs, "base"), _csv(report_runs, "base-seed12")
    item = next(item for item in result.differences if item.month == "2027-12")
    expected = np.sqrt(
        base.loc["2027-12", "mcse_sustained"] ** 2 + other.loc["2027-12", "mcse_sustained"] ** 2
    )
    assert item.method == compare.INDEPENDENT
    assert item.mcse == pytest.approx(expected, rel=1e-12)


def test_compare_labels_shared_scenario_by_run(report_runs, tmp_path: Path) -> None:
    result = compare.write_comparison(
        ["base", "base-seed12"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
    )
    assert result.differences[0].other == "base (base-seed12)"


def test_compare_headline_table_per_run(paired) -> None:
    table = pd.read_csv(paired.path / "headline.csv")
    assert sorted(set(table["run"])) == ["base", "optimistic"]
    assert len(table) == 6


def test_compare_single_run_rejected(report_runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least two runs"):
        compare.write_comparison(["base"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path)


def test_compare_same_run_twice_rejected(report_runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="same run is given twice"):
        compare.write_comparison(
            ["base", "base"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
        )


def test_compare_missing_run_writes_nothing(report_runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="run not found"):
        compare.write_comparison(
            ["base", "missing"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_comparison_folder_name_shortened() -> None:
    class FakeView:
        def __init__(self, run_id: str) -> None:
            self.run_id = run_id

    name = compare.comparison_folder_name([FakeView("x" * 100), FakeView("y" * 100)])
    assert len(name) == compare.MAX_FOLDER_NAME


def test_compare_escapes_scenario_names(hostile_run, report_runs, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(hostile_run.runs_dir / "hostile", runs_dir / "hostile")
    shutil.copytree(report_runs.runs_dir / "base-seed12", runs_dir / "base-seed12")
    result = compare.write_comparison(
        ["base-seed12", "hostile"], runs_dir=runs_dir, reports_dir=tmp_path / "reports"
    )
    html = (result.path / "compare.html").read_text()
    assert "<script" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    for encoded in re.findall(r"base64,([A-Za-z0-9+/=]+)", html):
        svg = base64.b64decode(encoded).decode()
        assert "<img src=x" not in svg
        assert "<script" not in svg


def test_fan_chart_log_axis_when_runs_far_apart() -> None:
    import pandas as pd

    from forecast.report import figures

    def summary(scale: float) -> pd.DataFrame:
        months = ["2026-01", "2026-02"]
        row = {"p5": 1.0 * scale, "p25": 2.0 * scale, "p50": 3.0 * scale, "p75": 4.0 * scale}
        return pd.DataFrame(
            [{"metric": "mrr", "month": m, "p95": 5.0 * scale, **row} for m in months]
        )

    far = figures.fan_chart([("a", summary(1)), ("b", summary(1000))], "mrr", log_when_spread=True)
    near = figures.fan_chart([("a", summary(1)), ("b", summary(2))], "mrr", log_when_spread=True)
    assert far.axes[0].get_yscale() == "log"
    assert near.axes[0].get_yscale() == "linear"
