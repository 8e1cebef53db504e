"""Fast samplers for the square torus: multi-spin-coded Metropolis and bit-parallel Wolff.

Metropolis layout (multi-spin coding, after Jacobs & Rebbi 1981 and Bhanot, Duke &
Salvador 1986): the L x L torus is split into its two checkerboard colours,
c = (i + j) mod 2. Colour c of row i holds the sites j = 2x + ((i + c) mod 2),
x = 0 .. L/2 - 1. The rows are cut into K stripes of R = L / K consecutive rows, K
the largest divisor of L not above 64, and bit k (a "lane") of word
``words[c, r, x]`` holds site (k R + r, j(x)). A bit is 1 for a down spin. Every
word holds K spins of one colour, so a colour class is updated K spins at a time
with bitwise logic:

- The four neighbours of the K spins of a word lie in four words of the other
  colour: column x and column x - 1 or x + 1 of the same stripe row (which of the
  two depends on the row parity, a per-lane mask when R is odd), and the stripe
  rows r - 1 and r + 1, rotated by one lane where they wrap to the next stripe.
- The number a = 0..4 of anti-aligned neighbours is formed bit-sliced by a
  carry-save adder over the four XOR words; with the spin bit it fixes the energy
  change dE = 4J(2 - a) + 2hs and so the acceptance probability p(a, s).
- Each lane draws its own uniform u in [0, 1), bit-sliced: random word b gives the
  (b+1)-th binary digit of u in every lane, and u < p is decided from the most
  significant digit down, stopping when every lane has differed from the binary
  expansion of its p. Lanes never share a digit, so the acceptances of distinct
  spins are independent; p is represented as floor(p 2**64) / 2**64, so every
  acceptance probability is exact to 2**-64. A word draws at least 8 random
  words (a fixed first pass), on average about 8.4 at T_c.

Each column x of words owns one xoshiro256** stream, so a chain's result does
not depend on how many threads update the columns of a colour class
(:func:`metropolis_sweeps_threaded` runs bands of columns on threads that wait
only for their neighbouring bands, twice every few half-sweeps).

Wolff (:func:`wolff_rows`) keeps row i of the torus in W words (W = 1 for L <= 64,
L / 64 when 64 divides L); the bonds of a row are drawn 64 at a time as
Bernoulli(p_add) bits by the same bit-sliced comparison, and the cluster is closed
row by row with bitwise fills: carries along the ring (and along its bit reverse)
when W = 1, parallel-prefix fills inside and across words otherwise. Other even L use
:func:`wolff_steps`, which flips spins as they join the cluster.
"""

import operator

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from . import _sync
from ._rng import below_step as _below
from ._rng import xoshiro_step as _xoshiro

_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


def layout(L: int) -> tuple[int, int, int]:
    """(lanes K, stripe rows R, columns M) of the packed L x L torus; L even."""
    lanes = max(k for k in range(1, min(L, 64) + 1) if L % k == 0)
    return lanes, L // lanes, L // 2


def lane_masks(L: int) -> tuple[np.uint64, np.ndarray]:
    """Mask of the K used lanes, and uint64 (2,): lanes whose row k R + q is odd, q = 0, 1."""
    lanes, rows, _ = layout(L)
    used = sum(1 << k for k in range(lanes))
    odd = [sum(1 << k for k in range(lanes) if (k * rows + q) % 2) for q in (0, 1)]
    return np.uint64(used), np.array(odd, dtype=np.uint64)


