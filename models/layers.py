"""Custom Keras layers of the thermometers and encoders, registered for ``.keras`` files.

Every layer here is registered under the package name ``"rgae"`` and has a
``get_config`` that rebuilds it exactly, so a saved thermometer loads with
``safe_mode=True`` (no Python lambdas are stored).
"""

import keras
from keras import ops

__all__ = ["SpinFlipPair", "AddChannelAxis", "PeriodicPadding", "SignStraightThrough"]


@keras.saving.register_keras_serializable(package="rgae")
class SpinFlipPair(keras.layers.Layer):
    """Stack a configuration with its global spin flip: (batch, n) -> (batch, 2, n).

    Layers applied to the last axis afterwards see ``s`` and ``-s`` with the
    same weights; averaging their outputs over the pair axis gives a function
    that is exactly even under s -> -s, f(s) = (g(s) + g(-s)) / 2.
    """

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return ops.stack([inputs, -inputs], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2, *input_shape[1:])


@keras.saving.register_keras_serializable(package="rgae")
class AddChannelAxis(keras.layers.Layer):
    """Spins as a one-channel image: (batch, *spatial) -> (batch, *spatial, 1), float."""

    def call(self, inputs):
        return ops.expand_dims(ops.cast(inputs, self.compute_dtype), axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 1)


@keras.saving.register_keras_serializable(package="rgae")
class PeriodicPadding(keras.layers.Layer):
    """Wrap-around padding of every spatial axis of (batch, *spatial, channels).

    Each spatial axis of length n becomes ``before + n + after`` long, the
    added entries copied from the opposite edge, so a following ``"valid"``
    convolution sees the lattice as a torus. Works for 1, 2 or 3 spatial axes
    and for spatial sizes unknown until call time.

    Parameters
    ----------
    before, after : int
        Sites added at the low and high end of each spatial axis; both must
        not exceed the axis length.
    """

    def __init__(self, before: int = 1, after: int = 1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("before", before), ("after", after)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"PeriodicPadding {name} must be a non-negative integer, got {value!r}")
        self.before = before
        self.after = after

    def call(self, inputs):
        rank = len(inputs.shape)
        for axis in range(1, rank - 1):
            pieces = [inputs]
            if self.before:
                pieces.insert(0, _slice_axis(inputs, axis, -self.before, None, rank))
            if self.after:
                pieces.append(_slice_axis(inputs, axis, None, self.after, rank))
            inputs = ops.concatenate(pieces, axis=axis)
        return inputs

    def compute_output_shape(self, input_shape):
        grow = self.before + self.after
        spatial = [None if n is None else n + grow for n in input_shape[1:-1]]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "before": self.before, "after": self.after}


def _slice_axis(x, axis, start, stop, rank):
    index = [slice(None)] * rank
    index[axis] = slice(start, stop)
    return x[tuple(index)]


@keras.saving.register_keras_serializable(package="rgae")
class SignStraightThrough(keras.layers.Layer):
    """Binarise by sign in the forward pass; pass the gradient straight through backward.

    Forward: y = +1 where x >= 0 and -1 where x < 0, exactly ±1 in the
    compute dtype (a tie x = 0 goes to +1, as in
    :func:`transfer.learned.coarse_spins`). Backward: dy/dx = 1, the
    straight-through estimator (Bengio, Léonard & Courville 2013,
    arXiv:1308.3432). Placed after a tanh unit, the gradient reaching the
    pre-activation z is 1 - tanh(z)², a smooth form of the clipped estimator
    1{|z| <= 1} of Hubara et al. (2016).

    Computed as ``stop_gradient(sign(x)) + (x - stop_gradient(x))``: the
    second term is exactly 0 in the forward pass, so the output is exactly
    ±1, and its gradient is 1. Shape-preserving, no weights.
    """

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        binary = ops.where(inputs >= 0, 1.0, -1.0)
        return ops.stop_gradient(ops.cast(binary, self.compute_dtype)) + (inputs - ops.stop_gradient(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape
