"""Fully connected networks with a scalar output in the NTK, standard, mean-field and general
$(a,b)$ parametrisations (the networks of random-tensor-orders.md §1 and §7).

A network of depth $L$ (hidden layers) and width $n$ on inputs $x\\in\\mathbb R^{D}$ computes

$$h_0=x,\\qquad z_l=c_l\\,W_lh_{l-1}+\\beta_l\\,b_l,\\qquad h_l=\\phi(z_l)\\quad(l=1,\\dots,L),
\\qquad f(x)=z_{L+1}=c_{L+1}\\,W_{L+1}h_L+\\beta_{L+1}\\,b_{L+1},$$

with $W_1\\in\\mathbb R^{n\\times D}$, $W_l\\in\\mathbb R^{n\\times n}$ ($2\\le l\\le L$),
$W_{L+1}\\in\\mathbb R^{1\\times n}$ (the readout $V^\\top$).  The parametrisation fixes the
layer multipliers $c_l$, the bias multipliers $\\beta_l$ and the initial standard deviations:

| parametrisation | initial weights | $c_1$ | $c_l$, $2\\le l\\le L$ | $c_{L+1}$ (readout) | learning-rate scale |
|---|---|---|---|---|---|
| `"ntk"` | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-1/2}$ | $1$ |
| `"standard"` | $\\mathcal N(0,c_l^2)$ of the NTK column | $1$ | $1$ | $1$ | $n^{-1}$ |
| `"mean-field"` | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-1}$ | $n$ |
| `"general:a=..,b=.."` | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-a}$ | $n^{b}$ |

($c_1=1$ instead of $D^{-1/2}$ when `input_scaling=False`.)  The NTK row is the
parametrisation of Dyer & Gur-Ari (D&G §1 [paper]: all parameters $\\mathcal N(0,1)$ i.i.d.,
$f=n^{-1/2}V^\\top\\sigma(n^{-1/2}W\\cdots\\sigma(Ux))$, with the $D^{-1/2}$ input scaling of
their training experiments).  The standard parametrisation moves each NTK multiplier into the
initial variance, so the law of $f$ at initialisation is the same; derivatives with respect to
fan-in-$n$ weights are then $n^{1/2}$ larger (the SP NTK is $O(n)$), and the learning rate
$\\eta/n$ gives the dynamical correlation functions the NTK exponents (random-tensor-orders.md
§7 [derived]).  It does not give the NTK *kernel*: first-layer weights have fan-in $D$, not
$n$, so their SP derivatives are only $D^{1/2}$ larger and, after the $1/n$, their share of
the kernel is $O(D/n)$ [derived].  Mean field is the NTK
network with readout $n^{-1}$ ($a=1$) and learning rate $n\\eta$ (§7); `"general:a=A,b=B"` is
the one-hidden-layer rule of §7 (readout $n^{-a}$, learning rate $\\eta n^b$; $a=\\frac12$,
$b=0$ is NTK, $a=b=1$ mean field), applied with NTK hidden layers at any depth.

Biases (only when `bias_std` $\\sigma_b>0$): every layer including the readout adds
$\\beta_lb_l$ with $b_l\\sim\\mathcal N(0,1)$ and $\\beta_l=\\sigma_b$ (NTK-style, as
neural-tangents' `stax.Dense(b_std=...)`), or, in the standard parametrisation,
$b_l\\sim\\mathcal N(0,\\sigma_b^2)$ and $\\beta_l=1$.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import re
from fractions import Fraction

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._activations import ACTIVATIONS
from ._activations import activation as _activation
from ._custom_types import Array, Float, Key, MLPParams

__all__ = [
    "PARAMETRIZATIONS",
    "MLPConfig",
    "init_mlp",
    "learning_rate_scale",
    "mlp_apply",
    "num_parameters",
    "ravel_mlp",
]

PARAMETRIZATIONS: tuple[str, ...] = ("ntk", "standard", "mean-field", "general:a=<A>,b=<B>")
"""Accepted values of `MLPConfig.parametrization` (`A`, `B` rational, e.g. `general:a=1,b=1/2`)."""

_NAMED = {"ntk": (Fraction(1, 2), Fraction(0)), "mean-field": (Fraction(1), Fraction(1))}
_GENERAL = re.compile(r"^general\s*:\s*(.*)$")
_ALLOWED = (
    "'ntk', 'standard', 'mean-field', 'general:a=<rational>,b=<rational>' or an object with "
    "attributes a, b, name"
)


def _rational(field: str, text, original) -> Fraction:
    try:
        if isinstance(text, float):
            if not math.isfinite(text):
                raise ValueError
            return Fraction(str(text))
        if isinstance(text, bool):
            raise ValueError
        return Fraction(text)
    except (ValueError, TypeError, ZeroDivisionError):
        raise ValueError(
            f"parametrization: {field} must be a finite rational number (e.g. 1/2), got "
            f"{text!r} in {original!r}"
        ) from None


def _canonical_parametrization(value) -> str:
    """The canonical string of a parametrisation: a named one or `general:a=A,b=B`."""
    if isinstance(value, str):
        name = value.strip().lower()
        if name in ("ntk", "standard", "mean-field"):
            return name
        match = _GENERAL.match(name)
        if match is None:
            raise ValueError(f"parametrization must be one of {_ALLOWED}, got {value!r}")
        fields: dict[str, str] = {}
        for part in match.group(1).split(","):
            key, sep, rhs = part.partition("=")
            key = key.strip()
            if not sep or key not in ("a", "b") or key in fields:
                raise ValueError(
                    f"parametrization 'general:...' must read 'general:a=<rational>,b=<rational>'"
                    f" (each of a, b exactly once), got {value!r}"
                )
            fields[key] = rhs.strip()
        if set(fields) != {"a", "b"}:
            raise ValueError(
                f"parametrization 'general:...' must give both a and b "
                f"('general:a=<rational>,b=<rational>'), got {value!r}"
            )
        a = _rational("a", fields["a"], value)
        b = _rational("b", fields["b"], value)
    elif all(hasattr(value, attr) for attr in ("a", "b", "name")):
        name = str(value.name).strip().lower()
        if name in ("ntk", "standard", "mean-field"):
            return name
        a = _rational("a", value.a, value)
        b = _rational("b", value.b, value)
    else:
        raise ValueError(f"parametrization must be one of {_ALLOWED}, got {value!r}")
    return f"general:a={a},b={b}"


def _exponents(parametrization: str) -> tuple[Fraction, Fraction]:
    """$(a,b)$ of a canonical parametrisation string (standard: $(\\frac12,-1)$ in NTK units)."""
    if parametrization in _NAMED:
        return _NAMED[parametrization]
    if parametrization == "standard":
        return Fraction(1, 2), Fraction(-1)
    a_text, b_text = parametrization.removeprefix("general:").split(",")
    return Fraction(a_text.removeprefix("a=")), Fraction(b_text.removeprefix("b="))


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """A fully connected scalar-output network: architecture and parametrisation (static).

    Layer $l$ computes $z_l=c_lW_lh_{l-1}+\\beta_lb_l$ ($h_0=x$), $h_l=\\phi(z_l)$ for
    $l\\le L$, and $f(x)=z_{L+1}$ with the readout $W_{L+1}\\in\\mathbb R^{1\\times n}$:

    | parametrisation | initial weights | $c_1$ | hidden $c_l$ | readout $c_{L+1}$ | learning-rate scale |
    |---|---|---|---|---|---|
    | `"ntk"` (default) | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-1/2}$ | $1$ |
    | `"standard"` | $\\mathcal N(0,\\text{NTK }c_l^2)$ | $1$ | $1$ | $1$ | $n^{-1}$ |
    | `"mean-field"` | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-1}$ | $n$ |
    | `"general:a=A,b=B"` | $\\mathcal N(0,1)$ | $D^{-1/2}$ | $n^{-1/2}$ | $n^{-A}$ | $n^{B}$ |

    NTK is D&G §1 [paper]; the others follow random-tensor-orders.md §7 [derived]. The
    standard parametrisation has the same law of $f$ at initialisation as the NTK one.

    **Arguments:**

    - `depth`: number of hidden layers $L\\ge1$ (D&G's $d$).
    - `width`: hidden width $n\\ge1$.
    - `input_dim`: input dimension $D\\ge1$.
    - `activation`: a name from [`ACTIVATIONS`][limitlab.numerics.ACTIVATIONS].
    - `parametrization`: `"ntk"`, `"standard"`, `"mean-field"`, `"general:a=<A>,b=<B>"` with
      rationals $A,B$ (readout $n^{-A}$, learning rate $\\eta n^{B}$), or an object with
      attributes `a`, `b`, `name` (its name if it is one of the three named ones, otherwise
      `general` with its `a`, `b`).  Stored in canonical form (`"general:a=1/2,b=0"`).
    - `bias_std`: $\\sigma_b\\ge0$; biases exist only when $\\sigma_b>0$.
    - `input_scaling`: first-layer multiplier $D^{-1/2}$ (default) or $1$.
    - `output_dim`: number of outputs $C\\ge1$ (default 1, the scalar network of the
      papers; the readout is then $C\\times n$ and [`mlp_apply`][limitlab.numerics.mlp_apply]
      returns `(batch, C)`).  The width-asymptotic tools
      ([`empirical_ntk`][limitlab.numerics.empirical_ntk], the correlation estimator) need
      $C=1$; $C>1$ is for classifiers (iterative linearisation on digits).

    **Raises:** `ValueError` naming the field, the value and what is allowed.
    """

    depth: int
    width: int
    input_dim: int
    activation: str
    parametrization: str = "ntk"
    bias_std: float = 0.0
    input_scaling: bool = True
    output_dim: int = 1

    def __post_init__(self):
        for name in ("depth", "width", "input_dim", "output_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        object.__setattr__(
            self, "parametrization", _canonical_parametrization(self.parametrization)
        )
        bias = self.bias_std
        if (
            isinstance(bias, bool)
            or not isinstance(bias, numbers.Real)
            or not math.isfinite(bias)
            or bias < 0
        ):
            raise ValueError(f"bias_std must be a finite real number >= 0, got {bias!r}")
        object.__setattr__(self, "bias_std", float(bias))
        if not isinstance(self.input_scaling, bool):
            raise ValueError(f"input_scaling must be True or False, got {self.input_scaling!r}")

    @property
    def readout_exponent(self) -> Fraction:
        """$a$: the NTK-equivalent readout multiplier is $n^{-a}$ ($\\frac12$ for NTK, SP)."""
        return _exponents(self.parametrization)[0]

    @property
    def learning_rate_exponent(self) -> Fraction:
        """$b$: [`learning_rate_scale`][limitlab.numerics.learning_rate_scale] is $n^{b}$."""
        return _exponents(self.parametrization)[1]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """$(D,n,\\dots,n,C)$: fan-ins and fan-outs of the $L+1$ layers."""
        return (self.input_dim,) + (self.width,) * self.depth + (self.output_dim,)


def _layer_constants(config: MLPConfig) -> list[tuple[float, float, float, float]]:
    """Per layer: (weight init std, weight multiplier c_l, bias init std, bias multiplier)."""
    n = config.width
    first = config.input_dim**-0.5 if config.input_scaling else 1.0
    ntk = [first] + [n**-0.5] * (config.depth - 1)
    sb = config.bias_std
    if config.parametrization == "standard":
        return [(c, 1.0, sb, 1.0) for c in ntk + [n**-0.5]]
    readout = float(n ** -float(config.readout_exponent))
    return [(1.0, c, 1.0, sb) for c in ntk + [readout]]


def learning_rate_scale(config: MLPConfig) -> float:
    """Width-dependent learning-rate multiplier of the parametrisation.

    $1$ for `"ntk"`, $n^{-1}$ for `"standard"` (the fan-in-$n$ layers then contribute to
    $\\eta\\Theta$ as in NTK, so dynamical exponents agree, random-tensor-orders.md §7
    [derived]; the first layer's share becomes $O(D/n)$), $n$ for `"mean-field"`
    ($\\eta_{\\rm MF}=n\\eta$, §7) and $n^{b}$ for `"general:a=..,b=.."`.

    **Arguments:**

    - `config`: the network.

    **Returns:** the Python float $n^{b}$.
    """
    _check_config(config)
    return float(config.width ** float(config.learning_rate_exponent))


def num_parameters(config: MLPConfig) -> int:
    """Number of trainable parameters.

    $P=\\sum_l(\\text{fan-in}_l+[\\sigma_b>0])\\,\\text{fan-out}_l$ over the $L+1$ layers.

    For `depth=1`, `input_dim=1` and no biases: $P=2n$ ($U$ and $V$).
    """
    _check_config(config)
    sizes = config.layer_sizes
    bias = 1 if config.bias_std > 0 else 0
    return sum((fan_in + bias) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def _require_scalar_output(config: MLPConfig, tool: str) -> None:
    if config.output_dim != 1:
        raise ValueError(
            f"{tool} needs a scalar-output network (output_dim=1), got output_dim="
            f"{config.output_dim}; for several outputs use model_ntk / a per-output loop"
        )


def _check_config(config) -> None:
    if not isinstance(config, MLPConfig):
        raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}")


def init_mlp(config: MLPConfig, *, key: Key) -> MLPParams:
    """Draw the parameters of a network at initialisation.

    Weights of layer $l$ are i.i.d. $\\mathcal N(0,s_l^2)$ with $s_l=1$ except in the standard
    parametrisation (table in [`MLPConfig`][limitlab.numerics.MLPConfig]); biases likewise.

    **Arguments:**

    - `config`: the network.
    - `key`: a typed PRNG key.  One stream of $P$ standard normals is drawn from it (in
      blocks of at most $2^{16}$, block $i$ from `fold_in(key, i)`) and cut, in order, into
      $W_1$ (row-major), $b_1$, $W_2$, $b_2$, ... (the
      [`ravel_mlp`][limitlab.numerics.ravel_mlp] order), each scaled by its standard deviation.

    **Returns:** a list of $L+1$ dicts, layer by layer, with `"W"` of shape
    `(fan_out, fan_in)` (the readout is `(1, n)`) and, if `bias_std > 0`, `"b"` of shape
    `(fan_out,)`, in the default float dtype (float64 inside
    [`float64()`][limitlab.numerics.float64]).
    """
    _check_config(config)
    sizes = config.layer_sizes
    shapes = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shapes.append((fan_out, fan_in))
        if config.bias_std > 0:
            shapes.append((fan_out,))
    # One draw for all parameters: a single Gaussian sampler in the compiled program (each
    # `jax.random.normal` call is a separate threefry + erfinv kernel, slow to compile).
    z = iter(_split_normal(key, shapes))
    params = []
    for w_std, _, b_std, _ in _layer_constants(config):
        layer = {"W": w_std * next(z)}
        if config.bias_std > 0:
            layer["b"] = b_std * next(z)
        params.append(layer)
    return params


# Gaussian draws are generated in blocks of this many numbers inside a loop (see below).
_NORMAL_BLOCK = 2**16


@functools.partial(jax.jit, static_argnames=("n_blocks", "block", "dtype"))
def _normal_blocks(key: Key, *, n_blocks: int, block: int, dtype) -> Array:
    # jit (cached on the static sizes) so that eager callers do not retrace and recompile the
    # loop on every call; inside an outer jit it is inlined.
    blocks = jax.lax.map(
        lambda i: jax.random.normal(jax.random.fold_in(key, i), (block,), dtype),
        jnp.arange(n_blocks, dtype=jnp.uint32),
    )
    return blocks.reshape(-1)


def _split_normal(key: Key, shapes, dtype=None) -> list[Array]:
    """Standard normals of the given shapes, cut in order from one stream of their total size.

    The stream is `lax.map` over `B = ceil(total / _NORMAL_BLOCK)` blocks of
    `ceil(total / B)` numbers, block `i` drawn from `fold_in(key, i)`.  The loop boundary makes
    XLA materialise the normals: drawn in one piece, the (float64: expensive) conversion of
    random bits into Gaussians is fused into, and recomputed by, every matrix product that
    reads a weight matrix (measured: 2x slower samples at width 1024).
    """
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(sizes)
    dtype = dtype or jnp.result_type(float)
    n_blocks = max(1, -(-total // _NORMAL_BLOCK))
    block = max(1, -(-total // n_blocks))
    flat = _normal_blocks(key, n_blocks=n_blocks, block=block, dtype=jnp.dtype(dtype))
    out, start = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def _check_inputs(config: MLPConfig, x) -> Array:
    x = jnp.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] != config.input_dim:
        raise ValueError(
            f"x must have shape ({config.input_dim},) or (batch, {config.input_dim}) "
            f"(input_dim={config.input_dim}), got shape {x.shape}"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float)
    return x


def _forward(config: MLPConfig, params, x, shifts=None):
    """Output and the layer inputs $(h_0,\\dots,h_L)$; `shifts[l]` is added to $z_{l+1}$."""
    phi = _activation(config.activation)
    constants = _layer_constants(config)
    if len(params) != config.depth + 1:
        raise ValueError(
            f"params must hold depth + 1 = {config.depth + 1} layers, got {len(params)}"
        )
    h = x
    inputs = []
    z = None
    for l, (layer, (_, c, _, beta)) in enumerate(zip(params, constants)):
        inputs.append(h)
        z = c * (h @ layer["W"].T)
        if "b" in layer:
            z = z + beta * layer["b"]
        if shifts is not None:
            z = z + shifts[l]
        if l < config.depth:
            h = phi(z)
    return (z[..., 0] if config.output_dim == 1 else z), inputs


def mlp_apply(
    config: MLPConfig, params: MLPParams, x: Float[Array, "*batch D"]
) -> Float[Array, "*batch"]:
    """Network output $f(x)$ (formulas in [`MLPConfig`][limitlab.numerics.MLPConfig]).

    **Arguments:**

    - `config`: the network.
    - `params`: parameters as returned by [`init_mlp`][limitlab.numerics.init_mlp].
    - `x`: one input of shape `(input_dim,)` or a batch `(batch, input_dim)`.

    **Returns:** a scalar, or an array of shape `(batch,)`; with `output_dim` $C>1$ an array
    of shape `(C,)` or `(batch, C)`.

    **Raises:** `ValueError` if `x` or `params` do not fit `config`.

    For a flat parameter vector (`jvp`/`vjp` against $\\theta\\in\\mathbb R^P$) see
    [`ravel_mlp`][limitlab.numerics.ravel_mlp].
    """
    _check_config(config)
    x = _check_inputs(config, x)
    return _forward(config, params, x)[0]


def ravel_mlp(
    config: MLPConfig, params: MLPParams
) -> tuple[Float[Array, " P"], Callable[[Float[Array, " P"], Array], Array]]:
    """Flat view of the parameters: $\\theta\\in\\mathbb R^P$ and $f(\\theta, x)$.

    Uses `jax.flatten_util.ravel_pytree` (layer by layer, `"W"` row-major then `"b"`), so
    `jax.jacrev(apply)(theta, x)` is the `(batch, P)` Jacobian and `jax.hessian` the $P\\times P$
    Hessian.  Meant for small networks and tests: flattening copies every parameter, and the
    estimators in limitlab work on the pytree directly.

    **Arguments:**

    - `config`: the network.
    - `params`: its parameters ([`init_mlp`][limitlab.numerics.init_mlp] layout).

    **Returns:** `(theta, apply)` with `theta` of shape `(P,)` and
    `apply(theta, x) = mlp_apply(config, unravel(theta), x)`.
    """
    _check_config(config)
    theta, unravel = ravel_pytree(params)

    def apply(theta, x):
        return mlp_apply(config, unravel(theta), x)

    return theta, apply
