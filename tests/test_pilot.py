"""The pilot run's tau_int (Sokal's convention) and the spacing of stored configurations."""

import numpy as np
import pytest

from ising.autocorr import tau_int
from ising.lattice import square
from ising.sampling import MarkovChain, sample_ensemble

TC = 2.0 / np.log(1.0 + np.sqrt(2.0))


def test_pilot_runs_until_it_is_min_taus_long():
    chain = MarkovChain(square(8), 2.5, algorithm="metropolis", seed=4)
    chain.thermalize(200)
    p = chain.pilot(initial=100, min_taus=400)
    assert p["tau_int"] == max(p["tau_int_energy"], p["tau_int_abs_m"]) >= 0.5
    assert p["pilot_units"] >= 400 * p["tau_int"]
    assert p["pilot_units"] > 100  # extended beyond the initial run


def test_pilot_cap_is_a_clear_error():
    chain = MarkovChain(square(16), TC, algorithm="metropolis", seed=1)
    with pytest.raises(ValueError, match="reached its cap of 2000 sweeps before it was 2500 tau_int long"):
        chain.pilot(initial=500, max_units=2000)


def test_sample_ensemble_spacing_is_twice_sokal_tau():
    ens = sample_ensemble(square(8), 2.6, 20, algorithm="metropolis", seed=2, pilot_taus=200)
    p = ens.params
    assert p["sweeps_between"] == int(np.ceil(2 * p["tau_int"]))
    assert p["thermalization_sweeps"] >= 200 + 200 * p["tau_int"]


def long_run_tau(lattice, T, algorithm, seed, n_units):
    """Sokal's tau_int = max(tau_E, tau_|M|) from one long run, and its Madras-Sokal error."""
    chain = MarkovChain(lattice, T, algorithm=algorithm, seed=seed)
    chain.thermalize(2000)
    energy, abs_m = chain.series(n_units)
    tau = max(tau_int(energy, tol=5000), tau_int(abs_m, tol=5000))
    return tau, tau * np.sqrt(2 * (2 * 6 * tau + 1) / n_units)


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "n_units"), [("metropolis", 1_000_000), ("wolff", 200_000)])
def test_stored_configurations_are_two_long_run_taus_apart(algorithm, n_units):
    # The pilot (2500 tau, ~10 % error) sets the spacing; an independent run 5000+ tau long
    # re-measures tau. Spacing 2 tau within three pilot errors, and the stored series is
    # nearly independent: with rho(t) ~ exp(-t / tau) its own tau_int is ~0.66 kept steps.
    lattice = square(32)
    ens = sample_ensemble(lattice, TC, 2000, algorithm=algorithm, seed=5)
    tau, err = long_run_tau(lattice, TC, algorithm, 6, n_units)
    assert n_units >= 5000 * tau
    between = ens.params["sweeps_between"]
    assert ens.params["tau_int"] == pytest.approx(tau, abs=3 * np.hypot(0.1 * tau, err))
    assert between >= 2 * (tau - 3 * np.hypot(0.1 * tau, err))
    for series in (ens.energy, np.abs(ens.magnetization)):
        assert tau_int(series, quiet=True) < 1.0
