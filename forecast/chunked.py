"""Sample a run block by block into row files, so memory stays bounded.

A run of any size keeps only a few blocks of :data:`~forecast.simulate.PATHS_PER_BLOCK`
paths in float64 at a time. Each block's monthly metrics are appended to one
file as float32 rows: one row per month of a metric, paths contiguous, so one
metric of every path is a few long reads. Each path's annual and fiscal-period
totals and margins, computed from the float64 metrics, follow as one row per
period. Levels at a period's end are not stored twice: they are the
monthly values of that month. Each path's break-even months (computed from the
float64 profit, so a cumulative sum near zero is not rounded) go to an int16
file. Means and standard deviations merge block by block in float64.
Quantiles load one metric or figure at a time and sort each row.

Why float32: exact quantiles need every draw. Float32 keeps about seven
significant digits (relative rounding below 6e-8), far below the Monte Carlo
error of any reported figure, and halves the bytes of float64. A 1,000,000-path
run of 36 months stores 1,197 rows (1,008 of them monthly metrics), 4.8 GB on
disk, and loads one metric (144 MB) per summary thread at once. Prior inputs
are kept in float64, and only when the draws are stored.

Large runs sample in several processes, each writing its own part of the files
(see :mod:`forecast.parallel`); within a process, a thread writes the rows,
around the page cache where the system allows it (see :mod:`forecast.rowfile`).
The summaries run in a few threads, one metric each: numpy's sorts and file
reads release the interpreter lock. The numbers depend on neither: blocks merge
in order, and each summary is computed from one metric's rows alone.

Blocks are keyed by their index (see :mod:`forecast.simulate`), so sampling in
chunks of whole blocks gives exactly the paths of a single pass.
"""

from __future__ import annotations

