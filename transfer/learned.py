"""Learned RG encoders, autoencoders and RG encode-decode models (Keras 3, functional).

Every model here maps a configuration (batch, *lattice.shape) through a
layer named ``"code"`` whose output is the coarse lattice,
(batch, *lattice.coarse_shape), one unit per block:

- **Learned RG encoder** (:func:`build_encoder`): Flatten -> Dense(N/B)
  named ``"coarse"`` -> tanh -> ``"code"``; trained by
  :func:`train_rg_encoder` to output the analytic block spins (decimation or
  majority rule) of its input, on fresh noisy inputs every epoch with exact
  targets (:class:`NoisyBlockSpins`), with the squared error or the logistic
  loss on the pre-activation (:func:`logistic_loss`).
- **Autoencoder** (:func:`build_autoencoder`): Dense(N/B, tanh) named
  ``"coarse"`` -> ``"code"``, then a decoder Dense(N, tanh) named
  ``"decoder"`` reshaped to the lattice; trained by
  :func:`train_reconstruction` to reproduce its ±1 input. With
  ``code="binary"`` the code is binarised to ±1 in the forward pass and the
  gradient passes straight through (:class:`models.layers.SignStraightThrough`):
  the binary-code autoencoder, which compares with the ±1 RG codes at equal
  capacity (claim C3).
- **RG encode-decode** (:func:`build_rg_encode_decode`): a frozen analytic or
  learned RG encoder and a decoder of the autoencoder's shape, trained the
  same way, so reconstruction losses compare like with like.

Transfer learning (TL) initialises the ``"coarse"`` Dense layer
(:data:`models.thermometers.COARSE_LAYER`) from the thermometer's first
layer, which has the same name and shape (N, N/B), by
``set_weights(get_weights())``; ``init_from=None`` gives the from-scratch
version of the same model (Glorot-uniform weights from ``seed``). All
training goes through :func:`fit_model` (Adam, early stopping on the
validation loss), which runs the package's one training loop,
:func:`models.training.fit_with_history`, and returns its history (epoch 0 is
the untrained model) so transfer and scratch can be compared
(:func:`epochs_to_loss`, :func:`history_frame`).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pandas as pd
from keras import ops

from ising.lattice import Lattice
from models.layers import SignStraightThrough
from models.thermometers import COARSE_LAYER
from models.training import fit_with_history
from transfer.analytic import RULES, analytic_encoder_layer, block_spins

__all__ = [
    "CODE_LAYER",
    "DECODER_LAYER",
    "CODE_TYPES",
    "LOSSES",
    "AGREEMENT_THRESHOLD",
    "sign_agreement_metric",
    "logistic_loss",
    "check_model_input",
    "build_encoder",
    "build_autoencoder",
    "build_rg_encode_decode",
    "fit_model",
    "train_rg_encoder",
    "NoisyBlockSpins",
    "train_reconstruction",
    "encode",
    "coarse_spins",
    "encoder_kernel",
    "sign_agreement",
    "check_rg_encoder",
    "epochs_to_loss",
    "history_frame",
]

CODE_LAYER = "code"
DECODER_LAYER = "decoder"
#: Autoencoder codes: real tanh units, or ±1 units with a straight-through gradient.
CODE_TYPES = ("continuous", "binary")
#: Training losses of :func:`fit_model`: squared error of the output, or logistic on the pre-activation.
LOSSES = ("mse", "logistic")
#: A learned RG encoder whose sign agreement with the analytic block spins is
#: below this on test data is reported as failed (see :func:`check_rg_encoder`).
AGREEMENT_THRESHOLD = 0.99


@keras.saving.register_keras_serializable(package="rgae")
def sign_agreement_metric(y_true, y_pred):
    """Fraction of units whose sign matches the ±1 target (a Keras metric)."""
    return ops.mean(ops.cast(ops.equal(ops.sign(y_pred), ops.sign(y_true)), "float32"))


@keras.saving.register_keras_serializable(package="rgae")
def logistic_loss(y_true, y_pred):
    """Logistic loss of ±1 targets s on pre-activations z: ln(1 + exp(-2 s z)), averaged.

    It is the binary cross-entropy of the target (1 + s)/2 against the
    probability (1 + tanh z)/2 = sigmoid(2z) that a tanh unit describes, taken
    from z so it does not saturate: a unit of the wrong sign keeps the
    gradient -2s for any |z|, where the squared error of tanh z vanishes.
    y_true, y_pred: float (batch, ...); returns (batch, ...) averaged over the last axis.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    return ops.mean(ops.softplus(-2.0 * y_true * y_pred), axis=-1)


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


def _coarse_dense(
    lattice: Lattice, seed: int, trainable: bool = True, activation: str | None = "tanh"
) -> keras.layers.Dense:
    return keras.layers.Dense(
        lattice.n_blocks,
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        trainable=trainable,
        name=COARSE_LAYER,
    )


def _copy_coarse_weights(target: keras.layers.Dense, source: keras.Model, lattice: Lattice, what: str):
    """Transfer: set ``target``'s weights to those of ``source``'s layer named ``"coarse"``."""
    try:
        layer = source.get_layer(COARSE_LAYER)
    except ValueError as err:
        raise ValueError(
            f"the {what} {source.name!r} has no Dense layer named {COARSE_LAYER!r} to transfer from"
        ) from err
    weights = layer.get_weights()
    expected = (lattice.n_sites, lattice.n_blocks)
    if not weights or tuple(weights[0].shape) != expected:
        got = tuple(weights[0].shape) if weights else None
        raise ValueError(
            f"the {what} {source.name!r} has a {COARSE_LAYER!r} kernel of shape {got}, but the "
            f"{lattice.describe()} lattice needs {expected}; transfer from the model trained on "
            "this lattice size"
        )
    target.set_weights(weights)


def build_encoder(
    lattice: Lattice, init_from: keras.Model | None = None, seed: int = 0, name: str = "rg_encoder"
) -> keras.Model:
    """Learned RG encoder: (batch, *shape) -> tanh(Dense(n_blocks)) -> (batch, *coarse_shape).

    The Dense layer ``"coarse"`` is linear and followed by a separate tanh
    layer, so :func:`train_rg_encoder` can train its pre-activation with the
    logistic loss; the function is the same as a Dense(n_blocks, tanh).
    ``init_from`` is a thermometer (or any model) with a Dense layer named
    ``"coarse"`` of kernel shape (n_sites, n_blocks); its weights are copied
    (transfer learning). ``None`` gives a Glorot-uniform start seeded by ``seed``.
    """
    inputs = keras.Input(lattice.shape, name="spins")
    dense = _coarse_dense(lattice, seed, activation=None)
    hidden = dense(keras.layers.Flatten(name="flatten")(inputs))
    hidden = keras.layers.Activation("tanh", name="coarse_tanh")(hidden)
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
    lattice: Lattice,
    init_from: keras.Model | None = None,
    seed: int = 0,
    name: str = "autoencoder",
    code: str = "continuous",
) -> keras.Model:
    """Autoencoder: encoder Dense(n_blocks, tanh) -> code -> decoder Dense(n_sites, tanh).

    Input and output (batch, *lattice.shape); the code layer ``"code"`` is
    (batch, *coarse_shape). ``code="continuous"`` keeps the tanh units as the
    code; ``code="binary"`` binarises them, sign with 0 -> +1, exactly ±1 in
    the forward pass, with the straight-through gradient of
    :class:`models.layers.SignStraightThrough` (layer ``"binarize"``) in the
    backward pass. Both have the same encoder and decoder shapes.
    ``init_from`` as in :func:`build_encoder`; the decoder always starts from
    Glorot-uniform weights (seed ``seed + 1``).
    """
    if code not in CODE_TYPES:
        raise ValueError(f"unknown code type {code!r}; choose one of {', '.join(CODE_TYPES)}")
    inputs = keras.Input(lattice.shape, name="spins")
    dense = _coarse_dense(lattice, seed)
    hidden = dense(keras.layers.Flatten(name="flatten")(inputs))
    if code == "binary":
        hidden = SignStraightThrough(name="binarize")(hidden)
    units = keras.layers.Reshape(lattice.coarse_shape, name=CODE_LAYER)(hidden)
    model = keras.Model(inputs, _decoder(lattice, units, seed), name=name)
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
    loss: str = "mse",
    verbose: int = 0,
) -> dict:
    """Compile ``model`` (Adam, ``loss``, sign agreement) and fit it; return the history.

    ``x``, ``y`` are float arrays (n, ...) shuffled by Keras each epoch in
    batches of ``batch_size``, or ``x`` is a ``keras.utils.PyDataset`` of
    ``(x, y)`` batches (such as :class:`NoisyBlockSpins`) and ``y`` is None.
    ``loss`` is ``"mse"`` (mean squared error per unit of the output) or
    ``"logistic"`` (:func:`logistic_loss`; the model must then output
    pre-activations). Early stopping watches ``val_loss`` (``loss`` without
    validation data) with ``patience`` epochs and restores the best weights,
    the untrained ones included; ``patience=None`` trains for all ``epochs``.
    ``seed`` fixes Keras' shuffling and initialisation streams
    (``keras.utils.set_random_seed``).

    Returns the history of :func:`models.training.fit_with_history`:
    ``{"epoch": [0, 1, ...], "loss": [...], "sign_agreement": [...],
    "val_loss": [...], "val_sign_agreement": [...], "best_epoch",
    "best_val_loss", "epochs_run", "stopped_early"}``, also kept
    on the model as ``model.history_``. Epoch 0 holds the untrained model's
    losses and metrics (``model.evaluate`` before fitting), so a loss decrease
    is measured from the start of training.
    """
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    if isinstance(x, keras.utils.PyDataset) != (y is None):
        raise ValueError("pass training arrays x and y, or a PyDataset of (x, y) batches and y=None")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse" if loss == "mse" else logistic_loss,
        metrics=[keras.metrics.MeanMetricWrapper(sign_agreement_metric, name="sign_agreement")],
    )
    history = fit_with_history(
        model,
        x if y is None else (_as_float(x), _as_float(y)),
        None if x_val is None else (_as_float(x_val), _as_float(y_val)),
        epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
    )
    model.history_ = history
    return history


def train_rg_encoder(
    encoder: keras.Model,
    spins_train,
    spins_val,
    lattice: Lattice,
    rule: str = "decimation",
    loss: str = "mse",
    noise: float = 0.5,
    **fit_kwargs,
) -> dict:
    """Train a learned RG encoder to output the analytic block spins of its input.

    spins_train, spins_val : int8 (n, *lattice.shape), values ±1; targets are
    ``block_spins(spins, lattice, rule)`` as float ±1.

    ``loss="mse"`` (the default, the autoencoders' loss, so loss curves
    compare) trains the tanh output with the squared error.
    ``loss="logistic"`` trains the pre-activation z of the ``"coarse"`` layer
    with :func:`logistic_loss`, the cross-entropy of a ±1 target, which does
    not saturate; it needs an encoder from :func:`build_encoder`. At L = 32
    with fresh noisy inputs both reach >= 99.9 % test agreement; without them
    neither does (the loss does not cure memorisation).

    ``noise`` > 0 trains on fresh inputs every epoch (:class:`NoisyBlockSpins`):
    each training configuration globally flipped at random and each spin
    flipped with probability p ~ U(0, noise), with the analytic block spins of
    the perturbed input as exact targets. The rule is a function of its input
    alone, so this is more labelled data, not a change of task; it is what
    lets a Dense(N/B) encoder, with N²/B weights, generalise the majority rule
    (ties included) instead of memorising a few thousand configurations.
    ``noise=0`` trains on the configurations as given. Validation data are
    never perturbed.

    ``fit_kwargs`` go to :func:`fit_model` (epochs, batch_size, seed,
    patience, learning_rate, verbose). Returns the history dict (also
    ``encoder.history_``); its ``loss`` is in the chosen loss's units (nats
    per unit for logistic).
    """
    check_model_input(encoder, lattice, "encoder")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if not 0 <= noise <= 0.5:
        raise ValueError(f"noise is a spin-flip probability bound in [0, 0.5], got {noise!r}")
    if noise > 0:
        x_train, y_train = (
            NoisyBlockSpins(
                spins_train,
                lattice,
                rule,
                noise,
                batch_size=fit_kwargs.get("batch_size", 64),
                seed=fit_kwargs.get("seed", 0),
            ),
            None,
        )
    else:
        x_train, y_train = spins_train, block_spins(spins_train, lattice, rule)
    y_val = None if spins_val is None else block_spins(spins_val, lattice, rule)
    model = encoder if loss == "mse" else _pre_activation_model(encoder, lattice)
    history = fit_model(model, x_train, y_train, spins_val, y_val, loss=loss, **fit_kwargs)
    encoder.history_ = history
    return history


class NoisyBlockSpins(keras.utils.PyDataset):
    """Training batches of perturbed configurations with their exact analytic block spins.

    The configurations are split once into batches (a random order from
    ``seed``). Each time batch ``i`` is read, its configurations are
    multiplied by a random global sign and then have every spin flipped
    independently with probability p, drawn per configuration from U(0,
    ``noise``); the target is ``block_spins(perturbed, lattice, rule)``, so
    labels are exact for every input. The k-th read of batch ``i`` draws from
    the stream ``(seed, i, k)``: batches do not depend on when Keras asks for
    them or on when it ends an epoch (its prefetching thread makes that timing
    vary), so training is reproducible. A batch is ``(x, y)``: float32
    (batch, *lattice.shape) and float32 (batch, *lattice.coarse_shape), ±1.
    """

    def __init__(self, spins, lattice: Lattice, rule: str, noise: float, batch_size: int = 64, seed: int = 0):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")
        self.spins = np.asarray(spins, dtype=np.int8)
        if self.spins.shape[1:] != lattice.shape:
            raise ValueError(
                f"spins must have shape (n, {', '.join(map(str, lattice.shape))}) for the "
                f"{lattice.describe()} lattice, got {self.spins.shape}"
            )
        self.lattice, self.rule, self.noise, self.batch_size = lattice, rule, float(noise), int(batch_size)
        self.seed = int(seed)
        self._order = np.random.default_rng(self.seed).permutation(len(self.spins))
        self._reads = [0] * len(self)

    def __len__(self) -> int:
        return -(-len(self.spins) // self.batch_size)

    def __getitem__(self, index: int):
        index = int(index)
        rng = np.random.default_rng([self.seed, index, self._reads[index]])
        self._reads[index] += 1
        x = self.spins[self._order[index * self.batch_size : (index + 1) * self.batch_size]]
        one_per_config = (len(x),) + (1,) * (x.ndim - 1)
        x = x * rng.choice(np.array([-1, 1], dtype=np.int8), size=one_per_config)
        flip = rng.random(x.shape) < rng.uniform(0.0, self.noise, size=one_per_config)
        x = np.where(flip, -x, x).astype(np.int8)
        return x.astype(np.float32), block_spins(x, self.lattice, self.rule).astype(np.float32)


def _pre_activation_model(encoder: keras.Model, lattice: Lattice) -> keras.Model:
    """The encoder up to its linear ``"coarse"`` layer (shared weights): (batch, *coarse_shape) z."""
    try:
        layer = encoder.get_layer(COARSE_LAYER)
    except ValueError as err:
        raise ValueError(
            f"encoder {encoder.name!r} has no {COARSE_LAYER!r} layer; build it with build_encoder"
        ) from err
    if layer.get_config().get("activation") != "linear":
        raise ValueError(
            f"encoder {encoder.name!r} applies {layer.get_config().get('activation')!r} inside its "
            f"{COARSE_LAYER!r} layer, so its pre-activation is not available for the logistic loss; "
            "build it with build_encoder, or train with loss='mse'"
        )
    z = keras.layers.Reshape(lattice.coarse_shape, name="pre_activation")(layer.output)
    return keras.Model(encoder.inputs, z, name=f"{encoder.name}_pre_activation")


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
        layer = model.get_layer(COARSE_LAYER)
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} has no learned {COARSE_LAYER!r} layer (an analytic encoder's "
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
    """Long table of several histories: columns model, epoch, metric, value.

    Every per-epoch list of a history (see :func:`fit_model`) becomes rows;
    its scalar entries (``best_epoch``, ``epochs_run``, ...) are left out.
    """
    rows = []
    for model_name, history in histories.items():
        epochs = history.get("epoch") or list(range(1, len(history["loss"]) + 1))
        for metric, values in history.items():
            if metric == "epoch" or not isinstance(values, list):
                continue
            rows.extend(
                {"model": model_name, "epoch": e, "metric": metric, "value": v}
                for e, v in zip(epochs, values, strict=True)
            )
    return pd.DataFrame(rows, columns=["model", "epoch", "metric", "value"])
