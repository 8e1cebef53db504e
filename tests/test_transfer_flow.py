"""RG flow: calibration, energy matching, fixed points, and the flow table on tiny lattices."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ising.exact import kaufman_energy_per_spin
from ising.lattice import square, triangular
from ising.sampling import sample_ensemble
from models.thermometers import build_dense_thermometer
from transfer.analytic import block_spins
from transfer.flow import (
    FIXED_POINT_COLUMNS,
    FLOW_COLUMNS,
    aggregate_fixed_points,
    aligned_model_map,
    bond_correlations,
    calibrate,
    energy_matched_beta,
    energy_matching_unavailable,
    fixed_point,
    fixed_points,
    identity_crossings,
    rg_flow,
)
from transfer.learned import build_autoencoder, build_encoder, encode

BETA_C = 0.5 * np.log1p(np.sqrt(2.0))


def magnetisation_probe(lattice):
    """A stand-in 'thermometer' whose output is the magnetisation per spin, m = mean(s)."""
    inputs = keras.Input(lattice.shape)
    dense = keras.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="sum")
    outputs = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(
        inputs, keras.layers.Rescaling(1.0 / lattice.n_sites)(outputs), name=f"probe-{lattice.name}"
    )
    return model


# ---------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------


def test_calibration_inverse_round_trips_a_linear_curve_exactly():
    grid = np.linspace(0.3, 0.6, 7)
    beta = np.repeat(grid, 5)
    calibration = calibrate(beta, 0.2 + 0.5 * beta)  # noiseless: f(beta) = 0.2 + 0.5 beta
    targets = np.array([0.3, 0.37, 0.45, 0.5999])
    beta_prime, err, flag = calibration.inverse(0.2 + 0.5 * targets, 0.01)
    np.testing.assert_allclose(beta_prime, targets, atol=1e-12)
    assert list(flag) == ["ok"] * 4
    # zero spread on the grid: only the mean prediction's error, through the slope 0.5
    np.testing.assert_allclose(err, 0.02, rtol=1e-12)
    np.testing.assert_allclose(calibration(targets), 0.2 + 0.5 * targets, atol=1e-12)


def test_calibration_of_a_noisy_bounded_curve_round_trips_within_its_error():
    """f(beta) = 0.45 + 0.15 tanh(4 (beta - 0.45)): a regressor pulled to its grid's centre."""
    rng = np.random.default_rng(1)
    grid = np.linspace(0.3, 0.6, 16)
    beta = np.repeat(grid, 400)

    def f(b):
        return 0.45 + 0.15 * np.tanh(4.0 * (b - 0.45))

    targets = np.array([0.33, 0.41, 0.47, 0.56])
    z = []
    for _ in range(60):
        # se of a grid mean (0.001) well below f's rise per grid step (>= 0.008): first order holds
        calibration = calibrate(beta, f(beta) + rng.normal(0.0, 0.02, beta.size))
        beta_prime, err, flag = calibration.inverse(f(targets))
        assert list(flag) == ["ok"] * 4
        z.append((beta_prime - targets) / err)
    z = np.array(z)
    # the propagated curve error describes the scatter; linear interpolation adds < 0.2 sigma of bias
    assert np.all(np.abs(z.mean(axis=0)) < 0.5)
    assert np.all((z.std(axis=0) > 0.7) & (z.std(axis=0) < 1.3))


def test_calibration_pools_violations_into_one_knot():
    beta = np.repeat([0.3, 0.4, 0.5, 0.6], 2)
    pred = np.array([0.30, 0.32, 0.45, 0.47, 0.41, 0.43, 0.60, 0.62])  # 0.4 and 0.5 out of order
    calibration = calibrate(beta, pred)
    np.testing.assert_allclose(calibration.beta, [0.3, 0.45, 0.6])
    np.testing.assert_allclose(calibration.f, [0.31, 0.44, 0.61])
    assert np.all(np.diff(calibration.f) > 0)
    np.testing.assert_allclose(calibration.grid_mean, [0.31, 0.46, 0.42, 0.61])


