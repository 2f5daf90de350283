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

Demand, sign-ups and churn (a stock fed by sign-ups, drained by churn)
    :math:`D_t = A_t \cdot s \cdot \kappa \cdot (P_t / P_{ref})^{-\varepsilon}` for
    capture :math:`\kappa` at the reference price and elasticity
    :math:`\varepsilon`; :math:`H_t = H_{t-1}(1 - \delta) + \sigma \max(D_t - H_{t-1}
    (1 - \delta), 0)` for churn :math:`\delta` and sign-up rate :math:`\sigma`.
    Self-hosted users are :math:`H_t (1 - \pi) / \pi` for paid share :math:`\pi`.

Infrastructure from primitives
    Instances per VM are the usable VM memory over the memory one instance
    occupies on average (rest, plus the peak share of the way to its peak).
    Compute is the spot price over the hours of a month per instance, with a
    minimum fleet; storage is EBS GB times price. Above the colocation crossover
    compute and storage cost ``1 / colo_cost_factor`` as much. Egress and relay
    are per user.

Team
    :math:`\max(T_{min}, T_{ref} (H_t / H_{ref})^\beta)`: it grows with users but
    less than in proportion for :math:`\beta < 1`.
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
    "churned_users",
    "self_hosted_users",
    "price",
    "mrr",
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


@dataclass(frozen=True)
class Ops:
    """Array operations of one backend: numpy or PyTensor."""

    exp: Any
    where: Any
    maximum: Any
    stack: Any
    cumsum: Any
    scan: Any = None


NUMPY = Ops(
    exp=np.exp,
    where=np.where,
    maximum=np.maximum,
    stack=lambda arrays: np.stack(arrays, axis=-1),
    cumsum=lambda x: np.cumsum(x, axis=-1),
)


def pytensor_ops() -> Ops:
    """Return the PyTensor backend (imported lazily, it is slow to import)."""
    import pytensor.tensor as pt

    return Ops(
        exp=pt.exp,
        where=pt.switch,
        maximum=pt.maximum,
        stack=lambda arrays: pt.stack(arrays, axis=-1),
        cumsum=lambda x: pt.cumsum(x, axis=-1),
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


def agent_users(p: Mapping[str, Array], t: Array, ops: Ops = NUMPY) -> Array:
    """Agent users at month offset ``t`` from the reference month, logistic curve."""
    ceiling = p["market_ceiling"]
    level = p["agent_users_reference"]
    return ceiling / (1 + (ceiling / level - 1) * ops.exp(-p["market_growth_rate"] * t))


def instances_per_vm(p: Mapping[str, Array]) -> Array:
    """Instances that fit on one VM by memory, at the average memory per instance."""
    rest = p["memory_at_rest_gb"]
    average = rest + p["peak_share"] * (p["memory_at_peak_gb"] - rest)
    return p["vm_memory_gb"] * p["usable_memory_share"] / average


def colo_divisor(p: Mapping[str, Array], hosted: Array, ops: Ops = NUMPY) -> Array:
    """Return how many times cheaper compute and storage are at this scale (1 on cloud)."""
    return ops.where(hosted >= p["colo_crossover_users"], p["colo_cost_factor"], 1.0)


def marginal_cost(p: Mapping[str, Array], hosted: Array, hours: float, ops: Ops = NUMPY) -> Array:
    """Infrastructure cost of one more hosted user a month at scale ``hosted``."""
    compute = p["spot_price"] * hours / instances_per_vm(p)
    storage = p["ebs_gb_per_user"] * p["ebs_price_per_gb"]
    per_user = p["egress_gb_per_user"] * p["egress_price_per_gb"] + p["relay_cost_per_user"]
    return (compute + storage) / colo_divisor(p, hosted, ops) + per_user


def hosting_costs(
    p: Mapping[str, Array], hosted: Array, hours: float, ops: Ops = NUMPY
) -> dict[str, Array]:
    """Monthly infrastructure cost of serving ``hosted`` users, by component ($)."""
    divisor = colo_divisor(p, hosted, ops)
    vms = ops.maximum(hosted / instances_per_vm(p), p["minimum_vms"])
    return {
        "compute": p["spot_price"] * hours * vms / divisor,
        "storage": hosted * p["ebs_gb_per_user"] * p["ebs_price_per_gb"] / divisor,
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


def month_step(
    p: Mapping[str, Array], settings: Settings, ops: Ops, agents: Array, hosted: Array
) -> dict[str, Array]:
    """Advance one month from last month's hosted users; return every monthly metric."""
    hours = settings.hours_per_month
    paid = p["paid_share"]
    price = ops.maximum(
        ladder_price(p, hosted, settings.ladder_thresholds, ops),
        marginal_cost(p, hosted, hours, ops),
    )
    relative_price = price / settings.reference_price
    demand = (
        agents * p["segment_share"] * p["capture_rate"] * relative_price ** (-p["price_elasticity"])
    )
    churned = hosted * p["monthly_churn"]
    retained = hosted - churned
    new = p["signup_rate"] * ops.maximum(demand - retained, 0.0)
    hosted = retained + new

    self_hosted = hosted * (1 - paid) / paid
    hosting = sum(hosting_costs(p, hosted, hours, ops).values())
    self_hosted_cost = self_hosted * p["self_hosted_cost_per_user"]
    infra = hosting + self_hosted_cost
    team = sum(team_costs(p, hosted, settings.team_reference_users, ops).values())
    total = infra + team
    mrr = hosted * price
    profit = mrr - total
    return {
        "agent_users": agents,
        "demand": demand,
        "hosted_users": hosted,
        "new_hosted_users": new,
        "churned_users": churned,
        "self_hosted_users": self_hosted,
        "price": price,
        "mrr": mrr,
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


STEP_METRICS = tuple(name for name in METRICS if name != "cash")


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
    offset = months_between(settings.market_reference_month, settings.start)
    steps = np.arange(len(settings.months), dtype=float)[:, None]
    agents = agent_users(p, offset + steps, ops)  # (months, paths)
    hosted = p["initial_hosted_users"] + 0 * p["capture_rate"]

    if ops.scan is None:
        rows: dict[str, list[Array]] = {name: [] for name in STEP_METRICS}
        for month in range(len(settings.months)):
            values = month_step(p, settings, ops, agents[month], hosted)
            hosted = values["hosted_users"]
            for name in STEP_METRICS:
                rows[name].append(values[name])
        stacked = [ops.stack(rows[name]) for name in STEP_METRICS]
    else:
        # The recursion runs as one scan so the graph does not grow with the horizon.
        # Parameters go in as non-sequences: a closure over random variables would make
        # the scan draw them anew.
        names = list(p)

        def one_month(agents_now: Array, hosted_before: Array, *params: Array) -> list[Array]:
            inner = dict(zip(names, params, strict=True))
            values = month_step(inner, settings, ops, agents_now, hosted_before)
            return [values["hosted_users"]] + [
                values[name] for name in STEP_METRICS if name != "hosted_users"
            ]

        others = [name for name in STEP_METRICS if name != "hosted_users"]
        results = ops.scan(
            one_month,
            sequences=[agents],
            outputs_info=[hosted] + [None] * len(others),
            non_sequences=[p[name] for name in names],
        )
        by_name = dict(zip(["hosted_users", *others], results, strict=True))
        stacked = [by_name[name].T for name in STEP_METRICS]

    out = dict(zip(STEP_METRICS, stacked, strict=True))
    out["cash"] = p["starting_cash"][..., None] + ops.cumsum(out["operating_profit"])
    return {name: out[name] for name in METRICS}
