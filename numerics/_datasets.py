"""Small data sets for training experiments: scikit-learn's bundled digits, a teacher MLP and
the sign of a product of two coordinates.

Both return a [`Dataset`][limitlab.numerics.Dataset] whose field names are the keyword
arguments of the training functions, so `iterative_linearised_training(apply_fn, params,
**dataset._asdict(), ...)` works.  Draws are pure functions of the explicit `key`.

The digits are the UCI optical-recognition handwritten digits as shipped inside scikit-learn
(`sklearn.datasets.load_digits`: 1797 images of $8\\times8$ pixels with intensities
$0,\\dots,16$, about 180 per class; no download).  scikit-learn is an optional dependency
(`pip install 'limitlab[data]'`), imported only when the digits are asked for.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, Float, Key
from ._linearisation import _check_int
from ._mlp import MLPConfig, init_mlp, mlp_apply
from ._sphere_sampling import sample_sphere

__all__ = ["Dataset", "digits_dataset", "sign_product_dataset", "teacher_student_dataset"]

_DIGIT_LABELS = ("index", "one_hot", "sign")
_TEACHER_INPUTS = ("gaussian", "sphere")


class Dataset(NamedTuple):
    """Training and test split of a data set (a pytree; `._asdict()` gives keyword arguments).

    - `x_train` `(n_train, D)`, `y_train` `(n_train,)` or `(n_train, C)`.
    - `x_test` `(n_test, D)`, `y_test` `(n_test,)` or `(n_test, C)`.
    """

    x_train: Float[Array, "n_train D"]
    y_train: Array
    x_test: Float[Array, "n_test D"]
    y_test: Array


def _sklearn_load_digits():
    """`sklearn.datasets.load_digits`, imported on demand (scikit-learn is optional)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "digits_dataset needs scikit-learn (for its bundled digits data set): "
            "pip install 'limitlab[data]'"
        ) from error
    return load_digits


@functools.lru_cache(maxsize=1)
def _digits_arrays(load_digits) -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    data, target = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    data.flags.writeable = False
    target.flags.writeable = False
    return data, target


def _check_key(key) -> None:
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
    if not (typed and key.shape == ()):
        raise ValueError(
            f"key must be a typed PRNG key (jax.random.key(seed)), got {type(key).__name__}"
            + (f" of dtype {dtype}" if dtype is not None else "")
        )


def _check_classes(classes) -> tuple[int, ...]:
    if classes is None:
        return tuple(range(10))
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise ValueError(f"classes must be None or a sequence of digits 0..9, got {classes!r}")
    out = []
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c <= 9:
            raise ValueError(
                f"classes must hold distinct digits in 0..9, got {c!r} in {classes!r}"
            )
        out.append(int(c))
    if len(out) < 2 or len(set(out)) != len(out):
        raise ValueError(f"classes must hold at least two distinct digits, got {classes!r}")
    return tuple(out)


