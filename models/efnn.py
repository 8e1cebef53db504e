"""Effective-field neural networks (EFNN, arXiv 2502.17665) and size-matched baselines.

The EFNN is a continued function built after renormalisation-group practice
(STUDY.md section 8). On a periodic lattice every layer is a periodic
convolution, so one set of weights serves every lattice size L:

- quadratic field S0 = (W0 * s) ⊙ (W1 * s), C channels, bias-free
  (:class:`QuadraticField`; the paper sums this product over the components of
  a vector spin, a single term for the Ising spin s = ±1);
- steps i = 1..n: F_i = NL_i(S_{i-1}), S_i = F_i ⊙ G_i(S0), where NL and G are
  conv-tanh-conv blocks with their own weights at every step (the authors' code
  feeds G_i a fresh quadratic field of the spins instead of S0);
- readout: a convolution to one channel, summed over sites (an extensive
  energy) or averaged over sites (an intensive quantity such as beta).

Baselines, with the same quadratic field, blocks and readout so that only the
way the steps combine differs (as in the authors' comparison):

- :func:`build_conv_resnet`: S_i = S_{i-1} + NL_i(S_{i-1});
- :func:`build_conv_densenet`: F_i = NL_i([S0, F_1, ..., F_{i-1}]) and the
  readout sees the concatenation of all of them;
- :func:`build_dense_energy_network`: a fixed-size Flatten-Dense-tanh network.

:func:`build_dense_efnn` is the EFNN on a flat input (the paper's dense version) and
:func:`build_dense_chain` the authors' plain dense baseline for it (the same blocks
chained without the product).
Every layer here is registered under ``"rgae"`` and rebuilds from its config,
so the models save as ``.keras`` files and load with ``safe_mode=True``
(:func:`models.thermometers.save_model` / :func:`~models.thermometers.load_model`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .layers import AddChannelAxis, PeriodicPadding

__all__ = [
    "PeriodicConv2D",
    "QuadraticField",
    "SiteReduce",
    "build_lattice_efnn",
    "build_conv_resnet",
    "build_conv_densenet",
    "build_dense_energy_network",
    "build_dense_efnn",
    "build_dense_chain",
    "count_parameters",
]

READOUTS = ("sum", "mean")


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_kernel(kernel_size) -> int:
    kernel_size = _check_positive_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the window is centred on its site, got {kernel_size}")
    return kernel_size


@keras.saving.register_keras_serializable(package="rgae")
class PeriodicConv2D(keras.layers.Conv2D):
    """A 2D convolution on the torus: circular padding, then a ``"valid"`` convolution.

    Input and output (batch, L1, L2, channels), float; the spatial size is
    kept and may differ from call to call. The wrap-around padding is built from
    slices and concatenation (:class:`models.layers.PeriodicPadding`), because
    the TensorFlow backend of ``keras.ops.pad`` has no circular mode. Output at
    site x: sum_{|d| <= k//2} W[d] s(x + d mod L) (+ bias), the window centred
    on x (odd ``kernel_size`` only). Arguments are those of
    ``keras.layers.Conv2D`` except ``padding``, which is fixed.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs.pop("padding", None)
        size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        sizes = (size, size) if isinstance(size, int) else size
        if any(
            isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k % 2 == 0 for k in sizes
        ):
            raise ValueError(f"PeriodicConv2D needs odd positive kernel sizes, got {kernel_size!r}")
        if len(set(sizes)) != 1:
            raise ValueError(f"PeriodicConv2D needs a square kernel, got {kernel_size!r}")
        super().__init__(filters, kernel_size, padding="valid", **kwargs)
        half = int(sizes[0]) // 2
        self._wrap = PeriodicPadding(before=half, after=half, name=f"{self.name}_wrap")

    def call(self, inputs):
        return super().call(self._wrap(inputs))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.pop("padding", None)
        return config


@keras.saving.register_keras_serializable(package="rgae")
class QuadraticField(keras.layers.Layer):
    """S0 = (W0 * s) ⊙ (W1 * s): C channels of products of two bias-free periodic convolutions.

    Input float (batch, L1, L2, 1) spins; output float (batch, L1, L2, C).
    Channel c at site x is sum_{d,d'} W0_c[d] W1_c[d'] s(x+d) s(x+d'), a sum of
    pair products, so S0 is even under the global flip s -> -s (EFNN's Phi0).
    """

    def __init__(self, channels: int, kernel_size: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.channels = _check_positive_int("channels", channels)
        self.kernel_size = _check_kernel(kernel_size)
        self.seed = int(seed)
        self.left = PeriodicConv2D(
            self.channels,
            self.kernel_size,
            use_bias=False,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed),
            name="w0",
        )
        self.right = PeriodicConv2D(
            self.channels,
            self.kernel_size,
            use_bias=False,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 1),
            name="w1",
        )

    def build(self, input_shape):
        self.left.build(input_shape)
        self.right.build(input_shape)

    def call(self, inputs):
        return self.left(inputs) * self.right(inputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="rgae")
