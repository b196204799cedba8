"""Monte Carlo estimation of correlation functions of derivative tensors of wide networks.

A correlation function (random-tensor-orders.md §2 [paper], D&G) is

$$C(x_1,\\dots,x_m)=\\sum_{\\mu_1\\dots\\mu_{k}}\\Delta^{(\\pi)}_{\\mu_1\\dots\\mu_k}\\,
\\mathbb E_\\theta\\big[T(x_1)\\cdots T(x_m)\\big],\\qquad
T_{\\mu_1\\dots\\mu_j}(x)=\\frac{\\partial^jf(x)}{\\partial\\theta^{\\mu_1}\\cdots\\partial\\theta^{\\mu_j}},$$

with every parameter index summed in pairs.  One *sample* is the fully contracted product for one
initialisation $\\theta$ (its mean over seeds estimates $C$).  It is computed without ever
forming a derivative tensor of order $\\ge2$ (memory $O(P)$ per sample) [derived]:

1. every order-1 tensor is the gradient $g(x)=\\nabla_\\theta f(x)$ (one reverse pass per input);
2. a pair between two order-1 tensors is the dot product $g(x_a)\\cdot g(x_b)$;
3. an order-$j$ tensor ($j\\ge2$) whose slots are contracted with order-1 tensors is the nested
   forward-mode derivative
   $T(x)[v_1,\\dots,v_j]=\\partial_{s_1}\\cdots\\partial_{s_j}f(\\theta+s_1v_1+\\dots+s_jv_j)(x)|_0$
   (`jvp` of `jvp` ...), with the partners' gradients as directions;
4. a pair between two tensors of order $\\ge2$, or a trace inside one tensor, is replaced by a
   Hutchinson sketch: an independent $z\\sim\\mathcal N(0,I_P)$ per such pair is used as the
   direction of both of its slots, since $\\mathbb E_z[(A z)(B z)]=\\sum_\\mu A_\\mu B_\\mu$;
5. order-0 tensors are values $f(x)$, and the sample is the product over the connected
   components of the contraction graph (the clusters of §3), each computed separately.

The sketch keeps every sample unbiased (the product is multilinear in each $zz^\\top$, and the
probes are independent) but adds variance: conditionally on $\\theta$, one pair with
contracted partners $a,b\\in\\mathbb R^P$ contributes $\\operatorname{Var}_z[(a\\cdot z)(b\\cdot z)]
=\\lVert a\\rVert^2\\lVert b\\rVert^2+(a\\cdot b)^2$, a trace $z^\\top Az$ contributes
$2\\lVert\\operatorname{sym}A\\rVert_F^2$, and the variance of the estimator over seeds is
$\\operatorname{Var}_\\theta[C(\\theta)]+\\mathbb E_\\theta\\operatorname{Var}_z[\\cdot]$.  Averaging
`n_probes` independent probes per component divides the second term by `n_probes`.  Patterns
without such pairs are exact per sample.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, Float, Key, MLPParams
from ._ensemble import _positive_int, run_ensemble
from ._mlp import (
    MLPConfig,
    _check_config,
    _forward,
    _require_scalar_output,
    _split_normal,
    init_mlp,
    num_parameters,
)

__all__ = [
    "correlation_estimate",
    "correlation_integrand",
    "correlation_sample",
    "default_inputs",
    "width_sweep",
]

# Per-sample working memory is a small multiple of P floats; the default micro-batch of
# `correlation_estimate` keeps microbatch * P below this many parameters (about 64 MB per
# P-vector copy in float64) so that vmapping seeds never multiplies memory beyond ~1 GB.
_MICROBATCH_PARAMETERS = 2**23


# --------------------------------------------------------------------------------------------
# the static contraction plan


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Static evaluation plan of a correlation function.

    `tensors[t] = (order, input)`; `components` lists tensor ids per connected component;
    `directions[t]` (order >= 2 only) gives per slot `("grad", partner tensor id)` or
    `("probe", pair id)`; `n_pairs` is the number of Hutchinson pairs.
    """

    tensors: tuple[tuple[int, str], ...]
    components: tuple[tuple[int, ...], ...]
    directions: tuple[tuple[tuple[str, int], ...] | None, ...]
    probe_pairs: tuple[tuple[int, ...], ...]  # per component: its pair ids
    n_pairs: int


