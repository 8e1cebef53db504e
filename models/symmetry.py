"""Symmetry-aware thermometers on the L x L torus (STUDY.md section 6).

The Ising Hamiltonian on the square torus is invariant under
G = translations ⋊ D4 × Z2: the L² cyclic shifts, the 8 rotations and
reflections of the square, and the global spin flip s -> -s (exact only at
h = 0; D4 is broken to D2 by couplings J_x != J_y). beta is G-invariant. This
module holds

- the group actions on batches of configurations, float (batch, L, L), in
  ``keras.ops`` so that they run inside models (:func:`translate`,
  :func:`d4_element`, :func:`spin_flip`, :func:`random_group_elements`);
- five thermometer variants of one width (first layer: ``width`` units,
  the number of coarse sites N/B as in the study's dense thermometer; then
  Dense(hidden, relu) and Dense(1)), trained with one budget
  (:func:`train_fixed_budget`):

  ``free_dense``     Flatten -> Dense(width, tanh) -> Dense(hidden, relu) -> Dense(1); no symmetry
                     (the study's dense thermometer without its spin-flip pair);
  ``weight_shared``  the first layer a periodic convolution with an L x L kernel and ``width``
                     channels, then the site mean: exactly translation invariant, same kernel size
                     as the dense layer (N x width weights);
  ``group_averaged`` the free dense network averaged over D4 × Z2 (16 elements) and over
                     translations: all L² shifts at evaluation (exactly G-invariant), ``train_shifts``
                     random shifts per training step (frame averaging with the whole group as frame,
                     Puny et al., ICLR 2022);
  ``augmented``      the free dense network trained on data with one random element of G applied
                     to each training configuration;
  ``soft_equivariant`` the free dense network with one penalty per symmetry type,
                     P_k = E_s (f(g_k s) - f(s))² over the training batch, and a strength lambda_k
                     per type tuned during training (after Kim, Lee, Yang & Lee, "Regularizing
                     towards soft equivariance under mixed symmetries", ICML 2023).

The soft-equivariance strengths: each type's penalty is read as a Gaussian term
lambda_k P_k of a precision lambda_k with a Gamma prior; its posterior mode given
the current (exponentially averaged) violation is lambda_k = a / (P_k + b), with
a = ``strength_scale`` and b = ``violation_floor`` (units beta²). The strengths
are updated at every training step from the violation the model shows on the
training batch (an empirical-Bayes step, not a gradient step); the model's
weights then descend MSE + sum_k lambda_k P_k. A type the data break keeps a
large violation and its strength falls towards a / P_k; a type the model can
respect at no cost to the fit keeps a strength near a / b.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = [
    "SYMMETRY_TYPES",
    "VARIANTS",
    "translate",
    "d4_element",
    "spin_flip",
    "group_element",
    "random_group_elements",
    "GroupAveraged",
    "SoftEquivariance",
    "build_symmetry_thermometer",
    "train_fixed_budget",
    "predict",
    "symmetry_violation",
    "soft_strengths",
]

#: Symmetry types of the Ising model on the square torus, one penalty each.
SYMMETRY_TYPES = ("translation", "d4", "z2")
#: Thermometer variants, in report order.
VARIANTS = ("free_dense", "weight_shared", "group_averaged", "augmented", "soft_equivariant")
#: Number of elements of D4 and of D4 × Z2.
N_D4 = 8


def _side(spins) -> int:
    shape = tuple(spins.shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] is None:
        raise ValueError(f"group actions need configurations of shape (batch, L, L), got {shape}")
    return int(shape[1])


def translate(spins, shift_rows, shift_cols):
    """Cyclic shift of (batch, L, L) configurations: out[:, i, j] = spins[:, i - dr, j - dc] (mod L).

    Same as ``np.roll(spins, (dr, dc), axis=(1, 2))``; the shifts may be Python
    ints or integer scalar tensors (so a model can draw them at random).
    """
    L = _side(spins)
    sites = ops.arange(L, dtype="int32")
    rows = ops.mod(sites - ops.cast(shift_rows, "int32"), L)
    cols = ops.mod(sites - ops.cast(shift_cols, "int32"), L)
    return ops.take(ops.take(spins, rows, axis=1), cols, axis=2)


def _rot90(spins):
    """Counter-clockwise quarter turn of (batch, L, L), as ``np.rot90(spins, 1, axes=(1, 2))``."""
    return ops.flip(ops.transpose(spins, (0, 2, 1)), axis=1)


def d4_element(spins, k: int):
    """Element k = 0 .. 7 of D4 on (batch, L, L): transpose if k >= 4, then k mod 4 quarter turns.

    k = 0 is the identity; 1, 2, 3 the rotations by 90, 180, 270 degrees;
    4 .. 7 the four reflections (transpose, then rotations).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < N_D4:
        raise ValueError(f"a D4 element is an integer 0 .. 7, got {k!r}")
    _side(spins)
    out = ops.transpose(spins, (0, 2, 1)) if k >= 4 else spins
    for _ in range(int(k) % 4):
        out = _rot90(out)
    return out


def spin_flip(spins):
    """The global spin flip s -> -s."""
    return -spins


def group_element(spins, shift_rows: int, shift_cols: int, k: int, flip: bool):
    """The element (translation, D4 element k, flip) of G: translate(d4_element(±s, k))."""
    out = spin_flip(spins) if flip else spins
    return translate(d4_element(out, k), shift_rows, shift_cols)


def random_group_elements(spins, seed: int) -> np.ndarray:
    """One uniformly random element of G applied to each configuration (data augmentation).

    spins: (n, L, L) array, values ±1. Returns float32 (n, L, L): each
    configuration flipped with probability 1/2, mapped by a uniform D4 element
    (:func:`d4_element`, applied to all configurations that drew it at once) and
    cyclically shifted by a uniform (dr, dc), as :func:`group_element` does.
    The elements are drawn from ``np.random.default_rng(seed)``.
    """
    spins = np.asarray(spins, dtype=np.float32)
    n, L = spins.shape[0], _side(spins)
    rng = np.random.default_rng(seed)
    flip = rng.integers(0, 2, size=n)
    k = rng.integers(0, N_D4, size=n)
    shifts = rng.integers(0, L, size=(n, 2))
    out = np.where(flip[:, None, None] == 1, -spins, spins)
    for element in np.unique(k):
        members = k == element
        out[members] = ops.convert_to_numpy(d4_element(out[members], int(element)))
    sites = np.arange(L)
    rows = (sites[None, :] - shifts[:, :1]) % L
    cols = (sites[None, :] - shifts[:, 1:]) % L
    return out[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _shift_index(L: int, shifts):
    """Flat gather indices int32 (S, L*L) of the cyclic shifts ``shifts`` int32 (S, 2)."""
    sites = ops.arange(L, dtype="int32")
    rows = ops.mod(sites[None, :] - shifts[:, :1], L)
    cols = ops.mod(sites[None, :] - shifts[:, 1:], L)
    return ops.reshape(rows[:, :, None] * L + cols[:, None, :], (-1, L * L))


def _point_group_orbit(spins):
    """(16, batch, L, L): the D4 × Z2 images of (batch, L, L) configurations."""
    images = [d4_element(spins, k) for k in range(N_D4)]
    return ops.stack(images + [spin_flip(x) for x in images], axis=0)


class _BackboneWrapper(keras.layers.Layer):
    """A layer around a backbone thermometer (batch, L, L) -> (batch, 1) that saves it in its config."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "backbone": keras.saving.serialize_keras_object(self.backbone)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="rgae")
class GroupAveraged(_BackboneWrapper):
    """Frame averaging of a backbone over G = translations ⋊ D4 × Z2 on (batch, L, L) inputs.

    f(s) = mean over t in T, d in D4, z in Z2 of backbone(t d z s), float32
    (batch, 1). At evaluation T holds all L² shifts, so f is exactly G-invariant
    (up to float rounding in the order of the sum). In training, T is
    ``train_shifts`` shifts drawn at random at each step (a stochastic estimate
    of the same average, so that a step costs 16 * train_shifts backbone
    evaluations rather than 16 L²).

    Parameters
    ----------
    backbone : keras.Model
        Maps float32 (m, L, L) to (m, 1).
    train_shifts : int
        Random translations per training step.
    seed : int
        Seed of the shift generator.
    """

    def __init__(self, backbone, train_shifts: int = 4, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(train_shifts, bool) or not isinstance(train_shifts, int) or train_shifts < 1:
            raise ValueError(f"train_shifts must be a positive integer, got {train_shifts!r}")
        self.backbone = backbone
        self.train_shifts = train_shifts
        self.seed = int(seed)
        self._generator = keras.random.SeedGenerator(self.seed)

    def call(self, spins, training=False):
        spins = ops.cast(spins, self.compute_dtype)
        L = _side(spins)
        if training:
            shifts = keras.random.randint((self.train_shifts, 2), 0, L, dtype="int32", seed=self._generator)
        else:
            grid = np.indices((L, L)).reshape(2, -1).T
            shifts = ops.convert_to_tensor(grid.astype(np.int32))
        orbit = ops.reshape(_point_group_orbit(spins), (2 * N_D4, -1, L * L))
        copies = ops.take(orbit, _shift_index(L, shifts), axis=2)  # (16, batch, S, N)
        out = self.backbone(ops.reshape(copies, (-1, L, L)), training=training)
        out = ops.reshape(out, (2 * N_D4, ops.shape(spins)[0], -1))
        return ops.reshape(ops.mean(out, axis=(0, 2)), (-1, 1))

    def get_config(self):
        return {**super().get_config(), "train_shifts": self.train_shifts, "seed": self.seed}


@keras.saving.register_keras_serializable(package="rgae")
class SoftEquivariance(_BackboneWrapper):
    """A backbone with one invariance penalty per symmetry type and strengths tuned in training.

    The output is backbone(s), float32 (batch, 1). In training it adds the loss
    sum_k lambda_k P_k over :data:`SYMMETRY_TYPES`, with P_k the mean squared
    change of the output under the type's elements on the batch: one random
    non-trivial shift (translation), the mean over the 7 non-identity D4
    elements (d4), the flip (z2). ``violation_`` (non-trainable, (3,)) is the
    exponential average of P_k (weight ``momentum`` on the past) and the
    strengths are lambda_k = strength_scale / (violation_k + violation_floor),
    the posterior mode of a Gamma-distributed precision (see the module docstring).

    Parameters
    ----------
    backbone : keras.Model
        Maps float32 (m, L, L) to (m, 1).
    strength_scale : float
        a (units of the loss): the most a type's penalty can contribute is about a.
    violation_floor : float
        b (units beta²): violations well below b count as exact; lambda <= a / b.
    momentum : float
        Weight of the past in the running violation, in [0, 1).
    seed : int
        Seed of the random shifts.
    """

    def __init__(
        self,
        backbone,
        strength_scale: float = 1e-4,
        violation_floor: float = 1e-5,
        momentum: float = 0.9,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (strength_scale > 0 and violation_floor > 0):
            raise ValueError("strength_scale and violation_floor must be positive")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.backbone = backbone
        self.strength_scale = float(strength_scale)
        self.violation_floor = float(violation_floor)
        self.momentum = float(momentum)
        self.seed = int(seed)
        self._generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        self.violation_ = self.add_weight(
            shape=(len(SYMMETRY_TYPES),), initializer="zeros", trainable=False, name="violation"
        )

    def strengths(self):
        """lambda_k, float32 (3,), in the order of :data:`SYMMETRY_TYPES`."""
        return self.strength_scale / (self.violation_ + self.violation_floor)

    def penalties(self, spins, out, training=False):
        """P_k, float32 (3,): mean squared output change per symmetry type on ``spins``."""
        L = _side(spins)
        shift = keras.random.randint((2,), 1, L, dtype="int32", seed=self._generator)
        moved = translate(spins, shift[0], shift[1])
        images = [moved] + [d4_element(spins, k) for k in range(1, N_D4)] + [spin_flip(spins)]
        outs = self.backbone(ops.concatenate(images, axis=0), training=training)
        outs = ops.reshape(outs, (len(images), -1))
        sq = ops.mean(ops.square(outs - ops.reshape(out, (1, -1))), axis=1)
        return ops.stack([sq[0], ops.mean(sq[1:N_D4]), sq[N_D4]])

    def call(self, spins, training=False):
        spins = ops.cast(spins, self.compute_dtype)
        out = self.backbone(spins, training=training)
        if training:
            penalty = self.penalties(spins, out, training=True)
            running = self.momentum * self.violation_ + (1 - self.momentum) * ops.stop_gradient(penalty)
            self.violation_.assign(running)
            self.add_loss(ops.sum(ops.stop_gradient(self.strengths()) * penalty))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "strength_scale": self.strength_scale,
            "violation_floor": self.violation_floor,
            "momentum": self.momentum,
            "seed": self.seed,
        }


def _init(seed: int, offset: int):
    return keras.initializers.GlorotUniform(seed=int(seed) + offset)


def _dense_backbone(L: int, width: int, hidden: int, seed: int, name: str) -> keras.Model:
    inputs = keras.Input(shape=(L, L), name="spins")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(width, activation="tanh", kernel_initializer=_init(seed, 0), name="coarse")(x)
    x = keras.layers.Dense(hidden, activation="relu", kernel_initializer=_init(seed, 1), name="hidden")(x)
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 2), name="beta")(x)
    return keras.Model(inputs, outputs, name=name)


def _weight_shared(L: int, width: int, hidden: int, seed: int) -> keras.Model:
    from .layers import AddChannelAxis, PeriodicPadding

    inputs = keras.Input(shape=(L, L), name="spins")
    x = AddChannelAxis(name="channel")(inputs)
    x = PeriodicPadding(before=0, after=L - 1, name="periodic_padding")(x)
    x = keras.layers.Conv2D(width, L, activation="tanh", kernel_initializer=_init(seed, 0), name="coarse")(x)
    x = keras.layers.GlobalAveragePooling2D(name="site_mean")(x)
    x = keras.layers.Dense(hidden, activation="relu", kernel_initializer=_init(seed, 1), name="hidden")(x)
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 2), name="beta")(x)
    return keras.Model(inputs, outputs, name="weight_shared_thermometer")


def build_symmetry_thermometer(
    variant: str,
    L: int,
    width: int,
    hidden: int = 32,
    seed: int = 0,
    train_shifts: int = 4,
    strength_scale: float = 1e-4,
    violation_floor: float = 1e-5,
) -> keras.Model:
    """An untrained thermometer of one of :data:`VARIANTS` on the L x L torus.

    Every variant maps float32 (batch, L, L) spins ±1 to float32 (batch, 1) beta
    and has a first layer of ``width`` tanh units (or channels) with L² x width
    kernel weights, then Dense(hidden, relu) and Dense(1); ``augmented`` is the
    ``free_dense`` network (its difference is in the data,
    :func:`train_fixed_budget`). ``train_shifts`` configures ``group_averaged``;
    ``strength_scale``, ``violation_floor`` configure ``soft_equivariant``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown thermometer variant {variant!r}; known: {', '.join(VARIANTS)}")
    for name, value in (("L", L), ("width", width), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    L, width, hidden = int(L), int(width), int(hidden)
    if variant == "weight_shared":
        return _weight_shared(L, width, hidden, seed)
    backbone = _dense_backbone(L, width, hidden, seed, name=f"{variant}_backbone")
    if variant in ("free_dense", "augmented"):
        return backbone
    inputs = keras.Input(shape=(L, L), name="spins")
    if variant == "group_averaged":
        outputs = GroupAveraged(backbone, train_shifts=int(train_shifts), seed=seed, name="group_average")(
            inputs
        )
    else:
        outputs = SoftEquivariance(
            backbone, strength_scale=strength_scale, violation_floor=violation_floor, seed=seed, name="soft"
        )(inputs)
    return keras.Model(inputs, outputs, name=f"{variant}_thermometer")


def train_fixed_budget(
    model: keras.Model,
    spins,
    beta,
    steps: int,
    batch_size: int,
    learning_rate: float = 3e-3,
    seed: int = 0,
    augment: bool = False,
) -> keras.Model:
    """Adam on the MSE of beta for exactly ``steps`` steps of ``batch_size`` configurations.

    Every variant gets the same budget whatever the number of training
    configurations: the batches are drawn with replacement from (spins, beta)
    by ``np.random.default_rng(seed)``, so a small training set is revisited
    more often, never trained for fewer steps. No early stopping (it would need
    a validation set, i.e. configurations the sample-efficiency comparison
    counts). ``augment`` applies one random element of G to every drawn
    configuration (:func:`random_group_elements`). A model compiled before
    (trained again from weights the caller has reset) keeps its compiled
    step, and its optimizer restarts from zero state: the learning rate is
    then the one it was compiled with.

    spins: (n, L, L) values ±1; beta: float (n,). Returns the trained model.
    """
    spins = np.asarray(spins, dtype=np.float32)
    beta = np.asarray(beta, dtype=np.float32).reshape(-1)
    if spins.shape[0] != beta.size or spins.shape[0] == 0:
        raise ValueError(f"need one beta per configuration, got {spins.shape[0]} and {beta.size}")
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, beta.size, size=int(steps) * int(batch_size))
    x, y = spins[draw], beta[draw]
    if augment:
        x = random_group_elements(x, seed=int(rng.integers(2**31)))
    keras.utils.set_random_seed(int(seed))
    if model.compiled:
        # Adam's step count and moments restart; its learning rate (also a variable) stays.
        for variable in model.optimizer.variables:
            if "learning_rate" not in variable.path:
                variable.assign(ops.zeros_like(variable))
    else:
        # XLA compilation costs more than these small models' whole training.
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=False)
    model.fit(x, y, batch_size=int(batch_size), epochs=1, shuffle=False, verbose=0)
    return model


