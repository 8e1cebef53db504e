"""Effective-field networks (claim C9): layers, models, the plaquette energy and the side study."""

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from analysis import efnn as study  # noqa: E402
from analysis.claims import evaluate_claims  # noqa: E402
from models.efnn import (  # noqa: E402
    PeriodicConv2D,
    build_conv_densenet,
    build_conv_resnet,
    build_dense_chain,
    build_dense_efnn,
    build_dense_energy_network,
    build_lattice_efnn,
    count_parameters,
)
from models.thermometers import load_model, save_model  # noqa: E402


def naive_plaquette_energy(spins, K, J=1.0):
    """Loop over sites: bond to the right and below, plaquette with its lower-right corner."""
    L1, L2 = spins.shape
    energy = 0.0
    for i in range(L1):
        for j in range(L2):
            s, r, d = spins[i, j], spins[i, (j + 1) % L2], spins[(i + 1) % L1, j]
            dr = spins[(i + 1) % L1, (j + 1) % L2]
            energy += -J * (s * r + s * d) - K * s * r * d * dr
    return energy


def _spins(rng, n, L1, L2=None):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L1, L2 or L1))


@pytest.mark.parametrize("shape", [(3, 3), (4, 6), (10, 10)])
def test_plaquette_energy_matches_naive_loop(shape):
    rng = np.random.default_rng(1)
    spins = _spins(rng, 5, *shape)
    got = study.plaquette_ising_energy(spins, K=0.5)
    want = [naive_plaquette_energy(s.astype(float), 0.5) for s in spins]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_plaquette_energy_ground_state_and_checkerboard():
    L = 6
    up = np.ones((L, L), dtype=np.int8)
    assert study.plaquette_ising_energy(up, K=0.5) == pytest.approx(-2 * L * L - 0.5 * L * L)
    # Antiferromagnetic checkerboard: every bond -1, every plaquette product +1.
    board = np.where(np.add.outer(np.arange(L), np.arange(L)) % 2 == 0, 1, -1)
    assert study.plaquette_ising_energy(board, K=0.5) == pytest.approx(2 * L * L - 0.5 * L * L)


def test_plaquette_energy_refuses_non_spins():
    with pytest.raises(ValueError, match="values"):
        study.plaquette_ising_energy(np.zeros((3, 3)))


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_periodic_conv_equals_wrap_padding_and_valid_convolution(kernel_size):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 7, 9, 3)).astype(np.float32)
    layer = PeriodicConv2D(4, kernel_size, use_bias=False)
    got = np.asarray(layer(x))
    half = kernel_size // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)), mode="wrap")
    kernel = np.asarray(layer.kernel)  # (k, k, in, out)
    want = np.zeros((2, 7, 9, 4), dtype=np.float64)
    for a in range(kernel_size):
        for b in range(kernel_size):
            want += np.einsum("nijc,co->nijo", padded[:, a : a + 7, b : b + 9, :], kernel[a, b])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_periodic_conv_refuses_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        PeriodicConv2D(2, 4)


THERMO_SETTINGS = {"channels": 3, "kernel_size": 3, "steps": 1, "thermometer_conv_filters": 4}

LATTICE_BUILDERS = [
    lambda: build_lattice_efnn(channels=3, kernel_size=3, steps=2, seed=4),
    lambda: build_lattice_efnn(channels=3, kernel_size=3, steps=1, readout="mean", seed=4),
    lambda: build_conv_resnet(channels=3, kernel_size=3, blocks=2, seed=4),
    lambda: build_conv_densenet(channels=3, kernel_size=3, blocks=2, seed=4),
]