class SiteReduce(keras.layers.Layer):
    """Sum (``"sum"``: extensive, e.g. an energy) or mean (``"mean"``) over sites and channels.

    Input float (batch, *spatial, channels); output float (batch, 1).
    """

    def __init__(self, mode: str = "sum", **kwargs):
        super().__init__(**kwargs)
        if mode not in READOUTS:
            raise ValueError(f"SiteReduce mode must be one of {READOUTS}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape)))
        reduce = ops.sum if self.mode == "sum" else ops.mean
        return ops.expand_dims(reduce(inputs, axis=axes), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _init(seed: int, offset: int):
    return keras.initializers.GlorotUniform(seed=int(seed) + offset)


def _nonlinear_block(x, channels: int, kernel_size: int, seed: int, name: str):
    """NL = periodic conv -> tanh -> periodic conv, C channels each, with biases."""
    x = PeriodicConv2D(
        channels, kernel_size, activation="tanh", kernel_initializer=_init(seed, 0), name=f"{name}_conv1"
    )(x)
    return PeriodicConv2D(channels, kernel_size, kernel_initializer=_init(seed, 1), name=f"{name}_conv2")(x)


def _check_lattice_arguments(channels, kernel_size, steps, readout):
    channels = _check_positive_int("channels", channels)
    kernel_size = _check_kernel(kernel_size)
    steps = _check_positive_int("steps", steps)
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    return channels, kernel_size, steps


def _lattice_input(channels: int, kernel_size: int, seed: int):
    inputs = keras.Input(shape=(None, None), name="spins")
    spins = AddChannelAxis(name="channel")(inputs)
    return inputs, QuadraticField(channels, kernel_size, seed=seed, name="quadratic_field")(spins)


def _readout(x, kernel_size: int, readout: str, seed: int):
    x = PeriodicConv2D(1, kernel_size, kernel_initializer=_init(seed, 0), name="site_readout")(x)
    return SiteReduce(readout, name="energy" if readout == "sum" else "site_mean")(x)


def build_lattice_efnn(
    channels: int = 8, kernel_size: int = 5, steps: int = 1, readout: str = "sum", seed: int = 0
) -> keras.Model:
    """The lattice EFNN: S0 = (W0*s) ⊙ (W1*s); S_i = NL_i(S_{i-1}) ⊙ G_i(S0); conv readout over sites.

    Parameters
    ----------
    channels : int
        C, channels of S0, F_i and S_i and of the hidden layer of every block.
    kernel_size : int
        Odd size of every (periodic) convolution kernel; 5 in the paper.
    steps : int
        n, continued-function steps (1-3 in the paper).
    readout : "sum" or "mean"
        Sum over sites (an energy) or site mean (a thermometer).
    seed : int
        Seed of the weight initialisers.

    Returns
    -------
    keras.Model from float32 (batch, L, L) spins ±1, any L, to float32 (batch, 1).
    """
    channels, kernel_size, steps = _check_lattice_arguments(channels, kernel_size, steps, readout)
    inputs, s0 = _lattice_input(channels, kernel_size, seed)
    s = s0
    for i in range(1, steps + 1):
        field = _nonlinear_block(s, channels, kernel_size, seed + 10 * i, f"F{i}")
        dressing = _nonlinear_block(s0, channels, kernel_size, seed + 10 * i + 5, f"G{i}")
        s = keras.layers.Multiply(name=f"S{i}")([field, dressing])
    outputs = _readout(s, kernel_size, readout, seed + 1000)
    return keras.Model(inputs, outputs, name=f"efnn_{readout}")


def build_conv_resnet(
    channels: int = 8, kernel_size: int = 5, blocks: int = 2, readout: str = "sum", seed: int = 0
) -> keras.Model:
    """Convolutional ResNet baseline: S0 as in the EFNN; S_i = S_{i-1} + NL_i(S_{i-1}); same readout.

    With ``blocks = 2 * steps`` it has exactly the parameter count of
    :func:`build_lattice_efnn` with the same channels and kernel. Input and
    output as there.
    """
    channels, kernel_size, blocks = _check_lattice_arguments(channels, kernel_size, blocks, readout)
    inputs, s = _lattice_input(channels, kernel_size, seed)
    for i in range(1, blocks + 1):
        update = _nonlinear_block(s, channels, kernel_size, seed + 10 * i, f"block{i}")
        s = keras.layers.Add(name=f"S{i}")([s, update])
    outputs = _readout(s, kernel_size, readout, seed + 1000)
    return keras.Model(inputs, outputs, name=f"conv_resnet_{readout}")


def build_conv_densenet(
    channels: int = 8, kernel_size: int = 5, blocks: int = 2, readout: str = "sum", seed: int = 0
) -> keras.Model:
    """DenseNet-style baseline: F_i = NL_i([S0, F_1, ..., F_{i-1}]); readout of [S0, F_1, ..., F_m].

    Every block sees the channel concatenation of the quadratic field and all
    earlier blocks' outputs (growth rate C); no normalisation layers, as in
    the authors' baseline. Input and output as in :func:`build_lattice_efnn`.
    """
    channels, kernel_size, blocks = _check_lattice_arguments(channels, kernel_size, blocks, readout)
    inputs, s0 = _lattice_input(channels, kernel_size, seed)
    features = [s0]
    for i in range(1, blocks + 1):
        x = features[0] if len(features) == 1 else keras.layers.Concatenate(name=f"S{i - 1}")(features)
        features.append(_nonlinear_block(x, channels, kernel_size, seed + 10 * i, f"block{i}"))
    x = keras.layers.Concatenate(name=f"S{blocks}")(features)
    outputs = _readout(x, kernel_size, readout, seed + 1000)
    return keras.Model(inputs, outputs, name=f"conv_densenet_{readout}")


def build_dense_energy_network(shape, hidden: int = 32, layers: int = 2, seed: int = 0) -> keras.Model:
    """Fixed-size dense baseline: Flatten -> ``layers`` x Dense(hidden, tanh) -> Dense(1).

    Input float32 (batch, *shape) spins ±1 of exactly this shape (it cannot
    be applied to another lattice size); output float32 (batch, 1).
    """
    hidden = _check_positive_int("hidden", hidden)
    layers = _check_positive_int("layers", layers)
    shape = tuple(int(n) for n in shape)
    inputs = keras.Input(shape=shape, name="spins")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(1, layers + 1):
        x = keras.layers.Dense(
            hidden, activation="tanh", kernel_initializer=_init(seed, i), name=f"hidden_{i}"
        )(x)
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 0), name="energy")(x)
    return keras.Model(inputs, outputs, name="dense_energy")


