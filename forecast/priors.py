"""Priors files: parse, validate and resolve scenarios.

A priors folder contains ``base.toml`` (settings and every prior the model needs) and
``scenarios/<name>.toml`` files that override only what differs. Each prior is one
TOML table::

    [priors.spot_price]
    interval = [0.23, 0.45]          # 90% interval: 5th and 95th percentiles
    unit = "$/VM-hour"
    description = "Spot price of one r6a.4xlarge VM"
    source = "Company 2026 hosting-economics plan ($0.23/h); public spot estimates ($0.30-0.45/h)"

Families (``dist``):

- ``lognormal`` (default for a positive quantity given as ``interval``): the 5th and
  95th percentiles are the interval ends. The lower end must be above zero.
- ``beta`` (default for a probability given as ``interval``): fitted so its 5th and
  95th percentiles are the interval ends, both inside (0, 1).
- ``normal``: for quantities that may be negative; mean and sd from the interval.
- ``uniform``: ``range = [low, high]``.
- ``fixed``: ``value = x``, a constant.

Rank correlations between priors go in a ``[correlations]`` table, one
``"first:second" = rho`` line per pair, with Spearman's rho strictly between -1
and 1 (see :mod:`forecast.copula`). A scenario's declaration of a pair replaces
the base file's. Pairs that are not listed are independent.

Files are parsed with :mod:`tomllib` only; nothing in them is evaluated.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.errors import InputError, did_you_mean
from forecast.parameters import PARAMETERS, Kind

if TYPE_CHECKING:
    import numpy as np

# numpy is imported inside the functions that use it, so `forecast scenarios`,
# which only reads TOML, starts without it.

Z95 = 1.6448536269514722  # standard normal 95th percentile
PRIOR_KEYS = {"dist", "interval", "range", "value", "unit", "description", "source", "set_by"}
DISTRIBUTIONS = ("lognormal", "beta", "normal", "uniform", "fixed")
SCENARIO_KEYS = {"description", "extends", "priors", "settings", "correlations"}
BASE_KEYS = {"description", "settings", "priors", "correlations"}
SETTINGS_KEYS = {
    "start",
    "end",
    "ladder_thresholds",
    "reference_price",
    "team_reference_users",
    "market_reference_month",
    "hours_per_month",
}


@dataclass(frozen=True)
class Prior:
    """One model input: its distribution, unit, meaning and source."""

    name: str
    dist: str
    params: tuple[float, ...]
    unit: str
    description: str
    source: str
    file: str
    set_by: str = "plan"

    @property
    def is_fixed(self) -> bool:
        return self.dist == "fixed"

    @cached_property
    def _scipy(self) -> Any:
        from scipy import stats

        a, *rest = self.params
        if self.dist == "lognormal":
            mu, sigma = self.params
            return stats.lognorm(s=sigma, scale=math.exp(mu))
        if self.dist == "normal":
            return stats.norm(loc=a, scale=rest[0])
        if self.dist == "uniform":
            return stats.uniform(loc=a, scale=rest[0] - a)
        if self.dist == "beta":
            return stats.beta(a, rest[0])
        return None

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Map uniform draws in (0, 1) to values of this prior (inverse CDF)."""
        import numpy as np

        if self.is_fixed:
            return np.full(np.shape(u), self.params[0])
        return self._scipy.ppf(u)

    def cdf(self, x: float) -> float:
        """Return the probability that the prior is at or below ``x``."""
        if self.is_fixed:
            return 1.0 if x >= self.params[0] else 0.0
        return float(self._scipy.cdf(x))

    def quantile(self, q: float) -> float:
        """Return the prior's ``q`` quantile (a fixed prior returns its value)."""
        import numpy as np

        return float(self.ppf(np.asarray(q)))

    def describe(self) -> str:
        """Describe the distribution in words, for tables and reports."""
        if self.dist == "lognormal":
            return f"lognormal(mu={self.params[0]:.4g}, sigma={self.params[1]:.4g})"
        if self.dist == "normal":
            return f"normal(mean={self.params[0]:.4g}, sd={self.params[1]:.4g})"
        if self.dist == "uniform":
            return f"uniform({self.params[0]:.4g}, {self.params[1]:.4g})"
        if self.dist == "beta":
            return f"beta(alpha={self.params[0]:.4g}, beta={self.params[1]:.4g})"
        return f"fixed at {self.params[0]:.6g}"


