"""Terminal output: the rich consoles, progress bar, result tables and error exits.

Only this module and :mod:`forecast.cli` print.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from forecast.errors import InputError

if TYPE_CHECKING:
    from forecast.pipeline import RunResult

stdout = Console()
stderr = Console(stderr=True)

EXIT_INPUT = 2
EXIT_CANCELLED = 130


@contextlib.contextmanager
def fail_on_input_error() -> Iterator[None]:
    """Turn bad input into one line on stderr and exit code 2; Ctrl-C into 130."""
    try:
        yield
    except InputError as error:
        stderr.print(f"error: {error.render()}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        stderr.print("cancelled: nothing was written", markup=False)
        raise typer.Exit(EXIT_CANCELLED) from None


@contextlib.contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Show a progress bar of sampled paths; yield the callback that advances it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(label, total=max(total, 1))

        def advance(done: int) -> None:
            progress.update(task, completed=done)

        yield advance


def money(value: float) -> str:
    """Format dollars compactly: $1.23M, -$45.6K."""
    sign = "-" if value < 0 else ""
    return sign + "$" + count(abs(value))


def count(value: float) -> str:
    """Format a count compactly: 1.23M, 45.6K, 789."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def show_run(result: RunResult) -> None:
    """Print the year-end table, the break-even odds and the run folder."""
    headline = result.headline
    table = Table(title=f"Scenario {result.scenario.name}: year-end P10 / P50 / P90")
    table.add_column("month")
    labels = {"hosted_users": "hosted users", "mrr": "MRR", "cash": "cash"}
    for label in labels.values():
        table.add_column(label, justify="right")
    for month, rows in headline.groupby("month", sort=True):
        cells = []
        for metric in labels:
            row = rows[rows["metric"] == metric].iloc[0]
            fmt = count if metric == "hosted_users" else money
            cells.append(" / ".join(fmt(row[q]) for q in ("p10", "p50", "p90")))
        table.add_row(month, *cells)
    stdout.print(table)

    odds = Table(title="Probability of break-even by year end (+/- Monte Carlo SE)")
    odds.add_column("month")
    odds.add_column("profit >= 0 from then on", justify="right")
    odds.add_column("cumulative cash flow >= 0", justify="right")
    breakeven = result.breakeven.set_index("month")
    for month in headline["month"].unique():
        row = breakeven.loc[month]
        odds.add_row(
            month,
            f"{row['p_sustained']:.1%} +/- {row['mcse_sustained']:.1%}",
            f"{row['p_payback']:.1%} +/- {row['mcse_payback']:.1%}",
        )
    stdout.print(odds)
    stdout.print(f"paths: {result.paths}, seed: {result.seed}")
    stopping = result.stopping
    if stopping is not None:
        outcome = "met" if stopping.reached else "NOT met (raise --max-draws)"
        stdout.print(
            f"Monte Carlo error target {stopping.target:g} {outcome}: largest SE of a break-even"
            f" probability {stopping.precision.breakeven:.4f}, of a year-end quantile"
            f" {stopping.precision.quantile:.4f} of its P10-P90 spread"
        )
    stdout.print(f"run folder: {result.path}", markup=False, highlight=False, soft_wrap=True)


def show_economics(tables: dict, output_format: str) -> None:
    """Print each economics table as a rich table or as CSV blocks."""
    for title, frame in tables.items():
        if output_format == "csv":
            stdout.print(f"# {title}", markup=False, highlight=False)
            stdout.print(frame.to_csv(index=False), markup=False, highlight=False, end="")
            continue
        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(str(cell) for cell in row))
        stdout.print(table)
