"""Which priors matter: tornado, spider, rank correlation and Sobol indices.

Every figure comes from the compiled model (:func:`forecast.outputs.evaluate_outputs`)
on a matrix of uniforms whose columns follow :data:`forecast.parameters.PARAMETERS`:

- Tornado and spider: the plain run's paths (same seed, same keyed streams) with
  one prior's column replaced by a constant percentile, so each setting sees
  common random numbers and the swing is not blurred by resampling the others.
- Rank correlation: Spearman's rho of each prior with each output over the plain
  run's paths, with no extra model runs.
- Sobol first-order and total indices: SALib's Saltelli design and estimators
  over the uniforms of the priors that vary (fixed priors are not inputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.outputs import (
    DEFAULT_OUTPUTS,
    Output,
    base_uniforms,
    evaluate_outputs,
    free_priors,
    summarize_output,
)
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario
from forecast.simulate import stream_key

TORNADO_PERCENTILES = (0.10, 0.90)
SPIDER_PERCENTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
NEGATIVE_INDEX_TEXT = "0 (estimate below zero, within noise)"
SWEEP_ROWS = 16 * 4096  # rows per model call batch in a sweep: 18 MB of float64 uniforms


def with_column(uniforms: np.ndarray, name: str, percentile: float) -> np.ndarray:
    """Return a copy of ``uniforms`` with prior ``name`` held at one percentile."""
    # NOTE: under declared [correlations] the other priors keep their draws from the
    # plain run instead of being conditioned on the held value.
    held = uniforms.copy()
    held[:, list(PARAMETERS).index(name)] = percentile
    return held


def percentile_sweep(
    scenario: Scenario,
    uniforms: np.ndarray,
    outputs: Sequence[Output],
    names: Sequence[str],
    percentiles: Sequence[float],
) -> pd.DataFrame:
    """Summarise each output with each prior in ``names`` held at each percentile.

    Settings are stacked into matrices of about :data:`SWEEP_ROWS` rows, so a
    small ``uniforms`` does not pay for a padded model block per setting.

    Returns
    -------
    pandas.DataFrame
        One row per output, prior and percentile: ``prior_value``, the output's
        ``estimate`` (P50 or probability) and its Monte Carlo ``mcse``.
    """
    settings = [(name, percentile) for name in names for percentile in percentiles]
    per_batch = max(1, SWEEP_ROWS // len(uniforms))
    rows = []
    for first in range(0, len(settings), per_batch):
        batch = settings[first : first + per_batch]
        stacked = np.concatenate([with_column(uniforms, n, q) for n, q in batch])
        values = evaluate_outputs(scenario, stacked, outputs)
        for i, (name, percentile) in enumerate(batch):
            setting = values[i * len(uniforms) : (i + 1) * len(uniforms)]
            prior_value = scenario.priors[name].quantile(percentile)
            for column, output in enumerate(outputs):
                estimate, mcse = summarize_output(output, setting[:, column])
                rows.append(
                    {
                        "output": output.label,
                        "statistic": output.statistic,
                        "prior": name,
                        "percentile": percentile,
                        "prior_value": prior_value,
                        "estimate": estimate,
                        "mcse": mcse,
                    }
                )
    table = pd.DataFrame(rows)
    order = {output.label: i for i, output in enumerate(outputs)}
    table["order"] = table["output"].map(order)
    table = table.sort_values(["order", "prior", "percentile"], kind="stable")
    return table.drop(columns="order").reset_index(drop=True)


def tornado_table(sweep: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Turn a P10/P90 sweep into tornado rows sorted by swing, largest first.

    ``swing`` is ``|at_p90 - at_p10|``. ``baseline`` gives each output's estimate
    with every prior sampled as usual (columns ``output``, ``estimate``).
    """
    low, high = TORNADO_PERCENTILES
    rows = []
    for (output, prior), group in sweep.groupby(["output", "prior"], sort=False):
        at = group.set_index("percentile")
        rows.append(
            {
                "output": output,
                "statistic": at["statistic"].iloc[0],
                "prior": prior,
                "prior_p10": at.loc[low, "prior_value"],
                "prior_p90": at.loc[high, "prior_value"],
                "at_p10": at.loc[low, "estimate"],
                "mcse_at_p10": at.loc[low, "mcse"],
                "at_p90": at.loc[high, "estimate"],
                "mcse_at_p90": at.loc[high, "mcse"],
                "swing": abs(at.loc[high, "estimate"] - at.loc[low, "estimate"]),
            }
        )
    table = pd.DataFrame(rows).merge(
        baseline[["output", "estimate"]].rename(columns={"estimate": "baseline"}), on="output"
    )
    order = {label: i for i, label in enumerate(dict.fromkeys(sweep["output"]))}
    table["order"] = table["output"].map(order)
    table = table.sort_values(["order", "swing", "prior"], ascending=[True, False, True])
    return table.drop(columns="order").reset_index(drop=True)


