"""The plan's unit-economics tables as the priors reproduce them, and checks of its arithmetic.

Every cell is a P10-P90 range over prior draws pushed through the same cost and
price equations the forecast uses (:mod:`forecast.blocks`). The plan's own
stated figures are shown beside them for comparison only; they are not inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast import blocks
from forecast.errors import InputError
from forecast.parameters import PARAMETERS
from forecast.priors import Scenario, load_scenario
from forecast.simulate import block_uniforms, correlate_uniforms, prior_values

# Figures as the company's 2026 hosting-economics plan states them, for comparison.
PLAN_COST_AT_100K = {
    "compute": "~$1.50",
    "storage": "~$0.80",
    "egress": "~$0.50",
    "relay": "~$0.50",
    "infrastructure subtotal": "~$3.30",
    "engineering": "$0.80-1.60",
    "support": "$0.40-0.80",
    "overhead subtotal": "$1.20-2.40",
    "total": "$4.50-5.70",
}
PLAN_SCALING = {
    1_000: ("$25-40+", "negative"),
    10_000: ("$8-12", "~0-20%"),
    50_000: ("$5-7", "~30-50%"),
    100_000: ("$4.50-5.70", "~43-55%"),
    1_000_000: ("$2-4", "~60-80%"),
}
# Rung name, the plan's scale, a representative user count, the plan's cost, price and margin.
PLAN_LADDER = (
    ("bootstrap", "<5K", 2_000, (20, 25), (25, 30), (0.10, 0.20)),
    ("break-even", "5-50K (plan: 5-20K)", 10_000, (10, 15), (20, 25), (0.40, 0.50)),
    ("mature", "50K+", 100_000, (5, 7), (15, 20), (0.60, 0.70)),
    ("commodity", "500K+", 1_000_000, (2, 4), (10, 15), (0.75, 0.85)),
)
LADDER_PRICES = ("price_bootstrap", "price_breakeven", "price_mature", "price_commodity")


def parse_user_counts(text: str) -> list[int]:
    """Parse ``"1000,10000"`` into positive user counts."""
    counts = []
    for part in text.split(","):
        try:
            value = int(float(part))
        except ValueError:
            raise InputError(
                "expected comma-separated user counts",
                key="--users",
                value=text,
                fix="Write for example --users 1000,10000,100000",
            ) from None
        if value <= 0:
            raise InputError(
                "user counts must be above zero",
                key="--users",
                value=part,
                fix="Write for example --users 1000,10000,100000",
            )
        counts.append(value)
    return counts


def prior_draws(scenario: Scenario, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``draws`` values of every prior from the run's keyed streams, correlated as declared."""
    if draws < 1:
        raise InputError(
            "number of draws must be positive",
            key="--draws",
            value=draws,
            fix="Pass for example --draws 20000",
        )
    uniforms = block_uniforms(seed, 0, list(PARAMETERS), draws)
    return prior_values(scenario, correlate_uniforms(scenario, uniforms))


def span(values: np.ndarray, fmt: str = "${:,.2f}") -> str:
    """Format the P10-P90 range of ``values``."""
    low, high = np.quantile(values, [0.10, 0.90])
    return f"{fmt.format(low)} to {fmt.format(high)}"


def percent_span(values: np.ndarray) -> str:
    """Format the P10-P90 range of a share as percentages."""
    low, high = np.quantile(values, [0.10, 0.90])
    return f"{low:.0%} to {high:.0%}"


def cost_per_user(
    p: dict[str, np.ndarray], users: float, scenario: Scenario
) -> dict[str, np.ndarray]:
    """Monthly cost components per hosted user at a fixed scale ($/user-month)."""
    settings = scenario.settings
    hosting = blocks.hosting_costs(p, users, settings.hours_per_month)
    team = blocks.team_costs(p, users, settings.team_reference_users)
    per_user = {name: value / users for name, value in {**hosting, **team}.items()}
    per_user["infrastructure subtotal"] = sum(per_user[k] for k in hosting)
    per_user["overhead subtotal"] = per_user["engineering"] + per_user["support"]
    per_user["total"] = per_user["infrastructure subtotal"] + per_user["overhead subtotal"]
    return per_user


