"""Commands that condition the model on data: ``calibrate market`` and ``update``.

Exit codes: 2 for bad input (nothing written), 1 for a fit that failed its
convergence checks (nothing written), 0 otherwise.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from forecast.console import fail_on_input_error, stderr, stdout

EXIT_FIT_FAILED = 1

calibrate_app = typer.Typer(help="Fit priors to outside data with NUTS.", no_args_is_help=True)

PriorsOption = Annotated[
    Path | None,
    typer.Option(
        "--priors",
        help="Folder with base.toml and scenarios/ (default: ./priors, else the shipped priors).",
    ),
]
DrawsOption = Annotated[int, typer.Option(help="NUTS draws per chain after tuning.")]
TuneOption = Annotated[int, typer.Option(help="NUTS tuning steps per chain.")]
ChainsOption = Annotated[int, typer.Option(help="NUTS chains, run one after another.")]
TargetAcceptOption = Annotated[
    float, typer.Option(help="NUTS target acceptance rate; raise it if transitions diverge.")
]


@contextlib.contextmanager
def fail_on_fit_error() -> Iterator[None]:
    """Turn a failed convergence check into one line on stderr and exit code 1."""
    from forecast.diagnostics import FitError

    try:
        yield
    except FitError as error:
        stderr.print(f"error: {error}. Nothing was written.", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FIT_FAILED) from None


@calibrate_app.command("market")
def calibrate_market_command(
    data: Annotated[
        Path | None,
        typer.Option(help="CSV of announced ChatGPT weekly users (default: the shipped copy)."),
    ] = None,
    priors: PriorsOption = None,
    extends: Annotated[
        str, typer.Option(help="Scenario to extend; its June-2026 agent users set the scale.")
    ] = "base",
    name: Annotated[str, typer.Option(help="Name of the scenario file to write.")] = "calibrated",
    out: Annotated[
        Path | None,
        typer.Option(help="Scenario file to write (default: <priors>/scenarios/<name>.toml)."),
    ] = None,
    lag_low: Annotated[
        float, typer.Option(help="Minimum lag of agent behind chatbot adoption, in months.")
    ] = 18.0,
    lag_high: Annotated[float, typer.Option(help="Maximum lag, in months.")] = 24.0,
    draws: DrawsOption = 2000,
    tune: TuneOption = 1500,
    chains: ChainsOption = 2,
    target_accept: TargetAcceptOption = 0.99,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and the lag draws.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the scenario file if it exists.")
    ] = False,
) -> None:
    """Fit agent-market priors to the ChatGPT adoption curve and write them as a scenario."""
    from rich.table import Table

    with fail_on_input_error(), fail_on_fit_error():
        from forecast.calibrate import DEFAULT_DATA, calibrate_market

        result = calibrate_market(
            data=data if data is not None else DEFAULT_DATA,
            priors_dir=priors,
            extends=extends,
            name=name,
            out=out,
            lag=(lag_low, lag_high),
            draws=draws,
            tune=tune,
            chains=chains,
            target_accept=target_accept,
            seed=seed,
            overwrite=overwrite,
        )
    stdout.print(f"fit: {result.diagnostics.describe()}", markup=False, soft_wrap=True)
    table = Table(title="Agent users in June: plan against calibrated (millions)")
    for column in ("month", "plan", "p5", "p50", "p95", "in plan range"):
        table.add_column(column, justify="right")
    for row in result.year_table.itertuples(index=False):
        table.add_row(
            row.month,
            f"{row.plan_low / 1e6:g}-{row.plan_high / 1e6:g}",
            f"{row.p5 / 1e6:.3g}",
            f"{row.p50 / 1e6:.3g}",
            f"{row.p95 / 1e6:.3g}",
            f"{row.p_in_plan_range:.1%}",
        )
    stdout.print(table)
    stdout.print(result.verdict, markup=False, soft_wrap=True)
    stdout.print(f"scenario file: {result.path}", markup=False, highlight=False, soft_wrap=True)


def update_command(
    actuals: Annotated[
        Path,
        typer.Option(
            help="CSV with month (YYYY-MM) and any of hosted_users, self_hosted_users, mrr, cash."
        ),
    ],
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="Scenario to condition.")
    ] = "base",
    priors: PriorsOption = None,
    draws: DrawsOption = 1000,
    tune: TuneOption = 1000,
    chains: ChainsOption = 2,
    target_accept: TargetAcceptOption = 0.99,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and the prior forecast.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/<UTC timestamp>-<scenario>).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it already exists.")] = False,
    charts: Annotated[bool, typer.Option(help="Draw the PNG/SVG charts.")] = True,
) -> None:
    """Condition a scenario on monthly actuals with NUTS and write the updated forecast."""
    from forecast.console import show_run

    with fail_on_input_error(), fail_on_fit_error():
        from forecast.update import update_scenario

        result = update_scenario(
            scenario,
            actuals=actuals,
            priors_dir=priors,
            draws=draws,
            tune=tune,
            chains=chains,
            target_accept=target_accept,
            seed=seed,
            out=out,
            overwrite=overwrite,
            with_charts=charts,
            command=["forecast", *sys.argv[1:]],
        )
    stdout.print(f"fit: {result.diagnostics.describe()}", markup=False, soft_wrap=True)
    table = result.prior_posterior
    moved = [
        f"{name} ({table.loc[name, 'shrinkage']:.0%} narrower)"
        for name in table.index[table["moved"]]
    ]
    summary = ", ".join(moved) if moved else "none"
    stdout.print(f"priors the actuals moved: {summary}", markup=False, soft_wrap=True)
    unseen = result.drawn_from_prior
    if unseen:
        stdout.print(
            "drawn from their priors, not fitted (no observed metric depends on them in the "
            "observed months): " + ", ".join(unseen),
            markup=False,
            soft_wrap=True,
        )
    show_run(result.run)


def register(app: typer.Typer) -> None:
    """Add ``calibrate market`` and ``update`` to ``app``."""
    app.add_typer(calibrate_app, name="calibrate")
    app.command("update")(update_command)