def predict(model: keras.Model, spins, batch_size: int = 64) -> np.ndarray:
    """float64 (n,) outputs of ``model`` on (n, L, L) configurations, eager calls in batches.

    Eager calls avoid tracing a prediction graph, which for these small models
    costs more than the predictions.
    """
    spins = np.asarray(spins, dtype=np.float32)
    out = [
        ops.convert_to_numpy(model(spins[i : i + batch_size], training=False))
        for i in range(0, spins.shape[0], batch_size)
    ]
    return np.concatenate(out).reshape(-1).astype(np.float64)


def symmetry_violation(
    model: keras.Model, spins, seed: int = 0, n_shifts: int = 4, batch_size: int = 64
) -> dict:
    """Mean |f(g s) - f(s)| per symmetry type on configurations (n, L, L).

    translation: over ``n_shifts`` random non-trivial shifts (from
    ``np.random.default_rng(seed)``); d4: over the 7 non-identity elements;
    z2: the flip. Returns ``{type: float}`` for :data:`SYMMETRY_TYPES`.
    """
    spins = np.asarray(spins, dtype=np.float32)
    L = _side(spins)
    rng = np.random.default_rng(seed)
    base = predict(model, spins, batch_size)

    def change(images):
        return float(np.mean(np.abs(predict(model, images, batch_size) - base)))

    shifts = [divmod(int(c), L) for c in rng.choice(np.arange(1, L * L), size=n_shifts, replace=False)]
    return {
        "translation": float(
            np.mean([change(ops.convert_to_numpy(translate(spins, r, c))) for r, c in shifts])
        ),
        "d4": float(np.mean([change(ops.convert_to_numpy(d4_element(spins, k))) for k in range(1, N_D4)])),
        "z2": change(-spins),
    }


def soft_strengths(model: keras.Model) -> dict:
    """The learned strengths lambda_k of a ``soft_equivariant`` model, ``{type: float}``."""
    layer = next((lay for lay in model.layers if isinstance(lay, SoftEquivariance)), None)
    if layer is None:
        raise ValueError(f"model {model.name!r} has no SoftEquivariance layer")
    return dict(
        zip(SYMMETRY_TYPES, ops.convert_to_numpy(layer.strengths()).astype(float).tolist(), strict=True)
    )
