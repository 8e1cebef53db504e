"""Learned RG encoders, autoencoders and RG encode-decode models."""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from ising.lattice import cubic, square, triangular
from models.layers import SignStraightThrough
from models.thermometers import build_dense_thermometer
from models.training import fit_with_history
from transfer.analytic import RULES, block_spins, rule_weights
from transfer.learned import (
    NoisyBlockSpins,
    build_autoencoder,
    build_encoder,
    build_rg_encode_decode,
    check_rg_encoder,
    coarse_spins,
    encode,
    encoder_kernel,
    epochs_to_loss,
    history_frame,
    sign_agreement,
    train_reconstruction,
    train_rg_encoder,
)

FAST = {"batch_size": 32, "patience": None, "learning_rate": 3e-2}


def random_spins(lattice, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, *lattice.shape))


def block_constant_spins(lattice, n, seed=0):
    """Configurations uniform within each block (random block signs): exactly compressible to N/B units."""
    coarse = random_spins(lattice.coarse(), n, seed).reshape(n, -1)
    return coarse[:, lattice.block_ids].reshape(n, *lattice.shape)


@pytest.fixture(scope="module")
def lattice():
    return square(8)


@pytest.fixture(scope="module")
def thermometer(lattice):
    return build_dense_thermometer(lattice, hidden=8, seed=3)


def test_transfer_copies_the_thermometer_first_layer(lattice, thermometer):
    source = thermometer.get_layer("coarse").get_weights()
    for model in (
        build_encoder(lattice, init_from=thermometer),
        build_autoencoder(lattice, init_from=thermometer),
    ):
        np.testing.assert_array_equal(encoder_kernel(model), source[0])
        np.testing.assert_array_equal(model.get_layer("coarse").get_weights()[1], source[1])
    scratch = build_encoder(lattice, seed=0)
    assert not np.allclose(encoder_kernel(scratch), source[0])
    np.testing.assert_array_equal(encoder_kernel(scratch), encoder_kernel(build_encoder(lattice, seed=0)))


def test_learned_decimation_encoder_reaches_99_percent(lattice, thermometer):
    spins = random_spins(lattice, 800)
    train, val, test = spins[:400], spins[400:500], spins[500:]
    encoder = build_encoder(lattice, init_from=thermometer)
    history = train_rg_encoder(encoder, train, val, lattice, "decimation", epochs=10, seed=0, **FAST)
    series = {"epoch", "loss", "sign_agreement", "val_loss", "val_sign_agreement"}
    summary = {"best_epoch", "best_val_loss", "epochs_run", "stopped_early"}
    assert set(history) == series | summary
    assert history["epoch"] == list(range(11)) and history["epochs_run"] == 10
    assert history["best_epoch"] == history["epoch"][-1]  # patience=None keeps the last weights
    assert history["best_val_loss"] == history["val_loss"][-1]
    assert encoder.history_ == history
    report = check_rg_encoder(encoder, test, lattice, "decimation")
    assert report["passed"], report["message"]
    assert report["agreement"] >= 0.99 and report["n_configurations"] == 300
    # the learned weights concentrate on each block's representative, as the analytic map does
    kernel = encoder_kernel(encoder)
    ideal = rule_weights(lattice, "decimation").astype(bool)
    assert np.all(np.abs(kernel[ideal]) > np.abs(kernel[~ideal]).max())
    np.testing.assert_array_equal(coarse_spins(encoder, test), block_spins(test, lattice, "decimation"))


def test_untrained_encoder_is_reported_as_failed(lattice):
    spins = random_spins(lattice, 200, seed=5)
    encoder = build_encoder(lattice, seed=1)
    with pytest.warns(RuntimeWarning, match="FAILED"):
        report = check_rg_encoder(encoder, spins, lattice, "majority")
    assert not report["passed"]
    assert report["agreement"] == pytest.approx(sign_agreement(encoder, spins, lattice, "majority"))
    # a random Dense(tanh) map agrees with the block spins about as often as a coin would
    assert report["agreement"] < 0.8


@pytest.mark.slow
@pytest.mark.parametrize("fine", [square(8), triangular(6), cubic(4)], ids=lambda x: x.describe())
@pytest.mark.parametrize("rule", RULES)
def test_learned_encoder_learns_both_rules_on_every_lattice(fine, rule):
    spins = random_spins(fine, 1600, seed=2)
    encoder = build_encoder(fine, seed=0)
    train_rg_encoder(
        encoder,
        spins[:1000],
        spins[1000:1200],
        fine,
        rule,
        epochs=150,
        batch_size=32,
        patience=15,
        learning_rate=1e-2,
    )
    report = check_rg_encoder(encoder, spins[1200:], fine, rule)
    assert report["passed"], report["message"]


