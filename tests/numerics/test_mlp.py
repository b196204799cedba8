import dataclasses
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import (
    ACTIVATIONS,
    MLPConfig,
    float64,
    init_mlp,
    learning_rate_scale,
    mlp_apply,
    num_parameters,
    ravel_mlp,
)


@dataclasses.dataclass(frozen=True)
class Param:
    a: object
    b: object
    name: str


def test_ntk_forward_is_dyer_gur_ari_formula():
    # f = n^-1/2 V sigma(n^-1/2 W sigma(U x / sqrt(D))), all parameters N(0, 1) (D&G §1).
    config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh")
    x = jnp.array([0.3, -1.2, 0.8])
    with float64():
        params = init_mlp(config, key=jax.random.key(0))
        u, w, v = (layer["W"] for layer in params)
        expected = v @ jnp.tanh(w @ jnp.tanh(u @ x / jnp.sqrt(3.0)) / jnp.sqrt(6.0)) / jnp.sqrt(6.0)
        out = mlp_apply(config, params, x)
    assert out.shape == () and out.dtype == jnp.float64
    np.testing.assert_allclose(out, expected[0], rtol=1e-14)
    assert [layer["W"].shape for layer in params] == [(6, 3), (6, 6), (1, 6)]


def test_batch_and_single_inputs_agree():
    config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh", bias_std=0.3)
    with float64():
        params = init_mlp(config, key=jax.random.key(1))
        xs = jax.random.normal(jax.random.key(2), (4, 3))
        batch = mlp_apply(config, params, xs)
        single = jnp.stack([mlp_apply(config, params, x) for x in xs])
    assert batch.shape == (4,)
    np.testing.assert_allclose(batch, single, rtol=1e-13)


def test_standard_parametrization_has_the_ntk_function_at_init():
    # Same normals, multipliers moved into the initial standard deviations: same f.
    with float64():
        for scaling in (True, False):
            for bias in (0.0, 0.4):
                common = dict(depth=2, width=6, input_dim=3, activation="tanh",
                              bias_std=bias, input_scaling=scaling)
                ntk, sp = MLPConfig(**common), MLPConfig(**common, parametrization="standard")
                x = jnp.array([[0.5, -0.1, 2.0], [1.0, 1.0, -1.0]])
                key = jax.random.key(3)
                np.testing.assert_allclose(
                    mlp_apply(sp, init_mlp(sp, key=key), x),
                    mlp_apply(ntk, init_mlp(ntk, key=key), x),
                    rtol=1e-12, atol=1e-15,
                )


def test_readout_exponent_of_mean_field_and_general():
    x = jnp.array([0.2, 0.9])
    key = jax.random.key(4)
    n = 9
    with float64():
        outputs = {}
        for name in ("ntk", "mean-field", "general:a=1/2,b=0", "general:a=1,b=1",
                     "general: b = 3/2 , a = 3/4"):
            config = MLPConfig(depth=1, width=n, input_dim=2, activation="relu",
                               parametrization=name)
            outputs[name] = float(mlp_apply(config, init_mlp(config, key=key), x))
    assert outputs["general:a=1/2,b=0"] == pytest.approx(outputs["ntk"], rel=1e-14)
    assert outputs["general:a=1,b=1"] == pytest.approx(outputs["mean-field"], rel=1e-14)
    assert outputs["mean-field"] == pytest.approx(outputs["ntk"] / np.sqrt(n), rel=1e-14)
    assert outputs["general: b = 3/2 , a = 3/4"] == pytest.approx(
        outputs["ntk"] * n**-0.25, rel=1e-14
    )


