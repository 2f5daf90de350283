"""Time a Sobol analysis of all priors at N = 1024 against a plain run of as many paths.

Run from the repository root:

    PYTHONPATH=$PWD python benchmarks/bench_sensitivity.py [--samples 1024] [--repeats 3]

Both timings exclude the one-off compile (done once before timing). The Sobol time
covers SALib's design, the model on every design row and SALib's estimators with
200 bootstrap resamples for one output. The plain run is ``simulate`` on the same
number of paths: uniform draws, inverse CDFs and the same compiled model.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from forecast.outputs import Output, evaluate_outputs, free_priors
from forecast.parameters import PARAMETERS
from forecast.priors import load_scenario
from forecast.sensitivity import sobol_indices
from forecast.simulate import forward_function, simulate


def main() -> None:
    """Print the median wall time of each job over ``--repeats`` runs."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scenario = load_scenario("base")
    forward_function(scenario)
    output = Output("breakeven_by", "2028-12")
    names = free_priors(scenario)
    evaluations = args.samples * (len(names) + 2)

    columns = [list(PARAMETERS).index(name) for name in names]
    model_seconds: list[float] = []

    def evaluate(design: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        full = np.full((len(design), len(PARAMETERS)), 0.5)
        full[:, columns] = design
        values = evaluate_outputs(scenario, full, [output])
        model_seconds.append(time.perf_counter() - start)
        return values

    def sobol_job() -> None:
        sobol_indices(evaluate, names, [output.label], args.samples, seed=1)

    def plain_job() -> None:
        simulate(scenario, evaluations, seed=1)

    for label, job in (("sobol", sobol_job), ("plain", plain_job)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            job()
            times.append(time.perf_counter() - start)
        print(f"{label}: median {np.median(times):.2f} s over {args.repeats} runs")
    print(f"sobol, model evaluation only: median {np.median(model_seconds):.2f} s")
    print(f"priors varied: {len(names)}, model evaluations: {evaluations}")
    print(f"python {platform.python_version()}, {platform.machine()}")


if __name__ == "__main__":
    main()
