"""Thermometer data: configurations and their beta, streamed from HDF5 ensembles.

An ensemble file (STUDY.md section 1, :mod:`ising.io`) holds one Markov chain:
dataset ``spins`` int8 (n, *shape) with values ±1 and attributes including
``lattice``, ``L``, ``T``, ``beta`` and ``seed``. :class:`ThermometerData`
reads a list of such files lazily: each epoch it shuffles contiguous segments
of rows from all files, loads a bounded window of segments at a time, shuffles
the rows of the window and cuts it into batches of (float32 spins, float32
beta). Memory stays at about ``window`` configurations whatever the number of
files. In-memory arrays go through the same path.

The global spin flip leaves beta unchanged; ``flip=True`` multiplies each
configuration by a random sign (the thermometers of :mod:`models.thermometers`
are even by construction, so for them it changes nothing, but any other
network trained here sees both orientations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

__all__ = ["ThermometerData", "load_configurations", "chain_key"]


@dataclass(frozen=True)
class _Part:
    spins: object  # h5py.Dataset or ndarray, (n, *shape)
    beta: np.ndarray  # float32 (n,)
    source: str
    lattice: str | None
    chain: tuple | None


def chain_key(attrs) -> tuple:
    """Identity of the Markov chain behind an ensemble: (lattice, L, b, J, h, T, algorithm, seed)."""
    keys = ("lattice", "L", "b", "J", "h", "T", "algorithm", "seed")
    return tuple(_plain(attrs[k]) if k in attrs else None for k in keys)


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _beta_of(attrs, path) -> float:
    if "beta" in attrs:
        return float(attrs["beta"])
    if "T" in attrs:
        return 1.0 / float(attrs["T"])
    raise ValueError(f"{path}: ensemble file has neither a 'beta' nor a 'T' attribute")


def _check_shape(expect, shape, lattice_name, where):
    """Compare one configuration shape (and lattice name) with a model, Lattice or shape."""
    if expect is None:
        return
    if isinstance(expect, keras.Model):
        from .thermometers import check_input, thermometer_lattice_name

        try:
            check_input(expect, shape)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        recorded = thermometer_lattice_name(expect)
        if recorded is not None and lattice_name is not None and recorded != lattice_name:
            raise ValueError(
                f"{where}: thermometer was built for the {recorded} lattice, got a {lattice_name} ensemble"
            )
        return
    want = tuple(expect.shape) if hasattr(expect, "shape") else tuple(expect)
    if tuple(shape) != want:
        raise ValueError(
            f"{where}: configurations are {'x'.join(map(str, shape))}, "
            f"expected {'x'.join(map(str, want))}; use ensembles of the model's lattice"
        )
    want_name = getattr(expect, "name", None)
    if want_name is not None and lattice_name is not None and want_name != lattice_name:
        raise ValueError(f"{where}: ensemble is on the {lattice_name} lattice, expected {want_name}")


class ThermometerData(keras.utils.PyDataset):
    """Batches (spins float32 (batch, *shape), beta float32 (batch, 1)) for ``model.fit``.

    Parameters
    ----------
    source : sequence of paths, or (spins, beta)
        HDF5 ensemble files (read lazily, one chain each), or arrays: spins
        (n, *shape) ±1 of any numeric dtype and beta, a scalar or (n,).
    batch_size : int
        Configurations per batch (the last batch of an epoch may be smaller).
    shuffle : bool
        Shuffle segments and rows anew each epoch (False: file order, for
        validation and prediction).
    flip : bool
        Multiply each configuration by an independent random sign.
    seed : int
        Seed of the shuffling and flips; epoch ``k`` uses the stream
        ``(seed, k)``, so a run is reproducible.
    expect : keras.Model, Lattice or shape tuple, optional
        Raise ValueError if the configurations do not fit it.
    window : int
        Configurations held in memory at a time.
    segment : int
        Length of the contiguous row segments read from one file.
    """

    def __init__(
        self,
        source,
        batch_size: int = 64,
        *,
        shuffle: bool = True,
        flip: bool = True,
        seed: int = 0,
        expect=None,
        window: int = 4096,
        segment: int = 32,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        for name, value in (("batch_size", batch_size), ("window", window), ("segment", segment)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.flip = bool(flip)
        self.seed = int(seed)
        self.window = int(window)
        self.segment = int(segment)
        self._files = []
        self._parts = self._open(source, expect)
        shapes = {tuple(p.spins.shape[1:]) for p in self._parts}
        if len(shapes) != 1:
            self.close()
            listed = ", ".join("x".join(map(str, s)) for s in sorted(shapes))
            raise ValueError(f"ensembles mix configuration shapes ({listed}); train on one lattice size")
        self.shape = shapes.pop()
        self.n_samples = sum(int(p.spins.shape[0]) for p in self._parts)
        if self.n_samples == 0:
            self.close()
            raise ValueError("no configurations to train on")
        self._segments = [
            (k, a, min(a + self.segment, int(p.spins.shape[0])))
            for k, p in enumerate(self._parts)
            for a in range(0, int(p.spins.shape[0]), self.segment)
        ]
        self._epoch = 0
        self._plan()

    def _open(self, source, expect) -> list[_Part]:
        if isinstance(source, tuple) and len(source) == 2 and not isinstance(source[0], (str, Path)):
            spins = np.asarray(source[0])
            if spins.ndim < 2:
                raise ValueError(f"spins must have shape (n, *lattice shape), got {spins.shape}")
            beta = np.broadcast_to(np.asarray(source[1], dtype=np.float32), spins.shape[:1]).copy()
            _check_shape(expect, spins.shape[1:], None, "arrays")
            return [_Part(spins, beta, "arrays", None, None)]
        if isinstance(source, (str, Path)) or not isinstance(source, Sequence) or not source:
            raise ValueError("source must be a non-empty list of ensemble files or a (spins, beta) pair")
        import h5py

        parts = []
        try:
            for path in source:
                path = Path(path)
                if not path.is_file():
                    raise ValueError(f"{path}: no such ensemble file")
                handle = h5py.File(path, "r")
                self._files.append(handle)
                if "spins" not in handle:
                    raise ValueError(f"{path}: not an ensemble file (no 'spins' dataset)")
                spins = handle["spins"]
                lattice = _plain(handle.attrs["lattice"]) if "lattice" in handle.attrs else None
                _check_shape(expect, spins.shape[1:], lattice, str(path))
                beta = np.full(spins.shape[0], _beta_of(handle.attrs, path), dtype=np.float32)
                parts.append(_Part(spins, beta, str(path), lattice, chain_key(handle.attrs)))
        except Exception:
            self.close()
            raise
        return parts

    @property
    def chains(self) -> list[tuple]:
        """Chain identities (:func:`chain_key`) of the files read; empty for arrays."""
        return [p.chain for p in self._parts if p.chain is not None]

    @property
    def sources(self) -> list[str]:
        return [p.source for p in self._parts]

    def close(self):
        """Close the HDF5 files (the object is unusable afterwards)."""
        for handle in self._files:
            handle.close()
        self._files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _plan(self):
        rng = np.random.default_rng([self.seed, self._epoch])
        order = rng.permutation(len(self._segments)) if self.shuffle else range(len(self._segments))
        windows, current, rows = [], [], 0
        for k in order:
            current.append(self._segments[k])
            rows += self._segments[k][2] - self._segments[k][1]
            if rows >= self.window:
                windows.append(current)
                current, rows = [], 0
        if current:
            windows.append(current)
        self._windows = windows
        sizes = [sum(stop - start for _, start, stop in w) for w in windows]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        self._cache = {}

    def _load_window(self, w: int):
        if w not in self._cache:
            segments = self._windows[w]
            spins = np.concatenate([np.asarray(self._parts[k].spins[a:b]) for k, a, b in segments])
            spins = spins.astype(np.float32)
            beta = np.concatenate([self._parts[k].beta[a:b] for k, a, b in segments])
            rng = np.random.default_rng([self.seed, self._epoch, w])
            if self.shuffle:
                order = rng.permutation(spins.shape[0])
                spins, beta = spins[order], beta[order]
            if self.flip:
                signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=spins.shape[0])
                spins *= signs.reshape((-1,) + (1,) * (spins.ndim - 1))
            self._cache = {k: v for k, v in self._cache.items() if k == w - 1}
            self._cache[w] = (spins, beta)
        return self._cache[w]

    def __len__(self):
        return -(-self.n_samples // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range 0..{len(self) - 1}")
        start = index * self.batch_size
        stop = min(start + self.batch_size, self.n_samples)
        xs, ys = [], []
        w = int(np.searchsorted(self._offsets, start, side="right")) - 1
        while start < stop:
            spins, beta = self._load_window(w)
            lo, hi = start - self._offsets[w], min(stop, self._offsets[w + 1]) - self._offsets[w]
            xs.append(spins[lo:hi])
            ys.append(beta[lo:hi])
            start = self._offsets[w] + hi
            w += 1
        x = xs[0] if len(xs) == 1 else np.concatenate(xs)
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        return x, y.reshape(-1, 1)

    def on_epoch_end(self):
        self._epoch += 1
        self._plan()


def load_configurations(files, expect=None) -> dict:
    """Read whole ensembles for evaluation.

    Returns a dict with ``spins`` int8 (n, *shape), ``beta``, ``T``, ``energy``
    (total) and ``magnetization`` (total), all float64 (n,), ``lattice``
    (name, or None), ``lattice_params`` (``L``, and ``b`` where the lattice has an
    integer block factor: ``make_lattice(lattice, **lattice_params)`` rebuilds it),
    ``chains`` (one :func:`chain_key` per file) and ``J``,
    ``h`` (common to all files; ValueError if they differ). ``expect`` is
    checked as in :class:`ThermometerData`.
    """
    import h5py

    if isinstance(files, (str, Path)) or not files:
        raise ValueError("files must be a non-empty list of ensemble files")
    out = {k: [] for k in ("spins", "beta", "T", "energy", "magnetization")}
    lattices, couplings, sizes, chains = set(), set(), [], []
    for path in files:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such ensemble file")
        with h5py.File(path, "r") as f:
            missing = [k for k in ("spins", "energy", "magnetization") if k not in f]
            if missing:
                raise ValueError(f"{path}: ensemble file lacks {', '.join(missing)}")
            lattice = _plain(f.attrs["lattice"]) if "lattice" in f.attrs else None
            _check_shape(expect, f["spins"].shape[1:], lattice, str(path))
            spins = f["spins"][...]
            beta = _beta_of(f.attrs, path)
            n = spins.shape[0]
            out["spins"].append(spins.astype(np.int8, copy=False))
            out["beta"].append(np.full(n, beta))
            out["T"].append(np.full(n, float(f.attrs["T"]) if "T" in f.attrs else 1.0 / beta))
            out["energy"].append(np.asarray(f["energy"][...], dtype=np.float64))
            out["magnetization"].append(np.asarray(f["magnetization"][...], dtype=np.float64))
            lattices.add(lattice)
            couplings.add((float(f.attrs.get("J", 1.0)), float(f.attrs.get("h", 0.0))))
            sizes.append((int(f.attrs.get("L", spins.shape[1])), int(f.attrs.get("b", 0))))
            chains.append(chain_key(f.attrs))
    shapes = {s.shape[1:] for s in out["spins"]}
    if len(shapes) != 1 or len(lattices) != 1:
        raise ValueError("test ensembles mix lattices or sizes; evaluate one lattice at a time")
    if len(couplings) != 1:
        raise ValueError(f"test ensembles mix couplings (J, h): {sorted(couplings)}")
    result = {k: np.concatenate(v) for k, v in out.items()}
    (J, h) = couplings.pop()
    L, b = sizes[0]
    params = {"L": L, "b": b} if b else {"L": L}
    result.update(lattice=lattices.pop(), lattice_params=params, chains=chains, J=J, h=h)
    return result