def test_calibration_out_of_range_is_nan_with_a_flag():
    beta = np.repeat([0.3, 0.4, 0.5], 3)
    calibration = calibrate(beta, 0.35 + 0.3 * (beta - 0.4) + np.tile([-0.01, 0.0, 0.01], 3))
    assert calibration.range == pytest.approx((0.32, 0.38))
    beta_prime, err, flag = calibration.inverse([0.31, 0.35, 0.39, np.nan], 0.001)
    assert list(flag) == ["below range", "ok", "above range", "not finite"]
    assert np.isnan(beta_prime[[0, 2, 3]]).all() and np.isnan(err[[0, 2, 3]]).all()
    assert beta_prime[1] == pytest.approx(0.4)
    assert np.isnan(calibration(0.7))


def test_calibration_errors():
    with pytest.raises(ValueError, match="one length"):
        calibrate([0.3, 0.4], [0.3])
    with pytest.raises(ValueError, match="must be finite"):
        calibrate([0.3, 0.4], [0.3, np.nan])


# ---------------------------------------------------------------------------
# Energy matching
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 4, 16])
def test_energy_matching_recovers_beta_from_kaufmans_own_curve(L):
    beta = np.array([0.1, 0.3, BETA_C, 0.5, 1.2])
    q = -kaufman_energy_per_spin(L, beta) / 2.0
    beta_prime, err, flag = energy_matched_beta(q, L, 1e-3)
    np.testing.assert_allclose(beta_prime, beta, rtol=1e-10)
    assert list(flag) == ["ok"] * beta.size
    # the error is se / (d<ss>/dbeta): compare with a finite-difference slope
    h = 1e-6
    slope = -(kaufman_energy_per_spin(L, beta + h) - kaufman_energy_per_spin(L, beta - h)) / (4.0 * h)
    np.testing.assert_allclose(err, 1e-3 / slope, rtol=1e-5)


def test_energy_matching_with_a_coupling_and_at_the_ends():
    J = 2.0
    beta = np.array([0.1, 0.25])
    q = -kaufman_energy_per_spin(16, beta, J=J) / (2.0 * J)
    np.testing.assert_allclose(energy_matched_beta(q, 16, J=J)[0], beta, rtol=1e-10)
    beta_prime, err, flag = energy_matched_beta([-0.1, 0.0, 1.0, np.nan], 8)
    assert list(flag) == ["below range", "below range", "above range", "not finite"]
    assert np.isnan(beta_prime).all() and np.isnan(err).all()
    with pytest.raises(ValueError, match="J > 0"):
        energy_matched_beta(0.5, 8, J=-1.0)


def test_energy_matching_availability():
    assert energy_matching_unavailable(square(8)) is None
    assert "square torus" in energy_matching_unavailable(triangular(6))
    assert "h = 0" in energy_matching_unavailable(square(8), h=0.1)
    assert "J > 0" in energy_matching_unavailable(square(8), J=-1.0)


def test_bond_correlations_are_minus_half_the_energy_per_spin():
    lattice = square(8)
    ensemble = sample_ensemble(lattice, 2.5, 20, seed=3)
    q = bond_correlations(ensemble.spins, lattice)
    np.testing.assert_allclose(q, -ensemble.energy / (2.0 * lattice.n_sites), atol=1e-12)
    # a naive double loop over sites and neighbour entries
    x = ensemble.spins[0].reshape(-1).astype(float)
    naive = np.mean([x[i] * x[j] for i in range(lattice.n_sites) for j in lattice.neighbours[i]])
    assert q[0] == pytest.approx(naive)


def test_energy_matching_recovers_beta_from_monte_carlo_at_the_coarse_size():
    """Ensembles sampled directly at L' = 16: beta' = beta within the propagated error."""
    lattice = square(16)
    z = []
    for k, beta in enumerate([0.35, 0.42, BETA_C, 0.47, 0.55]):
        ensemble = sample_ensemble(lattice, 1.0 / beta, 400, seed=20 + k)
        q = bond_correlations(ensemble.spins, lattice)
        beta_prime, err, flag = energy_matched_beta(q.mean(), 16, q.std(ddof=1) / np.sqrt(q.size))
        assert flag == "ok" and err < 0.01
        z.append((beta_prime - beta) / err)
    assert np.all(np.abs(z) < 4.0), z


# ---------------------------------------------------------------------------
# Fixed points
# ---------------------------------------------------------------------------


def test_identity_crossings_on_hand_made_curves():
    beta = np.linspace(0.3, 0.6, 7)
    crossings, slopes = identity_crossings(beta, 2.0 * beta - 0.44)  # crosses at 0.44, slope 2
    np.testing.assert_allclose(crossings, [0.44])
    np.testing.assert_allclose(slopes, [2.0])
    # unsorted input, a crossing on a grid point, and one between grid points
    curve = beta + np.array([0.02, 0.0, -0.01, -0.02, -0.01, 0.01, 0.03])
    order = np.array([3, 0, 6, 1, 5, 2, 4])
    crossings, slopes = identity_crossings(beta[order], curve[order])
    np.testing.assert_allclose(crossings, [0.35, 0.525])
    np.testing.assert_allclose(slopes, [1.0 - 0.01 / 0.05, 1.0 + 0.02 / 0.05])
    # never crossing; a NaN gap is not bridged
    assert identity_crossings(beta, beta - 0.01)[0].size == 0
    gap = beta + np.array([-0.02, -0.01, np.nan, 0.01, 0.02, 0.03, 0.04])
    assert identity_crossings(beta, gap)[0].size == 0
    with pytest.raises(ValueError, match="distinct"):
        identity_crossings([0.3, 0.3], [0.2, 0.4])


def test_fixed_point_picks_the_crossing_nearest_beta_c():
    beta = np.linspace(0.1, 0.9, 9)
    curve = beta + 0.05 * np.sin(2 * np.pi * (beta - 0.1) / 0.4 + 0.3)  # several crossings
    crossings, _ = identity_crossings(beta, curve)
    assert crossings.size > 2
    point = fixed_point(beta, curve, beta_c=0.44)
    assert point.beta_star == crossings[np.argmin(np.abs(crossings - 0.44))]
    assert point.n_crossings == crossings.size and "nearest beta_c" in point.note
    assert fixed_point(beta, curve).beta_star == crossings[0]
    none = fixed_point(beta, beta - 0.1)
    assert np.isnan(none.beta_star) and none.note == "no crossing"


def test_fixed_points_and_their_aggregation_over_seeds():
    beta = np.linspace(0.40, 0.48, 5)
    stars = {0: 0.44, 1: 0.45, 2: 0.43}
    rows = []
    for seed, star in stars.items():
        for method, curve in (("energy", 2.0 * beta - star), ("raw", beta - 0.02)):
            rows += [
                {"seed": seed, "encoder": "majority", "step": s, "method": method, "beta": b, "beta_prime": c}
                for s in (0, 1)
                for b, c in zip(beta, curve, strict=True)
            ]
    per_seed = fixed_points(pd.DataFrame(rows), beta_c=BETA_C)
    assert set(per_seed["step"]) == {1}  # step 0 is not a flow
    energy = per_seed[per_seed["method"] == "energy"].set_index("seed")
    np.testing.assert_allclose(energy["beta_star"].sort_index(), [0.44, 0.45, 0.43])
    np.testing.assert_allclose(energy["slope"], 2.0)

    table = aggregate_fixed_points(per_seed)
    assert list(table.columns) == FIXED_POINT_COLUMNS
    table = table.set_index("method")
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)  # sd of (0.44, 0.45, 0.43) is 0.01
    row = table.loc["energy"]
    assert row["beta_star"] == pytest.approx(0.44)
    assert (row["lo"], row["hi"]) == pytest.approx((0.44 - half, 0.44 + half))
    assert row["n_seeds"] == 3 and row["n_without_crossing"] == 0
    assert row["slope"] == pytest.approx(2.0)
    raw = table.loc["raw"]
    assert np.isnan(raw["beta_star"]) and raw["n_seeds"] == 0 and raw["n_without_crossing"] == 3
    assert "3 of 3 seeds without a crossing" in raw["note"]

    one = aggregate_fixed_points(per_seed[per_seed["seed"] == 0]).set_index("method").loc["energy"]
    assert one["beta_star"] == pytest.approx(0.44) and np.isnan(one["lo"]) and np.isnan(one["hi"])
    with pytest.raises(ValueError, match="confidence"):
        aggregate_fixed_points(per_seed, confidence=1.5)


# ---------------------------------------------------------------------------
# The flow table
# ---------------------------------------------------------------------------


def test_flow_table_on_square_8():
    lattice = square(8)  # levels 8x8 -> 4x4 -> 2x2: two RG steps
    levels = lattice.rg_levels()
    thermometers = [build_dense_thermometer(level, hidden=4, seed=k) for k, level in enumerate(levels)]
    rng = np.random.default_rng(0)
    spins = rng.choice(np.array([-1, 1], np.int8), size=(40, 8, 8))
    beta = np.repeat([0.3, 0.6], 20)
    ae = build_autoencoder(lattice, init_from=thermometers[0])
    encoders = {
        "decimation": "decimation",
        "majority": "majority",
        "autoencoder": (ae, lambda codes: -codes[:, ::-1]),
        "learned": [build_encoder(lattice, init_from=thermometers[0])],
    }
    flow = rg_flow(encoders, thermometers, spins, beta, lattice)
    assert list(flow.columns) == FLOW_COLUMNS
    steps = flow.groupby("encoder")["step"].max().to_dict()
    # analytic rules exist at every level; the learned models only at level 0
    assert steps == {"decimation": 2, "majority": 2, "autoencoder": 1, "learned": 1}
    assert (flow["n"] == 20).all()
    assert sorted(flow["beta"].unique()) == [0.3, 0.6]
    assert set(flow["method"]) == {"raw", "calibrated", "energy"}
    raw = flow[flow["method"] == "raw"]
    assert np.isfinite(raw["beta_prime"]).all() and (raw["beta_prime_std"] >= 0).all()
    np.testing.assert_allclose(raw["beta_prime_err"], raw["beta_prime_std"] / np.sqrt(20))
    # no calibrations given: the calibrated rows say so
    calibrated = flow[flow["method"] == "calibrated"]
    assert calibrated["beta_prime"].isna().all() and (calibrated["flag"] == "no calibration").all()
    # energy rows: measured is <ss>_nn of the level the configurations live on
    energy = flow[(flow["method"] == "energy") & (flow["encoder"] == "majority") & (flow["step"] == 1)]
    coarse = block_spins(spins, lattice, "majority")
    q = bond_correlations(coarse, levels[1])
    np.testing.assert_allclose(energy["measured"], [q[:20].mean(), q[20:].mean()])
    # step 0 is the fine thermometer itself, identical for every encoder
    start = flow[(flow["step"] == 0) & (flow["method"] == "raw")].groupby("beta")["beta_prime"].nunique()
    assert (start == 1).all()
    assert len(rg_flow(encoders, thermometers, spins, beta, lattice, n_steps=1).query("step == 2")) == 0
    assert flow.query("step == 2").shape[0] == 2 * 2 * 3
    # without a level-2 thermometer the thermometer methods stop after one step; energy goes on
    short = rg_flow({"decimation": "decimation"}, thermometers[:2], spins, beta, lattice)
    assert short.groupby("method")["step"].max().to_dict() == {"raw": 1, "calibrated": 1, "energy": 2}
    # energy matching alone needs no thermometer
    only = rg_flow({"majority": "majority"}, None, spins, beta, lattice, methods=("energy",))
    assert set(only["method"]) == {"energy"} and only["step"].max() == 2


def test_aligned_autoencoder_map_reorders_and_flips_units():
    lattice = square(4)
    ae = build_autoencoder(lattice, seed=2)
    spins = np.random.default_rng(4).choice(np.array([-1, 1], np.int8), size=(6, 4, 4))
    order = np.random.default_rng(5).permutation(lattice.n_blocks)
    signs = np.where(np.arange(lattice.n_blocks) % 2, -1.0, 1.0)
    coarse = aligned_model_map(ae, lambda codes: codes[:, order] * signs)(spins, lattice)
    codes = encode(ae, spins).reshape(6, -1)
    expected = np.where(codes[:, order] * signs >= 0, 1, -1).reshape(6, *lattice.coarse_shape)
    np.testing.assert_array_equal(coarse, expected)
    with pytest.raises(ValueError, match="one column per block"):
        aligned_model_map(ae, lambda codes: codes[:, :2])(spins, lattice)


