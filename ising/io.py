"""Ensembles on disk: one HDF5 file per (lattice, size, J, h, T, algorithm, seed).

Layout (STUDY.md section 1):

- dataset ``spins``: int8 (n, *lattice shape), values ±1
- dataset ``energy``: float64 (n,), total energy of each configuration
- dataset ``magnetization``: float64 (n,), total magnetisation
- attributes: ``lattice``, ``L``, ``b``, ``shape``, ``J``, ``h``, ``T``, ``beta``,
  ``algorithm`` (the resolved one, never ``auto``), ``seed``, ``tau_int`` (Sokal's,
  1/2 + sum_t rho(t) in time units, = max of ``tau_int_energy`` and ``tau_int_abs_m``),
  ``sweeps_between`` (= ceil(2 tau_int)), ``thermalization_sweeps``, ``time_unit``, ``version``,
  and ``schema`` = ``"rgae-ensemble/1"``.

Files are written to a temporary name in the target folder and renamed, so an
interrupted write never leaves a partial file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Ensemble", "EnsembleFileError", "SCHEMA", "save_ensemble", "load_ensemble", "atomic_path"]

SCHEMA = "rgae-ensemble/1"
REQUIRED_ATTRS = (
    "lattice",
    "L",
    "b",
    "J",
    "h",
    "T",
    "beta",
    "algorithm",
    "seed",
    "tau_int",
    "sweeps_between",
    "thermalization_sweeps",
    "version",
)


class EnsembleFileError(ValueError):
    """A file that is not a complete ensemble of this package's schema."""


@dataclass
class Ensemble:
    """Configurations of one Markov chain and the parameters that produced them.

    spins: int8 (n, *shape) values ±1; energy, magnetization: float64 (n,) totals;
    params: the attributes listed in the module docstring.
    """

    spins: np.ndarray
    energy: np.ndarray
    magnetization: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.spins.shape[0])

    @property
    def beta(self) -> float:
        return float(self.params["beta"])

    @property
    def T(self) -> float:
        return float(self.params["T"])

    @property
    def lattice(self):
        """The :class:`~ising.lattice.Lattice` these configurations live on."""
        from .lattice import make_lattice

        kwargs = {"b": int(self.params["b"])} if int(self.params.get("b", 0)) else {}
        return make_lattice(str(self.params["lattice"]), int(self.params["L"]), **kwargs)


def atomic_path(path: Path):
    """A temporary file name next to ``path``, for write-then-rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def save_ensemble(path, ensemble: Ensemble, force: bool = False) -> Path:
    """Write ``ensemble`` to ``path`` atomically; refuse to overwrite unless ``force``."""
    import h5py

    path = Path(path)
    if path.exists() and not force:
        raise ValueError(f"{path} already exists; pass force=True (--force) to overwrite it")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a file name")
    if not path.parent.is_dir():
        raise ValueError(f"folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"folder {path.parent} is not writable")
    _validate_arrays(ensemble.spins, ensemble.energy, ensemble.magnetization, str(path))
    tmp = atomic_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(
                "spins",
                data=ensemble.spins.astype(np.int8),
                compression="gzip",
                compression_opts=4,
                chunks=True,
            )
            f.create_dataset("energy", data=np.asarray(ensemble.energy, dtype=np.float64))
            f.create_dataset("magnetization", data=np.asarray(ensemble.magnetization, dtype=np.float64))
            for key, value in ensemble.params.items():
                f.attrs[key] = value
            f.attrs["schema"] = SCHEMA
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_ensemble(path) -> Ensemble:
    """Read an ensemble written by :func:`save_ensemble`, checking its schema.

    Raises :class:`EnsembleFileError` (a ValueError) for a missing, truncated
    or foreign file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise EnsembleFileError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("schema") != SCHEMA:
                raise EnsembleFileError(f"{path}: not an ensemble file (schema attribute missing or foreign)")
            missing = [k for k in ("spins", "energy", "magnetization") if k not in f]
            missing += [k for k in REQUIRED_ATTRS if k not in f.attrs]
            if missing:
                raise EnsembleFileError(f"{path}: ensemble file lacks {', '.join(missing)}")
            for key in ("spins", "energy", "magnetization"):
                if not isinstance(f[key], h5py.Dataset):
                    raise EnsembleFileError(f"{path}: {key} must be a dataset, not a {type(f[key]).__name__}")
            spins = f["spins"][...]
            energy = f["energy"][...]
            magnetization = f["magnetization"][...]
            params = {k: _plain(v) for k, v in f.attrs.items() if k != "schema"}
    except EnsembleFileError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise EnsembleFileError(
            f"{path}: unreadable or truncated HDF5 file ({str(err).splitlines()[0]})"
        ) from None
    _validate_arrays(spins, energy, magnetization, str(path))
    if spins.shape[0] == 0:
        raise EnsembleFileError(f"{path}: the ensemble holds no configurations")
    shape = params.get("shape")
    if shape is not None and (np.ndim(shape) != 1 or tuple(np.atleast_1d(shape)) != spins.shape[1:]):
        raise EnsembleFileError(
            f"{path}: spins have shape {spins.shape[1:]}, attributes say {params['shape']}"
        )
    return Ensemble(spins, energy, magnetization, params)


def _validate_arrays(spins, energy, magnetization, where: str):
    spins = np.asarray(spins)
    if spins.dtype != np.int8 or spins.ndim < 2:
        raise EnsembleFileError(f"{where}: spins must be int8 (n, *shape), got {spins.dtype} {spins.shape}")
    if spins.size and not np.all(np.abs(spins) == 1):
        raise EnsembleFileError(f"{where}: spins must be ±1")
    n = spins.shape[0]
    for name, arr in (("energy", energy), ("magnetization", magnetization)):
        if np.shape(arr) != (n,):
            raise EnsembleFileError(f"{where}: {name} must have shape ({n},), got {np.shape(arr)}")
        kind = np.asarray(arr).dtype.kind
        if kind not in "iuf":
            raise EnsembleFileError(
                f"{where}: {name} must hold real numbers, got dtype {np.asarray(arr).dtype}"
            )


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