def test_autoencoder_and_rg_encode_decode_train(lattice, thermometer):
    """On block-constant data both can reconstruct exactly.

    Predicting 0 everywhere costs MSE 1 and agrees in sign with no spin, so a
    loss far below 1 with > 90 % sign agreement is learned structure.
    """
    spins = block_constant_spins(lattice, 500, seed=1)
    ae = build_autoencoder(lattice, init_from=thermometer)
    ae_history = train_reconstruction(ae, spins[:400], spins[400:], lattice, epochs=12, seed=0, **FAST)
    rg = build_rg_encode_decode(lattice, "decimation")
    rg_history = train_reconstruction(rg, spins[:400], spins[400:], lattice, epochs=12, seed=0, **FAST)
    assert rg.get_layer("code").trainable_weights == []
    for history in (ae_history, rg_history):
        assert history["val_loss"][-1] < min(0.3, 0.5 * history["val_loss"][0])
        assert history["val_sign_agreement"][-1] > 0.9
    # the decimated code holds every block sign, so the decoder reconstructs exactly
    assert rg_history["val_sign_agreement"][-1] == 1.0
    code = encode(ae, spins[:5])
    assert code.shape == (5, *lattice.coarse_shape) and code.dtype == np.float32
    np.testing.assert_array_equal(encode(rg, spins[:5]), block_spins(spins[:5], lattice, "decimation"))
    frame = history_frame({"ae": ae_history, "rg": rg_history})
    assert list(frame.columns) == ["model", "epoch", "metric", "value"]
    assert len(frame) == 2 * 4 * (12 + 1)  # 4 metrics at epochs 0 (untrained) to 12


def test_learned_encoder_is_frozen_inside_encode_decode(lattice, thermometer):
    encoder = build_encoder(lattice, init_from=thermometer)
    model = build_rg_encode_decode(lattice, encoder, seed=2)
    before = encoder_kernel(model)
    np.testing.assert_array_equal(before, encoder_kernel(encoder))
    spins = random_spins(lattice, 64, seed=3)
    train_reconstruction(model, spins, None, lattice, epochs=2, seed=0, **FAST)
    np.testing.assert_array_equal(encoder_kernel(model), before)
    assert not np.array_equal(
        model.get_layer("decoder").get_weights()[0],
        build_rg_encode_decode(lattice, encoder, seed=2).get_layer("decoder").get_weights()[0],
    )


def test_save_load_round_trip(lattice, thermometer, tmp_path):
    spins = random_spins(lattice, 40, seed=4)
    encoder = build_encoder(lattice, init_from=thermometer)
    train_rg_encoder(encoder, spins, None, lattice, "majority", epochs=1, **FAST)
    models = {
        "encoder": encoder,
        "autoencoder": build_autoencoder(lattice, init_from=thermometer),
        "rg_decimation": build_rg_encode_decode(lattice, "decimation"),
        "rg_majority": build_rg_encode_decode(lattice, "majority"),
        "rg_learned": build_rg_encode_decode(lattice, encoder),
    }
    for name, model in models.items():
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_array_equal(loaded.predict(spins, verbose=0), model.predict(spins, verbose=0))
        np.testing.assert_array_equal(encode(loaded, spins), encode(model, spins))
        assert [w.name for w in loaded.trainable_weights] == [w.name for w in model.trainable_weights]


def test_input_size_mismatch_is_a_clear_error(lattice, thermometer):
    other = square(4)
    with pytest.raises(ValueError, match=r"kernel of shape \(64, 16\).*needs \(16, 4\)"):
        build_encoder(other, init_from=thermometer)
    with pytest.raises(ValueError, match=r"kernel of shape \(64, 16\).*needs \(16, 4\)"):
        build_autoencoder(other, init_from=thermometer)
    encoder = build_encoder(lattice)
    with pytest.raises(ValueError, match=r"inputs of shape \(8, 8\).*16 sites"):
        build_rg_encode_decode(other, encoder)
    with pytest.raises(ValueError, match=r"inputs of shape \(8, 8\).*16 sites"):
        train_rg_encoder(encoder, random_spins(other, 8), None, other, "decimation", epochs=1)
    with pytest.raises(ValueError, match=r"takes configurations of shape \(8, 8\).*\(3, 4, 4\)"):
        encode(encoder, random_spins(other, 3))
    with pytest.raises(ValueError, match="no Dense layer named 'coarse'"):
        build_encoder(lattice, init_from=build_rg_encode_decode(lattice, "decimation"))
    with pytest.raises(ValueError, match="unknown RG rule"):
        build_rg_encode_decode(lattice, "median")