def test_flow_of_ordered_configurations_is_exact():
    """Fully ordered configurations stay fully ordered under every rule: m' = m = ±1 at each step."""
    lattice = square(8)
    probes = [magnetisation_probe(level) for level in lattice.rg_levels()]
    spins = np.concatenate([np.ones((3, 8, 8), np.int8), -np.ones((2, 8, 8), np.int8)])
    beta = np.array([1.0, 1.0, 1.0, 2.0, 2.0])
    flow = rg_flow({"decimation": "decimation", "majority": "majority"}, probes, spins, beta, lattice)
    raw = flow[flow["method"] == "raw"]
    expected = pd.Series(np.where(raw["beta"] == 1.0, 1.0, -1.0))
    np.testing.assert_allclose(raw["beta_prime"], expected, atol=1e-6)
    assert set(flow["step"]) == {0, 1, 2}
    # <ss>_nn = 1 is the ground state: beta' = infinity, reported as out of range, not a number
    energy = flow[flow["method"] == "energy"]
    assert (energy["measured"] == 1.0).all() and (energy["flag"] == "above range").all()
    assert energy["beta_prime"].isna().all()


def test_flow_flip_symmetrised_counts_pairs():
    """With the mirror images, the probe's m averages to 0 per pair and n counts the originals."""
    lattice = square(4)
    probes = [magnetisation_probe(level) for level in lattice.rg_levels()]
    spins = np.random.default_rng(6).choice(np.array([-1, 1], np.int8), size=(10, 4, 4))
    flow = rg_flow({"majority": "majority"}, probes, spins, 0.4, lattice, flip_symmetrise=True)
    raw = flow[flow["method"] == "raw"]
    np.testing.assert_allclose(raw["beta_prime"], 0.0, atol=1e-7)
    assert (flow["n"] == 10).all()
    plain = rg_flow({"majority": "majority"}, probes, spins, 0.4, lattice)
    symmetric = flow.loc[flow["method"] == "energy", "measured"]
    np.testing.assert_allclose(symmetric, plain.loc[plain["method"] == "energy", "measured"])


def test_flow_with_a_calibration_and_on_a_lattice_without_kaufman():
    lattice = triangular(6)
    levels = lattice.rg_levels()
    probes = [magnetisation_probe(level) for level in levels]
    spins = np.ones((4, *lattice.shape), np.int8)
    spins[:2, 0] = -1
    beta = np.array([0.3, 0.3, 0.5, 0.5])
    # a made-up calibration m -> beta on each level, linear over [0, 1]
    calibrations = [calibrate([0.0, 1.0], [0.0, 1.0]) for _ in levels]
    flow = rg_flow({"majority": "majority"}, probes, spins, beta, lattice, calibrations=calibrations)
    raw = flow[flow["method"] == "raw"].reset_index(drop=True)
    calibrated = flow[flow["method"] == "calibrated"].reset_index(drop=True)
    np.testing.assert_allclose(calibrated["beta_prime"], raw["beta_prime"], atol=1e-6)
    energy = flow[flow["method"] == "energy"]
    assert energy["beta_prime"].isna().all()
    assert energy["flag"].str.contains("energy matching needs the L x L square torus").all()


def test_flow_errors():
    lattice = square(4)
    spins = np.ones((2, 4, 4), np.int8)
    wrong = [build_dense_thermometer(square(8), hidden=4)]
    with pytest.raises(ValueError, match="thermometer expects 8x8 configurations, got 4x4"):
        rg_flow({"decimation": "decimation"}, wrong, spins, 0.4, lattice)
    probes = [magnetisation_probe(level) for level in lattice.rg_levels()]
    with pytest.raises(ValueError, match=r"spins must have shape"):
        rg_flow({"decimation": "decimation"}, probes, np.ones((2, 8, 8), np.int8), 0.4, lattice)
    with pytest.raises(ValueError, match="unknown RG rule 'median'"):
        rg_flow({"median": "median"}, probes, spins, 0.4, lattice)
    with pytest.raises(ValueError, match="returned coarse configurations of shape"):
        rg_flow({"identity": lambda s, lat: s}, probes, spins, 0.4, lattice)
    with pytest.raises(ValueError, match="methods must be"):
        rg_flow({"decimation": "decimation"}, probes, spins, 0.4, lattice, methods=("bayes",))
    with pytest.raises(ValueError, match="need thermometers_by_level"):
        rg_flow({"decimation": "decimation"}, None, spins, 0.4, lattice, methods=("raw",))
    with pytest.raises(ValueError, match="must be \\(Keras model, alignment callable\\)"):
        rg_flow({"pair": (probes[0], probes[1], None)}, probes, spins, 0.4, lattice)
