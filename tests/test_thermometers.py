"""Thermometer architectures: spin-flip symmetry, size agnosticism, .keras round trips, input checks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ising.lattice import cubic, graph_lattice, square, triangular  # noqa: E402
from models.layers import PeriodicPadding  # noqa: E402
from models.thermometers import (  # noqa: E402
    COARSE_LAYER,
    build_conv_thermometer,
    build_dense_thermometer,
    check_input,
    load_model,
    predict_beta,
    save_model,
    thermometer_lattice_name,
)


def random_spins(shape, n=6, seed=0):
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(n, *shape))


def perturb(model, seed=1, scale=0.5):
    """Give every weight (biases included) a random value, so symmetries are not accidents of init."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + scale * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def test_dense_thermometer_layout():
    lattice = square(8)
    model = build_dense_thermometer(lattice, hidden=64)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[0].name == COARSE_LAYER == "coarse"
    assert tuple(dense[0].kernel.shape) == (64, lattice.n_blocks) == (64, 16)
    assert dense[0].get_config()["activation"] == "tanh"
    assert [tuple(d.kernel.shape) for d in dense[1:]] == [(16, 64), (64, 1)]
    assert model.output_shape == (None, 1)
    assert thermometer_lattice_name(model) == "square"


def test_dense_thermometer_needs_blocks():
    chain = graph_lattice("ring", (6,), np.stack([(np.arange(6) - 1) % 6, (np.arange(6) + 1) % 6], 1))
    with pytest.raises(ValueError, match="no block partition"):
        build_dense_thermometer(chain)


def test_builds_are_reproducible():
    a = build_dense_thermometer(square(4), seed=3).get_weights()
    b = build_dense_thermometer(square(4), seed=3).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_dense_thermometer(square(8)),
        lambda: build_dense_thermometer(triangular(6)),
        lambda: build_conv_thermometer(square(8)),
        lambda: build_conv_thermometer(square(8), kernel_size=3),
    ],
    ids=["dense-square", "dense-triangular", "conv-square", "conv-square-k3"],
)
def test_global_spin_flip_leaves_prediction_unchanged(build):
    model = perturb(build())
    shape = model.input_shape[1:]
    spins = random_spins(tuple(8 if n is None else n for n in shape))
    up, down = predict_beta(model, spins), predict_beta(model, -spins)
    # A configuration and its flip must give different raw activations (not a trivial zero network) ...
    assert np.ptp(up) > 1e-4
    # ... but the same beta: the networks are even by construction, up to float32 round-off.
    np.testing.assert_allclose(up, down, rtol=0, atol=1e-5)


def test_conv_thermometer_is_size_agnostic_and_periodic():
    model = perturb(build_conv_thermometer(2, kernel_size=3))
    spins = random_spins((8, 8), n=5)
    small = predict_beta(model, spins)
    # A 16x16 torus tiled with four copies has the same local environments at every site.
    tiled = predict_beta(model, np.tile(spins, (1, 2, 2)))
    # Translation on the torus changes nothing when the padding wraps around.
    rolled = predict_beta(model, np.roll(spins, shift=(3, -2), axis=(1, 2)))
    np.testing.assert_allclose(tiled, small, rtol=0, atol=1e-5)
    np.testing.assert_allclose(rolled, small, rtol=0, atol=1e-5)
    assert np.ptp(small) > 1e-4


@pytest.mark.parametrize("lattice", [triangular(6), cubic(4)], ids=["triangular", "cubic"])
def test_conv_thermometer_on_other_lattices(lattice):
    model = perturb(build_conv_thermometer(lattice))
    spins = random_spins(lattice.shape, n=4)
    beta = predict_beta(model, spins)
    assert beta.shape == (4,) and np.all(np.isfinite(beta))
    np.testing.assert_allclose(predict_beta(model, -spins), beta, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(5,), (4, 6), (3, 4, 5)])
@pytest.mark.parametrize("before,after", [(0, 1), (1, 1), (2, 1)])
def test_periodic_padding_matches_numpy_wrap(shape, before, after):
    x = np.random.default_rng(2).standard_normal((2, *shape, 3)).astype("float32")
    layer = PeriodicPadding(before, after)
    pads = [(0, 0)] + [(before, after)] * len(shape) + [(0, 0)]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), np.pad(x, pads, mode="wrap"))
    clone = PeriodicPadding.from_config(layer.get_config())
    assert (clone.before, clone.after) == (before, after)


def test_periodic_padding_rejects_negative_width():
    with pytest.raises(ValueError, match="non-negative integer"):
        PeriodicPadding(before=-1)


@pytest.mark.parametrize(
    "build",
    [lambda: build_dense_thermometer(square(8)), lambda: build_conv_thermometer(square(8))],
    ids=["dense", "conv"],
)
def test_keras_round_trip_gives_identical_predictions(build, tmp_path):
    model = perturb(build())
    path = save_model(model, tmp_path / "thermometer.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thermometer.keras"]  # no temporary left
    loaded = load_model(path)  # safe_mode=True: only registered layers, no lambdas
    spins = random_spins((8, 8), n=7)
    np.testing.assert_array_equal(predict_beta(loaded, spins), predict_beta(model, spins))
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


def test_save_and_load_errors(tmp_path):
    model = build_dense_thermometer(square(4))
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(model, tmp_path / "model.h5")
    with pytest.raises(ValueError, match="does not exist"):
        save_model(model, tmp_path / "missing" / "model.keras")
    with pytest.raises(ValueError, match="no such model file"):
        load_model(tmp_path / "absent.keras")


def test_size_mismatch_is_a_clear_error():
    dense = build_dense_thermometer(square(16))
    with pytest.raises(ValueError, match="thermometer expects 16x16 configurations, got 32x32"):
        check_input(dense, square(32))
    with pytest.raises(ValueError, match="thermometer expects 16x16 configurations, got 8x8"):
        predict_beta(dense, random_spins((8, 8)))
    with pytest.raises(ValueError, match="built for the square lattice, got a triangular lattice"):
        check_input(build_dense_thermometer(square(12)), triangular(12))
    conv = build_conv_thermometer(square(8))
    check_input(conv, square(32))  # size-agnostic: any L of the same lattice is fine
    with pytest.raises(ValueError, match="2-dimensional configurations"):
        check_input(conv, cubic(4))


def test_conv_builder_validates_arguments():
    with pytest.raises(ValueError, match="1, 2 or 3 spatial axes"):
        build_conv_thermometer(4)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        build_conv_thermometer(2, filters=0)
    assert thermometer_lattice_name(build_conv_thermometer(3)) is None