@pytest.mark.parametrize("loss", ["logistic", "mse"])
def test_history_starts_with_the_untrained_loss(lattice, loss):
    """Epoch 0 is the model before fitting: its training and validation loss, recomputed in NumPy.

    Logistic: mean ln(1 + exp(-2 s z)) of the pre-activation z = s_flat W + b;
    MSE: mean (tanh z - s)^2. With noise=0 the training inputs are the configurations as given.
    """
    spins = random_spins(lattice, 300, seed=7)
    train, val = spins[:200], spins[200:]
    encoder = build_encoder(lattice, seed=2)
    kernel, bias = encoder.get_layer("coarse").get_weights()

    def naive_loss(x):
        z = x.reshape(len(x), -1).astype(np.float64) @ kernel + bias
        s = block_spins(x, lattice, "decimation").reshape(len(x), -1)
        return (
            np.mean(np.logaddexp(0.0, -2.0 * s * z)) if loss == "logistic" else np.mean((np.tanh(z) - s) ** 2)
        )

    untrained = {"loss": naive_loss(train), "val_loss": naive_loss(val)}
    history = train_rg_encoder(
        encoder, train, val, lattice, "decimation", loss=loss, noise=0.0, epochs=3, seed=0, **FAST
    )
    assert history["epoch"] == [0, 1, 2, 3]
    for key, value in untrained.items():
        # float32 sums over 200 x 16 units: relative rounding far below 1e-4
        assert history[key][0] == pytest.approx(value, rel=1e-4), key
    # a random start is far from the block spins (logistic ln 2 = 0.69 and MSE 1 at z = 0)
    assert history["loss"][0] > 0.5 and history["loss"][1] < history["loss"][0]
    assert epochs_to_loss(history, history["loss"][0]) == 0
    assert epochs_to_loss(history, history["loss"][1]) == 1


def test_epochs_to_loss():
    history = {"loss": [1.0, 0.5, 0.2, 0.3, 0.1]}
    assert epochs_to_loss(history, 0.5) == 2
    assert epochs_to_loss(history, 0.15) == 5
    assert epochs_to_loss(history, 0.05) is None
    assert epochs_to_loss({"epoch": [0, 1, 2, 3, 4], **history}, 0.5) == 1
    with pytest.raises(ValueError, match="no 'val_loss' entry"):
        epochs_to_loss(history, 0.1, key="val_loss")