def baseline_table(outputs: Sequence[Output], values: np.ndarray) -> pd.DataFrame:
    """Summarise each output (estimate and MCSE) with every prior sampled as usual."""
    rows = []
    for column, output in enumerate(outputs):
        estimate, mcse = summarize_output(output, values[:, column])
        row = {"output": output.label, "statistic": output.statistic}
        rows.append(row | {"estimate": estimate, "mcse": mcse})
    return pd.DataFrame(rows)


def spearman_table(
    inputs: dict[str, np.ndarray], outputs: Sequence[Output], values: np.ndarray
) -> pd.DataFrame:
    """Spearman's rho of every prior with every output, with a 95% interval.

    The interval is the Fisher z interval with the Bonett-Wright standard error
    ``sqrt((1 + rho^2 / 2) / (n - 3))``. An output that does not vary has no
    correlation (``rho`` is NaN).
    """
    from scipy import stats

    paths = len(values)
    rows = []
    for column, output in enumerate(outputs):
        y = values[:, column]
        for name, x in inputs.items():
            if np.ptp(y) == 0 or np.ptp(x) == 0:
                rho = math.nan
            else:
                rho = float(stats.spearmanr(x, y).statistic)
            error = math.sqrt((1 + rho**2 / 2) / (paths - 3))
            z = math.atanh(min(max(rho, -0.999999), 0.999999)) if not math.isnan(rho) else rho
            rows.append(
                {
                    "output": output.label,
                    "prior": name,
                    "rho": rho,
                    "rho_low": math.tanh(z - 1.959964 * error),
                    "rho_high": math.tanh(z + 1.959964 * error),
                }
            )
    table = pd.DataFrame(rows)
    table["abs_rho"] = table["rho"].abs()
    table = table.sort_values(["output", "abs_rho"], ascending=[True, False], kind="stable")
    return table.drop(columns="abs_rho").reset_index(drop=True)


def power_of_two(samples: int) -> int:
    """Round a Sobol base sample size up to a power of two (Sobol sequences need one)."""
    return 1 << max(0, math.ceil(math.log2(max(1, samples))))


def derived_seed(seed: int, purpose: str) -> int:
    """Return a nonzero 63-bit seed for one purpose, keyed like the model's streams.

    SALib falls back to numpy's global random state when given seed 0, so the
    derived seed is never 0.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(stream_key(purpose),))
    return int(sequence.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1)) or 1


def sobol_indices(
    evaluate: Callable[[np.ndarray], np.ndarray],
    names: Sequence[str],
    output_labels: Sequence[str],
    samples: int,
    seed: int,
    resamples: int = 200,
) -> tuple[pd.DataFrame, int]:
    """Estimate Sobol first-order and total indices with SALib.

    Parameters
    ----------
    evaluate
        Maps a ``(rows, len(names))`` matrix of uniforms in (0, 1) to a
        ``(rows, len(output_labels))`` matrix of outputs.
    names
        The independent inputs, each uniform on (0, 1).
    output_labels
        One label per output column.
    samples
        Base sample size N, rounded up to a power of two.
    seed
        Seed of the scrambled Sobol sequence and of the bootstrap intervals.
    resamples
        Bootstrap resamples behind the 95% confidence intervals.

    Returns
    -------
    tuple
        The table (one row per output and input: ``S1``, ``S1_conf``, ``ST``,
        ``ST_conf``, the 95% interval half-widths) and the number of model
        evaluations, ``N * (inputs + 2)``.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    base = power_of_two(samples)
    design = sobol_sample.sample(
        problem, base, calc_second_order=False, seed=derived_seed(seed, "sobol design")
    )
    # Scrambled Sobol points can reach 0, where a lognormal's inverse CDF is 0 and a
    # normal's is -inf. Clipping by half a double-precision step keeps values finite.
    design = np.clip(design, 2.0**-54, 1 - 2.0**-53)
    values = evaluate(design)
    rows = []
    for column, label in enumerate(output_labels):
        y = values[:, column]
        if np.ptp(y) == 0:
            result = {
                key: np.full(len(names), np.nan) for key in ("S1", "S1_conf", "ST", "ST_conf")
            }
        else:
            result = sobol_analyze.analyze(
                problem,
                y,
                calc_second_order=False,
                num_resamples=resamples,
                seed=derived_seed(seed, "sobol bootstrap"),
            )
        for i, name in enumerate(names):
            rows.append(
                {
                    "output": label,
                    "prior": name,
                    "S1": float(result["S1"][i]),
                    "S1_conf": float(result["S1_conf"][i]),
                    "ST": float(result["ST"][i]),
                    "ST_conf": float(result["ST_conf"][i]),
                }
            )
    return pd.DataFrame(rows), len(design)


