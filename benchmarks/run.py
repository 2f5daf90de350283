"""Time and measure peak memory of one forecast model computed five ways.

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/run.py --sizes 10000 100000 1000000 --repeats 3

Every case runs in its own Python process, so its peak resident memory
(``ru_maxrss`` from ``os.wait4``) is its own. The child times only its work,
after its imports; the parent also records the whole process's wall time.
Results print as a Markdown table and are written as JSON with ``--json``.

Cases, on the base scenario and the same number of paths:

``forecast``
    ``run_scenario`` without charts and without stored draws: sampling in
    blocks (in one process per core), float32 row files, every summary table
    and the manifest.
``forecast_one_process``
    The same with ``workers=1``: every block sampled in one process.
``charts``
    ``charts.write_run_charts`` on a run's tables: its cost does not depend on
    the number of paths, so it runs at the smallest size only.
``numpy``
    The floor: the same priors (the same keyed uniforms and inverse CDFs) and
    the same arithmetic (``blocks.simulate_paths`` with numpy operations) in
    blocks of 4096 paths, with no summaries.
``numpy_summaries``
    The floor plus the same summary statistics (mean, sd and seven quantiles
    of every metric and month, break-even months) with every draw held in
    float32 memory.
``squigglepy``
    The priors as squigglepy distributions sampled with ``sq.sample(dist, n)``,
    then the same numpy arithmetic: squigglepy used as fast as it can be.
``squigglepy_per_path``
    The model as a plain Python function of one path, sampled with
    ``sq.sample(model, n)``: how squigglepy's documentation writes models.
    It runs only up to ``--per-path-max`` paths because it is about 1000
    times slower than the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = (
    "forecast",
    "forecast_one_process",
    "charts",
    "numpy",
    "numpy_summaries",
    "squigglepy",
    "squigglepy_per_path",
)
SEED = 1
BLOCK = 4096


def machine() -> dict[str, object]:
    """Describe the machine: CPU model, cores, memory, Python and platform."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# --- cases, each run inside a child process --------------------------------------------


def case_forecast(paths: int, workers: int | None = None) -> None:
    from forecast.pipeline import run_scenario

    with tempfile.TemporaryDirectory() as folder:
        run_scenario(
            "base",
            draws=paths,
            seed=SEED,
            out=Path(folder) / "run",
            with_charts=False,
            keep_draws=False,
            command=["benchmark"],
            workers=workers,
        )


def case_forecast_one_process(paths: int) -> None:
    case_forecast(paths, workers=1)


def case_charts(paths: int) -> None:
    from forecast import charts
    from forecast.pipeline import run_scenario

    with tempfile.TemporaryDirectory() as folder:
        result = run_scenario(
            "base", draws=paths, seed=SEED, out=Path(folder) / "run", with_charts=False
        )
        start = time.perf_counter()
        charts.write_run_charts(result.summary, result.breakeven, Path(folder) / "charts")
        report_seconds(time.perf_counter() - start)


