"""Convergence checks that every NUTS fit must pass before its results are used.

A fit passes when, for every reported parameter, the rank-normalised split R-hat
is at most :data:`MAX_RHAT`, the bulk effective sample size is at least
:data:`MIN_ESS_BULK`, and no transition diverged. Both statistics come from
ArviZ (``arviz.rhat``, ``arviz.ess``), following Vehtari et al. (2021),
"Rank-normalization, folding, and localization: an improved R-hat".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_RHAT = 1.01
MIN_ESS_BULK = 400


class FitError(RuntimeError):
    """A NUTS fit that failed its convergence checks; the command writes nothing.

    The message names the first failing parameter, the statistic and what to try.
    """


@dataclass(frozen=True)
class FitDiagnostics:
    """Per-parameter R-hat and bulk ESS, the divergence count and the sampling time."""

    table: pd.DataFrame  # index: parameter; columns: r_hat, ess_bulk, ess_per_second
    divergences: int
    sampling_seconds: float
    draws: int
    tune: int
    chains: int

    def describe(self) -> str:
        """Summarise the diagnostics in one line, for file headers and the console."""
        worst_rhat = self.table["r_hat"].idxmax()
        lowest_ess = self.table["ess_bulk"].idxmin()
        return (
            f"{self.chains} chains x {self.draws} draws after {self.tune} tuning steps, "
            f"{self.divergences} divergences, max R-hat {self.table['r_hat'].max():.3f} "
            f"({worst_rhat}), min bulk ESS {self.table['ess_bulk'].min():.0f} ({lowest_ess}), "
            f"sampling {self.sampling_seconds:.1f} s"
        )


def fit_diagnostics(tree, var_names: Sequence[str]) -> FitDiagnostics:
    """Compute R-hat, bulk ESS and divergences of a PyMC ``pm.sample`` result.

    Parameters
    ----------
    tree
        The ``xarray.DataTree`` that ``pm.sample`` returns (groups ``posterior``
        and ``sample_stats``).
    var_names
        The parameters to check: scalar variables of the ``posterior`` group.
    """
    import arviz as az

    names = list(var_names)
    rhat = az.rhat(tree, var_names=names)
    ess = az.ess(tree, var_names=names, method="bulk")
    stats = tree["sample_stats"]
    seconds = float(stats.attrs.get("sampling_time", float("nan")))
    posterior = tree["posterior"]
    table = pd.DataFrame(
        {
            # A vector parameter reports its worst element.
            "r_hat": [float(np.max(rhat[name].values)) for name in names],
            "ess_bulk": [float(np.min(ess[name].values)) for name in names],
        },
        index=pd.Index(names, name="parameter"),
    )
    table["ess_per_second"] = table["ess_bulk"] / seconds
    return FitDiagnostics(
        table=table,
        divergences=int(stats["diverging"].sum()),
        sampling_seconds=seconds,
        draws=int(posterior.sizes["draw"]),
        tune=int(stats.attrs.get("tuning_steps", 0)),
        chains=int(posterior.sizes["chain"]),
    )


def check_fit(diagnostics: FitDiagnostics, what: str) -> None:
    """Raise :class:`FitError` unless every parameter converged and nothing diverged.

    Parameters
    ----------
    diagnostics
        The output of :func:`fit_diagnostics`.
    what
        The fit's name in the message, for example ``"ChatGPT adoption curve"``.
    """
    table = diagnostics.table
    high = table[~(table["r_hat"] <= MAX_RHAT)]
    if not high.empty:
        name = high["r_hat"].idxmax()
        raise FitError(
            f"{what}: fit did not converge: R-hat of {name} is {table.loc[name, 'r_hat']:.3f} "
            f"(at most {MAX_RHAT} required). Try more tuning steps (--tune) and draws "
            "(--draws), or more chains (--chains)"
        )
    low = table[~(table["ess_bulk"] >= MIN_ESS_BULK)]
    if not low.empty:
        name = low["ess_bulk"].idxmin()
        raise FitError(
            f"{what}: too few effective samples: bulk ESS of {name} is "
            f"{table.loc[name, 'ess_bulk']:.0f} (at least {MIN_ESS_BULK} required). "
            "Try more draws (--draws) or more chains (--chains)"
        )
    if diagnostics.divergences:
        raise FitError(
            f"{what}: {diagnostics.divergences} divergent transitions, so the posterior "
            "may be biased. Try a higher --target-accept (for example 0.99) and more "
            "tuning steps (--tune); if they persist, the model needs a different "
            "parameterisation"
        )
