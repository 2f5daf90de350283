"""Sample the blocks of a large run in several processes.

The compiled model holds Python's interpreter lock while it runs (PyTensor's
Numba code does not release it), so threads cannot run two blocks at once, and
a thread that computes summaries beside it mostly waits. Processes can: each
worker samples a contiguous range of blocks into a part of the run's files (see
:class:`forecast.chunked.DrawStore`) and logs each block's moments, and this
process adopts the parts in block order.

Each worker is a fork of this process made after the model compiled, so it
starts at once and compiles nothing. Block streams are keyed by block index and
moments merge block by block in order, so every number is bit-identical for any
number of workers. Where fork is unavailable (macOS, Windows), one process
samples everything.

The standard library's process pools (``concurrent.futures``,
``multiprocessing.Pool``) send each result back through a pipe. Here a result
is gigabytes of rows, so the workers are plain forked processes that write
their files themselves.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

from forecast.chunked import DrawStore, sample_blocks, usable_cores
from forecast.errors import InputError, RunFailed
from forecast.priors import Scenario
from forecast.simulate import PATHS_PER_BLOCK, Band, forward_function

MIN_BLOCKS_PER_WORKER = 8
"""Fewer blocks than this per worker are not worth a process (under a second of work)."""

MAX_WORKERS = 4
"""Largest number of sampling processes, whatever the number of cores."""


def fork_available() -> bool:
    """Return whether this platform can fork a process with its compiled model."""
    return "fork" in multiprocessing.get_all_start_methods()


def check_workers(workers: int, limit: int | None = None) -> None:
    """Reject a number of sampling processes below 1, not whole, or above ``limit``.

    The command line passes the usable cores as ``limit``: more processes than
    cores only slow a run down and add memory.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(
            "number of workers must be a whole number of at least 1",
            key="--workers",
            value=workers,
            fix="Pass for example --workers 2, or leave it out to use every core",
        )
    if limit is not None and workers > limit:
        raise InputError(
            f"number of workers is above the {limit} cores this run may use",
            key="--workers",
            value=workers,
            fix=f"Pass --workers {limit} or fewer, or leave it out",
        )


def sampling_workers(blocks: int) -> int:
    """Processes for sampling ``blocks`` blocks: one per core, at most :data:`MAX_WORKERS`."""
    if not fork_available():
        return 1
    return max(1, min(usable_cores(), MAX_WORKERS, blocks // MIN_BLOCKS_PER_WORKER))


def split_blocks(first: int, blocks: int, paths: int, workers: int) -> list[tuple[int, int]]:
    """Split ``blocks`` blocks from ``first`` into contiguous ranges, one per worker.

    Returns each range's first block and its paths; only the last range may end
    in a partial block.
    """
    workers = max(1, min(workers, blocks))
    sizes = [blocks // workers + (1 if index < blocks % workers else 0) for index in range(workers)]
    ranges = []
    start = first
    remaining = paths
    for size in sizes:
        count = min(size * PATHS_PER_BLOCK, remaining)
        ranges.append((start, count))
        start += size
        remaining -= count
    return ranges


def sample_parts(
    store: DrawStore,
    scenario: Scenario,
    paths: int,
    seed: int,
    *,
    stresses: Mapping[str, Band] | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> None:
    """Sample the next ``paths`` paths into ``store`` with ``workers`` processes.

    This process samples the first range of blocks itself; forked workers
    sample the others into folders inside the store, which it then adopts in
    order. ``progress`` receives the store's paths so far, counting the workers'.

    Raises
    ------
    RuntimeError
        If a worker stops without finishing its blocks.
    """
    start = store.paths
    blocks = math.ceil(paths / PATHS_PER_BLOCK)
    ranges = split_blocks(
        start // PATHS_PER_BLOCK, blocks, paths, workers if fork_available() else 1
    )
    context = multiprocessing.get_context("fork") if len(ranges) > 1 else None
    counter = context.Value("q", 0) if context is not None else None
    own = 0

    def report(size: int) -> None:
        nonlocal own
        own += size
        if progress is not None:
            progress(start + own + (counter.value if counter is not None else 0))

    children: list[tuple[multiprocessing.process.BaseProcess, Path]] = []
    try:
        if context is not None:
            forward_function(scenario)  # compiled before forking, so workers inherit it
            for first_block, count in ranges[1:]:
                folder = store.new_worker_folder()
                child = context.Process(
                    target=worker,
                    args=(store, folder, scenario, count, seed, stresses, first_block, counter),
                    name=f"forecast-sample-{first_block}",
                    daemon=True,
                )
                with warnings.catch_warnings():
                    # No thread of this package runs at the fork. The child uses only
                    # numpy, scipy, the compiled model and its own files, so no lock
                    # that another thread held can block it.
                    warnings.filterwarnings(
                        "ignore",
                        message=r".*use of fork\(\) may lead to deadlocks",
                        category=DeprecationWarning,
                    )
                    child.start()
                children.append((child, folder))
        first_block, count = ranges[0]
        sample_blocks(
            store,
            scenario,
            count,
            seed,
            first_block=first_block,
            stresses=stresses,
            progress=report,
            prefetch=not children,  # with workers on the other cores a thread only contends
        )
        for child, _ in children:
            while child.exitcode is None:
                child.join(0.25)
                report(0)
            check_exit(child)
        for _, folder in children:
            store.adopt(folder)
    finally:
        for child, _ in children:
            if child.exitcode is None:
                child.terminate()
            child.join()


def check_exit(child: multiprocessing.process.BaseProcess) -> None:
    """Raise if a worker did not finish its blocks.

    Ctrl-C in a terminal reaches the workers too, and they stop at once: a worker
    ended by SIGINT raises KeyboardInterrupt here, as the run itself would.
    """
    if child.exitcode == 0:
        return
    if child.exitcode == -signal.SIGINT:
        raise KeyboardInterrupt
    raise RunFailed(
        f"sampling process {child.name} failed with exit code {child.exitcode}"
        " (a negative code is the signal that ended it, -9 for example when the system"
        " ran out of memory)"
    )


def worker(
    parent: DrawStore,
    folder: Path,
    scenario: Scenario,
    paths: int,
    seed: int,
    stresses: Mapping[str, Band] | None,
    first_block: int,
    counter,
) -> None:
    """Sample ``paths`` paths from ``first_block`` into a new store at ``folder`` (in a fork)."""
    # The parent handles Ctrl-C and SIGTERM and ends its workers; a worker just stops.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    end_with_parent()
    store = DrawStore(
        folder,
        parent.months,
        keep_inputs=parent.keep_inputs,
        figures=parent.figures,
        log_blocks=True,
    )

    def report(size: int) -> None:
        with counter.get_lock():
            counter.value += size

    sample_blocks(
        store,
        scenario,
        paths,
        seed,
        first_block=first_block,
        stresses=stresses,
        progress=report,
        prefetch=False,
    )
    store.save_log()


def end_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a killed run leaves no worker)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
