r"""Calibrate the agent market on the chatbot adoption curve.

The Company 2026 hosting-economics plan expects agent adoption to follow
ChatGPT's adoption curve with a lag of 18 to 24 months. This module fits a
logistic curve to OpenAI's announced ChatGPT weekly users with NUTS, maps it to
agent users through an uncertain lag and scale, and writes the result as a
scenario file that overrides the three market priors.

Adoption curve (months :math:`\tau` from mid-June 2025, the middle of the data)
    :math:`W(\tau) = K / (1 + h e^{-r \tau})` with ceiling :math:`K = w (1 + h)`,
    level :math:`w` at :math:`\tau = 0`, headroom :math:`h` and monthly rate
    :math:`r`. The level-and-headroom form keeps the posterior nearly
    uncorrelated; a ceiling-and-midpoint form gave bulk ESS below 400 at 2,000
    draws. A Bass curve was not fitted: its imitation-only limit is this
    logistic, and the forecast model's market block is a logistic too.

Observation model for announced round numbers
    An announcement of :math:`y` ("100 million", "over 900M") is read as the
    true figure rounded down to its leading digit's unit :math:`s` (100M for
    every row of the shipped data), after a multiplicative error of log-sd
    :math:`\nu`: :math:`P(y) = \Phi((\log(y + s) - \log W) / \nu) - \Phi((\log y -
    \log W) / \nu)`.

Agent market
    :math:`A(\tau) = c \, W(\tau - L)` for a lag :math:`L` uniform on 18-24 months
    and a scale :math:`c` chosen so that :math:`A` at the reference month equals
    the base scenario's ``agent_users_reference`` (5-10M in June 2026). A shifted
    and scaled logistic is again a logistic, so the agent market's rate is
    :math:`r` and its ceiling :math:`c K`.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.diagnostics import FitDiagnostics, check_fit, fit_diagnostics
from forecast.errors import InputError
from forecast.priors import load_scenario, sha256_file

DEFAULT_DATA = Path(__file__).parent / "data" / "chatgpt_weekly_active_users.csv"
DATA_COLUMNS = ("date", "weekly_active_users_millions", "source")
FIT_REFERENCE = dt.date(2025, 6, 15)
DAYS_PER_MONTH = 365.25 / 12
FIT_PARAMETERS = ("level", "headroom", "rate", "noise")
MARKET_PRIORS = ("agent_users_reference", "market_growth_rate", "market_ceiling")

# Agent users by mid-year in the Company 2026 hosting-economics plan (June values).
PLAN_AGENT_USERS = {
    "2026-06": (5e6, 10e6),
    "2027-06": (50e6, 100e6),
    "2028-06": (300e6, 500e6),
}


@dataclass(frozen=True)
class Announcements:
    """Announced weekly users: dates, months from :data:`FIT_REFERENCE`, millions."""

    path: Path
    sha256: str
    dates: tuple[str, ...]
    months: np.ndarray
    users: np.ndarray  # millions
    rounding: np.ndarray  # millions: the unit each figure was rounded down to


@dataclass(frozen=True)
class MarketCalibration:
    """A finished calibration: the scenario file written and the figures behind it."""

    path: Path
    data: Announcements
    diagnostics: FitDiagnostics
    fit_table: pd.DataFrame
    year_table: pd.DataFrame
    intervals: dict[str, tuple[float, float]]
    correlations: dict[tuple[str, str], float]
    verdict: str


def months_from_reference(day: dt.date) -> float:
    """Return the months from :data:`FIT_REFERENCE` to ``day`` (average month length)."""
    return (day - FIT_REFERENCE).days / DAYS_PER_MONTH


def month_middle(month: str) -> float:
    """Return the months from :data:`FIT_REFERENCE` to the 15th of ``YYYY-MM``."""
    year, number = (int(part) for part in month.split("-"))
    return months_from_reference(dt.date(year, number, 15))


def read_announcements(path: Path) -> Announcements:
    """Read and check the announced weekly-users CSV.

    Raises
    ------
    InputError
        On a missing file or column, an invalid date or a figure that is not a
        positive number, naming the row and column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("data file not found", file=path, fix="Check the --data path")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in DATA_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                "missing columns: " + ", ".join(missing),
                file=path,
                key="header",
                value=reader.fieldnames,
                fix="The CSV needs columns " + ", ".join(DATA_COLUMNS),
            )
        dates, months, users = [], [], []
        for row_number, row in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat(row["date"].strip())
            except ValueError:
                raise InputError(
                    "invalid date",
                    file=path,
                    key=f"row {row_number}, column date",
                    value=row["date"],
                    fix="Write the date as YYYY-MM-DD",
                ) from None
            try:
                value = float(row["weekly_active_users_millions"])
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise InputError(
                    "weekly users must be a positive number of millions",
                    file=path,
                    key=f"row {row_number}, column weekly_active_users_millions",
                    value=row["weekly_active_users_millions"],
                    fix="Write the announced figure in millions, for example 800",
                )
            if not (row["source"] or "").strip():
                raise InputError(
                    "announcement has no source",
                    file=path,
                    key=f"row {row_number}, column source",
                    fix="Name who announced the figure and where",
                )
            dates.append(day.isoformat())
            months.append(months_from_reference(day))
            users.append(value)
    if len(users) < 4:
        raise InputError(
            "too few announcements to fit a three-parameter curve",
            file=path,
            value=len(users),
            fix="Give at least four dated figures",
        )
    users_array = np.array(users)
    return Announcements(
        path=path,
        sha256=sha256_file(path),
        dates=tuple(dates),
        months=np.array(months),
        users=users_array,
        rounding=leading_unit(users_array),
    )


