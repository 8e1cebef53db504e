import time

import numpy as np
import pandas as pd
import pytest

from analysis import plots
from analysis.correlations import correlation_matrix_table
from analysis.entropy import entropy_table
from analysis.sparsity import receptive_field_table, sparsity_table
from ising.lattice import square

RNG = np.random.default_rng(0)
TEMPERATURES = [2.0, 2.5, 3.0]
SEEDS = [0, 1]


def correlation_matrices():
    frames = [
        correlation_matrix_table(np.corrcoef(RNG.normal(size=(16, 40))), representation=rep, T=T)
        for rep in ("original", "ae_code")
        for T in TEMPERATURES[:2]
    ]
    return pd.concat(frames, ignore_index=True)


def correlation_functions():
    return pd.DataFrame(
        [
            {"representation": rep, "T": T, "seed": seed, "r": r, "C": np.exp(-r / T) + 0.01 * seed}
            for rep in ("original", "decimation")
            for T in TEMPERATURES
            for seed in SEEDS
            for r in range(5)
        ]
    )


def correlation_lengths():
    return pd.DataFrame(
        [
            {"representation": rep, "T": T, "seed": seed, "xi": 5.0 / T + 0.1 * seed + scale, "T_c": 2.269}
            for scale, rep in enumerate(("original", "majority", "ae_code"))
            for T in TEMPERATURES
            for seed in SEEDS
        ]
        + [{"representation": "ae_code", "T": 3.5, "seed": 0, "xi": np.nan, "T_c": 2.269}]
    )


def entropies():
    spins = np.where(RNG.random((20, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    frames = [
        entropy_table(
            {"original": spins, "ae_reconstruction": np.tanh(spins)}, T, exact_entropy=0.3 * T, seed=s
        )
        for T in TEMPERATURES
        for s in SEEDS
    ]
    return pd.concat(frames, ignore_index=True)


def sparsities():
    lattice = square(8)
    decimation = np.zeros((lattice.n_sites, lattice.n_blocks))
    decimation[lattice.representatives, np.arange(lattice.n_blocks)] = 1.0
    frames = [
        sparsity_table({"decimation": decimation, "ae": RNG.normal(size=decimation.shape)}, lattice).assign(
            seed=seed
        )
        for seed in SEEDS
    ]
    return pd.concat(frames, ignore_index=True)


def receptive_fields():
    lattice = square(8)
    weights = {"learned_rg": RNG.normal(size=(64, 16)), "ae": RNG.normal(size=(64, 16))}
    return receptive_field_table(weights, lattice, units=[0, 5, 15])


def rg_flows():
    return pd.DataFrame(
        [
            {"encoder": enc, "step": step, "seed": seed, "beta": b, "beta_prime": b**step * (1 + 0.1 * k)}
            for k, enc in enumerate(("decimation", "majority", "ae"))
            for step in (1, 2)
            for seed in SEEDS
            for b in (0.3, 0.4, 0.5)
        ]
    )


def thermometer_predictions():
    beta = np.repeat([0.3, 0.4, 0.5], 20)
    return pd.DataFrame(
        {
            "model": np.tile(["dense", "conv"], 30),
            "beta": beta,
            "beta_pred": beta + RNG.normal(0, 0.02, beta.size),
            "beta_bayes": beta + RNG.normal(0, 0.015, beta.size),
        }
    )


def training_curves():
    return pd.DataFrame(
        [
            {
                "model": model,
                "init": init,
                "split": split,
                "seed": seed,
                "epoch": e,
                "loss": 1.0 / (e + 1) ** rate,
            }
            for model in ("learned_rg", "autoencoder")
            for rate, init in ((1.0, "transfer"), (0.5, "scratch"))
            for split in ("train", "val")
            for seed in SEEDS
            for e in range(10)
        ]
    )


FIGURES = [
    (plots.plot_correlation_matrices, correlation_matrices, "C"),
    (plots.plot_correlation_function, correlation_functions, "r"),
    (plots.plot_correlation_length, correlation_lengths, "xi"),
    (plots.plot_entropy, entropies, "entropy"),
    (plots.plot_sparsity, sparsities, "gini_std"),
    (plots.plot_receptive_fields, receptive_fields, "weight"),
    (plots.plot_rg_flow, rg_flows, "beta_prime"),
    (plots.plot_thermometer_predictions, thermometer_predictions, "beta_bayes"),
    (plots.plot_training_curves, training_curves, "init"),
]
IDS = [f.__name__ for f, _, _ in FIGURES]


@pytest.mark.parametrize(("plot", "make_table", "_column"), FIGURES, ids=IDS)
def test_figure_is_written_quickly(plot, make_table, _column, tmp_path):
    table = make_table()
    stem = tmp_path / "figures" / plot.__name__
    started = time.perf_counter()
    paths = plot(table, stem)
    elapsed = time.perf_counter() - started
    assert [p.name for p in paths] == [f"{plot.__name__}.png", f"{plot.__name__}.pdf"]
    for path in paths:
        assert path.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert elapsed < 5.0


@pytest.mark.parametrize(("plot", "make_table", "column"), FIGURES, ids=IDS)
def test_missing_column_is_named(plot, make_table, column, tmp_path):
    table = make_table().drop(columns=[column])
    with pytest.raises(ValueError, match=f"'{column}'"):
        plot(table, tmp_path / "figure")


def test_table_after_csv_round_trip_still_plots(tmp_path):
    path = tmp_path / "entropy.csv"
    entropies().to_csv(path, index=False)
    paths = plots.plot_entropy(pd.read_csv(path), tmp_path / "entropy")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_correlation_matrices_from_a_mapping(tmp_path):
    matrices = {"original": np.eye(9), "decimation": -np.eye(4)}
    paths = plots.plot_correlation_matrices(matrices, tmp_path / "matrices")
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="square"):
        plots.plot_correlation_matrices({"bad": np.ones((2, 3))}, tmp_path / "bad")


def test_points_are_means_with_sd_or_the_given_error():
    table = pd.DataFrame({"g": ["a", "a", "b"], "x": [1.0, 3.0, 5.0], "x_std": [0.5, 0.7, 0.1]})
    summary = plots._mean_sd(table, ["g"], "x")
    assert summary["mean"].tolist() == [2.0, 5.0]
    assert summary["err"].tolist() == pytest.approx([np.sqrt(2.0), 0.0])
    assert plots._mean_sd(table, ["g"], "x", "x_std")["err"].tolist() == pytest.approx([0.6, 0.1])


def test_rg_flow_accepts_the_transfer_flow_table(tmp_path):
    table = rg_flows().drop(columns=["seed"]).drop_duplicates(["encoder", "step", "beta"])
    table["beta_prime_std"] = 0.02
    table["n"] = 100
    paths = plots.plot_rg_flow(table, tmp_path / "flow")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_empty_and_non_frame_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plots.plot_training_curves(training_curves().iloc[:0], tmp_path / "empty")
    with pytest.raises(ValueError, match="DataFrame"):
        plots.plot_rg_flow({"encoder": [1]}, tmp_path / "dict")