@pytest.mark.parametrize("build", LATTICE_BUILDERS)
def test_lattice_models_are_translation_invariant_and_size_agnostic(build):
    model = build()
    rng = np.random.default_rng(3)
    x = _spins(rng, 3, 10).astype(np.float32)
    shifted = np.roll(x, (3, -4), axis=(1, 2))
    e, e_shift = model.predict(x, verbose=0), model.predict(shifted, verbose=0)
    np.testing.assert_allclose(e_shift, e, rtol=1e-5, atol=1e-4 * np.abs(e).max())
    # The same weights on a 40 x 40 lattice: a 4 x 4 tiling of a 10 x 10 configuration is the same
    # local environment everywhere, so a sum readout gives 16 times the energy and a mean the same value.
    big = np.tile(x, (1, 4, 4))
    factor = 16.0 if model.name.endswith("_sum") else 1.0
    np.testing.assert_allclose(model.predict(big, verbose=0), factor * e, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "build",
    [
        *LATTICE_BUILDERS,
        lambda: build_dense_energy_network((6, 6), hidden=5, seed=1),
        lambda: build_dense_efnn(15, width=6, steps=2, seed=1),
        lambda: build_dense_efnn(15, width=6, steps=2, seed=1, field="spins"),
        lambda: build_dense_chain(15, width=6, layers=2, seed=1),
        lambda: study.build_thermometers(THERMO_SETTINGS, 2)["efnn"],
        lambda: study.build_thermometers(THERMO_SETTINGS, 2)["conv"],
    ],
)
def test_models_round_trip_through_keras_files(build, tmp_path):
    model = build()
    shape = (4, *(d if d is not None else 6 for d in model.input_shape[1:]))
    x = np.random.default_rng(5).choice([-1.0, 1.0], size=shape).astype(np.float32)
    loaded = load_model(save_model(model, tmp_path / "model.keras"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert count_parameters(loaded) == count_parameters(model)


def test_resnet_matches_efnn_count_and_densenet_formula():
    efnn = build_lattice_efnn(channels=4, kernel_size=3, steps=2)
    assert count_parameters(build_conv_resnet(channels=4, kernel_size=3, blocks=4)) == count_parameters(efnn)
    for blocks in (1, 2, 3):
        model = build_conv_densenet(channels=4, kernel_size=5, blocks=blocks)
        assert count_parameters(model) == study.densenet_parameters(4, 5, blocks)


def test_efnn_fits_the_plaquette_energy_better_than_a_constant():
    """A short fit on 6 x 6 lattices must beat the constant predictor (it could fail)."""
    rng = np.random.default_rng(6)
    spins = _spins(rng, 400, 6)
    energy = study.plaquette_ising_energy(spins)
    model = build_lattice_efnn(channels=4, kernel_size=3, steps=1, seed=0)
    history = study.train_energy_model(
        model,
        (spins[:300], energy[:300]),
        (spins[300:], energy[300:]),
        epochs=8,
        batch_size=32,
        learning_rate=5e-3,
        patience=8,
        seed=0,
        eager=True,
    )
    assert history["best_val_loss"] < 0.5 * np.var(energy[300:])


def test_energy_dataset_labels_and_independent_chains():
    spins, energy, T = study.energy_dataset(6, [2.0, 3.0], 5, 4, seed=1)
    assert spins.shape == (14, 6, 6) and spins.dtype == np.int8
    np.testing.assert_allclose(energy, study.plaquette_ising_energy(spins))
    assert np.isinf(T).sum() == 4
    other, _, _ = study.energy_dataset(6, [2.0, 3.0], 5, 4, seed=1, role="test")
    assert not np.array_equal(spins, other)
    again, _, _ = study.energy_dataset(6, [2.0, 3.0], 5, 4, seed=1)
    np.testing.assert_array_equal(spins, again)


def naive_three_spin_energy(spins, couplings_by_triplet):
    energy = 0.0
    for (i, j, k), J in couplings_by_triplet.items():
        energy -= J * spins[i] * spins[j] * spins[k]
    return energy


@pytest.mark.parametrize("values", [(-1, 1), (0, 1)])
def test_three_spin_energy_matches_naive_loop(values):
    triplets, couplings = study.three_spin_couplings(15, seed=3)
    assert triplets.shape == (455, 3) and len({tuple(t) for t in triplets}) == 455
    assert np.all(np.diff(triplets, axis=1) > 0)
    by_triplet = {}
    for i in range(15):
        for j in range(i + 1, 15):
            for k in range(j + 1, 15):
                by_triplet[(i, j, k)] = couplings[len(by_triplet)]
    x, energy = study.three_spin_dataset(20, triplets, couplings, values=values, seed=4)
    assert set(np.unique(x)) == set(values)
    want = [naive_three_spin_energy(row.astype(float), by_triplet) for row in x]
    np.testing.assert_allclose(energy, want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(study.three_spin_energy(x[0], triplets, couplings), want[0], atol=1e-9)


def test_three_spin_couplings_fixed_by_seed_and_ground_state_energy():
    triplets, J = study.three_spin_couplings(15, seed=17)
    _, again = study.three_spin_couplings(15, seed=17)
    np.testing.assert_array_equal(J, again)
    # All spins up (or all sites occupied) gives -sum J; all empty (0, 1 states) gives 0.
    assert study.three_spin_energy(np.ones(15), triplets, J) == pytest.approx(-J.sum())
    assert study.three_spin_energy(np.zeros(15), triplets, J) == 0.0
    # One spin down flips the sign of exactly the C(14, 2) = 91 triplets that contain it.
    s = np.ones(15)
    s[4] = -1
    with_four = np.any(triplets == 4, axis=1)
    assert with_four.sum() == 91
    assert study.three_spin_energy(s, triplets, J) == pytest.approx(-J[~with_four].sum() + J[with_four].sum())


def test_dense_chain_has_the_efnn_blocks_plus_wider_dressing_inputs():
    for width, layers in ((15, 1), (30, 2), (60, 3)):
        efnn = build_dense_efnn(15, width=width, steps=layers, field="spins")
        chain = build_dense_chain(15, width=width, layers=layers)
        assert count_parameters(chain) - count_parameters(efnn) == (width - 15) * width * layers


def test_temperature_grid_is_the_study_grid_with_tc():
    grid = study.temperature_grid({"start": 1.0, "stop": 3.5, "step": 0.1, "include_tc": True})
    assert len(grid) == 27 and grid[0] == 1.0 and grid[-1] == 3.5
    assert any(abs(t - 2.269185314) < 1e-6 for t in grid)


@pytest.mark.parametrize("name", study.THERMOMETERS)
def test_thermometers_translation_invariant_and_same_weights_at_16_and_64(name):
    model = study.build_thermometers(THERMO_SETTINGS, 5)[name]
    rng = np.random.default_rng(7)
    x = _spins(rng, 4, 16).astype(np.float32)
    beta = model.predict(x, verbose=0)
    shifted = model.predict(np.roll(x, (5, -3), axis=(1, 2)), verbose=0)
    np.testing.assert_allclose(shifted, beta, rtol=1e-5, atol=1e-5)
    # A 4 x 4 tiling of a 16 x 16 configuration is a 64 x 64 configuration with the same local
    # environment at every site: a site-mean (or global-average) thermometer must read the same beta.
    np.testing.assert_allclose(model.predict(np.tile(x, (1, 4, 4)), verbose=0), beta, rtol=1e-4, atol=1e-5)
    # Both are even under the global spin flip, which leaves beta unchanged.
    np.testing.assert_allclose(model.predict(-x, verbose=0), beta, rtol=1e-5, atol=1e-5)


def test_thermometer_parameter_counts_matched():
    models = study.build_thermometers(THERMO_SETTINGS, 0)
    efnn, conv = count_parameters(models["efnn"]), count_parameters(models["conv"])
    hidden = models["conv"].get_layer("hidden_1").units
    assert conv == study.conv_thermometer_parameters(4, 2, hidden)
    assert abs(conv - efnn) <= abs(study.conv_thermometer_parameters(4, 2, hidden + 1) - efnn)
    assert abs(conv - efnn) <= abs(study.conv_thermometer_parameters(4, 2, hidden - 1) - efnn)


def test_run_seed_smoke_tables_claims_report_and_figure(tmp_path):
    settings = {**study.STUDY.defaults, **study.STUDY.profiles["smoke"]}
    tables = study.run_seed(settings, 0)
    thermo = tables["efnn_thermometer"]
    assert {"seed", "model", "L", "band", "mse", "bayes_mse", "bayes_ratio", "n_params"} <= set(
        thermo.columns
    )
    reference = f"bayes_L{settings['thermometer_train_L']}"
    assert set(thermo["L"]) == set(settings["thermometer_test_L"])
    assert set(thermo["model"]) == {"efnn", "conv", reference}
    overall = thermo[thermo["band"] == "overall"]
    np.testing.assert_allclose(overall["bayes_ratio"], overall["mse"] / overall["bayes_mse"])
    assert (overall["bayes_ratio"] > 0).all()
    # At the training size the transferred estimator is the Bayes estimator itself: ratio exactly 1.
    ref = overall[overall["model"] == reference].set_index("L")["bayes_ratio"]
    assert ref[settings["thermometer_train_L"]] == pytest.approx(1.0, rel=1e-12)
    spin3 = tables["efnn_three_spin"]
    assert {"seed", "model", "layers", "width", "relative_error", "rmse_over_sd"} <= set(spin3.columns)
    assert set(spin3["model"]) == set(study.THREE_SPIN_MODELS)
    errors, models = tables["efnn_errors"], tables["efnn_models"]
    assert {"seed", "model", "L", "n_params", "rmse_per_site", "relative_error", "rmse_per_sqrt_site"} <= set(
        errors.columns
    )
    assert set(models["model"]) == set(study.MODELS)
    assert set(errors.loc[errors["model"] == "dense", "L"]) == {settings["train_L"]}
    assert set(errors.loc[errors["model"] == "efnn", "L"]) == set(settings["test_L"])
    # Five copies of one seed: enough seeds for the verdict rule to run end to end.
    five = {k: pd.concat([v.assign(seed=s) for s in range(5)], ignore_index=True) for k, v in tables.items()}
    results = evaluate_claims(study.claims(settings), five)
    assert results["C9"]["verdict"] in ("reproduced", "not reproduced", "inconclusive")
    assert all(p["n_seeds"] == 5 for p in results["C9"]["parts"])
    assert len(results["C9"]["parts"]) == len(study.claims(settings)[0].comparisons)
    lines = study.report(five, settings)
    assert any("| efnn |" in line for line in lines) and any("| conv |" in line for line in lines)
    for figure in study.STUDY.figures:
        paths = figure.draw({k: five[k] for k in figure.tables}, tmp_path / figure.name)
        assert all(p.exists() for p in paths)