def leading_unit(users: np.ndarray) -> np.ndarray:
    """Return the unit of each figure's leading digit: 100 for 100-999, 1,000 for 1,000-9,999."""
    return 10.0 ** np.floor(np.log10(users))


def round_down_to_leading_unit(users: np.ndarray) -> np.ndarray:
    """Round each figure down to its leading digit's unit, as announcements are."""
    unit = leading_unit(users)
    return np.floor(users / unit) * unit


# Log-scale mean and sd of each lognormal prior of the adoption model.
ADOPTION_PRIORS = {
    "level": (math.log(700.0), 0.5),
    "headroom": (math.log(0.5), 1.0),
    "rate": (math.log(0.15), 0.5),
    "noise": (math.log(0.05), 0.5),
}


def adoption_model(data: Announcements):
    """Build the PyMC model of the adoption curve and the rounded announcements.

    Priors are weakly informative 90% intervals: a level at mid-2025 of
    310M-1.6B weekly users, a headroom (ceiling over level, minus one) of
    0.1-2.6, a rate of 0.07-0.34 a month, and an announcement error of 2-11%
    beyond the rounding.
    """
    return batched_adoption_model(data.months, data.users, data.rounding)


def batched_adoption_model(months: np.ndarray, users: np.ndarray, rounding: np.ndarray):
    """Build the adoption model for one series ``(n,)`` or independent series ``(k, n)``.

    With ``k`` series every parameter has shape ``(k,)`` and the posterior
    factorises, so one NUTS run fits all series (simulation-based calibration
    uses this).
    """
    import pymc as pm
    import pytensor.tensor as pt

    shape = np.shape(users)[:-1]
    with pm.Model() as model:
        # Data as shared variables: a refit on other data reuses the compiled graph.
        months_data = pm.Data("months", months)
        users_data = pm.Data("users", users)
        rounding_data = pm.Data("rounding", rounding)
        parameters = {
            name: pm.LogNormal(name, mu=mu, sigma=sigma, shape=shape)
            for name, (mu, sigma) in ADOPTION_PRIORS.items()
        }
        level, headroom, rate, noise = (
            parameters[name][..., None] for name in ("level", "headroom", "rate", "noise")
        )
        pm.Deterministic("ceiling", parameters["level"] * (1 + parameters["headroom"]))
        curve = level * (1 + headroom) / (1 + headroom * pt.exp(-rate * months_data))
        low = (pt.log(users_data) - pt.log(curve)) / noise
        high = (pt.log(users_data + rounding_data) - pt.log(curve)) / noise
        # Phi(high) - Phi(low) equals Phi(-low) - Phi(-high). Above the curve both
        # CDFs are near 1 and their difference underflows, so the mirrored form is
        # used there: it subtracts two small tail probabilities instead.
        above = low > 0
        upper = pt.switch(above, -low, high)
        lower = pt.switch(above, -high, low)
        standard = pm.Normal.dist(mu=0.0, sigma=1.0)
        interval = pm.math.logdiffexp(pm.logcdf(standard, upper), pm.logcdf(standard, lower))
        pm.Potential("rounded_announcements", interval.sum())
    return model


