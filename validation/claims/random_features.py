"""Claim `relu-random-features-rate`: the Monte Carlo random-feature kernel converges to the
arc-cosine closed form at rate $m^{-1/2}$."""

from __future__ import annotations

import numpy as np
import sympy as sp

from limitlab import numerics, theory

from .._claim import Claim, ClaimSize, FigureSpec, Measurement, Prediction
from .._criteria import SlopeMatches
from .._registry import register
from .._statistics import root_mean_square


def _exact(rho):
    rho = sp.Rational(str(rho))
    return theory.relu_feature_kernel(rho), theory.relu_feature_product_variance(rho)


def _inputs(params):
    d, rho = params["d"], params["rho"]
    x = np.zeros(d)
    x[0] = 1.0
    y = np.zeros(d)
    y[0], y[1] = rho, np.sqrt(1.0 - rho**2)
    return x, y


def predict(params) -> Prediction:
    _, variance = _exact(params["rho"])
    m = np.asarray(params["widths"], dtype=float)
    var = float(variance)
    dense = np.geomspace(m[0], m[-1], 100)
    return Prediction(
        x=m,
        y=np.sqrt(var / m),
        exponent=-0.5,
        curve=(dense, np.sqrt(var / dense)),
        expression=f"sqrt(({sp.simplify(variance)}) / m)",
    )


def simulate(params, context) -> Measurement:
    kernel, _ = _exact(params["rho"])
    exact = float(kernel)
    x, y = _inputs(params)
    columns = []
    for m in params["widths"]:
        def one(key, m=m):
            return numerics.random_feature_kernel(x, y, m, key=key) - exact

        columns.append(context.ensemble(one, tag=f"m{m}", config=dict(params, width=m)))
    samples = np.stack(columns, axis=1)
    return Measurement.from_samples(params["widths"], samples, root_mean_square)


claim = register(
    Claim(
        name="relu-random-features-rate",
        statement=(
            "The width-m ReLU random-feature kernel converges to the arc-cosine kernel with "
            "RMS error sqrt(Var/m): log-log slope -1/2 in m."
        ),
        reference=(
            "Cho & Saul, NeurIPS 2009 (arc-cosine kernels) [literature]; Rahimi & Recht, "
            "NeurIPS 2007 (random features) [literature]; variance via J_2 [derived]"
        ),
        predict=predict,
        simulate=simulate,
        criterion=SlopeMatches(level=0.997),
        sizes={
            "quick": ClaimSize(seeds=400, params={"d": 5, "rho": 0.5, "widths": [16, 64, 256, 1024]}),
            "full": ClaimSize(
                seeds=4000,
                params={"d": 5, "rho": 0.5, "widths": [16, 64, 256, 1024, 4096, 16384]},
            ),
        },
        figure=FigureSpec(
            xlabel="number of random features m",
            ylabel="RMS error of k_m(x, y)",
            logx=True,
            logy=True,
        ),
    )
)
