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

The same variants exist for the learned RG block encoder
(:func:`build_symmetry_encoder`), (batch, L, L) -> (batch, L/b, L/b), one tanh unit
per b x b block, trained to imitate an analytic block-spin rule. Its symmetry is
equivariance: G_b = (translations by multiples of b) ⋊ D4 × Z2 acts on the fine
lattice and on the coarse lattice (translation by b t on the fine lattice is t on
the coarse one; D4 element k and the flip act as themselves), and
f(g s) = g·f(s) is what group averaging enforces and what the violations and
penalties measure (``block=b`` in :class:`GroupAveraged`,
:class:`SoftEquivariance`, :func:`symmetry_violation`, :func:`train_fixed_budget`).

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

from functools import partial

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
    "inverse_group_element",
    "d4_inverse",
    "random_group_elements",
    "GroupAveraged",
    "SoftEquivariance",
    "build_symmetry_thermometer",
    "build_symmetry_encoder",
    "encoder_dense_kernel",
    "train_fixed_budget",
    "predict",
    "predict_codes",
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


def d4_inverse(k: int) -> int:
    """The D4 element that undoes element k of :func:`d4_element` (reflections are their own)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < N_D4:
        raise ValueError(f"a D4 element is an integer 0 .. 7, got {k!r}")
    return int(k) if k >= 4 else (4 - int(k)) % 4


def inverse_group_element(spins, shift_rows: int, shift_cols: int, k: int, flip: bool):
    """The inverse of :func:`group_element` (same arguments): ±d4_element(translate(s, -dr, -dc), k^-1)."""
    out = d4_element(translate(spins, -shift_rows, -shift_cols), d4_inverse(k))
    return spin_flip(out) if flip else out


def _check_block(L: int, block) -> int:
    """The coarse side L / block; ValueError unless block divides L."""
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1 or L % block:
        raise ValueError(f"the block side must be a positive integer dividing L = {L}, got {block!r}")
    return L // int(block)


def random_group_elements(spins, seed: int, targets=None, block: int = 1):
    """One uniformly random element of G applied to each configuration (data augmentation).

    spins: (n, L, L) array, values ±1. Returns float32 (n, L, L): each
    configuration flipped with probability 1/2, mapped by a uniform D4 element
    (:func:`d4_element`, applied to all configurations that drew it at once) and
    cyclically shifted by a uniform (dr, dc), as :func:`group_element` does.
    The elements are drawn from ``np.random.default_rng(seed)``.

    With ``targets`` (n, L/block, L/block), e.g. the block spins of ``spins``,
    the shifts are multiples of ``block`` and the same elements act on the
    targets by the coarse action (shift / block): returns the pair
    ``(spins, targets)`` of transformed arrays (equivariant augmentation).
    """
    spins = np.asarray(spins, dtype=np.float32)
    n, L = spins.shape[0], _side(spins)
    Lc = _check_block(L, block)
    rng = np.random.default_rng(seed)
    flip = rng.integers(0, 2, size=n)
    k = rng.integers(0, N_D4, size=n)
    shifts = rng.integers(0, Lc, size=(n, 2))
    out = _apply_elements(spins, flip, k, shifts * int(block))
    if targets is None:
        return out
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (n, Lc, Lc):
        raise ValueError(f"targets must have shape ({n}, {Lc}, {Lc}) for block {block}, got {targets.shape}")
    return out, _apply_elements(targets, flip, k, shifts)


def _apply_elements(x: np.ndarray, flip, k, shifts) -> np.ndarray:
    """group_element(x[i], *shifts[i], k[i], flip[i]) for every i; float32 (n, L, L)."""
    n, L = x.shape[0], x.shape[1]
    out = np.where(flip[:, None, None] == 1, -x, x)
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
    """A layer around a backbone that saves it in its config.

    The backbone is a thermometer (batch, L, L) -> (batch, 1) when ``block`` is
    None, or a block encoder (batch, L, L) -> (batch, L/block, L/block).
    """

    def __init__(self, backbone, block: int | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 1):
            raise ValueError(f"block must be None (a thermometer) or a positive block side, got {block!r}")
        self.backbone = backbone
        self.block = block
        self.seed = int(seed)
        self._generator = keras.random.SeedGenerator(self.seed)

    def _coarse_side(self, L: int) -> int:
        return L if self.block is None else _check_block(L, self.block)

    def compute_output_shape(self, input_shape):
        if self.block is None:
            return (input_shape[0], 1)
        Lc = self._coarse_side(int(input_shape[1]))
        return (input_shape[0], Lc, Lc)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "block": self.block,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def _undo_elements(codes, tiles, Lc: int):
    """Mean over G_b of g^-1 applied to the codes of the images g s.

    codes: (16 * batch * S, Lc, Lc) backbone outputs on the images ordered as in
    :meth:`GroupAveraged.call` (D4 × Z2 element e, configuration, block shift
    ``tiles[i]``); returns (batch, Lc, Lc).
    """
    S, M = ops.shape(tiles)[0], Lc * Lc
    codes = ops.reshape(codes, (2 * N_D4, -1, S * M))
    back = _shift_index(Lc, -tiles) + ops.arange(S, dtype="int32")[:, None] * M  # (S, M)
    codes = ops.reshape(ops.take(codes, ops.reshape(back, (-1,)), axis=2), (2 * N_D4, -1, Lc, Lc))
    images = [d4_element(codes[e], d4_inverse(e % N_D4)) for e in range(2 * N_D4)]
    undone = ops.stack(images[:N_D4] + [spin_flip(x) for x in images[N_D4:]], axis=0)
    return ops.mean(ops.reshape(undone, (2 * N_D4, -1, S, Lc, Lc)), axis=(0, 2))


@keras.saving.register_keras_serializable(package="rgae")
class GroupAveraged(_BackboneWrapper):
    """Frame averaging of a backbone over G = translations ⋊ D4 × Z2 on (batch, L, L) inputs.

    Thermometer (``block=None``): f(s) = mean over t in T, d in D4, z in Z2 of
    backbone(t d z s), float32 (batch, 1). At evaluation T holds all L² shifts,
    so f is exactly G-invariant (up to float rounding in the order of the sum).
    In training, T is ``train_shifts`` shifts drawn at random at each step (a
    stochastic estimate of the same average, so that a step costs
    16 * train_shifts backbone evaluations rather than 16 L²).

    Block encoder (``block=b``): f(s) = mean over g in G_b of g^-1·backbone(g s),
    float32 (batch, L/b, L/b), with G_b the translations by multiples of b (all
    (L/b)² at evaluation, ``train_shifts`` random ones per training step) times
    D4 × Z2, acting on the coarse output by shift / b, the same D4 element and
    the flip. f is then exactly G_b-equivariant, f(g s) = g·f(s).

    Parameters
    ----------
    backbone : keras.Model
        Maps float32 (m, L, L) to (m, 1), or to (m, L/b, L/b) with ``block=b``.
    train_shifts : int
        Random translations per training step.
    block : int or None
        Block side b of an encoder backbone; None for a thermometer.
    seed : int
        Seed of the shift generator.
    """

    def __init__(self, backbone, train_shifts: int = 4, block: int | None = None, seed: int = 0, **kwargs):
        super().__init__(backbone, block=block, seed=seed, **kwargs)
        if isinstance(train_shifts, bool) or not isinstance(train_shifts, int) or train_shifts < 1:
            raise ValueError(f"train_shifts must be a positive integer, got {train_shifts!r}")
        self.train_shifts = train_shifts

    def call(self, spins, training=False):
        spins = ops.cast(spins, self.compute_dtype)
        L = _side(spins)
        Lc = self._coarse_side(L)
        if training:
            tiles = keras.random.randint((self.train_shifts, 2), 0, Lc, dtype="int32", seed=self._generator)
        else:
            grid = np.indices((Lc, Lc)).reshape(2, -1).T
            tiles = ops.convert_to_tensor(grid.astype(np.int32))
        orbit = ops.reshape(_point_group_orbit(spins), (2 * N_D4, -1, L * L))
        copies = ops.take(orbit, _shift_index(L, tiles * (self.block or 1)), axis=2)  # (16, batch, S, N)
        out = self.backbone(ops.reshape(copies, (-1, L, L)), training=training)
        if self.block is not None:
            return _undo_elements(out, tiles, Lc)
        out = ops.reshape(out, (2 * N_D4, ops.shape(spins)[0], -1))
        return ops.reshape(ops.mean(out, axis=(0, 2)), (-1, 1))

    def get_config(self):
        return {**super().get_config(), "train_shifts": self.train_shifts}


@keras.saving.register_keras_serializable(package="rgae")
class SoftEquivariance(_BackboneWrapper):
    """A backbone with one invariance penalty per symmetry type and strengths tuned in training.

    The output is backbone(s), float32 (batch, 1) (or (batch, L/b, L/b) with
    ``block=b``). In training it adds the loss sum_k lambda_k P_k over
    :data:`SYMMETRY_TYPES`, with P_k the mean squared violation under the
    type's elements on the batch, (f(g s) - f(s))² for a thermometer and
    (f(g s) - g·f(s))² per coarse unit for a block encoder: one random
    non-trivial shift (by a multiple of b for an encoder; translation), the
    mean over the 7 non-identity D4 elements (d4), the flip (z2).
    ``violation_`` (non-trainable, (3,)) is the exponential average of P_k
    (weight ``momentum`` on the past) and the strengths are
    lambda_k = strength_scale / (violation_k + violation_floor), the posterior
    mode of a Gamma-distributed precision (see the module docstring).

    Parameters
    ----------
    backbone : keras.Model
        Maps float32 (m, L, L) to (m, 1), or to (m, L/b, L/b) with ``block=b``.
    strength_scale : float
        a (units of the loss): the most a type's penalty can contribute is about a.
    violation_floor : float
        b (units of the squared output): violations well below b count as exact; lambda <= a / b.
    momentum : float
        Weight of the past in the running violation, in [0, 1).
    block : int or None
        Block side b of an encoder backbone; None for a thermometer.
    seed : int
        Seed of the random shifts.
    """

    def __init__(
        self,
        backbone,
        strength_scale: float = 1e-4,
        violation_floor: float = 1e-5,
        momentum: float = 0.9,
        block: int | None = None,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(backbone, block=block, seed=seed, **kwargs)
        if not (strength_scale > 0 and violation_floor > 0):
            raise ValueError("strength_scale and violation_floor must be positive")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.strength_scale = float(strength_scale)
        self.violation_floor = float(violation_floor)
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.violation_ = self.add_weight(
            shape=(len(SYMMETRY_TYPES),), initializer="zeros", trainable=False, name="violation"
        )

    def strengths(self):
        """lambda_k, float32 (3,), in the order of :data:`SYMMETRY_TYPES`."""
        return self.strength_scale / (self.violation_ + self.violation_floor)

    def penalties(self, spins, out, training=False):
        """P_k, float32 (3,): mean squared violation per symmetry type on ``spins``."""
        L = _side(spins)
        Lc = self._coarse_side(L)
        tile = keras.random.randint((2,), 1, Lc, dtype="int32", seed=self._generator)
        b = self.block or 1
        moved = translate(spins, tile[0] * b, tile[1] * b)
        images = [moved] + [d4_element(spins, k) for k in range(1, N_D4)] + [spin_flip(spins)]
        outs = self.backbone(ops.concatenate(images, axis=0), training=training)
        outs = ops.reshape(outs, (len(images), -1))
        if self.block is None:
            expected = ops.reshape(out, (1, -1))
        else:
            acted = [translate(out, tile[0], tile[1])] + [d4_element(out, k) for k in range(1, N_D4)]
            expected = ops.reshape(ops.stack(acted + [spin_flip(out)], axis=0), (len(images), -1))
        sq = ops.mean(ops.square(outs - expected), axis=1)
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


def _weight_shared_encoder(L: int, b: int, seed: int) -> keras.Model:
    from .layers import AddChannelAxis

    Lc = L // b
    inputs = keras.Input(shape=(L, L), name="spins")
    x = AddChannelAxis(name="channel")(inputs)
    x = keras.layers.Conv2D(
        1, b, strides=b, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="coarse"
    )(x)
    x = keras.layers.Activation("tanh", name="coarse_tanh")(x)
    code = keras.layers.Reshape((Lc, Lc), name="code")(x)
    return keras.Model(inputs, code, name="weight_shared_encoder")


def build_symmetry_encoder(
    variant: str,
    L: int,
    b: int = 2,
    seed: int = 0,
    train_shifts: int = 4,
    strength_scale: float = 1e-4,
    violation_floor: float = 1e-5,
) -> keras.Model:
    """An untrained learned RG block encoder of one of :data:`VARIANTS` on the L x L torus.

    Every variant maps float32 (batch, L, L) spins ±1 to float32
    (batch, L/b, L/b) tanh units, one per b x b block (width (L/b)²):

    - ``free_dense``, ``augmented``: the study's learned RG encoder,
      :func:`transfer.learned.build_encoder` (Flatten -> Dense((L/b)²) named
      ``"coarse"`` -> tanh -> ``"code"``; L² (L/b)² + (L/b)² weights) from a
      Glorot start seeded by ``seed``;
    - ``weight_shared``: one b x b filter and one bias tiled over the blocks,
      a stride-b Conv2D named ``"coarse"`` (b² + 1 weights): exactly
      equivariant under translations by multiples of b;
    - ``group_averaged``: the free dense encoder inside :class:`GroupAveraged`
      with ``block=b`` (exactly G_b-equivariant at evaluation);
    - ``soft_equivariant``: the free dense encoder inside
      :class:`SoftEquivariance` with ``block=b``.
    """
    from ising.lattice import square
    from transfer.learned import build_encoder

    if variant not in VARIANTS:
        raise ValueError(f"unknown encoder variant {variant!r}; known: {', '.join(VARIANTS)}")
    for name, value in (("L", L), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    L, b = int(L), int(b)
    if L % b or L // b < 2:
        raise ValueError(f"the block side b = {b} must divide L = {L} into at least 2 x 2 blocks")
    if variant == "weight_shared":
        return _weight_shared_encoder(L, b, seed)
    backbone = build_encoder(square(L, b), seed=int(seed), name=f"{variant}_encoder_backbone")
    if variant in ("free_dense", "augmented"):
        return backbone
    inputs = keras.Input(shape=(L, L), name="spins")
    if variant == "group_averaged":
        layer = GroupAveraged(
            backbone, train_shifts=int(train_shifts), block=b, seed=seed, name="group_average"
        )
    else:
        layer = SoftEquivariance(
            backbone,
            strength_scale=strength_scale,
            violation_floor=violation_floor,
            block=b,
            seed=seed,
            name="soft",
        )
    return keras.Model(inputs, layer(inputs), name=f"{variant}_encoder")


def encoder_dense_kernel(model: keras.Model) -> np.ndarray:
    """First-layer weights of a :func:`build_symmetry_encoder` model as a Dense kernel, float32 (L², (L/b)²).

    Column k holds coarse unit k's weights over the fine sites (the layout of
    :mod:`analysis.sparsity`). A dense variant gives its ``"coarse"`` kernel
    (that of the backbone for the group-averaged and soft-equivariant
    wrappers); the weight-shared encoder gives its b x b filter placed on
    every block, zero elsewhere.
    """
    for layer in model.layers:
        if isinstance(layer, _BackboneWrapper):
            model = layer.backbone
    layer = model.get_layer("coarse")
    kernel = np.asarray(layer.get_weights()[0], dtype=np.float32)
    if kernel.ndim == 2:
        return kernel
    b = kernel.shape[0]
    L = int(model.input_shape[1])
    Lc = L // b
    tiled = np.zeros((Lc, b, Lc, b, Lc, Lc), dtype=np.float32)
    for bi in range(Lc):
        for bj in range(Lc):
            tiled[bi, :, bj, :, bi, bj] = kernel[:, :, 0, 0]
    return tiled.reshape(L * L, Lc * Lc)


def _restart_shift_generators(model: keras.Model) -> None:
    """Put every wrapper's random-shift generator back to its initial state ``[seed, 0]``.

    A model trained again from weights the caller has reset then draws the same
    shifts as a freshly built one, so its result does not depend on what was
    trained before it.
    """
    for layer in model._flatten_layers(include_self=True):
        generator = getattr(layer, "_generator", None)
        if isinstance(generator, keras.random.SeedGenerator):
            generator.state.assign(ops.convert_to_tensor([layer.seed, 0], dtype=generator.state.dtype))


def train_fixed_budget(
    model: keras.Model,
    spins,
    beta,
    steps: int,
    batch_size: int,
    learning_rate: float = 3e-3,
    seed: int = 0,
    augment: bool = False,
    block: int | None = None,
) -> keras.Model:
    """Adam on the MSE of the target for exactly ``steps`` steps of ``batch_size`` configurations.

    Every variant gets the same budget whatever the number of training
    configurations: the batches are drawn with replacement from (spins, beta)
    by ``np.random.default_rng(seed)``, so a small training set is revisited
    more often, never trained for fewer steps. No early stopping (it would need
    a validation set, i.e. configurations the sample-efficiency comparison
    counts). ``augment`` applies one random element of G to every drawn
    configuration (:func:`random_group_elements`). A model compiled before
    (trained again from weights the caller has reset) keeps its compiled
    step, and its optimizer restarts from zero state: the learning rate is
    then the one it was compiled with; the random shifts of a group-averaged
    or soft-equivariant model restart from their seed too.

    A block encoder (``block=b``) is trained the same way on (configuration,
    block spins) pairs; ``augment`` then moves both by one random element of
    G_b (shifts by multiples of b; the coarse action on the targets).

    spins: (n, L, L) values ±1; beta: float (n,) for a thermometer, or the
    target codes float (n, L/b, L/b) with ``block=b``. Returns the trained model.
    """
    spins = np.asarray(spins, dtype=np.float32)
    beta = np.asarray(beta, dtype=np.float32)
    beta = beta.reshape(-1) if block is None else beta
    if spins.shape[0] != beta.shape[0] or spins.shape[0] == 0:
        raise ValueError(f"need one target per configuration, got {spins.shape[0]} and {beta.shape[0]}")
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, beta.shape[0], size=int(steps) * int(batch_size))
    x, y = spins[draw], beta[draw]
    if augment and block is None:
        x = random_group_elements(x, seed=int(rng.integers(2**31)))
    elif augment:
        x, y = random_group_elements(x, seed=int(rng.integers(2**31)), targets=y, block=block)
    keras.utils.set_random_seed(int(seed))
    _restart_shift_generators(model)
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


def predict_codes(model: keras.Model, spins, batch_size: int = 64) -> np.ndarray:
    """float64 (n, *output shape) outputs of ``model`` on (n, L, L) configurations, eager calls in batches.

    Eager calls avoid tracing a prediction graph, which for these small models
    costs more than the predictions.
    """
    spins = np.asarray(spins, dtype=np.float32)
    out = [
        ops.convert_to_numpy(model(spins[i : i + batch_size], training=False))
        for i in range(0, spins.shape[0], batch_size)
    ]
    return np.concatenate(out).astype(np.float64)


def predict(model: keras.Model, spins, batch_size: int = 64) -> np.ndarray:
    """float64 (n,) outputs of a thermometer on (n, L, L) configurations (:func:`predict_codes`)."""
    return predict_codes(model, spins, batch_size).reshape(-1)


def symmetry_violation(
    model: keras.Model,
    spins,
    seed: int = 0,
    n_shifts: int = 4,
    batch_size: int = 64,
    block: int | None = None,
) -> dict:
    """Mean |f(g s) - f(s)| per symmetry type on configurations (n, L, L).

    translation: over ``n_shifts`` random non-trivial shifts (all if fewer exist; from
    ``np.random.default_rng(seed)``); d4: over the 7 non-identity elements;
    z2: the flip. Returns ``{type: float}`` for :data:`SYMMETRY_TYPES`.

    With ``block=b`` the model is a block encoder and the violation is that of
    equivariance, mean over configurations and coarse units of
    |f(g s) - g·f(s)|, with shifts by non-trivial multiples of b (shift / b on
    the coarse lattice).
    """
    spins = np.asarray(spins, dtype=np.float32)
    L = _side(spins)
    Lc = L if block is None else _check_block(L, block)
    b = block or 1
    rng = np.random.default_rng(seed)
    base = predict_codes(model, spins, batch_size)

    def change(images, acted):
        return float(np.mean(np.abs(predict_codes(model, images, batch_size) - acted)))

    def act(element):
        return base if block is None else ops.convert_to_numpy(element(base))

    tiles = [
        divmod(int(c), Lc)
        for c in rng.choice(np.arange(1, Lc * Lc), size=min(n_shifts, Lc * Lc - 1), replace=False)
    ]
    shifts = [
        change(
            ops.convert_to_numpy(translate(spins, r * b, c * b)),
            act(partial(translate, shift_rows=r, shift_cols=c)),
        )
        for r, c in tiles
    ]
    rotations = [
        change(ops.convert_to_numpy(d4_element(spins, k)), act(partial(d4_element, k=k)))
        for k in range(1, N_D4)
    ]
    return {
        "translation": float(np.mean(shifts)),
        "d4": float(np.mean(rotations)),
        "z2": change(-spins, act(spin_flip)),
    }


def soft_strengths(model: keras.Model) -> dict:
    """The learned strengths lambda_k of a ``soft_equivariant`` model, ``{type: float}``."""
    layer = next((lay for lay in model.layers if isinstance(lay, SoftEquivariance)), None)
    if layer is None:
        raise ValueError(f"model {model.name!r} has no SoftEquivariance layer")
    return dict(
        zip(SYMMETRY_TYPES, ops.convert_to_numpy(layer.strengths()).astype(float).tolist(), strict=True)
    )