def test_sign_straight_through_is_exactly_binary_with_unit_gradient():
    import tensorflow as tf

    layer = SignStraightThrough()
    x = tf.constant([[-0.7, -1e-8, 0.0, 1e-8, 0.3, 0.9999999]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        weighted = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(y.numpy(), [[-1, -1, 1, 1, 1, 1]])  # a tie (0) goes to +1
    np.testing.assert_array_equal(tape.gradient(weighted, x).numpy(), [[1, 2, 3, 4, 5, 6]])
    clone = SignStraightThrough.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(x).numpy(), y.numpy())


def test_binary_autoencoder_codes_train_and_round_trip(lattice, thermometer, tmp_path):
    spins = random_spins(lattice, 64, seed=8)
    ae = build_autoencoder(lattice, init_from=thermometer, code="binary", name="ae_binary")
    continuous = build_autoencoder(lattice, init_from=thermometer)
    # same encoder and decoder shapes (equal capacity up to the binarisation), same transfer
    assert [w.shape for w in ae.get_weights()] == [w.shape for w in continuous.get_weights()]
    np.testing.assert_array_equal(encoder_kernel(ae), thermometer.get_layer("coarse").get_weights()[0])
    code = encode(ae, spins)
    assert code.shape == (64, *lattice.coarse_shape)
    assert set(np.unique(code)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(code, np.where(encode(continuous, spins) >= 0, 1.0, -1.0))
    np.testing.assert_array_equal(coarse_spins(ae, spins), code.astype(np.int8))
    # the straight-through gradient reaches the encoder kernel
    before = encoder_kernel(ae).copy()
    train_reconstruction(ae, spins, None, lattice, epochs=1, seed=0, **FAST)
    assert np.abs(encoder_kernel(ae) - before).max() > 1e-4
    assert set(np.unique(encode(ae, spins))) <= {-1.0, 1.0}
    path = tmp_path / "ae_binary.keras"
    ae.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(spins, verbose=0), ae.predict(spins, verbose=0))
    np.testing.assert_array_equal(encode(loaded, spins), encode(ae, spins))
    with pytest.raises(ValueError, match="unknown code type"):
        build_autoencoder(lattice, code="ternary")


@pytest.mark.slow
def test_binary_autoencoder_reconstructs_block_constant_lattices(lattice, thermometer):
    """On block-constant data a ±1 code of one unit per block suffices for exact reconstruction."""
    spins = block_constant_spins(lattice, 600, seed=2)
    ae = build_autoencoder(lattice, init_from=thermometer, code="binary")
    history = train_reconstruction(ae, spins[:500], spins[500:], lattice, epochs=40, seed=0, **FAST)
    assert history["val_loss"][history["best_epoch"]] < 0.25 * history["val_loss"][0]


def test_noisy_block_spins_labels_every_input_exactly(lattice):
    spins = random_spins(lattice, 50, seed=9)
    data = NoisyBlockSpins(spins, lattice, "majority", noise=0.5, batch_size=16, seed=1)
    assert len(data) == 4
    xs = []
    for i in range(len(data)):
        x, y = data[i]
        assert x.dtype == np.float32 and y.shape == (len(x), *lattice.coarse_shape)
        np.testing.assert_array_equal(y, block_spins(x.astype(np.int8), lattice, "majority"))
        xs.append(x)
    x = np.concatenate(xs).astype(np.int8)
    # spins are flipped: some but not most of them, relative to the nearer of +-s
    keys = {row.tobytes(): row for row in spins.reshape(50, -1)}
    assert len(x) == 50 and not all(row.tobytes() in keys for row in x.reshape(50, -1))
    same = NoisyBlockSpins(spins, lattice, "majority", noise=0.5, batch_size=16, seed=1)
    np.testing.assert_array_equal(same[3][0], xs[3])  # a batch does not depend on call order
    np.testing.assert_array_equal(same[0][0], xs[0])
    assert not np.array_equal(same[0][0], xs[0])  # the next read of a batch draws new inputs
    clean = NoisyBlockSpins(spins, lattice, "decimation", noise=0.0, batch_size=50, seed=1)[0][0]
    flat = spins.reshape(50, -1)
    assert all(any(np.array_equal(r, s * f) for s in flat for f in (1, -1)) for r in clean.reshape(50, -1))
    with pytest.raises(ValueError, match="noise is a spin-flip probability"):
        train_rg_encoder(build_encoder(lattice), spins, None, lattice, "majority", noise=0.7, epochs=1)


def test_learned_majority_encoder_is_faithful_with_fresh_noisy_inputs(lattice, thermometer):
    """Exact labels on perturbed inputs: >= 99 % on held-out configurations, ties included.

    Without the perturbed inputs (noise=0) the same budget memorises the 300 training
    configurations and stays well below the threshold.
    """
    spins = random_spins(lattice, 700, seed=11)
    train, test = spins[:300], spins[300:]
    fit = {"epochs": 25, "batch_size": 32, "patience": None, "learning_rate": 1e-2, "seed": 0}
    reports = {}
    for noise in (0.5, 0.0):
        encoder = build_encoder(lattice, init_from=thermometer)
        train_rg_encoder(encoder, train, None, lattice, "majority", noise=noise, **fit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reports[noise] = check_rg_encoder(encoder, test, lattice, "majority")
    assert reports[0.5]["passed"], reports[0.5]["message"]
    assert reports[0.0]["agreement"] < reports[0.5]["agreement"] - 0.01


def test_early_stopping_can_restore_the_untrained_weights():
    """If no epoch beats epoch 0, the shared loop returns the untrained model (best_epoch 0)."""
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros")(inputs))
    # a step far beyond the stability limit of plain gradient descent makes every epoch worse
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss="mse")
    start = [w.copy() for w in model.get_weights()]
    history = fit_with_history(model, (x, y), (x, y), epochs=10, patience=2, batch_size=64)
    assert history["best_epoch"] == 0 and history["epochs_run"] == 2 and history["stopped_early"]
    assert history["val_loss"][1] > history["val_loss"][0] == history["best_val_loss"]
    for got, want in zip(model.get_weights(), start, strict=True):
        np.testing.assert_array_equal(got, want)
