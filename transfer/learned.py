"""Learned RG encoders, autoencoders and RG encode-decode models (Keras 3, functional).

Every model here maps a configuration (batch, *lattice.shape) through a
layer named ``"code"`` whose output is the coarse lattice,
(batch, *lattice.coarse_shape), one unit per block:

- **Learned RG encoder** (:func:`build_encoder`): Flatten -> Dense(N/B, tanh)
  named ``"coarse"`` -> ``"code"``; trained by :func:`train_rg_encoder` to
  output the analytic block spins (decimation or majority rule) of its input.
- **Autoencoder** (:func:`build_autoencoder`): the same encoder, then a
  decoder Dense(N, tanh) named ``"decoder"`` reshaped to the lattice; trained
  by :func:`train_reconstruction` to reproduce its ±1 input.
- **RG encode-decode** (:func:`build_rg_encode_decode`): a frozen analytic or
  learned RG encoder and a decoder of the autoencoder's shape, trained the
  same way, so reconstruction losses compare like with like.

Transfer learning (TL) initialises the ``"coarse"`` Dense layer from the
thermometer's first layer, which has the same name and shape
(N, N/B), by ``set_weights(get_weights())``; ``init_from=None`` gives the
from-scratch version of the same model (Glorot-uniform weights from ``seed``).
All training goes through :func:`fit_model` (Adam, mean squared error on ±1
targets, early stopping on the validation loss), which returns the loss
history as a dict of lists so transfer and scratch can be compared
(:func:`epochs_to_loss`, :func:`history_frame`).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pandas as pd
from keras import ops

from ising.lattice import Lattice
from transfer.analytic import RULES, analytic_encoder_layer, block_spins

__all__ = [
    "ENCODER_LAYER",
    "CODE_LAYER",
    "DECODER_LAYER",
    "AGREEMENT_THRESHOLD",
    "sign_agreement_metric",
    "check_model_input",
    "build_encoder",
    "build_autoencoder",
    "build_rg_encode_decode",
    "fit_model",
    "train_rg_encoder",
    "train_reconstruction",
    "encode",
    "coarse_spins",
    "encoder_kernel",
    "sign_agreement",
    "check_rg_encoder",
    "epochs_to_loss",
    "history_frame",
]

ENCODER_LAYER = "coarse"
CODE_LAYER = "code"
DECODER_LAYER = "decoder"
#: A learned RG encoder whose sign agreement with the analytic block spins is
#: below this on test data is reported as failed (see :func:`check_rg_encoder`).
AGREEMENT_THRESHOLD = 0.99


@keras.saving.register_keras_serializable(package="rgae")
def sign_agreement_metric(y_true, y_pred):
    """Fraction of units whose sign matches the ±1 target (a Keras metric)."""
    return ops.mean(ops.cast(ops.equal(ops.sign(y_pred), ops.sign(y_true)), "float32"))


def check_model_input(model: keras.Model, lattice: Lattice, what: str = "model"):
    """Raise ValueError unless ``model`` takes configurations of ``lattice`` (same site count)."""
    got = tuple(model.input_shape[1:])
    if None in got or int(np.prod(got)) != lattice.n_sites:
        raise ValueError(
            f"the {what} {model.name!r} takes inputs of shape {got}, but the {lattice.describe()} "
            f"lattice has {lattice.n_sites} sites of shape {lattice.shape}; use the {what} built "
            "for this lattice size"
        )


def _as_float(spins) -> np.ndarray:
    return np.asarray(spins, dtype=np.float32)


def _coarse_dense(lattice: Lattice, seed: int, trainable: bool = True) -> keras.layers.Dense:
    return keras.layers.Dense(
        lattice.n_blocks,
        activation="tanh",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        trainable=trainable,
        name=ENCODER_LAYER,
    )


def _copy_coarse_weights(target: keras.layers.Dense, source: keras.Model, lattice: Lattice, what: str):
    """Transfer: set ``target``'s weights to those of ``source``'s layer named ``"coarse"``."""
    try:
        layer = source.get_layer(ENCODER_LAYER)
    except ValueError as err:
        raise ValueError(
            f"the {what} {source.name!r} has no Dense layer named {ENCODER_LAYER!r} to transfer from"
        ) from err
    weights = layer.get_weights()
    expected = (lattice.n_sites, lattice.n_blocks)
    if not weights or tuple(weights[0].shape) != expected:
        got = tuple(weights[0].shape) if weights else None
        raise ValueError(
            f"the {what} {source.name!r} has a {ENCODER_LAYER!r} kernel of shape {got}, but the "
            f"{lattice.describe()} lattice needs {expected}; transfer from the model trained on "
            "this lattice size"
        )
    target.set_weights(weights)


def build_encoder(
    lattice: Lattice, init_from: keras.Model | None = None, seed: int = 0, name: str = "rg_encoder"
) -> keras.Model:
    """Learned RG encoder: (batch, *shape) -> Dense(n_blocks, tanh) -> (batch, *coarse_shape).

    ``init_from`` is a thermometer (or any model) with a Dense layer named
    ``"coarse"`` of kernel shape (n_sites, n_blocks); its weights are copied
    (transfer learning). ``None`` gives a Glorot-uniform start seeded by ``seed``.
    """
    inputs = keras.Input(lattice.shape, name="spins")
    dense = _coarse_dense(lattice, seed)
    hidden = dense(keras.layers.Flatten(name="flatten")(inputs))
    code = keras.layers.Reshape(lattice.coarse_shape, name=CODE_LAYER)(hidden)
    model = keras.Model(inputs, code, name=name)
    if init_from is not None:
        _copy_coarse_weights(dense, init_from, lattice, "source model")
    return model


def _decoder(lattice: Lattice, code, seed: int):
    """Decoder Dense(n_sites, tanh) from the coarse code back to (batch, *shape)."""
    flat = keras.layers.Flatten(name="flatten_code")(code)
    decoded = keras.layers.Dense(
        lattice.n_sites,
        activation="tanh",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
        name=DECODER_LAYER,
    )(flat)
    return keras.layers.Reshape(lattice.shape, name="reconstruction")(decoded)


def build_autoencoder(
    lattice: Lattice, init_from: keras.Model | None = None, seed: int = 0, name: str = "autoencoder"
) -> keras.Model:
    """Autoencoder: encoder Dense(n_blocks, tanh) -> decoder Dense(n_sites, tanh).

    Input and output (batch, *lattice.shape); the code layer ``"code"`` is
    (batch, *coarse_shape). ``init_from`` as in :func:`build_encoder`; the
    decoder always starts from Glorot-uniform weights (seed ``seed + 1``).
    """
    inputs = keras.Input(lattice.shape, name="spins")
    dense = _coarse_dense(lattice, seed)
    hidden = dense(keras.layers.Flatten(name="flatten")(inputs))
    code = keras.layers.Reshape(lattice.coarse_shape, name=CODE_LAYER)(hidden)
    model = keras.Model(inputs, _decoder(lattice, code, seed), name=name)
    if init_from is not None:
        _copy_coarse_weights(dense, init_from, lattice, "source model")
    return model


def build_rg_encode_decode(
    lattice: Lattice, encoder: str | keras.Model, seed: int = 0, name: str | None = None
) -> keras.Model:
    """Frozen RG encoder plus a trainable decoder of the autoencoder's shape.

    ``encoder`` is ``"decimation"`` or ``"majority"`` (the analytic rule as a
    frozen layer, output ±1) or a learned RG encoder from :func:`build_encoder`
    (its ``"coarse"`` weights are copied into a frozen Dense, output tanh).
    """
    inputs = keras.Input(lattice.shape, name="spins")
    if isinstance(encoder, str):
        if encoder not in RULES:
            raise ValueError(f"unknown RG rule {encoder!r}; choose one of {', '.join(RULES)}")
        code = analytic_encoder_layer(lattice, encoder, name=CODE_LAYER)(inputs)
        label = encoder
    elif isinstance(encoder, keras.Model):
        check_model_input(encoder, lattice, "encoder")
        dense = _coarse_dense(lattice, seed, trainable=False)
        hidden = dense(keras.layers.Flatten(name="flatten")(inputs))
        code = keras.layers.Reshape(lattice.coarse_shape, name=CODE_LAYER)(hidden)
        _copy_coarse_weights(dense, encoder, lattice, "encoder")
        label = "learned"
    else:
        raise ValueError(
            f"encoder must be an RG rule name ({', '.join(RULES)}) or a Keras encoder model, "
            f"got {type(encoder).__name__}"
        )
    return keras.Model(inputs, _decoder(lattice, code, seed), name=name or f"rg_{label}_encode_decode")


def fit_model(
    model: keras.Model,
    x,
    y,
    x_val=None,
    y_val=None,
    *,
    epochs: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    patience: int | None = 10,
    learning_rate: float = 1e-3,
    verbose: int = 0,
) -> dict[str, list[float]]:
    """Compile ``model`` (Adam, MSE, sign agreement) and fit it; return the history.

    Early stopping watches ``val_loss`` (``loss`` without validation data)
    with ``patience`` epochs and restores the best weights; ``patience=None``
    trains for all ``epochs``. ``seed`` fixes Keras' shuffling and dropout
    streams (``keras.utils.set_random_seed``).

    Returns ``{"epoch": [0, 1, 2, ...], "loss": [...], "sign_agreement": [...],
    "val_loss": [...], "val_sign_agreement": [...]}`` (floats per epoch); the
    same dict is kept on the model as ``model.history_``. Epoch 0 holds the
    untrained model's losses and metrics (``model.evaluate`` before fitting),
    so a loss decrease is measured from the start of training; epochs 1, 2, ...
    hold Keras' per-epoch values (training loss averaged over the epoch's
    batches, validation loss at the epoch's end).
    """
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse",
        metrics=[keras.metrics.MeanMetricWrapper(sign_agreement_metric, name="sign_agreement")],
    )
    validation = None if x_val is None else (_as_float(x_val), _as_float(y_val))
    callbacks = []
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="loss" if validation is None else "val_loss",
                patience=patience,
                restore_best_weights=True,
            )
        )
    data = (_as_float(x), _as_float(y))
    initial = _evaluate(model, data, batch_size)
    if validation is not None:
        initial |= {f"val_{k}": v for k, v in _evaluate(model, validation, batch_size).items()}
    fitted = model.fit(
        *data,
        validation_data=validation,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    history = {key: [initial[key], *map(float, values)] for key, values in fitted.history.items()}
    history = {"epoch": list(range(len(history["loss"]))), **history}
    model.history_ = history
    return history


def _evaluate(model: keras.Model, data: tuple, batch_size: int) -> dict[str, float]:
    """Loss and metrics of a compiled model on ``(x, y)`` at its current weights."""
    results = model.evaluate(*data, batch_size=batch_size, verbose=0, return_dict=True)
    return {key: float(value) for key, value in results.items()}


def train_rg_encoder(
    encoder: keras.Model,
    spins_train,
    spins_val,
    lattice: Lattice,
    rule: str = "decimation",
    **fit_kwargs,
) -> dict[str, list[float]]:
    """Train a learned RG encoder to output the analytic block spins of its input.

    spins_train, spins_val : int8 (n, *lattice.shape), values ±1; targets are
    ``block_spins(spins, lattice, rule)`` as float ±1. ``fit_kwargs`` go to
    :func:`fit_model` (epochs, batch_size, seed, patience, learning_rate,
    verbose). Returns the history dict.
    """
    check_model_input(encoder, lattice, "encoder")
    y_train = block_spins(spins_train, lattice, rule)
    y_val = None if spins_val is None else block_spins(spins_val, lattice, rule)
    return fit_model(encoder, spins_train, y_train, spins_val, y_val, **fit_kwargs)


def train_reconstruction(
    model: keras.Model, spins_train, spins_val, lattice: Lattice, **fit_kwargs
) -> dict[str, list[float]]:
    """Train an autoencoder or RG encode-decode model to reproduce its ±1 input.

    The loss is the mean squared error per spin between the tanh output and
    the input, so ``loss`` is directly comparable between the two kinds of
    model (claim C3). ``fit_kwargs`` go to :func:`fit_model`.
    """
    check_model_input(model, lattice)
    return fit_model(model, spins_train, spins_train, spins_val, spins_val, **fit_kwargs)


def encode(model: keras.Model, spins, batch_size: int = 1024) -> np.ndarray:
    """Output of the model's ``"code"`` layer: float32 (n, *coarse_shape).

    Works for learned RG encoders, autoencoders and RG encode-decode models.
    """
    try:
        code = model.get_layer(CODE_LAYER)
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} has no {CODE_LAYER!r} layer; build it with transfer.learned"
        ) from err
    spins = _as_float(spins)
    if spins.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(
            f"model {model.name!r} takes configurations of shape {tuple(model.input_shape[1:])}, "
            f"got spins of shape {spins.shape}; use the model trained on this lattice size"
        )
    encoder = keras.Model(model.inputs, code.output)
    return np.asarray(encoder.predict(spins, batch_size=batch_size, verbose=0), dtype=np.float32)


def coarse_spins(model: keras.Model, spins, batch_size: int = 1024) -> np.ndarray:
    """The model's code binarised by sign (0 maps to +1): int8 (n, *coarse_shape), ±1."""
    return np.where(encode(model, spins, batch_size) >= 0, 1, -1).astype(np.int8)


