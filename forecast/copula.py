"""Rank correlations between priors through a Gaussian copula.

Each prior keeps its own marginal distribution: the copula only reorders which
uniform each path gets. The declared Spearman correlation :math:`\\rho_s` becomes
the normal correlation :math:`2 \\sin(\\pi \\rho_s / 6)`, the exact relation for a
Gaussian copula. Priors without a declared correlation keep their own streams.
"""

from __future__ import annotations

import numpy as np

from forecast.errors import InputError


def correlation_matrix(names: list[str], pairs: list[tuple[str, str, float]] | tuple) -> np.ndarray:
    """Build the normal-scale correlation matrix from declared rank correlations."""
    index = {name: i for i, name in enumerate(names)}
    matrix = np.eye(len(names))
    for first, second, rank in pairs:
        value = 2 * np.sin(np.pi * rank / 6)
        matrix[index[first], index[second]] = matrix[index[second], index[first]] = value
    return matrix


def gaussian_copula(
    uniforms: np.ndarray, names: list[str], pairs: list[tuple[str, str, float]] | tuple
) -> np.ndarray:
    """Return ``uniforms`` with the declared rank correlations between columns.

    Raises
    ------
    InputError
        If the correlations cannot hold together (the matrix is not positive
        semi-definite); the message names the priors involved.
    """
    from scipy import special

    matrix = correlation_matrix(names, pairs)
    involved = sorted({names.index(a) for a, _, _ in pairs} | {names.index(b) for _, b, _ in pairs})
    sub = matrix[np.ix_(involved, involved)]
    eigenvalues = np.linalg.eigvalsh(sub)
    if eigenvalues.min() < -1e-10:
        described = ", ".join(f"{a}:{b} = {rho:g}" for a, b, rho in pairs)
        raise InputError(
            "rank correlations are inconsistent: the matrix is not positive semi-definite "
            f"(smallest eigenvalue {eigenvalues.min():.3g})",
            key="correlations",
            value=described,
            fix="Weaken one of these correlations",
        )
    # Eigen-decomposition rather than Cholesky, so a semi-definite matrix also works.
    values, vectors = np.linalg.eigh(sub)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    normals = special.ndtri(uniforms[:, involved])
    correlated = normals @ root.T
    out = uniforms.copy()
    out[:, involved] = special.ndtr(correlated)
    return out
