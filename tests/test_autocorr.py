import numpy as np
import pytest

from ising.autocorr import AutocorrelationError, autocorrelation, mean_error, tau_int


def ar1(phi, n, seed):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = noise[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9, 0.97])
def test_tau_of_ar1_chain(phi):
    exact = (1 + phi) / (1 - phi)
    estimates = [tau_int(ar1(phi, 200_000, seed)) for seed in range(3)]
    # Sokal's window has relative statistical error ~ sqrt(2 (2M+1) / n) ~ a few percent here
    assert np.mean(estimates) == pytest.approx(exact, rel=0.08)


def test_acf_of_ar1_decays_geometrically():
    rho = autocorrelation(ar1(0.8, 400_000, 1))
    assert rho[0] == 1.0
    assert rho[1:5] == pytest.approx(0.8 ** np.arange(1, 5), abs=0.01)


def test_short_chain_raises_named_error():
    with pytest.raises(AutocorrelationError, match="too short"):
        tau_int(ar1(0.99, 500, 0))
    assert tau_int(ar1(0.99, 500, 0), quiet=True) > 1


def test_error_bar_accounts_for_autocorrelation():
    phi = 0.9
    means = [ar1(phi, 20_000, s).mean() for s in range(40)]
    errors = [mean_error(ar1(phi, 20_000, s))[1] for s in range(40)]
    # the spread of independent means matches the tau-corrected error bar (within ~25 %)
    assert np.std(means, ddof=1) == pytest.approx(np.mean(errors), rel=0.25)
    naive_error = np.std(ar1(phi, 20_000, 0)) / np.sqrt(20_000)
    assert np.mean(errors) > 3 * naive_error


def test_constant_series_has_tau_one():
    assert tau_int(np.ones(1000)) == 1.0
    with pytest.raises(ValueError, match="1-d series"):
        autocorrelation([1.0])