def acceptance_tables(beta: float, J: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Classes (a, s) with p < 1 and their probabilities as bit-sliced thresholds.

    Returns ``classes`` int64 (n, 2) of (anti-aligned neighbours a, spin bit: 0 up,
    1 down, 2 either) and ``digits`` uint64 (64, n): all ones where binary digit b + 1 of
    floor(p 2**64) / 2**64 is 1, else 0. Classes missing from the list have p = 1.
    """
    classes = []
    thresholds = []
    for a in range(5):
        by_spin = []
        for bit in (0, 1):
            dE = 4.0 * J * (2 - a) + 2.0 * h * (1 - 2 * bit)
            p = float(np.exp(-beta * dE)) if dE > 0 else 1.0
            by_spin.append(int(p * 2.0**64) if p < 1.0 else None)  # exact: p 2**64 < 2**64
        if by_spin[0] is not None and by_spin[0] == by_spin[1]:
            classes.append((a, 2))
            thresholds.append(by_spin[0])
            continue
        for bit in (0, 1):
            if by_spin[bit] is not None:
                classes.append((a, bit))
                thresholds.append(by_spin[bit])
    while len(classes) < 2:  # the kernels expect two classes; a = 7 matches no spin
        classes.append((7, 2))
        thresholds.append(0)
    digits = np.stack([threshold_digits(t) for t in thresholds], axis=1)
    return np.array(classes, dtype=np.int64).reshape(-1, 2), digits


def threshold_digits(threshold: int) -> np.ndarray:
    """uint64 (64,): all ones where bit 63 - b of the integer ``threshold`` < 2**64 is 1, else 0.

    Row b is the (b+1)-th binary digit of the probability threshold / 2**64 in
    every lane, the form the bit-sliced comparisons read.
    """
    return np.array([_ALL if (threshold >> (63 - b)) & 1 else _ZERO for b in range(64)], dtype=np.uint64)


#: Bytes in a cache line of the CPUs this runs on (x86-64 and most ARM cores).
CACHE_LINE = 64


def cache_aligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` whose data starts at a multiple of :data:`CACHE_LINE` bytes.

    NumPy aligns arrays only to 16 bytes. When the threaded Metropolis kernel's
    band boundaries fall on multiples of 8 packed columns (a cache line of
    words; L a multiple of 32 for two bands), an aligned start means two threads
    do not write words or stream states of one cache line at the same time,
    which would make the line move between their cores on every write.
    """
    a = np.ascontiguousarray(a)
    buffer = np.empty(a.nbytes + CACHE_LINE, dtype=np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE
    out = buffer[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@njit(cache=True)
def pack(spins2d, lanes, rows):
    """int8 (L, L) ±1 -> uint64 (2, R, L/2) multi-spin words (bit 1 = down)."""
    L = spins2d.shape[0]
    words = np.zeros((2, rows, L // 2), dtype=np.uint64)
    for i in range(L):
        k = i // rows
        r = i - k * rows
        for j in range(L):
            if spins2d[i, j] < 0:
                c = (i + j) & 1
                words[c, r, j >> 1] |= _ONE << np.uint64(k)
    return words


@njit(cache=True)
def unpack_into(words, out):
    """Write the configuration held by ``words`` into int8 ``out`` (L, L), values ±1."""
    L = out.shape[0]
    rows = words.shape[1]
    for i in range(L):
        k = i // rows
        r = i - k * rows
        for j in range(L):
            c = (i + j) & 1
            bit = (words[c, r, j >> 1] >> np.uint64(k)) & _ONE
            out[i, j] = 1 - 2 * np.int8(bit)


@njit(cache=True)
def unpack_many(stack, L):
    """uint64 (n, 2, R, L/2) words -> int8 (n, L, L) configurations."""
    n = stack.shape[0]
    out = np.empty((n, L, L), dtype=np.int8)
    for t in range(n):
        unpack_into(stack[t], out[t])
    return out


@njit(inline="always")
def _popcount(x):
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(inline="always")
def _neighbour_words(words, c, r, x, lanes, used, odd):
    """The four other-colour words adjacent, lane by lane, to ``words[c, r, x]``."""
    rows = words.shape[1]
    cols = words.shape[2]
    o = 1 - c
    k_up = np.uint64(lanes - 1)
    parity = odd[(r + c) & 1]
    left = words[o, r, x - 1 if x > 0 else cols - 1]
    right = words[o, r, x + 1 if x < cols - 1 else 0]
    side_a = words[o, r, x]
    side_b = (left & ~parity) | (right & parity)
    if r > 0:
        up = words[o, r - 1, x]
    else:
        w = words[o, rows - 1, x]
        up = ((w << _ONE) | (w >> k_up)) & used
    if r < rows - 1:
        down = words[o, r + 1, x]
    else:
        w = words[o, 0, x]
        down = ((w >> _ONE) | (w << k_up)) & used
    return side_a, side_b, up, down


@njit(inline="always")
def _anti_counts(s, n0, n1, n2, n3):
    """Bit-sliced a = number of anti-aligned neighbours: (a0, a1, a2) with a = a0 + 2a1 + 4a2."""
    x0 = s ^ n0
    x1 = s ^ n1
    x2 = s ^ n2
    x3 = s ^ n3
    u = x0 ^ x1
    cu = x0 & x1
    v = x2 ^ x3
    cv = x2 & x3
    a0 = u ^ v
    cw = u & v
    a1 = cu ^ cv ^ cw
    a2 = (cu & cv) | ((cu | cv) & cw)
    return a0, a1, a2


@njit(inline="always")
def _class_mask(a_val, bit, s, a0, a1, a2):
    m = _ALL if bit == 2 else (s if bit else ~s)
    m &= a0 if a_val & 1 else ~a0
    m &= a1 if a_val & 2 else ~a1
    m &= a2 if a_val & 4 else ~a2
    return m


#: Random words every word draws before checking whether all its lanes are decided:
#: a fixed-length first pass avoids a mispredicted loop exit per word.
_FIRST_DIGITS = 8


@njit(inline="always")
def _update_column(words, c, x, classes, digits, lanes, used, odd, masks, s0, s1, s2, s3):
    """Metropolis update of the words ``words[c, :, x]``; returns the advanced stream."""
    n_cls = classes.shape[0]
    for r in range(words.shape[1]):
        s = words[c, r, x]
        n0, n1, n2, n3 = _neighbour_words(words, c, r, x, lanes, used, odd)
        a0, a1, a2 = _anti_counts(s, n0, n1, n2, n3)
        # The first two classes stay in registers (all of them when h = 0).
        m0 = _class_mask(classes[0, 0], classes[0, 1], s, a0, a1, a2) & used
        m1 = _class_mask(classes[1, 0], classes[1, 1], s, a0, a1, a2) & used
        undecided = m0 | m1
        for q in range(2, n_cls):
            m = _class_mask(classes[q, 0], classes[q, 1], s, a0, a1, a2) & used
            masks[q] = m
            undecided |= m
        accept = used & ~undecided
        if undecided != _ZERO:
            # u < threshold is decided at the first digit where they differ.
            for b in range(_FIRST_DIGITS):
                rnd, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                t = (m0 & digits[b, 0]) | (m1 & digits[b, 1])
                for q in range(2, n_cls):
                    t |= masks[q] & digits[b, q]
                accept |= undecided & ~rnd & t
                undecided &= ~(rnd ^ t)
            b = _FIRST_DIGITS
            while b < 64 and undecided != _ZERO:
                rnd, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                t = (m0 & digits[b, 0]) | (m1 & digits[b, 1])
                for q in range(2, n_cls):
                    t |= masks[q] & digits[b, q]
                accept |= undecided & ~rnd & t
                undecided &= ~(rnd ^ t)
                b += 1
        words[c, r, x] = s ^ accept
    return s0, s1, s2, s3


@njit(inline="always")
def _update_columns(words, c, x0, x1, states, classes, digits, lanes, used, odd, masks):
    """Metropolis update of colour ``c`` in the columns x0 .. x1 - 1, each with its own stream."""
    for x in range(x0, x1):
        s0, s1, s2, s3 = _update_column(
            words,
            c,
            x,
            classes,
            digits,
            lanes,
            used,
            odd,
            masks,
            states[x, 0],
            states[x, 1],
            states[x, 2],
            states[x, 3],
        )
        states[x, 0] = s0
        states[x, 1] = s1
        states[x, 2] = s2
        states[x, 3] = s3


@njit(cache=True)
def metropolis_sweeps(words, n_sweeps, states, classes, digits, lanes, used, odd):
    """``n_sweeps`` checkerboard Metropolis sweeps of packed words, on one thread.

    words uint64 (2, R, M) is updated in place; states uint64 (M, 4) holds one
    xoshiro256** stream per column; classes, digits from :func:`acceptance_tables`;
    lanes K, the used-lane mask and odd uint64 (2,) from :func:`lane_masks`.
    """
    cols = words.shape[2]
    masks = np.empty(classes.shape[0], dtype=np.uint64)
    for _ in range(n_sweeps):
        for c in range(2):
            _update_columns(words, c, 0, cols, states, classes, digits, lanes, used, odd, masks)


#: Half-sweeps a band of the threaded Metropolis runs between exchanges with its neighbours.
BLOCK_HALF_SWEEPS = 16


def metropolis_sweeps_threaded(
    words,
    n_sweeps,
    states,
    classes,
    digits,
    lanes,
    used,
    odd,
    n_bands,
    depth=BLOCK_HALF_SWEEPS,
    *,
    stall=(-1, 0),
) -> bool:
    """The same chain as :func:`metropolis_sweeps`, bit for bit, with one thread per band of columns.

    The packed columns are cut into ``n_bands`` contiguous bands, one per thread
    of a single parallel launch. A column's update in a half-sweep reads only
    the other colour in the columns next to it, so columns a distance d apart
    may be up to d half-sweeps apart in time. The half-sweeps are run in blocks
    of k: ``depth``, capped at (w + 1) // 2 for the narrowest band width w, and
    fewer in the last block. In each block a band first updates, waiting for no
    one, a trapezoid of its own columns: half-sweep j = 0 .. k - 1 of the block
    on columns x0 + j .. x1 - 1 - j. Then, once the band to its right has done
    its trapezoid, it updates the seam between them: half-sweep j = 1 .. k - 1
    on columns x1 - j .. x1 + j - 1 (mod M). Every column update thus follows
    its neighbours' previous half-sweep and precedes their next one, which
    overwrites the colour it read, so words and streams (one per column) come
    out as in the serial chain. A band starts its next trapezoid once its
    left neighbour has finished the seam on its left. Two waits a block, not
    one a half-sweep: the latency of an exchange between cores weighs k times
    less.

    Returns True when the sweeps were done; False, with nothing changed, when
    the bands did not all start within the spin limit of
    :func:`ising._sync.rendezvous` (a busy machine, or a threading layer that ran
    them one after another). ``n_bands`` must lie between 1 and the number of
    packed columns M, ``depth`` be at least 1. Pass arrays from
    :func:`cache_aligned`: then, when the band boundaries fall on multiples of
    8 columns, the threads do not write the same cache line at the same time.
    ``stall`` = (band, spins), for tests: that band pauses ``spins`` spin-wait
    hints before each of its trapezoids and seams, so that its neighbours run
    ahead as far as their waits let them.
    """
    cols = words.shape[2]
    n_bands, depth = operator.index(n_bands), operator.index(depth)
    stall_band, stall_spins = (operator.index(v) for v in stall)
    if not 1 <= n_bands <= cols:
        raise ValueError(f"n_bands must lie between 1 and {cols} (the packed columns), got {n_bands}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    depth = min(depth, (cols // n_bands + 1) // 2)
    sync = np.zeros((2 * n_bands + 2) * _sync.STRIDE, dtype=np.int64)
    stall = np.array([stall_band, stall_spins], dtype=np.int64)
    return bool(
        _threaded_sweeps(
            words, n_sweeps, states, classes, digits, lanes, used, odd, n_bands, depth, sync, stall
        )
    )


# Not cached: loaded from Numba's cache, a parallel function with the band loop inlined
# ran it 11-15 % slower than freshly compiled on the machine of benchmarks/RESULTS.md
# (numba/numba#8085). The parallel launch is kept this small, compiled once a process
# (about 2 s), and the band's work is the cached plain function _band_sweeps, which
# runs as fast loaded from the cache as freshly compiled.
@njit(parallel=True)
def _threaded_sweeps(words, n_sweeps, states, classes, digits, lanes, used, odd, n_bands, depth, sync, stall):
    """:func:`metropolis_sweeps_threaded` given zeroed counters ``sync``, int64 ((2 n_bands + 2) STRIDE,)
    and ``stall`` int64 (2,)."""
    for band in prange(n_bands):
        if _sync.rendezvous(sync, n_bands, _sync.RENDEZVOUS_SPINS):
            spins = stall[1] if band == stall[0] else 0
            _band_sweeps(
                words, n_sweeps, states, classes, digits, lanes, used, odd, n_bands, depth, band, sync, spins
            )
    return sync[_sync.STRIDE] == 1


@njit(cache=True)
def _band_sweeps(
    words, n_sweeps, states, classes, digits, lanes, used, odd, n_bands, depth, band, sync, stall
):
    """Band ``band`` of ``n_bands`` in :func:`_threaded_sweeps`: its trapezoids and the seams on its right.

    ``stall`` spin-wait hints precede each trapezoid and seam (0 but in tests).

    Counters: ``sync[(2 + i) STRIDE]`` blocks whose trapezoid band i has done,
    ``sync[(2 + n_bands + i) STRIDE]`` blocks whose seam on the right of band i is done.
    """
    cols = words.shape[2]
    x0 = band * cols // n_bands
    x1 = (band + 1) * cols // n_bands
    trapezoid_mine = (2 + band) * _sync.STRIDE
    trapezoid_right = (2 + (band + 1) % n_bands) * _sync.STRIDE
    seam_left = (2 + n_bands + (band + n_bands - 1) % n_bands) * _sync.STRIDE
    seam_mine = (2 + n_bands + band) * _sync.STRIDE
    masks = np.empty(classes.shape[0], dtype=np.uint64)
    n_half = 2 * n_sweeps
    start = 0
    block = 0
    while start < n_half:
        k = min(depth, n_half - start)
        _sync.pause(stall)
        _sync.wait_at_least(sync, seam_left, block)
        for j in range(k):
            c = (start + j) & 1
            _update_columns(words, c, x0 + j, x1 - j, states, classes, digits, lanes, used, odd, masks)
        _sync.store_release(sync, trapezoid_mine, block + 1)
        _sync.pause(stall)
        _sync.wait_at_least(sync, trapezoid_right, block + 1)
        for j in range(1, k):
            c = (start + j) & 1
            hi = x1 + j
            if hi <= cols:
                _update_columns(words, c, x1 - j, hi, states, classes, digits, lanes, used, odd, masks)
            else:  # the seam between the last band and the first wraps around
                _update_columns(words, c, x1 - j, cols, states, classes, digits, lanes, used, odd, masks)
                _update_columns(words, c, 0, hi - cols, states, classes, digits, lanes, used, odd, masks)
        _sync.store_release(sync, seam_mine, block + 1)
        start += k
        block += 1


@njit(cache=True)
def totals(words, lanes, J, h):
    """(total energy, total magnetisation) of the packed configuration, float64."""
    rows = words.shape[1]
    cols = words.shape[2]
    used = (_ALL >> np.uint64(64 - lanes)) if lanes < 64 else _ALL
    n_sites = 2 * rows * cols * lanes
    down = 0
    for c in range(2):
        for r in range(rows):
            for x in range(cols):
                down += _popcount(words[c, r, x])
    odd = np.zeros(2, dtype=np.uint64)
    for k in range(lanes):
        for q in range(2):
            if (k * rows + q) & 1:
                odd[q] |= _ONE << np.uint64(k)
    anti = 0
    for r in range(rows):
        for x in range(cols):
            s = words[0, r, x]
            n0, n1, n2, n3 = _neighbour_words(words, 0, r, x, lanes, used, odd)
            anti += _popcount(s ^ n0) + _popcount(s ^ n1) + _popcount(s ^ n2) + _popcount(s ^ n3)
    mag = n_sites - 2 * down
    bonds = 2 * n_sites - 2 * anti  # sum over bonds of s_i s_j: 2N bonds, each anti one counts -1
    return -J * bonds - h * mag, np.float64(mag)


@njit(cache=True)
def wolff_steps(spins, neighbours, threshold, sign, n_steps, state, stack, sizes):
    """``n_steps`` Wolff cluster flips on a bipartite lattice (h = 0).

    spins int8 (n_sites,) is updated in place; a satisfied bond, sign * s_i s_j > 0
    with sign = sign(J), joins the cluster when a random uint64 is below
    ``threshold`` = floor(p_add 2**64), p_add = 1 - exp(-2 beta |J|). Spins are
    flipped as they join, so a site is a candidate exactly when it is still
    unflipped; on a bipartite lattice two cluster members never share a satisfied
    bond after flipping, so no membership array is needed (either sign of J).
    ``stack`` int32 (n_sites,) is scratch; cluster sizes go to ``sizes`` int64.
    """
    n = spins.size
    z = neighbours.shape[1]
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    for step in range(n_steps):
        seed_site, s0, s1, s2, s3 = _below(s0, s1, s2, s3, n)
        spins[seed_site] = -spins[seed_site]
        stack[0] = seed_site
        top = 1
        size = 1
        while top > 0:
            top -= 1
            i = stack[top]
            # A candidate j has sign * s_j * s_i(old) > 0, i.e. s_j == -sign * s_i(new).
            want = -sign * spins[i]
            for k in range(z):
                j = neighbours[i, k]
                if spins[j] == want:
                    rnd, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    if rnd < threshold:
                        spins[j] = -want
                        stack[top] = j
                        top += 1
                        size += 1
        sizes[step] = size
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


def torus_side(neighbours: np.ndarray, shape: tuple) -> int | None:
    """L when ``neighbours`` is the L x L square torus's table (any entry order), else None.

    Decided from the arrays alone, so any lattice with this geometry takes the
    packed path whatever its registered name. L must be even (checkerboard).
    """
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] % 2 or neighbours.shape[1] != 4:
        return None
    L = int(shape[0])
    index = np.arange(L * L).reshape(L, L)
    expected = np.stack(
        [np.roll(index, 1, 0), np.roll(index, -1, 0), np.roll(index, 1, 1), np.roll(index, -1, 1)], axis=-1
    ).reshape(L * L, 4)
    if not np.array_equal(np.sort(neighbours, axis=1), np.sort(expected, axis=1)):
        return None
    return L


# Bit-parallel Wolff on row words: row i of the torus is W words, bit j of word w is
# site (i, 64 w + j); W = 1 for L <= 64 (a ring of L bits), W = L / 64 when 64 | L.

_TOP = np.uint64(63)
_HIGH = np.uint64(1) << np.uint64(63)


def row_words(L: int) -> int | None:
    """Words per row of the row-word layout of an L x L torus, or None when L > 64 is not a multiple of 64."""
    if L <= 64:
        return 1
    return L // 64 if L % 64 == 0 else None


@njit(inline="always")
def _ring_rotl(x, k, width, used):
    """Rotate the ``width``-bit ring held in the low bits of x by k (0 < k < width) towards high bits."""
    return ((x << np.uint64(k)) | (x >> np.uint64(width - k))) & used


@intrinsic
def _trailing_zeros(typingctx, x):
    """Index of the lowest set bit of a nonzero uint64 (LLVM cttz)."""

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return types.uint64(types.uint64), codegen


@intrinsic
def _leading_zeros(typingctx, x):
    """Number of zero bits above the highest set bit of a nonzero uint64 (LLVM ctlz)."""

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))

    return types.uint64(types.uint64), codegen


@intrinsic
def _bit_count(typingctx, x):
    """Number of set bits of a uint64 (LLVM ctpop)."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def _bit_reverse(typingctx, x):
    """uint64 with bit j moved to bit 63 - j (LLVM bitreverse)."""

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.bitreverse", [ir.IntType(64)])
        return builder.call(fn, [args[0]])

    return types.uint64(types.uint64), codegen


@njit(inline="always")
def _carry_up(seeds, path):
    """Sites reached from ``seeds`` going towards high bits, inside one word (no wrap).

    ``path`` bit j: site j is reached from site j - 1. In run = path | seeds every
    maximal run of ones that holds a seed is reached from its lowest seed upwards;
    adding the seeds to the run clears it from there and carries into the first
    zero above, so the bits that change, inside the run, are the reached ones
    (seeds inside a run stay set and are added back).
    """
    run = path | seeds
    return (((run + seeds) ^ run) & run) | seeds


@njit(inline="always")
def _row_fill(seeds, bonds, bonds_reversed, width, used):
    """Sites of a ring row connected to ``seeds`` through ``bonds`` (bit j: bond j -- j+1 mod width).

    Branch-free: the upward half by a carry (:func:`_carry_up`), the downward half
    by the same carry on bit-reversed words (``bonds_reversed`` = bit reverse of
    ``bonds``), each followed by one more carry from the site across the ring's
    seam (bond width-1 -- 0) when the first one reached it.
    """
    top = np.uint64(width - 1)
    path = (bonds << _ONE) & used
    up = _carry_up(seeds, path) & used
    up |= _carry_up((up >> top) & (bonds >> top) & _ONE, path)
    down = _carry_up(_bit_reverse(seeds), bonds_reversed)
    seam = (down >> _TOP) & (bonds >> top) & _ONE
    down |= _carry_up(seam << np.uint64(64 - width), bonds_reversed)
    return up | _bit_reverse(down)


@njit(inline="always")
def _word_fill(seeds, bonds):
    """As :func:`_row_fill` inside one 64-bit word, without wrapping (bond bit 63 leaves the word)."""
    inner = bonds & ~_HIGH
    up = seeds
    up_path = inner << _ONE
    down = seeds
    down_path = inner
    s = 1
    while s < 64 and (up_path | down_path) != _ZERO:
        k = np.uint64(s)
        up |= (up << k) & up_path
        up_path &= up_path << k
        down |= (down >> k) & down_path
        down_path &= down_path >> k
        s <<= 1
    return up | down


@njit(inline="always")
def _words_fill(cluster, bonds, i, n_words):
    """Close row i of ``cluster`` (uint64 (L, W)) along its bonds, words first, then across words."""
    for w in range(n_words):
        cluster[i, w] = _word_fill(cluster[i, w], bonds[i, w])
    moved = True
    while moved:
        moved = False
        for w in range(n_words):
            nxt = w + 1 if w < n_words - 1 else 0
            if (bonds[i, w] >> _TOP) & _ONE:  # bond from bit 63 of word w to bit 0 of the next
                here = (cluster[i, w] >> _TOP) & _ONE
                there = cluster[i, nxt] & _ONE
                if here != there:
                    if here:
                        cluster[i, nxt] = _word_fill(cluster[i, nxt] | _ONE, bonds[i, nxt])
                    else:
                        cluster[i, w] = _word_fill(cluster[i, w] | _HIGH, bonds[i, w])
                    moved = True


@njit(inline="always")
def _right_neighbours(rows, i, w, L, used):
    """Word whose bit j holds the right neighbour of bit j of ``rows[i, w]``."""
    n_words = rows.shape[1]
    if n_words == 1:
        return _ring_rotl(rows[i, 0], L - 1, L, used)
    nxt = w + 1 if w < n_words - 1 else 0
    return (rows[i, w] >> _ONE) | (rows[i, nxt] << _TOP)


@njit(inline="always")
def _bernoulli_word(digits, s0, s1, s2, s3):
    """64 independent Bernoulli bits with P(1) = threshold / 2**64 (digits as in acceptance_tables)."""
    undecided = _ALL
    accept = _ZERO
    b = 0
    while b < 64 and (b < _FIRST_DIGITS or undecided != _ZERO):
        rnd, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
        t = digits[b]
        accept |= undecided & ~rnd & t
        undecided &= ~(rnd ^ t)
        b += 1
    return accept, s0, s1, s2, s3


@njit(cache=True)
def pack_rows(spins2d, n_words):
    """int8 (L, L) ±1 -> uint64 (L, W) row words: bit j of word w of row i is 1 where (i, 64w + j) is down."""
    L = spins2d.shape[0]
    rows = np.zeros((L, n_words), dtype=np.uint64)
    for i in range(L):
        for j in range(L):
            if spins2d[i, j] < 0:
                rows[i, j >> 6] |= _ONE << np.uint64(j & 63)
    return rows


@njit(cache=True)
def unpack_rows_into(rows, out):
    """Write the configuration held by row words into int8 ``out`` (L, L), values ±1."""
    L = out.shape[0]
    for i in range(L):
        for j in range(L):
            out[i, j] = 1 - 2 * np.int8((rows[i, j >> 6] >> np.uint64(j & 63)) & _ONE)


@njit(cache=True)
def unpack_rows_many(stack, L):
    """uint64 (n, L, W) row words -> int8 (n, L, L) configurations."""
    out = np.empty((stack.shape[0], L, L), dtype=np.int8)
    for t in range(stack.shape[0]):
        unpack_rows_into(stack[t], out[t])
    return out


@njit(cache=True)
def row_totals(rows, J, h):
    """(total energy, total magnetisation) of an L x L configuration in row words, float64."""
    L = rows.shape[0]
    used = (_ALL >> np.uint64(64 - L)) if L < 64 else _ALL
    anti = 0
    down = 0
    for i in range(L):
        below = i + 1 if i < L - 1 else 0
        for w in range(rows.shape[1]):
            s = rows[i, w]
            down += _popcount(s)
            anti += _popcount(s ^ _right_neighbours(rows, i, w, L, used))
            anti += _popcount(s ^ rows[below, w])
    n_sites = L * L
    mag = n_sites - 2 * down
    return -J * (2 * n_sites - 2 * anti) - h * mag, np.float64(mag)


@njit(cache=True)
def wolff_rows(rows, digits, sign, n_steps, state, sizes):
    """``n_steps`` Wolff cluster flips of an L x L torus held in row words (h = 0).

    A bond joins the cluster when it is satisfied (sign = sign(J): aligned spins
    for J > 0, anti-aligned for J < 0) and active, with probability p_add = 1 -
    exp(-2 beta |J|) given bit-sliced by ``digits`` (uint64 (64,), as in
    :func:`acceptance_tables`). The bonds of a row are drawn 64 at a time, 64
    Bernoulli bits from a few random words, when the growing cluster first
    reaches the row, so each bond is drawn once per cluster, independently of
    every other. ``rows`` uint64 (L, W) is updated in place; cluster sizes go to
    ``sizes`` int64 (n_steps,); ``state`` uint64 (4,) is the xoshiro256** state,
    advanced in place.
    """
    if rows.shape[1] == 1:
        _wolff_ring(rows, digits, sign, n_steps, state, sizes)
    else:
        _wolff_words(rows, digits, sign, n_steps, state, sizes)


@njit(inline="always")
def _satisfied(a, b, flip_same, used):
    """Bits where the bond between bit j of a and bit j of b is satisfied (aligned when flip_same)."""
    differ = a ^ b
    return (~differ if flip_same else differ) & used


@njit(inline="always")
def _bernoulli_lanes(digits, L, spare, s0, s1, s2, s3):
    """Bernoulli bits for the L <= 64 lanes of one row word, and the bits kept for the next call.

    For L <= 32 one :func:`_bernoulli_word` serves two calls: its low half now,
    its high half (kept in ``spare`` with a marker bit 63 set) the next time;
    every bit is used once, so the bits of all calls stay independent.
    """
    if L <= 32 and spare != _ZERO:
        return spare, _ZERO, s0, s1, s2, s3
    active, s0, s1, s2, s3 = _bernoulli_word(digits, s0, s1, s2, s3)
    if L <= 32:
        return active, (active >> np.uint64(32)) | _HIGH, s0, s1, s2, s3
    return active, _ZERO, s0, s1, s2, s3


@njit(cache=True)
def _wolff_ring(rows, digits, sign, n_steps, state, sizes):
    """:func:`wolff_rows` for L <= 64: row i of the torus is the ring of L low bits of ``rows[i, 0]``.

    Rows that hold new cluster sites not yet closed along their bonds are bits of
    one word (``dirty``); they are taken in sweeps down and up the torus (lowest
    dirty row below the sweep front by trailing zeros, highest by leading
    zeros), so a row that its upper neighbour grows is closed in the same sweep.
    Closing a row fills from its new sites only (:func:`_row_fill`) and passes
    the sites it adds across the satisfied active vertical bonds to the rows
    above and below. The bonds of a row and of its two vertical bond rows are
    drawn the first time a sweep reaches it, each bond once per cluster.
    """
    L = rows.shape[0]
    used = (_ALL >> np.uint64(64 - L)) if L < 64 else _ALL
    cluster = np.zeros(L, dtype=np.uint64)
    pending = np.zeros(L, dtype=np.uint64)
    bond_h = np.zeros(L, dtype=np.uint64)
    bond_r = np.zeros(L, dtype=np.uint64)  # bit reverse of bond_h
    bond_v = np.zeros(L, dtype=np.uint64)  # bond_v[i]: rows i -- i+1
    flip_same = sign > 0
    spare = _ZERO
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    for step in range(n_steps):
        site, s0, s1, s2, s3 = _below(s0, s1, s2, s3, L * L)
        i0 = site // L
        pending[i0] = _ONE << np.uint64(site - i0 * L)
        dirty = _ONE << np.uint64(i0)
        have_h = _ZERO
        have_v = _ZERO
        ready = _ZERO
        front = i0
        down = True
        while dirty != _ZERO:
            if down:
                ahead = dirty & (_ALL << np.uint64(front)) if front < L else _ZERO
                if ahead == _ZERO:
                    down = False
                    front = L - 1
                    continue
                i = np.int64(_trailing_zeros(ahead))
                front = i + 1
            else:
                ahead = dirty & (_ALL >> np.uint64(63 - front)) if front >= 0 else _ZERO
                if ahead == _ZERO:
                    down = True
                    front = 0
                    continue
                i = 63 - np.int64(_leading_zeros(ahead))
                front = i - 1
            bit = _ONE << np.uint64(i)
            dirty &= ~bit
            up = i - 1 if i > 0 else L - 1
            dn = i + 1 if i < L - 1 else 0
            if not (ready & bit):
                if not (have_h & bit):
                    sat = _satisfied(rows[i, 0], _ring_rotl(rows[i, 0], L - 1, L, used), flip_same, used)
                    active, spare, s0, s1, s2, s3 = _bernoulli_lanes(digits, L, spare, s0, s1, s2, s3)
                    bond_h[i] = active & sat
                    bond_r[i] = _bit_reverse(active & sat)
                    have_h |= bit
                for v in (up, i):
                    v_bit = _ONE << np.uint64(v)
                    if not (have_v & v_bit):
                        below = v + 1 if v < L - 1 else 0
                        sat = _satisfied(rows[v, 0], rows[below, 0], flip_same, used)
                        active, spare, s0, s1, s2, s3 = _bernoulli_lanes(digits, L, spare, s0, s1, s2, s3)
                        bond_v[v] = active & sat
                        have_v |= v_bit
                ready |= bit
            add = _row_fill(pending[i], bond_h[i], bond_r[i], L, used)
            pending[i] = _ZERO
            cluster[i] |= add
            to_up = add & bond_v[up] & ~cluster[up]
            pending[up] |= to_up
            dirty |= np.uint64(to_up != _ZERO) << np.uint64(up)
            to_dn = add & bond_v[i] & ~cluster[dn]
            pending[dn] |= to_dn
            dirty |= np.uint64(to_dn != _ZERO) << np.uint64(dn)
        size = 0
        for r in range(L):
            rows[r, 0] ^= cluster[r]
            size += np.int64(_bit_count(cluster[r]))
            cluster[r] = _ZERO
        sizes[step] = size
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


@njit(cache=True)
def _wolff_words(rows, digits, sign, n_steps, state, sizes):
    """:func:`wolff_rows` for W >= 2 words a row.

    Every bond of a row is drawn at once the first time the growing cluster
    reaches the row. The cluster grows by sweeps down and up over the rows that a
    neighbouring row's growth may reach, each row closed along its bonds by
    parallel-prefix fills inside its words (:func:`_words_fill`).
    """
    L = rows.shape[0]
    n_words = rows.shape[1]
    used = (_ALL >> np.uint64(64 - L)) if L < 64 else _ALL
    cluster = np.zeros((L, n_words), dtype=np.uint64)
    bond_h = np.zeros((L, n_words), dtype=np.uint64)
    bond_v = np.zeros((L, n_words), dtype=np.uint64)  # bond_v[i]: rows i -- i+1
    have_h = np.zeros(L, dtype=np.bool_)
    have_v = np.zeros(L, dtype=np.bool_)
    queued = np.zeros(L, dtype=np.bool_)
    flip_same = sign > 0
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    for step in range(n_steps):
        for i in range(L):
            have_h[i] = False
            have_v[i] = False
            for w in range(n_words):
                cluster[i, w] = _ZERO
        site, s0, s1, s2, s3 = _below(s0, s1, s2, s3, L * L)
        i0 = site // L
        w0 = (site - i0 * L) >> 6
        seed_bit = _ONE << np.uint64((site - i0 * L) & 63)
        seeded = False
        queued[i0] = True
        waiting = 1
        direction = 1
        while waiting > 0:
            start = 0 if direction > 0 else L - 1
            for k in range(L):
                i = start + direction * k
                if not queued[i]:
                    continue
                queued[i] = False
                waiting -= 1
                up = i - 1 if i > 0 else L - 1
                dn = i + 1 if i < L - 1 else 0
                for v in (up, i):
                    if not have_v[v]:
                        below = v + 1 if v < L - 1 else 0
                        for w in range(n_words):
                            active, s0, s1, s2, s3 = _bernoulli_word(digits, s0, s1, s2, s3)
                            differ = rows[v, w] ^ rows[below, w]
                            bond_v[v, w] = active & (~differ if flip_same else differ) & used
                        have_v[v] = True
                if not have_h[i]:
                    for w in range(n_words):
                        active, s0, s1, s2, s3 = _bernoulli_word(digits, s0, s1, s2, s3)
                        differ = rows[i, w] ^ _right_neighbours(rows, i, w, L, used)
                        bond_h[i, w] = active & (~differ if flip_same else differ) & used
                    have_h[i] = True
                changed = False
                for w in range(n_words):
                    grown = cluster[i, w] | (cluster[up, w] & bond_v[up, w]) | (cluster[dn, w] & bond_v[i, w])
                    if not seeded and i == i0 and w == w0:
                        grown |= seed_bit
                        seeded = True
                    if grown != cluster[i, w]:
                        cluster[i, w] = grown
                        changed = True
                if changed:
                    _words_fill(cluster, bond_h, i, n_words)
                    for nb in (up, dn):
                        if not queued[nb]:
                            queued[nb] = True
                            waiting += 1
            direction = -direction
        size = 0
        for r in range(L):
            for w in range(n_words):
                rows[r, w] ^= cluster[r, w]
                size += _popcount(cluster[r, w])
        sizes[step] = size
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
