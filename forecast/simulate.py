"""Draw prior values and run the compiled model over blocks of paths.

Randomness is keyed, never shared: the uniform draws of prior ``name`` for block
``k`` come from ``SeedSequence(seed, spawn_key=(k, key(name)))``. So a path's
values do not depend on how many paths are run at once, on chunking or on the
order of priors in a file. Nor do they depend on which other priors a scenario
overrides, so two scenarios run with one seed see common random numbers.

Prior values are the priors' inverse CDFs (scipy) at those uniforms, which is
what lets stress tests restrict a prior to a band of its own distribution and
variance-based sensitivity feed its own sample matrix through the same model.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from forecast.blocks import METRICS
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario

PATHS_PER_BLOCK = 4096
"""Paths in one block: the unit of random streams and of one compiled call."""


@dataclass(frozen=True)
class Band:
    """A stress on one prior: a quantile band of its own distribution, or a value."""

    low: float = 0.0
    high: float = 1.0
    value: float | None = None


@dataclass
class Draws:
    """Sampled paths: prior values ``(paths,)`` and monthly metrics ``(paths, months)``."""

    months: list[str]
    inputs: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    seed: int
    stresses: dict[str, Band] = field(default_factory=dict)

    @property
    def paths(self) -> int:
        return len(next(iter(self.inputs.values())))


def stream_key(name: str) -> int:
    """Return a stable 32-bit key for a prior name (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def block_uniforms(seed: int, block: int, names: list[str], size: int) -> np.ndarray:
    """Return uniforms strictly inside (0, 1), one column per prior, for one block."""
    columns = np.empty((size, len(names)))
    for column, name in enumerate(names):
        sequence = np.random.SeedSequence(seed, spawn_key=(block, stream_key(name)))
        rng = np.random.default_rng(sequence)
        # 53 random bits plus a half step: never exactly 0 or 1.
        columns[:, column] = (rng.integers(0, 2**53, size) + 0.5) / 2**53
    return columns


def prior_values(
    scenario: Scenario, uniforms: np.ndarray, stresses: Mapping[str, Band] | None = None
) -> dict[str, np.ndarray]:
    """Map a ``(paths, priors)`` uniform matrix to prior values, applying stresses."""
    stresses = stresses or {}
    values = {}
    for column, name in enumerate(PARAMETERS):
        prior = scenario.priors[name]
        band = stresses.get(name)
        u = uniforms[:, column]
        if band is not None and band.value is not None:
            values[name] = np.full(len(u), band.value)
            continue
        if band is not None:
            u = band.low + u * (band.high - band.low)
        values[name] = prior.ppf(u)
    return values


_FORWARD_CACHE: dict[tuple, Callable] = {}


def forward_function(scenario: Scenario, paths: int = PATHS_PER_BLOCK) -> Callable:
    """Return the compiled model for this scenario's structure, compiling at most once.

    The cache key is the settings, which priors are fixed and each prior's family,
    so scenarios that share those share one compile.
    """
    from forecast.model import compile_forward

    fixed = tuple(name for name in PARAMETERS if scenario.priors[name].is_fixed)
    families = tuple(scenario.priors[name].dist for name in PARAMETERS)
    key = (scenario.settings, fixed, families, paths)
    if key not in _FORWARD_CACHE:
        _FORWARD_CACHE[key] = compile_forward(scenario, paths)
    return _FORWARD_CACHE[key]


MAX_PATHS = 10_000_000
"""Most paths one run may sample: about 26 GB of temporary per-metric files."""


def check_draws(draws: int) -> None:
    """Reject a path count that is not a positive whole number, or above :data:`MAX_PATHS`."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise InputError(
            "number of draws must be a positive whole number",
            key="--draws",
            value=draws,
            fix="Pass for example --draws 10000",
        )
    if draws > MAX_PATHS:
        raise InputError(
            f"number of draws is above the limit of {MAX_PATHS:,}",
            key="--draws",
            value=draws,
            fix="Pass fewer paths, or --target-mcse to sample only as many as needed",
        )


def check_seed(seed: int) -> None:
    """Reject a seed that numpy's SeedSequence cannot take (negative or not whole)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(
            "seed must be a whole number of 0 or more",
            key="--seed",
            value=seed,
            fix="Pass for example --seed 42",
        )