def index_text(estimate: float, half_width: float) -> str:
    """Format one Sobol index for a slide: a share with its interval, never below zero."""
    if math.isnan(estimate):
        return "n/a (output does not vary)"
    if estimate < 0:
        return NEGATIVE_INDEX_TEXT
    return f"{estimate:.1%} +/- {half_width:.1%}"


def year_end_outputs(output: Output, months: list[str]) -> list[Output]:
    """Return ``output`` read at each December of the horizon (2026-12, 2027-12, ...)."""
    return [output.at_month(month) for month in months if month.endswith("-12")]


@dataclass
class SensitivityResult:
    """Tables of one sensitivity review; charts and files are written from these."""

    scenario: Scenario
    outputs: list[Output]
    draws: int
    seed: int
    baseline: pd.DataFrame
    tornado: pd.DataFrame
    spider: pd.DataFrame
    spearman: pd.DataFrame
    sobol: pd.DataFrame | None = None
    sobol_output: Output | None = None
    sobol_samples: int = 0
    sobol_evaluations: int = 0
    inputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def correlated(self) -> bool:
        """Return whether the scenario declares rank correlations between priors."""
        return bool(self.scenario.correlations)


def analyse(
    scenario: Scenario,
    outputs: Sequence[Output],
    *,
    draws: int,
    seed: int,
    spider_priors: int = 5,
    sobol_output: Output | None = None,
    sobol_samples: int = 1024,
) -> SensitivityResult:
    """Run the tornado, spider, rank-correlation and (optionally) Sobol analyses.

    Parameters
    ----------
    scenario
        Resolved priors and settings.
    outputs
        The outputs to explain; the spider uses the top priors of the first.
    draws
        Paths per setting for tornado, spider and rank correlation.
    seed
        Seed of the plain run whose paths every setting reuses.
    spider_priors
        How many of the first output's top tornado priors the spider shows.
    sobol_output
        Output for the Sobol indices, which are also computed at each year end;
        ``None`` skips them.
    sobol_samples
        Sobol base sample size N, rounded up to a power of two.
    """
    from forecast.simulate import check_draws, prior_values

    check_draws(draws)
    outputs = list(outputs)
    names = free_priors(scenario)
    uniforms = base_uniforms(scenario, draws, seed)
    inputs = {name: values for name, values in prior_values(scenario, uniforms).items()}
    plain = evaluate_outputs(scenario, uniforms, outputs)
    baseline = baseline_table(outputs, plain)
    spearman = spearman_table({name: inputs[name] for name in names}, outputs, plain)

    sweep = percentile_sweep(scenario, uniforms, outputs, names, TORNADO_PERCENTILES)
    tornado = tornado_table(sweep, baseline)
    first = tornado[tornado["output"] == outputs[0].label]
    top = list(first["prior"].head(spider_priors))
    extra = [p for p in SPIDER_PERCENTILES if p not in TORNADO_PERCENTILES]
    spider = pd.concat(
        [
            sweep[sweep["prior"].isin(top)],
            percentile_sweep(scenario, uniforms, outputs, top, extra),
        ],
        ignore_index=True,
    ).sort_values(["output", "prior", "percentile"], kind="stable", ignore_index=True)

    result = SensitivityResult(
        scenario=scenario,
        outputs=outputs,
        draws=draws,
        seed=seed,
        baseline=baseline,
        tornado=tornado,
        spider=spider,
        spearman=spearman,
        inputs=inputs,
    )
    if sobol_output is not None:
        by_year = [*year_end_outputs(sobol_output, scenario.settings.months), sobol_output]
        by_year = list(dict.fromkeys(by_year))
        columns = [list(PARAMETERS).index(name) for name in names]

        def evaluate(design: np.ndarray) -> np.ndarray:
            # Fixed priors ignore their column, so 0.5 is only a placeholder there.
            full = np.full((len(design), len(PARAMETERS)), 0.5)
            full[:, columns] = design
            return evaluate_outputs(scenario, full, by_year)

        table, evaluations = sobol_indices(
            evaluate, names, [o.label for o in by_year], sobol_samples, seed
        )
        for index in ("S1", "ST"):
            pairs = zip(table[index], table[f"{index}_conf"], strict=True)
            table[f"{index}_text"] = [index_text(value, width) for value, width in pairs]
        result.sobol = table
        result.sobol_output = sobol_output
        result.sobol_samples = power_of_two(sobol_samples)
        result.sobol_evaluations = evaluations
    return result


