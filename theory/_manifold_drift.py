"""Limiting drift of noisy gradient descent on the manifold of minimisers: the symbolic layer.

Setting (`manifold-drift.md` §2 [reconstructed]): noisy gradient descent
$w_{k+1}=w_k-\\alpha\\nabla_w\\hat L(w_k,\\eta_k)$ with $\\hat L(w,0)=L(w)$, i.i.d. noise
$\\eta_k$ with mean 0 and covariance $\\sigma^2C$, on a loss $L\\ge0$ whose zero set
$\\Gamma=\\{L=0\\}$ is a manifold with $\\mathrm{rank}\\,\\nabla^2L=D-\\dim\\Gamma$ on it.  With
$A(w)=\\partial_\\eta\\nabla_w\\hat L(w,0)$ ($D\\times m$) the mean step is gradient descent on
$L+\\sigma^2\\mathrm{Reg}$ and the fluctuation is $-\\alpha\\sigma A\\xi$ (§3 [derived]), where

$$\\mathrm{Reg}(w)=\\tfrac12\\,\\mathrm{tr}\\big(C\\,\\nabla^2_\\eta\\hat L(w,0)\\big)
\\qquad(=\\tfrac12\\Delta_\\eta\\hat L(w,0)\\text{ for }C=I).$$

Two limits (§4 [reconstructed; explicit forms derived]), with $P_T$ the orthogonal projection
onto $T_w\\Gamma=\\ker\\nabla^2L(w)$ and $k$ the step count:

- **non-degenerate** ($P_T\\nabla\\mathrm{Reg}\\not\\equiv0$ on $\\Gamma$), fast scale
  $\\tau=k\\alpha\\sigma^2$: $\\;dW/d\\tau=-P_T\\nabla\\mathrm{Reg}(W)$;
- **degenerate**, slow scale $\\tau=k\\alpha^2\\sigma^2$:
  $\\;dW=P_TAF\\,dB_\\tau+\\tfrac12\\partial^2\\Phi(W)[\\Sigma]\\,d\\tau$ with $\\Sigma=ACA^\\top$,
  $FF^\\top=C$ and $\\partial^2\\Phi$ the second derivative of the gradient-flow limit map (§7).

Everything here is exact sympy where the maths is exact; expressions are built from `Add`,
`Mul`, `Pow` and the loss's own functions, so `limitlab.numerics.lambdify` turns them into JAX
functions.  This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import fractions
import math
import numbers
import types
from collections.abc import Callable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp
from sympy.polys.domains import QQ, RR
from sympy.polys.polyerrors import CoercionFailed
from sympy.polys.rings import PolyElement, ring

from ._parsing import parse_expression

__all__ = [
    "NOISE_KINDS",
    "SAMPLE_COUNT",
    "DriftDerivation",
    "NoiseModel",
    "derive_drift",
    "lyapunov_inverse",
    "noise_model",
    "second_derivative_of_flow_map",
    "tangent_projection",
]

ALPHA = sp.Symbol("alpha", positive=True)
"""The default step-size symbol $\\alpha$."""

NOISE_KINDS: tuple[str, ...] = (
    "label",
    "perturbed",
    "dropconnect",
    "dropout",
    "minibatch",
    "sample_weights",
    "additive",
)
"""The noise kinds [`noise_model`][limitlab.theory.noise_model] accepts (reference §5); the
same names as [`limitlab.numerics.NOISE_KINDS`][limitlab.numerics.NOISE_KINDS] (which has no
`"dropout"` and adds `"none"`)."""

SAMPLE_COUNT = sp.Symbol("n", positive=True, integer=True)
"""The number of samples $n$ in the minibatch noise variance $(n-B)/B$ (substituted by
[`derive_drift`][limitlab.theory.derive_drift])."""

_DEFAULTS = {
    "sigma": sp.Symbol("sigma", positive=True),
    "p": sp.Symbol("p", positive=True),
    "batch": sp.Symbol("B", positive=True, integer=True),
}
_ALLOWED = {
    "label": ("sigma",),
    "perturbed": ("sigma",),
    "dropconnect": ("p",),
    "dropout": ("p", "units"),
    "minibatch": ("batch",),
    "sample_weights": ("sigma",),
    "additive": ("sigma",),
}
_NEEDS_MODEL = {
    "label": "it perturbs the labels y_j",
    "dropout": "it scales the units of the model output",
    "minibatch": "it reweights the per-sample losses",
    "sample_weights": "it reweights the per-sample losses",
}
_DESCRIPTIONS = {
    "label": "L_hat(w, eta) = 1/(2n) sum_j (f(x_j; w) - y_j - eta_j)^2, Cov eta = sigma^2 I_n",
    "perturbed": "L_hat(w, eta) = L(w + eta), Cov eta = sigma^2 I_D",
    "dropconnect": "L_hat(w, eta) = L(w * (1 + eta)) (inverted masks, eta_i = m_i/(1-p) - 1, "
    "m_i ~ Bernoulli(1-p)), Cov eta = sigma^2 I_D with sigma^2 = p/(1-p)",
    "dropout": "unit outputs h_u -> (1 + eta_u) h_u in f (inverted masks, as for DropConnect), "
    "Cov eta = sigma^2 I_U with sigma^2 = p/(1-p)",
    "minibatch": "L_hat(w, eta) = 1/n sum_j (1 + eta_j) l_j(w), l_j = (f(x_j; w) - y_j)^2/2, "
    "1 + eta_j = (n/B) [j in batch], batches of B samples drawn without replacement: "
    "Cov eta = sigma^2 C with sigma^2 = (n - B)/B and C = (n I - 1 1^T)/(n - 1)",
    "sample_weights": "L_hat(w, eta) = 1/n sum_j (1 + eta_j) l_j(w), l_j = (f(x_j; w) - y_j)^2/2, "
    "i.i.d. weights: Cov eta = sigma^2 I_n",
    "additive": "grad_w L_hat = grad L - eta, i.e. L_hat(w, eta) = L(w) - eta.w, "
    "Cov eta = sigma^2 I_D (SGLD at temperature T: sigma^2 = 2T/alpha)",
}

_MAX_SYMBOLIC_RANK = 4  # Laplace-expanded r x r inverses: r! terms (r = 5: ~6e4 operations)
_MAX_SYMBOLIC_SYLVESTER_RANK = 2
# An expression is handed out only if, written as a tree, it has at most this many nodes:
# sympy shares subexpressions, but printing, `subs` and `limitlab.numerics.lambdify` walk the
# tree (the general slow drift at 10 parameters is ~4e7 nodes from ~2e3 distinct ones).
_MAX_TREE_SIZE = 200_000
_NEARBY_POINTS = 4


# --------------------------------------------------------------------------------------------
# noise models


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """A noise model for noisy gradient descent (reference §5).

    Build it with [`noise_model`][limitlab.theory.noise_model].

    **Fields:**

    - `kind`: one of [`NOISE_KINDS`][limitlab.theory.NOISE_KINDS].
    - `variance`: the noise scale $\\sigma^2$ (a sympy expression):
      $\\mathrm{Cov}\\,\\eta=\\sigma^2C$ with the normalised covariance $C$ of the kind ($C=I$
      except for `"minibatch"`).
      `"dropconnect"`/`"dropout"`: $\\sigma^2=p/(1-p)$; `"minibatch"`: $\\sigma^2=(n-B)/B$ with
      the symbol `n` for the number of samples.
    - `parameters`: the parameters as given or defaulted (`sigma`, `p`, `batch`), sympy.
    - `units`: for `"dropout"`, the unit outputs $h_u$ (sympy expressions or strings), or `None`
      for "the additive terms of the model"; `None` for the other kinds.
    - `description`: the noisy loss $\\hat L(w,\\eta)$ and the noise law, in words.
    """

    kind: str
    variance: sp.Expr
    parameters: Mapping[str, sp.Expr]
    units: tuple | None = None
    description: str = ""


def _positive_parameter(value, name: str, *, below_one: bool = False, integer: bool = False):
    allowed = f"{name} must be a positive " + (
        "integer" if integer else "number below 1" if below_one else "number"
    ) + " or a sympy symbol"
    if isinstance(value, bool):
        raise ValueError(f"{allowed}, got {value!r}")
    if isinstance(value, str):
        raise TypeError(f"{allowed}, got the string {value!r} (pass sympy.Symbol({value!r}))")
    if isinstance(value, sp.Basic):
        expr = value
    elif isinstance(value, numbers.Integral):
        expr = sp.Integer(int(value))
    elif isinstance(value, fractions.Fraction):
        expr = sp.Rational(value.numerator, value.denominator)
    elif isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"{allowed}, got {value!r}")
        expr = sp.Float(float(value))
    else:
        raise TypeError(f"{allowed}, got {type(value).__name__}")
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"{allowed}, got {value!r}")
    if expr.is_number:
        if expr.is_real is not True or not expr > 0 or (below_one and not expr < 1):
            raise ValueError(f"{allowed}, got {value!r}")
        if integer and expr.is_integer is not True:
            raise ValueError(f"{allowed}, got {value!r}")
    elif expr.is_positive is False:
        raise ValueError(f"{allowed}, got {value!r}")
    return expr


def noise_model(kind: str, **parameters) -> NoiseModel:
    """A noise model for [`derive_drift`][limitlab.theory.derive_drift] (reference §5).

    | kind | $\\hat L(w,\\eta)$ | $\\sigma^2$ | needs |
    |---|---|---|---|
    | `"label"` | $\\frac1{2n}\\sum_j(f_j-y_j-\\eta_j)^2$ | `sigma**2` | model + data |
    | `"perturbed"` | $L(w+\\eta)$ | `sigma**2` | loss or model |
    | `"dropconnect"` | $L(w\\odot(1+\\eta))$ | $p/(1-p)$ | loss or model |
    | `"dropout"` | $h_u\\to(1+\\eta_u)h_u$ in $f$ | $p/(1-p)$ | model + data (+ units) |
    | `"minibatch"` | $\\frac1n\\sum_j(1+\\eta_j)\\ell_j$ | $(n-B)/B$ | model + data |
    | `"sample_weights"` | $\\frac1n\\sum_j(1+\\eta_j)\\ell_j$ | `sigma**2` | model + data |
    | `"additive"` | $\\nabla_w\\hat L=\\nabla L-\\eta$ (SGLD-type) | `sigma**2` | loss or model |

    with $\\ell_j=\\frac12(f(x_j;w)-y_j)^2$.  All noises have $\\mathrm{Cov}\\,\\eta=\\sigma^2I$
    except `"minibatch"`, classical SGD written as a reweighting of the $n$ samples:
    $1+\\eta_j=\\frac nB\\mathbb 1[j\\in\\text{batch}]$, batches of $B$ drawn without
    replacement, so $\\mathrm{Var}\\,\\eta_j=(n-B)/B$ and
    $C=(nI-\\mathbf 1\\mathbf 1^\\top)/(n-1)$ [derived] (the normalisation of
    `limitlab.numerics`; $\\sigma^2$ is kept with the symbol `n`, which
    [`derive_drift`][limitlab.theory.derive_drift] replaces by the number of samples).
    `"sample_weights"` is the i.i.d.-weight model of §5 item 2 (with $n=1$: the multiplicative
    noise $w\\leftarrow w-\\alpha(1+\\eta)\\nabla L(w)$ of toy 1).  DropConnect and dropout use
    inverted masks $\\eta=m/(1-p)-1$, $m\\sim\\mathrm{Bernoulli}(1-p)$: $\\sigma^2=p/(1-p)$.  Only
    the covariance enters the limits; the masks' skewness is an $O(\\sigma^3)$ effect.

    *Units* for dropout: expressions $h_u$ occurring in the model $f$ (a unit's output, e.g.
    `"tanh(b1*x)"` in `"a1*tanh(b1*x) + a2*tanh(b2*x)"`, or a whole term `"a1*tanh(b1*x)"`); each
    is scaled by $(1+\\eta_u)$ wherever it occurs.  `units=None` takes the additive terms of $f$
    that depend on the parameters (as sympy writes $f$): this is the usual "unit = summand of
    the output layer" choice for models $f=\\sum_ua_u\\phi(b_u\\cdot x)$.

    **Arguments:**

    - `kind`: one of [`NOISE_KINDS`][limitlab.theory.NOISE_KINDS].
    - `sigma`: the noise standard deviation $\\sigma>0$ (`"label"`, `"perturbed"`,
      `"sample_weights"`, `"additive"`); default the symbol `sigma`.
    - `p`: the drop rate $0<p<1$ (`"dropconnect"`, `"dropout"`); default the symbol `p`.
    - `batch`: the batch size $B\\ge1$ (`"minibatch"`; $B<n$ is checked against the data);
      default the symbol `B`.
    - `units`: (`"dropout"` only) a sequence of unit outputs (sympy expressions or strings in
      the model's names), or `None`.

    **Returns:** a [`NoiseModel`][limitlab.theory.NoiseModel].

    **Raises:** `ValueError` for an unknown kind, a parameter the kind does not take, or a
    parameter out of range; `TypeError` for a parameter of the wrong type.

    **Example:**

    ```pycon
    >>> noise_model("dropconnect", p=0.5).variance
    1.00000000000000
    >>> noise_model("label").variance
    sigma**2
    ```
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind must be one of {list(NOISE_KINDS)}, got {kind!r}")
    allowed = _ALLOWED[kind]
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise ValueError(
            f"noise kind {kind!r} takes the parameters {list(allowed)}, got {unknown}"
        )
    units = None
    values: dict[str, sp.Expr] = {}
    for name in allowed:
        if name == "units":
            units = parameters.get("units")
            if units is not None:
                if isinstance(units, str | sp.Basic) or not isinstance(units, Sequence):
                    raise TypeError(
                        "units must be a sequence of unit outputs (sympy expressions or "
                        f"strings), got {units!r}"
                    )
                units = tuple(units)
                if not units:
                    raise ValueError("units must name at least one unit, got an empty sequence")
                for unit in units:
                    if not isinstance(unit, str | sp.Expr):
                        raise TypeError(
                            "units must be sympy expressions or strings, got "
                            f"{type(unit).__name__} ({unit!r})"
                        )
            continue
        value = parameters.get(name, _DEFAULTS[name])
        values[name] = _positive_parameter(
            value, name, below_one=(name == "p"), integer=(name == "batch")
        )
    if kind in ("dropconnect", "dropout"):
        variance = values["p"] / (1 - values["p"])
    elif kind == "minibatch":
        variance = (SAMPLE_COUNT - values["batch"]) / values["batch"]
    else:
        variance = values["sigma"] ** 2
    return NoiseModel(
        kind=kind,
        variance=variance,
        parameters=types.MappingProxyType(values),
        units=units,
        description=_DESCRIPTIONS[kind],
    )


# --------------------------------------------------------------------------------------------
# argument handling


def _number(value, name: str) -> sp.Expr:
    """An exact sympy number for ints, fractions and exact sympy numbers; a Float for floats."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, sp.Basic):
        if not isinstance(value, sp.Expr) or value.free_symbols or value.is_real is not True:
            raise ValueError(f"{name} must be a real number, got {value!r}")
        return value
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, fractions.Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
        return sp.Float(float(value))
    raise ValueError(f"{name} must be a real number, got {value!r}")


def _symbols(names, argument: str) -> tuple[sp.Symbol, ...]:
    if isinstance(names, str | sp.Symbol):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise TypeError(
            f"{argument} must be a sequence of names or sympy Symbols, got {names!r}"
        ) from None
    out = []
    for item in names:
        if isinstance(item, str):
            if not item.isidentifier():
                raise ValueError(f"{argument}: {item!r} is not a valid name")
            out.append(sp.Symbol(item, real=True))
        elif isinstance(item, sp.Symbol):
            out.append(item)
        else:
            raise TypeError(
                f"{argument} must contain names or sympy Symbols, got {type(item).__name__} "
                f"({item!r})"
            )
    seen = [s.name for s in out]
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    if duplicates:
        raise ValueError(f"{argument} repeats the names {duplicates}")
    return tuple(out)


def _rename_by_name(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> sp.Expr:
    """Replace the expression's symbols by the given symbols of the same name."""
    by_name = {s.name: s for s in symbols}
    mapping = {
        s: by_name[s.name] for s in expr.free_symbols if s.name in by_name and s != by_name[s.name]
    }
    return expr.xreplace(mapping) if mapping else expr


def _expression(value, symbols: Sequence[sp.Symbol], argument: str, hint: str = "") -> sp.Expr:
    names = {s.name: s for s in symbols}
    if isinstance(value, str):
        try:
            return parse_expression(value, names, argument=argument)
        except ValueError as err:
            raise ValueError(f"{err}{hint}") from None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return _number(value, argument)
    if not isinstance(value, sp.Expr):
        raise TypeError(
            f"{argument} must be a sympy expression or a string, got {type(value).__name__}"
        )
    expr = _rename_by_name(value, symbols)
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in names)
    if unknown:
        raise ValueError(
            f"{argument} has unknown symbols {unknown}; allowed names are {sorted(names)}{hint}"
        )
    return expr


