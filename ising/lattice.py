"""Lattice geometries as data.

A :class:`Lattice` is a set of sites with a neighbour table, a colouring for
parallel (colour-class) updates and, where the geometry has one, a partition
into blocks for real-space coarse-graining. The Monte Carlo kernels, the
networks and the encoders see only these arrays, never a lattice's name, so a
new geometry is one builder function registered under a name::

    def build_chain(L, b=2):
        sites = np.arange(L)
        neighbours = np.stack([(sites - 1) % L, (sites + 1) % L], axis=1)
        return Lattice("chain", (L,), neighbours, colours=sites % 2,
                       block_ids=sites // b, representatives=sites[::b], b=b,
                       coarse_shape=(L // b,), params={"L": L, "b": b},
                       coarse_builder=lambda: build_chain(L // b, b))

    register_lattice("chain", build_chain)
    lattice = make_lattice("chain", 64)

A builder defined outside the package needs no registration: the name
``"package.module:builder"`` imports it (``make_lattice("mylattices:build_chain", 64)``).
A lattice describes itself: its critical temperature where known, whether an
exact ln Z exists for it, the convolution kernel its neighbours need, and a
:meth:`Lattice.spec` from which :func:`make_lattice` rebuilds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

__all__ = [
    "Lattice",
    "LATTICES",
    "register_lattice",
    "make_lattice",
    "lattice_builder",
    "square",
    "anisotropic_square",
    "anisotropic_critical_temperature",
    "triangular",
    "cubic",
    "graph_lattice",
    "greedy_colouring",
    "CRITICAL_TEMPERATURES",
]

#: Critical temperatures of the ferromagnet (J = 1, h = 0) on the built-in lattices.
#: Square: Onsager, 2 / ln(1 + sqrt 2). Triangular: 4 / ln 3 (Houtappel 1950).
#: Simple cubic: Monte Carlo estimate 1 / 0.221654626 (Ferrenberg, Xu, Landau 2018).
CRITICAL_TEMPERATURES = {
    "square": 2.0 / np.log(1.0 + np.sqrt(2.0)),
    "triangular": 4.0 / np.log(3.0),
    "cubic": 1.0 / 0.221654626,
}


@dataclass(frozen=True, eq=False)
class Lattice:
    """A periodic lattice as arrays.

    Attributes
    ----------
    name : str
        Registered name of the geometry (``"square"``, ``"triangular"``, ...).
    shape : tuple of int
        Shape of one configuration array; sites are numbered in C order of it.
    neighbours : int32 (n_sites, z)
        Flat indices of each site's neighbours. Entries may repeat on very small
        lattices (a bond is then counted once per entry, consistently everywhere).
    colours : int32 (n_sites,)
        Colour class of each site, 0 .. n_colours-1; no bond joins two sites of
        one colour, so a colour class can be updated in parallel.
    block_ids : int32 (n_sites,) or None
        Coarse site (block) that each fine site belongs to, 0 .. n_blocks-1.
    representatives : int32 (n_blocks,) or None
        The fine site kept by block decimation for each block.
    b : int or None
        Linear coarse-graining factor (b for b x b blocks; 0 where it is not an
        integer, e.g. sqrt 3 for the triangular lattice).
    coarse_shape : tuple of int or None
        Shape of the coarse configuration array (blocks in C order of it).
    params : dict
        Builder arguments (``L``, ``b``) that reproduce the lattice.
    coarse_builder : callable or None
        Returns the coarse :class:`Lattice` whose sites are the blocks.
    critical_temperature : float or None
        T_c of the ferromagnet (J = 1, h = 0) when known.
    conv_kernel : int
        Side of the convolution kernel that covers a site and its neighbours
        on the configuration array (2 on hypercubic tori, 3 on the triangular one).
    exact_log_z : callable or None
        ``exact_log_z(beta, J) -> ln Z`` (float64, shape of ``beta``) where an
        exact finite-size partition function is known (Kaufman on the square torus).
    bond_couplings : float64 (n_sites, z) or None
        Coupling of each neighbour-table entry in units of J (bond (i, k) has
        coupling J * bond_couplings[i, k]; the entry from the other end carries
        the same value). None: every bond has coupling J. Direction-dependent
        couplings (J_x != J_y) are this array, nothing else.
    """

    name: str
    shape: tuple
    neighbours: np.ndarray
    colours: np.ndarray
    block_ids: np.ndarray | None = None
    representatives: np.ndarray | None = None
    b: int | None = None
    coarse_shape: tuple | None = None
    params: dict = field(default_factory=dict)
    coarse_builder: Callable[[], Lattice] | None = None
    critical_temperature: float | None = None
    conv_kernel: int = 3
    exact_log_z: Callable | None = None
    bond_couplings: np.ndarray | None = None

    def __post_init__(self):
        neighbours = np.ascontiguousarray(self.neighbours, dtype=np.int32)
        colours = np.ascontiguousarray(self.colours, dtype=np.int32).reshape(-1)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "neighbours", neighbours)
        object.__setattr__(self, "colours", colours)
        n = self.n_sites
        if neighbours.ndim != 2 or neighbours.shape[0] != n:
            raise ValueError(f"neighbours must have shape ({n}, z), got {neighbours.shape}")
        if neighbours.size and (neighbours.min() < 0 or neighbours.max() >= n):
            raise ValueError("neighbour table refers to sites outside the lattice")
        if colours.shape != (n,):
            raise ValueError(f"colours must have {n} entries, got {colours.shape}")
        if np.any(colours[neighbours] == colours[:, None]):
            raise ValueError("colouring is not proper: a bond joins two sites of one colour")
        if self.bond_couplings is not None:
            couplings = np.ascontiguousarray(self.bond_couplings, dtype=np.float64)
            if couplings.shape != neighbours.shape or not np.all(np.isfinite(couplings)):
                raise ValueError(
                    f"bond_couplings must be finite with the neighbour table's shape {neighbours.shape}"
                )
            _check_symmetric_couplings(neighbours, couplings)
            object.__setattr__(self, "bond_couplings", couplings)
        if self.block_ids is not None:
            block_ids = np.ascontiguousarray(self.block_ids, dtype=np.int32).reshape(-1)
            reps = np.ascontiguousarray(self.representatives, dtype=np.int32).reshape(-1)
            if block_ids.shape != (n,):
                raise ValueError(f"block_ids must have {n} entries, got {block_ids.shape}")
            n_blocks = reps.size
            if np.any(np.bincount(block_ids, minlength=n_blocks) == 0) or block_ids.max() >= n_blocks:
                raise ValueError("block_ids must label every block 0 .. n_blocks-1")
            if np.any(block_ids[reps] != np.arange(n_blocks)):
                raise ValueError("each representative must lie in its own block")
            if self.coarse_shape is None or int(np.prod(self.coarse_shape)) != n_blocks:
                raise ValueError("coarse_shape must hold exactly n_blocks sites")
            object.__setattr__(self, "block_ids", block_ids)
            object.__setattr__(self, "representatives", reps)
            object.__setattr__(self, "coarse_shape", tuple(int(s) for s in self.coarse_shape))

    @property
    def n_sites(self) -> int:
        return int(np.prod(self.shape))

    @property
    def coordination(self) -> int:
        return int(self.neighbours.shape[1])

    @property
    def n_colours(self) -> int:
        return int(self.colours.max()) + 1

    @property
    def has_blocks(self) -> bool:
        return self.block_ids is not None

    @property
    def n_blocks(self) -> int:
        self._require_blocks()
        return int(self.representatives.size)

    @property
    def block_size(self) -> int:
        """Number of fine sites per block, B."""
        self._require_blocks()
        return self.n_sites // self.n_blocks

    @property
    def L(self) -> int:
        return int(self.params.get("L", self.shape[0]))

    def spec(self) -> dict:
        """``{"name": ..., **params}``: ``make_lattice(**lattice.spec())`` rebuilds this lattice."""
        return {"name": self.name, **self.params}

    def critical_temperature_at(self, J: float = 1.0) -> float | None:
        """T_c at coupling J (T_c scales with |J|), or None where it is not known."""
        return None if self.critical_temperature is None else self.critical_temperature * abs(J)

    def colour_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """Sites grouped by colour: ``(sites int32 (n_sites,), offsets int32 (n_colours+1,))``.

        Colour c owns ``sites[offsets[c]:offsets[c+1]]``.
        """
        order = np.argsort(self.colours, kind="stable").astype(np.int32)
        counts = np.bincount(self.colours, minlength=self.n_colours)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return order, offsets

    def block_members(self) -> np.ndarray:
        """int32 (n_blocks, B): the fine sites of each block, in ascending order."""
        self._require_blocks()
        order = np.argsort(self.block_ids, kind="stable")
        return order.reshape(self.n_blocks, self.block_size).astype(np.int32)

    def coarse(self) -> Lattice:
        """The coarse lattice whose sites are this lattice's blocks."""
        self._require_blocks()
        if self.coarse_builder is None:
            raise ValueError(f"the {self.name} lattice has blocks but no coarse lattice")
        return self.coarse_builder()

    def rg_levels(self, min_sites: int = 4) -> list[Lattice]:
        """This lattice and its successive coarse lattices, while blocks and sites allow."""
        levels = [self]
        while levels[-1].has_blocks and levels[-1].coarse_builder is not None:
            try:
                nxt = levels[-1].coarse()
            except ValueError:
                break
            if nxt.n_sites < min_sites:
                break
            levels.append(nxt)
        return levels

    def describe(self) -> str:
        blocks = f", {self.n_blocks} blocks of {self.block_size}" if self.has_blocks else ""
        return f"{self.name} {'x'.join(map(str, self.shape))} (z={self.coordination}{blocks})"

    def _require_blocks(self):
        if self.block_ids is None:
            raise ValueError(f"the {self.name} lattice {self.shape} has no block partition")


