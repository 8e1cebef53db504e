"""Thermometer evaluation: temperature bands, metrics, and the Bayes-optimal limit."""

import numpy as np
import pytest

from ising.lattice import cubic, square, triangular
from models.evaluation import (
    BANDS,
    band_masks,
    bayes_limit,
    describe_thermometer,
    evaluate_thermometer,
    figure_of_merit,
    statistic_dependence,
)


def test_band_edges():
    T = np.array([1.0, 1.99, 2.0, 2.3, 2.6, 1.0 + 16 * 0.1, 1.0 / (1.0 / 2.6), 2.61, 3.5])
    masks = band_masks(T)
    assert masks["ordered"].tolist() == [True, True] + [False] * 7
    assert masks["critical"].tolist() == [False, False, True, True, True, True, True, False, False]
    assert masks["disordered"].tolist() == [False] * 7 + [True, True]
    # Every temperature lies in exactly one band.
    np.testing.assert_array_equal(masks["ordered"] + masks["critical"] + masks["disordered"], 1)
    assert masks["overall"].all()


def test_metrics_per_band_on_hand_made_arrays():
    T = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    beta_true = 1.0 / T
    error = np.array([0.1, -0.1, 0.2, 0.0, -0.3, 0.1])
    metrics = evaluate_thermometer(beta_true, beta_true + error, T)
    assert set(metrics) == set(BANDS)
    assert metrics["ordered"]["n"] == 2 and metrics["critical"]["n"] == 2 and metrics["disordered"]["n"] == 2
    assert metrics["ordered"]["mse"] == pytest.approx(0.01)
    assert metrics["critical"]["mse"] == pytest.approx(0.02)
    assert metrics["disordered"]["mse"] == pytest.approx(0.05)
    assert metrics["disordered"]["mae"] == pytest.approx(0.2)
    assert metrics["overall"]["mse"] == pytest.approx(np.mean(error**2))
    ss_tot = np.sum((beta_true - beta_true.mean()) ** 2)
    assert metrics["overall"]["r2"] == pytest.approx(1.0 - np.sum(error**2) / ss_tot)
    # Default bands come from T = 1/beta_true.
    assert evaluate_thermometer(beta_true, beta_true + error) == metrics


def test_metrics_of_empty_and_single_temperature_bands():
    beta = np.full(4, 1.0 / 3.0)
    metrics = evaluate_thermometer(beta, beta + 0.01)
    assert metrics["ordered"]["n"] == 0 and np.isnan(metrics["ordered"]["mse"])
    assert metrics["disordered"]["mse"] == pytest.approx(1e-4)
    assert np.isnan(metrics["disordered"]["r2"])  # R² is undefined for a single temperature
    with pytest.raises(ValueError, match="one entry per configuration"):
        evaluate_thermometer(beta, beta[:3])


def enumerated_log_z(lattice, beta_grid, J):
    """ln Z by summing over all 2^N configurations (N <= 16), independent of Kaufman's formula."""
    n = lattice.n_sites
    states = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    bond_sum = 0.5 * np.einsum("ci,cik->c", states, states[:, lattice.neighbours])
    energies, counts = np.unique(-J * bond_sum, return_counts=True)
    log_w = np.log(counts)[None, :] - beta_grid[:, None] * energies[None, :]
    top = log_w.max(axis=1)
    return top + np.log(np.exp(log_w - top[:, None]).sum(axis=1)), energies, counts


@pytest.mark.parametrize("J", [1.0, 0.5])
def test_bayes_estimate_matches_enumeration_on_a_4x4_torus(J):
    lattice = square(4)
    beta_grid = 1.0 / np.arange(1.0, 3.51, 0.5)
    log_z, energies, _ = enumerated_log_z(lattice, beta_grid, J)
    # One test configuration per possible energy, labelled with an arbitrary grid temperature.
    beta_true = beta_grid[np.arange(energies.size) % beta_grid.size]
    limit = bayes_limit(lattice, energies, beta_true, beta_grid, J=J)
    assert limit.available and limit.reason is None
    log_w = -np.outer(energies, beta_grid) - log_z[None, :]
    posterior = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    expected = posterior @ beta_grid / posterior.sum(axis=1)
    np.testing.assert_allclose(limit.beta_hat, expected, rtol=1e-10)
    assert limit.mse == pytest.approx(np.mean((expected - beta_true) ** 2), rel=1e-10)
    # In an exponential family the posterior mean of beta falls strictly as the energy rises.
    assert np.all(np.diff(limit.beta_hat) < 0)


