r"""Model equations, written once for numpy arrays and PyTensor tensors.

Every function takes an :class:`Ops` namespace so the same lines build the PyMC
graph (:mod:`forecast.model`) and compute hand-checkable values in numpy (tests,
``forecast economics``). Parameters are arrays of shape ``(paths,)``; monthly
outputs have shape ``(paths, months)``.

Agent market (logistic through the reference month's level :math:`a_0`)
    :math:`A_t = K / (1 + (K / a_0 - 1) e^{-r (t - t_0)})`, with ceiling :math:`K`,
    monthly rate :math:`r` and :math:`t_0` the reference month. The segment the
    hosted tier sells into is ``segment_share`` of it.

Price ladder (price follows the previous month's hosted scale :math:`H_{t-1}`)
    :math:`P_t = \max(\text{ladder}(H_{t-1}), c_{t-1})` where :math:`c` is the
    marginal infrastructure cost of one hosted user, so the price never falls
    below it.

Hosted users as a stock (sign-ups and conversions in, churn out)
    Users who joined last month (:math:`N_{t-1}`) churn at the first-month rate
    :math:`\delta_1`, the others at :math:`\delta`: churned :math:`C_t = N_{t-1}
    \delta_1 + (H_{t-1} - N_{t-1}) \delta`. A monthly share :math:`\gamma` of
    self-hosted users :math:`S_{t-1}` converts, where :math:`\gamma = 1 - (1 -
    \gamma_{year})^{1/12}` compounds the yearly share. Demand is
    :math:`D_t = A_t \cdot s \cdot \kappa \cdot (P_t / P_{ref})^{-\varepsilon}` for
    capture :math:`\kappa` at the reference price and elasticity
    :math:`\varepsilon`; sign-ups are :math:`\sigma \max(D_t - (H_{t-1} - C_t) -
    \gamma S_{t-1}, 0)`. So :math:`H_t = H_{t-1} - C_t + \text{sign-ups} +
    \text{conversions}` is exact on every path. Each paying sign-up brings
    :math:`(1 - \pi) / \pi` self-hosted users for paid share :math:`\pi`.

Infrastructure from primitives
    Instances per VM are the usable VM memory over the memory one instance
    occupies on average (rest, plus the peak share of the way to its peak).
    Compute is the spot price over the hours of a month per instance, with a
    minimum fleet; storage is EBS GB times price. Egress and relay are per user.

Unit cost over time
    Compute and storage follow Wright's law on each path's own cumulative hosted
    user-months :math:`U`: they are multiplied by :math:`((U_0 + U) / U_0)^{\log_2
    \lambda}` for learning rate :math:`\lambda` and reference volume :math:`U_0`.
    Compute is also multiplied by the memory price index :math:`f^{t/12}` for a
    yearly factor :math:`f` (monthly compounding).

Colocation
    Once a path's hosted users reach its crossover, that path starts moving to
    colocation: it pays the one-off migration cost that month, and the share of
    compute and storage on colocation rises by ``1 / colo_ramp_months`` a month
    to 1. Colocated compute and storage cost ``1 / colo_cost_factor`` as much.
    The move is never undone. The one-off cost counts in total cost and operating
    profit but not in infrastructure cost, so gross margin leaves it out.

Team
    :math:`\max(T_{min}, T_{ref} (H_t / H_{ref})^\beta)`: it grows with users but
    less than in proportion for :math:`\beta < 1`.

Net revenue retention (from month 13)
    Revenue this month from the users present 12 months earlier over their
    revenue then: survivors :math:`(H - N)(1 - \delta)^{12} + N (1 - \delta_1)(1 -
    \delta)^{11}` of that month's stock, times the price ratio. Every hosted user
    pays the current ladder price, so a step down the ladder lowers retention. The
    first 12 months have no such cohort and are NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.priors import Settings, _parse_month

Array = Any  # numpy.ndarray or pytensor TensorVariable

METRICS = (
    "agent_users",
    "demand",
    "hosted_users",
    "new_hosted_users",
    "signups",
    "converted_users",
    "churned_users",
    "self_hosted_users",
    "total_users",
    "net_revenue_retention",
    "price",
    "mrr",
    "cumulative_user_months",
    "experience_multiplier",
    "memory_price_index",
    "colo_months",
    "colo_share",
    "migration_cost",
    "hosting_cost",
    "self_hosted_cost",
    "infra_cost",
    "team_cost",
    "total_cost",
    "unit_cost",
    "operating_profit",
    "gross_margin",
    "operating_margin",
    "cash",
)
"""Monthly outputs of :func:`simulate_paths`, in the order they are stored."""

STATE = (
    "hosted_users",
    "new_hosted_users",
    "self_hosted_users",
    "cumulative_user_months",
    "colo_months",
)
"""Metrics that the next month starts from: the scan's recurrent state."""