SOBOL_PROBABILITY_NOTE = (
    "Probabilities enter the Sobol analysis as a 0/1 indicator per path, so the "
    "indices split the variance of that indicator, whose mean is the probability."
)
CORRELATED_NOTE = (
    "This scenario declares rank correlations between priors, but the Sobol design "
    "samples every prior independently: the indices describe independent priors. "
    "Tornado, spider and rank correlations use the correlated paths."
)


# Spearman's interval needs more than 3 paths, and under 10 the figures mean nothing.
MINIMUM_REVIEW_PATHS = 10


def check_review_options(draws: int, sobol_samples: int, spider_priors: int) -> None:
    """Reject path counts, Sobol sizes or spider sizes that cannot give a review."""
    from forecast.errors import InputError
    from forecast.simulate import check_draws

    check_draws(draws)
    if draws < MINIMUM_REVIEW_PATHS:
        raise InputError(
            f"a sensitivity review needs at least {MINIMUM_REVIEW_PATHS} paths per setting",
            key="--draws",
            value=draws,
            fix="Pass for example --draws 4096",
        )
    if isinstance(sobol_samples, bool) or not isinstance(sobol_samples, int) or sobol_samples < 2:
        raise InputError(
            "Sobol sample size must be a whole number of at least 2",
            key="--sobol-samples",
            value=sobol_samples,
            fix="Pass for example --sobol-samples 1024",
        )
    if isinstance(spider_priors, bool) or not isinstance(spider_priors, int) or spider_priors < 1:
        raise InputError(
            "spider chart needs at least 1 prior",
            key="--spider-priors",
            value=spider_priors,
            fix="Pass for example --spider-priors 5",
        )


def run_sensitivity(
    scenario_name: str,
    *,
    outputs: Sequence[str],
    draws: int,
    seed: int,
    sobol_output: str | None,
    sobol_samples: int = 1024,
    spider_priors: int = 5,
    priors_dir: Path | None = None,
    out: Path | None = None,
    runs_dir: Path = Path("runs"),
    overwrite: bool = False,
    with_charts: bool = True,
    command: list[str] | None = None,
) -> tuple[Path, SensitivityResult]:
    """Run a sensitivity review and write it to a run-style folder with a manifest.

    Parameters
    ----------
    scenario_name
        A scenario in ``priors_dir/scenarios``.
    outputs
        Output specifications (see :func:`forecast.outputs.parse_output`).
    draws, seed
        Paths per setting and the seed of the plain run they reproduce.
    sobol_output
        Output specification for the Sobol indices, or ``None`` to skip them.
    sobol_samples
        Sobol base sample size N, rounded up to a power of two.
    spider_priors
        How many top priors the spider chart shows.
    priors_dir, out, runs_dir, overwrite
        As for :func:`forecast.pipeline.run_scenario`; the default folder is
        ``runs_dir/<UTC timestamp>-<scenario>-sensitivity``.
    with_charts
        Draw the tornado, spider and Sobol charts (PNG and SVG).
    command
        Command line recorded in the manifest.

    Returns
    -------
    tuple
        The folder written and the tables.
    """
    from forecast import runs
    from forecast.outputs import parse_output
    from forecast.priors import load_scenario
    from forecast.simulate import Draws

    scenario = load_scenario(scenario_name, priors_dir)
    check_review_options(draws, sobol_samples, spider_priors)
    months = scenario.settings.months
    parsed = [parse_output(text, months) for text in outputs]
    if not parsed:
        parsed = [parse_output(text, months) for text in DEFAULT_OUTPUTS]
    target = parse_output(sobol_output, months, "--sobol-output") if sobol_output else None
    destination = (
        Path(out)
        if out is not None
        else runs_dir / runs.new_run_name(f"{scenario.name}-sensitivity", runs_dir)
    )
    if destination.exists() and not overwrite:
        with runs.staged_folder(destination, overwrite=False):
            pass

    result = analyse(
        scenario,
        parsed,
        draws=draws,
        seed=seed,
        spider_priors=spider_priors,
        sobol_output=target,
        sobol_samples=sobol_samples,
    )
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        options = {"index": False, "float_format": "%.10g"}
        result.baseline.to_csv(folder / "baseline.csv", **options)
        result.tornado.to_csv(folder / "tornado.csv", **options)
        result.spider.to_csv(folder / "spider.csv", **options)
        result.spearman.to_csv(folder / "spearman.csv", **options)
        if result.sobol is not None:
            result.sobol.to_csv(folder / "sobol.csv", **options)
        if with_charts:
            write_charts(result, folder / "charts")
        plain = Draws(months=months, inputs=result.inputs, metrics={}, seed=seed)
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(
                scenario,
                plain,
                command=command,
                kind="sensitivity",
                outputs=[output.label for output in parsed],
                sensitivity=sensitivity_manifest(result),
            ),
        )
    return destination, result