@dataclasses.dataclass(frozen=True)
class _Problem:
    parameters: tuple[sp.Symbol, ...]
    loss: sp.Expr
    model: sp.Expr | None
    inputs: tuple[sp.Symbol, ...]
    inputs_values: tuple[dict, ...]
    outputs: tuple[sp.Expr, ...]  # f(x_j; w)
    labels: tuple[sp.Expr, ...]
    exact_data: bool


def _problem(loss_or_model, parameters, data, inputs) -> _Problem:
    params = _symbols(parameters, "parameters")
    if not params:
        raise ValueError("parameters must name at least one parameter, got none")
    if data is None:
        if inputs is not None:
            raise ValueError(
                f"inputs={inputs!r} is given but data is None; inputs name the input variables "
                "of a model f(theta; x) given with data"
            )
        loss = _expression(loss_or_model, params, "loss")
        return _Problem(params, loss, None, (), (), (), (), True)
    input_symbols = _symbols(() if inputs is None else inputs, "inputs")
    clash = sorted({s.name for s in params} & {s.name for s in input_symbols})
    if clash:
        raise ValueError(f"inputs and parameters share the names {clash}")
    model = _expression(
        loss_or_model,
        params + input_symbols,
        "model",
        hint="" if inputs is not None else "; name the model's input variables with inputs=",
    )
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise TypeError(f"data must be a sequence of (x, y) pairs, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data must contain at least one (x, y) pair, got none")
    d = len(input_symbols)
    values, outputs, labels = [], [], []
    exact = True
    for j, pair in enumerate(data):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"data[{j}] must be a pair (x, y), got {pair!r}")
        x, y = pair
        if x is None:
            x = ()
        elif isinstance(x, numbers.Number | sp.Basic):
            x = (x,)
        x = tuple(x) if isinstance(x, Sequence | np.ndarray) else x
        if not isinstance(x, tuple) or len(x) != d:
            raise ValueError(
                f"data[{j}]: x must have {d} coordinates (one per input "
                f"{[s.name for s in input_symbols]}), got {pair[0]!r}"
            )
        xs = [_number(v, f"data[{j}] x") for v in x]
        ys = _number(y, f"data[{j}] y")
        exact = exact and not any(v.has(sp.Float) for v in [*xs, ys])
        sub = dict(zip(input_symbols, xs, strict=True))
        values.append(sub)
        outputs.append(model.xreplace(sub))
        labels.append(ys)
    n = len(data)
    loss = sp.Add(*[(f - y) ** 2 for f, y in zip(outputs, labels, strict=True)]) / (2 * n)
    return _Problem(
        params, loss, model, input_symbols, tuple(values), tuple(outputs), tuple(labels), exact
    )


def _noise_symbols(count: int, taken: set[str]) -> tuple[sp.Symbol, ...]:
    base = "eta"
    while any(name == base or name.startswith(base + "_") for name in taken):
        base += "_"
    return tuple(sp.Symbol(f"{base}_{i + 1}", real=True) for i in range(count))


def _units(problem: _Problem, noise: NoiseModel) -> tuple[sp.Expr, ...]:
    model = problem.model
    params = set(problem.parameters)
    if noise.units is None:
        units = tuple(t for t in sp.Add.make_args(model) if t.free_symbols & params)
        if not units:
            raise ValueError(
                f"dropout: the model {model} has no additive term that depends on the "
                "parameters, so it has no units; pass units=[...] to noise_model"
            )
        return units
    units = []
    for i, unit in enumerate(noise.units):
        expr = _expression(unit, problem.parameters + problem.inputs, f"units[{i}]")
        if not expr.free_symbols & params:
            raise ValueError(
                f"dropout: units[{i}] = {expr} does not depend on the parameters "
                f"{[s.name for s in problem.parameters]}"
            )
        if model.xreplace({expr: sp.Dummy()}) == model:
            raise ValueError(
                f"dropout: units[{i}] = {expr} does not occur in the model {model} as a "
                "subexpression (units must appear literally, e.g. a whole summand or a whole "
                "activation call)"
            )
        units.append(expr)
    for i, a in enumerate(units):
        for j, b in enumerate(units):
            if i != j and a.has(b):
                raise ValueError(f"dropout: units[{i}] = {a} contains units[{j}] = {b}")
    return tuple(units)


