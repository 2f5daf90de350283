"""Scalar outputs of a path for sensitivity reviews, and the model evaluated on uniforms.

An output reduces one path's monthly metrics to one number:

- ``breakeven_by=YYYY-MM`` (and ``payback_by=YYYY-MM``): 1 if the path's
  break-even month (definitions in :mod:`forecast.summarize`) is at or before
  that month, else 0. Across paths it is the probability of break-even by then.
- ``METRIC=YYYY-MM``: a metric of :data:`forecast.blocks.METRICS` in that month.
  Across paths it is summarised by its median (P50).
- ``minimum_cash`` (or ``minimum_cash=YYYY-MM``): the lowest cash balance up to
  the horizon end (or up to that month), summarised by its median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecast.blocks import METRICS
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario
from forecast.simulate import (
    PATHS_PER_BLOCK,
    block_uniforms,
    correlate_uniforms,
    forward_function,
    prior_values,
)

BREAKEVEN_OUTPUTS = {"breakeven_by": "sustained", "payback_by": "payback"}
MINIMUM_CASH = "minimum_cash"
DEFAULT_OUTPUTS = ("breakeven_by=2028-12", "mrr=2028-12", "minimum_cash")


@dataclass(frozen=True)
class Output:
    """One scalar output per path: a break-even indicator, a metric in a month, or minimum cash."""

    kind: str  # a key of BREAKEVEN_OUTPUTS, "metric" or MINIMUM_CASH
    month: str
    metric: str = ""

    @property
    def label(self) -> str:
        """Return the output as written on the command line, e.g. ``mrr=2028-12``."""
        if self.kind == "metric":
            return f"{self.metric}={self.month}"
        return f"{self.kind}={self.month}"

    @property
    def is_probability(self) -> bool:
        """Return whether the per-path value is a 0/1 indicator summarised as a probability."""
        return self.kind in BREAKEVEN_OUTPUTS

    @property
    def statistic(self) -> str:
        """Return the statistic that summarises the output across paths."""
        return "probability" if self.is_probability else "p50"

    def at_month(self, month: str) -> Output:
        """Return the same output read at another month."""
        return Output(self.kind, month, self.metric)

    def per_path(self, metrics: dict[str, np.ndarray], months: list[str]) -> np.ndarray:
        """Reduce ``(paths, months)`` metrics to one value per path."""
        from forecast.summarize import breakeven_months

        column = months.index(self.month)
        if self.kind in BREAKEVEN_OUTPUTS:
            first = breakeven_months(metrics["operating_profit"])[BREAKEVEN_OUTPUTS[self.kind]]
            return (first <= column).astype(float)
        if self.kind == MINIMUM_CASH:
            return metrics["cash"][:, : column + 1].min(axis=1)
        return np.asarray(metrics[self.metric][:, column], dtype=float)


def summarize_output(output: Output, values: np.ndarray) -> tuple[float, float]:
    """Return the output's summary across paths and its Monte Carlo standard error.

    A probability is the share of paths with the indicator set, with the binomial
    standard error. Any other output is the median, with ArviZ's quantile MCSE.
    """
    from forecast.summarize import quantile_mcse

    if output.is_probability:
        share = float(values.mean())
        return share, math.sqrt(share * (1 - share) / len(values))
    return float(np.median(values)), quantile_mcse(values, 0.5)


def parse_output(text: str, months: list[str], option: str = "--output") -> Output:
    """Parse ``breakeven_by=YYYY-MM``, ``METRIC=YYYY-MM`` or ``minimum_cash[=YYYY-MM]``.

    Raises
    ------
    InputError
        On an unknown output name or a month outside the horizon.
    """
    name, _, month = text.strip().partition("=")
    name, month = name.strip(), month.strip()
    valid = [*BREAKEVEN_OUTPUTS, MINIMUM_CASH, *METRICS]
    if name not in valid:
        from forecast.errors import did_you_mean

        raise InputError("unknown output", key=option, value=text, fix=did_you_mean(name, valid))
    if name == MINIMUM_CASH and not month:
        month = months[-1]
    if month not in months:
        raise InputError(
            "output month is missing or outside the horizon",
            key=option,
            value=text,
            fix=f"Write NAME=YYYY-MM with a month from {months[0]} to {months[-1]}",
        )
    if name in BREAKEVEN_OUTPUTS or name == MINIMUM_CASH:
        return Output(name, month)
    return Output("metric", month, name)


def base_uniforms(scenario: Scenario, draws: int, seed: int) -> np.ndarray:
    """Return the ``(draws, priors)`` uniforms that :func:`forecast.simulate.simulate` uses.

    The blocks and their keyed streams are the plain run's, with the scenario's
    rank correlations applied, so path ``i`` here is path ``i`` of a plain run
    with the same seed.
    """
    names = list(PARAMETERS)
    blocks = []
    for block in range(math.ceil(draws / PATHS_PER_BLOCK)):
        uniforms = block_uniforms(seed, block, names, PATHS_PER_BLOCK)
        blocks.append(correlate_uniforms(scenario, uniforms))
    return np.concatenate(blocks)[:draws]


def evaluate_outputs(scenario: Scenario, uniforms: np.ndarray, outputs: list[Output]) -> np.ndarray:
    """Run the compiled model on a uniform matrix and return ``(rows, outputs)`` values.

    Columns of ``uniforms`` follow :data:`PARAMETERS`. Rows go through the model
    in blocks of :data:`PATHS_PER_BLOCK`, and only each block's outputs are kept.
    The last block is padded with medians, whose outputs are dropped.
    """
    forward = forward_function(scenario)
    months = scenario.settings.months
    rows = len(uniforms)
    result = np.empty((rows, len(outputs)))
    for start in range(0, rows, PATHS_PER_BLOCK):
        block = uniforms[start : start + PATHS_PER_BLOCK]
        keep = len(block)
        if keep < PATHS_PER_BLOCK:
            padding = np.full((PATHS_PER_BLOCK - keep, block.shape[1]), 0.5)
            block = np.vstack([block, padding])
        metrics = forward(prior_values(scenario, block))
        for column, output in enumerate(outputs):
            result[start : start + keep, column] = output.per_path(metrics, months)[:keep]
    return result


def free_priors(scenario: Scenario) -> list[str]:
    """Return the priors that vary (not fixed), in :data:`PARAMETERS` order."""
    return [name for name in PARAMETERS if not scenario.priors[name].is_fixed]
