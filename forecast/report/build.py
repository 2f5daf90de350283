"""``forecast report``: write a run's board-deck report folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecast import runs
from forecast.report import figures, render, tables
from forecast.report.data import (
    Estimate,
    Odds,
    RunView,
    funding_need,
    headline_odds,
    load_run,
    minimum_cash_values,
)
from forecast.report.figures import FAN_METRICS

FAN_CAPTION = (
    "Median with the bands holding 50% and 90% of paths, from the run's own monthly quantiles."
)


@dataclass
class ReportResult:
    """The report folder and the headline sentences it opens with."""

    path: Path
    run_id: str
    headline: list[str]


def funding_lines(funding: dict[str, Estimate]) -> list[str]:
    """Describe the funding need in sentences, each with its Monte Carlo SE."""
    negative = funding["p_negative"]
    lows = [funding[f"min_cash_p{q}"] for q in (10, 50, 90)]
    shortfall = funding["shortfall_p90"]
    return [
        f"P(cash falls below zero during the horizon) = "
        f"{negative.value:.1%} +/- {negative.mcse:.1%}",
        "Lowest cash balance per path, P10 / P50 / P90: "
        + " / ".join(tables.with_error(e.value, e.mcse, "$") for e in lows),
        "Funding need (downside, P90 of the shortfall below zero cash): "
        + tables.with_error(shortfall.value, shortfall.mcse, "$"),
    ]


def intro_lines(view: RunView, sustained: list[Odds], payback: list[Odds]) -> list[str]:
    """Return the PDF's first page: scenario, run, stresses and the headline odds."""
    lines = [
        f"Scenario {view.scenario.name}: {view.scenario.description}",
        f"Run {view.run_id}: {view.manifest['draws']} paths, seed {view.manifest['seed']}",
    ]
    for name, text in tables.stress_rows(view):
        lines.append(f"Stress test: {name} {text}")
    lines += [
        "",
        *(item.sentence() for item in sustained),
        "Break-even: operating profit >= 0 from that month to the horizon end.",
        *(item.sentence("payback") for item in payback),
        "Payback: cumulative operating cash flow back at or above zero.",
        "+/- gives the Monte Carlo standard error.",
    ]
    return lines


def economics_lines(economics: dict[str, pd.DataFrame]) -> list[str]:
    """Return the unit-economics tables as PDF text lines, each under its caption."""
    lines: list[str] = []
    for caption, frame in economics.items():
        lines += [caption, *render.frame_lines(frame), ""]
    return lines


def assumption_lines(assumptions: list[tables.AssumptionRow]) -> list[str]:
    """Return the assumptions appendix as PDF text lines, three per prior."""
    lines = []
    for row in assumptions:
        flag = " [set by user]" if row.set_by == "user" else ""
        lines += [
            f"{row.name}{flag}: {row.description} ({row.unit}), {row.file}",
            f"    {row.distribution}; 90% interval {row.interval}",
            f"    source: {row.source}",
        ]
    return lines


def _quantile_frame(rows: list[tables.QuantileRow], period: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            period: [row.period for row in rows],
            "figure": [row.label for row in rows],
            "downside": [row.downside for row in rows],
            "P10": [row.cells()[0] for row in rows],
            "P50": [row.cells()[1] for row in rows],
            "P90": [row.cells()[2] for row in rows],
        }
    )


def write_report(
    reference: str | Path,
    *,
    runs_dir: Path = Path("runs"),
    reports_dir: Path = Path("reports"),
    overwrite: bool = False,
) -> ReportResult:
    """Write ``reports_dir/<run id>/`` with report.html, report.pdf, slides/ and tables.xlsx.

    Parameters
    ----------
    reference
        A run id in ``runs_dir`` or a path to a run folder inside it.
    runs_dir, reports_dir
        Where runs are found and where the report folder is written.
    overwrite
        Replace an existing report folder of the same run.

    Returns
    -------
    ReportResult
        The report folder and the headline sentences.

    Raises
    ------
    InputError
        If the run is missing, outside ``runs_dir``, damaged, or its priors
        changed; or the report folder exists and ``overwrite`` is false.
    """
    view = load_run(reference, runs_dir)
    destination = Path(reports_dir) / view.run_id
    with runs.staged_folder(destination, overwrite=overwrite, key="report folder") as folder:
        headline = write_report_files(view, folder)
    return ReportResult(destination, view.run_id, headline)