def _dense_block(x, width: int, seed: int, offset: int, name: str):
    """NL = Dense(width, tanh) -> Dense(width), with biases."""
    x = keras.layers.Dense(
        width, activation="tanh", kernel_initializer=_init(seed, offset), name=f"{name}_1"
    )(x)
    return keras.layers.Dense(width, kernel_initializer=_init(seed, offset + 1), name=f"{name}_2")(x)


DENSE_FIELDS = ("spins", "quadratic")


def build_dense_efnn(
    n_inputs: int, width: int = 32, steps: int = 1, seed: int = 0, field: str = "quadratic"
) -> keras.Model:
    """The EFNN on a flat input (the paper's dense version).

    S_i = NL_i(S_{i-1}) ⊙ G_i(S0) for i = 1..n, NL and G = Dense(width, tanh)
    -> Dense(width) with their own weights at every step; E = Dense(1)(S_n).
    ``field`` sets S0: ``"quadratic"``, S0 = (W0 x) ⊙ (W1 x) (width units,
    bias-free, the lattice EFNN's Phi0 on a flat input); ``"spins"``, S0 = x
    itself, as in the authors' code for the 3-spin infinite-range model (their
    readout is the plain sum of S_n, a special case of the Dense(1) here).
    Input float32 (batch, n_inputs); output float32 (batch, 1).
    """
    n_inputs = _check_positive_int("n_inputs", n_inputs)
    width = _check_positive_int("width", width)
    steps = _check_positive_int("steps", steps)
    if field not in DENSE_FIELDS:
        raise ValueError(f"field must be one of {DENSE_FIELDS}, got {field!r}")
    inputs = keras.Input(shape=(n_inputs,), name="spins")
    if field == "quadratic":
        left = keras.layers.Dense(width, use_bias=False, kernel_initializer=_init(seed, 0), name="w0")(inputs)
        right = keras.layers.Dense(width, use_bias=False, kernel_initializer=_init(seed, 1), name="w1")(
            inputs
        )
        s0 = keras.layers.Multiply(name="S0")([left, right])
    else:
        s0 = inputs
    s = s0
    for i in range(1, steps + 1):
        field_i = _dense_block(s, width, seed, 10 * i, f"F{i}")
        dressing = _dense_block(s0, width, seed, 10 * i + 5, f"G{i}")
        s = keras.layers.Multiply(name=f"S{i}")([field_i, dressing])
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 1000), name="energy")(s)
    return keras.Model(inputs, outputs, name="dense_efnn")