def _noisy_loss(problem: _Problem, noise: NoiseModel, taken: set[str]):
    """(eta, L_hat, C, F) with Cov eta = sigma^2 C and F F^T = C."""
    kind = noise.kind
    params = problem.parameters
    D = len(params)
    if kind in _NEEDS_MODEL and problem.model is None:
        raise ValueError(
            f"noise kind {kind!r} needs a model f(theta; x) with data ({_NEEDS_MODEL[kind]}); "
            "got a loss without data: pass the model and data=[(x, y), ...]"
        )
    n = len(problem.outputs)
    if kind == "label":
        eta = _noise_symbols(n, taken)
        terms = [
            (f - y - e) ** 2 for f, y, e in zip(problem.outputs, problem.labels, eta, strict=True)
        ]
        return eta, sp.Add(*terms) / (2 * n), sp.eye(n), sp.eye(n)
    if kind == "perturbed":
        eta = _noise_symbols(D, taken)
        shifted = {w: w + e for w, e in zip(params, eta, strict=True)}
        return eta, problem.loss.xreplace(shifted), sp.eye(D), sp.eye(D)
    if kind == "dropconnect":
        eta = _noise_symbols(D, taken)
        scaled = {w: w * (1 + e) for w, e in zip(params, eta, strict=True)}
        return eta, problem.loss.xreplace(scaled), sp.eye(D), sp.eye(D)
    if kind == "additive":
        eta = _noise_symbols(D, taken)
        linear = sp.Add(*[e * w for w, e in zip(params, eta, strict=True)])
        return eta, problem.loss - linear, sp.eye(D), sp.eye(D)
    if kind == "dropout":
        units = _units(problem, noise)
        eta = _noise_symbols(len(units), taken)
        scaled_model = problem.model.xreplace(
            {u: (1 + e) * u for u, e in zip(units, eta, strict=True)}
        )
        terms = [
            (scaled_model.xreplace(sub) - y) ** 2
            for sub, y in zip(problem.inputs_values, problem.labels, strict=True)
        ]
        return eta, sp.Add(*terms) / (2 * n), sp.eye(len(units)), sp.eye(len(units))
    # minibatch and sample weights: per-sample losses l_j = r_j^2 / 2 reweighted
    eta = _noise_symbols(n, taken)
    terms = [
        (1 + e) * (f - y) ** 2 / 2
        for f, y, e in zip(problem.outputs, problem.labels, eta, strict=True)
    ]
    if kind == "sample_weights":
        return eta, sp.Add(*terms) / n, sp.eye(n), sp.eye(n)
    batch = noise.parameters["batch"]
    if n < 2 or (batch.is_number and batch >= n):
        raise ValueError(
            f"minibatch: batch must be smaller than the number of samples n = {n} (B = n is "
            f"full-batch gradient descent, without noise), got batch = {batch}"
        )
    ones = sp.ones(n, n)
    C = (n * sp.eye(n) - ones) / (n - 1)
    F = sp.sqrt(sp.Rational(n, n - 1)) * (sp.eye(n) - ones / n)
    return eta, sp.Add(*terms) / n, C, F


def _node_count(expr: sp.Expr, limit: int) -> int:
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > limit:
            break
    return count


def _tidy(expr: sp.Expr, params) -> sp.Expr:
    """Expand small polynomials and cancel small rational functions; leave the rest as built."""
    expr = sp.sympify(expr)
    size = _node_count(expr, 2000)
    if size > 2000:
        return expr
    if expr.is_polynomial(*params):
        return sp.expand(expr)
    if size <= 300 and expr.is_rational_function(*params):
        return sp.cancel(expr)
    return expr


# --------------------------------------------------------------------------------------------
# linear algebra on the normal space, in a basis B (D x r) of range(H): exact or symbolic


def _det(G: sp.Matrix) -> sp.Expr:
    # Laplace expansion without expanding the entries: berkowitz expands and is far slower
    n = G.rows
    if n == 0:
        return sp.Integer(1)
    if n == 1:
        return G[0, 0]
    if n == 2:
        return G[0, 0] * G[1, 1] - G[0, 1] * G[1, 0]
    return sp.Add(*[(-1) ** j * G[0, j] * _det(G.minor_submatrix(0, j)) for j in range(n)])


def _is_rational_matrix(M: sp.Matrix) -> bool:
    return all(x.is_Rational for x in M)


def _inverse(G: sp.Matrix) -> sp.Matrix:
    n = G.rows
    if n == 0:
        return sp.zeros(0, 0)
    if _is_rational_matrix(G):
        return G.inv()
    if n == 1:
        return sp.Matrix([[1 / G[0, 0]]])
    det = _det(G)
    adjugate = sp.Matrix(n, n, lambda i, j: (-1) ** (i + j) * _det(G.minor_submatrix(j, i)))
    return adjugate / det