@dataclass(frozen=True)
class Ops:
    """Array operations of one backend: numpy or PyTensor."""

    exp: Any
    log: Any
    where: Any
    maximum: Any
    minimum: Any
    stack: Any
    cumsum: Any
    concatenate: Any
    scan: Any = None


NUMPY = Ops(
    exp=np.exp,
    log=np.log,
    where=np.where,
    maximum=np.maximum,
    minimum=np.minimum,
    stack=lambda arrays: np.stack(arrays, axis=-1),
    cumsum=lambda x: np.cumsum(x, axis=-1),
    concatenate=lambda arrays: np.concatenate(arrays, axis=-1),
)


def pytensor_ops() -> Ops:
    """Return the PyTensor backend (imported lazily, it is slow to import)."""
    import pytensor.tensor as pt

    return Ops(
        exp=pt.exp,
        log=pt.log,
        where=pt.switch,
        maximum=pt.maximum,
        minimum=pt.minimum,
        stack=lambda arrays: pt.stack(arrays, axis=-1),
        cumsum=lambda x: pt.cumsum(x, axis=-1),
        concatenate=lambda arrays: pt.concatenate(arrays, axis=-1),
        scan=_pytensor_scan,
    )


def _pytensor_scan(fn: Any, sequences: list, outputs_info: list, non_sequences: list) -> list:
    import pytensor

    return pytensor.scan(
        fn,
        sequences=sequences,
        outputs_info=outputs_info,
        non_sequences=non_sequences,
        return_updates=False,
        return_list=True,
    )


def months_between(start: str, month: str) -> int:
    """Return how many months ``month`` lies after ``start`` (negative if before)."""
    y0, m0 = _parse_month(start)
    y1, m1 = _parse_month(month)
    return (y1 - y0) * 12 + (m1 - m0)


def monthly_rate(annual_rate: Array) -> Array:
    """Convert a yearly growth rate to the monthly rate that compounds to it.

    ``(1 + g) ** (1 / 12) - 1``: 12.68% a year is 1% a month, not 12.68% / 12.
    """
    return (1 + annual_rate) ** (1 / 12) - 1


def monthly_share(annual_share: Array) -> Array:
    """Convert the share of a group that moves within a year to a monthly share.

    ``1 - (1 - a) ** (1 / 12)``: applying the monthly share 12 times to what is
    left moves exactly ``a`` of the group in a year.
    """
    return 1 - (1 - annual_share) ** (1 / 12)


def agent_users(p: Mapping[str, Array], t: Array, ops: Ops = NUMPY) -> Array:
    """Agent users at month offset ``t`` from the reference month, logistic curve."""
    ceiling = p["market_ceiling"]
    level = p["agent_users_reference"]
    return ceiling / (1 + (ceiling / level - 1) * ops.exp(-p["market_growth_rate"] * t))


def memory_price_index(p: Mapping[str, Array], t: Array) -> Array:
    """Compute-price index ``t`` months after the start: the yearly factor compounded."""
    return p["memory_price_factor_annual"] ** (t / 12)


def experience_multiplier(p: Mapping[str, Array], user_months: Array, ops: Ops = NUMPY) -> Array:
    """Wright's-law multiplier of unit compute and storage cost after ``user_months``.

    Each doubling of the cumulative volume (reference volume plus the path's own
    hosted user-months) multiplies the cost by ``infra_learning_rate``.
    """
    reference = p["learning_reference_user_months"]
    exponent = ops.log(p["infra_learning_rate"]) / np.log(2.0)
    return ((reference + user_months) / reference) ** exponent


