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


def test_run_seed_smoke_tables_claims_report_and_figure(tmp_path):
    settings = {**study.STUDY.defaults, **study.STUDY.profiles["smoke"]}
    tables = study.run_seed(settings, 0)
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
    assert any("| efnn |" in line for line in study.report(five, settings))
    paths = study.STUDY.figures[0].draw(five, tmp_path / "efnn")
    assert all(p.exists() for p in paths)