def _check_symmetric_couplings(neighbours: np.ndarray, couplings: np.ndarray) -> None:
    """Every bond must carry the same coupling seen from either end."""
    n, z = neighbours.shape
    forward = {}
    for i in range(n):
        for k in range(z):
            forward.setdefault((i, int(neighbours[i, k])), []).append(couplings[i, k])
    for (i, j), values in forward.items():
        if sorted(values) != sorted(forward.get((j, i), [])):
            raise ValueError(f"bond_couplings differ between the two ends of bond ({i}, {j})")


LATTICES: dict[str, Callable[..., Lattice]] = {}


def register_lattice(name: str, builder: Callable[..., Lattice]) -> Callable[..., Lattice]:
    """Register ``builder(L, **kwargs) -> Lattice`` under ``name`` and return it."""
    if not callable(builder):
        raise ValueError(f"builder for lattice {name!r} is not callable")
    LATTICES[name] = builder
    return builder


def lattice_builder(name: str) -> Callable[..., Lattice]:
    """The builder registered under ``name``, or imported from ``"package.module:builder"``.

    An imported builder is registered under that path and, so that the lattices it
    builds (and their coarse lattices) can be rebuilt from their :meth:`Lattice.spec`,
    under the name its lattices carry.
    """
    if name in LATTICES:
        return LATTICES[name]
    if ":" not in name:
        known = ", ".join(sorted(n for n in LATTICES if ":" not in n))
        raise ValueError(
            f"unknown lattice {name!r}; known lattices: {known} (or give package.module:builder)"
        )
    module_name, _, attr = name.partition(":")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import lattice builder {name!r}: {err}") from None
    register_lattice(name, builder)
    return builder


