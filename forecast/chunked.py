"""Sample a run block by block into per-metric files, so memory stays bounded.

A run of any size keeps only one block of :data:`~forecast.simulate.PATHS_PER_BLOCK`
paths in float64 at a time. Each block's monthly metrics are appended to one
float32 file per metric, and each path's break-even months (computed from the
float64 profit, so a cumulative sum near zero is not rounded) to an int16 file.
Means and standard deviations merge block by block in float64, and quantiles
load one metric at a time from its file.

Why float32: exact quantiles need every draw. Float32 keeps about seven
significant digits (relative rounding below 6e-8), far below the Monte Carlo
error of any reported figure, and halves the bytes of float64. A 1,000,000-path
run of 36 months and 18 metrics stores 2.6 GB on disk and loads at most one
metric (144 MB) into memory at once. Prior inputs are kept in float64, and only
when the draws are stored.

Blocks are keyed by their index (see :mod:`forecast.simulate`), so sampling in
chunks of whole blocks gives exactly the paths of a single pass.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.blocks import METRICS
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario
from forecast.simulate import MAX_PATHS, PATHS_PER_BLOCK, Band, Draws, iter_blocks
from forecast.summarize import BREAKEVEN_KINDS, breakeven_months, quantile_mcse

METRIC_DTYPE = np.float32
INPUT_DTYPE = np.float64
MONTH_DTYPE = np.int16

KEEP_DRAWS_MAX_PATHS = 100_000
"""Largest run whose draws are stored by default (about 0.26 GB of float32 metrics)."""

CHUNK_PATHS = 8 * PATHS_PER_BLOCK
"""Paths added per step while a run samples toward a Monte Carlo error target."""

MAX_DRAWS = 1_000_000
"""Default cap on the paths of a run that samples toward a Monte Carlo error target."""

PRECISION_METRICS = ("hosted_users", "mrr", "cash")
PRECISION_QUANTILES = (0.10, 0.50, 0.90)


def default_keep_draws(draws: int) -> bool:
    """Return whether a run of ``draws`` paths stores its draws when ``keep_draws`` is not given."""
    return draws <= KEEP_DRAWS_MAX_PATHS


class RunningMoments:
    """Mean and sum of squared deviations per column, merged block by block in float64.

    Blocks merge with the pairwise update of means and sums of squares,
    always in block order, so chunking does not change a single bit. The
    moments come from the float64 draws, not from the float32 files.
    """

    def __init__(self, columns: int) -> None:
        self.count = 0
        self.mean = np.zeros(columns)
        self.squares = np.zeros(columns)

    def add(self, block: np.ndarray) -> None:
        """Merge the rows of a ``(paths, columns)`` block."""
        count = len(block)
        mean = block.mean(axis=0)
        squares = ((block - mean) ** 2).sum(axis=0)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.squares = self.squares + squares + delta**2 * (self.count * count / total)
        self.count = total

    def mean_sd(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the mean and the sample standard deviation (NaN below two rows)."""
        if self.count < 2:
            return self.mean, np.full_like(self.mean, np.nan)
        return self.mean, np.sqrt(self.squares / (self.count - 1))