def economics_tables(
    scenario_name: str,
    *,
    users: list[int],
    price: float,
    draws: int = 20_000,
    seed: int = 0,
    priors_dir: Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Build the breakdown, scaling, ladder and arithmetic-check tables."""
    scenario = load_scenario(scenario_name, priors_dir)
    if not np.isfinite(price) or price <= 0:
        raise InputError(
            "price must be above zero",
            key="--price",
            value=price,
            fix="Pass for example --price 10",
        )
    p = prior_draws(scenario, draws, seed)
    reference = scenario.settings.team_reference_users

    at_reference = cost_per_user(p, reference, scenario)
    breakdown = pd.DataFrame(
        {
            "component": list(PLAN_COST_AT_100K),
            "plan states": list(PLAN_COST_AT_100K.values()),
            "priors P10-P90": [span(at_reference[k]) for k in PLAN_COST_AT_100K],
        }
    )

    scaling_rows = []
    for count in users:
        total = cost_per_user(p, count, scenario)["total"]
        plan_cost, plan_margin = PLAN_SCALING.get(count, ("", ""))
        scaling_rows.append(
            {
                "hosted users": f"{count:,}",
                "cost/user P10-P90": span(total),
                f"margin at ${price:g}": percent_span(1 - total / price),
                "plan cost": plan_cost,
                "plan margin": plan_margin,
                "check $2 + $950/sqrt(users)": f"${2 + 950 / np.sqrt(count):,.2f}",
            }
        )
    scaling = pd.DataFrame(scaling_rows)

    ladder_rows = []
    for (rung, scale, count, plan_cost, plan_price, plan_margin), name in zip(
        PLAN_LADDER, LADDER_PRICES, strict=True
    ):
        total = cost_per_user(p, count, scenario)["total"]
        ladder_rows.append(
            {
                "rung": rung,
                "scale": scale,
                "price P10-P90": span(p[name]),
                "cost at users": f"{count:,}",
                "cost P10-P90": span(total),
                "margin P10-P90": percent_span(1 - total / p[name]),
                "plan cost / price / margin": f"${plan_cost[0]}-{plan_cost[1]} / "
                f"${plan_price[0]}-{plan_price[1]} / {plan_margin[0]:.0%}-{plan_margin[1]:.0%}",
            }
        )
    ladder = pd.DataFrame(ladder_rows)
    return {
        f"Cost per hosted user at {reference:,.0f} users ($/user-month; colocation "
        "applies on paths whose crossover is below that)": breakdown,
        f"Cost per hosted user and margin at ${price:g}/month by scale": scaling,
        "Price ladder": ladder,
        "Where the plan's stated figures disagree with its own inputs": plan_checks(p),
        "Churn, conversion, unit-cost trend and colocation move (P10-P90)": dynamics_table(
            p, scenario
        ),
        "Rank correlations between priors (declared and in these draws)": correlations_table(
            p, scenario
        ),
    }


def correlations_table(p: dict[str, np.ndarray], scenario: Scenario) -> pd.DataFrame:
    """List each declared rank correlation beside the Spearman correlation of the draws.

    The standard error is the square root of the Fieller-corrected sampling variance
    ``1.06 (1 - rho^2)^2 / (n - 1)`` of a Spearman correlation (the formula of
    psychmeta's ``var_error_spearman``, after Bishara and Hittner 2017).
    """
    from scipy import stats

    from forecast.copula import latest_pairs

    rows = []
    for first, second, declared in latest_pairs(scenario.correlations).values():
        sampled = float(stats.spearmanr(p[first], p[second]).statistic)
        error = (1 - sampled**2) * np.sqrt(1.06 / (len(p[first]) - 1))
        rows.append(
            {
                "pair": f"{first}:{second}",
                "declared": f"{declared:+.2f}",
                "in draws": f"{sampled:+.3f} +/- {error:.3f}",
            }
        )
    return pd.DataFrame(rows, columns=["pair", "declared", "in draws"])


EXPERIENCE_VOLUMES = (1e6, 1e7)
"""Cumulative hosted user-months at which the experience-curve multiplier is shown."""


def dynamics_table(p: dict[str, np.ndarray], scenario: Scenario) -> pd.DataFrame:
    """Show the priors of the user flows and unit-cost trends with what they imply monthly."""
    monthly_conversion = blocks.monthly_share(p["self_hosted_conversion_annual"])
    monthly_memory = blocks.monthly_rate(p["memory_price_factor_annual"] - 1)
    horizon = len(scenario.settings.months)
    index_at_end = blocks.memory_price_index(p, horizon - 1)
    rows = [
        ("monthly_churn", percent_span(p["monthly_churn"]), "share of tenured users a month"),
        (
            "first_month_churn",
            percent_span(p["first_month_churn"]),
            "share of last month's new users",
        ),
        (
            "self_hosted_conversion_annual",
            percent_span(p["self_hosted_conversion_annual"]),
            f"{span(100 * monthly_conversion, '{:.2f}%')} of self-hosted users a month "
            "(compounded: 1 - (1 - a)^(1/12))",
        ),
        (
            "memory_price_factor_annual",
            span(p["memory_price_factor_annual"], "{:.2f}x"),
            f"{span(100 * monthly_memory, '{:+.2f}%')} a month (compounded); compute "
            f"index {span(index_at_end, '{:.2f}x')} in the last month of the horizon",
        ),
    ]
    for volume in EXPERIENCE_VOLUMES:
        multiplier = blocks.experience_multiplier(p, volume)
        rows.append(
            (
                "infra_learning_rate",
                span(p["infra_learning_rate"], "{:.3f}"),
                f"compute and storage cost x {span(multiplier, '{:.2f}')} after "
                f"{volume:,.0f} hosted user-months",
            )
        )
    rows += [
        (
            "learning_reference_user_months",
            span(p["learning_reference_user_months"], "{:,.0f}"),
            "experience behind the plan's unit costs",
        ),
        (
            "colo_migration_cost",
            span(p["colo_migration_cost"], "${:,.0f}"),
            "paid once, in the month a path's users reach its crossover",
        ),
        (
            "colo_ramp_months",
            span(p["colo_ramp_months"], "{:.1f}"),
            "months until all compute and storage runs on colocation",
        ),
    ]
    return pd.DataFrame(
        {
            "prior": [name for name, _, _ in rows],
            "P10-P90": [value for _, value, _ in rows],
            "meaning": [meaning for _, _, meaning in rows],
            "source": [scenario.priors[name].source for name, _, _ in rows],
        }
    )


def ladder_margin_range(
    cost: tuple[float, float], price: tuple[float, float]
) -> tuple[float, float]:
    """Margin range implied by a cost range and a price range: (1 - c/p) at the extremes."""
    return 1 - cost[1] / price[0], 1 - cost[0] / price[1]


def plan_checks(p: dict[str, np.ndarray]) -> pd.DataFrame:
    """List the plan's figures that its own inputs do not reproduce, with the arithmetic."""
    rows = []
    per_instance = 0.23 * 730 / 80
    rows.append(
        {
            "item": "compute per instance (r6a.4xlarge)",
            "plan states": "~$1.50 a month",
            "arithmetic": f"$0.23/h x 730 h / 80 instances = ${per_instance:.2f}; "
            f"$1.50 needs {0.23 * 730 / 1.5:.0f} instances or ${1.5 * 80 / 730:.2f}/h",
        }
    )
    rows.append(
        {
            "item": "compute per instance (r6a.8xlarge)",
            "plan states": "~$1.50 a month",
            "arithmetic": f"$0.45/h x 730 h / 160 instances = ${0.45 * 730 / 160:.2f}",
        }
    )
    for rung, _scale, _count, cost, price, stated in PLAN_LADDER:
        low, high = ladder_margin_range(cost, price)
        if low < stated[0] or high > stated[1]:
            rows.append(
                {
                    "item": f"{rung} margin",
                    "plan states": f"{stated[0]:.0%}-{stated[1]:.0%}",
                    "arithmetic": f"cost ${cost[0]}-{cost[1]} at price ${price[0]}-{price[1]} "
                    f"gives {low:.0%}-{high:.0%}",
                }
            )
    rows.append(
        {
            "item": "annual revenue column",
            "plan states": "2026: $300K-600K 'annual rev at 50% margin'",
            "arithmetic": "5K-10K users x $10 x 12 = $600K-1.2M revenue; "
            "$300K-600K is the profit at 50% margin",
        }
    )
    ratio = (1 - p["paid_share"]) / p["paid_share"]
    subsidy = ratio * p["self_hosted_cost_per_user"]
    rows.append(
        {
            "item": "self-hosted tier cost",
            "plan states": "negative margin but negligible",
            "arithmetic": f"{span(ratio, '{:,.0f}')} self-hosted users per paying user "
            f"x $0.50-1 = {span(subsidy)} per hosted user-month",
        }
    )
    return pd.DataFrame(rows)