def sample_model(model, *, draws: int, tune: int, chains: int, seed: int, target_accept: float):
    """Run NUTS on ``model`` one chain after another; return the ``DataTree``."""
    import pymc as pm

    return pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        random_seed=seed,
        target_accept=target_accept,
        progressbar=False,
        compute_convergence_checks=False,
        model=model,
    )


def check_sampler_options(draws: int, tune: int, chains: int, target_accept: float) -> None:
    """Reject sampler options that cannot give a checked fit."""
    for key, value, least in (
        ("--draws", draws, 100),
        ("--tune", tune, 100),
        ("--chains", chains, 2),
    ):
        if value < least:
            raise InputError(
                f"must be at least {least}",
                key=key,
                value=value,
                fix=f"Pass {key} {least} or more",
            )
    if not 0.5 <= target_accept < 1:
        raise InputError(
            "target acceptance rate must lie in [0.5, 1)",
            key="--target-accept",
            value=target_accept,
            fix="Pass for example --target-accept 0.95",
        )


def curve_users(posterior: dict[str, np.ndarray], months: np.ndarray) -> np.ndarray:
    """Return the fitted curve in users (not millions), one value per draw.

    ``months`` contains one month offset per draw (or one for all draws).
    """
    level, headroom, rate = posterior["level"], posterior["headroom"], posterior["rate"]
    return 1e6 * level * (1 + headroom) / (1 + headroom * np.exp(-rate * months))


def agent_market_draws(
    posterior: dict[str, np.ndarray],
    reference_level: np.ndarray,
    lag: np.ndarray,
    reference_month: str,
) -> dict[str, np.ndarray]:
    """Map posterior draws of the chatbot curve to the model's three market priors.

    Parameters
    ----------
    posterior
        Flattened draws of ``level``, ``headroom`` and ``rate``.
    reference_level
        Agent users at the reference month, one per draw.
    lag
        Months by which agent adoption trails chatbot adoption, one per draw.
    reference_month
        ``YYYY-MM`` at which ``reference_level`` applies.

    Returns
    -------
    dict
        ``agent_users_reference``, ``market_growth_rate``, ``market_ceiling`` and
        ``scale`` (agent users per chatbot user at the lagged month), per draw.
    """
    scale = reference_level / curve_users(posterior, month_middle(reference_month) - lag)
    ceiling = 1e6 * posterior["level"] * (1 + posterior["headroom"])
    return {
        "agent_users_reference": reference_level,
        "market_growth_rate": posterior["rate"],
        "market_ceiling": scale * ceiling,
        "scale": scale,
    }


def agent_users_at(
    posterior: dict[str, np.ndarray], scale: np.ndarray, lag: np.ndarray, month: str
) -> np.ndarray:
    """Return agent users in ``month`` per draw: the scaled chatbot curve ``lag`` earlier."""
    return scale * curve_users(posterior, month_middle(month) - lag)


