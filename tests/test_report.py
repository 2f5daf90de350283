"""``forecast report``: files written, figures equal to the run's files, escaping, errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_helpers import HOSTILE_NAME, HOSTILE_TEXT

from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.report import data, tables
from forecast.report.build import write_report

CHARTS = (
    "fan_hosted_users",
    "fan_mrr",
    "fan_operating_margin",
    "fan_cash",
    "breakeven_probability",
    "breakeven_month",
    "funding_need",
)


@pytest.fixture(scope="module")
def base_report(report_runs, tmp_path_factory: pytest.TempPathFactory):
    reports_dir = tmp_path_factory.mktemp("reports")
    return write_report("base", runs_dir=report_runs.runs_dir, reports_dir=reports_dir)


def test_report_writes_every_file(base_report) -> None:
    folder = base_report.path
    for name in ("report.html", "report.pdf", "tables.xlsx"):
        assert (folder / name).is_file(), name
    for chart in CHARTS:
        assert (folder / "slides" / f"{chart}.png").is_file(), chart
        assert (folder / "slides" / f"{chart}.svg").is_file(), chart


def test_report_folder_named_after_run(base_report) -> None:
    assert base_report.path.name == "base"


def test_slides_png_are_1920_by_1080(base_report) -> None:
    from PIL import Image

    for chart in CHARTS:
        with Image.open(base_report.path / "slides" / f"{chart}.png") as image:
            assert image.size == (1920, 1080), chart


def test_report_headline_equals_breakeven_csv(report_runs, base_report) -> None:
    csv = pd.read_csv(report_runs.runs_dir / "base" / "breakeven.csv", dtype={"month": str})
    csv = csv.set_index("month")
    html = (base_report.path / "report.html").read_text()
    for month, label in (("2026-12", "Dec 2026"), ("2027-12", "Dec 2027"), ("2028-12", "Dec 2028")):
        p, se = csv.loc[month, "p_sustained"], csv.loc[month, "mcse_sustained"]
        sentence = f"P(break-even by {label}) = {p:.1%} +/- {se:.1%}"
        assert sentence in base_report.headline
        assert sentence in html


def test_headline_odds_values_equal_csv(report_runs) -> None:
    view = data.load_run("base", report_runs.runs_dir)
    csv = view.breakeven.set_index("month")
    for odds in data.headline_odds(view):
        assert odds.probability == csv.loc[odds.month, f"p_{odds.kind}"]
        assert odds.mcse == csv.loc[odds.month, f"mcse_{odds.kind}"]


def test_odds_sentence_formats_percentages() -> None:
    odds = data.Odds("2027-12", "sustained", 0.62, 0.011)
    assert odds.sentence() == "P(break-even by Dec 2027) = 62.0% +/- 1.1%"


def test_report_regenerates_identical_files(report_runs, base_report, tmp_path: Path) -> None:
    again = write_report("base", runs_dir=report_runs.runs_dir, reports_dir=tmp_path)
    for name in ("report.html", "report.pdf", "slides/fan_cash.svg", "slides/fan_cash.png"):
        first = (base_report.path / name).read_bytes()
        assert (again.path / name).read_bytes() == first, name


def test_report_html_is_self_contained(base_report) -> None:
    html = (base_report.path / "report.html").read_text()
    assert "<script" not in html
    assert "<link" not in html
    assert 'src="http' not in html
    assert html.count('<img src="data:image/svg+xml;base64,') == len(CHARTS)


def test_report_appendix_lists_every_prior(report_runs, base_report) -> None:
    html = (base_report.path / "report.html").read_text()
    appendix = html[html.index('id="assumptions"') :]
    for name in PARAMETERS:
        assert f"<td>{name}</td>" in appendix, name


def test_report_appendix_flags_user_priors(report_runs, base_report) -> None:
    view = data.load_run("base", report_runs.runs_dir)
    set_by_user = [p for p in view.scenario.priors.values() if p.set_by == "user"]
    html = (base_report.path / "report.html").read_text()
    assert len(set_by_user) > 0
    assert html.count('<tr class="user">') == len(set_by_user)


def test_assumption_interval_is_prior_5_to_95(report_runs) -> None:
    view = data.load_run("base", report_runs.runs_dir)
    rows = {row.name: row for row in tables.assumption_rows(view)}
    prior = view.scenario.priors["spot_price"]
    expected = f"{prior.quantile(0.05):,.4g} to {prior.quantile(0.95):,.4g}"
    assert rows["spot_price"].interval == expected


def test_funding_need_hand_computed() -> None:
    cash = np.array([[5.0, -3.0, 2.0], [1.0, 2.0, 3.0], [-10.0, -20.0, 0.0], [4.0, 4.0, 4.0]])

    class FakeView:
        def path_values(self, metric: str) -> np.ndarray:
            return cash

    found = data.funding_need(FakeView())
    # Lowest cash per path: -3, 1, -20, 4. Shortfalls: 3, 0, 20, 0.
    assert found["p_negative"].value == 0.5
    assert found["p_negative"].mcse == pytest.approx(0.25)
    # Sorted lowest cash -20, -3, 1, 4: P50 sits halfway between -3 and 1.
    assert found["min_cash_p50"].value == pytest.approx(-1.0)
    # Sorted shortfalls 0, 0, 3, 20: P90 is at position 2.7, 3 + 0.7 * 17.
    assert found["shortfall_p90"].value == pytest.approx(14.9)


def test_funding_need_missing_without_draws(report_runs) -> None:
    view = data.load_run("base-seed12", report_runs.runs_dir)
    assert data.funding_need(view) is None


def test_annual_net_burn_negates_profit(report_runs) -> None:
    view = data.load_run("base", report_runs.runs_dir)
    annual = view.annual.set_index(["year", "metric"])
    burn = [row for row in tables.annual_rows(view) if row.label.startswith("Net burn")]
    first = burn[0]
    profit = annual.loc[(first.period, "operating_profit")]
    assert first.values[0] == -profit["p90"]
    assert first.values[2] == -profit["p10"]
    assert first.downside == "P90"


def test_year_end_rows_equal_headline_csv(report_runs) -> None:
    view = data.load_run("base", report_runs.runs_dir)
    rows = tables.year_end_rows(view)
    first = view.headline.iloc[0]
    assert rows[0].values == (first["p10"], first["p50"], first["p90"])
    assert rows[0].errors == (first["mcse_p10"], first["mcse_p50"], first["mcse_p90"])


def test_workbook_sheets_equal_run_csv(report_runs, base_report) -> None:
    workbook = base_report.path / "tables.xlsx"
    for sheet, csv in (("summary", "summary.csv"), ("annual", "annual.csv")):
        expected = pd.read_csv(report_runs.runs_dir / "base" / csv)
        found = pd.read_excel(workbook, sheet_name=sheet)
        assert found.shape == expected.shape, sheet
        assert np.allclose(found["p50"], expected["p50"], rtol=1e-12), sheet
    breakeven = pd.read_excel(workbook, sheet_name="breakeven")
    expected = pd.read_csv(report_runs.runs_dir / "base" / "breakeven.csv")
    assert breakeven["p_sustained"].tolist() == expected["p_sustained"].tolist()


def test_report_escapes_priors_text(hostile_run, tmp_path: Path) -> None:
    result = write_report("hostile", runs_dir=hostile_run.runs_dir, reports_dir=tmp_path)
    html = (result.path / "report.html").read_text()
    assert "<script" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_existing_folder_rejected(report_runs, base_report) -> None:
    with pytest.raises(InputError, match="output folder already exists"):
        write_report("base", runs_dir=report_runs.runs_dir, reports_dir=base_report.path.parent)


def test_report_missing_run_rejected(report_runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="run not found"):
        write_report("no-such-run", runs_dir=report_runs.runs_dir, reports_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_run_outside_runs_rejected(report_runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the runs folder"):
        write_report("../..", runs_dir=report_runs.runs_dir, reports_dir=tmp_path)


def test_report_edited_priors_copy_rejected(hostile_run, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(hostile_run.runs_dir, runs_dir)
    base = runs_dir / "hostile" / "priors" / "base.toml"
    base.write_text(base.read_text() + "\n# edited after the run\n")
    with pytest.raises(InputError, match="does not match the SHA-256"):
        write_report("hostile", runs_dir=runs_dir, reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports" / "hostile").exists()


def test_report_ignores_later_edits_to_originals(hostile_run, tmp_path: Path) -> None:
    priors = tmp_path / "priors"
    shutil.copytree(hostile_run.priors_dir, priors)
    runs_dir = tmp_path / "runs"
    shutil.copytree(hostile_run.runs_dir, runs_dir)
    manifest = runs_dir / "hostile" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(str(hostile_run.priors_dir), str(priors)))
    (priors / "base.toml").write_text("not toml at all [")
    view = data.load_run("hostile", runs_dir)
    assert view.scenario.name == HOSTILE_NAME


def test_hostile_scenario_name_kept(hostile_run) -> None:
    view = data.load_run("hostile", hostile_run.runs_dir)
    assert view.scenario.name == HOSTILE_NAME
    assert view.scenario.description == HOSTILE_TEXT


def test_fan_chart_draws_run_quantiles(report_runs) -> None:
    from forecast.report import figures

    view = data.load_run("base", report_runs.runs_dir)
    fig = figures.fan_chart([("base", view.summary)], "cash")
    rows = view.summary[view.summary["metric"] == "cash"]
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    median = fig.axes[0].lines[0].get_ydata()
    figures.pyplot().close(fig)
    assert np.array_equal(np.asarray(median, dtype=float), rows["p50"].to_numpy())
    assert set(band) == set(rows["p5"]) | set(rows["p95"])


def test_text_pages_keep_wide_rows_whole() -> None:
    from forecast.report import render

    frame = pd.DataFrame({"item": ["a"], "arithmetic": ["x" * 200]})
    assert render.frame_lines(frame) == ["item: a", "arithmetic: " + "x" * 200, ""]


def test_report_pdf_has_every_chart_page(base_report) -> None:
    pdf = (base_report.path / "report.pdf").read_bytes()
    pages = re.findall(rb"/Type\s*/Page\b", pdf)
    assert pdf.startswith(b"%PDF")
    # Seven chart pages plus the headline, funding, year-end, economics and appendix text.
    assert len(pages) >= len(CHARTS) + 5


def test_report_without_draws_explains_gap(report_runs, tmp_path: Path) -> None:
    result = write_report("base-seed12", runs_dir=report_runs.runs_dir, reports_dir=tmp_path)
    html = (result.path / "report.html").read_text()
    assert "kept no per-path draws" in html
    assert html.count("<img ") == len(CHARTS) - 1
    assert not (result.path / "slides" / "funding_need.png").exists()


def test_report_lists_stresses(report_runs, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(report_runs.runs_dir / "base-seed12", runs_dir / "stressed")
    manifest_path = runs_dir / "stressed" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stresses"] = {"monthly_churn": {"low": 0.9, "high": 1.0, "value": None}}
    manifest_path.write_text(json.dumps(manifest))
    result = write_report("stressed", runs_dir=runs_dir, reports_dir=tmp_path / "reports")
    html = (result.path / "report.html").read_text()
    assert "This run is a stress test" in html
    assert "drawn between its prior&#39;s 90% and 100% quantiles" in html


def test_pdf_appendix_flags_user_priors(report_runs) -> None:
    from forecast.report.build import assumption_lines

    view = data.load_run("base", report_runs.runs_dir)
    rows = tables.assumption_rows(view)
    lines = assumption_lines(rows)
    flagged = [line for line in lines if "[set by user]" in line]
    assert len(lines) == 3 * len(PARAMETERS)
    assert len(flagged) == sum(row.set_by == "user" for row in rows)


def test_pdf_text_page_fits_on_page() -> None:
    from forecast.report.figures import SLIDE_INCHES
    from forecast.report.render import PDF_LINES_PER_PAGE

    # Text starts at 88% of the page height at 11 pt with 1.5 line spacing; it must
    # end above a 4% bottom margin.
    page_points = SLIDE_INCHES[1] * 72
    text_points = PDF_LINES_PER_PAGE * 11 * 1.5
    assert text_points <= (0.88 - 0.04) * page_points