def _solve(A: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    if _is_rational_matrix(A) and _is_rational_matrix(b):
        return A.LUsolve(b)
    return _inverse(A) * b


class _Contraction:
    """$T[M]_k=\\sum_{ij}\\partial_i\\partial_j\\partial_kL\\,M_{ij}$ from the tensor $T_{ijk}$."""

    def __init__(self, tensor):
        self.tensor = tensor  # nested lists [i][j][k], symmetric
        self.D = len(tensor)
        self._left_cache: dict[int, list] = {}

    def full(self, M: sp.Matrix) -> sp.Matrix:
        D, T = self.D, self.tensor
        return sp.Matrix(
            [
                sp.Add(*[T[i][j][k] * M[i, j] for i in range(D) for j in range(D) if M[i, j] != 0])
                for k in range(D)
            ]
        )

    def low_rank(self, B: sp.Matrix, V: sp.Matrix) -> sp.Matrix:
        """$T[BV]$ for $B$ ($D\\times r$, cached) and $V$ ($r\\times D$)."""
        D, T = self.D, self.tensor
        key = id(B)
        if key not in self._left_cache:
            self._left_cache[key] = (
                B,
                [
                    [
                        [sp.Add(*[T[i][j][k] * B[i, a] for i in range(D)]) for k in range(D)]
                        for j in range(D)
                    ]
                    for a in range(B.cols)
                ],
            )
        E = self._left_cache[key][1]
        return sp.Matrix(
            [
                sp.Add(
                    *[
                        E[a][j][k] * V[a, j]
                        for a in range(B.cols)
                        for j in range(D)
                        if V[a, j] != 0
                    ]
                )
                for k in range(D)
            ]
        )

    def gradient_of_trace(self) -> sp.Matrix:
        D = self.D
        return sp.Matrix([sp.Add(*[self.tensor[i][i][k] for i in range(D)]) for k in range(D)])


class _CallableContraction:
    def __init__(self, function, D):
        self.function = function
        self.D = D

    def full(self, M):
        out = self.function(M)
        return sp.Matrix(out).reshape(self.D, 1)

    def low_rank(self, B, V):
        return self.full(B * V)


class _Placeholders:
    """Stand-ins for the r x r matrices (B^T B, B^T H B, ...) during symbolic algebra.

    Inverting and multiplying the Laplace-expanded r x r blocks directly makes sympy flatten
    and distribute huge sums at every step (minutes for 10 parameters); with a symbol per
    entry the algebra stays small and the blocks are substituted once, at the end.  With
    `active=False` (exact numbers at a point) the matrices pass through unchanged.
    """

    def __init__(self, active: bool):
        self.active = active
        self.mapping: dict[sp.Symbol, sp.Expr] = {}

    def __call__(self, actual: sp.Matrix, name: str) -> sp.Matrix:
        if not self.active:
            return actual
        r, c = actual.shape
        symmetric = r == c and actual == actual.T
        out = sp.zeros(r, c)
        for a in range(r):
            for b in range(c):
                if symmetric and b < a:
                    out[a, b] = out[b, a]
                    continue
                if actual[a, b] == 0:
                    continue
                symbol = sp.Dummy(f"{name}{a}{b}")
                self.mapping[symbol] = actual[a, b]
                out[a, b] = symbol
        return out

    def substitute(self, matrix: sp.Matrix) -> sp.Matrix:
        if not self.mapping:
            return matrix
        memo: dict[int, tuple[sp.Basic, sp.Basic]] = {}
        return matrix.applyfunc(lambda e: _substitute(e, self.mapping, memo))


def _tree_size(matrix: sp.Matrix) -> int:
    """The number of nodes of the largest entry, counted as a tree (shared parts repeatedly)."""
    memo: dict[int, tuple[sp.Basic, int]] = {}

    def size(expr):
        hit = memo.get(id(expr))
        if hit is not None:
            return hit[1]
        total = 1 + sum(size(a) for a in expr.args)
        memo[id(expr)] = (expr, total)
        return total

    return max((size(e) for e in matrix), default=0)


def _substitute(expr: sp.Basic, mapping: Mapping, memo: dict) -> sp.Basic:
    """`expr.xreplace(mapping)`, visiting each shared subexpression once.

    The symbolic drift is a DAG with heavy sharing (the same block entries in every
    component); `xreplace` walks it as a tree, which is millions of nodes at 10 parameters.
    """
    hit = memo.get(id(expr))
    if hit is not None:
        return hit[1]
    if expr in mapping:
        result = mapping[expr]
    elif not expr.args:
        result = expr
    else:
        args = [_substitute(a, mapping, memo) for a in expr.args]
        changed = any(new is not old for new, old in zip(args, expr.args, strict=True))
        result = expr.func(*args) if changed else expr
    memo[id(expr)] = (expr, result)
    return result


def _normal_geometry(B: sp.Matrix, small: _Placeholders | None = None):
    """(P_T, G^{-1}) with G = B^T B: P_T = I - B G^{-1} B^T (G^{-1} in placeholders)."""
    D, r = B.rows, B.cols
    if r == 0:
        return sp.eye(D), sp.zeros(0, 0)
    small = small or _Placeholders(False)
    Gi = _inverse(small(B.T * B, "g"))
    return sp.eye(D) - B * Gi * B.T, Gi


def _project_tangent(B: sp.Matrix, Gi: sp.Matrix, z: sp.Matrix) -> sp.Matrix:
    if B.cols == 0:
        return z
    return z + B * ((-Gi) * (B.T * z))


def _sylvester(M: sp.Matrix, G: sp.Matrix, S: sp.Matrix) -> sp.Matrix:
    """The symmetric r x r solution Y of M Y G + G Y M = S (S symmetric)."""
    r = M.rows
    pairs = [(a, b) for a in range(r) for b in range(a, r)]
    unknowns = sp.symbols(f"y0:{len(pairs)}", cls=sp.Dummy)
    Y = sp.zeros(r, r)
    for u, (a, b) in zip(unknowns, pairs, strict=True):
        Y[a, b] = Y[b, a] = u
    residual = M * Y * G + G * Y * M
    rows, rhs = [], []
    for a, b in pairs:
        rows.append([sp.diff(residual[a, b], u) for u in unknowns])  # linear in the unknowns
        rhs.append(S[a, b])
    solution = _solve(sp.Matrix(rows), sp.Matrix(rhs))
    return Y.xreplace(dict(zip(unknowns, solution, strict=True)))


def _half_second_derivative_in_basis(B, H, Sigma, T, *, isotropic=None, symbolic=False):
    """$\\tfrac12\\partial^2\\Phi[\\Sigma]$ by the explicit decomposition of §7, in the basis B.

    Returns (drift, normal part).  `isotropic=c` asserts $\\Sigma=cI$ on $\\Gamma$, where
    $\\mathcal L_H^{-1}(\\Sigma_\\perp)=\\tfrac c2H^+$ needs no Sylvester solve.  With
    `symbolic=True` the r x r blocks are placeholders during the algebra.
    """
    D, r = B.rows, B.cols
    if r == 0:
        zero = sp.zeros(D, 1)
        return zero, zero
    small = _Placeholders(symbolic)
    G = small(B.T * B, "g")
    M = small(B.T * H * B, "m")  # H^+ = B M^{-1} B^T on Gamma
    Gi = _inverse(G)
    Mi = _inverse(M)
    U = B.T * Sigma  # r x D
    S = small(U * B, "s")  # r x r, = B^T Sigma_perp B
    # numerical factors and signs go into the small factors: sympy distributes a number over
    # a sum, which on the big contractions below costs more than everything else
    GiU = Gi * U
    t_parallel = (
        T.full(Sigma) + T.low_rank(B, -2 * GiU) + T.low_rank(B, Gi * S * Gi * B.T)
    )  # T[P_T Sigma P_T]
    V = Mi * (U - S * Gi * B.T)  # H^+ Sigma_perp,par = B V
    Y = isotropic / 2 * Mi if isotropic is not None else _sylvester(M, G, S)
    minus_tangent_source = T.low_rank(B, -V) + T.low_rank(B, (-Y / 2) * B.T)
    normal_part = B * ((-Mi / 2) * (B.T * t_parallel))
    tangent_part = _project_tangent(B, Gi, minus_tangent_source)
    return small.substitute(normal_part + tangent_part), small.substitute(normal_part)


# --------------------------------------------------------------------------------------------
# numerical (float64) evaluation: the manifold test, nearby points, inexact points


def _evaluator(calculus: _Calculus, objs, params) -> Callable[[np.ndarray], np.ndarray]:
    """A float64 function w -> [obj(w) for obj in objs] (monomial tables for polynomials)."""
    objs = list(objs)
    D = len(params)
    if all(calculus.is_poly(o) for o in objs):
        monomials: dict[tuple, int] = {}
        entries = []
        for row, poly in enumerate(objs):
            for monomial, coefficient in poly.items():
                column = monomials.setdefault(monomial[:D], len(monomials))
                entries.append((row, column, float(coefficient)))
        exponents = np.array(list(monomials), dtype=float).reshape(len(monomials), D)
        coefficients = np.zeros((len(objs), len(monomials)))
        for row, column, value in entries:
            coefficients[row, column] += value

        def polynomial(w):
            w = np.asarray(w, dtype=float)
            return coefficients @ np.prod(np.power(w[None, :], exponents), axis=1)

        return polynomial
    function = sp.lambdify(params, [calculus.expr(o) for o in objs], modules="numpy")

    def general(w):
        values = function(*np.asarray(w, dtype=float))
        return np.array([float(v) for v in values], dtype=float)

    return general


class _Numeric:
    """float64 evaluators of L, grad L, Hess L, grad Reg, A and Sigma (nearby-point tests)."""

    def __init__(self, calculus, params, loss, gradient, hessian, reg_gradient, noise_jacobian, C):
        D = len(params)
        self.D = D
        self.loss = _evaluator(_Calculus((), True), [loss], params)
        # the manifold test needs L at a float64 point to rounding level of its *square*
        # (~1e-32); float64 evaluation of an expanded polynomial loses everything below
        # eps * (size of its terms) to cancellation, so evaluate in 50-digit arithmetic
        self._loss_mp = sp.lambdify(params, loss, modules="mpmath")
        self.gradient = _evaluator(calculus, gradient, params)
        self._hessian = _evaluator(calculus, [h for row in hessian for h in row], params)
        self.reg_gradient = _evaluator(calculus, reg_gradient, params)
        m = len(noise_jacobian[0]) if D else 0
        self._A = (
            _evaluator(calculus, [a for row in noise_jacobian for a in row], params) if m else None
        )
        self.m = m
        self.C = np.array(C.tolist(), dtype=float) if m else np.zeros((0, 0))

    def precise_loss(self, w) -> float:
        """L(w) at the float64 point w, evaluated with 50 significant digits."""
        with mpmath.workdps(50):
            return float(self._loss_mp(*(mpmath.mpf(float(v)) for v in w)))

    def hessian(self, w):
        H = self._hessian(w).reshape(self.D, self.D)
        return (H + H.T) / 2

    def sigma(self, w):
        if not self.m:
            return np.zeros((self.D, self.D))
        A = self._A(w).reshape(self.D, self.m)
        return A @ self.C @ A.T


def _top_eigenspace(H, r):
    values, vectors = np.linalg.eigh(H)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def _projection_numeric(H, r):
    values, vectors = _top_eigenspace(H, r)
    V = vectors[:, :r]
    return np.eye(H.shape[0]) - V @ V.T


def _not_manifold(detail: str) -> ValueError:
    return ValueError(
        "the zero set {L = 0} is not a manifold of dimension D - rank(Hess L) near the point "
        f"(the rank of the Hessian is not constant on it): {detail}"
    )


def _nearby_points(numeric: _Numeric, w0: np.ndarray, r: int, H0: np.ndarray):
    """Points of Gamma near w0: random perturbations projected back by truncated Newton.

    Newton steps $w\\leftarrow w-H_r^+\\nabla L$ with $H_r^+$ the pseudo-inverse of the top-$r$
    eigenspace converge quadratically onto a Morse–Bott zero set; elsewhere the projected point
    keeps a loss well above rounding, or a Hessian of another rank.
    """
    D = w0.size
    rng = np.random.default_rng(20240412)
    scale_w = 1.0 + np.linalg.norm(w0)
    h = 1e-3 * scale_w
    scale_H = max(1.0, np.abs(np.linalg.eigvalsh(H0)).max(initial=0.0))
    points = []
    for attempt in range(_NEARBY_POINTS):
        direction = rng.normal(size=D)
        w = w0 + h * direction / np.linalg.norm(direction)
        for _ in range(60):
            if r == 0:
                break
            values, vectors = _top_eigenspace(numeric.hessian(w), r)
            if values[r - 1] <= 0:
                raise _not_manifold(
                    f"the Hessian has fewer than rank {r} positive eigenvalues at a nearby point"
                )
            V = vectors[:, :r]
            step = V @ ((V.T @ numeric.gradient(w)) / values[:r])
            w = w - step
            if np.linalg.norm(step) <= 1e-15 * scale_w:
                break
        loss = numeric.precise_loss(w)
        if not np.isfinite(loss) or abs(loss) > 1e-20 * scale_H * scale_w**2:
            raise _not_manifold(
                f"a point at distance {h:.1e} does not project back onto the zero set along the "
                f"{r} normal directions (loss {loss:.3e} after Newton steps); the zero set has "
                f"fewer than D - rank = {D - r} dimensions there"
            )
        values = np.sort(np.linalg.eigvalsh(numeric.hessian(w)))[::-1]
        tol = 1e-9 * max(scale_H, values.max(initial=0.0))
        rank = int(np.sum(values > tol))
        if rank != r:
            raise _not_manifold(
                f"rank {r} at the point but rank {rank} at the nearby point {w.tolist()} of the "
                "zero set"
            )
        points.append(w)
    return points


# --------------------------------------------------------------------------------------------
# the derivation


@dataclasses.dataclass(frozen=True, eq=False)
class DriftDerivation:
    """The limiting dynamics of noisy gradient descent near a manifold of minimisers.

    Built by [`derive_drift`][limitlab.theory.derive_drift].  Matrices are sympy `Matrix`;
    fields "valid on $\\Gamma$" are expressions in the parameters whose values are correct at
    points of the zero set near `point` (off $\\Gamma$ they are some smooth extension);
    fields ending in `_at_point` are evaluated at `point`, exactly when `exact` is true and in
    float64 otherwise.  Fields that need a point (or a symbolic size limit that was exceeded)
    are `None`.

    **Fields:**

    - `parameters`: the parameter symbols $w$, in order.
    - `loss`: $L(w)$ (for a model: $\\frac1{2n}\\sum_j(f(x_j;w)-y_j)^2$).
    - `noise`: the [`NoiseModel`][limitlab.theory.NoiseModel].
    - `noise_symbols`: $\\eta$, the symbols of `noisy_loss`.
    - `noisy_loss`: $\\hat L(w,\\eta)$.
    - `noise_variance`: $\\sigma^2$.
    - `noise_covariance`: $C$ ($m\\times m$), $\\mathrm{Cov}\\,\\eta=\\sigma^2C$.
    - `regulariser`: $\\mathrm{Reg}(w)=\\frac12\\mathrm{tr}(C\\nabla^2_\\eta\\hat L(w,0))$, exact,
      everywhere.
    - `case`: `"non-degenerate"`, `"degenerate"` or `"undetermined"` (no point given and
      $\\mathrm{Reg}$ not constant).
    - `reason`: why, in words, including how the local test went.
    - `trivial`: true when the limit is $W(\\tau)\\equiv W(0)$ on both scales.
    - `limit`: the limiting equation, in words.
    - `time_scale`: steps per unit of limiting time $\\tau$: $1/(\\alpha\\sigma^2)$ (fast) or
      $1/(\\alpha^2\\sigma^2)$ (slow); `None` when undetermined.
    - `point`, `exact`: the point (sympy numbers) and whether values at it are exact.
    - `normal_rank`: $r=\\mathrm{rank}\\,\\nabla^2L$ at the point ($\\dim\\Gamma=D-r$).
    - `hessian`: $\\nabla^2L(w)$, exact, everywhere.
    - `noise_jacobian`: $A(w)=\\partial_\\eta\\nabla_w\\hat L(w,0)$ ($D\\times m$), everywhere.
    - `gradient_noise_covariance`: $\\Sigma=ACA^\\top$, everywhere (the normalised covariance of
      the gradient noise, $\\mathrm{Cov}\\,\\nabla_w\\hat L=\\sigma^2\\Sigma+O(\\sigma^3)$);
      `..._at_point`.
    - `tangent_projection`: $P_T$, valid on $\\Gamma$; `tangent_projection_at_point`: exact
      $I-HH^+$ at the point.
    - `flow_map_second_derivative_at_point`: $\\partial^2\\Phi[\\Sigma]$ at the point (boxed
      formula of §7), computed in every case.
    - `drift`: the drift of the limit (`D x 1`), valid on $\\Gamma$: $-P_T\\nabla\\mathrm{Reg}$
      (non-degenerate) or $\\frac12\\partial^2\\Phi[\\Sigma]$ (degenerate); `drift_at_point`.
    - `drift_normal_part_at_point`: the part of `drift_at_point` in range $H$; for the slow
      SDE this is the curvature term $-\\frac12H^+\\partial^2(\\nabla L)[P_T\\Sigma P_T]$.
    - `diffusion`: $P_TAF$ ($D\\times m$, $FF^\\top=C$), valid on $\\Gamma$, so that
      $dW=\\text{diffusion}\\,dB+\\text{drift}\\,d\\tau$ with $B$ an $m$-dimensional Brownian
      motion;
      zero for the fast-scale ODE; `diffusion_at_point`.
    - `simplified`: the simplified form used, in words, or `None`.
    - `sharpness_coefficient`: $c$ when $\\Sigma=cH$ on $\\Gamma$ (drift
      $-\\frac c4P_T\\nabla\\mathrm{tr}\\nabla^2L$), else `None`.
    - `notes`: further remarks (size limits hit, the §4 caveat, ...).
    """

    parameters: tuple[sp.Symbol, ...]
    loss: sp.Expr
    noise: NoiseModel
    noise_symbols: tuple[sp.Symbol, ...]
    noisy_loss: sp.Expr
    noise_variance: sp.Expr
    noise_covariance: sp.Matrix
    regulariser: sp.Expr
    case: str
    reason: str
    trivial: bool
    limit: str
    time_scale: sp.Expr | None
    point: tuple[sp.Expr, ...] | None
    exact: bool
    normal_rank: int | None
    hessian: sp.Matrix
    noise_jacobian: sp.Matrix
    gradient_noise_covariance: sp.Matrix
    gradient_noise_covariance_at_point: sp.Matrix | None
    tangent_projection: sp.Matrix | None
    tangent_projection_at_point: sp.Matrix | None
    flow_map_second_derivative_at_point: sp.Matrix | None
    drift: sp.Matrix | None
    drift_at_point: sp.Matrix | None
    drift_normal_part_at_point: sp.Matrix | None
    diffusion: sp.Matrix | None
    diffusion_at_point: sp.Matrix | None
    simplified: str | None
    sharpness_coefficient: sp.Expr | None
    notes: tuple[str, ...]


def _point(point, params) -> tuple[sp.Expr, ...]:
    if isinstance(point, Mapping):
        by_name = {}
        for key, value in point.items():
            name = key.name if isinstance(key, sp.Symbol) else key
            by_name[name] = value
        names = [s.name for s in params]
        if set(by_name) != set(names):
            raise ValueError(
                f"point must give a value for each parameter {names}, got the keys "
                f"{sorted(map(str, by_name))}"
            )
        values = [by_name[name] for name in names]
    else:
        if isinstance(point, str) or not isinstance(point, Sequence | np.ndarray):
            raise TypeError(
                f"point must be a sequence of numbers or a mapping name -> number, got "
                f"{type(point).__name__}"
            )
        values = list(point)
        if len(values) != len(params):
            raise ValueError(
                f"point must have {len(params)} coordinates (one per parameter "
                f"{[s.name for s in params]}), got {len(values)}"
            )
    return tuple(_number(v, f"point[{i}]") for i, v in enumerate(values))


class _Calculus:
    """Derivatives in a sparse polynomial ring for polynomials, by `sympy.diff` otherwise.

    Differentiating a polynomial loss in `sympy.polys.rings` is one to two orders of
    magnitude faster than differentiating its expression tree (10 parameters: 0.05 s instead
    of 2 s for the Hessian), and gives expanded results.  The ring is over QQ for exact data
    and over RR (float) when the data have floats.
    """

    def __init__(self, gens: Sequence[sp.Symbol], exact: bool):
        self.gens = tuple(gens)
        self.ring = ring(self.gens, QQ if exact else RR)[0]
        self.index = {g: i for i, g in enumerate(self.gens)}

    def lift(self, expr):
        expr = sp.sympify(expr)
        try:
            return self.ring.from_expr(expr)
        except (ValueError, TypeError, CoercionFailed):
            return expr

    def is_poly(self, obj) -> bool:
        return isinstance(obj, PolyElement)

    def diff(self, obj, var):
        if isinstance(obj, PolyElement):
            return obj.diff(self.ring.gens[self.index[var]])
        return sp.diff(obj, var)

    def at_zero(self, obj, variables):
        if isinstance(obj, PolyElement):
            positions = [self.index[v] for v in variables]
            return self.ring.from_dict(
                {m: c for m, c in obj.items() if all(m[i] == 0 for i in positions)}
            )
        return obj.xreplace(dict.fromkeys(variables, sp.Integer(0)))

    def scale(self, obj, number):
        if isinstance(obj, PolyElement):
            return obj * self.ring.domain.convert(number)
        return number * obj

    def expr(self, obj) -> sp.Expr:
        return obj.as_expr() if isinstance(obj, PolyElement) else obj

    def total(self, objs):
        objs = list(objs)
        if objs and all(isinstance(o, PolyElement) for o in objs):
            out = self.ring.zero
            for o in objs:
                out += o
            return out
        return sp.Add(*[self.expr(o) for o in objs])

    def product(self, a, b):
        if isinstance(a, PolyElement) and isinstance(b, PolyElement):
            return a * b
        return self.expr(a) * self.expr(b)


def _symmetric_tensor(entry, D):
    """Nested list T[i][j][k] from entry(a, b, c) on sorted index triples (computed once)."""
    cache: dict[tuple[int, int, int], sp.Expr] = {}
    T = [[[None] * D for _ in range(D)] for _ in range(D)]
    for i in range(D):
        for j in range(D):
            for k in range(D):
                key = tuple(sorted((i, j, k)))
                if key not in cache:
                    cache[key] = entry(*key)
                T[i][j][k] = cache[key]
    return T


def _gauss_newton_parts(problem: _Problem, calculus: _Calculus):
    """On Gamma (MSE): H = J^T J / n and d_i d_j d_k L = (f_ij f_k + f_ik f_j + f_jk f_i)/n."""
    params = problem.parameters
    D = len(params)
    n = len(problem.outputs)
    lifted = [calculus.lift(f) for f in problem.outputs]
    first = [[calculus.diff(f, w) for w in params] for f in lifted]
    second = [[[calculus.diff(first[s][a], params[b]) for b in range(D)] for a in range(D)]
              for s in range(n)]
    J = sp.Matrix(n, D, lambda s, a: calculus.expr(first[s][a]))
    H = (J.T * J) / n

    def entry(a, b, c):
        mul = calculus.product
        total = calculus.total(
            term
            for s in range(n)
            for term in (
                mul(second[s][a][b], first[s][c]),
                mul(second[s][a][c], first[s][b]),
                mul(second[s][b][c], first[s][a]),
            )
        )
        return calculus.scale(total, sp.Rational(1, n))

    return J, H, _symmetric_tensor(entry, D)


def _rational(expr) -> bool:
    return isinstance(expr, sp.Expr) and expr.is_Rational is True


def _evaluate_tensor(T, subs):
    D = len(T)
    cache = {}
    out = [[[None] * D for _ in range(D)] for _ in range(D)]
    for i in range(D):
        for j in range(D):
            for k in range(D):
                key = tuple(sorted((i, j, k)))
                if key not in cache:
                    cache[key] = T[i][j][k].xreplace(subs)
                out[i][j][k] = cache[key]
    return out


def _pivots_exact(M: sp.Matrix) -> list[int]:
    _, pivots = M.rref()
    return list(pivots)


def _pivots_numeric(M: np.ndarray, r: int) -> list[int]:
    import scipy.linalg

    _, _, pivots = scipy.linalg.qr(M, pivoting=True)
    return sorted(int(p) for p in pivots[:r])


def _float_matrix(array) -> sp.Matrix:
    array = np.atleast_2d(np.asarray(array, dtype=float))
    return sp.Matrix(array.shape[0], array.shape[1], [sp.Float(float(v)) for v in array.ravel()])


def _numeric_half_second_derivative(T3: np.ndarray, H: np.ndarray, Sigma: np.ndarray, r: int):
    """$\\frac12\\partial^2\\Phi[\\Sigma]$ by the boxed formula and eigendecomposition (float64)."""
    D = H.shape[0]
    values, vectors = _top_eigenspace(H, r)
    lam = np.concatenate([values[:r], np.zeros(D - r)])
    V = vectors
    VN = V[:, :r]
    P_N = VN @ VN.T
    P_T = np.eye(D) - P_N
    H_plus = VN @ np.diag(1 / lam[:r]) @ VN.T if r else np.zeros((D, D))
    Sigma_par = P_T @ Sigma @ P_T
    rest = V.T @ (Sigma - Sigma_par) @ V
    denominator = lam[:, None] + lam[None, :]
    X_eig = np.divide(rest, denominator, out=np.zeros_like(rest), where=denominator > 0)
    X = V @ X_eig @ V.T
    contract = lambda M: np.einsum("ijk,ij->k", T3, M)  # noqa: E731
    normal = -H_plus @ contract(Sigma_par)
    d2phi = normal - P_T @ contract(X)
    return d2phi / 2, normal / 2


def derive_drift(
    loss_or_model,
    parameters,
    noise,
    *,
    point=None,
    data=None,
    inputs=None,
    alpha=ALPHA,
    tolerance: float = 1e-9,
    symbolic: bool = True,
) -> DriftDerivation:
    """Derive the limiting dynamics of noisy gradient descent on the manifold of minimisers.

    Builds $\\hat L(w,\\eta)$ for the noise model,
    $\\mathrm{Reg}=\\frac12\\mathrm{tr}(C\\nabla^2_\\eta\\hat L(w,0))$,
    $A=\\partial_\\eta\\nabla_w\\hat L(w,0)$ and $\\Sigma=ACA^\\top$ (exact, §2–3 [derived]);
    then, at a point of $\\Gamma=\\{L=0\\}$:

    1. checks the point is a minimiser ($L=0$, $\\nabla L=0$, $\\nabla^2L\\succeq0$; exactly for
       rational input, else within `tolerance`) and that $\\Gamma$ is a manifold there: the
       rank $r$ of $\\nabla^2L$ is computed at the point and at 4 random points at distance
       $10^{-3}(1+|w|)$ projected back onto $\\Gamma$ by rank-$r$ Newton steps; the projected
       points must have $L$ at rounding level and rank $r$ (a test of the Morse–Bott property
       $\\dim\\Gamma=D-r$, local and numerical);
    2. classifies (§4): **degenerate** if $\\nabla\\mathrm{Reg}\\equiv0$ (symbolically), or if
       $P_T\\nabla\\mathrm{Reg}=0$ at the point *and* at the 4 nearby points of $\\Gamma$;
       otherwise **non-degenerate**.  The decision is local: it says what happens on $\\Gamma$
       near the point, not globally;
    3. gives the limit.  Non-degenerate, fast scale $\\tau=k\\alpha\\sigma^2$:
       $dW/d\\tau=-P_T\\nabla\\mathrm{Reg}(W)$.  Degenerate, slow scale $\\tau=k\\alpha^2\\sigma^2$:
       $dW=P_TAF\\,dB+\\frac12\\partial^2\\Phi[\\Sigma]\\,d\\tau$ with the explicit decomposition
       (§7)
       $$\\tfrac12\\partial^2\\Phi[\\Sigma]=-\\tfrac12H^+T[\\Sigma_\\parallel]
       -P_TT[H^+\\Sigma_{\\perp\\parallel}]
       -\\tfrac12P_TT[\\mathcal L_H^{-1}(\\Sigma_\\perp)],\\qquad
       T[M]=\\partial^2(\\nabla L)[M];$$
       simplified to $-\\frac c4P_T\\nabla\\mathrm{tr}\\nabla^2L$ (no noise) when $\\Sigma=cH$ on
       $\\Gamma$ (label noise: $c=1/n$), and to zero when $\\Sigma=0$ on $\\Gamma$ (minibatch
       noise under interpolation: trivial on both scales).  Both special cases are detected
       at the point and the nearby points.

    Symbolic forms valid on $\\Gamma$ use a basis $B$ of the normal space made of $r$ columns
    of $\\nabla^2L$ (or, for a model, $r$ of the gradients $\\nabla f_j$, §8), independent at
    the point: $P_T=I-B(B^\\top B)^{-1}B^\\top$, $H^+=B(B^\\top HB)^{-1}B^\\top$, and
    $\\mathcal L_H^{-1}$ on the normal block by an $r\\times r$ Sylvester solve
    [derived].  The $r\\times r$ inverses are Laplace-expanded, so `tangent_projection` and
    `drift` are built for $r\\le4$, and the general slow drift (Sylvester solve) for $r\\le2$ or
    isotropic $\\Sigma$; an expression that would exceed 2e5 nodes as a tree is dropped too
    (the general slow drift at 10 parameters is ~1e8).  In those cases only the `_at_point`
    values are given (see `notes`).  Timings (10 parameters, 3 data points, diagonal linear
    network, rank 3): fast-scale drift ~1 s, label-noise drift ~0.5 s.

    **Arguments:**

    - `loss_or_model`: a loss $L(w)\\ge0$ (sympy expression or string for
      [`parse_expression`][limitlab.theory.parse_expression]), or with `data` a model
      $f(x;w)$, giving $L=\\frac1{2n}\\sum_j(f(x_j;w)-y_j)^2$ (§5 convention).
    - `parameters`: the parameter names or symbols $w$, in order.
    - `noise`: a [`NoiseModel`][limitlab.theory.NoiseModel] or a kind from
      [`NOISE_KINDS`][limitlab.theory.NOISE_KINDS] (default parameters).
    - `point`: a point of $\\Gamma$ (sequence in parameter order, or mapping name -> value);
      ints/fractions/sympy rationals give exact results.  Without it only the point-free
      fields are filled and `case` is `"degenerate"` if $\\mathrm{Reg}$ is constant, else
      `"undetermined"`.
    - `data`: pairs $(x_j,y_j)$; $x_j$ a number, a sequence (one value per input), or `()`.
    - `inputs`: the model's input variable names (default none).
    - `alpha`: the step size $\\alpha$ (symbol or number), for `time_scale`.
    - `tolerance`: the relative tolerance for zero tests at inexact (float) points.
    - `symbolic`: build the expression fields valid on $\\Gamma$ (`tangent_projection`,
      `drift`, `diffusion`); `False` gives only the values at the point.

    **Returns:** a [`DriftDerivation`][limitlab.theory.DriftDerivation].

    **Raises:** `ValueError` for unknown symbols in the loss/model, a noise kind that does not
    apply (label noise, dropout, minibatch and sample weights need a model with data; dropout
    needs units; a minibatch needs fewer samples per batch than data points), a
    point that is not a minimiser, a zero set that is not a manifold at the point, or bad data;
    `TypeError` for arguments of the wrong type.

    **Example:**

    ```pycon
    >>> d = derive_drift("x*y", ["x", "y"], "perturbed", data=[((), 1)], point=(2, 0.5))
    >>> d.regulariser, d.case, d.time_scale
    (x**2/2 + y**2/2, 'non-degenerate', 1/(alpha*sigma**2))
    ```
    """
    if isinstance(noise, str):
        noise = noise_model(noise)
    if not isinstance(noise, NoiseModel):
        raise TypeError(
            f"noise must be a NoiseModel (from noise_model) or one of {list(NOISE_KINDS)}, got "
            f"{type(noise).__name__}"
        )
    tolerance = float(tolerance)
    if not (0 < tolerance < 1):
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    problem = _problem(loss_or_model, parameters, data, inputs)
    params = problem.parameters
    D = len(params)
    user_names = {s.name for s in params + problem.inputs}
    alpha = _positive_parameter(alpha, "alpha")
    noise_names = {s.name for value in noise.parameters.values() for s in value.free_symbols}
    noise_names |= {s.name for s in alpha.free_symbols}
    clash = sorted(noise_names & user_names)
    if clash:
        raise ValueError(
            f"the names {clash} are both model/loss variables and noise or step-size symbols; "
            "rename the parameters or pass other symbols to noise_model / alpha"
        )

    eta, noisy_loss, C, F = _noisy_loss(problem, noise, user_names | noise_names)
    m = len(eta)
    calculus = _Calculus(params + eta, problem.exact_data)
    lifted = calculus.lift(noisy_loss)
    # differentiate in eta first and set eta = 0 before differentiating in w: far smaller
    # expressions than grad_w L_hat (mixed partials commute for smooth L_hat)
    by_eta = [calculus.diff(lifted, e) for e in eta]
    by_eta_at_zero = [calculus.at_zero(g, eta) for g in by_eta]
    A_lifted = [[calculus.diff(by_eta_at_zero[a], w) for a in range(m)] for w in params]
    reg_lifted = calculus.total(
        calculus.scale(calculus.at_zero(calculus.diff(by_eta[a], eta[b]), eta), C[a, b])
        for a in range(m)
        for b in range(m)
        if C[a, b] != 0
    )
    reg = _tidy(calculus.expr(reg_lifted) / 2, params)
    Sigma_lifted = [
        [
            calculus.total(
                calculus.product(A_lifted[i][a], calculus.scale(A_lifted[j][b], C[a, b]))
                for a in range(m)
                for b in range(m)
                if C[a, b] != 0
            )
            for j in range(D)
        ]
        for i in range(D)
    ]
    A = sp.Matrix(D, m, lambda i, a: _tidy(calculus.expr(A_lifted[i][a]), params))
    Sigma = sp.Matrix(D, D, lambda i, j: calculus.expr(Sigma_lifted[i][j]))
    loss = problem.loss
    loss_lifted = calculus.at_zero(lifted, eta)
    gradient_lifted = [calculus.diff(loss_lifted, w) for w in params]
    hessian_lifted = [[calculus.diff(g, w) for w in params] for g in gradient_lifted]
    gradient = sp.Matrix([calculus.expr(g) for g in gradient_lifted])
    hessian = sp.Matrix(D, D, lambda i, j: calculus.expr(hessian_lifted[i][j]))
    reg_lift = calculus.lift(reg)
    reg_gradient_lifted = [calculus.diff(reg_lift, w) for w in params]
    reg_gradient = sp.Matrix([_tidy(calculus.expr(g), params) for g in reg_gradient_lifted])
    reg_constant = all(e == 0 for e in reg_gradient)
    sigma2 = noise.variance.xreplace({SAMPLE_COUNT: len(problem.outputs)})
    fast = 1 / (alpha * sigma2)
    slow = 1 / (alpha**2 * sigma2)
    common = dict(
        parameters=params,
        loss=loss,
        noise=noise,
        noise_symbols=eta,
        noisy_loss=noisy_loss,
        noise_variance=sigma2,
        noise_covariance=C,
        regulariser=reg,
        hessian=hessian,
        noise_jacobian=A,
        gradient_noise_covariance=Sigma,
    )
    if point is None:
        case = "degenerate" if reg_constant else "undetermined"
        return DriftDerivation(
            **common,
            case=case,
            reason=(
                "Reg is constant (its gradient is identically zero), so the fast scale is "
                "trivial everywhere; the slow-scale limit needs a point of the zero set"
                if reg_constant
                else "no point of the zero set was given; the classification is local and "
                "needs one"
            ),
            trivial=False,
            limit="slow scale (pass point= for the SDE)" if reg_constant else "undetermined",
            time_scale=slow if reg_constant else None,
            point=None,
            exact=False,
            normal_rank=None,
            gradient_noise_covariance_at_point=None,
            tangent_projection=None,
            tangent_projection_at_point=None,
            flow_map_second_derivative_at_point=None,
            drift=None,
            drift_at_point=None,
            drift_normal_part_at_point=None,
            diffusion=None,
            diffusion_at_point=None,
            simplified=None,
            sharpness_coefficient=None,
            notes=(),
        )

    # ---------------------------------------------------------------- the point
    values = _point(point, params)
    subs = dict(zip(params, values, strict=True))
    notes: list[str] = []
    L0 = loss.xreplace(subs)
    g0 = gradient.xreplace(subs)
    H0 = hessian.xreplace(subs)
    exact = (
        problem.exact_data
        and not any(v.has(sp.Float) for v in values)
        and all(_rational(e) for e in [L0, *g0, *H0])
    )
    numeric = _Numeric(
        calculus,
        params,
        loss,
        gradient_lifted,
        hessian_lifted,
        reg_gradient_lifted,
        A_lifted,
        C,
    )
    w0 = np.array([float(v) for v in values])
    if exact:
        H0_float = np.array(H0.tolist(), dtype=float)
        if L0 != 0 or any(e != 0 for e in g0):
            raise ValueError(
                f"point {tuple(values)} is not a minimiser with zero loss: L(point) = {L0}, "
                f"grad L(point) = {list(g0)} (both must be exactly 0)"
            )
        r = H0.rank()
    else:
        L0f = float(numeric.loss(w0)[0])
        g0f = numeric.gradient(w0)
        H0_float = numeric.hessian(w0)
        scale = max(1.0, np.abs(np.linalg.eigvalsh(H0_float)).max(initial=0.0))
        if (
            not np.isfinite(L0f)
            or abs(L0f) > tolerance * scale * (1 + np.linalg.norm(w0)) ** 2
            or np.linalg.norm(g0f) > tolerance * scale * (1 + np.linalg.norm(w0))
        ):
            raise ValueError(
                f"point {tuple(values)} is not a minimiser with zero loss: L(point) = {L0f:.3e}, "
                f"|grad L(point)| = {np.linalg.norm(g0f):.3e} (allowed: 0 within tolerance "
                f"{tolerance:g}, relative)"
            )
        r = None
    eig0 = np.linalg.eigvalsh(H0_float)
    scale_H = max(1.0, np.abs(eig0).max(initial=0.0))
    if eig0.min(initial=0.0) < -max(tolerance, 1e-9) * scale_H:
        raise ValueError(
            f"point {tuple(values)}: the Hessian has the negative eigenvalue {eig0.min():.3e}, "
            "so the point is a saddle, not a minimiser"
        )
    if r is None:
        r = int(np.sum(eig0 > tolerance * scale_H))
    nearby = _nearby_points(numeric, w0, r, H0_float)

    # ---------------------------------------------------------------- normal basis
    model_path = problem.model is not None
    if model_path:
        J, H_gamma, T_gamma = _gauss_newton_parts(problem, calculus)
    else:
        J, H_gamma, T_gamma = None, hessian, None
    if exact:
        source = J.xreplace(subs).T if model_path else H0
        pivots = _pivots_exact(source)
    else:
        source = (
            np.array(J.xreplace(subs).evalf().tolist(), dtype=float).T if model_path else H0_float
        )
        pivots = _pivots_numeric(source, r)
    if len(pivots) != r:
        raise _not_manifold(
            f"the residual Jacobian has rank {len(pivots)} but the Hessian rank {r} at the point"
        )
    B = J[pivots, :].T if model_path else hessian[:, pivots]
    B = B.reshape(D, r) if r else sp.zeros(D, 0)

    # ---------------------------------------------------------------- classification
    rg0 = reg_gradient.xreplace(subs)

    def _tangential_reg_at(w):
        P = _projection_numeric(numeric.hessian(w), r)
        g = numeric.reg_gradient(w)
        return np.linalg.norm(P @ g), np.linalg.norm(g)

    if exact:
        B0 = B.xreplace(subs)
        P_T0, Gi0 = _normal_geometry(B0)
        tangential0 = _project_tangent(B0, Gi0, rg0)
        if all(_rational(e) for e in tangential0):
            zero_at_point = all(e == 0 for e in tangential0)
        else:
            zero_at_point = float(sp.Matrix(tangential0).norm().evalf()) <= 1e-12 * (
                1 + float(sp.Matrix(rg0).norm().evalf())
            )
    else:
        P_T0f = _projection_numeric(H0_float, r)
        P_T0 = _float_matrix(P_T0f)
        t_norm, g_norm = _tangential_reg_at(w0)
        zero_at_point = t_norm <= tolerance * (1 + g_norm)
    if reg_constant:
        case = "degenerate"
        reason = "Reg has identically zero gradient (it is constant), so P_T grad Reg = 0 on Gamma"
    elif not zero_at_point:
        case = "non-degenerate"
        reason = "P_T grad Reg is non-zero at the point"
    else:
        moving = [
            t_norm > 1e-9 * (1 + g_norm) for t_norm, g_norm in map(_tangential_reg_at, nearby)
        ]
        if any(moving):
            case = "non-degenerate"
            reason = (
                "P_T grad Reg vanishes at the point (a stationary point of Reg on Gamma) but not "
                f"at {sum(moving)} of {len(nearby)} nearby points of Gamma (local test)"
            )
        else:
            case = "degenerate"
            reason = (
                "P_T grad Reg vanishes at the point and at "
                f"{len(nearby)} nearby points of Gamma (local test: Reg is constant on Gamma "
                "near the point)"
            )
            notes.append(
                "Reg is constant on Gamma near the point but not off it: gradient descent on "
                "L + sigma^2 Reg can also drift along the shifted minimiser manifold at rate "
                "alpha sigma^4 per step (reference section 4 caveat), which competes with the "
                "slow scale unless sigma^2 << alpha"
            )
            if noise.kind in ("dropconnect", "dropout"):
                notes.append(
                    "Bernoulli masks are not small noise in distribution (E eta^k = O(p) for "
                    "every k >= 2; eta = -1 with probability p), so the slow-scale limit built "
                    "from the linearised covariance A C A^T need not describe mask noise: on "
                    "L = (xy - 1)^2/2 with DropConnect the simulated chains stop on "
                    "xy = (1 - p)^2, where every mask gives a zero gradient, and do not move "
                    "(limitlab docs, manifold-drift page); the fast-scale drift -P_T grad Reg "
                    "is exact in the mean for losses quadratic in each mask"
                )

    # ---------------------------------------------------------------- values at the point
    if exact:
        Sigma0 = Sigma.xreplace(subs)
        A0 = A.xreplace(subs)
        exact = exact and all(_rational(e) for e in [*Sigma0, *A0, *rg0])
    if not exact:
        P_T0f = _projection_numeric(H0_float, r)
        P_T0 = _float_matrix(P_T0f)
        Sigma0_f = numeric.sigma(w0)
        Sigma0 = _float_matrix(Sigma0_f)
        A0 = _float_matrix(A.xreplace(subs).evalf().tolist()) if m else sp.zeros(D, 0)
        A0 = A0.reshape(D, m) if m else A0
        rg0 = _float_matrix(numeric.reg_gradient(w0)).reshape(D, 1)
    T_lifted = (
        T_gamma
        if model_path
        else _symmetric_tensor(lambda a, b, c: calculus.diff(hessian_lifted[a][b], params[c]), D)
    )
    as_expr = {}
    for plane in T_lifted:
        for line in plane:
            for entry in line:
                if id(entry) not in as_expr:
                    as_expr[id(entry)] = calculus.expr(entry)
    T_source = [[[as_expr[id(e)] for e in line] for line in plane] for plane in T_lifted]
    if exact:
        T0 = _Contraction(_evaluate_tensor(T_source, subs))
        exact = all(_rational(e) for plane in T0.tensor for line in plane for e in line)
    if exact:
        half_d2, normal_half = _half_second_derivative_in_basis(B0, H0, Sigma0, T0)
        d2phi0 = 2 * half_d2
    else:
        flat = [e for plane in T_lifted for line in plane for e in line]
        T3 = _evaluator(calculus, flat, params)(w0).reshape(D, D, D)
        half, normal_half_f = _numeric_half_second_derivative(
            T3, H0_float, np.array(Sigma0.tolist(), dtype=float), r
        )
        d2phi0 = _float_matrix(2 * half).reshape(D, 1)
        normal_half = _float_matrix(normal_half_f).reshape(D, 1)

    # ---------------------------------------------------------------- the limit
    simplified = None
    coefficient = None
    trivial = False
    symbolic_ok = symbolic and r <= _MAX_SYMBOLIC_RANK
    if symbolic and not symbolic_ok:
        notes.append(
            f"the normal rank r = {r} exceeds {_MAX_SYMBOLIC_RANK}: the symbolic forms valid on "
            "Gamma (tangent_projection, drift, diffusion) are not built; use the values at the "
            "point"
        )
    if symbolic_ok:
        small = _Placeholders(True)
        P_T_small, Gi_sym = _normal_geometry(B, small)
        P_T_sym = small.substitute(P_T_small)
    else:
        P_T_sym = Gi_sym = None
    zero_m = sp.zeros(D, m)
    if case == "non-degenerate":
        time_scale = fast
        limit = "fast scale: dW/dtau = -P_T grad Reg(W) on Gamma, tau = k*alpha*sigma^2"
        drift0 = -(P_T0 * rg0)
        drift_normal0 = sp.zeros(D, 1)
        drift = (
            small.substitute(_project_tangent(B, Gi_sym, -reg_gradient)).applyfunc(
                lambda e: _tidy(e, params)
            )
            if symbolic_ok
            else None
        )
        diffusion, diffusion0 = (zero_m if symbolic_ok else None), zero_m
    else:
        time_scale = slow
        sigma_zero, proportional = _sigma_structure(
            Sigma0, H0, H0_float, exact, tolerance, numeric, nearby
        )
        if sigma_zero:
            trivial = True
            limit = "trivial on both scales: W(tau) = W(0)"
            simplified = "Sigma = 0 on Gamma (the gradient noise vanishes on the zero set)"
            reason += "; the gradient noise also vanishes on Gamma, so the slow scale is trivial"
            drift0 = sp.zeros(D, 1)
            drift_normal0 = sp.zeros(D, 1)
            drift = sp.zeros(D, 1) if symbolic_ok else None
            diffusion, diffusion0 = (zero_m if symbolic_ok else None), zero_m
        elif proportional is not None:
            coefficient = proportional
            limit = (
                "slow scale, deterministic: dW/dtau = -(c/4) P_T grad tr Hess L(W) on Gamma, "
                "tau = k*alpha^2*sigma^2"
            )
            simplified = (
                f"Sigma = c Hess L on Gamma with c = {coefficient}: "
                "1/2 d2Phi[Sigma] = -(c/4) P_T grad tr Hess L, and P_T A = 0 (no noise)"
            )
            drift0 = d2phi0 / 2
            drift_normal0 = sp.zeros(D, 1)
            if symbolic_ok:
                T_sym = _Contraction(T_source)
                drift = small.substitute(
                    _project_tangent(B, Gi_sym, -coefficient / 4 * T_sym.gradient_of_trace())
                )
            else:
                drift = None
            diffusion, diffusion0 = (zero_m if symbolic_ok else None), zero_m
        else:
            limit = (
                "slow scale: dW = diffusion dB + 1/2 d2Phi[Sigma](W) dtau on Gamma, "
                "tau = k*alpha^2*sigma^2, B an m-dimensional Brownian motion"
            )
            drift0 = d2phi0 / 2
            drift_normal0 = normal_half
            diffusion0 = P_T0 * A0 * F
            isotropic = _isotropic(Sigma, D)
            if symbolic_ok and (isotropic is not None or r <= _MAX_SYMBOLIC_SYLVESTER_RANK):
                T_sym = _Contraction(T_source)
                drift, _ = _half_second_derivative_in_basis(
                    B, H_gamma, Sigma, T_sym, isotropic=isotropic, symbolic=True
                )
                diffusion = small.substitute(P_T_small * A * F)
            else:
                if symbolic_ok:
                    notes.append(
                        f"the general slow drift needs a symbolic {r}x{r} Sylvester solve "
                        f"(limited to r <= {_MAX_SYMBOLIC_SYLVESTER_RANK}): drift is given at "
                        "the point only"
                    )
                drift = None
                diffusion = small.substitute(P_T_small * A * F) if symbolic_ok else None
    expressions = (("tangent_projection", P_T_sym), ("drift", drift), ("diffusion", diffusion))
    for name, value in expressions:
        if value is not None and _tree_size(value) > _MAX_TREE_SIZE:
            notes.append(
                f"{name} as an expression tree would have {_tree_size(value):.1e} nodes (more "
                f"than {_MAX_TREE_SIZE:.0e}; printing, subs and lambdify walk the tree): it is "
                "not given; use the value at the point"
            )
            if name == "tangent_projection":
                P_T_sym = None
            elif name == "drift":
                drift = None
            else:
                diffusion = None
    if not exact:
        notes.append(
            "values at the point are float64 (the point, the data or the loss values there are "
            "not rational)"
        )
    return DriftDerivation(
        **common,
        case=case,
        reason=reason,
        trivial=trivial,
        limit=limit,
        time_scale=time_scale,
        point=values,
        exact=exact,
        normal_rank=r,
        gradient_noise_covariance_at_point=Sigma0,
        tangent_projection=P_T_sym,
        tangent_projection_at_point=P_T0,
        flow_map_second_derivative_at_point=d2phi0,
        drift=drift,
        drift_at_point=drift0,
        drift_normal_part_at_point=drift_normal0,
        diffusion=diffusion,
        diffusion_at_point=diffusion0,
        simplified=simplified,
        sharpness_coefficient=coefficient,
        notes=tuple(notes),
    )


def _isotropic(Sigma: sp.Matrix, D: int):
    """c if Sigma is c I identically (symbolically), else None."""
    c = Sigma[0, 0]
    if c.free_symbols:
        return None
    if all((Sigma[i, j] == (c if i == j else 0)) for i in range(D) for j in range(D)):
        return c
    return None


def _sigma_structure(Sigma0, H0, H0_float, exact, tolerance, numeric: _Numeric, nearby):
    """(Sigma = 0 on Gamma near the point, c with Sigma = c H there, or None).

    Decided at the point (exactly when `exact`) and at the nearby points of Gamma (float64).
    In float64, c is replaced by a fraction with denominator <= 10^6 when one matches it to
    1e-12 (label noise: c = 1/n).
    """
    S0 = np.array(Sigma0.tolist(), dtype=float)
    scale_H = max(1.0, np.linalg.norm(H0_float))
    if exact:
        zero0 = all(e == 0 for e in Sigma0)
    else:
        zero0 = np.linalg.norm(S0) <= tolerance * scale_H
    nearby_S = [numeric.sigma(w) for w in nearby]
    nearby_H = [numeric.hessian(w) for w in nearby]
    if zero0:
        if all(
            np.linalg.norm(S) <= 1e-9 * max(1.0, np.linalg.norm(H))
            for S, H in zip(nearby_S, nearby_H, strict=True)
        ):
            return True, None
        return False, None
    index = int(np.argmax(np.abs(H0_float)))
    if H0_float.flat[index] == 0:
        return False, None
    if exact:
        c = Sigma0[index] / H0[index]
        if any(Sigma0[i] != c * H0[i] for i in range(len(Sigma0))):
            return False, None
    else:
        cf = S0.flat[index] / H0_float.flat[index]
        if np.linalg.norm(S0 - cf * H0_float) > tolerance * max(1.0, np.linalg.norm(S0)):
            return False, None
        fraction = fractions.Fraction(cf).limit_denominator(10**6)
        close = abs(float(fraction) - cf) <= 1e-12 * max(1.0, abs(cf))
        c = sp.Rational(fraction.numerator, fraction.denominator) if close else sp.Float(cf)
    cf = float(c)
    for S, H in zip(nearby_S, nearby_H, strict=True):
        if np.linalg.norm(S - cf * H) > 1e-8 * max(1.0, np.linalg.norm(S)):
            return False, None
    return False, c


# --------------------------------------------------------------------------------------------
# helpers on matrices


def _exact_square(matrix, name: str):
    """A sympy Matrix with rational entries, or None if the input is to be treated as floats."""
    if isinstance(matrix, sp.MatrixBase):
        if any(e.free_symbols for e in matrix):
            raise ValueError(
                f"{name} must have numeric entries (evaluate it at a point of the zero set), "
                f"got the symbols {sorted({s.name for e in matrix for s in e.free_symbols})}"
            )
        if all(e.is_Rational for e in matrix):
            M = sp.Matrix(matrix)
        else:
            return None
    else:
        return None
    if M.rows != M.cols:
        raise ValueError(f"{name} must be square, got shape {M.shape}")
    return M


def _float_square(matrix, name: str) -> np.ndarray:
    try:
        M = np.array(matrix.tolist() if isinstance(matrix, sp.MatrixBase) else matrix, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a square matrix of real numbers, got {matrix!r}"
        ) from None
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} must have finite entries")
    return M


