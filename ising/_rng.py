"""Explicit-state random numbers for Numba kernels: xoshiro256** (Blackman & Vigna 2018).

Every stream is a ``uint64[4]`` state array owned by the caller, so a chain is
reproducible from its seed alone and independent streams can be handed to
parallel workers. States are seeded from :class:`numpy.random.SeedSequence`.
"""

import numpy as np
from numba import njit

_U53 = 1.0 / 9007199254740992.0  # 2**-53


def seed_states(seed, n_streams: int = 1) -> np.ndarray:
    """uint64 (n_streams, 4): independent xoshiro256** states spawned from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(n_streams)
    states = np.stack([c.generate_state(4, dtype=np.uint64) for c in children])
    states[np.all(states == 0, axis=1), 0] = 1  # the all-zero state is the one fixed point
    return states


@njit(inline="always", cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always", cache=True)
def xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in four registers: (output, s0, s1, s2, s3)."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True)
def next_u64(state):
    """Next 64-bit word of the stream ``state`` (uint64[4], advanced in place)."""
    result, state[0], state[1], state[2], state[3] = xoshiro_step(state[0], state[1], state[2], state[3])
    return result


@njit(inline="always", cache=True)
def _unit(word):
    """The top 53 bits of a 64-bit word as a double in [0, 1)."""
    return np.float64(word >> np.uint64(11)) * _U53


@njit(cache=True)
def next_double(state):
    """Uniform double in [0, 1) with 53 random bits."""
    return _unit(next_u64(state))


@njit(inline="always", cache=True)
def below_step(s0, s1, s2, s3, n):
    """Uniform integer in [0, n) from one step on a state held in registers: (value, s0, s1, s2, s3).

    53 random bits scaled to n (n << 2**53, so the bias is negligible).
    """
    result, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
    return np.int64(_unit(result) * n), s0, s1, s2, s3


@njit(cache=True)
def next_below(state, n):
    """Uniform integer in [0, n) of the stream ``state`` (uint64[4], advanced in place)."""
    value, state[0], state[1], state[2], state[3] = below_step(state[0], state[1], state[2], state[3], n)
    return value
