"""Analytic real-space RG encoders: block decimation and majority rule.

Both rules map a fine configuration to one spin per block of the lattice's
block partition (``lattice.block_ids``), so they work on every lattice that
has one, with no reference to its name. The coarse array has shape
``lattice.coarse_shape`` and holds block k at flat position k.

- **Decimation** keeps each block's representative spin
  (``lattice.representatives``), as in Kadanoff's block decimation.
- **Majority rule** takes the sign of the block sum (Niemeyer & van Leeuwen
  1974). For even block sizes (2 x 2, 2 x 2 x 2 blocks) the sum can vanish;
  a tie is broken by the block's representative spin.

Why the representative-spin tie rule: it is deterministic and commutes
exactly with the global flip, ``majority_rule(-s) = -majority_rule(s)``, so in
any flip-symmetric ensemble a tied block is +1 and -1 with equal probability
(it is unbiased); over all 2^B states of one block, half of the ties go each
way, because flipping the block maps ties with representative +1 one-to-one
onto ties with representative -1. It also makes the rule an exact linear
threshold function, ``sign(sum_i s_i + s_rep / 2)`` (a block sum of B spins
is an integer of the parity of B, so the half-weight only decides ties),
which a Dense(tanh) encoder can represent; a random coin could not be
learned, and would cap a learned encoder's agreement well below 100 %.

The same rules are available as frozen Keras layers,
:class:`DecimationEncoder` and :class:`MajorityEncoder`, that store their
index arrays in ``get_config`` and round-trip through ``.keras`` files.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ising.lattice import Lattice

__all__ = [
    "RULES",
    "decimate",
    "majority_rule",
    "block_spins",
    "rule_weights",
    "DecimationEncoder",
    "MajorityEncoder",
    "analytic_encoder_layer",
]

RULES = ("decimation", "majority")


def _require_blocks(lattice: Lattice):
    if not lattice.has_blocks:
        raise ValueError(
            f"the {lattice.describe()} lattice has no block partition, so it cannot be coarse-grained; "
            "use a lattice built with blocks (square, triangular, cubic)"
        )


def _flat_spins(spins, lattice: Lattice) -> np.ndarray:
    """Validate ``spins`` (n, *lattice.shape) and return the flat view (n, n_sites)."""
    _require_blocks(lattice)
    spins = np.asarray(spins)
    if spins.ndim < 1 or spins.shape[1:] != lattice.shape:
        raise ValueError(
            f"spins must have shape (n, {', '.join(map(str, lattice.shape))}) for the "
            f"{lattice.describe()} lattice, got {spins.shape}"
        )
    return spins.reshape(spins.shape[0], lattice.n_sites)


def decimate(spins, lattice: Lattice) -> np.ndarray:
    """Block decimation: keep the representative spin of every block.

    Parameters
    ----------
    spins : int8 (n, *lattice.shape), values ±1
    lattice : Lattice with a block partition

    Returns
    -------
    int8 (n, *lattice.coarse_shape), values ±1
    """
    flat = _flat_spins(spins, lattice)
    coarse = flat[:, lattice.representatives].astype(np.int8)
    return coarse.reshape(flat.shape[0], *lattice.coarse_shape)


def majority_rule(spins, lattice: Lattice) -> np.ndarray:
    """Majority rule: the sign of each block sum, ties broken by the representative spin.

    Equivalent to ``sign(sum_{i in block} s_i + s_rep / 2)``; see the module
    docstring for why this tie rule is unbiased and flip-symmetric.

    Parameters
    ----------
    spins : int8 (n, *lattice.shape), values ±1
    lattice : Lattice with a block partition

    Returns
    -------
    int8 (n, *lattice.coarse_shape), values ±1
    """
    flat = _flat_spins(spins, lattice)
    block_sum = flat[:, lattice.block_members()].sum(axis=2, dtype=np.int32)
    tie_breaker = flat[:, lattice.representatives]
    coarse = np.where(block_sum != 0, np.sign(block_sum), tie_breaker).astype(np.int8)
    return coarse.reshape(flat.shape[0], *lattice.coarse_shape)


def block_spins(spins, lattice: Lattice, rule: str = "decimation") -> np.ndarray:
    """Coarse block spins by ``rule`` (``"decimation"`` or ``"majority"``).

    Returns int8 (n, *lattice.coarse_shape), values ±1.
    """
    if rule == "decimation":
        return decimate(spins, lattice)
    if rule == "majority":
        return majority_rule(spins, lattice)
    raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")


def rule_weights(lattice: Lattice, rule: str = "decimation") -> np.ndarray:
    """The rule as a linear threshold map: ``block_spins = sign(s_flat @ W)`` exactly.

    Decimation: W[rep_k, k] = 1. Majority: W[i, k] = 1 for every site i of
    block k, plus 1/2 on its representative (the tie rule). This is the
    weight matrix an ideal learned RG encoder would reach (up to a positive
    gain), and the reference for weight-sparsity measures.

    Returns float32 (n_sites, n_blocks).
    """
    if rule not in RULES:
        raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")
    _require_blocks(lattice)
    weights = np.zeros((lattice.n_sites, lattice.n_blocks), dtype=np.float32)
    blocks = np.arange(lattice.n_blocks)
    if rule == "majority":
        weights[np.arange(lattice.n_sites), lattice.block_ids] = 1.0
        weights[lattice.representatives, blocks] = 1.5
    else:
        weights[lattice.representatives, blocks] = 1.0
    return weights


class _BlockEncoder(keras.layers.Layer):
    """Shared machinery of the frozen analytic encoders (no trainable weights)."""

    def __init__(self, input_spin_shape, coarse_shape, representatives, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.input_spin_shape = tuple(int(s) for s in input_spin_shape)
        self.coarse_shape = tuple(int(s) for s in coarse_shape)
        self.representatives = [int(r) for r in representatives]
        self.n_sites = int(np.prod(self.input_spin_shape))

    def build(self, input_shape):
        got = tuple(input_shape[1:])
        if got != self.input_spin_shape:
            raise ValueError(
                f"{type(self).__name__} expects configurations of shape {self.input_spin_shape}, "
                f"got {got}; build the encoder from the lattice the data come from"
            )
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.coarse_shape)

    def _flat(self, inputs):
        return ops.reshape(ops.cast(inputs, self.compute_dtype), (-1, self.n_sites))

    def _coarse(self, flat_coarse):
        return ops.reshape(flat_coarse, (-1, *self.coarse_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            input_spin_shape=list(self.input_spin_shape),
            coarse_shape=list(self.coarse_shape),
            representatives=list(self.representatives),
        )
        return config


@keras.saving.register_keras_serializable(package="rgae")
class DecimationEncoder(_BlockEncoder):
    """Frozen block decimation: (batch, *lattice.shape) ±1 -> (batch, *coarse_shape) float ±1.

    Build with :meth:`from_lattice`; the index arrays live in the config, so
    the layer needs no lattice to be reloaded.
    """

    @classmethod
    def from_lattice(cls, lattice: Lattice, **kwargs) -> DecimationEncoder:
        _require_blocks(lattice)
        return cls(lattice.shape, lattice.coarse_shape, lattice.representatives, **kwargs)

    def call(self, inputs):
        return self._coarse(ops.take(self._flat(inputs), self.representatives, axis=1))


@keras.saving.register_keras_serializable(package="rgae")
class MajorityEncoder(_BlockEncoder):
    """Frozen majority rule with the representative-spin tie rule (same as :func:`majority_rule`).

    (batch, *lattice.shape) ±1 -> (batch, *coarse_shape) float ±1.
    """

    def __init__(self, input_spin_shape, coarse_shape, representatives, block_members, **kwargs):
        super().__init__(input_spin_shape, coarse_shape, representatives, **kwargs)
        self.block_members = [[int(i) for i in row] for row in block_members]

    @classmethod
    def from_lattice(cls, lattice: Lattice, **kwargs) -> MajorityEncoder:
        _require_blocks(lattice)
        return cls(
            lattice.shape,
            lattice.coarse_shape,
            lattice.representatives,
            lattice.block_members(),
            **kwargs,
        )

    def call(self, inputs):
        flat = self._flat(inputs)
        block_sum = ops.sum(ops.take(flat, self.block_members, axis=1), axis=-1)
        tie_breaker = ops.take(flat, self.representatives, axis=1)
        return self._coarse(ops.sign(block_sum + 0.5 * tie_breaker))

    def get_config(self):
        config = super().get_config()
        config["block_members"] = [list(row) for row in self.block_members]
        return config


def analytic_encoder_layer(lattice: Lattice, rule: str = "decimation", **kwargs) -> _BlockEncoder:
    """A frozen Keras layer computing :func:`block_spins` with ``rule`` on ``lattice``."""
    if rule == "decimation":
        return DecimationEncoder.from_lattice(lattice, **kwargs)
    if rule == "majority":
        return MajorityEncoder.from_lattice(lattice, **kwargs)
    raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")