def _check_symmetric_psd(H, name, tolerance, exact):
    if exact:
        if H != H.T:
            raise ValueError(f"{name} must be symmetric, got {H.tolist()}")
        Hf = np.array(H.tolist(), dtype=float)
    else:
        Hf = H
        if not np.allclose(Hf, Hf.T, rtol=0, atol=tolerance * max(1.0, np.abs(Hf).max())):
            raise ValueError(f"{name} must be symmetric")
    values = np.linalg.eigvalsh((Hf + Hf.T) / 2)
    scale = max(1.0, np.abs(values).max(initial=0.0))
    if values.min(initial=0.0) < -max(tolerance, 1e-12) * scale:
        raise ValueError(
            f"{name} must be positive semi-definite (a Hessian at a minimiser), got the "
            f"eigenvalue {values.min():.3e}"
        )
    return values, scale


def tangent_projection(hessian, *, tolerance: float = 1e-9):
    """$P_T=I-HH^+$: the orthogonal projection onto $\\ker H$ (reference §7).

    At a point of $\\Gamma$ with $H=\\nabla^2L$, $P_T$ projects onto $T\\Gamma$ and equals
    $\\partial\\Phi$, the derivative of the gradient-flow limit map (§7 [derived]).  A sympy
    `Matrix` with rational entries gives the exact projection
    $P_T=I-B(B^\\top B)^{-1}B^\\top$, $B$ a basis of the column space; anything else is treated
    as floats: eigendecomposition, eigenvalues $\\le$ `tolerance` times the largest (or 1)
    counted as zero.

    **Arguments:**

    - `hessian`: a symmetric positive semi-definite $D\\times D$ matrix (sympy `Matrix`, numpy
      array or nested lists).
    - `tolerance`: relative zero threshold for float input.

    **Returns:** a sympy `Matrix` (exact input) or a float64 numpy array.

    **Raises:** `ValueError` for a non-square, non-symmetric, indefinite or symbolic matrix.

    **Example:**

    ```pycon
    >>> import sympy as sp
    >>> tangent_projection(sp.Matrix([[1, 2], [2, 4]]))
    Matrix([
    [ 4/5, -2/5],
    [-2/5,  1/5]])
    ```
    """
    exact = _exact_square(hessian, "hessian")
    if exact is not None:
        _check_symmetric_psd(exact, "hessian", tolerance, True)
        basis = exact.columnspace()
        B = sp.Matrix.hstack(*basis) if basis else sp.zeros(exact.rows, 0)
        return _normal_geometry(B)[0]
    H = _float_square(hessian, "hessian")
    values, scale = _check_symmetric_psd(H, "hessian", tolerance, False)
    r = int(np.sum(values > tolerance * scale))
    return _projection_numeric((H + H.T) / 2, r)


