import sys

import jax
import numpy as np
import pytest

from limitlab.numerics import (
    Dataset,
    MLPConfig,
    digits_dataset,
    float64,
    init_mlp,
    mlp_apply,
    sign_product_dataset,
    teacher_student_dataset,
)

try:
    from sklearn import datasets as sklearn_datasets
except ImportError:  # optional (limitlab[data]): only the digits tests need it
    sklearn_datasets = None

needs_sklearn = pytest.mark.skipif(sklearn_datasets is None,
                                   reason="scikit-learn is not installed (limitlab[data])")


def _numpy(dataset):
    return Dataset(*(np.asarray(a) for a in dataset))


def _raw_digits():
    bunch = sklearn_datasets.load_digits()
    return np.asarray(bunch.data, dtype=float), np.asarray(bunch.target)


def _raw_indices(x, raw):
    """Row index in the raw data of each (unstandardised) image; the digits have no duplicates."""
    lookup = {row.tobytes(): i for i, row in enumerate(raw)}
    return np.array([lookup[row.tobytes()] for row in np.asarray(x, dtype=float)])


@needs_sklearn
def test_digits_shapes_dtypes_and_determinism():
    with float64():
        data = _numpy(digits_dataset(n_train=50, n_test=20, key=jax.random.key(0)))
        again = _numpy(digits_dataset(n_train=50, n_test=20, key=jax.random.key(0)))
        other = _numpy(digits_dataset(n_train=50, n_test=20, key=jax.random.key(1)))
    assert isinstance(data, Dataset)
    assert data.x_train.shape == (50, 64) and data.x_test.shape == (20, 64)
    assert data.y_train.shape == (50,) and data.y_test.shape == (20,)
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int32
    assert set(np.unique(data.y_train)) <= set(range(10))
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.x_train, other.x_train)
    # standardised with the training split's statistics (blank pixels: centred only)
    x = np.asarray(data.x_train)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    std = x.std(axis=0)
    assert np.all((np.abs(std - 1) < 1e-12) | (std < 1e-12))
    assert np.sum(std > 0.5) > 40
    # outside float64() the default float
    assert digits_dataset(n_train=5, n_test=5, key=jax.random.key(0)).x_train.dtype == np.float32


@needs_sklearn
def test_digits_classes_labels_and_disjoint_split():
    raw, target = _raw_digits()
    key = jax.random.key(3)
    with float64():
        data = _numpy(digits_dataset(n_train=60, n_test=30, key=key, classes=(8, 3),
                                     standardise=False))
        sign = _numpy(digits_dataset(n_train=60, n_test=30, key=key, classes=(8, 3),
                                     labels="sign"))
        one_hot = _numpy(digits_dataset(n_train=60, n_test=30, key=key, classes=(8, 3),
                                        labels="one_hot"))
    train, test = _raw_indices(data.x_train, raw), _raw_indices(data.x_test, raw)
    assert not set(train) & set(test)
    # labels are positions in `classes`: 8 -> 0, 3 -> 1
    np.testing.assert_array_equal(target[train], np.where(np.asarray(data.y_train) == 0, 8, 3))
    np.testing.assert_array_equal(target[test], np.where(np.asarray(data.y_test) == 0, 8, 3))
    assert set(np.unique(data.y_train)) == {0, 1}
    assert np.all(np.asarray(data.x_train) >= 0) and np.max(data.x_train) == 16
    # the same split and order in every label format; sign: classes[0] -> -1
    np.testing.assert_array_equal(sign.y_train, 2.0 * np.asarray(data.y_train) - 1.0)
    np.testing.assert_array_equal(one_hot.y_test, np.eye(2)[np.asarray(data.y_test)])
    assert sign.y_train.dtype == np.float64 and one_hot.y_train.shape == (60, 2)
    np.testing.assert_allclose(np.asarray(sign.x_train).mean(axis=0), 0.0, atol=1e-12)


@needs_sklearn
@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        (dict(n_train=0), "n_train"),
        (dict(n_test=2.5), "n_test"),
        (dict(n_train=1700, n_test=200), "n_train \\+ n_test"),
        (dict(classes=(1, 2), n_train=300, n_test=100), "n_train \\+ n_test"),
        (dict(classes=(1, 1)), "classes"),
        (dict(classes=(3,)), "classes"),
        (dict(classes=(0, 10)), "classes"),
        (dict(classes="01"), "classes"),
        (dict(labels="binary"), "labels"),
        (dict(labels="sign"), "labels='sign'"),
        (dict(standardise=1), "standardise"),
        (dict(key=0), "key"),
    ],
)
def test_digits_bad_inputs(changes, argument):
    kwargs = dict(n_train=10, n_test=10, key=jax.random.key(0))
    kwargs.update(changes)
    with pytest.raises(ValueError, match=argument):
        digits_dataset(**kwargs)


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were missing.
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'limitlab\[data\]'"):
        digits_dataset(n_train=10, n_test=10, key=jax.random.key(0))