def build_dense_chain(n_inputs: int, width: int = 32, layers: int = 1, seed: int = 0) -> keras.Model:
    """The authors' plain dense baseline of the EFNN: the same blocks chained, no product.

    S_i = G_i(NL_i(S_{i-1})), S0 = x, NL and G = Dense(width, tanh) -> Dense(width);
    E = Dense(1)(S_n). With the same ``width`` and ``layers`` as
    :func:`build_dense_efnn` (``field="spins"``) it has the same blocks, except
    that G_i reads a width-wide input instead of x: (width - n_inputs) * width
    more weights per layer. Input float32 (batch, n_inputs); output float32 (batch, 1).
    """
    n_inputs = _check_positive_int("n_inputs", n_inputs)
    width = _check_positive_int("width", width)
    layers = _check_positive_int("layers", layers)
    inputs = keras.Input(shape=(n_inputs,), name="spins")
    s = inputs
    for i in range(1, layers + 1):
        s = _dense_block(_dense_block(s, width, seed, 10 * i, f"F{i}"), width, seed, 10 * i + 5, f"G{i}")
    outputs = keras.layers.Dense(1, kernel_initializer=_init(seed, 1000), name="energy")(s)
    return keras.Model(inputs, outputs, name="dense_chain")


def count_parameters(model: keras.Model) -> int:
    """Number of trainable weights of ``model``."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
