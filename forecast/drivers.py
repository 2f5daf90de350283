"""Regions of the prior space where a target is likely ("what must be true").

Scenario discovery with a shallow decision tree (scikit-learn's CART) over the
plain run's paths: the priors that vary are the features and the per-path target
indicator is the class. Each leaf is a box of readable conditions. The tree is
fitted on the first half of the paths and every figure is measured on the second
half, so a box's figures are not inflated by fitting to the same paths.

For a box, over the held-out paths:

- density: share of the paths in the box that meet the target;
- coverage: share of the paths meeting the target that fall in the box;
- mass: share of all paths in the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.errors import InputError
from forecast.outputs import BREAKEVEN_OUTPUTS, Output, parse_output
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario


@dataclass(frozen=True)
class Condition:
    """One prior's range in a box: ``low < value <= high`` (either end may be open)."""

    prior: str
    low: float = -math.inf
    high: float = math.inf


@dataclass(frozen=True)
class Rule:
    """A box of conditions with its held-out density, coverage and mass."""

    conditions: tuple[Condition, ...]
    density: float
    mcse_density: float
    coverage: float
    mass: float
    paths: int


def parse_target(text: str, months: list[str]) -> Output:
    """Parse a target such as ``breakeven_by=2027-12`` or ``payback_by=2028-06``.

    Raises
    ------
    InputError
        If the target is not a break-even indicator with a month in the horizon.
    """
    output = parse_output(text, months, "--target")
    if output.kind not in BREAKEVEN_OUTPUTS:
        raise InputError(
            "target must be a break-even event",
            key="--target",
            value=text,
            fix="Write breakeven_by=YYYY-MM or payback_by=YYYY-MM",
        )
    return output


def check_tree_options(depth: int, min_leaf_share: float) -> None:
    """Reject a tree depth below 1 or a smallest-rule share outside (0, 0.5]."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InputError(
            "tree depth must be a whole number of at least 1",
            key="--depth",
            value=depth,
            fix="Pass for example --depth 3",
        )
    if not 0 < min_leaf_share <= 0.5:
        raise InputError(
            "smallest rule share must be above 0 and at most 0.5",
            key="--min-share",
            value=min_leaf_share,
            fix="Pass for example --min-share 0.05",
        )


def tree_rules(
    features: pd.DataFrame,
    target: np.ndarray,
    *,
    depth: int = 3,
    min_leaf_share: float = 0.05,
    seed: int = 0,
) -> list[Rule]:
    """Fit a shallow tree on the first half of the rows and score its leaves on the rest.

    Parameters
    ----------
    features
        One column per prior, one row per path.
    target
        0/1 per path.
    depth
        Maximum number of conditions in a box.
    min_leaf_share
        Smallest box, as a share of the fitting paths.
    seed
        Seed of the tree's tie-breaking between equally good splits.

    Returns
    -------
    list of Rule
        Every leaf, densest first.
    """
    from sklearn.tree import DecisionTreeClassifier

    half = len(target) // 2
    fit_x, test_x = features.iloc[:half], features.iloc[half:]
    fit_y, test_y = target[:half], target[half:]
    tree = DecisionTreeClassifier(
        max_depth=depth,
        min_samples_leaf=max(1, int(min_leaf_share * half)),
        random_state=seed,
    )
    tree.fit(fit_x.to_numpy(), fit_y)
    structure = tree.tree_
    leaves = tree.apply(test_x.to_numpy())
    hits = test_y.sum()
    rules = []
    for leaf, bounds in _leaf_bounds(structure, list(features.columns)).items():
        inside = leaves == leaf
        count = int(inside.sum())
        if count == 0:
            continue
        density = float(test_y[inside].mean())
        rules.append(
            Rule(
                conditions=tuple(
                    Condition(name, low, high) for name, (low, high) in sorted(bounds.items())
                ),
                density=density,
                mcse_density=math.sqrt(density * (1 - density) / count),
                coverage=float(test_y[inside].sum() / hits) if hits else 0.0,
                mass=count / len(test_y),
                paths=count,
            )
        )
    return sorted(rules, key=lambda rule: (-rule.density, -rule.coverage))


def _leaf_bounds(structure, names: list[str]) -> dict[int, dict[str, tuple[float, float]]]:
    """Walk the fitted tree and return each leaf's range per prior (tightest bounds)."""
    found: dict[int, dict[str, tuple[float, float]]] = {}
    stack = [(0, {})]
    while stack:
        node, bounds = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:  # a leaf: scikit-learn marks both children -1
            found[node] = bounds
            continue
        name = names[structure.feature[node]]
        threshold = float(structure.threshold[node])
        low, high = bounds.get(name, (-math.inf, math.inf))
        stack.append((left, bounds | {name: (low, min(high, threshold))}))
        stack.append((right, bounds | {name: (max(low, threshold), high)}))
    return found


