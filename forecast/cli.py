"""Command line: thin typer commands over the package's plain functions.

Only this module and :mod:`forecast.console` print. Heavy packages (PyMC,
PyTensor, ArviZ, matplotlib, pandas) are imported inside the commands that need
them, so ``forecast --help`` and ``forecast scenarios`` start instantly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from forecast.commands import register_commands
from forecast.console import fail_on_input_error, stderr, stdout

app = typer.Typer(
    help="Monte Carlo forecasts of hosted users, revenue, margin and cash, 2026-2028.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PriorsOption = Annotated[
    Path | None,
    typer.Option(
        "--priors",
        help="Folder with base.toml and scenarios/ (default: ./priors, else the shipped priors).",
    ),
]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", "-s", help="Scenario name; `forecast scenarios` lists them.")
]


@app.command()
def run(
    scenario: ScenarioOption = "base",
    draws: Annotated[int, typer.Option(help="Number of sampled paths.")] = 10_000,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; drawn, printed and recorded if not given.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder (default: runs/<UTC timestamp>-<scenario>)."),
    ] = None,
    priors: PriorsOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it already exists.")] = False,
    charts: Annotated[bool, typer.Option(help="Draw the PNG/SVG charts.")] = True,
    keep_draws: Annotated[
        bool | None,
        typer.Option(
            "--keep-draws/--no-keep-draws",
            help="Store every path's draws as netCDF (draws.nc)."
            " Default: stored for runs of up to 100,000 paths.",
            show_default=False,
        ),
    ] = None,
    target_mcse: Annotated[
        float | None,
        typer.Option(
            help="Add paths until the Monte Carlo SE of every break-even probability, and of"
            " each year-end P10/P50/P90 over its P10-P90 spread, is at most this"
            " (for example 0.005). --draws is then the first step.",
        ),
    ] = None,
    max_draws: Annotated[
        int, typer.Option(help="Most paths a --target-mcse run may use.")
    ] = 1_000_000,
    fiscal_year_start: Annotated[
        str,
        typer.Option(
            help="First month of the fiscal year in periods.csv: 1-12 or a name such as "
            "April. A fiscal year is named by the calendar year it ends in."
        ),
    ] = "1",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes that sample in parallel (default: one per core, at most 4). "
            "The numbers are the same for any value."
        ),
    ] = None,
) -> None:
    """Sample a scenario's monthly paths and write a run folder."""
    from forecast.console import progress_bar, show_run

    with fail_on_input_error():
        from forecast.calendar import parse_fiscal_year_start
        from forecast.parallel import check_workers, usable_cores
        from forecast.pipeline import draw_seed, run_scenario
        from forecast.priors import load_scenario
        from forecast.simulate import check_draws, check_seed

        first_fiscal_month = parse_fiscal_year_start(fiscal_year_start)
        # Bad input fails here, before the seed line and the progress bar appear.
        load_scenario(scenario, priors)
        check_draws(draws)
        if seed is not None:
            check_seed(seed)
        if workers is not None:
            check_workers(workers, limit=usable_cores())

        if seed is None:
            seed = draw_seed()
            stderr.print(f"seed: {seed} (pass --seed {seed} to repeat this run)")
        total = max_draws if target_mcse is not None else draws
        with progress_bar(total, f"Sampling {scenario}") as advance:
            result = run_scenario(
                scenario,
                draws=draws,
                seed=seed,
                priors_dir=priors,
                out=out,
                overwrite=overwrite,
                with_charts=charts,
                keep_draws=keep_draws,
                target_mcse=target_mcse,
                max_draws=max_draws,
                command=["forecast", *sys.argv[1:]],
                progress=advance,
                fiscal_year_start=first_fiscal_month,
                workers=workers,
            )
        show_run(result)


@app.command()
def scenarios(priors: PriorsOption = None) -> None:
    """List the scenarios with their one-line descriptions."""
    from rich.table import Table

    with fail_on_input_error():
        from forecast.priors import default_priors_dir, list_scenarios

        folder = priors if priors is not None else default_priors_dir()
        found = list_scenarios(folder)
        table = Table("scenario", "description", title=f"Scenarios in {folder}")
        for name, description in found.items():
            table.add_row(name, description)
        stdout.print(table)


@app.command()
def economics(
    scenario: ScenarioOption = "base",
    users: Annotated[
        str, typer.Option(help="Comma-separated hosted-user counts for the scaling table.")
    ] = "1000,10000,50000,100000,1000000",
    price: Annotated[
        float, typer.Option(help="Price in $/user-month for the margin column.")
    ] = 10.0,
    output_format: Annotated[
        str, typer.Option("--format", help="Output format: table or csv.")
    ] = "table",
    draws: Annotated[int, typer.Option(help="Prior draws behind each P10-P90 cell.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed for the prior draws.")] = 0,
    priors: PriorsOption = None,
) -> None:
    """Print the plan's cost and price tables as the priors reproduce them (P10-P90)."""
    from forecast.console import show_economics

    with fail_on_input_error():
        from forecast.economics import economics_tables, parse_user_counts

        counts = parse_user_counts(users)
        if output_format not in ("table", "csv"):
            from forecast.errors import InputError

            raise InputError(
                "unknown format", key="--format", value=output_format, fix="Use table or csv"
            )
        tables = economics_tables(
            scenario, users=counts, price=price, draws=draws, seed=seed, priors_dir=priors
        )
        show_economics(tables, output_format)


register_commands(app)


def main() -> None:
    """Entry point of the ``forecast`` console script."""
    app()


if __name__ == "__main__":
    main()