def digits_dataset(
    *,
    n_train: int,
    n_test: int,
    key: Key,
    classes: tuple[int, ...] | None = None,
    standardise: bool = True,
    labels: str = "index",
) -> Dataset:
    """A random train/test split of scikit-learn's bundled $8\\times8$ digits.

    The images of the chosen `classes` are shuffled with
    `jax.random.permutation(key, n_available)`; the first `n_train` form the training set, the
    next `n_test` the test set (disjoint).  Inputs are the 64 pixel intensities.  With
    `standardise=True` each pixel is centred and scaled by the mean and standard deviation of
    the *training* split (pixels constant on the training split, e.g. blank corners, are only
    centred), so no test information leaks; with `False` the raw intensities $0,\\dots,16$.

    **Arguments:**

    - `n_train`, `n_test`: sizes, $\\ge1$, with `n_train + n_test` at most the number of
      images of the chosen classes (1797 for all ten).
    - `key`: typed PRNG key of the split.
    - `classes`: the digits to keep, at least two distinct, in `0..9` (default all ten).
      Labels are their positions in `classes`: `classes=(3, 8)` maps 3 to 0 and 8 to 1.
    - `standardise`: per-pixel standardisation on the training split (default `True`).
    - `labels`: `"index"` (default; integer labels in $[0,C)$, $C$ = `len(classes)`, for
      cross-entropy), `"one_hot"` (float `(n, C)` for MSE with $C$ outputs) or `"sign"`
      (exactly two classes; float $\\pm1$: `classes[0]` $\\to-1$, `classes[1]` $\\to+1$, for
      a scalar-output model).

    **Returns:** a [`Dataset`][limitlab.numerics.Dataset] with `x` of shape `(n, 64)` in JAX's
    default float (float64 inside [`float64()`][limitlab.numerics.float64]) and labels as
    above (`"index"`: int32).

    **Raises:**

    - `ImportError` if scikit-learn is not installed (`pip install 'limitlab[data]'`).
    - `ValueError` naming the argument for sizes that are not positive integers or exceed the
      available images, bad `classes`, an unknown `labels`, or `"sign"` with other than two
      classes.
    """
    n_train = _check_int("n_train", n_train, 1)
    n_test = _check_int("n_test", n_test, 1)
    _check_key(key)
    classes = _check_classes(classes)
    if not isinstance(standardise, bool):
        raise ValueError(f"standardise must be True or False, got {standardise!r}")
    if labels not in _DIGIT_LABELS:
        raise ValueError(f"labels must be one of {_DIGIT_LABELS}, got {labels!r}")
    if labels == "sign" and len(classes) != 2:
        raise ValueError(
            f"labels='sign' needs exactly two classes, got classes={classes!r}"
        )
    data, target = _digits_arrays(_sklearn_load_digits())
    keep = np.isin(target, classes)
    data, target = data[keep], target[keep]
    available = data.shape[0]
    if n_train + n_test > available:
        raise ValueError(
            f"n_train + n_test must be at most {available} (the images of classes "
            f"{classes}), got n_train={n_train}, n_test={n_test}"
        )
    order = np.asarray(jax.random.permutation(key, available))[: n_train + n_test]
    x = data[order]
    position = {c: i for i, c in enumerate(classes)}
    index = np.asarray([position[int(c)] for c in target[order]], dtype=np.int32)
    if standardise:
        mean = x[:n_train].mean(axis=0)
        std = x[:n_train].std(axis=0)
        # Constant pixels carry no information; dividing by 1 keeps them at 0 after centring.
        x = (x - mean) / np.where(std > 0, std, 1.0)
    dtype = jnp.result_type(float)
    if labels == "index":
        y = jnp.asarray(index, dtype=jnp.int32)
    elif labels == "one_hot":
        y = jax.nn.one_hot(index, len(classes), dtype=dtype)
    else:
        y = jnp.asarray(2.0 * index - 1.0, dtype=dtype)
    x = jnp.asarray(x, dtype=dtype)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def teacher_student_dataset(
    *,
    n_train: int,
    n_test: int,
    key: Key,
    teacher: MLPConfig,
    inputs: str = "gaussian",
    noise_std: float = 0.0,
    noisy_test: bool = False,
) -> Dataset:
    """Synthetic regression: inputs $x$, labels $y=f^\\star(x)+\\sigma\\varepsilon$ from a
    random teacher network.

    The key is split as `key_inputs, key_teacher, key_noise = jax.random.split(key, 3)`.  The
    `n_train + n_test` inputs are drawn from `key_inputs` (the first `n_train` are the
    training set): `"gaussian"` i.i.d. $\\mathcal N(0,I_D)$, or `"sphere"` uniform on
    $\\mathbb S^{D-1}(\\sqrt D)$ ([`sample_sphere`][limitlab.numerics.sample_sphere]).  The
    teacher is $f^\\star$ = `mlp_apply(teacher, init_mlp(teacher, key=key_teacher), x)` (so its
    parameters can be regenerated from the key), and
    $\\varepsilon\\sim\\mathcal N(0,1)$ i.i.d. from `key_noise` is added to the training labels
    (and to the test labels with `noisy_test=True`; by default the test labels are clean, so
    the test loss measures the distance to $f^\\star$).

    **Arguments:**

    - `n_train`, `n_test`: sizes $\\ge1$.
    - `key`: typed PRNG key.
    - `teacher`: the teacher's [`MLPConfig`][limitlab.numerics.MLPConfig]; its `input_dim` is
      $D$.
    - `inputs`: `"gaussian"` (default) or `"sphere"`.
    - `noise_std`: $\\sigma\\ge0$, finite (default 0).
    - `noisy_test`: add label noise to the test labels too.

    **Returns:** a [`Dataset`][limitlab.numerics.Dataset]: `x` `(n, D)`, `y` `(n,)`, in JAX's
    default float.

    **Raises:** `TypeError` if `teacher` is not an `MLPConfig`; `ValueError` naming the
    argument for bad sizes, `inputs` or `noise_std`.
    """
    n_train = _check_int("n_train", n_train, 1)
    n_test = _check_int("n_test", n_test, 1)
    _check_key(key)
    if not isinstance(teacher, MLPConfig):
        raise TypeError(f"teacher must be an MLPConfig, got {type(teacher).__name__}")
    if inputs not in _TEACHER_INPUTS:
        raise ValueError(f"inputs must be one of {_TEACHER_INPUTS}, got {inputs!r}")
    if (
        isinstance(noise_std, bool)
        or not isinstance(noise_std, numbers.Real)
        or not np.isfinite(noise_std)
        or noise_std < 0
    ):
        raise ValueError(f"noise_std must be a finite real number >= 0, got {noise_std!r}")
    if not isinstance(noisy_test, bool):
        raise ValueError(f"noisy_test must be True or False, got {noisy_test!r}")
    dtype = jnp.result_type(float)
    return _teacher_student(
        key, jnp.asarray(noise_std, dtype=dtype), jnp.asarray(noisy_test), n_train=n_train,
        n_test=n_test, teacher=teacher, inputs=inputs,
    )


