"""The PyMC model: priors as random variables, monthly metrics as deterministics.

One model holds a batch of ``paths`` independent scenarios (dimension ``path``), so
one compiled call evaluates a whole block of paths. Forecasting evaluates the
deterministics at prior values drawn outside the graph (see
:mod:`forecast.simulate`); inference on actuals samples the same model with NUTS.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from forecast.blocks import METRICS, pytensor_ops, simulate_paths
from forecast.parameters import PARAMETERS
from forecast.priors import Prior, Scenario

# PyTensor warns on import when numpy's BLAS came from pip; it is harmless here.
warnings.filterwarnings("ignore", message=".*BLAS functions.*", category=UserWarning)


def prior_variable(prior: Prior, dims: str = "path"):
    """Create the PyMC random variable of one prior inside the current model."""
    import pymc as pm

    if prior.dist == "lognormal":
        return pm.LogNormal(prior.name, mu=prior.params[0], sigma=prior.params[1], dims=dims)
    if prior.dist == "normal":
        return pm.Normal(prior.name, mu=prior.params[0], sigma=prior.params[1], dims=dims)
    if prior.dist == "uniform":
        return pm.Uniform(prior.name, lower=prior.params[0], upper=prior.params[1], dims=dims)
    if prior.dist == "beta":
        return pm.Beta(prior.name, alpha=prior.params[0], beta=prior.params[1], dims=dims)
    raise ValueError(f"{prior.name}: a fixed prior is data, not a random variable")


def build_model(scenario: Scenario, paths: int):
    """Build the PyMC model of ``scenario`` for a batch of ``paths`` paths.

    Fixed priors become ``pm.Data`` so their values can change without a new
    compile; every other prior is a random variable with dimension ``path``.
    """
    import pandas as pd
    import pymc as pm

    months = pd.to_datetime(scenario.settings.months, format="%Y-%m")
    coords = {"path": np.arange(paths), "month": months}
    with pm.Model(coords=coords) as model:
        values = {}
        for name in PARAMETERS:
            prior = scenario.priors[name]
            if prior.is_fixed:
                values[name] = pm.Data(name, np.full(paths, prior.params[0]), dims="path")
            else:
                values[name] = prior_variable(prior)
        metrics = simulate_paths(values, scenario.settings, pytensor_ops())
        for name in METRICS:
            pm.Deterministic(name, metrics[name], dims=("path", "month"))
    return model


def compile_forward(scenario: Scenario, paths: int) -> Callable[[dict], dict]:
    """Compile the model's metrics as one function of the prior values.

    The returned function takes one array of shape ``(paths,)`` per prior and
    returns one array of shape ``(paths, months)`` per metric. It is compiled
    once; fixed priors are set through their shared data before each call.
    """
    import pymc as pm

    model = build_model(scenario, paths)
    random = [name for name in PARAMETERS if not scenario.priors[name].is_fixed]
    fixed = [name for name in PARAMETERS if scenario.priors[name].is_fixed]
    function = pm.pytensorf.compile(
        inputs=[model[name] for name in random],
        outputs=[model[name] for name in METRICS],
    )
    shared = {name: model[name] for name in fixed}

    def forward(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in fixed:
            shared[name].set_value(np.asarray(values[name], dtype=float))
        outputs = function(*(np.asarray(values[name], dtype=float) for name in random))
        return dict(zip(METRICS, outputs, strict=True))

    return forward