import math
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.blocks import METRICS
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario
from forecast.rowfile import RowReader, RowWriter, aligned_empty, row_stride
from forecast.simulate import MAX_PATHS, PATHS_PER_BLOCK, Band, Draws, iter_blocks
from forecast.summarize import BREAKEVEN_KINDS, breakeven_months, describe_rows, quantile_mcse

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
    """Mean and sum of squared deviations per row, merged block by block in float64.

    Each block is ``(rows, paths)``: one row per month of a metric or per
    figure, paths along the row. Blocks merge with the pairwise update of means
    and sums of squares, always in block order, so neither chunking nor the
    number of sampling processes changes a single bit. The moments come from
    the float64 draws, not from the float32 files.
    """

    def __init__(self, rows: int) -> None:
        self.count = 0
        self.mean = np.zeros(rows)
        self.squares = np.zeros(rows)

    @staticmethod
    def of_block(block: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Return one ``(rows, paths)`` block's path count, means and sums of squares."""
        mean = block.mean(axis=1)
        centred = block - mean[:, None]
        return block.shape[1], mean, np.einsum("ij,ij->i", centred, centred)

    def merge(self, count: int, mean: np.ndarray, squares: np.ndarray) -> None:
        """Merge a block given by :meth:`of_block`."""
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.squares = self.squares + squares + delta**2 * (self.count * count / total)
        self.count = total

    def add(self, block: np.ndarray) -> None:
        """Merge one ``(rows, paths)`` block."""
        self.merge(*self.of_block(block))

    def mean_sd(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the mean and the sample standard deviation (NaN below two paths)."""
        if self.count < 2:
            return self.mean, np.full_like(self.mean, np.nan)
        return self.mean, np.sqrt(self.squares / (self.count - 1))


Figures = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
"""Per-path figures of a block: float64 monthly metrics in, ``(paths, columns)`` arrays out."""

ROWS_FILE = "rows.bin"
PENDING_WRITES = 2
"""Blocks queued for the write thread before appending waits."""
PART_LOG = "blocks.npz"


@dataclass
class Part:
    """Files of consecutive blocks written by one process, and their path counts."""

    folder: Path
    blocks: list[int] = field(default_factory=list)


class DrawStore:
    """Append-only files of sampled paths in one folder.

    Every metric, and every figure that ``figures`` computes from a block, is
    stored in one float32 file, block after block. Within a block the layout is
    ``(rows, paths)``: the months of each metric, then the columns of each
    figure, one row each, paths contiguous. Break-even months are int16
    ``(paths,)`` files, and prior inputs float64 ``(paths,)`` files when
    ``keep_inputs`` is true.

    The files are split into parts, each a folder of consecutive blocks: the
    store's own appends, or a part that another process sampled and the store
    adopted (see :mod:`forecast.parallel`). Reading goes through the parts in
    order, so paths keep their order.
    """

    def __init__(
        self,
        folder: Path,
        months: int,
        *,
        keep_inputs: bool,
        figures: Figures | None = None,
        log_blocks: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.months = months
        self.keep_inputs = keep_inputs
        self.figures = figures
        self.paths = 0
        self._parts: list[Part] = []
        self._appending = False
        self._workers = 0
        self._spans: dict[str, tuple[int, int]] = {}
        self._moments: dict[str, RunningMoments] = {}
        # Per-block moments, kept when another process adopts this store's part.
        self._log: list[dict[str, tuple[int, np.ndarray, np.ndarray]]] | None = (
            [] if log_blocks else None
        )
        # Float32 rows go to the file from a thread of their own, so that the disk's
        # write-back does not hold up the next block.
        self._writer: ThreadPoolExecutor | None = None
        self._writes: deque[Future[None]] = deque()
        self._file: RowWriter | None = None
        self._buffers: list[np.ndarray] = []
        self._filled = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Metrics, then figures, in the order they are stored."""
        return tuple(self._spans)

    def new_worker_folder(self) -> Path:
        """Return a new folder name, inside this store's, for a worker's part."""
        self._workers += 1
        return self.folder / f"worker-{self._workers:04d}"

    @property
    def width(self) -> int:
        """Float32 rows per block: every metric's months and every figure's columns."""
        return sum(stop - start for start, stop in self._spans.values())

    def _part_for_append(self) -> Part:
        if not self._appending:
            part = Part(self.folder / f"part-{len(self._parts):04d}")
            part.folder.mkdir()
            self._parts.append(part)
            self._appending = True
        return self._parts[-1]

    def _append(self, part: Part, kind: str, name: str, values: np.ndarray) -> None:
        with open(part.folder / f"{kind}.{name}.bin", "ab") as handle:
            values.tofile(handle)

    def _layout(self, widths: Mapping[str, int]) -> None:
        """Fix each array's rows on the first block; later blocks must match it."""
        if not self._spans:
            start = 0
            for name, width in widths.items():
                self._spans[name] = (start, start + width)
                self._moments[name] = RunningMoments(width)
                start += width
        elif dict(widths) != {name: stop - start for name, (start, stop) in self._spans.items()}:
            raise ValueError("a block's metrics or figures differ from the first block's")

    def append(self, inputs: Mapping[str, np.ndarray], metrics: Mapping[str, np.ndarray]) -> None:
        """Append one block of paths: float64 inputs and metrics, as sampled."""
        part = self._part_for_append()
        arrays = {name: metrics[name] for name in METRICS}
        if self.figures is not None:
            arrays.update(self.figures(metrics))
        self._layout({name: values.shape[1] for name, values in arrays.items()})
        size = len(metrics["operating_profit"])
        stride = row_stride(size)
        stored = self._free_buffer(stride)
        logged = {}
        for name, values in arrays.items():
            # The compiled model's metrics are transposed views of month-major
            # arrays, so these rows are contiguous without a copy.
            rows = np.ascontiguousarray(values.T)
            moments = RunningMoments.of_block(rows)
            self._moments[name].merge(*moments)
            logged[name] = moments
            start, stop = self._spans[name]
            np.copyto(stored[start:stop, :size], rows, casting="same_kind")
        stored[:, size:] = 0
        if self._log is not None:
            self._log.append(logged)
        self._write_later(part, stored)
        for kind, first in breakeven_months(metrics["operating_profit"]).items():
            self._append(part, "breakeven", kind, first.astype(MONTH_DTYPE))
        if self.keep_inputs:
            for name in PARAMETERS:
                self._append(part, "input", name, np.asarray(inputs[name], dtype=INPUT_DTYPE))
        part.blocks.append(size)
        self.paths += size

    def _free_buffer(self, stride: int) -> np.ndarray:
        """Return an aligned ``(width, stride)`` buffer that no pending write uses."""
        while len(self._writes) >= PENDING_WRITES:
            self._writes.popleft().result()
        # One buffer more than the pending writes: the oldest is free again.
        index = self._filled % (PENDING_WRITES + 1)
        self._filled += 1
        if len(self._buffers) <= index:
            self._buffers.append(aligned_empty(self.width, row_stride(PATHS_PER_BLOCK)))
        if self._buffers[index].size < self.width * stride:
            self._buffers[index] = aligned_empty(self.width, stride)
        flat = self._buffers[index].reshape(-1)
        return flat[: self.width * stride].reshape(self.width, stride)

    def _write_later(self, part: Part, stored: np.ndarray) -> None:
        # A new part starts only after flush() or adopt() closed the previous one,
        # so the writer and its file are set up together here.
        if self._writer is None or self._file is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-write")
            self._file = RowWriter(part.folder / ROWS_FILE)
        self._writes.append(self._writer.submit(self._file.write, stored))

    def flush(self) -> None:
        """Wait until every appended block is in its files, then stop the write thread.

        Raises the first write error, if any.
        """
        try:
            while self._writes:
                self._writes.popleft().result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the write thread after the write in progress (pending ones are dropped)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True, cancel_futures=True)
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._writes.clear()
        self._buffers.clear()
        self._filled = 0

    def save_log(self) -> None:
        """Write this store's layout and per-block moments for :meth:`adopt` (one part only)."""
        if self._log is None or len(self._parts) != 1:
            raise ValueError("only a store with one logged part can be adopted")
        arrays: dict[str, np.ndarray] = {
            "names": np.array(list(self._spans)),
            "widths": np.array([stop - start for start, stop in self._spans.values()]),
            "blocks": np.array(self._parts[0].blocks, dtype=np.int64),
        }
        for name in self._spans:
            arrays[f"mean:{name}"] = np.array([block[name][1] for block in self._log])
            arrays[f"squares:{name}"] = np.array([block[name][2] for block in self._log])
        np.savez(self._parts[0].folder / PART_LOG, **arrays)

    def adopt(self, folder: Path) -> None:
        """Append the part another store saved in ``folder`` (its ``part-0000``), after ours.

        Its per-block moments merge in block order, exactly as if this store had
        appended the blocks itself.
        """
        self.flush()
        part_folder = Path(folder) / "part-0000"
        with np.load(part_folder / PART_LOG) as log:
            names = [str(name) for name in log["names"]]
            self._layout(dict(zip(names, (int(w) for w in log["widths"]), strict=True)))
            blocks = [int(size) for size in log["blocks"]]
            means = {name: log[f"mean:{name}"] for name in names}
            squares = {name: log[f"squares:{name}"] for name in names}
        for index, size in enumerate(blocks):
            for name in names:
                self._moments[name].merge(size, means[name][index], squares[name][index])
        self._parts.append(Part(part_folder, blocks))
        self._appending = False
        self.paths += sum(blocks)

    def moments(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return one metric's or figure's mean and sample standard deviation per row."""
        return self._moments[name].mean_sd()

    def rows(self, name: str, columns: Sequence[int] | None = None) -> np.ndarray:
        """Load one metric or figure as float32 ``(rows, paths)``, each row contiguous.

        ``columns`` selects some rows (months of a metric) in that order; the
        default loads every row.
        """
        self.flush()
        start, stop = self._spans[name]
        chosen = np.arange(stop - start) if columns is None else np.asarray(columns, np.intp)
        first, last = start + int(chosen.min(initial=0)), start + int(chosen.max(initial=0)) + 1
        out = np.empty((len(chosen), self.paths), dtype=METRIC_DTYPE)
        itemsize = np.dtype(METRIC_DTYPE).itemsize
        largest = max((size for part in self._parts for size in part.blocks), default=0)
        buffer = aligned_empty(1, (last - first) * row_stride(largest)).reshape(-1)
        done = 0
        for part in self._parts:
            offset = 0
            with RowReader(part.folder / ROWS_FILE) as reader:
                for size in part.blocks:
                    stride = row_stride(size)
                    # Only the rows from the first to the last chosen one are read.
                    read = buffer[: (last - first) * stride].reshape(last - first, stride)
                    reader.read_into(read, offset + first * stride * itemsize)
                    picked = read if columns is None else read[chosen - first + start]
                    out[:, done : done + size] = picked[:, :size]
                    offset += self.width * stride * itemsize
                    done += size
        return out

    def _concatenate(self, kind: str, name: str, dtype: type) -> np.ndarray:
        self.flush()
        pieces = [
            np.fromfile(part.folder / f"{kind}.{name}.bin", dtype=dtype) for part in self._parts
        ]
        return np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)

    def metric(self, name: str) -> np.ndarray:
        """Load one metric, float32 ``(paths, months)`` (a transposed view)."""
        if name not in METRICS:
            raise KeyError(name)
        return self.rows(name).T

    def breakeven(self, kind: str) -> np.ndarray:
        """Load each path's break-even month index for one definition (months: never)."""
        return self._concatenate("breakeven", kind, MONTH_DTYPE).astype(np.intp)

    def input(self, name: str) -> np.ndarray:
        """Load one prior's sampled values, float64 ``(paths,)``."""
        if not self.keep_inputs:
            raise ValueError("prior inputs were not stored (the draws are not kept)")
        return self._concatenate("input", name, INPUT_DTYPE)

    def describe(self, name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Statistics of each row of a metric or figure, and which rows are defined.

        A row is undefined when it is NaN on every path (net revenue retention
        in the first 12 months).
        """
        rows = self.rows(name)
        stats = describe_rows(rows, self.moments(name))
        # Sorted rows put NaN last: a row whose first value is NaN is NaN throughout.
        return stats, ~np.isnan(rows[:, 0]) if rows.shape[1] else np.zeros(len(rows), bool)

    def remove(self) -> None:
        """Stop writing, then delete the folder and its files."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def usable_cores() -> int:
    """Return the number of cores this process may run on."""
    return len(os.sched_getaffinity(0))


SUMMARY_MEMORY = 1_500_000_000
"""Bytes of rows the summary threads may hold at once: one metric of every path each."""


def summary_workers(paths: int, months: int = 36) -> int:
    """Threads for the summaries: one more than the cores this process may use, at most four.

    While one thread waits for its rows from the disk the others sort. Each
    thread keeps one metric of every path in float32 (144 MB at 1,000,000
    paths and 36 months), so the threads are also limited to
    :data:`SUMMARY_MEMORY` together: one thread above about 5,200,000 paths.
    """
    per_thread = max(1, paths * months * np.dtype(METRIC_DTYPE).itemsize)
    by_memory = SUMMARY_MEMORY // per_thread
    return int(max(1, min(4, usable_cores() + 1, by_memory)))


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

    def describe_all(
        self, pool: ThreadPoolExecutor
    ) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
        """:meth:`DrawStore.describe` of every metric and figure, computed in ``pool``."""
        names = self.store.names
        return dict(zip(names, pool.map(self.store.describe, names), strict=True))

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
        for row in stored.store.rows(name, year_end_columns):
            quantile = max(quantile, relative_quantile_mcse(row))
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


def check_disk_space(folder: Path, paths: int, columns: int, months: int, keep_draws: bool) -> None:
    """Reject a run whose temporary per-metric files would not fit on the disk.

    Each path stores ``columns`` float32 values (every metric for each month and
    every period figure), plus break-even months; a kept ``draws.nc`` needs up to
    the metrics' size again (an upper bound, since it is compressed).
    """
    kept = months * len(METRICS) if keep_draws else 0
    needed = paths * (columns + kept) * 4 * 1.1
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
    workers: int | None = None,
) -> None:
    """Sample the next ``paths`` paths into ``store``, continuing after its last block.

    The store must hold whole blocks (every earlier call sampled a multiple of
    :data:`PATHS_PER_BLOCK`), so the paths are those of one longer run.
    ``workers`` processes share the blocks (default
    :func:`forecast.parallel.sampling_workers`); the paths and every number
    computed from them are the same for any number of workers.
    """
    from forecast import parallel

    if store.paths % PATHS_PER_BLOCK:
        raise ValueError(f"invalid store: {store.paths} paths are not whole blocks")
    blocks = math.ceil(paths / PATHS_PER_BLOCK)
    workers = parallel.sampling_workers(blocks) if workers is None else workers
    parallel.sample_parts(
        store, scenario, paths, seed, stresses=stresses, progress=progress, workers=workers
    )


def sample_blocks(
    store: DrawStore,
    scenario: Scenario,
    paths: int,
    seed: int,
    *,
    first_block: int,
    stresses: Mapping[str, Band] | None = None,
    progress: Callable[[int], None] | None = None,
    prefetch: bool = True,
) -> None:
    """Sample ``paths`` paths from block ``first_block`` on, in this process, into ``store``.

    ``prefetch`` is passed to :func:`forecast.simulate.iter_blocks`.
    """
    try:
        for inputs, metrics in iter_blocks(
            scenario, paths, seed, stresses=stresses, first_block=first_block, prefetch=prefetch
        ):
            store.append(inputs, metrics)
            if progress is not None:
                progress(len(metrics["operating_profit"]))
        store.flush()
    finally:
        store.close()


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
