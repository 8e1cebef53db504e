"""Learned RG encoders, autoencoders and RG encode-decode models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from ising.lattice import cubic, square, triangular
from models.thermometers import build_dense_thermometer
from transfer.analytic import RULES, block_spins, rule_weights
from transfer.learned import (
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
    assert set(history) == {"epoch", "loss", "sign_agreement", "val_loss", "val_sign_agreement"}
    assert history["epoch"] == list(range(11))
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


def test_history_starts_with_the_untrained_loss(lattice):
    """Epoch 0 is the model before fitting: its training and validation MSE, recomputed in NumPy."""
    spins = random_spins(lattice, 300, seed=7)
    train, val = spins[:200], spins[200:]
    encoder = build_encoder(lattice, seed=2)
    untrained = {
        key: float(np.mean((encode(encoder, x) - block_spins(x, lattice, "decimation")) ** 2))
        for key, x in (("loss", train), ("val_loss", val))
    }
    history = train_rg_encoder(encoder, train, val, lattice, "decimation", epochs=3, seed=0, **FAST)
    assert history["epoch"] == [0, 1, 2, 3]
    for key, value in untrained.items():
        # float32 sums over 200 x 16 units: relative rounding far below 1e-4
        assert history[key][0] == pytest.approx(value, rel=1e-4), key
    # a random Dense(tanh) start is far from the block spins; the first epoch already learns
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