def instances_per_vm(p: Mapping[str, Array]) -> Array:
    """Instances that fit on one VM by memory, at the average memory per instance."""
    rest = p["memory_at_rest_gb"]
    average = rest + p["peak_share"] * (p["memory_at_peak_gb"] - rest)
    return p["vm_memory_gb"] * p["usable_memory_share"] / average


def steady_colo_share(p: Mapping[str, Array], hosted: Array, ops: Ops = NUMPY) -> Array:
    """Share of compute on colocation once a move has finished: 1 at or above the crossover."""
    return ops.where(hosted >= p["colo_crossover_users"], 1.0, 0.0)


def colo_multiplier(p: Mapping[str, Array], colo_share: Array) -> Array:
    """Multiplier of compute and storage cost with ``colo_share`` of it on colocation."""
    return 1 - colo_share + colo_share / p["colo_cost_factor"]


def marginal_cost(
    p: Mapping[str, Array],
    hosted: Array,
    hours: float,
    ops: Ops = NUMPY,
    *,
    colo_share: Array | None = None,
    experience: Array = 1.0,
    price_index: Array = 1.0,
) -> Array:
    """Infrastructure cost of one more hosted user a month at scale ``hosted``.

    Without ``colo_share`` the move to colocation is complete above the crossover.
    """
    if colo_share is None:
        colo_share = steady_colo_share(p, hosted, ops)
    compute = p["spot_price"] * hours / instances_per_vm(p) * price_index
    storage = p["ebs_gb_per_user"] * p["ebs_price_per_gb"]
    per_user = p["egress_gb_per_user"] * p["egress_price_per_gb"] + p["relay_cost_per_user"]
    return (compute + storage) * experience * colo_multiplier(p, colo_share) + per_user


def hosting_costs(
    p: Mapping[str, Array],
    hosted: Array,
    hours: float,
    ops: Ops = NUMPY,
    *,
    colo_share: Array | None = None,
    experience: Array = 1.0,
    price_index: Array = 1.0,
) -> dict[str, Array]:
    """Monthly infrastructure cost of serving ``hosted`` users, by component ($).

    Parameters
    ----------
    p
        Prior values, arrays of shape ``(paths,)`` or scalars.
    hosted
        Hosted users.
    hours
        Billed hours in a month.
    ops
        :data:`NUMPY` or :func:`pytensor_ops`.
    colo_share
        Share of compute and storage on colocation; default 1 at or above the
        crossover and 0 below it (a finished move).
    experience
        Wright's-law multiplier of compute and storage (1 at the plan's costs).
    price_index
        Memory price index applied to compute (1 at the start of the horizon).
    """
    if colo_share is None:
        colo_share = steady_colo_share(p, hosted, ops)
    factor = colo_multiplier(p, colo_share) * experience
    vms = ops.maximum(hosted / instances_per_vm(p), p["minimum_vms"])
    return {
        "compute": p["spot_price"] * hours * vms * price_index * factor,
        "storage": hosted * p["ebs_gb_per_user"] * p["ebs_price_per_gb"] * factor,
        "egress": hosted * p["egress_gb_per_user"] * p["egress_price_per_gb"],
        "relay": hosted * p["relay_cost_per_user"],
        "control_plane": p["control_plane_monthly"] + 0 * hosted,
    }


def team_costs(
    p: Mapping[str, Array], hosted: Array, reference_users: float, ops: Ops = NUMPY
) -> dict[str, Array]:
    """Monthly engineering and support cost at ``hosted`` users ($), with a floor."""
    scale = (hosted / reference_users) ** p["team_scale_exponent"]
    engineering = p["engineering_cost_reference"] * scale
    support = p["support_cost_reference"] * scale
    total = ops.maximum(engineering + support, p["team_cost_minimum"])
    # The floor is the whole team's; split it in the same proportion as above.
    lift = total / (engineering + support)
    return {"engineering": engineering * lift, "support": support * lift}


def ladder_price(
    p: Mapping[str, Array], hosted: Array, thresholds: tuple[float, ...], ops: Ops = NUMPY
) -> Array:
    """Price on the ladder for a hosted scale: bootstrap, break-even, mature, commodity."""
    low, middle, high = thresholds
    return ops.where(
        hosted < low,
        p["price_bootstrap"],
        ops.where(
            hosted < middle,
            p["price_breakeven"],
            ops.where(hosted < high, p["price_mature"], p["price_commodity"]),
        ),
    )


