r"""Rank correlations between priors through a Gaussian copula.

Each prior keeps its own marginal distribution: the copula only changes which
uniform each path gets. The declared Spearman correlation :math:`\rho_s` becomes
the normal correlation :math:`2 \sin(\pi \rho_s / 6)`, the exact relation for a
Gaussian copula.

Priors are grouped into the connected components of the declared pairs, and each
component is correlated on its own with a Cholesky factor. So two priors that no
chain of declared pairs links never share a random stream, and the first prior of
each component (in :data:`forecast.parameters.PARAMETERS` order) keeps its own
uniforms unchanged. scipy and numpy offer no copula sampler that takes uniforms
from keyed streams, so the few lines here do it by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from forecast.errors import InputError

Pair = tuple[str, str, float]

PSD_TOLERANCE = 1e-10
"""Smallest eigenvalue still accepted as zero (rounding in the sine transform)."""


def latest_pairs(pairs: Iterable[Pair]) -> dict[frozenset[str], Pair]:
    """Keep the last declaration of each pair in either order, so a scenario overrides its base."""
    latest: dict[frozenset[str], Pair] = {}
    for first, second, rank in pairs:
        latest[frozenset((first, second))] = (first, second, rank)
    return latest


def correlation_matrix(names: list[str], pairs: Iterable[Pair]) -> np.ndarray:
    """Build the normal-scale correlation matrix from declared rank correlations."""
    index = {name: i for i, name in enumerate(names)}
    matrix = np.eye(len(names))
    for first, second, rank in pairs:
        value = 2 * np.sin(np.pi * rank / 6)
        matrix[index[first], index[second]] = matrix[index[second], index[first]] = value
    return matrix


def components(names: list[str], pairs: Iterable[Pair]) -> list[list[int]]:
    """Group column indices linked by declared pairs, each group sorted, singletons left out."""
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = {name: i for i, name in enumerate(names)}
    linked: set[int] = set()
    for first, second, _ in pairs:
        a, b = index[first], index[second]
        linked.update((a, b))
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in sorted(linked):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def factor(matrix: np.ndarray) -> np.ndarray:
    """Return ``L`` with ``L @ L.T == matrix`` for a positive semi-definite matrix.

    ``L`` is the lower-triangular Cholesky factor when the matrix is positive
    definite. For a singular matrix it is the eigen-decomposition's square root,
    which is not triangular.
    """
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(matrix)
        return vectors * np.sqrt(np.clip(values, 0, None))


def check_positive_semidefinite(
    names: list[str], pairs: Iterable[Pair], *, files: Iterable[Path] = ()
) -> None:
    """Reject declared rank correlations that no joint distribution can have.

    ``files`` are the priors files the pairs were read from, named in the message.

    Raises
    ------
    InputError
        If the normal-scale correlation matrix of a group of linked priors is not
        positive semi-definite; the message names that group's pairs.
    """
    declared = list(latest_pairs(pairs).values())
    matrix = correlation_matrix(names, declared)
    for group in components(names, declared):
        smallest = np.linalg.eigvalsh(matrix[np.ix_(group, group)]).min()
        if smallest < -PSD_TOLERANCE:
            members = {names[i] for i in group}
            described = ", ".join(
                f"{a}:{b} = {rho:g}" for a, b, rho in declared if a in members and b in members
            )
            raise InputError(
                "rank correlations are inconsistent: their matrix is not positive "
                f"semi-definite (smallest eigenvalue {smallest:.3g})",
                file=", ".join(str(path) for path in files) or None,
                key="correlations",
                value=described,
                fix="Weaken one of these correlations or flip its sign",
            )


def gaussian_copula(uniforms: np.ndarray, names: list[str], pairs: Iterable[Pair]) -> np.ndarray:
    """Return ``uniforms`` with the declared rank correlations between columns.

    Parameters
    ----------
    uniforms
        ``(paths, len(names))`` independent uniforms strictly inside (0, 1).
    names
        Prior name of each column.
    pairs
        ``(first, second, spearman)`` declarations; a later one replaces an earlier
        one of the same pair.

    Raises
    ------
    InputError
        If the correlations cannot hold together (see
        :func:`check_positive_semidefinite`).
    """
    from scipy import special

    check_positive_semidefinite(names, pairs)
    declared = list(latest_pairs(pairs).values())
    matrix = correlation_matrix(names, declared)
    out = uniforms.copy()
    for group in components(names, declared):
        lower = factor(matrix[np.ix_(group, group)])
        normals = special.ndtri(uniforms[:, group])
        out[:, group] = special.ndtr(normals @ lower.T)
    return out


def correlation_notice(pairs: Iterable[Pair]) -> str | None:
    """Return a warning for variance-based sensitivity when priors are correlated, else None.

    Sobol indices assume independent inputs, so with correlated priors they
    attribute shared variance to whichever input the sample matrix varies.
    """
    declared = [pair for pair in latest_pairs(pairs).values() if pair[2] != 0]
    if not declared:
        return None
    described = ", ".join(f"{a}:{b} = {rho:g}" for a, b, rho in declared)
    return (
        "Priors are rank-correlated "
        f"({described}); Sobol indices assume independent inputs and treat these as "
        "independent, so read the indices of these priors with care."
    )