@functools.partial(jax.jit, static_argnames=("n_train", "n_test", "teacher", "inputs"))
def _teacher_student(key, noise_std, noisy_test, *, n_train, n_test, teacher, inputs):
    dtype = jnp.result_type(float)
    key_inputs, key_teacher, key_noise = jax.random.split(key, 3)
    n, d = n_train + n_test, teacher.input_dim
    if inputs == "sphere":
        x = sample_sphere(n, d, key=key_inputs)
    else:
        x = jax.random.normal(key_inputs, (n, d), dtype=dtype)
    y = mlp_apply(teacher, init_mlp(teacher, key=key_teacher), x)
    noise = noise_std * jax.random.normal(key_noise, (n,), dtype=dtype)
    keep = (jnp.arange(n) < n_train) | noisy_test
    y = y + jnp.where(keep, noise, 0.0)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def sign_product_dataset(*, n_train: int, n_test: int, input_dim: int = 8, key: Key) -> Dataset:
    """Two-class synthetic task: $x\\sim\\mathcal N(0,I_D)$, $y=\\mathbb 1[x_1x_2>0]$.

    A task whose target is degree 2 (the sign of the product of the first two coordinates; the
    other $D-2$ coordinates are noise), so that kernel regression at initialisation needs many
    samples while a network that learns features does not.  The Bayes accuracy is 1 and the
    classes are exactly balanced ($P(x_1x_2>0)=1/2$).  The
    `n_train + n_test` inputs are i.i.d. standard normal rows of
    `jax.random.normal(key, (n_train + n_test, input_dim))`, the first `n_train` the training
    set [derived].

    **Arguments:**

    - `n_train`, `n_test`: sizes $\\ge1$.
    - `input_dim`: $D\\ge2$ (default 8).
    - `key`: typed PRNG key.

    **Returns:** a [`Dataset`][limitlab.numerics.Dataset]: `x` `(n, D)` in JAX's default float
    (float64 inside [`float64()`][limitlab.numerics.float64]), `y` `(n,)` int32 labels in
    $\\{0,1\\}$ (for `loss="cross-entropy"` with two outputs).

    **Raises:** `ValueError` naming the argument for sizes that are not positive integers,
    `input_dim` < 2 or a key that is not a typed PRNG key.
    """
    n_train = _check_int("n_train", n_train, 1)
    n_test = _check_int("n_test", n_test, 1)
    input_dim = _check_int("input_dim", input_dim, 2)
    _check_key(key)
    x = jax.random.normal(key, (n_train + n_test, input_dim), dtype=jnp.result_type(float))
    y = (x[:, 0] * x[:, 1] > 0).astype(jnp.int32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