class DrawStore:
    """Append-only per-metric files of sampled paths in one folder.

    Metrics are float32 ``(paths, months)`` files, break-even months int16
    ``(paths,)`` files, and prior inputs float64 ``(paths,)`` files when
    ``keep_inputs`` is true.
    """

    def __init__(self, folder: Path, months: int, *, keep_inputs: bool) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.months = months
        self.keep_inputs = keep_inputs
        self.paths = 0
        self._moments = {name: RunningMoments(months) for name in METRICS}

    def _file(self, kind: str, name: str) -> Path:
        return self.folder / f"{kind}.{name}.bin"

    def _append(self, kind: str, name: str, values: np.ndarray) -> None:
        with open(self._file(kind, name), "ab") as handle:
            values.tofile(handle)

    def append(self, inputs: Mapping[str, np.ndarray], metrics: Mapping[str, np.ndarray]) -> None:
        """Append one block of paths: float64 inputs and metrics, as sampled."""
        for name in METRICS:
            self._append("metric", name, np.ascontiguousarray(metrics[name], dtype=METRIC_DTYPE))
            self._moments[name].add(metrics[name])
        for kind, first in breakeven_months(metrics["operating_profit"]).items():
            self._append("breakeven", kind, first.astype(MONTH_DTYPE))
        if self.keep_inputs:
            for name in PARAMETERS:
                self._append("input", name, np.asarray(inputs[name], dtype=INPUT_DTYPE))
        self.paths += len(metrics["operating_profit"])

    def moments(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return one metric's mean and sample standard deviation per month (float64)."""
        return self._moments[name].mean_sd()

    def metric(self, name: str) -> np.ndarray:
        """Load one metric, float32 ``(paths, months)``."""
        values = np.fromfile(self._file("metric", name), dtype=METRIC_DTYPE)
        return values.reshape(self.paths, self.months)

    def breakeven(self, kind: str) -> np.ndarray:
        """Load each path's break-even month index for one definition (months: never)."""
        return np.fromfile(self._file("breakeven", kind), dtype=MONTH_DTYPE).astype(np.intp)

    def input(self, name: str) -> np.ndarray:
        """Load one prior's sampled values, float64 ``(paths,)``."""
        if not self.keep_inputs:
            raise ValueError("prior inputs were not stored (the draws are not kept)")
        return np.fromfile(self._file("input", name), dtype=INPUT_DTYPE)

    def remove(self) -> None:
        """Delete the folder and its files."""
        shutil.rmtree(self.folder, ignore_errors=True)


class LazyArrays(Mapping[str, np.ndarray]):
    """Read-only mapping that loads each array from a :class:`DrawStore` on access."""

    def __init__(self, names: tuple[str, ...], load: Callable[[str], np.ndarray]) -> None:
        self._names = names
        self._load = load

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        return self._load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class StoredDraws:
    """Sampled paths held in a :class:`DrawStore`, with the attributes of :class:`Draws`."""

    months: list[str]
    store: DrawStore
    seed: int
    stresses: dict[str, Band] = field(default_factory=dict)

    @property
    def paths(self) -> int:
        return self.store.paths

    @property
    def metrics(self) -> LazyArrays:
        return LazyArrays(METRICS, self.store.metric)

    @property
    def inputs(self) -> LazyArrays:
        return LazyArrays(tuple(PARAMETERS), self.store.input)

    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Mean and standard deviation per month of each metric, from the float64 draws."""
        return {name: self.store.moments(name) for name in METRICS}

    def breakeven(self) -> dict[str, np.ndarray]:
        """Break-even month index per path, for each definition."""
        return {kind: self.store.breakeven(kind) for kind in BREAKEVEN_KINDS}

    def load(self) -> Draws:
        """Load every stored draw into memory (float32 metrics, float64 inputs)."""
        return Draws(
            months=self.months,
            inputs=dict(self.inputs.items()),
            metrics=dict(self.metrics.items()),
            seed=self.seed,
            stresses=dict(self.stresses),
        )


@dataclass(frozen=True)
class Precision:
    """Largest Monte Carlo standard errors of a run's reported figures.

    ``breakeven`` is in probability units, the largest over months and both
    break-even definitions. ``quantile`` is the largest standard error of a
    year-end P10, P50 or P90 of hosted users, MRR and cash, divided by that
    metric's P10 to P90 spread in the same month, so it has no unit.
    """

    breakeven: float
    quantile: float

    def meets(self, target: float) -> bool:
        """Return whether both errors are at or below ``target``."""
        return bool(self.breakeven <= target and self.quantile <= target)


def breakeven_mcse(first: np.ndarray, months: int) -> float:
    """Largest binomial standard error of P(break-even by month m) over the months."""
    share = np.cumsum(np.bincount(first, minlength=months + 1)[:months]) / len(first)
    return float(np.sqrt(share * (1 - share) / len(first)).max())


def relative_quantile_mcse(values: np.ndarray) -> float:
    """Largest MCSE of P10, P50 and P90 of ``values``, over their P10 to P90 spread.

    A spread of zero (every path equal) gives zero: such a quantile has no
    Monte Carlo error.
    """
    values = np.asarray(values, dtype=np.float64)
    low, high = np.quantile(values, (0.10, 0.90))
    spread = high - low
    if spread <= 0:
        return 0.0
    return float(max(quantile_mcse(values, q) for q in PRECISION_QUANTILES) / spread)


def measure_precision(stored: StoredDraws, year_end_columns: list[int]) -> Precision:
    """Compute the :class:`Precision` of the paths sampled so far."""
    months = len(stored.months)
    breakeven = max(breakeven_mcse(first, months) for first in stored.breakeven().values())
    quantile = 0.0
    for name in PRECISION_METRICS:
        values = stored.store.metric(name)
        for column in year_end_columns:
            quantile = max(quantile, relative_quantile_mcse(values[:, column]))
    return Precision(breakeven=breakeven, quantile=quantile)


def check_target(target_mcse: float | None, max_draws: int) -> None:
    """Reject a Monte Carlo error target outside (0, 0.5) or a non-positive path cap."""
    if target_mcse is not None and not 0 < target_mcse < 0.5:
        raise InputError(
            "Monte Carlo error target must be between 0 and 0.5 (a probability)",
            key="--target-mcse",
            value=target_mcse,
            fix="Pass for example --target-mcse 0.005",
        )
    if isinstance(max_draws, bool) or not isinstance(max_draws, int) or max_draws < 1:
        raise InputError(
            "maximum number of draws must be a positive whole number",
            key="--max-draws",
            value=max_draws,
            fix="Pass for example --max-draws 1000000",
        )
    if max_draws > MAX_PATHS:
        raise InputError(
            f"maximum number of draws is above the limit of {MAX_PATHS:,}",
            key="--max-draws",
            value=max_draws,
            fix=f"Pass --max-draws {MAX_PATHS} or fewer",
        )


def check_disk_space(folder: Path, paths: int, months: int, keep_draws: bool) -> None:
    """Reject a run whose temporary per-metric files would not fit on the disk.

    Each path stores every metric as float32 for each month, plus break-even
    months; a kept ``draws.nc`` needs about as much again (an upper bound, since
    it is compressed).
    """
    needed = paths * months * len(METRICS) * 4 * (2 if keep_draws else 1) * 1.1
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise InputError(
            f"not enough disk space: about {needed / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free",
            key="--draws",
            value=paths,
            fix="Pass fewer paths, --no-keep-draws, or an --out folder on a larger disk",
        )


def round_up_to_blocks(paths: int) -> int:
    """Round a path count up to whole blocks, so later chunks continue the same streams."""
    return math.ceil(paths / PATHS_PER_BLOCK) * PATHS_PER_BLOCK


def sample_into(
    store: DrawStore,
    scenario: Scenario,
    paths: int,
    seed: int,
    *,
    stresses: Mapping[str, Band] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Sample the next ``paths`` paths into ``store``, continuing after its last block.

    The store must hold whole blocks (every earlier call sampled a multiple of
    :data:`PATHS_PER_BLOCK`), so the paths are those of one longer run.
    """
    if store.paths % PATHS_PER_BLOCK:
        raise ValueError(f"invalid store: {store.paths} paths are not whole blocks")
    first_block = store.paths // PATHS_PER_BLOCK
    for inputs, metrics in iter_blocks(
        scenario, paths, seed, stresses=stresses, first_block=first_block
    ):
        store.append(inputs, metrics)
        if progress is not None:
            progress(store.paths)


@dataclass(frozen=True)
class StoppingRecord:
    """Outcome of a run that sampled toward a Monte Carlo error target."""

    target: float
    paths: int
    precision: Precision
    reached: bool
    checks: list[dict[str, float]]


def sample_until_precise(
    sample: Callable[[int], None],
    measure: Callable[[], Precision],
    *,
    target: float,
    first: int,
    chunk: int,
    maximum: int,
) -> StoppingRecord:
    """Sample ``first`` paths, then add ``chunk`` paths until the errors meet ``target``.

    Parameters
    ----------
    sample
        Called with a number of paths to add.
    measure
        Returns the :class:`Precision` of every path added so far.
    target
        Largest accepted standard error (see :class:`Precision` for the units).
    first, chunk
        Paths of the first step and of each later step.
    maximum
        Total paths after which sampling stops even if the target is not met.

    Returns
    -------
    StoppingRecord
        Paths used, the errors at the stop, whether the target was met, and
        the errors measured after each step.

    Notes
    -----
    Checking after each chunk and stopping at the first success biases the
    reported errors slightly low. Chunks of several thousand paths keep the
    number of checks, and so the bias, small.
    """
    total = min(first, maximum)
    sample(total)
    checks = []
    while True:
        precision = measure()
        checks.append(
            {"paths": total, "breakeven": precision.breakeven, "quantile": precision.quantile}
        )
        if precision.meets(target) or total >= maximum:
            break
        step = min(chunk, maximum - total)
        sample(step)
        total += step
    return StoppingRecord(
        target=target,
        paths=total,
        precision=precision,
        reached=precision.meets(target),
        checks=checks,
    )