def describe_condition(condition: Condition, scenario: Scenario) -> str:
    """Write a condition in words with the unit and the prior percentile of each bound."""
    prior = scenario.priors[condition.prior]
    unit = PARAMETERS[condition.prior].unit

    def bound(value: float) -> str:
        return f"{_number(value, unit)} (P{prior.cdf(value) * 100:.0f})"

    if math.isinf(condition.low):
        return f"{condition.prior} at most {bound(condition.high)}"
    if math.isinf(condition.high):
        return f"{condition.prior} above {bound(condition.low)}"
    return f"{condition.prior} between {bound(condition.low)} and {bound(condition.high)}"


def _number(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value * 100:.3g}%"
    if unit.startswith("$"):
        return f"${value:,.4g}{unit[1:]}"
    return f"{value:.4g} {unit}"


def describe_rule(rule: Rule, target: Output, scenario: Scenario) -> str:
    """Write a rule as one sentence, e.g. ``a and b: 78% of paths break even by ...``."""
    conditions = " and ".join(describe_condition(c, scenario) for c in rule.conditions)
    event = "break even" if target.kind == "breakeven_by" else "earn back their cash"
    return (
        f"{conditions or 'any path'}: {rule.density:.0%} (+/- {rule.mcse_density:.0%}) of paths "
        f"{event} by {target.month}, covering {rule.mass:.0%} of all paths "
        f"and {rule.coverage:.0%} of those that {event}"
    )


@dataclass
class DriversResult:
    """Rules for one target, with the target's overall probability."""

    target: Output
    probability: float
    mcse: float
    paths: int
    rules: list[Rule]
    table: pd.DataFrame
    seed: int = 0
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


def find_drivers(
    scenario: Scenario,
    target: Output,
    *,
    draws: int,
    seed: int,
    depth: int = 3,
    min_leaf_share: float = 0.05,
) -> DriversResult:
    """Find the boxes of prior values in which ``target`` is likely.

    Parameters
    ----------
    scenario
        Resolved priors and settings.
    target
        A break-even indicator (see :func:`parse_target`).
    draws, seed
        Paths of the plain run to learn from, and its seed.
    depth, min_leaf_share
        Tree depth (conditions per box) and smallest box as a share of paths.
    """
    from forecast.outputs import base_uniforms, evaluate_outputs, free_priors
    from forecast.simulate import check_draws, prior_values

    check_draws(draws)
    if draws < 200:
        raise InputError(
            "too few paths to find rules",
            key="--draws",
            value=draws,
            fix="Pass at least --draws 200; 4096 or more gives steadier rules",
        )
    uniforms = base_uniforms(scenario, draws, seed)
    values = prior_values(scenario, uniforms)
    names = free_priors(scenario)
    features = pd.DataFrame({name: values[name] for name in names})
    indicator = evaluate_outputs(scenario, uniforms, [target])[:, 0]
    rules = tree_rules(features, indicator, depth=depth, min_leaf_share=min_leaf_share)
    probability = float(indicator.mean())
    table = pd.DataFrame(
        [
            {
                "rule": describe_rule(rule, target, scenario),
                "density": rule.density,
                "mcse_density": rule.mcse_density,
                "coverage": rule.coverage,
                "mass": rule.mass,
                "held_out_paths": rule.paths,
            }
            for rule in rules
        ]
    )
    return DriversResult(
        target=target,
        probability=probability,
        mcse=math.sqrt(probability * (1 - probability) / draws),
        paths=draws,
        rules=rules,
        table=table,
        seed=seed,
        inputs=values,
    )


def write_drivers(
    result: DriversResult,
    scenario: Scenario,
    out: Path,
    *,
    overwrite: bool = False,
    command: list[str] | None = None,
    depth: int = 3,
    min_leaf_share: float = 0.05,
) -> Path:
    """Write ``rules.csv`` and a manifest to the run-style folder ``out``, atomically."""
    from forecast import runs
    from forecast.simulate import Draws

    plain = Draws(
        months=scenario.settings.months, inputs=result.inputs, metrics={}, seed=result.seed
    )
    with runs.staged_folder(Path(out), overwrite=overwrite) as folder:
        result.table.to_csv(folder / "rules.csv", index=False, float_format="%.10g")
        runs.write_json(
            folder / runs.MANIFEST,
            runs.build_manifest(
                scenario,
                plain,
                command=command,
                kind="drivers",
                target=result.target.label,
                target_probability=result.probability,
                target_mcse=result.mcse,
                method="scikit-learn DecisionTreeClassifier, fitted on the first half "
                "of the paths, measured on the second half",
                tree_depth=depth,
                min_leaf_share=min_leaf_share,
            ),
        )
    return Path(out)