def year_table(
    posterior: dict[str, np.ndarray], scale: np.ndarray, lag: np.ndarray
) -> pd.DataFrame:
    """Compare the calibrated agent users with the plan's mid-year figures.

    Columns: month, the plan's low and high, the calibrated p5/p50/p95, and the
    share of draws inside the plan's range with its Monte Carlo standard error.
    """
    rows = []
    for month, (low, high) in PLAN_AGENT_USERS.items():
        users = agent_users_at(posterior, scale, lag, month)
        inside = float(np.mean((users >= low) & (users <= high)))
        rows.append(
            {
                "month": month,
                "plan_low": low,
                "plan_high": high,
                "p5": float(np.quantile(users, 0.05)),
                "p50": float(np.quantile(users, 0.50)),
                "p95": float(np.quantile(users, 0.95)),
                "p_in_plan_range": inside,
                # NOTE: binomial standard error, which treats the draws as
                # independent; MCMC draws are autocorrelated, so it is a lower bound.
                "mcse_p_in_plan_range": math.sqrt(inside * (1 - inside) / len(users)),
            }
        )
    return pd.DataFrame(rows)


def plan_verdict(
    posterior: dict[str, np.ndarray], scale: np.ndarray, lag: np.ndarray, table: pd.DataFrame
) -> str:
    """Say in one paragraph whether the lagged curve reaches the plan's last-year figure."""
    last = table.iloc[-1]
    first_month = table.iloc[0]["month"]
    growth = curve_users(posterior, month_middle(last["month"]) - lag) / curve_users(
        posterior, month_middle(first_month) - lag
    )
    needed = last["plan_low"] / growth
    share = float(np.median(scale))
    verdict = (
        f"The same curve {lag.min():.0f}-{lag.max():.0f} months later, scaled to "
        f"{table.iloc[0]['plan_low'] / 1e6:.0f}-{table.iloc[0]['plan_high'] / 1e6:.0f}M agent "
        f"users in {first_month} (median {share:.2%} of ChatGPT's weekly users at the lagged "
        f"month), gives {last['p50'] / 1e6:.0f}M agent users in {last['month']} "
        f"(90% interval {last['p5'] / 1e6:.0f}-{last['p95'] / 1e6:.0f}M) against the plan's "
        f"{last['plan_low'] / 1e6:.0f}-{last['plan_high'] / 1e6:.0f}M. "
    )
    if last["p95"] < last["plan_low"]:
        verdict += (
            "It cannot produce the plan's figure: the curve grows only "
            f"{np.median(growth):.1f}x (median) between those months, so "
            f"{last['plan_low'] / 1e6:.0f}M would need {np.median(needed) / 1e6:.0f}M agent "
            f"users in {first_month}."
        )
    else:
        verdict += (
            f"{last['p_in_plan_range']:.0%} of the draws fall inside the plan's range in "
            f"{last['month']}."
        )
    return verdict


