"""Terminal output: the rich consoles, progress bar, result tables and error exits.

Only this module and :mod:`forecast.cli` print.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from forecast.errors import InputError, RunFailed

if TYPE_CHECKING:
    from forecast.pipeline import RunResult

stdout = Console()
stderr = Console(stderr=True)

EXIT_INPUT = 2
SOBOL_SMALL_SAMPLE = 512  # Sobol N below which the output warns that intervals are wide
EXIT_CANCELLED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it
EXIT_FAILED = 1


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so staged folders are cleaned up."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _interruption_in(error: BaseException) -> BaseException | None:
    """Return a Ctrl-C or SIGTERM found in ``error``'s chain of causes, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt | Terminated):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def fail_on_input_error() -> Iterator[None]:
    """Turn bad input into one line on stderr and exit 2; Ctrl-C into 130, SIGTERM into 143.

    Interruptions unwind through :func:`forecast.runs.staged_folder`, which removes
    the unfinished folder, so the message can state that nothing was written.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        yield
    except InputError as error:
        stderr.print(f"error: {error.render()}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        stderr.print("cancelled: nothing was written", markup=False)
        raise typer.Exit(EXIT_CANCELLED) from None
    except RunFailed as error:
        stderr.print(f"error: {error}; nothing was written", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    except Terminated:
        stderr.print("terminated: nothing was written", markup=False)
        raise typer.Exit(EXIT_TERMINATED) from None
    except Exception as error:
        # A signal that arrives inside compiled code (Numba) comes back wrapped, for
        # example as SystemError; unwrap it so the user still gets one line.
        cause = _interruption_in(error)
        if cause is None:
            raise
        if isinstance(cause, Terminated):
            stderr.print("terminated: nothing was written", markup=False)
            raise typer.Exit(EXIT_TERMINATED) from None
        stderr.print("cancelled: nothing was written", markup=False)
        raise typer.Exit(EXIT_CANCELLED) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


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
    # One row per month and figure, so the table fits an 80-column terminal.
    table = Table(title=f"Scenario {result.scenario.name}: year-end figures")
    table.add_column("month")
    table.add_column("figure")
    for label in ("P10", "P50", "P90"):
        table.add_column(label, justify="right")
    labels = {"hosted_users": "hosted users", "mrr": "MRR", "cash": "cash"}
    for month, rows in headline.groupby("month", sort=True):
        for metric, label in labels.items():
            row = rows[rows["metric"] == metric].iloc[0]
            fmt = count if metric == "hosted_users" else money
            cells = [fmt(row[q]) for q in ("p10", "p50", "p90")]
            table.add_row(month if metric == "hosted_users" else "", label, *cells)
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
            # Plain writes: CSV must not be wrapped at the terminal width.
            sys.stdout.write(f"# {title}\n")
            sys.stdout.write(frame.to_csv(index=False))
            continue
        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(str(cell) for cell in row))
        stdout.print(table)


def _estimate(value: float, statistic: str) -> str:
    return f"{value:.1%}" if statistic == "probability" else money(value)


def show_sensitivity(result, path) -> None:
    """Print the baseline, the top tornado priors, the Sobol indices and the folder."""
    from forecast.sensitivity import CORRELATED_NOTE, SOBOL_PROBABILITY_NOTE

    for output in result.outputs:
        base = result.baseline.set_index("output").loc[output.label]
        statistic_name = "probability" if output.statistic == "probability" else "P50"
        estimate = _estimate(base["estimate"], output.statistic)
        error = _estimate(base["mcse"], output.statistic)
        table = Table(
            title=f"{output.label}: {statistic_name} {estimate} (+/- {error} MCSE); top priors"
        )
        for column in ("prior", "at its P10", "at its P90", "swing", "Spearman rho"):
            table.add_column(column, justify="left" if column == "prior" else "right")
        rows = result.tornado[result.tornado["output"] == output.label].head(8)
        rho = result.spearman[result.spearman["output"] == output.label].set_index("prior")
        for row in rows.itertuples():
            table.add_row(
                row.prior,
                _estimate(row.at_p10, output.statistic),
                _estimate(row.at_p90, output.statistic),
                _estimate(row.swing, output.statistic),
                f"{rho.loc[row.prior, 'rho']:+.2f}",
            )
        stdout.print(table)
    if result.sobol is not None:
        table = Table(
            title=f"Sobol indices, 95% interval: N = {result.sobol_samples}, "
            f"{result.sobol_evaluations} model evaluations"
        )
        for column in ("output", "prior", "first order", "total"):
            table.add_column(
                column, justify="right" if column in ("first order", "total") else "left"
            )
        for label, rows in result.sobol.groupby("output", sort=False):
            for row in rows.sort_values("ST", ascending=False).head(5).itertuples():
                table.add_row(label, row.prior, row.S1_text, row.ST_text)
            table.add_section()
        stdout.print(table)
        if result.sobol_samples < SOBOL_SMALL_SAMPLE:
            stdout.print(
                f"N = {result.sobol_samples} is small: the intervals above are wide and "
                f"shares can exceed 100%. Use --sobol-samples {SOBOL_SMALL_SAMPLE} or more "
                "before quoting these indices.",
                markup=False,
            )
        if result.sobol_output.is_probability:
            stdout.print(SOBOL_PROBABILITY_NOTE, markup=False)
        if result.correlated:
            stdout.print(CORRELATED_NOTE, markup=False)
    stdout.print(f"paths per setting: {result.draws}, seed: {result.seed}")
    stdout.print(f"sensitivity folder: {path}", markup=False, highlight=False, soft_wrap=True)


def show_rank_correlation(table, manifest: dict, path) -> None:
    """Print the strongest rank correlations per output, from a run's stored draws."""
    for output, rows in table.groupby("output", sort=False):
        shown = Table(
            "prior",
            "Spearman rho (95% interval)",
            title=f"{output}: rank correlation over {manifest.get('draws')} paths "
            f"of run seed {manifest.get('seed')}",
        )
        for row in rows.head(8).itertuples():
            shown.add_row(row.prior, f"{row.rho:+.2f} ({row.rho_low:+.2f} to {row.rho_high:+.2f})")
        stdout.print(shown)
    stdout.print(f"sensitivity folder: {path}", markup=False, highlight=False, soft_wrap=True)


