"""Thermometers: Keras 3 regressors from an Ising configuration to beta = 1/T.

Two architectures (STUDY.md section 2), both exactly even under the global
spin flip s -> -s, which leaves beta unchanged:

- :func:`build_dense_thermometer`, the baseline Flatten -> Dense(N/B, tanh)
  -> Dense(64, relu) -> Dense(1). Its first Dense layer, named ``"coarse"``,
  has one unit per coarse site and is the layer transferred into RG encoders
  and autoencoders. The network is symmetrised, f(s) = (g(s) + g(-s)) / 2,
  by running ``s`` and ``-s`` through the same layers and averaging.
- :func:`build_conv_thermometer`, a size-agnostic network: periodic padding,
  a bias-free convolution over the neighbourhood of each site multiplied by
  the site's own spin (so every feature is a weighted sum of pair products
  s_i s_j, even in the spins), global average pooling and a small MLP.
  Because the energy is a sufficient statistic for beta and is linear in the
  pooled products, this network can reach the Bayes-optimal estimate.

Models record the lattice they were built for in their name
(``"dense_thermometer-square"``); :func:`check_input` compares it and the
input shape with a lattice or a batch of configurations.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from .layers import AddChannelAxis, PeriodicPadding, SpinFlipPair

__all__ = [
    "COARSE_LAYER",
    "build_dense_thermometer",
    "build_conv_thermometer",
    "thermometer_lattice_name",
    "check_input",
    "predict_beta",
    "save_model",
    "load_model",
]

#: Name of the Dense layer with kernel (N, N/B) that transfer learning copies: the dense
#: thermometer's first layer, and the encoder layer of every model in :mod:`transfer.learned`.
COARSE_LAYER = "coarse"

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_POOL = {
    1: keras.layers.GlobalAveragePooling1D,
    2: keras.layers.GlobalAveragePooling2D,
    3: keras.layers.GlobalAveragePooling3D,
}


def _init(seed: int, offset: int):
    return keras.initializers.GlorotUniform(seed=int(seed) + offset)


def build_dense_thermometer(lattice, hidden: int = 64, seed: int = 0) -> keras.Model:
    """The baseline thermometer of one lattice, symmetrised under the spin flip.

    Graph: Input ``lattice.shape`` -> Flatten -> SpinFlipPair (s, -s) ->
    Dense(n_blocks, tanh, name="coarse") -> Dense(hidden, relu) -> Dense(1)
    -> average over the pair. The ``"coarse"`` layer is an ordinary Dense
    layer with kernel float32 (n_sites, n_blocks) and bias (n_blocks,);
    because it is applied to the pair, its symbolic output has shape
    (batch, 2, n_blocks), the unflipped copy first.

    Parameters
    ----------
    lattice : ising.lattice.Lattice
        A lattice with a block partition; configurations have ``lattice.shape``.
    hidden : int
        Width of the second hidden layer.
    seed : int
        Seed of the weight initialisers (the build is reproducible).

    Returns
    -------
    keras.Model mapping float32 (batch, *lattice.shape) spins ±1 to float32 (batch, 1) beta.
    """
    if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    if not lattice.has_blocks:
        raise ValueError(
            f"the dense thermometer has one first-layer unit per coarse site, but the {lattice.describe()} "
            f"lattice has no block partition; use build_conv_thermometer for it"
        )
    inputs = keras.Input(shape=lattice.shape, name="spins")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = SpinFlipPair(name="spin_flip_pair")(x)
    x = keras.layers.Dense(
        lattice.n_blocks, activation="tanh", kernel_initializer=_init(seed, 0), name=COARSE_LAYER
    )(x)
    x = keras.layers.Dense(int(hidden), activation="relu", kernel_initializer=_init(seed, 1), name="hidden")(
        x
    )
    x = keras.layers.Dense(1, kernel_initializer=_init(seed, 2), name="beta_of_pair")(x)
    outputs = keras.layers.GlobalAveragePooling1D(name="beta")(x)
    return keras.Model(inputs, outputs, name=f"dense_thermometer-{lattice.name}")


def build_conv_thermometer(
    lattice_or_ndim, filters: int = 16, kernel_size: int = 2, hidden: int = 64, seed: int = 0
) -> keras.Model:
    """A size-agnostic convolutional thermometer, exactly even under the spin flip.

    Graph: Input (batch, *spatial) of any size -> channel axis ->
    PeriodicPadding -> Conv(filters, kernel_size, no bias) over the window
    that starts at each site (even sizes) or is centred on it (odd sizes) ->
    times the site's spin (feature f at site i is s_i sum_k w_fk s_(i+k): a
    sum of pair products, even in s) -> global average pooling ->
    Dense(hidden, relu) -> Dense(hidden, relu) -> Dense(1). Kernel size 2
    holds the nearest-neighbour bonds of the square and cubic arrays; the
    triangular array's (1, -1) diagonal needs kernel size 3. The pooled
    features are linear in the bond correlations, and ReLU layers fit the
    steep map from energy to beta of the ordered phase without the long
    plateau that tanh layers (or squared convolution outputs) show.

    Parameters
    ----------
    lattice_or_ndim : Lattice or int
        The lattice (its name is recorded and checked by :func:`check_input`)
        or just the number of spatial axes, 1, 2 or 3.
    filters : int
        Number of convolution filters.
    kernel_size : int
        Kernel length along each axis (periodic padding keeps the size).
    hidden : int
        Width of the two hidden Dense layers.
    seed : int
        Seed of the weight initialisers.

    Returns
    -------
    keras.Model mapping float32 (batch, *spatial) spins ±1 to float32 (batch, 1) beta.
    """
    if isinstance(lattice_or_ndim, (int, np.integer)) and not isinstance(lattice_or_ndim, bool):
        ndim, label = int(lattice_or_ndim), f"{int(lattice_or_ndim)}d"
    elif hasattr(lattice_or_ndim, "shape") and hasattr(lattice_or_ndim, "name"):
        ndim, label = len(lattice_or_ndim.shape), lattice_or_ndim.name
    else:
        raise ValueError(f"pass a Lattice or a number of spatial axes (1, 2 or 3), got {lattice_or_ndim!r}")
    if ndim not in _CONV:
        raise ValueError(f"the convolutional thermometer handles 1, 2 or 3 spatial axes, got {ndim}")
    for name, value in (("filters", filters), ("kernel_size", kernel_size), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    before = (int(kernel_size) - 1) // 2
    inputs = keras.Input(shape=(None,) * ndim, name="spins")
    spins = AddChannelAxis(name="channel")(inputs)
    x = PeriodicPadding(before=before, after=int(kernel_size) - 1 - before, name="periodic_padding")(spins)
    x = _CONV[ndim](
        int(filters), int(kernel_size), use_bias=False, kernel_initializer=_init(seed, 0), name="bonds"
    )(x)
    x = keras.layers.Multiply(name="bond_products")([spins, x])
    x = _POOL[ndim](name="pool")(x)
    x = keras.layers.Dense(
        int(hidden), activation="relu", kernel_initializer=_init(seed, 1), name="hidden_1"
    )(x)
    x = keras.layers.Dense(
        int(hidden), activation="relu", kernel_initializer=_init(seed, 2), name="hidden_2"
    )(x)
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 3), name="beta")(x)
    return keras.Model(inputs, outputs, name=f"conv_thermometer-{label}")


def thermometer_lattice_name(model: keras.Model) -> str | None:
    """The lattice name recorded by the builders, or None (size-only models, foreign models)."""
    kind, sep, label = model.name.partition("-")
    if not sep or not kind.endswith("thermometer") or (label.endswith("d") and label[:-1].isdigit()):
        return None
    return label


def _format_shape(shape) -> str:
    return "x".join("L" if n is None else str(n) for n in shape)


def check_input(model: keras.Model, lattice_or_shape) -> None:
    """Raise ValueError unless ``model`` accepts configurations of this lattice or shape.

    ``lattice_or_shape`` is a Lattice or the shape of one configuration
    (without the batch axis). A dense thermometer needs exactly its input
    shape; a convolutional one needs the same number of spatial axes. When
    a Lattice is given and the model records a lattice name, they must agree.
    """
    expected = tuple(model.input_shape[1:])
    lattice_name = getattr(lattice_or_shape, "name", None)
    got = tuple(lattice_or_shape.shape if lattice_name is not None else lattice_or_shape)
    if len(got) != len(expected):
        raise ValueError(
            f"thermometer expects {len(expected)}-dimensional configurations ({_format_shape(expected)}), "
            f"got {_format_shape(got)}"
        )
    if any(e is not None and e != g for e, g in zip(expected, got, strict=True)):
        raise ValueError(
            f"thermometer expects {_format_shape(expected)} configurations, got {_format_shape(got)}; "
            f"build or load a thermometer for this lattice size"
        )
    recorded = thermometer_lattice_name(model)
    if lattice_name is not None and recorded is not None and recorded != lattice_name:
        raise ValueError(f"thermometer was built for the {recorded} lattice, got a {lattice_name} lattice")


def predict_beta(model: keras.Model, spins, batch_size: int = 256) -> np.ndarray:
    """beta predicted for each configuration: spins (n, *shape) ±1 (any numeric dtype) -> float64 (n,)."""
    spins = np.asarray(spins)
    check_input(model, spins.shape[1:])
    pred = model.predict(spins.astype(np.float32, copy=False), batch_size=batch_size, verbose=0)
    return np.asarray(pred, dtype=np.float64).reshape(-1)


def save_model(model: keras.Model, path) -> Path:
    """Write ``model`` to a ``.keras`` file atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"thermometers are saved as .keras files, got {path.name!r}")
    if not path.parent.is_dir():
        raise ValueError(f"folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        keras.saving.save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(path) -> keras.Model:
    """Load a thermometer saved by :func:`save_model` (safe mode on; not compiled)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    return keras.saving.load_model(path, safe_mode=True, compile=False)