def calibrate_market(
    *,
    data: Path = DEFAULT_DATA,
    priors_dir: Path | None = None,
    extends: str = "base",
    name: str = "calibrated",
    out: Path | None = None,
    lag: tuple[float, float] = (18.0, 24.0),
    draws: int = 2000,
    tune: int = 1500,
    chains: int = 2,
    target_accept: float = 0.99,
    seed: int = 0,
    overwrite: bool = False,
) -> MarketCalibration:
    """Fit the chatbot adoption curve and write the calibrated market scenario.

    Parameters
    ----------
    data
        CSV of announced weekly users (``date``, ``weekly_active_users_millions``,
        ``source``); default the copy shipped with the package.
    priors_dir
        Priors folder; the scenario is written to its ``scenarios/``.
    extends
        Scenario the calibrated one extends; its ``agent_users_reference`` prior
        sets the scale and its settings the reference month.
    name
        Scenario name (file stem) to write.
    out
        Write the scenario file here instead of ``priors_dir/scenarios/<name>.toml``.
    lag
        Lower and upper month of the uniform lag of agent behind chatbot adoption.
    draws, tune, chains, target_accept
        NUTS settings; chains run one after another. At the default 0.95 target
        acceptance rate one seed in a few gave a divergence, hence 0.99.
    seed
        Seed of the sampler and of the lag and level draws.
    overwrite
        Replace an existing scenario file.

    Raises
    ------
    InputError
        On bad data, options or priors, or an existing file without ``overwrite``.
    FitError
        When the fit fails its convergence checks; nothing is written then.
    """
    from forecast.priors import default_priors_dir

    check_sampler_options(draws, tune, chains, target_accept)
    if not 0 <= lag[0] <= lag[1]:
        raise InputError(
            "lag range must satisfy 0 <= low <= high",
            key="--lag-low, --lag-high",
            value=list(lag),
            fix="Pass for example --lag-low 18 --lag-high 24",
        )
    priors_dir = Path(priors_dir) if priors_dir is not None else default_priors_dir()
    parent = load_scenario(extends, priors_dir)
    destination = Path(out) if out is not None else priors_dir / "scenarios" / f"{name}.toml"
    if destination.exists() and not overwrite:
        raise InputError(
            "scenario file already exists",
            file=destination,
            fix="Pass --overwrite to replace it, or --name to write another scenario",
        )
    announcements = read_announcements(data)

    tree = sample_model(
        adoption_model(announcements),
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
    )
    diagnostics = fit_diagnostics(tree, FIT_PARAMETERS)
    check_fit(diagnostics, "ChatGPT adoption curve")

    posterior = {
        key: tree["posterior"][key].values.reshape(-1) for key in (*FIT_PARAMETERS, "ceiling")
    }
    size = len(posterior["rate"])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    lag_draws = rng.uniform(lag[0], lag[1], size)
    level_draws = parent.priors["agent_users_reference"].ppf(rng.uniform(size=size))
    market = agent_market_draws(
        posterior, level_draws, lag_draws, parent.settings.market_reference_month
    )

    intervals = {
        key: (float(np.quantile(market[key], 0.05)), float(np.quantile(market[key], 0.95)))
        for key in MARKET_PRIORS
    }
    correlations = rank_correlations(market)
    years = year_table(posterior, market["scale"], lag_draws)
    verdict = plan_verdict(posterior, market["scale"], lag_draws, years)
    fit = fit_summary(posterior, diagnostics)
    text = scenario_text(
        announcements=announcements,
        extends=extends,
        lag=lag,
        seed=seed,
        diagnostics=diagnostics,
        fit=fit,
        years=years,
        verdict=verdict,
        intervals=intervals,
        correlations=correlations,
    )
    write_text_atomically(destination, text)
    return MarketCalibration(
        path=destination,
        data=announcements,
        diagnostics=diagnostics,
        fit_table=fit,
        year_table=years,
        intervals=intervals,
        correlations=correlations,
        verdict=verdict,
    )