def lyapunov_inverse(hessian, matrix, *, tolerance: float = 1e-9):
    """$\\mathcal L_H^{-1}(S)$: the solution $X$ of $HX+XH=S$ with no tangent–tangent block.

    $\\mathcal L_H(X)=HX+XH$ is invertible on symmetric matrices whose $\\ker H$–$\\ker H$ block
    vanishes; in an eigenbasis $H=\\sum_i\\lambda_iv_iv_i^\\top$,
    $\\mathcal L_H^{-1}(S)=\\sum_{\\lambda_i+\\lambda_j>0}
    \\frac{v_i^\\top Sv_j}{\\lambda_i+\\lambda_j}v_iv_j^\\top$ (§7 [derived]).  Identities:
    $\\mathcal L_H^{-1}(H)=\\frac12P_N$, $\\mathcal L_H^{-1}(P_N)=\\frac12H^+$.  Exact for rational
    sympy input (mixed blocks by $H^+$, the normal block by a Sylvester solve), float64
    otherwise.

    **Arguments:**

    - `hessian`: $H$, symmetric positive semi-definite.
    - `matrix`: $S$, symmetric, with $P_TSP_T=0$.
    - `tolerance`: relative zero threshold for float input.

    **Returns:** $X$: a sympy `Matrix` (exact input) or a float64 numpy array.

    **Raises:** `ValueError` if the shapes differ, a matrix is not symmetric, $H$ is
    indefinite, or $S$ has a non-zero tangent–tangent block (outside the range of
    $\\mathcal L_H$).
    """
    H = _exact_square(hessian, "hessian")
    S = _exact_square(matrix, "matrix") if H is not None else None
    if H is not None and S is not None:
        if S.shape != H.shape:
            raise ValueError(f"matrix must have the shape of hessian {H.shape}, got {S.shape}")
        if S != S.T:
            raise ValueError("matrix must be symmetric")
        _check_symmetric_psd(H, "hessian", tolerance, True)
        basis = H.columnspace()
        D = H.rows
        if not basis:
            if any(e != 0 for e in S):
                raise ValueError(
                    "matrix has a non-zero tangent-tangent block (here hessian = 0), where "
                    "L_H is not invertible"
                )
            return sp.zeros(D, D)
        B = sp.Matrix.hstack(*basis)
        P_T, _ = _normal_geometry(B)
        Mi = _inverse(B.T * H * B)
        if any(e != 0 for e in P_T * S * P_T):
            raise ValueError(
                "matrix has a non-zero tangent-tangent block P_T S P_T, where L_H is not "
                "invertible"
            )
        H_plus = B * Mi * B.T
        mixed = (sp.eye(D) - P_T) * S * P_T
        Y = _sylvester(B.T * H * B, B.T * B, B.T * S * B)
        return H_plus * mixed + mixed.T * H_plus + B * Y * B.T
    Hf = _float_square(hessian, "hessian")
    Sf = _float_square(matrix, "matrix")
    if Sf.shape != Hf.shape:
        raise ValueError(f"matrix must have the shape of hessian {Hf.shape}, got {Sf.shape}")
    values, scale = _check_symmetric_psd(Hf, "hessian", tolerance, False)
    r = int(np.sum(values > tolerance * scale))
    lam, V = _top_eigenspace((Hf + Hf.T) / 2, r)
    lam = np.concatenate([lam[:r], np.zeros(Hf.shape[0] - r)])
    St = V.T @ ((Sf + Sf.T) / 2) @ V
    block = St[r:, r:]
    if np.abs(block).max(initial=0.0) > tolerance * max(1.0, np.abs(St).max(initial=0.0)):
        raise ValueError(
            "matrix has a non-zero tangent-tangent block P_T S P_T, where L_H is not invertible"
        )
    denominator = lam[:, None] + lam[None, :]
    X = np.divide(St, denominator, out=np.zeros_like(St), where=denominator > 0)
    return V @ X @ V.T