@dataclass(frozen=True)
class Settings:
    """Horizon and policy constants read from the ``[settings]`` table."""

    start: str
    end: str
    ladder_thresholds: tuple[float, ...]
    reference_price: float
    team_reference_users: float
    market_reference_month: str
    hours_per_month: float

    @property
    def months(self) -> list[str]:
        """Return the horizon's months as ``YYYY-MM`` strings, with no gaps."""
        return month_range(self.start, self.end)


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario: every prior, the settings and the files they came from."""

    name: str
    description: str
    priors: dict[str, Prior]
    settings: Settings
    files: tuple[Path, ...]
    correlations: tuple[tuple[str, str, float], ...] = field(default=())

    def file_hashes(self) -> dict[str, str]:
        """Return the SHA-256 of each priors file the scenario was built from."""
        return {str(path): sha256_file(path) for path in self.files}


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def month_range(start: str, end: str) -> list[str]:
    """List the months from ``start`` to ``end`` inclusive, both ``YYYY-MM``."""
    y0, m0 = _parse_month(start)
    y1, m1 = _parse_month(end)
    first, last = y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1)]


def _parse_month(text: str) -> tuple[int, int]:
    year, _, month = str(text).partition("-")
    if not (year.isdigit() and month.isdigit() and len(year) == 4 and 1 <= int(month) <= 12):
        raise ValueError(text)
    return int(year), int(month)


def default_priors_dir() -> Path:
    """Return ``priors/`` in the working folder, else the copy shipped with the package.

    An installed wheel ships the priors as ``forecast/default_priors``; an editable
    install finds them in the repository beside the package.
    """
    for folder in (
        Path.cwd() / "priors",
        Path(__file__).parent / "default_priors",
        Path(__file__).parent.parent / "priors",
    ):
        if (folder / "base.toml").is_file():
            return folder
    return Path(__file__).parent / "default_priors"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into an :class:`InputError`."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError("file not found", file=path, fix="Check the path") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(
            f"invalid TOML: {error}", file=path, fix="Fix the syntax at that line"
        ) from None
    except UnicodeDecodeError:
        raise InputError("file is not UTF-8 text", file=path, fix="Save it as UTF-8") from None


def list_scenarios(priors_dir: Path) -> dict[str, str]:
    """Return each scenario name in ``priors_dir`` with its one-line description."""
    found = {}
    for path in sorted((Path(priors_dir) / "scenarios").glob("*.toml")):
        table = read_toml(path)
        found[path.stem] = str(table.get("description", "")).strip()
    return found


def load_scenario(name: str, priors_dir: Path | None = None) -> Scenario:
    """Resolve a scenario: the base priors, then each ``extends`` layer, then its own.

    Raises
    ------
    InputError
        On an unknown scenario, a malformed file, an unknown or missing prior, an
        invalid interval, a cycle of ``extends``, invalid settings, or rank
        correlations that are not positive semi-definite together.
    """
    priors_dir = Path(priors_dir) if priors_dir is not None else default_priors_dir()
    base_path = priors_dir / "base.toml"
    if not base_path.is_file():
        raise InputError(
            "base priors file not found",
            file=base_path,
            fix="Pass --priors with a folder that contains base.toml and scenarios/",
        )
    chain = _scenario_chain(name, priors_dir)

    base = read_toml(base_path)
    _check_keys(base, BASE_KEYS, base_path, "")
    raw_priors = _priors_table(base, base_path)
    priors = {key: _parse_prior(key, table, base_path) for key, table in raw_priors.items()}
    settings_table = dict(_table(base, "settings", base_path))
    settings_origin = dict.fromkeys(settings_table, base_path)
    correlations = list(_parse_correlations(base, base_path))
    correlation_files = [base_path] if correlations else []

    description = ""
    for path, table in chain:
        description = str(table.get("description", "")).strip()
        for key, override in _priors_table(table, path).items():
            if key not in priors:
                raise InputError(
                    "override of a prior that the base file does not define",
                    file=path,
                    key=f"priors.{key}",
                    fix=did_you_mean(key, priors),
                )
            priors[key] = _parse_prior(key, override, path, inherit=priors[key])
        overrides = _table(table, "settings", path)
        settings_table.update(overrides)
        settings_origin.update(dict.fromkeys(overrides, path))
        declared = _parse_correlations(table, path)
        correlations.extend(declared)
        correlation_files.extend([path] if declared else [])

    missing = sorted(set(PARAMETERS) - set(priors))
    if missing:
        raise InputError(
            "priors missing from the base file",
            file=base_path,
            key=", ".join(missing),
            fix="Add a [priors.NAME] table for each",
        )
    settings = _parse_settings(settings_table, settings_origin, base_path)
    files = (base_path, *(path for path, _ in chain))
    # Inconsistent rank correlations fail here, before any sampling.
    from forecast.copula import check_positive_semidefinite

    check_positive_semidefinite(list(PARAMETERS), correlations, files=correlation_files)
    return Scenario(
        name=name,
        description=description,
        priors=priors,
        settings=settings,
        files=files,
        correlations=tuple(correlations),
    )


def _scenario_chain(name: str, priors_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Follow ``extends`` from ``name`` back to the base, returning the files base first."""
    if not (priors_dir / "scenarios").is_dir():
        raise InputError(
            "scenarios folder not found",
            file=priors_dir / "scenarios",
            fix="Pass --priors with a folder that contains base.toml and scenarios/",
        )
    available = list_scenarios(priors_dir)
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in available:
            fix = did_you_mean(current, available) + "; run `forecast scenarios` to list them"
            if seen:
                raise InputError(
                    f"extends an unknown scenario {current!r}",
                    file=priors_dir / "scenarios" / f"{seen[-1]}.toml",
                    key="extends",
                    fix=fix,
                )
            raise InputError(
                f"unknown scenario {current!r}", file=priors_dir / "scenarios", fix=fix
            )
        if current in seen:
            raise InputError(
                "scenario extends itself through " + " -> ".join([*seen, current]),
                file=priors_dir / "scenarios" / f"{seen[-1]}.toml",
                key="extends",
                value=current,
                fix="Remove the cycle: a scenario extends another scenario or none",
            )
        seen.append(current)
        path = priors_dir / "scenarios" / f"{current}.toml"
        table = read_toml(path)
        if not table:
            raise InputError(
                "scenario file is empty",
                file=path,
                fix='Add at least description = "..."',
            )
        _check_keys(table, SCENARIO_KEYS, path, "")
        if not isinstance(table.get("description", ""), str) or not table.get("description"):
            raise InputError(
                "scenario needs a one-line description",
                file=path,
                key="description",
                fix='Add description = "..." at the top of the file',
            )
        parent = table.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise InputError(
                "extends must be a scenario name",
                file=path,
                key="extends",
                value=parent,
                fix='Write extends = "base" or leave it out',
            )
        chain.append((path, table))
        current = parent
    return list(reversed(chain))


