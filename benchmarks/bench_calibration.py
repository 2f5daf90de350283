"""Time the market calibration with PyMC's NUTS and, when installed, with nutpie.

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/bench_calibration.py

Each sampler fits the adoption model to the shipped ChatGPT data with the
``forecast calibrate market`` defaults (2 chains, 1,500 tuning steps, 2,000
draws, one core) and prints wall time, sampling time, the minimum bulk ESS,
ESS per second and the posterior medians, so the two results can be compared.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", message=".*BLAS functions.*")


def main() -> None:
    import arviz as az
    import pymc as pm

    from forecast.calibrate import DEFAULT_DATA, FIT_PARAMETERS, adoption_model, read_announcements

    data = read_announcements(DEFAULT_DATA)
    samplers = ["pymc"]
    try:
        import nutpie  # noqa: F401

        samplers.append("nutpie")
    except ImportError:
        print("nutpie not installed: timing PyMC's NUTS only")
    for sampler in samplers:
        for attempt in ("first", "second"):
            model = adoption_model(data)
            start = time.perf_counter()
            tree = pm.sample(
                draws=2000,
                tune=1500,
                chains=2,
                cores=1,
                random_seed=0,
                target_accept=0.99,
                nuts_sampler=sampler,
                progressbar=False,
                compute_convergence_checks=False,
                model=model,
            )
            wall = time.perf_counter() - start
            seconds = float(tree["sample_stats"].attrs.get("sampling_time", float("nan")))
            ess = az.ess(tree, var_names=list(FIT_PARAMETERS), method="bulk")
            rhat = az.rhat(tree, var_names=list(FIT_PARAMETERS))
            low = min(float(ess[name]) for name in FIT_PARAMETERS)
            worst = max(float(rhat[name]) for name in FIT_PARAMETERS)
            divergences = int(tree["sample_stats"]["diverging"].sum())
            medians = {
                name: float(np.median(tree["posterior"][name].values)) for name in FIT_PARAMETERS
            }
            print(
                f"{sampler:6s} {attempt:6s} wall {wall:6.1f} s, sampling {seconds:6.1f} s, "
                f"min bulk ESS {low:5.0f}, ESS/s (wall) {low / wall:6.1f}, "
                f"max R-hat {worst:.3f}, divergences {divergences}, medians "
                + ", ".join(f"{name} {value:.4g}" for name, value in medians.items())
            )


if __name__ == "__main__":
    main()