STRESS_PROBABILITY_LABELS = {
    "p_breakeven_sustained": "P(break-even)",
    "p_breakeven_payback": "P(payback)",
}


def show_stress(result) -> None:
    """Print each headline figure plain and stressed, with the shift."""
    described = ", ".join(
        f"{name} = {band.value:g}"
        if band.value is not None
        else f"{name} in p{band.low * 100:g}-p{band.high * 100:g}"
        for name, band in result.stresses.items()
    )
    table = Table(title=f"Stress: {described} (same seed, same paths)")
    for column in ("figure", "month", "unstressed", "stressed", "shift +/- MCSE"):
        table.add_column(column, justify="left" if column in ("figure", "month") else "right")
    for row in result.shift.itertuples():
        if row.statistic == "probability":
            shift = f"{row.shift:+.1%} +/- {row.mcse_shift:.1%}"
            cells = [f"{row.unstressed:.1%}", f"{row.stressed:.1%}", shift]
            label = STRESS_PROBABILITY_LABELS[row.metric]
        else:
            fmt = count if row.metric == "hosted_users" else money
            sign = "+" if row.shift >= 0 else ""
            shift = f"{sign}{fmt(row.shift)} +/- {fmt(row.mcse_shift)}"
            cells = [fmt(row.unstressed), fmt(row.stressed), shift]
            label = f"{row.metric} {row.statistic.upper()}"
        table.add_row(label, row.month, *cells)
    stdout.print(table)
    stdout.print(f"stress folder: {result.path}", markup=False, highlight=False, soft_wrap=True)


def show_drivers(result, rules: int, seed: int, path=None) -> None:
    """Print the densest rules as sentences with their density, coverage and mass."""
    stdout.print(
        f"{result.target.label}: {result.probability:.1%} (+/- {result.mcse:.1%}) of "
        f"{result.paths} paths, seed {seed}. Rules are fitted on half the paths and "
        "measured on the other half.",
        markup=False,
    )
    for number, row in enumerate(result.table.head(rules).itertuples(), start=1):
        stdout.print(f"{number}. {row.rule}", markup=False, highlight=False)
    if path is not None:
        stdout.print(f"drivers folder: {path}", markup=False, highlight=False, soft_wrap=True)
