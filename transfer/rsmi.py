"""Real-space mutual information (RSMI): a coarse-graining learned without a target (claim C10).

For a b x b block V of the square torus, a buffer of width ``buffer`` around it
and an environment shell E of width ``env`` beyond the buffer, RSMI chooses the
coarse variable H = sign(Λ·V) that keeps the most information about E, i.e.
maximises I(H : E) (Koch-Janusz & Ringel, Nat. Phys. 14, 578 (2018); Gökmen,
Ringel, Huber & Koch-Janusz, PRL 127, 240603 and PRE 104, 064106 (2021)).

- :func:`region_masks`, :func:`block_patches`: the geometry, one (V, E) patch
  per block, periodic.
- :class:`BlockFilter`: H = tanh(Λ̂·V / τ) with Λ̂ = Λ / ||Λ|| (unit norm per
  coarse unit), so the filter's direction is learned and the temperature τ
  alone sets how close H is to ±1; τ is annealed geometrically during training
  (:class:`AnnealTemperature`) and the trained filter is used binarised.
- :class:`InfoNCEBound`: the InfoNCE lower bound (van den Oord et al. 2018;
  Poole et al., ICML 2019) I(H : E) >= E[f(h_i, e_i) - ln (1/K) Σ_j exp f(h_i, e_j)]
  with the critic f(h, e) = a(e) + h·c(e). For a binary (±1) H this critic is
  fully general, and for jointly Gaussian scalars it contains the optimal
  log density ratio, so the same estimator is checked on Gaussians.
- :func:`infonce_mutual_information`: trains one critic per (code, environment)
  pair, all in one model on the same shuffled batches (so the estimates are
  paired), and evaluates the bound on held-out data.
- :func:`train_rsmi_filters`: each filter and its critic trained jointly (several
  filters, e.g. one per temperature, side by side in one model).
- :func:`tiled_encoder_weights`, :func:`rsmi_block_spins`: the filter tiled over
  every block, an N -> N/B encoder in the Dense kernel layout of the study's others.

The side study :mod:`analysis.rsmi` imports this module only inside its
functions, so reading its settings does not load Keras.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ising.lattice import Lattice

__all__ = [
    "region_masks",
    "block_patches",
    "tiled_encoder_weights",
    "rsmi_block_spins",
    "infonce_mutual_information",
    "train_rsmi_filters",
    "build_rsmi_model",
    "BlockFilter",
    "InfoNCEBound",
    "ColumnSlice",
    "AnnealTemperature",
]

PACKAGE = "rgae"


def region_masks(b: int, buffer: int, env: int) -> tuple[np.ndarray, np.ndarray]:
    """Block and environment masks of one RSMI patch.

    The patch is a P x P square, P = b + 2 (buffer + env), with the block V at
    its centre; the buffer is every site within Chebyshev distance ``buffer``
    of V (V excluded), the environment E every site at distance
    ``buffer < d <= buffer + env``.

    Returns
    -------
    (block, environment) : bool (P, P) each.
    """
    for name, value, low in (("b", b, 1), ("buffer", buffer, 0), ("env", env, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    r = buffer + env
    P = b + 2 * r
    x = np.arange(P)
    # Chebyshev distance of a coordinate from the block's interval [r, r + b - 1].
    d1 = np.maximum(np.maximum(r - x, x - (r + b - 1)), 0)
    d = np.maximum(d1[:, None], d1[None, :])
    return d == 0, (d > buffer) & (d <= r)


def block_patches(spins, b: int, buffer: int, env: int) -> tuple[np.ndarray, np.ndarray]:
    """One (V, E) patch per block of every configuration, periodic boundaries.

    Parameters
    ----------
    spins : int8 (n, L, L), values ±1
        Square-torus configurations; L a multiple of b and L >= P = b + 2 (buffer + env)
        (so that no site is both in V and in E).
    b, buffer, env : int
        Geometry of :func:`region_masks`.

    Returns
    -------
    V : float32 (n * (L/b)^2, b*b)
        Block spins in C order of the block, patches ordered configuration-major,
        then blocks in C order of the coarse lattice.
    E : float32 (n * (L/b)^2, n_env)
        Environment spins in C order of the patch.
    """
    spins = np.asarray(spins)
    if spins.ndim != 3 or spins.shape[1] != spins.shape[2]:
        raise ValueError(f"spins must have shape (n, L, L) on the square torus, got {spins.shape}")
    block, environment = region_masks(b, buffer, env)
    L, P = spins.shape[1], block.shape[0]
    if L % b or L < P:
        raise ValueError(f"L = {L} must be a multiple of b = {b} and at least the patch size {P}")
    r = buffer + env
    rows = (np.arange(L // b)[:, None] * b - r + np.arange(P)[None, :]) % L
    patches = spins[:, rows[:, None, :, None], rows[None, :, None, :]].reshape(-1, P, P)
    return patches[:, block].astype(np.float32), patches[:, environment].astype(np.float32)


def _square_offsets(lattice: Lattice) -> tuple[int, np.ndarray]:
    if lattice.name != "square" or lattice.block_ids is None:
        raise ValueError(f"RSMI filters tile square lattices with b x b blocks, got {lattice.describe()}")
    b = int(lattice.params["b"])
    i, j = np.unravel_index(np.arange(lattice.n_sites), lattice.shape)
    Lb = lattice.shape[1] // b
    if not np.array_equal(lattice.block_ids, (i // b) * Lb + j // b):
        raise ValueError("the lattice's blocks are not numbered in C order of its b x b tiles")
    return b, (i % b) * b + j % b


def tiled_encoder_weights(filter_weights, lattice: Lattice) -> np.ndarray:
    """The block filter Λ tiled over every block: the N -> N/B encoder kernel.

    Parameters
    ----------
    filter_weights : float (b*b,) or (b, b)
        Λ over the sites of one block, in C order of the block.
    lattice : Lattice
        Square torus with b x b blocks.

    Returns
    -------
    float64 (n_sites, n_blocks): W[i, k] = Λ[position of i in its block] if
    site i belongs to block k, else 0 (the Dense kernel layout of
    :mod:`analysis.sparsity`).
    """
    b, offsets = _square_offsets(lattice)
    lam = np.asarray(filter_weights, dtype=np.float64).reshape(-1)
    if lam.size != b * b:
        raise ValueError(f"filter has {lam.size} weights; a {b}x{b} block needs {b * b}")
    W = np.zeros((lattice.n_sites, lattice.n_blocks))
    W[np.arange(lattice.n_sites), lattice.block_ids] = lam[offsets]
    return W


def rsmi_block_spins(spins, filter_weights, lattice: Lattice) -> np.ndarray:
    """Binarised RSMI coarse lattice: sign(Λ·V) per block, a zero broken by the representative spin.

    With majority weights Λ = (1.5, 1, 1, 1) on a 2 x 2 block (1.5 on the
    representative corner) this is exactly :func:`transfer.analytic.majority_rule`.

    Parameters
    ----------
    spins : int8 (n, L, L), values ±1
    filter_weights : float (b*b,) or (b, b)
    lattice : Lattice
        Square torus with b x b blocks.

    Returns
    -------
    int8 (n, *lattice.coarse_shape), values ±1.
    """
    W = tiled_encoder_weights(filter_weights, lattice)
    flat = np.asarray(spins, dtype=np.float64).reshape(-1, lattice.n_sites)
    field = flat @ W
    coarse = np.where(field != 0, np.sign(field), flat[:, lattice.representatives])
    return coarse.astype(np.int8).reshape(-1, *lattice.coarse_shape)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BlockFilter(keras.layers.Layer):
    """H = tanh(Λ̂·V / τ), Λ̂ = Λ / ||Λ|| column-wise: float (batch, n_block_sites) -> (batch, n_hidden).

    ``temperature`` τ is a non-trainable weight (annealed by :class:`AnnealTemperature`).
    """

    def __init__(self, n_hidden: int = 1, temperature: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n_hidden = int(n_hidden)
        self.initial_temperature = float(temperature)
        self.seed = int(seed)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), self.n_hidden),
            initializer=keras.initializers.RandomNormal(seed=self.seed),
        )
        self.temperature = self.add_weight(
            name="temperature",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_temperature),
            trainable=False,
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.n_hidden)

    def call(self, inputs):
        unit = self.kernel / ops.sqrt(ops.sum(ops.square(self.kernel), axis=0, keepdims=True))
        return ops.tanh(ops.matmul(inputs, unit) / self.temperature)

    def get_config(self):
        return {
            **super().get_config(),
            "n_hidden": self.n_hidden,
            "temperature": self.initial_temperature,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class InfoNCEBound(keras.layers.Layer):
    """Per-sample InfoNCE terms f(h_i, e_i) - ln (1/K) Σ_j exp f(h_i, e_j) over a batch of K.

    Inputs ``[h, scores]``: h float (K, d), scores float (K, 1 + d) = [a(e), c(e)],
    f(h_i, e_j) = a(e_j) + h_i·c(e_j). Output float (K, 1); its mean is the bound (nats).
    """

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def call(self, inputs):
        h, scores = inputs
        f = scores[None, :, 0] + ops.matmul(h, ops.transpose(scores[:, 1:]))
        k = ops.cast(ops.shape(h)[0], f.dtype)
        terms = ops.diagonal(f) - ops.logsumexp(f, axis=1) + ops.log(k)
        return terms[:, None]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ColumnSlice(keras.layers.Layer):
    """Columns ``start:stop`` of a float (batch, n) input (several inputs travel as one array)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def call(self, inputs):
        return inputs[:, self.start : self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


class AnnealTemperature(keras.callbacks.Callback):
    """Geometric annealing of :class:`BlockFilter` layers' τ from ``start`` to ``end`` over the epochs."""

    def __init__(self, layers, start: float, end: float, epochs: int):
        super().__init__()
        self.layers, self.start, self.end, self.epochs = list(layers), start, end, epochs

    def on_epoch_begin(self, epoch, logs=None):
        fraction = epoch / max(self.epochs - 1, 1)
        for layer in self.layers:
            layer.temperature.assign(self.start * (self.end / self.start) ** fraction)


def _critic(env_input, code_dim: int, hidden: int, seed: int, name: str):
    x = keras.layers.Dense(
        hidden,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        name=f"{name}_hidden",
    )(env_input)
    return keras.layers.Dense(
        1 + code_dim, kernel_initializer=keras.initializers.GlorotUniform(seed + 1), name=f"{name}_scores"
    )(x)


@keras.saving.register_keras_serializable(package=PACKAGE)
def negative_bound(y_true, y_pred):
    """Loss of the bound models: minus the mean of their per-sample InfoNCE terms."""
    return -ops.mean(y_pred)


def _check_pairs(codes, envs) -> int:
    if len(codes) != len(envs) or not codes:
        raise ValueError("give one environment array per code (equal, non-empty lists)")
    n = len(codes[0])
    for h, e in zip(codes, envs, strict=True):
        if np.ndim(h) != 2 or np.ndim(e) != 2 or len(h) != n or len(e) != n:
            raise ValueError("codes and environments must be 2D arrays (n, dim) with the same n")
    return n


def infonce_mutual_information(
    codes,
    envs,
    *,
    hidden: int = 32,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    test_fraction: float = 0.25,
    seed: int = 0,
    run_eagerly: bool = False,
) -> dict:
    """InfoNCE estimates of I(h_k : e_k) for several pairs, with paired held-out batches.

    One critic per pair (Dense(hidden, relu) -> Dense(1 + dim h_k) on e_k),
    all trained in one model on the same shuffled batches of K = ``batch_size``
    rows, then evaluated on the held-out rows (the last ``test_fraction``, in
    order) in batches of K. The bound is at most ln K.

    Parameters
    ----------
    codes : list of float (n, d_k)
    envs : list of float (n, m_k)
        Paired rows (row i of every array is one sample). Rows should be in
        random order (the held-out split is the tail).
    hidden, epochs, batch_size, learning_rate, seed
        Critic width, training epochs, batch K, Adam step, initialiser and shuffle seed.
    run_eagerly : bool
        Run Keras eagerly instead of tracing graphs: same numbers, faster for a few
        batches (smoke runs), slower for many.

    Returns
    -------
    dict with ``mi`` float64 (n_pairs,) (nats, mean over held-out batches),
    ``mi_err`` float64 (n_pairs,) (standard error over held-out batches),
    ``batches`` float64 (n_batches, n_pairs) (per-batch bounds, for paired
    differences) and ``train_bound`` float64 (n_pairs,) (last-epoch training bound).
    """
    from models.training import fit_with_history

    n = _check_pairs(codes, envs)
    K = int(batch_size)
    n_test = int(round(test_fraction * n)) // K * K
    n_train = (n - n_test) // K * K
    if n_test < 2 * K or n_train < K:
        raise ValueError(
            f"{n} samples give {n_train} training and {n_test} held-out rows; need at least {K} and "
            f"{2 * K} (batch {K}): sample more or lower batch_size"
        )
    keras.utils.set_random_seed(seed)
    arrays = [np.asarray(a, dtype=np.float32) for pair in zip(codes, envs, strict=True) for a in pair]
    data = np.concatenate(arrays, axis=1)
    inputs = keras.Input((data.shape[1],), name="pairs")
    terms, start = [], 0
    for k, (h, e) in enumerate(zip(codes, envs, strict=True)):
        d, m = np.shape(h)[1], np.shape(e)[1]
        h_k = ColumnSlice(start, start + d, name=f"code_{k}")(inputs)
        e_k = ColumnSlice(start + d, start + d + m, name=f"env_{k}")(inputs)
        scores = _critic(e_k, d, hidden, seed + 2 * k, f"critic_{k}")
        terms.append(InfoNCEBound(name=f"bound_{k}")([h_k, scores]))
        start += d + m
    out = terms[0] if len(terms) == 1 else keras.layers.Concatenate(name="bounds")(terms)
    model = keras.Model(inputs, out, name="infonce")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=negative_bound, run_eagerly=run_eagerly
    )
    train, test = data[:n_train], data[n - n_test :]
    history = fit_with_history(
        model,
        (train, np.zeros((n_train, 1), np.float32)),
        epochs=epochs,
        patience=None,
        batch_size=K,
        shuffle=True,
    )
    per_row = np.asarray(model.predict(test, batch_size=K, verbose=0), dtype=np.float64).reshape(n_test, -1)
    batches = per_row.reshape(n_test // K, K, -1).mean(axis=1)
    train_terms = np.asarray(model.predict(train, batch_size=K, verbose=0), dtype=np.float64)
    return {
        "mi": batches.mean(axis=0),
        "mi_err": batches.std(axis=0, ddof=1) / math.sqrt(len(batches)),
        "batches": batches,
        "train_bound": train_terms.reshape(n_train, -1).mean(axis=0),
        "history": history,
    }


def build_rsmi_model(
    n_block_sites: int, n_env: int, *, n_filters: int = 1, n_hidden: int = 1, hidden: int = 32, seed: int = 0
):
    """The RSMI training model: ``n_filters`` independent (filter, critic) pairs side by side.

    Input float (batch, n_filters * (n_block_sites + n_env)): for each filter k,
    its block spins V_k followed by its environment E_k. V_k -> :class:`BlockFilter`
    (named ``"filter_k"``) -> H_k float (batch, n_hidden); E_k -> its own critic.
    Output float (batch, n_filters), the per-sample InfoNCE terms of I(H_k : E_k);
    trained with the loss -mean(output). The pairs share no weights, so the
    gradient of each pair's parameters is that of its own bound (divided by
    ``n_filters``, to which Adam is insensitive): training them together is
    training each alone on the same batches, at the cost of one model.
    """
    width = n_block_sites + n_env
    patch = keras.Input((n_filters * width,), name="patches")
    bounds = []
    for k in range(n_filters):
        v = ColumnSlice(k * width, k * width + n_block_sites, name=f"block_{k}")(patch)
        e = ColumnSlice(k * width + n_block_sites, (k + 1) * width, name=f"environment_{k}")(patch)
        h = BlockFilter(n_hidden=n_hidden, seed=seed + 2 * k, name=f"filter_{k}")(v)
        scores = _critic(e, n_hidden, hidden, seed + 2 * k + 1, f"critic_{k}")
        bounds.append(InfoNCEBound(name=f"bound_{k}")([h, scores]))
    out = bounds[0] if n_filters == 1 else keras.layers.Concatenate(name="bounds")(bounds)
    return keras.Model(patch, out, name="rsmi")


def train_rsmi_filters(
    Vs,
    Es,
    *,
    n_hidden: int = 1,
    hidden: int = 32,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    tau_start: float = 1.0,
    tau_end: float = 0.05,
    seed: int = 0,
    run_eagerly: bool = False,
) -> dict:
    """Learn one RSMI filter Λ per ensemble by maximising the InfoNCE bound on I(H : E), τ annealed.

    The filters (one per (V, E) pair, e.g. one per temperature) are trained
    independently but in one model (:func:`build_rsmi_model`), on batches made
    of the same row indices of every pair.

    Parameters
    ----------
    Vs : list of float (n, b*b), Es : list of float (n, n_env)
        Patches of :func:`block_patches` (rows in random order), one pair per
        filter, all with the same n, b and environment.
    n_hidden : int
        Coarse units per block (1: one block spin).
    hidden, epochs, batch_size, learning_rate, seed
        Critic width, epochs, batch K, Adam step, seed of the initial filters and critics.
    tau_start, tau_end : float > 0
        Filter temperature at the first and last epoch (geometric schedule).
    run_eagerly : bool
        As in :func:`infonce_mutual_information`.

    Returns
    -------
    dict with ``filters`` float64 (n_filters, b*b, n_hidden) (unit-norm
    columns, sign fixed so that each column sums to >= 0), ``initial_filters``
    (same, before training), ``train_bound`` float64 (n_filters,) (the bound of
    each trained pair on its training rows, τ at its final value), ``history``
    (per-epoch loss = -mean bound over the pairs, epoch 0 untrained) and ``model``.
    """
    from models.training import fit_with_history

    if not 0 < tau_end <= tau_start:
        raise ValueError(f"need 0 < tau_end <= tau_start, got {tau_start!r}, {tau_end!r}")
    _check_pairs(list(Vs), list(Es))
    shapes = {(np.shape(v)[1], np.shape(e)[1]) for v, e in zip(Vs, Es, strict=True)}
    if len(shapes) != 1:
        raise ValueError(f"every (V, E) pair must have one block and environment size, got {sorted(shapes)}")
    (n_block_sites, n_env) = shapes.pop()
    K = int(batch_size)
    n = len(Vs[0]) // K * K
    if n < K:
        raise ValueError(
            f"{len(Vs[0])} patches are fewer than one batch of {K}; sample more or lower batch_size"
        )
    keras.utils.set_random_seed(seed)
    model = build_rsmi_model(
        n_block_sites, n_env, n_filters=len(Vs), n_hidden=n_hidden, hidden=hidden, seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=negative_bound, run_eagerly=run_eagerly
    )
    layers = [model.get_layer(f"filter_{k}") for k in range(len(Vs))]
    initial = np.stack([_unit_columns(layer.kernel.numpy()) for layer in layers])
    for layer in layers:  # epoch 0 (the untrained model) is evaluated at tau_start too
        layer.temperature.assign(tau_start)
    data = np.concatenate(
        [np.asarray(a[:n], dtype=np.float32) for pair in zip(Vs, Es, strict=True) for a in pair],
        axis=1,
    )
    history = fit_with_history(
        model,
        (data, np.zeros((n, 1), np.float32)),
        epochs=epochs,
        patience=None,
        batch_size=K,
        shuffle=True,
        callbacks=(AnnealTemperature(layers, tau_start, tau_end, epochs),),
    )
    terms = np.asarray(model.predict(data, batch_size=K, verbose=0), dtype=np.float64).reshape(n, -1)
    return {
        "filters": np.stack([_unit_columns(layer.kernel.numpy()) for layer in layers]),
        "initial_filters": initial,
        "train_bound": terms.mean(axis=0),
        "history": history,
        "model": model,
    }


def _unit_columns(kernel) -> np.ndarray:
    lam = np.asarray(kernel, dtype=np.float64)
    lam = lam / np.linalg.norm(lam, axis=0, keepdims=True)
    return lam * np.where(lam.sum(axis=0) < 0, -1.0, 1.0)