def initial_state(p: Mapping[str, Array]) -> dict[str, Array]:
    """State before the first month: the starting users count as past their first month."""
    hosted = p["initial_hosted_users"] + 0 * p["capture_rate"]
    zero = 0 * hosted
    return {
        "hosted_users": hosted,
        "new_hosted_users": zero,
        "self_hosted_users": hosted * (1 - p["paid_share"]) / p["paid_share"],
        "cumulative_user_months": zero,
        "colo_months": zero,
    }


def colo_move(
    p: Mapping[str, Array], hosted_before: Array, colo_months_before: Array, ops: Ops
) -> dict[str, Array]:
    """Advance the move to colocation one month: months on it, share moved, one-off cost."""
    moving = ops.where(
        colo_months_before > 0, 1.0, ops.where(hosted_before >= p["colo_crossover_users"], 1.0, 0.0)
    )
    colo_months = colo_months_before + moving
    return {
        "colo_months": colo_months,
        "colo_share": ops.minimum(colo_months / p["colo_ramp_months"], 1.0),
        "migration_cost": ops.where(colo_months_before > 0, 0.0, moving) * p["colo_migration_cost"],
    }


def user_flows(
    p: Mapping[str, Array], demand: Array, state: Mapping[str, Array], ops: Ops
) -> dict[str, Array]:
    """Move users for one month: churn, conversions from self-hosted, sign-ups."""
    hosted = state["hosted_users"]
    cohort = state["new_hosted_users"]
    self_hosted = state["self_hosted_users"]
    paid = p["paid_share"]

    churned = cohort * p["first_month_churn"] + (hosted - cohort) * p["monthly_churn"]
    retained = hosted - churned
    converted = self_hosted * monthly_share(p["self_hosted_conversion_annual"])
    signups = p["signup_rate"] * ops.maximum(demand - retained - converted, 0.0)
    new = signups + converted
    # NOTE: self-hosted users churn at the hosted tier's monthly rate; no public figure
    # for self-hosted churn was found.
    self_hosted_after = (
        self_hosted * (1 - p["monthly_churn"]) - converted + signups * (1 - paid) / paid
    )
    return {
        "hosted_users": retained + new,
        "new_hosted_users": new,
        "signups": signups,
        "converted_users": converted,
        "churned_users": churned,
        "self_hosted_users": self_hosted_after,
    }


def month_step(
    p: Mapping[str, Array],
    settings: Settings,
    ops: Ops,
    agents: Array,
    price_index: Array,
    state: Mapping[str, Array],
) -> dict[str, Array]:
    """Advance one month from last month's :data:`STATE`; return every monthly metric.

    The metrics named in :data:`STATE` are the state the next month starts from.
    """
    hours = settings.hours_per_month
    hosted_before = state["hosted_users"]
    experience = experience_multiplier(p, state["cumulative_user_months"], ops)
    colo = colo_move(p, hosted_before, state["colo_months"], ops)
    cost_terms = {
        "colo_share": colo["colo_share"],
        "experience": experience,
        "price_index": price_index,
    }
    price = ops.maximum(
        ladder_price(p, hosted_before, settings.ladder_thresholds, ops),
        marginal_cost(p, hosted_before, hours, ops, **cost_terms),
    )
    relative_price = price / settings.reference_price
    demand = (
        agents * p["segment_share"] * p["capture_rate"] * relative_price ** (-p["price_elasticity"])
    )
    flows = user_flows(p, demand, state, ops)
    hosted = flows["hosted_users"]
    self_hosted = flows["self_hosted_users"]

    hosting = sum(hosting_costs(p, hosted, hours, ops, **cost_terms).values())
    self_hosted_cost = self_hosted * p["self_hosted_cost_per_user"]
    infra = hosting + self_hosted_cost
    team = sum(team_costs(p, hosted, settings.team_reference_users, ops).values())
    total = infra + team + colo["migration_cost"]
    mrr = hosted * price
    profit = mrr - total
    return {
        **flows,
        **colo,
        "agent_users": agents,
        "demand": demand,
        "total_users": hosted + self_hosted,
        "price": price,
        "mrr": mrr,
        "cumulative_user_months": state["cumulative_user_months"] + hosted,
        "experience_multiplier": experience,
        "memory_price_index": price_index,
        "hosting_cost": hosting,
        "self_hosted_cost": self_hosted_cost,
        "infra_cost": infra,
        "team_cost": team,
        "total_cost": total,
        "unit_cost": total / hosted,
        "operating_profit": profit,
        "gross_margin": (mrr - infra) / mrr,
        "operating_margin": profit / mrr,
    }