def numpy_blocks(paths: int):
    """Yield the floor's metrics block by block: keyed uniforms, inverse CDFs, numpy model."""
    from forecast.blocks import simulate_paths
    from forecast.parameters import PARAMETERS
    from forecast.priors import load_scenario
    from forecast.simulate import block_uniforms, prior_values

    scenario = load_scenario("base")
    names = list(PARAMETERS)
    for block in range((paths + BLOCK - 1) // BLOCK):
        size = min(BLOCK, paths - block * BLOCK)
        values = prior_values(scenario, block_uniforms(SEED, block, names, size))
        yield simulate_paths(values, scenario.settings)


def case_numpy(paths: int) -> None:
    for metrics in numpy_blocks(paths):
        del metrics


def case_numpy_summaries(paths: int) -> None:
    import numpy as np

    from forecast.blocks import METRICS
    from forecast.summarize import QUANTILES, breakeven_months

    stored = {name: np.empty((paths, 36), dtype=np.float32) for name in METRICS}
    first = np.empty(paths, dtype=np.int16)
    done = 0
    for metrics in numpy_blocks(paths):
        size = len(metrics["mrr"])
        for name in METRICS:
            stored[name][done : done + size] = metrics[name]
        first[done : done + size] = breakeven_months(metrics["operating_profit"])["sustained"]
        done += size
    for values in stored.values():
        np.quantile(values, QUANTILES, axis=0)
        values.mean(axis=0, dtype=np.float64)
        values.std(axis=0, ddof=1, dtype=np.float64)
    np.bincount(first, minlength=37)


def squigglepy_distributions() -> dict[str, object]:
    import squigglepy as sq

    from forecast.parameters import PARAMETERS
    from forecast.priors import load_scenario

    scenario = load_scenario("base")
    dists = {}
    for name in PARAMETERS:
        prior = scenario.priors[name]
        a, *rest = prior.params
        if prior.dist == "lognormal":
            dists[name] = sq.lognorm(norm_mean=a, norm_sd=rest[0])
        elif prior.dist == "beta":
            dists[name] = sq.beta(a, rest[0])
        elif prior.dist == "normal":
            dists[name] = sq.norm(mean=a, sd=rest[0])
        elif prior.dist == "uniform":
            dists[name] = sq.uniform(a, rest[0])
        else:
            dists[name] = sq.const(a)
    return dists


def case_squigglepy(paths: int) -> None:
    import numpy as np
    import squigglepy as sq

    from forecast.blocks import simulate_paths
    from forecast.priors import load_scenario

    settings = load_scenario("base").settings
    sq.set_seed(SEED)
    dists = squigglepy_distributions()
    samples = {
        name: np.asarray(sq.sample(dist, n=paths), dtype=float) for name, dist in dists.items()
    }
    for start in range(0, paths, BLOCK):
        block = {name: values[start : start + BLOCK] for name, values in samples.items()}
        simulate_paths(block, settings)


def case_squigglepy_per_path(paths: int) -> None:
    import numpy as np
    import squigglepy as sq

    from forecast.blocks import simulate_paths
    from forecast.priors import load_scenario

    settings = load_scenario("base").settings
    sq.set_seed(SEED)
    dists = squigglepy_distributions()

    def model() -> float:
        # One path: squigglepy's ~dist draws one value per prior.
        p = {name: np.array([~dist]) for name, dist in dists.items()}
        return float(simulate_paths(p, settings)["cash"][0, -1])

    sq.sample(model, n=paths, verbose=False)


def report_seconds(seconds: float) -> None:
    print(json.dumps({"seconds": seconds}), flush=True)


IMPORTS = {
    "forecast": ("forecast.pipeline", "forecast.model", "pymc", "arviz"),
    "forecast_one_process": ("forecast.pipeline", "forecast.model", "pymc", "arviz"),
    "charts": ("forecast.pipeline", "forecast.model", "forecast.charts", "matplotlib.pyplot"),
    "numpy": ("forecast.blocks", "forecast.simulate", "scipy.stats"),
    "numpy_summaries": ("forecast.blocks", "forecast.simulate", "scipy.stats"),
    "squigglepy": ("forecast.blocks", "forecast.priors", "squigglepy"),
    "squigglepy_per_path": ("forecast.blocks", "forecast.priors", "squigglepy"),
}
"""Modules each case imports before its clock starts: import time is not compared."""


def run_child(case: str, paths: int) -> None:
    """Run one case in this process and print its work time as JSON."""
    import importlib

    for module in IMPORTS[case]:
        importlib.import_module(module)
    function = globals()[f"case_{case}"]
    if case == "charts":
        function(paths)  # times itself: the run it needs is not charts' cost
        return
    start = time.perf_counter()
    function(paths)
    report_seconds(time.perf_counter() - start)


# --- parent -----------------------------------------------------------------------------


def tree_memory_mb(pid: int) -> float:
    """Return the proportional set size (PSS) of a process and its descendants, in MB.

    Forked workers share pages with their parent; PSS splits shared pages
    between the processes, so the sum counts each page once.
    """
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def measure(case: str, paths: int) -> dict[str, float]:
    """Run one case in a child process; return work seconds, process seconds, peak MB.

    ``peak_mb`` is the child's peak resident set (``ru_maxrss``, the largest
    single process). ``peak_tree_mb`` is the largest PSS of the child and its
    workers together, sampled every 50 ms.
    """
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, __file__, "--child", case, "--paths", str(paths)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=REPO)
    peak_tree = [0.0]
    done = threading.Event()

    def sample_memory() -> None:
        while not done.wait(0.05):
            peak_tree[0] = max(peak_tree[0], tree_memory_mb(child.pid))

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    output = child.stdout.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.stdout.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{case} at {paths} paths failed with exit code {child.returncode}")
    seconds = json.loads(output.decode().strip().splitlines()[-1])["seconds"]
    return {
        "seconds": seconds,
        "process_seconds": wall,
        "peak_mb": usage.ru_maxrss / 1024,
        "peak_tree_mb": peak_tree[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="Runs per case and size.")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument(
        "--per-path-max", type=int, default=10_000, help="Largest size for squigglepy_per_path."
    )
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.paths)
        return

    results = []
    for paths in args.sizes:
        for case in args.cases:
            if case == "squigglepy_per_path" and paths > args.per_path_max:
                continue
            if case == "charts" and paths != min(args.sizes):
                continue
            runs = [measure(case, paths) for _ in range(args.repeats)]
            row = {
                "case": case,
                "paths": paths,
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "median_process_seconds": statistics.median(r["process_seconds"] for r in runs),
                "peak_mb": max(r["peak_mb"] for r in runs),
                "peak_tree_mb": max(r["peak_tree_mb"] for r in runs),
                "runs": runs,
            }
            results.append(row)
            print(
                f"| {case} | {paths:,} | {row['median_seconds']:.2f} |"
                f" {row['median_process_seconds']:.2f} | {row['peak_mb']:.0f} |"
                f" {row['peak_tree_mb']:.0f} |",
                flush=True,
            )
    if args.json:
        document = {"machine": machine(), "command": sys.argv, "results": results}
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