def rank_correlations(market: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Return the Spearman rank correlations between the three market priors' draws."""
    from scipy import stats

    pairs = {}
    for i, first in enumerate(MARKET_PRIORS):
        for second in MARKET_PRIORS[i + 1 :]:
            rho = stats.spearmanr(market[first], market[second]).statistic
            pairs[(first, second)] = round(float(rho), 2)
    return pairs


def fit_summary(posterior: dict[str, np.ndarray], diagnostics: FitDiagnostics) -> pd.DataFrame:
    """Posterior p5/p50/p95 of the curve's parameters with R-hat and bulk ESS."""
    rows = []
    for key in (*FIT_PARAMETERS, "ceiling"):
        values = posterior[key]
        row = {
            "parameter": key,
            "p5": float(np.quantile(values, 0.05)),
            "p50": float(np.quantile(values, 0.50)),
            "p95": float(np.quantile(values, 0.95)),
        }
        if key in diagnostics.table.index:
            row["r_hat"] = float(diagnostics.table.loc[key, "r_hat"])
            row["ess_bulk"] = float(diagnostics.table.loc[key, "ess_bulk"])
        rows.append(row)
    return pd.DataFrame(rows)


UNITS = {
    "level": "M weekly users in mid-June 2025",
    "headroom": "ceiling / level - 1",
    "rate": "1/month",
    "noise": "log-sd of an announcement beyond rounding",
    "ceiling": "M weekly users",
}


def scenario_text(
    *,
    announcements: Announcements,
    extends: str,
    lag: tuple[float, float],
    seed: int,
    diagnostics: FitDiagnostics,
    fit: pd.DataFrame,
    years: pd.DataFrame,
    verdict: str,
    intervals: dict[str, tuple[float, float]],
    correlations: dict[tuple[str, str], float],
) -> str:
    """Render the calibrated scenario as TOML with the fit described in its header."""
    import textwrap

    header = [
        "Agent market calibrated on the chatbot adoption curve by `forecast calibrate market`.",
        "",
        f"Data: {announcements.path.name}, SHA-256 {announcements.sha256}",
        f"      {len(announcements.users)} announcements, {announcements.dates[0]} to "
        f"{announcements.dates[-1]}",
        "Model: logistic weekly users, each announcement rounded down to its leading digit's",
        "       unit after a lognormal error; agent users = scale x the same curve lagged "
        f"{lag[0]:g}-{lag[1]:g} months",
        f"NUTS (PyMC), seed {seed}: {diagnostics.describe()}",
        "",
        "Posterior of the chatbot curve (p5 / p50 / p95, R-hat, bulk ESS):",
    ]
    for row in fit.itertuples(index=False):
        line = f"  {row.parameter:<9} {row.p5:10.4g} {row.p50:10.4g} {row.p95:10.4g}"
        if not pd.isna(getattr(row, "r_hat", math.nan)):
            line += f"   R-hat {row.r_hat:.3f}, ESS {row.ess_bulk:.0f}"
        header.append(line + f"   ({UNITS[row.parameter]})")
    header += ["", "Agent users in June against the plan (millions, p5 / p50 / p95):"]
    for row in years.itertuples(index=False):
        header.append(
            f"  {row.month}  plan {row.plan_low / 1e6:g}-{row.plan_high / 1e6:g}   calibrated "
            f"{row.p5 / 1e6:.3g} / {row.p50 / 1e6:.3g} / {row.p95 / 1e6:.3g}   "
            f"in plan range {row.p_in_plan_range:.1%}"
        )
    header += ["", *textwrap.wrap(verdict, width=88)]

    source = (
        "Fit to OpenAI's announced ChatGPT weekly users "
        f"({announcements.dates[0][:4]}-{announcements.dates[-1][:4]}), lagged "
        f"{lag[0]:g}-{lag[1]:g} months and scaled to the {extends} scenario's June level"
    )
    lines = ["# " + line if line else "#" for line in header]
    lines += [
        "",
        f'description = "Agent market fitted to the ChatGPT curve, lagged {lag[0]:g}-{lag[1]:g}'
        ' months"',
        f'extends = "{extends}"',
    ]
    for key in MARKET_PRIORS:
        low, high = intervals[key]
        lines += [
            "",
            f"[priors.{key}]",
            f"interval = [{low:.6g}, {high:.6g}]",
            f'source = "{source}"',
        ]
    lines += [
        "",
        "# Rank correlations of the fitted draws, so the three priors move together as",
        "# the posterior does (a Gaussian copula approximates the joint posterior).",
        "[correlations]",
    ]
    for (first, second), rho in correlations.items():
        if abs(rho) >= 0.05:
            lines.append(f'"{first}:{second}" = {rho:.2f}')
    return "\n".join(lines) + "\n"


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