def sensitivity_manifest(result: SensitivityResult) -> dict[str, object]:
    """Describe the settings behind each table, for the manifest."""
    notes = []
    if any(output.is_probability for output in result.outputs):
        notes.append(SOBOL_PROBABILITY_NOTE)
    if result.correlated:
        notes.append(CORRELATED_NOTE)
    return {
        "paths_per_setting": result.draws,
        "tornado_percentiles": list(TORNADO_PERCENTILES),
        "spider_percentiles": list(SPIDER_PERCENTILES),
        "spider_priors": sorted(set(result.spider["prior"])),
        "statistics": {o.label: o.statistic for o in result.outputs},
        "sobol_output": result.sobol_output.label if result.sobol_output else None,
        "sobol_base_samples": result.sobol_samples,
        "sobol_model_evaluations": result.sobol_evaluations,
        "sobol_inputs_correlated": result.correlated,
        "notes": notes,
    }


def write_charts(result: SensitivityResult, folder: Path) -> list[Path]:
    """Write each output's tornado and spider chart, and the Sobol charts, into ``folder``."""
    from forecast.sensitivity_charts import slug, sobol_chart, spider_chart, tornado_chart

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for output in result.outputs:
        name = slug(output.label)
        written += tornado_chart(result.tornado, output.label, folder / f"tornado_{name}")
        written += spider_chart(result.spider, output.label, folder / f"spider_{name}")
    if result.sobol is not None:
        for label in dict.fromkeys(result.sobol["output"]):
            written += sobol_chart(result.sobol, label, folder / f"sobol_{slug(label)}")
    return written


def read_run_draws(run: Path) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read a run's months, prior values ``(paths,)`` and metrics ``(paths, months)``.

    Metrics are stored as float32 (see :func:`forecast.runs.write_draws`) and are
    returned as float64 arrays of those stored values.
    """
    from forecast.runs import open_draws

    prior = open_draws(Path(run))
    months = [str(month) for month in prior["month"].values]
    inputs, metrics = {}, {}
    for name in prior.data_vars:
        values = np.asarray(prior[name].values, dtype=float)[0]
        if name.startswith("prior_"):
            inputs[name.removeprefix("prior_")] = values
        else:
            metrics[name] = values
    return months, inputs, metrics


def rank_correlation_from_run(
    run: str | Path,
    *,
    outputs: Sequence[str],
    runs_dir: Path = Path("runs"),
    out: Path | None = None,
    overwrite: bool = False,
    command: list[str] | None = None,
) -> tuple[Path, pd.DataFrame, dict[str, object]]:
    """Compute Spearman's rho of every varying prior with each output from a run's draws.

    No model runs: the paths are the run's stored ``draws.nc``. The folder
    written (default ``<run>-rank-correlation`` beside the run, which is left
    untouched) contains ``spearman.csv`` and a manifest naming the source run
    and its seed.

    Returns
    -------
    tuple
        The folder written, the table and the source run's manifest.
    """
    from forecast import runs
    from forecast.outputs import parse_output

    source = runs.resolve_run(run, runs_dir)
    manifest = runs.read_manifest(source)
    months, inputs, metrics = read_run_draws(source)
    parsed = [parse_output(text, months) for text in outputs]
    values = np.column_stack([output.per_path(metrics, months) for output in parsed])
    varying = {name: x for name, x in inputs.items() if np.ptp(x) > 0}
    table = spearman_table(varying, parsed, values)
    destination = (
        Path(out) if out is not None else source.parent / f"{source.name}-rank-correlation"
    )
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        table.to_csv(folder / "spearman.csv", index=False, float_format="%.10g")
        runs.write_json(
            folder / runs.MANIFEST,
            {
                "kind": "rank correlation",
                "source_run": str(source),
                "source_seed": manifest.get("seed"),
                "source_draws": len(values),
                "scenario": manifest.get("scenario"),
                "outputs": [output.label for output in parsed],
                "versions": runs.package_versions(),
                "command": command,
            },
        )
    return destination, table, manifest