def _tensor_key(correlation) -> tuple[tuple[int, str, tuple], ...]:
    tensors = getattr(correlation, "tensors", None)
    if tensors is None:
        raise TypeError(
            "correlation must have a `tensors` attribute (e.g. the result of "
            f"limitlab.theory.parse_correlation), got {type(correlation).__name__}"
        )
    out = []
    for i, tensor in enumerate(tensors):
        try:
            order, label, indices = tensor.order, tensor.input, tuple(tensor.indices)
        except (AttributeError, TypeError):
            raise TypeError(
                f"correlation.tensors[{i}] must have attributes order, input and indices, got "
                f"{tensor!r}"
            ) from None
        if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 0:
            raise ValueError(
                f"correlation.tensors[{i}].order must be an integer >= 0, got {order!r}"
            )
        if not isinstance(label, str):
            raise ValueError(
                f"correlation.tensors[{i}].input must be an input label (str), got {label!r}"
            )
        if len(indices) != order:
            raise ValueError(
                f"correlation.tensors[{i}] has order {order} but {len(indices)} indices "
                f"{indices!r}; a tensor of order k carries k indices"
            )
        out.append((int(order), label, indices))
    if not out:
        raise ValueError("correlation has no tensors; a correlation function needs m >= 1")
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _plan_from_key(tensors: tuple[tuple[int, str, tuple], ...]) -> _Plan:
    slots: dict[Any, list[tuple[int, int]]] = {}
    for t, (_, _, indices) in enumerate(tensors):
        for s, index in enumerate(indices):
            slots.setdefault(index, []).append((t, s))
    for index, where in slots.items():
        if len(where) != 2:
            raise ValueError(
                f"index {index!r} appears {len(where)} time(s); every index must be summed in "
                "a pair (appear exactly twice)"
            )
    parent = list(range(len(tensors)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    directions: list[list[tuple[str, int]] | None] = [
        [("", -1)] * order if order >= 2 else None for order, _, _ in tensors
    ]
    pair_owner: list[int] = []
    for (ta, sa), (tb, sb) in slots.values():
        parent[find(ta)] = find(tb)
        oa, ob = tensors[ta][0], tensors[tb][0]
        if oa == 1 and ob >= 2:
            directions[tb][sb] = ("grad", ta)
        elif ob == 1 and oa >= 2:
            directions[ta][sa] = ("grad", tb)
        elif oa >= 2 and ob >= 2:  # includes traces (ta == tb)
            pair = len(pair_owner)
            pair_owner.append(ta)
            directions[ta][sa] = ("probe", pair)
            directions[tb][sb] = ("probe", pair)
        # order 1 with order 1: a dot product, handled per component
    groups: dict[int, list[int]] = {}
    for t in range(len(tensors)):
        groups.setdefault(find(t), []).append(t)
    components = tuple(tuple(members) for members in groups.values())
    probe_pairs = tuple(
        tuple(p for p, owner in enumerate(pair_owner) if find(owner) == find(members[0]))
        for members in components
    )
    return _Plan(
        tensors=tuple((order, label) for order, label, _ in tensors),
        components=components,
        directions=tuple(None if d is None else tuple(d) for d in directions),
        probe_pairs=probe_pairs,
        n_pairs=len(pair_owner),
    )


def _plan(correlation) -> _Plan:
    return _plan_from_key(_tensor_key(correlation))


# --------------------------------------------------------------------------------------------
# pytree helpers


def _tree_dot(a, b):
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _normal_like(tree, key):
    """$z\\sim\\mathcal N(0,I_P)$ shaped like `tree` (one draw, cut in leaf order)."""
    leaves, treedef = jax.tree.flatten(tree)
    dtype = jnp.result_type(*leaves)
    return jax.tree.unflatten(treedef, _split_normal(key, [leaf.shape for leaf in leaves], dtype))


def _directional(fun, params, directions):
    """$D^jf(\\theta)[v_1,\\dots,v_j]$ by nested forward mode (`jvp` of `jvp` ...)."""
    if not directions:
        return fun(params)
    head, rest = directions[0], directions[1:]
    return jax.jvp(lambda p: _directional(fun, p, rest), (params,), (head,))[1]


def _check_input_vectors(plan: _Plan, config: MLPConfig, inputs) -> dict[str, Array]:
    if not isinstance(inputs, Mapping):
        raise TypeError(
            f"inputs must map input labels to vectors, got {type(inputs).__name__}"
        )
    out = {}
    for _, label in plan.tensors:
        if label in out:
            continue
        if label not in inputs:
            raise ValueError(
                f"inputs has no vector for input label {label!r}; labels given: "
                f"{sorted(map(str, inputs))}"
            )
        x = jnp.asarray(inputs[label])
        if x.shape != (config.input_dim,):
            raise ValueError(
                f"inputs[{label!r}] must have shape ({config.input_dim},) "
                f"(input_dim={config.input_dim}), got {x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(float)
        out[label] = x
    return out


def _check_probes(n_probes) -> int:
    return _positive_int("n_probes", n_probes)


# --------------------------------------------------------------------------------------------
# public API


def correlation_integrand(
    correlation,
    config: MLPConfig,
    params: MLPParams,
    inputs: Mapping[str, Float[Array, " D"]],
    *,
    key: Key | None = None,
    n_probes: int = 1,
) -> Float[Array, ""]:
    """The contracted product $\\sum_{\\mu}\\Delta\\,T(x_1)\\cdots T(x_m)$ at given parameters.

    The integrand of the correlation function at one $\\theta$ (module docstring for the
    algorithm): exact for patterns whose every pair involves an order-$\\le1$ tensor; with
    pairs between tensors of order $\\ge2$ (or traces) an unbiased Hutchinson estimate whose
    probes are drawn from `key`.  Memory $O(P)$; jittable and vmappable (the correlation
    structure is static).

    **Arguments:**

    - `correlation`: an object with `.tensors`, each with `.order` ($k\\ge0$), `.input` (a
      label) and `.indices` ($k$ hashable labels; every label appears exactly twice in the
      whole function), such as the result of `limitlab.theory.parse_correlation`.  Its
      `coefficient`, if any, is **not** applied: the sample is the bare contracted product
      (multiply by the coefficient when summing terms).
    - `config`: the network.
    - `params`: its parameters ([`init_mlp`][limitlab.numerics.init_mlp] layout).
    - `inputs`: maps each input label to a vector of shape `(input_dim,)`.
    - `key`: PRNG key of the Hutchinson probes; required only when the pattern has pairs
      between tensors of order $\\ge2$ (ignored otherwise).  Pair $j$, probe $r$ uses
      `fold_in(fold_in(key, j), r)`.
    - `n_probes`: independent probes averaged per connected component ($\\ge1$).

    **Returns:** the scalar sample (product over connected components).

    **Raises:** `ValueError`/`TypeError` for a malformed correlation, missing or mis-shaped
    inputs, or a missing `key` where probes are needed.
    """
    _check_config(config)
    _require_scalar_output(config, "a correlation function of f")
    plan = _plan(correlation)
    n_probes = _check_probes(n_probes)
    xs = _check_input_vectors(plan, config, inputs)
    if plan.n_pairs and key is None:
        raise ValueError(
            "key is required: this correlation has pairs between tensors of order >= 2 (or "
            "traces), estimated with Hutchinson probes"
        )
    return _evaluate(plan, config, params, xs, key, n_probes)


def _evaluate(plan: _Plan, config, params, xs, key, n_probes):
    def f(p, x):
        return _forward(config, p, x)[0]

    values: dict[str, Array] = {}
    grads: dict[str, Any] = {}
    for order, label in plan.tensors:
        if order == 1 and label not in grads:
            values[label], grads[label] = jax.value_and_grad(f)(params, xs[label])
    for order, label in plan.tensors:
        if order == 0 and label not in values:
            values[label] = f(params, xs[label])

    def component_value(members, probes):
        if len(members) == 1 and plan.tensors[members[0]][0] == 0:
            return values[plan.tensors[members[0]][1]]
        high = [t for t in members if plan.tensors[t][0] >= 2]
        if not high:  # two gradients contracted with each other
            a, b = members
            return _tree_dot(grads[plan.tensors[a][1]], grads[plan.tensors[b][1]])
        result = 1.0
        for t in high:
            dirs = [
                grads[plan.tensors[ref][1]] if kind == "grad" else probes[ref]
                for kind, ref in plan.directions[t]
            ]
            x = xs[plan.tensors[t][1]]
            result = result * _directional(lambda p, x=x: f(p, x), params, dirs)
        return result

    total = 1.0
    for members, pairs in zip(plan.components, plan.probe_pairs):
        if not pairs:
            total = total * component_value(members, {})
            continue
        pair_keys = {j: jax.random.fold_in(key, j) for j in pairs}

        def one_draw(r, members=members, pair_keys=pair_keys):
            probes = {
                j: _normal_like(params, jax.random.fold_in(k, r)) for j, k in pair_keys.items()
            }
            return component_value(members, probes)

        if n_probes == 1:
            value = one_draw(jnp.uint32(0))
        else:
            value = jnp.mean(jax.vmap(one_draw)(jnp.arange(n_probes, dtype=jnp.uint32)))
        total = total * value
    return jnp.asarray(total)


def correlation_sample(
    correlation,
    config: MLPConfig,
    inputs: Mapping[str, Float[Array, " D"]],
    *,
    key: Key,
    n_probes: int = 1,
) -> Float[Array, ""]:
    """One Monte Carlo sample of a correlation function: one network drawn from `key`.

    `key` is split into `(k_params, k_probes)`: the network is
    [`init_mlp(config, key=k_params)`][limitlab.numerics.init_mlp] and the sample is
    [`correlation_integrand`][limitlab.numerics.correlation_integrand] at it with
    `key=k_probes`.  Its mean over keys is the correlation function $C(x_1,\\dots,x_m)$ of
    random-tensor-orders.md §2, exactly (no bias, at any width).  Jittable (close over
    `correlation`, `config`; `inputs` may be traced) and vmappable over keys.

    **Arguments:** as [`correlation_integrand`][limitlab.numerics.correlation_integrand], with
    `key` (required) drawing both the network and the probes.

    **Returns:** the scalar sample.

    **Raises:** `ValueError`/`TypeError` for a malformed correlation or inputs.
    """
    _check_config(config)
    _require_scalar_output(config, "a correlation function of f")
    plan = _plan(correlation)
    n_probes = _check_probes(n_probes)
    xs = _check_input_vectors(plan, config, inputs)
    k_params, k_probes = jax.random.split(key)
    params = init_mlp(config, key=k_params)
    return _evaluate(plan, config, params, xs, k_probes, n_probes)


def _describe(correlation) -> list:
    return [[order, label, [str(i) for i in indices]] for order, label, indices in
            _tensor_key(correlation)]


def correlation_estimate(
    correlation,
    config: MLPConfig,
    inputs: Mapping[str, Float[Array, " D"]],
    *,
    seed: int,
    n_seeds: int,
    n_probes: int = 1,
    **run_ensemble_kwargs,
) -> np.ndarray:
    """Per-seed samples of a correlation function, through
    [`run_ensemble`][limitlab.numerics.run_ensemble].

    Seed index $i$ draws its network (and probes) from `fold_in(key(seed), i)`; the mean of
    the returned array estimates $C$ with standard error `std(ddof=1) / sqrt(n_seeds)`.

    **Arguments:**

    - `correlation`, `config`, `inputs`, `n_probes`: as in
      [`correlation_sample`][limitlab.numerics.correlation_sample].
    - `seed`, `n_seeds`: the ensemble's base seed and size.
    - `run_ensemble_kwargs`: passed on (`checkpoint`, `resume`, `chunk_size`, `progress`,
      `x64`, ...).  Defaults set here: `microbatch` such that `microbatch * P` stays below
      $2^{23}$ (at most 256; vmapping seeds multiplies memory by the micro-batch), and a
      `config` describing the correlation, the network, the inputs and `n_probes` (its hash
      guards checkpoints).

    **Returns:** a float numpy array of shape `(n_seeds,)` (float64 unless `x64=False`).

    **Raises:** `ValueError`/`TypeError` for bad arguments (before anything is compiled).
    """
    _check_config(config)
    _require_scalar_output(config, "a correlation function of f")
    plan = _plan(correlation)
    n_probes = _check_probes(n_probes)
    _check_input_vectors(plan, config, inputs)
    labels = sorted({label for _, label in plan.tensors})
    fixed = {label: np.asarray(inputs[label], dtype=np.float64) for label in labels}
    run_ensemble_kwargs.setdefault(
        "microbatch", max(1, min(256, _MICROBATCH_PARAMETERS // num_parameters(config)))
    )
    run_ensemble_kwargs.setdefault(
        "config",
        {
            "simulation": "correlation_sample",
            "correlation": _describe(correlation),
            "mlp": dataclasses.asdict(config),
            "inputs": {label: fixed[label].tolist() for label in labels},
            "n_probes": n_probes,
        },
    )

    def simulate(key):
        xs = {label: jnp.asarray(x) for label, x in fixed.items()}
        return correlation_sample(correlation, config, xs, key=key, n_probes=n_probes)

    return run_ensemble(simulate, seed=seed, n_seeds=n_seeds, **run_ensemble_kwargs)


def default_inputs(
    labels: Iterable[str], input_dim: int, *, seed: int = 0, radius: float = 1.0
) -> dict[str, np.ndarray]:
    """Fixed random input vectors, one per label, uniform on the sphere of radius `radius`.

    The vector of a label depends only on `(seed, label, input_dim)`: it is a normalised
    standard Gaussian vector from `numpy.random.default_rng([seed, crc32(label)])`, so adding
    labels never changes the others, and runs are reproducible across machines.  D&G §9 use
    random inputs of dimension 4 [paper]; the unit norm is limitlab's choice (with the default
    $D^{-1/2}$ input scaling, first-layer pre-activations then have variance $1/D$).

    **Arguments:**

    - `labels`: input labels (strings).
    - `input_dim`: dimension $D\\ge1$.
    - `seed`: integer seed $\\ge0$.
    - `radius`: norm of every vector ($>0$).

    **Returns:** `{label: float64 array of shape (input_dim,)}` in the order given.

    **Raises:** `ValueError` for bad arguments.
    """
    if isinstance(input_dim, bool) or not isinstance(input_dim, int | np.integer) or input_dim < 1:
        raise ValueError(f"input_dim must be an integer >= 1, got {input_dim!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(radius, bool) or not isinstance(radius, int | float | np.floating) or not (
        math.isfinite(radius) and radius > 0
    ):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    if isinstance(labels, str):
        raise ValueError(f"labels must be an iterable of labels, not one string {labels!r}")
    out = {}
    for label in labels:
        if not isinstance(label, str):
            raise ValueError(f"labels must be strings, got {label!r}")
        rng = np.random.default_rng([int(seed), zlib.crc32(label.encode())])
        v = rng.standard_normal(int(input_dim))
        out[label] = float(radius) * v / np.linalg.norm(v)
    return out


def _sample_statistics(samples: np.ndarray) -> dict[str, np.ndarray]:
    n = samples.shape[0]
    mean = samples.mean(axis=0)
    second = np.mean(samples**2, axis=0)
    rms = np.sqrt(second)
    ddof = 1 if n > 1 else 0
    sem = samples.std(axis=0, ddof=ddof) / np.sqrt(n)
    second_sem = (samples**2).std(axis=0, ddof=ddof) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rms_sem = np.where(rms > 0, second_sem / (2 * rms), np.nan)
    return {"mean": mean, "sem": sem, "rms": rms, "rms_sem": rms_sem}


def width_sweep(
    correlation,
    widths: Sequence[int],
    *,
    depth: int,
    activation: str,
    parametrization: Any = "ntk",
    inputs: Mapping[str, Float[Array, " D"]] | None = None,
    input_dim: int | None = None,
    bias_std: float = 0.0,
    input_scaling: bool = True,
    seed: int,
    n_seeds: int,
    statistic: str = "mean",
    n_probes: int = 1,
    **run_ensemble_kwargs,
) -> dict[str, Any]:
    """Samples of a correlation function at several widths, with means, RMS and standard errors.

    For each width $n$ the network is
    `MLPConfig(depth, n, input_dim, activation, parametrization, bias_std, input_scaling)` and
    the samples are [`correlation_estimate`][limitlab.numerics.correlation_estimate] with the
    same `seed` at every width.  No exponent is fitted here: the validation layer fits
    $\\log|\\text{statistic}|$ against $\\log n$ (with its bootstrap over seeds) and compares the
    slope with the cluster-graph exponent $s_C$ (mean) or the variance bound (RMS,
    random-tensor-orders.md §5.1, §10).

    **Arguments:**

    - `correlation`: as in [`correlation_sample`][limitlab.numerics.correlation_sample].
    - `widths`: distinct positive integer widths.
    - `depth`, `activation`, `parametrization`, `bias_std`, `input_scaling`: the network
      ([`MLPConfig`][limitlab.numerics.MLPConfig]).
    - `inputs`: `{label: vector}`; default
      [`default_inputs`][limitlab.numerics.default_inputs] of the correlation's labels.
    - `input_dim`: input dimension; default the inputs' dimension, or 4 (D&G §9) when
      `inputs` is not given.
    - `seed`, `n_seeds`: the ensemble at each width.
    - `statistic`: `"mean"` or `"rms"`: which of the two is returned as `"value"`.
    - `n_probes`, `run_ensemble_kwargs`: passed on (a `checkpoint` path, if any, is suffixed
      with `-n<width>` per width).

    **Returns:** a dict with `"widths"` (int array), `"samples"` (`(n_seeds, n_widths)`),
    `"mean"`, `"sem"` (standard error of the mean), `"rms"` ($\\sqrt{\\overline{X^2}}$),
    `"rms_sem"` (delta method), `"statistic"`, `"value"` and `"value_sem"` (the chosen
    statistic and its standard error), all numpy arrays over widths.

    **Raises:** `ValueError` for bad arguments.
    """
    if statistic not in ("mean", "rms"):
        raise ValueError(f"statistic must be 'mean' or 'rms', got {statistic!r}")
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence | np.ndarray):
        raise ValueError(f"widths must be a sequence of positive integers, got {widths!r}")
    widths = list(widths)
    if not widths or any(
        isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 1 for w in widths
    ):
        raise ValueError(f"widths must be a non-empty sequence of integers >= 1, got {widths!r}")
    if len(set(int(w) for w in widths)) != len(widths):
        raise ValueError(f"widths must be distinct, got {widths!r}")
    plan = _plan(correlation)
    labels = list(dict.fromkeys(label for _, label in plan.tensors))
    if inputs is None:
        dim = 4 if input_dim is None else input_dim
        inputs = default_inputs(labels, dim, seed=0)
    else:
        if not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must map input labels to vectors, got {type(inputs).__name__}")
        missing = [label for label in labels if label not in inputs]
        if missing:
            raise ValueError(
                f"inputs has no vector for input label(s) {missing}; labels given: "
                f"{sorted(map(str, inputs))}"
            )
        shapes = {np.shape(inputs[label]) for label in labels}
        inferred = next(iter(shapes))[-1] if len(shapes) == 1 and next(iter(shapes)) else None
        dim = inferred if input_dim is None else input_dim
        if dim is None:
            raise ValueError(
                f"inputs must be vectors of one shape (input_dim,), got shapes {sorted(shapes)}"
            )
    checkpoint = run_ensemble_kwargs.pop("checkpoint", None)
    columns = []
    for width in widths:
        config = MLPConfig(
            depth=depth,
            width=int(width),
            input_dim=dim,
            activation=activation,
            parametrization=parametrization,
            bias_std=bias_std,
            input_scaling=input_scaling,
        )
        kwargs = dict(run_ensemble_kwargs)
        if checkpoint is not None:
            path = str(checkpoint)
            stem, dot, ext = path.rpartition(".") if path.endswith(".npz") else (path, "", "")
            kwargs["checkpoint"] = f"{stem}-n{int(width)}{dot}{ext}"
        columns.append(
            correlation_estimate(
                correlation, config, inputs, seed=seed, n_seeds=n_seeds, n_probes=n_probes,
                **kwargs,
            )
        )
    samples = np.stack(columns, axis=1)
    stats = _sample_statistics(samples)
    value_sem = stats["sem"] if statistic == "mean" else stats["rms_sem"]
    return {
        "widths": np.asarray([int(w) for w in widths]),
        "samples": samples,
        **stats,
        "statistic": statistic,
        "value": stats[statistic],
        "value_sem": value_sem,
    }