def second_derivative_of_flow_map(
    third_derivative_contraction, hessian, sigma, *, tolerance: float = 1e-9
):
    """$\\partial^2\\Phi(x)[\\Sigma]$ at a point $x\\in\\Gamma$ by the boxed formula of §7.

    $$\\partial^2\\Phi[\\Sigma]=-H^+\\,T[P_T\\Sigma P_T]-P_T\\,T\\big[\\mathcal L_H^{-1}(\\Sigma-P_T
    \\Sigma P_T)\\big],\\qquad T[M]_k=\\partial^2(\\nabla L)[M]_k=\\sum_{ij}\\partial_i\\partial_j
    \\partial_kL\\,M_{ij}$$

    [derived, checked against finite differences of the gradient-flow map in the tests].
    $\\Phi$ is the limit of gradient flow $\\dot\\varphi=-\\nabla L(\\varphi)$; the first term is
    the second fundamental form (normal), the second tangent.  Exact for rational sympy input
    (explicit decomposition in a basis of range $H$); float64 otherwise (eigendecomposition),
    an independent computation.

    **Arguments:**

    - `third_derivative_contraction`: the tensor $\\partial_i\\partial_j\\partial_kL$ at the point
      as a nested $D\\times D\\times D$ sequence/array, or a callable $M\\mapsto T[M]$ (a length-$D$
      vector) accepting the matrix type of `hessian`.
    - `hessian`: $H=\\nabla^2L$ at the point, symmetric positive semi-definite.
    - `sigma`: $\\Sigma$, a symmetric $D\\times D$ matrix.
    - `tolerance`: relative zero threshold for float input.

    **Returns:** the vector $\\partial^2\\Phi[\\Sigma]$: a sympy `Matrix` ($D\\times1$) for exact
    input, else a float64 numpy array of shape `(D,)`.

    **Raises:** `ValueError` for mismatched shapes, a non-symmetric `sigma`, an indefinite or
    symbolic `hessian`, or a tensor of the wrong shape.
    """
    H = _exact_square(hessian, "hessian")
    S = _exact_square(sigma, "sigma") if H is not None else None
    callable_T = callable(third_derivative_contraction)
    if not callable_T:
        tensor = third_derivative_contraction
        if isinstance(tensor, sp.NDimArray):
            tensor = tensor.tolist()
        if isinstance(tensor, np.ndarray):
            tensor = tensor.tolist()
    if H is not None and S is not None:
        D = H.rows
        if S.shape != H.shape:
            raise ValueError(f"sigma must have the shape of hessian {H.shape}, got {S.shape}")
        if S != S.T:
            raise ValueError("sigma must be symmetric")
        _check_symmetric_psd(H, "hessian", tolerance, True)
        if callable_T:
            T = _CallableContraction(third_derivative_contraction, D)
            exact_T = True
        else:
            flat = np.asarray(tensor, dtype=object)
            if flat.shape != (D, D, D):
                raise ValueError(
                    f"third_derivative_contraction must have shape {(D, D, D)}, got {flat.shape}"
                )
            entries = [
                [[sp.sympify(flat[i, j, k]) for k in range(D)] for j in range(D)] for i in range(D)
            ]
            exact_T = all(e.is_Rational for a in entries for b in a for e in b)
            T = _Contraction(entries)
        if exact_T:
            basis = H.columnspace()
            B = sp.Matrix.hstack(*basis) if basis else sp.zeros(D, 0)
            half, _ = _half_second_derivative_in_basis(B, H, S, T)
            return 2 * half
    Hf = _float_square(hessian, "hessian")
    Sf = _float_square(sigma, "sigma")
    D = Hf.shape[0]
    if Sf.shape != Hf.shape:
        raise ValueError(f"sigma must have the shape of hessian {Hf.shape}, got {Sf.shape}")
    if not np.allclose(Sf, Sf.T, rtol=0, atol=1e-12 * max(1.0, np.abs(Sf).max())):
        raise ValueError("sigma must be symmetric")
    values, scale = _check_symmetric_psd(Hf, "hessian", tolerance, False)
    r = int(np.sum(values > tolerance * scale))
    if callable_T:
        # recover the tensor's contractions through the callable on unit matrices
        T3 = np.zeros((D, D, D))
        for i in range(D):
            for j in range(D):
                E = np.zeros((D, D))
                E[i, j] = 1.0
                T3[i, j, :] = np.asarray(third_derivative_contraction(E), dtype=float).reshape(D)
    else:
        T3 = np.asarray(tensor, dtype=float)
        if T3.shape != (D, D, D):
            raise ValueError(
                f"third_derivative_contraction must have shape {(D, D, D)}, got {T3.shape}"
            )
    half, _ = _numeric_half_second_derivative(T3, (Hf + Hf.T) / 2, (Sf + Sf.T) / 2, r)
    return 2 * half
