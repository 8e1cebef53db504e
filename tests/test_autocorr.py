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
    # rho(t) = phi^t, so Sokal's tau_int = 1/2 + sum_{t>=1} phi^t = (1 + phi) / (2 (1 - phi))
    exact = 0.5 * (1 + phi) / (1 - phi)
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
    # 50 tau is the default minimum: 2000 steps of tau = 99.5 are too few, 2e5 are enough
    with pytest.raises(AutocorrelationError, match="at least 50 tau"):
        tau_int(ar1(0.99, 2000, 0))
    assert tau_int(ar1(0.99, 200_000, 0)) == pytest.approx(99.5, rel=0.2)


def test_error_bar_accounts_for_autocorrelation():
    phi = 0.9
    means = [ar1(phi, 20_000, s).mean() for s in range(40)]
    errors = [mean_error(ar1(phi, 20_000, s))[1] for s in range(40)]
    # the spread of independent means matches the tau-corrected error bar (within ~25 %)
    assert np.std(means, ddof=1) == pytest.approx(np.mean(errors), rel=0.25)
    naive_error = np.std(ar1(phi, 20_000, 0)) / np.sqrt(20_000)
    assert np.mean(errors) > 3 * naive_error
    # with tau given: sqrt(2 tau var / n), so tau = 1/2 is the naive error of independent samples
    x = ar1(0.0, 1000, 3)
    assert mean_error(x, tau=0.5)[1] == pytest.approx(np.std(x, ddof=1) / np.sqrt(1000))
    assert mean_error(x, tau=8.0)[1] == pytest.approx(4 * np.std(x, ddof=1) / np.sqrt(1000))


def test_independent_and_constant_series_have_tau_one_half():
    assert tau_int(np.ones(1000)) == 0.5
    assert tau_int(np.random.default_rng(0).standard_normal(100_000)) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="1-d series"):
        autocorrelation([1.0])