def _table(document: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise InputError(
            f"[{key}] must be a table", file=path, key=key, value=value, fix=f"Write [{key}]"
        )
    return value


def _priors_table(document: dict[str, Any], path: Path) -> dict[str, Any]:
    table = _table(document, "priors", path)
    for key in table:
        if key not in PARAMETERS:
            raise InputError(
                "unknown prior",
                file=path,
                key=f"priors.{key}",
                fix=did_you_mean(key, PARAMETERS),
            )
    return table


def _check_keys(table: dict[str, Any], allowed: set[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(
                "unknown key", file=path, key=prefix + key, fix=did_you_mean(key, allowed)
            )


def _number(value: Any, path: Path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("expected a number", file=path, key=key, value=value, fix="Write a number")
    if not math.isfinite(value):
        raise InputError(
            "value must be finite", file=path, key=key, value=value, fix="Write a finite number"
        )
    return float(value)


def _pair(value: Any, path: Path, key: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(
            "expected two numbers [low, high]",
            file=path,
            key=key,
            value=value,
            fix="Write the 90% interval as [low, high]",
        )
    return _number(value[0], path, key), _number(value[1], path, key)


def _parse_prior(name: str, table: Any, path: Path, inherit: Prior | None = None) -> Prior:
    """Build one :class:`Prior` from its TOML table, checking family and parameters.

    An override (``inherit`` given) replaces the distribution and must give a new
    ``source``; unit and description carry over unless given.
    """
    key = f"priors.{name}"
    if not isinstance(table, dict):
        raise InputError(
            "prior must be a table", file=path, key=key, value=table, fix=f"Write [{key}]"
        )
    _check_keys(table, PRIOR_KEYS, path, key + ".")
    kind: Kind = PARAMETERS[name]
    for text_key in ("unit", "description", "source", "set_by"):
        if text_key in table and not isinstance(table[text_key], str):
            raise InputError(
                "expected text",
                file=path,
                key=f"{key}.{text_key}",
                value=table[text_key],
                fix="Quote the value",
            )
    source = table.get("source", "").strip()
    if not source:
        raise InputError(
            "prior has no source",
            file=path,
            key=f"{key}.source",
            fix='Add source = "..." naming where the figure comes from',
        )
    if inherit is None and not table.get("description", "").strip():
        raise InputError(
            "prior has no description",
            file=path,
            key=f"{key}.description",
            fix='Add description = "..." saying what the quantity is',
        )
    given = [k for k in ("interval", "range", "value") if k in table]
    if inherit is not None and not given and "dist" not in table:
        # An override that changes only its wording keeps the inherited distribution.
        return replace(
            inherit,
            unit=table.get("unit", inherit.unit),
            description=table.get("description", inherit.description),
            source=source,
            file=str(path),
            set_by=table.get("set_by", inherit.set_by),
        )
    if len(given) != 1:
        raise InputError(
            "give exactly one of interval, range or value",
            file=path,
            key=key,
            value=given or None,
            fix="Use interval = [p5, p95], range = [low, high] for uniform, or value = x",
        )
    dist = table.get("dist")
    if dist is None:
        dist = {"interval": kind.interval_family, "range": "uniform", "value": "fixed"}[given[0]]
    if dist not in DISTRIBUTIONS:
        raise InputError(
            "unknown distribution",
            file=path,
            key=f"{key}.dist",
            value=dist,
            fix=did_you_mean(str(dist), DISTRIBUTIONS),
        )
    params = _family_params(dist, given[0], table, kind, path, key)
    set_by = table.get("set_by", inherit.set_by if inherit else "plan")
    if set_by not in ("plan", "user"):
        raise InputError(
            "set_by must be 'plan' or 'user'",
            file=path,
            key=f"{key}.set_by",
            value=set_by,
            fix='Write set_by = "user" for figures the user must supply',
        )
    return Prior(
        name=name,
        dist=dist,
        params=params,
        unit=table.get("unit", inherit.unit if inherit else kind.unit),
        description=table.get("description", inherit.description if inherit else ""),
        source=source,
        file=str(path),
        set_by=set_by,
    )


def _family_params(
    dist: str, given: str, table: dict[str, Any], kind: Kind, path: Path, key: str
) -> tuple[float, ...]:
    expected = {"fixed": "value", "uniform": "range"}.get(dist, "interval")
    if given != expected:
        raise InputError(
            f"{dist} prior needs {expected}, not {given}",
            file=path,
            key=key,
            fix=f"Write {expected} = ... for dist = {dist!r}",
        )
    if dist == "fixed":
        value = _number(table["value"], path, f"{key}.value")
        _check_support(kind, value, value, path, f"{key}.value")
        return (value,)
    low, high = _pair(table[given], path, f"{key}.{given}")
    if low == high:
        raise InputError(
            "interval is empty: the low end equals the high end",
            file=path,
            key=f"{key}.{given}",
            value=[low, high],
            fix=f"Write value = {low:g} for a fixed prior, or widen the interval",
        )
    if low > high:
        raise InputError(
            "interval is reversed: the low end must be below the high end",
            file=path,
            key=f"{key}.{given}",
            value=[low, high],
            fix=f"Write [{high:g}, {low:g}] if the ends were swapped",
        )
    if dist == "lognormal":
        if low <= 0:
            raise InputError(
                "a lognormal interval needs a lower end above zero",
                file=path,
                key=f"{key}.interval",
                value=[low, high],
                fix='Raise the lower end above zero, or set dist = "normal" if the '
                "quantity can be zero or negative",
            )
        _check_support(kind, low, high, path, f"{key}.interval")
        mu = (math.log(low) + math.log(high)) / 2
        sigma = (math.log(high) - math.log(low)) / (2 * Z95)
        return (mu, sigma)
    if dist == "normal":
        _check_support(kind, low, high, path, f"{key}.interval")
        if kind.support != "real":
            raise InputError(
                f"a normal prior can go below zero, but this quantity is {kind.support}",
                file=path,
                key=f"{key}.dist",
                value=dist,
                fix="Use an interval without dist (lognormal or beta)",
            )
        return ((low + high) / 2, (high - low) / (2 * Z95))
    if dist == "uniform":
        _check_support(kind, low, high, path, f"{key}.range")
        return (low, high)
    # beta
    if not 0 < low < high < 1:
        raise InputError(
            "a beta interval must lie strictly between 0 and 1",
            file=path,
            key=f"{key}.interval",
            value=[low, high],
            fix="Write the probability as a fraction, for example 0.03 for 3%",
        )
    return beta_from_interval(low, high)


def _check_support(kind: Kind, low: float, high: float, path: Path, key: str) -> None:
    if kind.support == "positive" and low <= 0:
        raise InputError(
            "this quantity must be above zero",
            file=path,
            key=key,
            value=low,
            fix="Use a value above zero",
        )
    if kind.support == "nonnegative" and low < 0:
        raise InputError(
            "this quantity cannot be negative", file=path, key=key, value=low, fix="Use 0 or more"
        )
    if kind.support == "probability" and not (0 <= low and high <= 1):
        raise InputError(
            "a probability must lie between 0 and 1",
            file=path,
            key=key,
            value=[low, high] if low != high else low,
            fix="Write it as a fraction, for example 0.05 for 5%",
        )


def beta_from_interval(low: float, high: float) -> tuple[float, float]:
    """Find beta parameters whose 5th and 95th percentiles are ``low`` and ``high``.

    Solved on the log-parameters with :func:`scipy.optimize.least_squares`, started
    from a logit-normal approximation, so the result is deterministic.
    """
    import numpy as np
    from scipy import optimize, special, stats

    logit_low, logit_high = special.logit(low), special.logit(high)
    centre = special.expit((logit_low + logit_high) / 2)
    spread = (logit_high - logit_low) / (2 * Z95)
    concentration = max(1 / (spread**2 * centre * (1 - centre)), 0.1)
    start = np.log([centre * concentration, (1 - centre) * concentration])

    def misfit(log_ab: np.ndarray) -> np.ndarray:
        a, b = np.exp(log_ab)
        q05, q95 = stats.beta.ppf([0.05, 0.95], a, b)
        return np.array([special.logit(q05) - logit_low, special.logit(q95) - logit_high])

    result = optimize.least_squares(misfit, start, xtol=1e-12, ftol=1e-12)
    a, b = np.exp(result.x)
    return float(a), float(b)


def _parse_settings(table: dict[str, Any], origin: dict[str, Path], base_path: Path) -> Settings:
    """Check the ``[settings]`` table; errors name the file each key came from."""
    for key in table:
        path = origin.get(key, base_path)
        _check_keys({key: None}, SETTINGS_KEYS, path, "settings.")
    missing = sorted(SETTINGS_KEYS - set(table))
    if missing:
        raise InputError(
            "settings missing",
            file=base_path,
            key=", ".join(f"settings.{m}" for m in missing),
            fix="Add them to the [settings] table of base.toml",
        )

    def path_of(key: str) -> Path:
        return origin.get(key, base_path)

    for month_key in ("start", "end", "market_reference_month"):
        try:
            _parse_month(table[month_key])
        except ValueError:
            raise InputError(
                "expected a month as YYYY-MM",
                file=path_of(month_key),
                key=f"settings.{month_key}",
                value=table[month_key],
                fix='Write for example "2026-01"',
            ) from None
    if _parse_month(table["end"]) < _parse_month(table["start"]):
        raise InputError(
            "horizon ends before it starts",
            file=path_of("end"),
            key="settings.end",
            value=table["end"],
            fix=f"Set end to {table['start']} or later",
        )
    thresholds = table["ladder_thresholds"]
    if not isinstance(thresholds, list) or len(thresholds) != 3:
        raise InputError(
            "expected three user counts where the price ladder steps down",
            file=path_of("ladder_thresholds"),
            key="settings.ladder_thresholds",
            value=thresholds,
            fix="Write for example [5000, 50000, 500000]",
        )
    steps = tuple(
        _number(t, path_of("ladder_thresholds"), "settings.ladder_thresholds") for t in thresholds
    )
    if not all(a < b for a, b in zip((0.0, *steps), steps, strict=False)):
        raise InputError(
            "ladder thresholds must be positive and increasing",
            file=path_of("ladder_thresholds"),
            key="settings.ladder_thresholds",
            value=list(steps),
            fix="Sort them from smallest to largest",
        )
    numbers = {}
    for number_key in ("reference_price", "team_reference_users", "hours_per_month"):
        numbers[number_key] = _number(
            table[number_key], path_of(number_key), f"settings.{number_key}"
        )
        if numbers[number_key] <= 0:
            raise InputError(
                "must be above zero",
                file=path_of(number_key),
                key=f"settings.{number_key}",
                value=numbers[number_key],
                fix="Use a positive number",
            )
    return Settings(
        start=table["start"],
        end=table["end"],
        ladder_thresholds=steps,
        market_reference_month=table["market_reference_month"],
        **numbers,
    )


def _parse_correlations(document: dict[str, Any], path: Path) -> list[tuple[str, str, float]]:
    """Read ``[correlations]`` as ``"a:b" = rho`` rank correlations between priors."""
    table = _table(document, "correlations", path)
    pairs = []
    for pair_key, rho in table.items():
        first, sep, second = pair_key.partition(":")
        for name in (first, second):
            if not sep or name not in PARAMETERS:
                raise InputError(
                    "correlation key must be two prior names joined by ':'",
                    file=path,
                    key=f"correlations.{pair_key}",
                    fix=did_you_mean(name or pair_key, PARAMETERS),
                )
        value = _number(rho, path, f"correlations.{pair_key}")
        if not -1 < value < 1 or first == second:
            raise InputError(
                "rank correlation must lie strictly between -1 and 1, between two priors",
                file=path,
                key=f"correlations.{pair_key}",
                value=value,
                fix="Use a value such as 0.3",
            )
        pairs.append((first, second, value))
    return pairs


def with_prior(scenario: Scenario, prior: Prior) -> Scenario:
    """Return a copy of ``scenario`` with one prior replaced."""
    return replace(scenario, priors={**scenario.priors, prior.name: prior})
