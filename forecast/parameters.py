"""The model's inputs: every prior a priors file must define, with its support and unit.

The model equations in :mod:`forecast.blocks` read exactly these names; the priors
loader rejects any other name and reports any that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """Support, unit and default interval family of one model input."""

    support: str  # "positive", "nonnegative", "probability" or "real"
    unit: str
    group: str

    @property
    def interval_family(self) -> str:
        """Return the family an ``interval`` without ``dist`` becomes."""
        return "beta" if self.support == "probability" else "lognormal"


def _positive(unit: str, group: str) -> Kind:
    return Kind("positive", unit, group)


def _probability(group: str) -> Kind:
    return Kind("probability", "share", group)


PARAMETERS: dict[str, Kind] = {
    # Agent market: a logistic curve through the reference month's level.
    "agent_users_reference": _positive("users", "market"),
    "market_growth_rate": _positive("1/month", "market"),
    "market_ceiling": _positive("users", "market"),
    "segment_share": _probability("market"),
    # Demand for the hosted tier and the free self-hosted tier.
    "capture_rate": _probability("demand"),
    "price_elasticity": _positive("elasticity", "demand"),
    "signup_rate": _probability("demand"),
    "monthly_churn": _probability("demand"),
    "first_month_churn": _probability("demand"),
    "self_hosted_conversion_annual": Kind("probability", "share/year", "demand"),
    "paid_share": _probability("demand"),
    "initial_hosted_users": Kind("nonnegative", "users", "demand"),
    # Price ladder by hosted scale.
    "price_bootstrap": _positive("$/user-month", "pricing"),
    "price_breakeven": _positive("$/user-month", "pricing"),
    "price_mature": _positive("$/user-month", "pricing"),
    "price_commodity": _positive("$/user-month", "pricing"),
    # Infrastructure primitives.
    "spot_price": _positive("$/VM-hour", "infrastructure"),
    "vm_memory_gb": _positive("GB", "infrastructure"),
    "usable_memory_share": _probability("infrastructure"),
    "memory_at_rest_gb": _positive("GB", "infrastructure"),
    "memory_at_peak_gb": _positive("GB", "infrastructure"),
    "peak_share": _probability("infrastructure"),
    "minimum_vms": _positive("VMs", "infrastructure"),
    "ebs_gb_per_user": _positive("GB", "infrastructure"),
    "ebs_price_per_gb": _positive("$/GB-month", "infrastructure"),
    "egress_gb_per_user": _positive("GB/month", "infrastructure"),
    "egress_price_per_gb": _positive("$/GB", "infrastructure"),
    "relay_cost_per_user": _positive("$/user-month", "infrastructure"),
    "control_plane_monthly": _positive("$/month", "infrastructure"),
    "self_hosted_cost_per_user": _positive("$/user-month", "infrastructure"),
    "colo_crossover_users": _positive("users", "infrastructure"),
    "colo_cost_factor": _positive("times", "infrastructure"),
    "colo_migration_cost": _positive("$", "infrastructure"),
    "colo_ramp_months": _positive("months", "infrastructure"),
    # Unit cost over time: an experience curve and a memory price index.
    "infra_learning_rate": Kind("probability", "cost ratio per doubling", "infrastructure"),
    "learning_reference_user_months": _positive("user-months", "infrastructure"),
    "memory_price_factor_annual": _positive("times/year", "infrastructure"),
    # Team overhead.
    "engineering_cost_reference": _positive("$/month", "team"),
    "support_cost_reference": _positive("$/month", "team"),
    "team_scale_exponent": _positive("exponent", "team"),
    "team_cost_minimum": _positive("$/month", "team"),
    # Cash.
    "starting_cash": Kind("real", "$", "cash"),
}
