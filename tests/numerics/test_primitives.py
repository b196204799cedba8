import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import (
    ACTIVATIONS,
    activation,
    check_finite,
    float64,
    key_from_seed,
    random_feature_kernel,
    seed_key,
    two_layer_output,
)


def test_float64_is_local():
    with float64():
        assert jnp.ones(2).dtype == jnp.float64
    assert jnp.ones(2).dtype == jnp.float32


def test_check_finite_names_the_leaf():
    check_finite("result", {"a": np.ones(3)})
    with pytest.raises(FloatingPointError, match=r"result\['b'\] has 1 non-finite"):
        check_finite("result", {"a": np.ones(3), "b": np.array([1.0, np.nan])})


def test_keys_are_reproducible():
    a = jax.random.normal(seed_key(3, 5), (4,))
    b = jax.random.normal(jax.random.fold_in(key_from_seed(3), 5), (4,))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="seed must be an integer"):
        key_from_seed(1.5)


def test_activations_whitelist():
    assert set(ACTIVATIONS) == {"linear", "relu", "tanh", "erf", "gelu"}
    with pytest.raises(ValueError, match="activation must be one of"):
        activation("swish")


def test_random_features_shapes_and_errors(key):
    with float64():
        value = random_feature_kernel(np.ones(3), np.ones(3), 16, key=key)
        assert value.shape == () and value.dtype == jnp.float64
        out = two_layer_output(np.ones((5, 4)), 8, key=key)
        assert out.shape == (5,)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        two_layer_output(np.ones(4), 0, key=key)
    with pytest.raises(ValueError, match="x and y must be vectors"):
        random_feature_kernel(np.ones(3), np.ones(4), 4, key=key)


def test_two_layer_output_variance_matches_nngp(key):
    # E f^2 = E relu(u)^2 = 1/2 at every width (|x|^2 = d); 20000 draws, 5 standard errors.
    with float64():
        keys = jax.random.split(key, 20000)
        f = jax.vmap(lambda k: two_layer_output(np.ones(4), 3, key=k))(keys)
    f = np.asarray(f)
    se = np.std(f**2) / np.sqrt(f.size)
    assert abs(np.mean(f**2) - 0.5) < 5 * se
