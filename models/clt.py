"""Networks 2 -> H -> H -> 1 that learn the central-limit map X' = (X1 + X2) / sqrt(2).

The map is the simplest exactly solvable real-space RG step (STUDY.md section 7,
after Ashworth, Caso & Liò, arXiv 2510.16591): it is linear, symmetric under
X1 <-> X2 (permutation, P) and odd under (X1, X2) -> (-X1, -X2) (sign, Z2). The
families differ in which of these symmetries they build in, at equal widths:

- ``free``: Dense(H, a) -> Dense(H, a) -> Dense(1), no symmetry;
- ``tied``: rho(phi(x1) + phi(x2)), phi = Dense(H, a) shared by both inputs (a
  two-node graph network with sum readout), rho = Dense(H, a) -> Dense(1): exactly
  permutation-invariant;
- ``odd``: the free network without biases and with an odd activation: exactly odd;
- ``tied_odd``: the tied network without biases and with an odd activation;
- ``soft``: the free network with the penalty lambda * sum_h (W[0, h] - W[1, h])^2 on
  its first kernel W (2, H), which at lambda -> infinity ties the two input columns
  (the first layer then sees x1 + x2 only, a function class inside the
  permutation-invariant ones but not the ``tied`` one).

Activations: ``linear``, ``tanh``, ``relu`` and ``square`` (x^2). Only ``linear``
and ``tanh`` are odd, so the ``odd`` and ``tied_odd`` families exist for those two
only (:data:`DEFINED`); ``relu`` and ``square`` with them are not built
(:func:`family_is_defined` says why). Every layer's initialiser takes an explicit
seed, so a model is reproducible from its arguments.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = [
    "FAMILIES",
    "ACTIVATIONS",
    "ODD_ACTIVATIONS",
    "family_is_defined",
    "undefined_reason",
    "defined_models",
    "quadratic",
    "ColumnTie",
    "SharedEmbeddingSum",
    "build_clt_model",
    "effective_linear_map",
]

FAMILIES = ("free", "tied", "odd", "tied_odd", "soft")
ACTIVATIONS = ("linear", "tanh", "relu", "square")
#: Activations with a(-x) = -a(x): a bias-free network of them is odd.
ODD_ACTIVATIONS = ("linear", "tanh")


@keras.saving.register_keras_serializable(package="rgae")
def quadratic(x):
    """The activation a(x) = x^2 (even)."""
    return ops.square(x)


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return quadratic if name == "square" else name


def undefined_reason(family: str, activation: str) -> str | None:
    """Why ``family`` with ``activation`` is not built, or None when it is."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    _activation(activation)
    if family in ("odd", "tied_odd") and activation not in ODD_ACTIVATIONS:
        kind = "even" if activation == "square" else "neither odd nor even"
        return f"{activation} is {kind}, so a bias-free {activation} network is not odd"
    return None


def family_is_defined(family: str, activation: str) -> bool:
    """Whether the family can be built with this activation (odd families need an odd activation)."""
    return undefined_reason(family, activation) is None


def defined_models(families, activations) -> tuple[tuple[str, str], ...]:
    """The (family, activation) pairs that are defined, in the order given."""
    return tuple((f, a) for f in families for a in activations if family_is_defined(f, a))


@keras.saving.register_keras_serializable(package="rgae")
class ColumnTie(keras.regularizers.Regularizer):
    """Soft permutation tie: strength * sum_h (W[0, h] - W[1, h])^2 for a kernel W (2, H)."""

    def __init__(self, strength: float = 0.0):
        if not strength >= 0:
            raise ValueError(f"tie strength must be a non-negative number, got {strength!r}")
        self.strength = float(strength)

    def __call__(self, kernel):
        return self.strength * ops.sum(ops.square(kernel[0] - kernel[1]))

    def get_config(self):
        return {"strength": self.strength}


@keras.saving.register_keras_serializable(package="rgae")
class SharedEmbeddingSum(keras.layers.Layer):
    """phi(x1) + phi(x2) with one phi(x) = a(x w + c): (batch, 2) -> (batch, units).

    The same kernel w (1, units) and bias c (units,) act on both inputs, so the
    output is exactly invariant under x1 <-> x2; without bias and with an odd
    activation it is also odd.
    """

    def __init__(self, units: int, activation="linear", use_bias: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.seed = int(seed)

    def build(self, input_shape):
        if input_shape[-1] != 2:
            raise ValueError(f"SharedEmbeddingSum takes pairs (batch, 2), got shape {input_shape}")
        self.kernel = self.add_weight(
            shape=(1, self.units), initializer=keras.initializers.GlorotUniform(seed=self.seed), name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer="zeros", name="bias") if self.use_bias else None
        )

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        out = 0.0
        for i in range(2):
            z = ops.matmul(inputs[:, i : i + 1], self.kernel)
            if self.use_bias:
                z = z + self.bias
            out = out + self.activation(z)
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "seed": self.seed,
        }


def build_clt_model(
    family: str, activation: str, hidden: int = 16, *, tie_strength: float = 0.0, seed: int = 0, name=None
) -> keras.Model:
    """One network of the family: input float32 (batch, 2) -> output float32 (batch, 1).

    Parameters
    ----------
    family : one of :data:`FAMILIES`
    activation : one of :data:`ACTIVATIONS`; the odd families need an odd one.
    hidden : int >= 1
        Width H of both hidden layers.
    tie_strength : float >= 0
        lambda of the ``soft`` family's penalty (:class:`ColumnTie`); must be 0 for the others.
    seed : int
        Seeds every initialiser (layer i uses seed + i).
    """
    reason = undefined_reason(family, activation)
    if reason is not None:
        raise ValueError(f"the {family} family is not defined with {activation}: {reason}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden width must be a positive integer, got {hidden!r}")
    if family != "soft" and tie_strength:
        raise ValueError(f"tie_strength applies to the soft family only, got {tie_strength} for {family}")
    act = _activation(activation)
    use_bias = family not in ("odd", "tied_odd")

    def dense(units, a, i, **kwargs):
        init = keras.initializers.GlorotUniform(seed=seed + i)
        return keras.layers.Dense(units, activation=a, use_bias=use_bias, kernel_initializer=init, **kwargs)

    inputs = keras.Input(shape=(2,), name="pair")
    if family in ("tied", "tied_odd"):
        h = SharedEmbeddingSum(hidden, act, use_bias=use_bias, seed=seed, name="phi")(inputs)
    else:
        tie = ColumnTie(tie_strength) if family == "soft" else None
        h = dense(hidden, act, 0, kernel_regularizer=tie, name="hidden_1")(inputs)
    h = dense(hidden, act, 1, name="hidden_2")(h)
    outputs = dense(1, None, 2, name="output")(h)
    return keras.Model(inputs, outputs, name=name or f"{family}_{activation}")


def effective_linear_map(model) -> tuple[float, float, float]:
    """(w1, w2, c) with model(x) = w1 x1 + w2 x2 + c, read off at (0, 0), (1, 0), (0, 1).

    Exact for a network whose activations are all linear (it is then affine);
    the caller is responsible for only passing such networks.
    """
    probe = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.asarray(ops.convert_to_numpy(model(probe, training=False)), dtype=np.float64).reshape(3)
    return float(y[1] - y[0]), float(y[2] - y[0]), float(y[0])
