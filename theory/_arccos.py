"""Arc-cosine kernels: the closed-form random-feature kernels of threshold-power units.

Cho & Saul (NeurIPS 2009) [literature]: for $w\\sim\\mathcal N(0,I)$ and the angle $\\theta$
between $x$ and $y$,

$$\\mathbb E\\big[\\Theta(w\\cdot x)\\Theta(w\\cdot y)(w\\cdot x)^p(w\\cdot y)^p\\big]
  =\\frac{\\lVert x\\rVert^p\\lVert y\\rVert^p}{2\\pi}J_p(\\theta),$$

with $J_0=\\pi-\\theta$, $J_1=\\sin\\theta+(\\pi-\\theta)\\cos\\theta$ and
$J_2=3\\sin\\theta\\cos\\theta+(\\pi-\\theta)(1+2\\cos^2\\theta)$.  With $p=1$ this is the ReLU
random-feature (NNGP) kernel; $p=2$ gives the fourth moment that sets the Monte Carlo error.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "arccos_j",
    "relu_feature_kernel",
    "relu_feature_product_variance",
]

theta = sp.Symbol("theta", real=True)


def arccos_j(order: int, angle: sp.Expr = theta) -> sp.Expr:
    """The angular factor $J_p(\\theta)$ of the arc-cosine kernel of order $p\\in\\{0,1,2\\}$.

    **Arguments:**

    - `order`: $p$, one of 0, 1, 2.
    - `angle`: $\\theta\\in[0,\\pi]$, a number or sympy expression (default: the symbol `theta`).

    **Returns:** $J_p(\\theta)$ as an exact sympy expression.
    """
    angle = sp.sympify(angle)
    if order == 0:
        return sp.pi - angle
    if order == 1:
        return sp.sin(angle) + (sp.pi - angle) * sp.cos(angle)
    if order == 2:
        return 3 * sp.sin(angle) * sp.cos(angle) + (sp.pi - angle) * (1 + 2 * sp.cos(angle) ** 2)
    raise ValueError(f"order must be 0, 1 or 2, got {order!r}")


def _angle(rho: sp.Expr) -> sp.Expr:
    rho = sp.sympify(rho)
    if rho.is_number and not (-1 <= rho <= 1):
        raise ValueError(f"rho (the cosine of the angle) must lie in [-1, 1], got {rho}")
    return sp.acos(rho)


def relu_feature_kernel(rho: sp.Expr, norm_x: sp.Expr = 1, norm_y: sp.Expr = 1) -> sp.Expr:
    """$k(x,y)=\\mathbb E_w[\\mathrm{relu}(w\\cdot x)\\,\\mathrm{relu}(w\\cdot y)]
    =\\frac{\\lVert x\\rVert\\lVert y\\rVert}{2\\pi}J_1(\\arccos\\rho)$ [literature].

    **Arguments:**

    - `rho`: cosine of the angle between $x$ and $y$, in $[-1,1]$.
    - `norm_x`, `norm_y`: $\\lVert x\\rVert$, $\\lVert y\\rVert$.

    **Returns:** the kernel value, exact in sympy.
    """
    return sp.sympify(norm_x) * norm_y * arccos_j(1, _angle(rho)) / (2 * sp.pi)


def relu_feature_product_variance(
    rho: sp.Expr, norm_x: sp.Expr = 1, norm_y: sp.Expr = 1
) -> sp.Expr:
    """Variance of one random feature product $\\mathrm{relu}(w\\cdot x)\\,\\mathrm{relu}(w\\cdot y)$.

    $\\operatorname{Var}=\\frac{\\lVert x\\rVert^2\\lVert y\\rVert^2}{2\\pi}J_2(\\theta)-k(x,y)^2$
    [derived from Cho & Saul].  The width-$m$ estimator
    $k_m=\\frac1m\\sum_{i\\le m}\\mathrm{relu}(w_i\\cdot x)\\mathrm{relu}(w_i\\cdot y)$ is unbiased with
    root-mean-square error $\\sqrt{\\operatorname{Var}/m}$, exactly, for every $m$.
    """
    angle = _angle(rho)
    second = sp.sympify(norm_x) ** 2 * norm_y**2 * arccos_j(2, angle) / (2 * sp.pi)
    return sp.simplify(second - relu_feature_kernel(rho, norm_x, norm_y) ** 2)