def encoder_kernel(model: keras.Model) -> np.ndarray:
    """Kernel of the model's Dense ``"coarse"`` layer: float32 (n_sites, n_blocks)."""
    try:
        layer = model.get_layer(ENCODER_LAYER)
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} has no learned {ENCODER_LAYER!r} layer (an analytic encoder's "
            "weights are transfer.analytic.rule_weights)"
        ) from err
    return np.asarray(layer.get_weights()[0], dtype=np.float32)


def sign_agreement(encoder: keras.Model, spins, lattice: Lattice, rule: str = "decimation") -> float:
    """Fraction of coarse units whose sign equals the analytic block spin (0 counts as a miss)."""
    check_model_input(encoder, lattice, "encoder")
    target = block_spins(spins, lattice, rule)
    return float(np.mean(np.sign(encode(encoder, spins)) == target))


def check_rg_encoder(
    encoder: keras.Model,
    spins_test,
    lattice: Lattice,
    rule: str = "decimation",
    threshold: float = AGREEMENT_THRESHOLD,
) -> dict:
    """Test a learned RG encoder against its analytic target on held-out data.

    Returns ``{"rule", "agreement", "threshold", "passed", "n_configurations",
    "message"}``. An encoder below ``threshold`` is reported as failed, with a
    RuntimeWarning, so it is not used silently as an RG map.
    """
    agreement = sign_agreement(encoder, spins_test, lattice, rule)
    passed = agreement >= threshold
    message = (
        f"learned {rule} encoder {encoder.name!r} reproduces the analytic block spins on "
        f"{agreement:.2%} of test units (threshold {threshold:.0%})"
    )
    if not passed:
        message = f"FAILED: {message}; it is not a faithful RG map and must not be used as one"
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return {
        "rule": rule,
        "agreement": agreement,
        "threshold": threshold,
        "passed": bool(passed),
        "n_configurations": int(np.shape(spins_test)[0]),
        "message": message,
    }


def epochs_to_loss(history: dict, threshold: float, key: str = "loss") -> int | None:
    """First epoch at which ``history[key] <= threshold``, or None if never.

    Epochs are ``history["epoch"]`` (0 is the untrained model, see
    :func:`fit_model`); a history without that entry counts from 1.
    """
    if key not in history:
        raise ValueError(f"history has no {key!r} entry; it has {', '.join(history)}")
    epochs = history.get("epoch") or range(1, len(history[key]) + 1)
    for epoch, value in zip(epochs, history[key], strict=True):
        if value <= threshold:
            return epoch
    return None


def history_frame(histories: dict[str, dict]) -> pd.DataFrame:
    """Long table of several histories: columns model, epoch, metric, value."""
    rows = []
    for model_name, history in histories.items():
        epochs = history.get("epoch") or list(range(1, len(history["loss"]) + 1))
        for metric, values in history.items():
            if metric == "epoch":
                continue
            rows.extend(
                {"model": model_name, "epoch": e, "metric": metric, "value": v}
                for e, v in zip(epochs, values, strict=True)
            )
    return pd.DataFrame(rows, columns=["model", "epoch", "metric", "value"])