def test_bayes_grid_defaults_to_the_test_temperatures():
    lattice = square(4)
    beta_true = np.repeat(1.0 / np.array([1.5, 2.5, 3.5]), 2)
    energy = np.array([-32.0, -28.0, -16.0, -12.0, -4.0, 0.0])
    default = bayes_limit(lattice, energy, beta_true)
    explicit = bayes_limit(lattice, energy, beta_true, np.unique(beta_true))
    np.testing.assert_array_equal(default.beta_hat, explicit.beta_hat)
    assert np.all((default.beta_hat >= beta_true.min()) & (default.beta_hat <= beta_true.max()))


@pytest.mark.parametrize("lattice", [triangular(6), cubic(4)], ids=["triangular", "cubic"])
def test_no_bayes_number_without_an_exact_partition_function(lattice):
    beta = np.array([0.5, 0.4])
    limit = bayes_limit(lattice, np.array([-10.0, -5.0]), beta)
    assert not limit.available and limit.beta_hat is None and limit.mse is None
    assert limit.reason == f"no exact partition function for the {lattice.name} lattice"
    ratios = figure_of_merit(evaluate_thermometer(beta, beta + 0.1), limit)
    assert ratios["available"] is False and all(ratios[b] is None for b in BANDS)
    text = describe_thermometer("conv", evaluate_thermometer(beta, beta + 0.1), limit)
    assert "not available: no exact partition function" in text


def test_bayes_limit_refuses_a_field():
    limit = bayes_limit(square(4), np.array([-10.0]), np.array([0.5]), h=0.1)
    assert not limit.available and "not sufficient" in limit.reason


def test_figure_of_merit_and_report():
    rng = np.random.default_rng(0)
    lattice = square(4)
    T = np.repeat(np.arange(1.0, 3.51, 0.5), 200)
    beta = 1.0 / T
    _, energies, counts = enumerated_log_z(lattice, np.unique(beta), 1.0)
    # Energies drawn from the exact distribution P(E | beta) ~ g(E) exp(-beta E) of the 4x4 torus.
    energy = np.empty_like(beta)
    for b in np.unique(beta):
        p = counts * np.exp(-b * (energies - energies.min()))
        energy[beta == b] = rng.choice(energies, size=np.sum(beta == b), p=p / p.sum())
    limit = bayes_limit(lattice, energy, beta)
    ratios = figure_of_merit(limit.metrics, limit)
    assert all(ratios[b] == pytest.approx(1.0) for b in BANDS)  # the limit compared with itself
    constant = np.full_like(beta, beta.mean())
    worse = figure_of_merit(evaluate_thermometer(beta, constant), limit)
    # Exactly (summing over the enumerated P(E | beta)) the Bayes MSE is 0.0328 and the
    # constant predictor's 0.0593, a ratio of 1.81; 1200 draws estimate it to a few percent.
    assert 1.5 < worse["overall"] < 2.2
    # A "magnetometer": predictions that follow a statistic unrelated to the energy.
    abs_m = rng.random(beta.size)
    hot = T > 2.6
    dependence = {
        "disordered": statistic_dependence(abs_m[hot], {"energy": energy[hot], "abs_m": abs_m[hot]})
    }
    # Means in 20 equal-count bins of a uniform variable leave (1/20)^2 of its variance.
    assert dependence["disordered"]["abs_m"] == pytest.approx(1.0 - 1.0 / 400, abs=3e-3)
    # The energy takes a handful of values, unrelated to abs_m: R² ~ (bins - 1) / 400 points.
    assert dependence["disordered"]["energy"] < 0.1
    text = describe_thermometer("dense", evaluate_thermometer(beta, abs_m), limit, dependence)
    assert "far short" in text and "In the disordered band" in text and "reads the magnetisation" in text
    good = describe_thermometer("bayes", limit.metrics, limit)
    assert "Within a factor 1.5" in good