def make_lattice(name: str, L: int, **kwargs) -> Lattice:
    """Build a lattice by name, e.g. ``make_lattice("square", 32, b=2)`` or ``make_lattice(**spec)``.

    ``name`` is a registered name or ``"package.module:builder"`` (see :func:`lattice_builder`).
    """
    builder = lattice_builder(name)
    lattice = builder(L, **kwargs)
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice builder {name!r} returned {type(lattice).__name__}, not a Lattice")
    if ":" in name:
        LATTICES.setdefault(lattice.name, builder)
    return lattice


def _check_size(name: str, L, multiple: int, why: str):
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L <= 0:
        raise ValueError(f"{name} lattice size must be a positive integer, got {L!r}")
    if L % multiple:
        raise ValueError(f"{name} lattice size L={L} must be a multiple of {multiple} ({why})")


def _hypercubic(name: str, L: int, b: int, dim: int, coarse_builder, exact_log_z=None) -> Lattice:
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 2:
        raise ValueError(f"block factor b must be an integer >= 2, got {b!r}")
    # Even L gives a proper checkerboard; b | L gives whole blocks.
    multiple = int(np.lcm(2, b))
    _check_size(name, L, multiple, f"checkerboard colouring and {b}^{dim} blocks")
    shape = (L,) * dim
    coords = np.indices(shape).reshape(dim, -1).T  # (n, dim)
    index = np.arange(L**dim).reshape(shape)
    neighbours = []
    for axis in range(dim):
        for step in (-1, 1):
            shifted = coords.copy()
            shifted[:, axis] = (shifted[:, axis] + step) % L
            neighbours.append(index[tuple(shifted.T)])
    neighbours = np.stack(neighbours, axis=1)
    colours = coords.sum(axis=1) % 2
    Lc = L // b
    coarse_index = np.arange(Lc**dim).reshape((Lc,) * dim)
    block_ids = coarse_index[tuple((coords // b).T)]
    corner = np.indices((Lc,) * dim).reshape(dim, -1).T * b
    representatives = index[tuple(corner.T)]
    can_coarsen = Lc >= 2 and Lc % multiple == 0
    return Lattice(
        name=name,
        shape=shape,
        neighbours=neighbours,
        colours=colours,
        block_ids=block_ids,
        representatives=representatives,
        b=b,
        coarse_shape=(Lc,) * dim,
        params={"L": L, "b": b},
        coarse_builder=(lambda: coarse_builder(Lc, b=b)) if can_coarsen else None,
        critical_temperature=CRITICAL_TEMPERATURES.get(name),
        conv_kernel=2,
        exact_log_z=exact_log_z,
    )


def _square_log_z(L: int, beta, J: float = 1.0):
    from .exact import kaufman_log_z

    return kaufman_log_z(L, beta, J=J, Ly=L)


def square(L: int, b: int = 2) -> Lattice:
    """Square L x L torus with b x b blocks (checkerboard colouring; z = 4; exact ln Z: Kaufman)."""
    return _hypercubic("square", L, b, 2, square, exact_log_z=partial(_square_log_z, L))


def anisotropic_critical_temperature(ratio: float, J: float = 1.0) -> float:
    """T_c of the square lattice with J_x = J, J_y = ratio J: sinh(2 J_x/T_c) sinh(2 J_y/T_c) = 1.

    Onsager (1944); ratio = 1 gives 2 J / ln(1 + sqrt 2).
    """
    from scipy.optimize import brentq

    if not ratio > 0:
        raise ValueError(f"the coupling ratio J_y/J_x must be positive, got {ratio}")
    J = abs(J)

    def log_sinh(x):
        return x + np.log1p(-np.exp(-2.0 * x)) - np.log(2.0)

    # ln sinh(2 J_x/T) + ln sinh(2 J_y/T) falls monotonically from +inf to -inf in T.
    def condition(T):
        return log_sinh(2 * J / T) + log_sinh(2 * ratio * J / T)

    return float(brentq(condition, 1e-3 * J, 1e3 * J * (1 + ratio)))


def _anisotropic_log_z(L: int, ratio: float, beta, J: float = 1.0):
    from .exact import kaufman_log_z_anisotropic

    return kaufman_log_z_anisotropic(L, beta, J_x=J, J_y=ratio * J)


def anisotropic_square(L: int, b: int = 2, ratio: float = 0.5) -> Lattice:
    """Square L x L torus with couplings J_x = J along axis 1 and J_y = ratio J along axis 0.

    The neighbour table, colouring and b x b blocks are those of :func:`square`;
    the anisotropy is the ``bond_couplings`` array (ratio for the two axis-0
    neighbours, 1 for the two axis-1 neighbours). T_c solves
    sinh(2 J_x/T_c) sinh(2 J_y/T_c) = 1; the exact ln Z of the finite torus is
    Kaufman's anisotropic formula (:func:`ising.exact.kaufman_log_z_anisotropic`;
    Z is symmetric under J_x <-> J_y, so which axis carries which coupling does not
    matter); the coarse lattice is left undefined because coarse couplings are not known.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating)) or not ratio > 0:
        raise ValueError(f"the coupling ratio J_y/J_x must be a positive number, got {ratio!r}")
    base = square(L, b)
    couplings = np.tile(np.array([ratio, ratio, 1.0, 1.0]), (base.n_sites, 1))
    return replace(
        base,
        name="square_anisotropic",
        params={"L": L, "b": b, "ratio": float(ratio)},
        coarse_builder=None,
        critical_temperature=anisotropic_critical_temperature(float(ratio)),
        exact_log_z=partial(_anisotropic_log_z, L, float(ratio)),
        bond_couplings=couplings,
    )


def cubic(L: int, b: int = 2) -> Lattice:
    """Simple cubic L^3 torus with b^3 blocks (checkerboard colouring; z = 6)."""
    return _hypercubic("cubic", L, b, 3, cubic)


def triangular(L: int, b: int | None = None) -> Lattice:
    """Triangular L x L torus with 3-site Niemeyer-van Leeuwen blocks (z = 6).

    Site (i, j) has neighbours (i±1, j), (i, j±1), (i+1, j-1), (i-1, j+1). The
    three sublattices c = (i - j) mod 3 colour it properly when 3 | L. Each
    block is the up-triangle {(i, j), (i+1, j), (i, j+1)} anchored on a site of
    sublattice 0, which is also the decimation representative; the anchors form
    the sqrt(3) x sqrt(3) superlattice, stored as a coarse array of shape
    (L, L // 3) with anchor (i, j) at (i, j // 3). The coarse lattice is the
    block-adjacency graph (a triangular lattice, rotated by 30 degrees), which
    carries no further block partition.
    """
    if b not in (None, 0):
        raise ValueError("the triangular lattice has fixed 3-site blocks; do not pass b")
    _check_size("triangular", L, 3, "three-sublattice colouring and 3-site blocks")
    i, j = np.indices((L, L)).reshape(2, -1)
    index = np.arange(L * L).reshape(L, L)
    steps = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]
    neighbours = np.stack([index[(i + di) % L, (j + dj) % L] for di, dj in steps], axis=1)
    colours = (i - j) % 3
    anchor_i = np.where(colours == 1, (i - 1) % L, i)
    anchor_j = np.where(colours == 2, (j - 1) % L, j)
    block_ids = anchor_i * (L // 3) + anchor_j // 3
    representatives = np.flatnonzero(colours == 0)
    representatives = representatives[np.argsort(block_ids[representatives])]
    lattice_params = {"L": L}

    def coarse():
        return graph_lattice(
            "triangular_coarse",
            (L, L // 3),
            _block_adjacency(neighbours, block_ids, L * L // 3),
            params={"L": L},
            conv_kernel=3,
        )

    return Lattice(
        name="triangular",
        shape=(L, L),
        neighbours=neighbours,
        colours=colours,
        block_ids=block_ids,
        representatives=representatives,
        b=0,
        coarse_shape=(L, L // 3),
        params=lattice_params,
        coarse_builder=coarse,
        critical_temperature=CRITICAL_TEMPERATURES["triangular"],
        conv_kernel=3,
    )


def _block_adjacency(neighbours: np.ndarray, block_ids: np.ndarray, n_blocks: int) -> np.ndarray:
    """Neighbour table of blocks joined by at least one fine bond (equal degree required)."""
    pairs = np.stack([np.repeat(block_ids, neighbours.shape[1]), block_ids[neighbours].ravel()], 1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    degree = np.bincount(pairs[:, 0], minlength=n_blocks)
    if degree.min() != degree.max():
        raise ValueError("blocks do not form a regular coarse lattice")
    return pairs[:, 1].reshape(n_blocks, degree[0])


def greedy_colouring(neighbours: np.ndarray) -> np.ndarray:
    """A proper colouring of a graph by the greedy rule, int32 (n_sites,)."""
    n = neighbours.shape[0]
    colours = np.full(n, -1, dtype=np.int32)
    for site in range(n):
        used = set(colours[neighbours[site]].tolist())
        c = 0
        while c in used:
            c += 1
        colours[site] = c
    return colours


def graph_lattice(
    name: str, shape: tuple, neighbours: np.ndarray, params: dict | None = None, conv_kernel: int = 3
) -> Lattice:
    """A lattice given only by its neighbour table (no blocks), greedily coloured."""
    neighbours = np.asarray(neighbours, dtype=np.int32)
    return Lattice(
        name=name,
        shape=shape,
        neighbours=neighbours,
        colours=greedy_colouring(neighbours),
        params=dict(params or {}),
        conv_kernel=conv_kernel,
    )


register_lattice("square", square)
register_lattice("square_anisotropic", anisotropic_square)
register_lattice("triangular", triangular)
register_lattice("cubic", cubic)


def triangular_coarse(L: int) -> Lattice:
    """The coarse lattice of ``triangular(L)``: its blocks joined by fine bonds."""
    return triangular(L).coarse()


register_lattice("triangular_coarse", triangular_coarse)
