"""Stress tests: rerun a scenario with some priors held in a band, against the plain run.

Both runs use the same seed, so every path draws the same uniforms and the shift
in a headline figure comes from the stress, not from resampling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.errors import InputError, did_you_mean
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario
from forecast.simulate import Band

PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


def _percentile(text: str, setting: str) -> float:
    match = PERCENTILE.match(text.strip().lower())
    if match is None or not 0 <= float(match.group(1)) <= 100:
        raise InputError(
            "invalid percentile",
            key="--set",
            value=setting,
            fix="Write a percentile from p0 to p100, for example spot_price=p90",
        )
    return float(match.group(1)) / 100


def parse_stress(setting: str, scenario: Scenario) -> tuple[str, Band]:
    """Parse ``NAME=pXX`` (held at a percentile), ``NAME=pLO:pHI`` (band) or ``NAME=VALUE``.

    Raises
    ------
    InputError
        On an unknown or fixed prior, a malformed percentile or band, or a value
        outside the prior's support.
    """
    name, equals, spec = setting.partition("=")
    name, spec = name.strip(), spec.strip()
    if not equals or not spec:
        raise InputError(
            "stress must be NAME=pXX, NAME=pLO:pHI or NAME=VALUE",
            key="--set",
            value=setting,
            fix="Write for example --set spot_price=p90 or --set spot_price=p80:p100",
        )
    if name not in PARAMETERS:
        raise InputError(
            "unknown prior", key="--set", value=setting, fix=did_you_mean(name, PARAMETERS)
        )
    prior = scenario.priors[name]
    if spec.lower().startswith("p"):
        if prior.is_fixed:
            raise InputError(
                "prior is fixed, so it has no percentiles",
                key="--set",
                value=setting,
                fix=f"Give a value instead, for example {name}={prior.params[0]:g}",
            )
        low_text, colon, high_text = spec.partition(":")
        low = _percentile(low_text, setting)
        high = _percentile(high_text, setting) if colon else low
        if colon and not low < high:
            raise InputError(
                "band must have its lower percentile below its upper one",
                key="--set",
                value=setting,
                fix=f"Write for example {name}=p80:p100",
            )
        if not colon and low in (0.0, 1.0):
            raise InputError(
                "a single percentile must be inside p0-p100 (the ends can be infinite)",
                key="--set",
                value=setting,
                fix=f"Use a band such as {name}=p95:p100",
            )
        return name, Band(low=low, high=high)
    try:
        value = float(spec)
    except ValueError:
        raise InputError(
            "stress value is not a number or a percentile",
            key="--set",
            value=setting,
            fix=f"Write for example {name}=p90 or {name}=<number in {prior.unit}>",
        ) from None
    support = PARAMETERS[name].support
    outside = (
        not math.isfinite(value)
        or (support == "positive" and value <= 0)
        or (support == "nonnegative" and value < 0)
        or (support == "probability" and not 0 <= value <= 1)
    )
    if outside:
        raise InputError(
            f"value is outside the prior's support ({support})",
            key="--set",
            value=setting,
            fix=f"Give a value in its support, for example its median {prior.quantile(0.5):.4g}",
        )
    return name, Band(value=value)


BOOTSTRAP_RESAMPLES = 200


def paired_shift_errors(
    plain: np.ndarray, held: np.ndarray, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[float, float]:
    """Bootstrap MCSE of the shift in P10, P50 and P90 between two runs on the same paths.

    Paths are resampled in pairs, because path ``i`` of both runs shares its
    random numbers, which is what makes the shift's error smaller than either
    run's own.
    """
    rng = np.random.default_rng(seed)
    quantiles = (0.10, 0.50, 0.90)
    shifts = np.empty((resamples, len(quantiles)))
    for resample in range(resamples):
        index = rng.integers(0, len(plain), len(plain))
        shifts[resample] = np.quantile(held[index], quantiles) - np.quantile(
            plain[index], quantiles
        )
    return dict(zip(quantiles, shifts.std(axis=0, ddof=1), strict=True))


def shift_table(unstressed, stressed) -> pd.DataFrame:
    """Headline P10/P50/P90 and break-even odds at each year end, plain vs stressed.

    Each row carries both runs' Monte Carlo standard errors and ``mcse_shift``,
    the error of the shift itself. The runs share their random numbers, so the
    shift's error comes from the per-path differences: the binomial error of the
    paired indicator difference for probabilities, a paired bootstrap of
    :data:`BOOTSTRAP_RESAMPLES` resamples for quantiles.
    """
    from forecast.sensitivity import derived_seed
    from forecast.summarize import breakeven_months

    months = unstressed.draws.months
    seed = derived_seed(unstressed.draws.seed, "stress bootstrap")
    rows = []
    plain = unstressed.headline.set_index(["metric", "month"])
    held = stressed.headline.set_index(["metric", "month"])
    for (metric, month), row in plain.iterrows():
        column = months.index(month)
        errors = paired_shift_errors(
            unstressed.draws.metrics[metric][:, column],
            stressed.draws.metrics[metric][:, column],
            seed,
        )
        for label, quantile in (("p10", 0.10), ("p50", 0.50), ("p90", 0.90)):
            rows.append(
                {
                    "metric": metric,
                    "month": month,
                    "statistic": label,
                    "unstressed": row[label],
                    "stressed": held.loc[(metric, month), label],
                    "mcse_unstressed": row[f"mcse_{label}"],
                    "mcse_stressed": held.loc[(metric, month), f"mcse_{label}"],
                    "mcse_shift": errors[quantile],
                }
            )
    plain_first = breakeven_months(unstressed.draws.metrics["operating_profit"])
    held_first = breakeven_months(stressed.draws.metrics["operating_profit"])
    plain_odds = unstressed.breakeven.set_index("month")
    held_odds = stressed.breakeven.set_index("month")
    for month in dict.fromkeys(unstressed.headline["month"]):
        column = months.index(month)
        for kind in ("sustained", "payback"):
            difference = (held_first[kind] <= column).astype(float) - (
                plain_first[kind] <= column
            ).astype(float)
            rows.append(
                {
                    "metric": f"p_breakeven_{kind}",
                    "month": month,
                    "statistic": "probability",
                    "unstressed": plain_odds.loc[month, f"p_{kind}"],
                    "stressed": held_odds.loc[month, f"p_{kind}"],
                    "mcse_unstressed": plain_odds.loc[month, f"mcse_{kind}"],
                    "mcse_stressed": held_odds.loc[month, f"mcse_{kind}"],
                    "mcse_shift": difference.std(ddof=1) / math.sqrt(len(difference)),
                }
            )
    table = pd.DataFrame(rows)
    table["shift"] = table["stressed"] - table["unstressed"]
    columns = ["metric", "month", "statistic", "unstressed", "stressed", "shift"]
    return table[[*columns, "mcse_shift", "mcse_unstressed", "mcse_stressed"]]


@dataclass
class StressResult:
    """A stress test: the folder, both runs and the shift of their headline figures."""

    path: Path
    stresses: dict[str, Band]
    unstressed: object  # forecast.pipeline.RunResult
    stressed: object
    shift: pd.DataFrame


def run_stress(
    scenario_name: str,
    *,
    settings: Sequence[str],
    draws: int,
    seed: int,
    priors_dir: Path | None = None,
    out: Path | None = None,
    runs_dir: Path = Path("runs"),
    overwrite: bool = False,
    with_charts: bool = True,
    command: list[str] | None = None,
) -> StressResult:
    """Run the scenario plain and stressed with one seed and write both with the shift.

    The folder contains ``unstressed/`` and ``stressed/`` (complete run folders),
    ``shift.csv`` (see :func:`shift_table`) and ``manifest.json``.

    Parameters
    ----------
    scenario_name
        A scenario in ``priors_dir/scenarios``.
    settings
        Stresses as written on the command line (see :func:`parse_stress`).
    draws, seed
        Paths and seed shared by both runs.
    priors_dir, out, runs_dir, overwrite, with_charts, command
        As for :func:`forecast.pipeline.run_scenario`; the default folder is
        ``runs_dir/<UTC timestamp>-<scenario>-stress``.
    """
    from forecast import runs
    from forecast.pipeline import run_scenario
    from forecast.priors import load_scenario

    scenario = load_scenario(scenario_name, priors_dir)
    if not settings:
        raise InputError(
            "no stress given",
            key="--set",
            fix="Pass at least one --set NAME=pXX, NAME=pLO:pHI or NAME=VALUE",
        )
    stresses = dict(parse_stress(setting, scenario) for setting in settings)
    destination = (
        Path(out)
        if out is not None
        else runs_dir / runs.new_run_name(f"{scenario.name}-stress", runs_dir)
    )
    with runs.staged_folder(destination, overwrite=overwrite) as folder:
        common = {
            "draws": draws,
            "seed": seed,
            "priors_dir": priors_dir,
            "with_charts": with_charts,
            # The shift's paired errors need every path of both runs.
            "keep_draws": True,
            "command": command,
        }
        unstressed = run_scenario(scenario_name, out=folder / "unstressed", **common)
        stressed = run_scenario(scenario_name, out=folder / "stressed", stresses=stresses, **common)
        shift = shift_table(unstressed, stressed)
        shift.to_csv(folder / "shift.csv", index=False, float_format="%.10g")
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(scenario, stressed.draws, command=command, kind="stress"),
        )
    # The runs were written inside the staging folder; point them at their final place.
    unstressed.path = destination / "unstressed"
    stressed.path = destination / "stressed"
    return StressResult(destination, stresses, unstressed, stressed, shift)
