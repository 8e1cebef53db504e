import h5py
import numpy as np
import pytest

from ising.io import EnsembleFileError, load_ensemble, save_ensemble
from ising.lattice import square, triangular
from ising.sampling import sample_ensemble


@pytest.fixture(scope="module")
def ensemble():
    return sample_ensemble(square(8), 2.5, 40, seed=4)


def test_round_trip_keeps_arrays_and_parameters(tmp_path, ensemble):
    path = save_ensemble(tmp_path / "e.h5", ensemble)
    back = load_ensemble(path)
    assert back.spins.dtype == np.int8 and back.spins.shape == (40, 8, 8)
    assert np.array_equal(back.spins, ensemble.spins)
    assert np.array_equal(back.energy, ensemble.energy)
    assert np.array_equal(back.magnetization, ensemble.magnetization)
    for key in (
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
    ):
        assert back.params[key] == ensemble.params[key]
    assert back.lattice.n_sites == 64 and back.lattice.b == 2
    assert [p.name for p in tmp_path.iterdir()] == ["e.h5"]  # no temporary left


def test_triangular_ensemble_rebuilds_its_lattice(tmp_path):
    ens = sample_ensemble(triangular(6), 4.0, 5, seed=1)
    back = load_ensemble(save_ensemble(tmp_path / "t.h5", ens))
    assert back.lattice.name == "triangular" and back.lattice.n_blocks == 12


def test_existing_file_is_kept_unless_forced(tmp_path, ensemble):
    path = save_ensemble(tmp_path / "e.h5", ensemble)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        save_ensemble(path, ensemble)
    assert path.read_bytes() == before
    save_ensemble(path, ensemble, force=True)


def test_failed_write_leaves_nothing(tmp_path, ensemble, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError):
        save_ensemble(tmp_path / "e.h5", ensemble)
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_foreign_files_are_refused(tmp_path, ensemble):
    good = save_ensemble(tmp_path / "e.h5", ensemble)
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(EnsembleFileError, match="truncated"):
        load_ensemble(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["spins"] = np.ones((2, 4), dtype=np.int8)
    with pytest.raises(EnsembleFileError, match="not an ensemble"):
        load_ensemble(foreign)
    with h5py.File(good, "a") as f:
        del f.attrs["tau_int"]
    with pytest.raises(EnsembleFileError, match="lacks tau_int"):
        load_ensemble(good)
    with pytest.raises(EnsembleFileError, match="no such file"):
        load_ensemble(tmp_path / "missing.h5")


def test_bad_spin_values_are_refused(tmp_path, ensemble):
    ensemble.spins[0, 0, 0] = 0
    try:
        with pytest.raises(EnsembleFileError, match="±1"):
            save_ensemble(tmp_path / "e.h5", ensemble)
    finally:
        ensemble.spins[0, 0, 0] = 1