SCANNED_METRICS = tuple(name for name in METRICS if name not in ("cash", "net_revenue_retention"))
"""Metrics that :func:`month_step` returns (the rest are computed from them)."""


def net_revenue_retention(
    p: Mapping[str, Array], out: Mapping[str, Array], months: int, ops: Ops = NUMPY
) -> Array:
    """Trailing 12-month net revenue retention per path and month, NaN for the first 12.

    Survivors of each month's stock 12 months later, at the later price, over that
    stock's revenue then (see the module notes).
    """
    nan = np.full((1, min(months, 12)), np.nan) + 0 * out["mrr"][:, :1]
    if months <= 12:
        return nan
    tenured = (1 - p["monthly_churn"])[:, None]
    first = (1 - p["first_month_churn"])[:, None]
    hosted = out["hosted_users"][:, :-12]
    cohort = out["new_hosted_users"][:, :-12]
    survivors = (hosted - cohort) * tenured**12 + cohort * first * tenured**11
    retained_revenue = survivors * out["price"][:, 12:]
    return ops.concatenate([nan, retained_revenue / out["mrr"][:, :-12]])


def simulate_paths(
    p: Mapping[str, Array], settings: Settings, ops: Ops = NUMPY
) -> dict[str, Array]:
    """Run the monthly model over the horizon for every path.

    Parameters
    ----------
    p
        One array of shape ``(paths,)`` per name in :data:`forecast.parameters.PARAMETERS`.
    settings
        Horizon, ladder thresholds, reference price and users, hours per month.
    ops
        :data:`NUMPY` or :func:`pytensor_ops`.

    Returns
    -------
    dict
        One array of shape ``(paths, months)`` per name in :data:`METRICS`.
    """
    months = len(settings.months)
    offset = months_between(settings.market_reference_month, settings.start)
    steps = np.arange(months, dtype=float)[:, None]
    agents = agent_users(p, offset + steps, ops)  # (months, paths)
    index = memory_price_index(p, steps)  # (months, paths)
    state = initial_state(p)

    if ops.scan is None:
        rows: dict[str, list[Array]] = {name: [] for name in SCANNED_METRICS}
        for month in range(months):
            values = month_step(p, settings, ops, agents[month], index[month], state)
            state = {name: values[name] for name in STATE}
            for name in SCANNED_METRICS:
                rows[name].append(values[name])
        stacked = [ops.stack(rows[name]) for name in SCANNED_METRICS]
        out = dict(zip(SCANNED_METRICS, stacked, strict=True))
    else:
        # The recursion runs as one scan so the graph does not grow with the horizon.
        # Parameters go in as non-sequences: a closure over random variables would make
        # the scan draw them anew. The recurrent state comes first in the outputs.
        names = list(p)
        others = [name for name in SCANNED_METRICS if name not in STATE]

        def one_month(agents_now: Array, index_now: Array, *carried: Array) -> list[Array]:
            state_now = dict(zip(STATE, carried[: len(STATE)], strict=True))
            inner = dict(zip(names, carried[len(STATE) :], strict=True))
            values = month_step(inner, settings, ops, agents_now, index_now, state_now)
            return [values[name] for name in (*STATE, *others)]

        results = ops.scan(
            one_month,
            sequences=[agents, index],
            outputs_info=[state[name] for name in STATE] + [None] * len(others),
            non_sequences=[p[name] for name in names],
        )
        by_name = dict(zip([*STATE, *others], results, strict=True))
        out = {name: by_name[name].T for name in SCANNED_METRICS}

    out["net_revenue_retention"] = net_revenue_retention(p, out, months, ops)
    out["cash"] = p["starting_cash"][..., None] + ops.cumsum(out["operating_profit"])
    return {name: out[name] for name in METRICS}