def write_report_files(view: RunView, folder: Path) -> list[str]:
    """Write every report file of ``view`` into ``folder``; return the headline sentences."""
    odds = headline_odds(view)
    sustained = [item for item in odds if item.kind == "sustained"]
    payback = [item for item in odds if item.kind == "payback"]
    funding = funding_need(view)
    year_end = tables.year_end_rows(view)
    annual = tables.annual_rows(view)
    economics = tables.economics(view)
    assumptions = tables.assumption_rows(view)
    slides = folder / "slides"
    slides.mkdir()
    scenario = view.scenario.name

    with render.pdf_document(folder / "report.pdf") as pdf:
        render.add_text_pages(
            pdf, f"Forecast report: {scenario}", intro_lines(view, sustained, payback)
        )

        def chart(fig, name: str, title: str, caption: str) -> render.Chart:
            pdf.savefig(fig)
            return render.Chart.from_svg(
                name, title, caption, figures.save_figure(fig, slides / name)
            )

        fan_charts = [
            chart(
                figures.fan_chart([(scenario, view.summary)], metric),
                f"fan_{metric}",
                title,
                FAN_CAPTION,
            )
            for metric, (title, _) in FAN_METRICS.items()
        ]
        breakeven_charts = [
            chart(
                figures.breakeven_curve(view.breakeven),
                "breakeven_probability",
                "Probability of break-even by month",
                "Share of paths that have broken even by each month; bands are +/- 2 Monte "
                "Carlo standard errors.",
            ),
            chart(
                figures.breakeven_months_chart(view.breakeven_month),
                "breakeven_month",
                "Break-even month distribution",
                "Share of paths whose operating profit turns non-negative for good in each "
                "month; the last bar is the paths that never do within the horizon.",
            ),
        ]
        funding_text: list[str] = []
        funding_charts = []
        if funding is not None:
            funding_text = funding_lines(funding)
            render.add_text_pages(pdf, "Funding need", funding_text)
            funding_charts.append(
                chart(
                    figures.minimum_cash_chart(
                        minimum_cash_values(view), funding["shortfall_p90"].value
                    ),
                    "funding_need",
                    "Lowest cash balance per path",
                    "Each path's lowest cash balance over the horizon; below zero is the "
                    "funding the path needs.",
                )
            )
        year_frame = _quantile_frame(year_end, "month")
        annual_frame = _quantile_frame(annual, "year")
        render.add_text_pages(
            pdf,
            "Year-end figures (+/- Monte Carlo SE)",
            [
                "P10 is the downside for users, revenue and cash; P90 for cost and burn.",
                "",
                *render.frame_lines(year_frame),
                "",
                *render.frame_lines(annual_frame),
            ],
        )
        render.add_text_pages(
            pdf, "Unit economics (P10-P90 over prior draws)", economics_lines(economics)
        )
        render.add_text_pages(pdf, "Appendix: assumptions", assumption_lines(assumptions))

    html = render.render_html(
        "run.html.j2",
        title=f"Forecast report: {scenario}",
        scenario=scenario,
        description=view.scenario.description,
        run_id=view.run_id,
        draws=view.manifest["draws"],
        seed=view.manifest["seed"],
        created=view.manifest.get("created", "unknown"),
        stresses=tables.stress_rows(view),
        sustained=sustained,
        payback=payback,
        fan_charts=fan_charts,
        breakeven_charts=breakeven_charts,
        funding=funding_text,
        funding_charts=funding_charts,
        year_tables=[
            ("Year-end levels (+/- Monte Carlo SE)", year_end),
            ("Annual flows (+/- Monte Carlo SE)", annual),
        ],
        economics=list(economics.items()),
        economics_draws=f"{tables.ECONOMICS_DRAWS:,}",
        assumptions=assumptions,
        priors_files=sorted(view.manifest.get("priors_files", {}).items()),
    )
    (folder / "report.html").write_text(html, encoding="utf-8")
    render.write_workbook(
        folder / "tables.xlsx",
        {
            "summary": view.summary,
            "annual": view.annual,
            "breakeven": view.breakeven,
            "breakeven_month": view.breakeven_month,
            "headline": view.headline,
        },
    )
    return [item.sentence() for item in sustained]
