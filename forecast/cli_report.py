"""Commands ``forecast report``, ``forecast compare`` and ``forecast runs list|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecast.console import fail_on_input_error, stdout

RunsDirOption = Annotated[
    Path, typer.Option("--runs-dir", help="Folder that contains the run folders.")
]
ReportsDirOption = Annotated[
    Path, typer.Option("--reports-dir", help="Folder the report folders are written into.")
]
OverwriteOption = Annotated[
    bool, typer.Option(help="Replace the report folder if it already exists.")
]


def report(
    run: Annotated[str, typer.Argument(help="Run id (folder name in --runs-dir) or its path.")],
    runs_dir: RunsDirOption = Path("runs"),
    reports_dir: ReportsDirOption = Path("reports"),
    overwrite: OverwriteOption = False,
) -> None:
    """Write a run's board-deck report: HTML, PDF, slide charts and an Excel workbook."""
    with fail_on_input_error():
        from forecast.report.build import write_report

        result = write_report(run, runs_dir=runs_dir, reports_dir=reports_dir, overwrite=overwrite)
        for sentence in result.headline:
            stdout.print(sentence, markup=False, highlight=False)
        stdout.print(f"report folder: {result.path}", markup=False, highlight=False, soft_wrap=True)


def compare(
    run: Annotated[list[str], typer.Argument(help="Two or more run ids or paths.")],
    runs_dir: RunsDirOption = Path("runs"),
    reports_dir: ReportsDirOption = Path("reports"),
    overwrite: OverwriteOption = False,
) -> None:
    """Compare runs side by side: overlaid fan charts and break-even odds differences."""
    with fail_on_input_error():
        from forecast.report.compare import write_comparison

        result = write_comparison(
            run, runs_dir=runs_dir, reports_dir=reports_dir, overwrite=overwrite
        )
        if result.common_random_numbers:
            stdout.print("The runs share seed and paths, so they use common random numbers.")
        else:
            stdout.print(
                "The runs differ in seed, paths or horizon: no common random numbers, so "
                "differences include independent Monte Carlo noise."
            )
        for item in result.differences:
            stdout.print(item.sentence(), markup=False, highlight=False)
        stdout.print(
            f"comparison folder: {result.path}", markup=False, highlight=False, soft_wrap=True
        )


runs_app = typer.Typer(help="List and inspect run folders.", no_args_is_help=True)


@runs_app.command("list")
def list_command(
    runs_dir: RunsDirOption = Path("runs"),
    by: Annotated[
        str, typer.Option(help="Month YYYY-MM of the break-even odds column.")
    ] = "2027-12",
) -> None:
    """List the runs: id, scenario, paths, seed, creation time and break-even odds."""
    from rich.table import Table

    with fail_on_input_error():
        from forecast.report.listing import list_runs

        entries = list_runs(runs_dir, by=by)
        table = Table(title=f"Runs in {runs_dir}")
        # The id is what users copy into other commands: never cut or wrap it.
        table.add_column("id", no_wrap=True, min_width=24)
        for column in ("scenario", "draws", "seed", "created"):
            table.add_column(column)
        table.add_column(f"P(break-even by {by}) +/- SE", justify="right")
        for entry in entries:
            table.add_row(
                entry.run_id,
                entry.scenario,
                entry.draws,
                entry.seed,
                entry.created,
                entry.breakeven,
            )
        stdout.print(table)
        if not entries:
            stdout.print(f"No runs in {runs_dir}. Create one with `forecast run`.", markup=False)


@runs_app.command("show")
def show_command(
    run: Annotated[str, typer.Argument(help="Run id (folder name in --runs-dir) or its path.")],
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Show one run: its manifest, break-even odds and year-end P10 / P50 / P90."""
    from rich.table import Table

    with fail_on_input_error():
        from forecast.report.listing import show_run

        details = show_run(run, runs_dir)
        manifest = details.manifest
        stdout.print(f"run: {details.path}", markup=False, highlight=False, soft_wrap=True)
        for key in ("scenario", "description", "draws", "seed", "created"):
            stdout.print(f"{key}: {manifest.get(key, '?')}", markup=False, highlight=False)
        stdout.print(f"command: {' '.join(manifest.get('command', []))}", markup=False)
        for path, digest in sorted(manifest.get("priors_files", {}).items()):
            stdout.print(f"priors file: {path} (sha256 {digest})", markup=False, soft_wrap=True)
        odds = Table(title="P(break-even by month) +/- Monte Carlo SE")
        for column in ("month", "operating profit >= 0 from then on", "cumulative cash flow >= 0"):
            odds.add_column(column)
        for row in details.breakeven.itertuples(index=False):
            odds.add_row(
                row.month,
                f"{row.p_sustained:.1%} +/- {row.mcse_sustained:.1%}",
                f"{row.p_payback:.1%} +/- {row.mcse_payback:.1%}",
            )
        stdout.print(odds)
        table = Table(title="Year-end P10 / P50 / P90")
        for column in details.headline.columns:
            table.add_column(column)
        for row in details.headline.itertuples(index=False):
            table.add_row(
                *(f"{cell:.6g}" if isinstance(cell, float) else str(cell) for cell in row)
            )
        stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add ``report``, ``compare`` and the ``runs`` group to ``app``."""
    app.command()(report)
    app.command()(compare)
    app.add_typer(runs_app, name="runs")