def iter_blocks(
    scenario: Scenario,
    draws: int,
    seed: int,
    *,
    stresses: Mapping[str, Band] | None = None,
    first_block: int = 0,
    prefetch: bool = True,
) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Yield ``(inputs, metrics)`` per block of up to :data:`PATHS_PER_BLOCK` paths.

    With ``prefetch``, the next block's prior values (uniforms and inverse CDFs)
    are computed in a background thread while the compiled model runs the
    current block: scipy's inverse CDFs release the interpreter lock. Without
    it (when other processes already use every core) they are computed in turn.
    The values are the same either way, since each block's streams are keyed by
    its index.
    """
    check_draws(draws)
    forward = forward_function(scenario)
    names = list(PARAMETERS)
    last = first_block + math.ceil(draws / PATHS_PER_BLOCK) - 1

    def block_inputs(block: int) -> dict[str, np.ndarray]:
        uniforms = block_uniforms(seed, block, names, PATHS_PER_BLOCK)
        uniforms = correlate_uniforms(scenario, uniforms)
        return prior_values(scenario, uniforms, stresses)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-priors") as pool:
        upcoming = pool.submit(block_inputs, first_block) if prefetch else None
        for block in range(first_block, last + 1):
            if upcoming is None:
                inputs = block_inputs(block)
            else:
                inputs = upcoming.result()
                if block < last:
                    upcoming = pool.submit(block_inputs, block + 1)
            metrics = forward(inputs)
            keep = min(PATHS_PER_BLOCK, draws - (block - first_block) * PATHS_PER_BLOCK)
            yield (
                {name: value[:keep] for name, value in inputs.items()},
                {name: value[:keep] for name, value in metrics.items()},
            )


def correlate_uniforms(scenario: Scenario, uniforms: np.ndarray) -> np.ndarray:
    """Apply the scenario's declared rank correlations to the uniforms (none: unchanged)."""
    if not scenario.correlations:
        return uniforms
    from forecast.copula import gaussian_copula

    return gaussian_copula(uniforms, list(PARAMETERS), scenario.correlations)


def simulate(
    scenario: Scenario,
    draws: int,
    seed: int,
    *,
    stresses: Mapping[str, Band] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Draws:
    """Sample ``draws`` paths of the scenario and return them in memory.

    Every draw is held in float64 at once: for large runs use
    :func:`forecast.pipeline.run_scenario`, which streams blocks to files.

    Parameters
    ----------
    scenario
        Resolved priors and settings.
    draws
        Number of paths, at least 1.
    seed
        Seed of every random stream; the same seed gives the same paths.
    stresses
        Optional bands or fixed values for some priors (see :class:`Band`).
    progress
        Called with the number of paths finished after each block.
    """
    check_draws(draws)
    months = len(scenario.settings.months)
    # Filled in place: collecting blocks and concatenating them copied every draw
    # once more, which made 100,000 paths take 1.3 s longer than their blocks.
    inputs = {name: np.empty(draws) for name in PARAMETERS}
    metrics = {name: np.empty((draws, months)) for name in METRICS}
    done = 0
    for block_inputs, block_metrics in iter_blocks(scenario, draws, seed, stresses=stresses):
        size = len(block_inputs["capture_rate"])
        for name, value in block_inputs.items():
            inputs[name][done : done + size] = value
        for name, value in block_metrics.items():
            metrics[name][done : done + size] = value
        done += size
        if progress is not None:
            progress(done)
    return Draws(
        months=scenario.settings.months,
        inputs=inputs,
        metrics=metrics,
        seed=seed,
        stresses=dict(stresses or {}),
    )
