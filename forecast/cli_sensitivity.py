"""Commands of sensitivity reviews: ``sensitivity``, ``stress`` and ``drivers``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from forecast.console import fail_on_input_error, stderr

ScenarioOption = Annotated[
    str, typer.Option("--scenario", "-s", help="Scenario name; `forecast scenarios` lists them.")
]
PriorsOption = Annotated[
    Path | None,
    typer.Option(
        "--priors",
        help="Folder with base.toml and scenarios/ (default: ./priors, else the shipped priors).",
    ),
]
SeedOption = Annotated[
    int | None, typer.Option(help="Random seed; drawn, printed and recorded if not given.")
]
OutOption = Annotated[Path | None, typer.Option(help="Output folder (default: under runs/).")]
OverwriteOption = Annotated[bool, typer.Option(help="Replace --out if it already exists.")]


def _seed(seed: int | None) -> int:
    from forecast.pipeline import draw_seed

    if seed is None:
        seed = draw_seed()
        stderr.print(f"seed: {seed} (pass --seed {seed} to repeat this run)")
    return seed


def sensitivity(
    scenario: ScenarioOption = "base",
    output: Annotated[
        list[str] | None,
        typer.Option(
            "--output",
            help="Output to explain, repeatable: breakeven_by=YYYY-MM, payback_by=YYYY-MM, "
            "METRIC=YYYY-MM or minimum_cash (default: breakeven_by=2028-12, mrr=2028-12, "
            "minimum_cash).",
        ),
    ] = None,
    sobol_output: Annotated[
        str | None,
        typer.Option(help="Output for the Sobol indices (default: the first --output)."),
    ] = None,
    sobol: Annotated[bool, typer.Option(help="Compute Sobol indices with SALib.")] = True,
    sobol_samples: Annotated[
        int, typer.Option(help="Sobol base sample size N, rounded up to a power of two.")
    ] = 1024,
    draws: Annotated[
        int, typer.Option(help="Paths per tornado and spider setting, and for rank correlation.")
    ] = 4096,
    spider_priors: Annotated[int, typer.Option(help="Top priors drawn in the spider chart.")] = 5,
    seed: SeedOption = None,
    out: OutOption = None,
    priors: PriorsOption = None,
    overwrite: OverwriteOption = False,
    charts: Annotated[bool, typer.Option(help="Draw the PNG/SVG charts.")] = True,
    from_run: Annotated[
        str | None,
        typer.Option(
            help="Only rank correlations, from this run's stored draws (no model runs); "
            "writes <run>-rank-correlation beside it unless --out is given."
        ),
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder of runs that --from-run names.")] = Path(
        "runs"
    ),
) -> None:
    """Rank the priors by how much they move each output: tornado, spider, Spearman, Sobol."""
    from forecast.console import show_rank_correlation, show_sensitivity

    with fail_on_input_error():
        from forecast.outputs import DEFAULT_OUTPUTS
        from forecast.sensitivity import rank_correlation_from_run, run_sensitivity

        outputs = list(output or DEFAULT_OUTPUTS)
        if from_run is not None:
            path, table, manifest = rank_correlation_from_run(
                from_run,
                outputs=outputs,
                runs_dir=runs_dir,
                out=out,
                overwrite=overwrite,
                command=["forecast", *sys.argv[1:]],
            )
            show_rank_correlation(table, manifest, path)
            return
        seed = _seed(seed)
        with stderr.status("Running the sensitivity review"):
            path, result = run_sensitivity(
                scenario,
                outputs=outputs,
                draws=draws,
                seed=seed,
                sobol_output=(sobol_output or outputs[0]) if sobol else None,
                sobol_samples=sobol_samples,
                spider_priors=spider_priors,
                priors_dir=priors,
                out=out,
                overwrite=overwrite,
                with_charts=charts,
                command=["forecast", *sys.argv[1:]],
            )
        show_sensitivity(result, path)


def stress(
    scenario: ScenarioOption = "base",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Stress, repeatable: NAME=p90 (held at its 90th percentile), NAME=p80:p100 "
            "(its top fifth) or NAME=VALUE (a fixed value in the prior's unit).",
        ),
    ] = None,
    draws: Annotated[int, typer.Option(help="Number of sampled paths in each run.")] = 10_000,
    seed: SeedOption = None,
    out: OutOption = None,
    priors: PriorsOption = None,
    overwrite: OverwriteOption = False,
    charts: Annotated[bool, typer.Option(help="Draw the PNG/SVG charts of both runs.")] = True,
) -> None:
    """Rerun a scenario with priors held in a band or at a value; show the headline shift."""
    from forecast.console import show_stress

    with fail_on_input_error():
        from forecast.stress import run_stress

        seed = _seed(seed)
        with stderr.status("Running the plain and the stressed scenario"):
            result = run_stress(
                scenario,
                settings=list(set_ or []),
                draws=draws,
                seed=seed,
                priors_dir=priors,
                out=out,
                overwrite=overwrite,
                with_charts=charts,
                command=["forecast", *sys.argv[1:]],
            )
        show_stress(result)


def drivers(
    scenario: ScenarioOption = "base",
    target: Annotated[
        str, typer.Option(help="Event to explain: breakeven_by=YYYY-MM or payback_by=YYYY-MM.")
    ] = "breakeven_by=2027-12",
    draws: Annotated[int, typer.Option(help="Number of sampled paths to learn from.")] = 20_000,
    depth: Annotated[int, typer.Option(help="Maximum conditions per rule (tree depth).")] = 3,
    min_share: Annotated[
        float, typer.Option(help="Smallest rule, as a share of all paths (0-0.5).")
    ] = 0.05,
    rules: Annotated[int, typer.Option(help="Number of rules shown, densest first.")] = 3,
    seed: SeedOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for rules.csv and a manifest (default: none).")
    ] = None,
    priors: PriorsOption = None,
    overwrite: OverwriteOption = False,
) -> None:
    """List the prior ranges that make a break-even target likely (scenario discovery)."""
    from forecast.console import show_drivers

    with fail_on_input_error():
        from forecast.drivers import check_tree_options, find_drivers, parse_target, write_drivers
        from forecast.priors import load_scenario
        from forecast.runs import staged_folder

        check_tree_options(depth, min_share)
        resolved = load_scenario(scenario, priors)
        parsed = parse_target(target, resolved.settings.months)
        if out is not None and out.exists() and not overwrite:
            # Checked before sampling as well, so the user does not wait for a rejection.
            with staged_folder(out, overwrite=False):
                pass
        seed = _seed(seed)
        with stderr.status("Sampling paths and fitting the tree"):
            result = find_drivers(
                resolved, parsed, draws=draws, seed=seed, depth=depth, min_leaf_share=min_share
            )
        if out is not None:
            write_drivers(
                result,
                resolved,
                out,
                overwrite=overwrite,
                command=["forecast", *sys.argv[1:]],
                depth=depth,
                min_leaf_share=min_share,
            )
        show_drivers(result, rules, seed, out)


def register(app: typer.Typer) -> None:
    """Add ``sensitivity``, ``stress`` and ``drivers`` to ``app``."""
    app.command()(sensitivity)
    app.command()(stress)
    app.command()(drivers)