_TEACHER = MLPConfig(depth=1, width=32, input_dim=5, activation="tanh")


@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
def test_teacher_student(inputs):
    key = jax.random.key(4)
    with float64():
        common = dict(n_train=400, n_test=30, key=key, teacher=_TEACHER, inputs=inputs,
                      noise_std=0.5)
        data = _numpy(teacher_student_dataset(**common))
        again = _numpy(teacher_student_dataset(**common))
        noisy = _numpy(teacher_student_dataset(**common, noisy_test=True))
        # the documented key split regenerates the teacher
        teacher = init_mlp(_TEACHER, key=jax.random.split(key, 3)[1])
        clean_train = np.asarray(mlp_apply(_TEACHER, teacher, data.x_train))
        clean_test = np.asarray(mlp_apply(_TEACHER, teacher, data.x_test))
    assert data.x_train.shape == (400, 5) and data.y_train.shape == (400,)
    assert data.x_test.shape == (30, 5) and data.y_test.shape == (30,)
    assert data.x_train.dtype == np.float64
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(data.y_test, clean_test, rtol=1e-12, atol=1e-14)
    noise = data.y_train - clean_train
    # sample std of 400 N(0, 0.25) draws: standard error 0.5 / sqrt(800) ~ 0.018
    assert abs(noise.std() - 0.5) < 0.1 and abs(noise.mean()) < 0.1
    np.testing.assert_array_equal(noisy.y_train, data.y_train)
    assert not np.allclose(noisy.y_test, data.y_test)
    norms = np.linalg.norm(np.asarray(data.x_train), axis=1) ** 2
    if inputs == "sphere":
        np.testing.assert_allclose(norms, 5.0, rtol=1e-12)
    else:
        assert np.std(norms) > 1.0


@pytest.mark.parametrize(
    ("changes", "error", "argument"),
    [
        (dict(teacher="ntk"), TypeError, "teacher"),
        (dict(inputs="uniform"), ValueError, "inputs"),
        (dict(noise_std=-1.0), ValueError, "noise_std"),
        (dict(noise_std=float("nan")), ValueError, "noise_std"),
        (dict(n_test=0), ValueError, "n_test"),
        (dict(noisy_test="yes"), ValueError, "noisy_test"),
        (dict(key=1), ValueError, "key"),
    ],
)
def test_teacher_student_bad_inputs(changes, error, argument):
    kwargs = dict(n_train=10, n_test=5, key=jax.random.key(0), teacher=_TEACHER)
    kwargs.update(changes)
    with pytest.raises(error, match=argument):
        teacher_student_dataset(**kwargs)


def test_sign_product():
    key = jax.random.key(7)
    with float64():
        data = _numpy(sign_product_dataset(n_train=3000, n_test=1000, key=key))
        again = _numpy(sign_product_dataset(n_train=3000, n_test=1000, key=key))
        other = _numpy(sign_product_dataset(n_train=3000, n_test=1000, key=jax.random.key(8)))
        wide = _numpy(sign_product_dataset(n_train=10, n_test=5, input_dim=3, key=key))
    assert data.x_train.shape == (3000, 8) and data.x_test.shape == (1000, 8)
    assert data.y_train.shape == (3000,) and data.y_test.shape == (1000,)
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int32
    assert wide.x_train.shape == (10, 3)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.x_train, other.x_train)
    # the documented draw: rows of one normal array, the first n_train for training
    with float64():
        x = np.asarray(jax.random.normal(key, (4000, 8)))
    np.testing.assert_array_equal(np.concatenate([data.x_train, data.x_test]), x)
    for xs, ys in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        np.testing.assert_array_equal(ys, (xs[:, 0] * xs[:, 1] > 0).astype(np.int32))
    # balanced classes: P(y = 1) = 1/2, standard error sqrt(1/4 / 4000) ~ 0.008
    labels = np.concatenate([data.y_train, data.y_test])
    assert abs(labels.mean() - 0.5) < 0.04
    # standard normal inputs: 32,000 entries, standard errors ~ 0.006 (mean), 0.008 (var)
    assert abs(x.mean()) < 0.03 and abs(x.var() - 1) < 0.04
    # the label is not linearly predictable: each coordinate's correlation with y is ~ 0
    centred = labels - labels.mean()
    assert np.all(np.abs(x.T @ centred / len(labels)) < 0.05)
    # outside float64() the default float
    assert sign_product_dataset(n_train=5, n_test=5, key=key).x_train.dtype == np.float32


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        (dict(n_train=0), "n_train"),
        (dict(n_test=1.5), "n_test"),
        (dict(input_dim=1), "input_dim"),
        (dict(key=3), "key"),
    ],
)
def test_sign_product_bad_inputs(changes, argument):
    kwargs = dict(n_train=10, n_test=5, key=jax.random.key(0))
    kwargs.update(changes)
    with pytest.raises(ValueError, match=argument):
        sign_product_dataset(**kwargs)