def test_parametrization_canonical_forms_and_learning_rates():
    def make(p):
        return MLPConfig(depth=1, width=16, input_dim=1, activation="linear", parametrization=p)

    assert make("NTK").parametrization == "ntk"
    assert make("general:a=0.5,b=0").parametrization == "general:a=1/2,b=0"
    assert make(Param(a=0.5, b=-1, name="my-rule")).parametrization == "general:a=1/2,b=-1"
    assert make(Param(a=1, b=1, name="mean-field")).parametrization == "mean-field"
    assert make("general:a=2/3,b=1/4").readout_exponent == Fraction(2, 3)
    assert learning_rate_scale(make("ntk")) == 1.0
    assert learning_rate_scale(make("standard")) == pytest.approx(1 / 16)
    assert learning_rate_scale(make("mean-field")) == pytest.approx(16.0)
    assert learning_rate_scale(make("general:a=1,b=1/2")) == pytest.approx(4.0)
    hash(make(Param(a=Fraction(1, 3), b=0, name="x")))  # static under jit


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("depth", 0),
        ("depth", 1.5),
        ("depth", True),
        ("width", 0),
        ("input_dim", -2),
        ("activation", "softplus"),
        ("activation", None),
        ("parametrization", "muP"),
        ("parametrization", "general:a=1"),
        ("parametrization", "general:a=1,b=x"),
        ("parametrization", "general:a=1,a=2"),
        ("parametrization", 3),
        ("bias_std", -0.1),
        ("bias_std", float("nan")),
        ("bias_std", "0.1"),
        ("input_scaling", 1),
    ],
)
def test_config_rejects_bad_fields(field, value):
    kwargs = dict(depth=1, width=4, input_dim=2, activation="relu")
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        MLPConfig(**kwargs)


def test_all_activations_accepted():
    for name in ACTIVATIONS:
        MLPConfig(depth=1, width=2, input_dim=1, activation=name)


def test_num_parameters_matches_pytree():
    with float64():
        for bias in (0.0, 1.0):
            config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh", bias_std=bias)
            theta, apply = ravel_mlp(config, init_mlp(config, key=jax.random.key(0)))
            assert theta.shape == (num_parameters(config),)
            x = jnp.ones(3)
            params = init_mlp(config, key=jax.random.key(0))
            assert apply(theta, x) == mlp_apply(config, params, x)
            assert ("b" in params[0]) == (bias > 0)
    # One hidden layer, D_in = 1, no biases: U and V, P = 2n.
    assert num_parameters(MLPConfig(depth=1, width=10, input_dim=1, activation="linear")) == 20


def test_bad_inputs_raise():
    config = MLPConfig(depth=1, width=3, input_dim=2, activation="relu")
    params = init_mlp(config, key=jax.random.key(0))
    with pytest.raises(ValueError, match="input_dim"):
        mlp_apply(config, params, jnp.ones(3))
    with pytest.raises(ValueError, match="input_dim"):
        mlp_apply(config, params, jnp.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="layers"):
        mlp_apply(config, params[:1], jnp.ones(2))
    with pytest.raises(TypeError, match="MLPConfig"):
        init_mlp({"depth": 1}, key=jax.random.key(0))


def test_jit_and_initial_variance():
    # E f(x)^2 = E phi(u)^2 ... for linear activation and ||x||^2 = D: exactly ||x||^2 / D = 1.
    config = MLPConfig(depth=2, width=8, input_dim=3, activation="linear")
    x = jnp.array([1.0, -1.0, 1.0])
    with float64():
        keys = jax.random.split(jax.random.key(7), 4000)
        f = jax.jit(jax.vmap(lambda k: mlp_apply(config, init_mlp(config, key=k), x)))(keys)
    f = np.asarray(f)
    assert abs(np.mean(f**2) - 1.0) < 4 * np.std(f**2) / np.sqrt(f.size)


def test_several_outputs():
    import jax
    import numpy as np

    from limitlab.numerics import MLPConfig, empirical_ntk, init_mlp, mlp_apply, num_parameters

    config = MLPConfig(depth=2, width=8, input_dim=3, activation="relu", output_dim=4)
    one = MLPConfig(depth=2, width=8, input_dim=3, activation="relu")
    assert config.layer_sizes == (3, 8, 8, 4)
    assert num_parameters(config) == num_parameters(one) + 3 * 8
    params = init_mlp(config, key=jax.random.key(0))
    assert params[-1]["W"].shape == (4, 8)
    x = np.ones((5, 3))
    assert mlp_apply(config, params, x).shape == (5, 4)
    assert mlp_apply(config, params, x[0]).shape == (4,)
    # each output is the scalar network with that readout row
    single = [dict(layer) for layer in params]
    single[-1] = {"W": params[-1]["W"][2:3]}
    np.testing.assert_allclose(mlp_apply(one, single, x), mlp_apply(config, params, x)[:, 2],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="output_dim must be an integer >= 1"):
        MLPConfig(depth=1, width=8, input_dim=3, activation="relu", output_dim=0)
    with pytest.raises(ValueError, match="empirical_ntk needs a scalar-output network"):
        empirical_ntk(config, params, x)
