"""Claim C9: effective-field networks predict energies on lattices larger than they were trained on.

Protocol (STUDY.md section 8, after EFNN, arXiv 2502.17665):

- Energy model on the square L x L torus, H = -sum_<ij> s_i s_j - K sum_plaquettes
  s_i s_j s_k s_l (K = 0.5 by default), computed exactly
  (:func:`plaquette_ising_energy`).
- Configurations: Metropolis/Wolff ensembles of the nearest-neighbour Ising
  model (:func:`ising.sampling.sample_ensemble`) at several temperatures plus
  uniformly random ones (T = infinity), labelled with that energy
  (:func:`energy_dataset`). Training and validation sets on 10 x 10, test
  sets at every test size, all from independent chains.
- Models (:mod:`models.efnn`): the lattice EFNN, a convolutional ResNet with
  exactly its parameter count, a DenseNet-style network with the number of
  blocks whose count is closest, and a fixed-size dense network whose width
  matches the count (tested at the training size only). Same data, Adam
  budget, early stopping and readout start for all.
- Measures per model and test size: the per-site RMSE sqrt(MSE)/N, the
  paper's relative error sqrt(MSE)/|mean E|, and sqrt(MSE)/sqrt(N). A model
  whose local errors are independent from site to site has sqrt(MSE) growing
  like sqrt(N): the first two then fall like 1/L by construction and only the
  third stays flat; a systematic per-site bias b makes sqrt(MSE)/N tend to |b|.
  Comparing models at one L, all three order them the same way.

C9 (energy half) is decided per seed on the per-site RMSE at the largest test
size: d_s = RMSE(baseline) - RMSE(EFNN) for each size-agnostic baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims import Claim, Comparison
from analysis.side import SideFigure, SideStudy

__all__ = [
    "plaquette_ising_energy",
    "energy_dataset",
    "train_energy_model",
    "build_models",
    "run_seed",
    "claims",
    "report",
    "plot_error_vs_size",
    "STUDY",
    "MODELS",
    "densenet_parameters",
]

#: Models compared, in table order; "dense" is fixed-size (tested at the training size only).
MODELS = ("efnn", "resnet", "densenet", "dense")
_SIZE_AGNOSTIC_BASELINES = ("resnet", "densenet")
_ROLES = {"train": 0, "validation": 1, "test": 2}


def plaquette_ising_energy(spins, K: float = 0.5, J: float = 1.0) -> np.ndarray:
    """Total energy H = -J sum_<ij> s_i s_j - K sum_plaquettes s_i s_j s_k s_l on the L1 x L2 torus.

    Parameters
    ----------
    spins : array (n, L1, L2) or (L1, L2), values ±1, any numeric dtype
        Each bond (site, right neighbour), (site, neighbour below) and each
        elementary plaquette (site, right, below, below-right) is counted once
        with periodic wrap-around.
    K, J : float
        Plaquette and nearest-neighbour couplings (energy units, k_B = 1).

    Returns
    -------
    float64 (n,) total energies (a scalar array of shape () for one configuration).
    """
    s = np.asarray(spins)
    if s.ndim not in (2, 3) or min(s.shape[-2:]) < 1:
        raise ValueError(f"spins must have shape (n, L1, L2) or (L1, L2), got {s.shape}")
    if not np.all(np.abs(s) == 1):
        raise ValueError("spins must take the values +1 and -1")
    s = s.astype(np.float64)
    right = np.roll(s, -1, axis=-1)
    below = np.roll(s, -1, axis=-2)
    below_right = np.roll(right, -1, axis=-2)
    bonds = (s * right + s * below).sum(axis=(-2, -1))
    plaquettes = (s * right * below * below_right).sum(axis=(-2, -1))
    return -float(J) * bonds - float(K) * plaquettes


def _chain_seed(seed: int, role: str, L: int, k: int) -> int:
    return int(np.random.SeedSequence([int(seed), _ROLES[role], int(L), int(k)]).generate_state(1)[0])


def energy_dataset(
    L: int,
    temperatures,
    n_per_temperature: int,
    n_random: int,
    *,
    K: float = 0.5,
    seed: int = 0,
    role: str = "train",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled configurations of the L x L torus: Ising ensembles at each T plus uniformly random ones.

    One Markov chain per temperature (:func:`ising.sampling.sample_ensemble`,
    nearest-neighbour Ising model, J = 1, h = 0) seeded from ``(seed, role, L,
    index)``, so training, validation and test sets never share a chain.

    Returns
    -------
    spins : int8 (n, L, L), values ±1
    energy : float64 (n,), :func:`plaquette_ising_energy` with coupling ``K``
    temperature : float64 (n,), the sampling temperature (inf for random configurations)
    """
    from ising.lattice import square
    from ising.sampling import sample_ensemble

    if role not in _ROLES:
        raise ValueError(f"role must be one of {tuple(_ROLES)}, got {role!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative integer, got {n_random!r}")
    lattice = square(int(L))
    parts, temps = [], []
    for k, T in enumerate(temperatures):
        ensemble = sample_ensemble(
            lattice, float(T), int(n_per_temperature), seed=_chain_seed(seed, role, L, k)
        )
        parts.append(np.asarray(ensemble.spins, dtype=np.int8))
        temps.append(np.full(int(n_per_temperature), float(T)))
    rng = np.random.default_rng(_chain_seed(seed, role, L, len(temperatures)))
    parts.append((2 * rng.integers(0, 2, size=(int(n_random), int(L), int(L))) - 1).astype(np.int8))
    temps.append(np.full(int(n_random), np.inf))
    spins = np.concatenate(parts)
    return spins, plaquette_ising_energy(spins, K=K), np.concatenate(temps)


def build_models(settings: dict, seed: int) -> dict:
    """The four models of one seed, sizes matched to the EFNN's parameter count.

    ResNet: ``2 * steps`` blocks (two conv-tanh-conv blocks per EFNN step), the
    same count exactly; DenseNet: the number of blocks (1-8) whose count is
    closest; dense: two tanh layers of the width whose count is closest.
    """
    from models.efnn import (
        build_conv_densenet,
        build_conv_resnet,
        build_dense_energy_network,
        build_lattice_efnn,
        count_parameters,
    )

    common = {"channels": settings["channels"], "kernel_size": settings["kernel_size"], "seed": seed}
    efnn = build_lattice_efnn(steps=settings["steps"], **common)
    target = count_parameters(efnn)
    resnet = build_conv_resnet(blocks=2 * settings["steps"], **common)
    blocks = min(
        range(1, 9),
        key=lambda m: abs(densenet_parameters(settings["channels"], settings["kernel_size"], m) - target),
    )
    densenet = build_conv_densenet(blocks=blocks, **common)
    L = settings["train_L"]
    n = L * L
    # Two tanh layers of width h: (n + 1) h + (h + 1) h + h + 1 weights.
    width = max(1, round((-(n + 3) + np.sqrt((n + 3) ** 2 - 4 * (1 - target))) / 2))
    dense = build_dense_energy_network((L, L), hidden=int(width), layers=2, seed=seed)
    return {"efnn": efnn, "resnet": resnet, "densenet": densenet, "dense": dense}


def densenet_parameters(channels: int, kernel_size: int, blocks: int) -> int:
    """Trainable weights of :func:`models.efnn.build_conv_densenet` with m = ``blocks``.

    2 k^2 C (field) + sum_{j=1..m} [k^2 C^2 j + C + k^2 C^2 + C] (block j sees j C channels)
    + k^2 C (m + 1) + 1 (readout).
    """
    k2, C, m = kernel_size**2, channels, blocks
    return 2 * k2 * C + k2 * C * C * (m * (m + 1) // 2 + m) + 2 * C * m + k2 * C * (m + 1) + 1


def _start_at_mean_energy(model, mean_energy_per_site: float, n_sites: int) -> None:
    """Set the readout bias so the untrained model predicts about the training mean energy."""
    if model.name == "dense_energy":
        layer, value = model.get_layer("energy"), mean_energy_per_site * n_sites
    else:
        layer, value = model.get_layer("site_readout"), mean_energy_per_site
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, value)])


def train_energy_model(
    model,
    train,
    validation,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    seed: int,
    eager: bool = False,
) -> dict:
    """Fit ``model`` to total energies (MSE) with Adam in :func:`models.training.fit_with_history`.

    ``train`` and ``validation`` are (spins int8 (n, L, L), energy float64 (n,))
    pairs. The readout starts at the training mean energy; the step is halved
    on a validation plateau; early stopping restores the best epoch. Batches
    are drawn by :class:`models.data.ThermometerData` from its own seeded
    stream, so a run repeats exactly. ``eager`` runs Keras without graph
    tracing: the same arithmetic, faster for a few dozen steps.
    """
    import keras

    from models.data import ThermometerData
    from models.training import fit_with_history

    keras.utils.set_random_seed(int(seed))
    spins, energy = train
    n_sites = int(np.prod(spins.shape[1:]))
    _start_at_mean_energy(model, float(np.mean(energy)) / n_sites, n_sites)
    train_data = ThermometerData(train, batch_size, shuffle=True, flip=False, seed=seed, segment=1)
    val_data = ThermometerData(validation, 1024, shuffle=False, flip=False, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", run_eagerly=eager)
    schedule = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=max(2, patience // 2), min_lr=learning_rate / 32
    )
    return fit_with_history(
        model, train_data, val_data, epochs=epochs, patience=patience, callbacks=(schedule,)
    )


def _errors(model, spins: np.ndarray, energy: np.ndarray) -> dict:
    pred = np.asarray(model.predict(spins.astype(np.float32), batch_size=256, verbose=0), dtype=np.float64)
    residual = pred.reshape(-1) - energy
    n_sites = int(np.prod(spins.shape[1:]))
    rmse = float(np.sqrt(np.mean(residual**2)))
    return {
        "n_sites": n_sites,
        "n_test": int(energy.size),
        "rmse": rmse,
        "rmse_per_site": rmse / n_sites,
        "rmse_per_sqrt_site": rmse / np.sqrt(n_sites),
        "relative_error": rmse / abs(float(np.mean(energy))),
        "bias_per_site": float(np.mean(residual)) / n_sites,
        "energy_sd_per_site": float(np.std(energy)) / n_sites,
        "mean_energy_per_site": float(np.mean(energy)) / n_sites,
    }


def run_seed(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """Train the four models on the training size and test them at every test size.

    Returns ``efnn_errors`` (one row per model and test size: per-site RMSE,
    relative error sqrt(MSE)/|mean E|, bias, the test set's energy spread) and
    ``efnn_models`` (one row per model: parameters, epochs, best validation MSE).
    """
    from models.efnn import count_parameters

    temperatures = settings["temperatures"]
    K = settings["K"]
    L = settings["train_L"]
    train = energy_dataset(
        L, temperatures, settings["n_train_per_t"], settings["n_train_random"], K=K, seed=seed
    )
    validation = energy_dataset(
        L,
        temperatures,
        settings["n_test_per_t"],
        settings["n_test_random"],
        K=K,
        seed=seed,
        role="validation",
    )
    tests = {
        size: energy_dataset(
            size,
            temperatures,
            settings["n_test_per_t"],
            settings["n_test_random"],
            K=K,
            seed=seed,
            role="test",
        )
        for size in settings["test_L"]
    }
    error_rows, model_rows = [], []
    for name, model in build_models(settings, seed).items():
        history = train_energy_model(
            model,
            train[:2],
            validation[:2],
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            patience=settings["patience"],
            seed=seed,
            eager=settings["eager"],
        )
        n_params = count_parameters(model)
        model_rows.append(
            {
                "seed": seed,
                "model": name,
                "architecture": model.name,
                "n_params": n_params,
                "epochs_run": history["epochs_run"],
                "best_epoch": history["best_epoch"],
                "best_val_mse": history["best_val_loss"],
            }
        )
        for size, (spins, energy, _) in tests.items():
            if name == "dense" and size != L:
                continue
            error_rows.append(
                {
                    "seed": seed,
                    "model": name,
                    "L": size,
                    "n_params": n_params,
                    **_errors(model, spins, energy),
                }
            )
    return {"efnn_errors": pd.DataFrame(error_rows), "efnn_models": pd.DataFrame(model_rows)}


def _at_size(L: int):
    def select(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["L"] == L]

    return select


def claims(settings: dict) -> tuple[Claim, ...]:
    """C9 (energies): per seed, per-site RMSE at the largest test size, baseline - EFNN > 0 supports."""
    largest, train_L = max(settings["test_L"]), settings["train_L"]
    deciding = tuple(
        Comparison(
            f"per-site energy RMSE at L={largest} (trained at L={train_L}): {baseline} - EFNN",
            "efnn_errors",
            "rmse_per_site",
            "model",
            baseline,
            "efnn",
            select=_at_size(largest),
        )
        for baseline in _SIZE_AGNOSTIC_BASELINES
    )
    shown = tuple(
        Comparison(
            f"per-site energy RMSE at the training size L={train_L}: {baseline} - EFNN",
            "efnn_errors",
            "rmse_per_site",
            "model",
            baseline,
            "efnn",
            role="shown",
            select=_at_size(train_L),
            note="no extrapolation; the dense baseline exists at this size only",
        )
        for baseline in (*_SIZE_AGNOSTIC_BASELINES, "dense")
    )
    return (
        Claim(
            "C9",
            f"An EFNN trained on {train_L}x{train_L} lattices predicts energies at {largest}x{largest} "
            "with a lower per-site error than residual and dense-block networks of similar size.",
            deciding + shown,
            note="Energy half of C9 only: the EFNN thermometer (temperatures at 4x the training size) "
            "is not run. Same data, optimiser, budget and readout start for every model; ResNet has "
            "exactly the EFNN's parameter count, DenseNet the nearest count its block structure allows "
            "(table efnn_models).",
        ),
    )


def _mean_sd(values: pd.Series) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.4g} ± {sd:.2g}"


def report(tables: dict, settings: dict) -> list[str]:
    """Markdown: protocol, parameter counts, per-site RMSE and relative error per model and L."""
    errors, models = tables.get("efnn_errors"), tables.get("efnn_models")
    lines = [
        f"Energy model H = -Σ_nn s_i s_j - K Σ_plaquettes s_i s_j s_k s_l with K = {settings['K']} on the "
        f"square torus. Training: {settings['train_L']}x{settings['train_L']} configurations from Ising "
        f"ensembles at T = {', '.join(f'{t:g}' for t in settings['temperatures'])} "
        f"({settings['n_train_per_t']} each) plus {settings['n_train_random']} uniformly random ones; "
        f"validation and test sets ({settings['n_test_per_t']} per T plus "
        f"{settings['n_test_random']} random, independent chains) at every test size. All models: periodic "
        f"{settings['kernel_size']}x{settings['kernel_size']} convolutions with C = {settings['channels']} "
        f"channels (EFNN {settings['steps']} steps), Adam lr {settings['learning_rate']:g} halved on "
        f"plateaus, batch {settings['batch_size']}, at most {settings['epochs']} epochs, early stopping "
        f"(patience {settings['patience']}) on the validation MSE, readout bias started at the mean energy.",
        "",
    ]
    if models is not None and len(models):
        counts = models.groupby("model", sort=False).agg(
            n_params=("n_params", "first"), epochs=("epochs_run", "mean"), val=("best_val_mse", "mean")
        )
        lines += [
            "| model | parameters | epochs run (mean) | best validation MSE (mean) |",
            "|---|---|---|---|",
        ]
        lines += [f"| {m} | {int(r.n_params)} | {r.epochs:.1f} | {r.val:.4g} |" for m, r in counts.iterrows()]
        lines.append("")
    if errors is not None and len(errors):
        sizes = sorted(errors["L"].unique())
        lines += [
            "Per-site RMSE sqrt(MSE)/N of the total energy (mean ± sd over seeds); in brackets the paper's "
            "relative error sqrt(MSE)/|mean E|:",
            "",
            "| model | " + " | ".join(f"L = {L}" for L in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        for model, group in errors.groupby("model", sort=False):
            cells = []
            for L in sizes:
                at = group[group["L"] == L]
                cells.append(
                    "—"
                    if at.empty
                    else f"{_mean_sd(at['rmse_per_site'])} ({at['relative_error'].mean():.2%})"
                )
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        spread = errors.groupby("L")["energy_sd_per_site"].mean()
        lines += [
            "",
            "sqrt(MSE)/sqrt(N), flat in L for a model with independent local errors: "
            + "; ".join(
                f"{model} " + ", ".join(f"{v:.3g}" for v in group.groupby("L")["rmse_per_sqrt_site"].mean())
                for model, group in errors.groupby("model", sort=False)
            )
            + f" (L = {', '.join(map(str, sizes))}).",
            "",
            "Scale: the standard deviation of E/N over a test set (the RMSE of predicting a constant) is "
            + ", ".join(f"{spread[L]:.3g} at L = {L}" for L in sizes)
            + ".",
        ]
    lines += [
        "",
        "Both sqrt(MSE)/N and the paper's sqrt(MSE)/|mean E| divide an error that grows like sqrt(N) "
        "(independent local errors) by something that grows like N, so they fall with L for any model that "
        "extrapolates; they do not show extrapolation by falling. The verdict compares models at the same L, "
        "where every normalisation gives the same order. The comparison can fail: the "
        "baselines share the EFNN's quadratic input field, blocks and readout, so only the multiplicative "
        "combination of steps differs. It cannot speak to other Hamiltonians, larger budgets, or the "
        "thermometer half of C9, which is not run here; nor is the paper's 3-spin reproduction.",
    ]
    return lines


def plot_error_vs_size(tables: dict, stem) -> list:
    """Per-site energy RMSE against L for every model (mean ± sd over seeds), from ``efnn_errors``."""
    from analysis.plots import _figure, _require, _save

    df = tables["efnn_errors"]
    _require(df, ["model", "L", "rmse_per_site"], "plot_error_vs_size")
    fig, axes = _figure(1, 1, width=4.2, height=3.4)
    ax = axes[0, 0]
    markers = dict(zip(MODELS, "osD^", strict=True))
    for model, group in df.groupby("model", sort=False):
        stats = group.groupby("L")["rmse_per_site"].agg(["mean", "std"]).reset_index()
        ax.errorbar(
            stats["L"],
            stats["mean"],
            yerr=stats["std"].fillna(0.0),
            marker=markers.get(model, "o"),
            capsize=3,
            label=model if model != "dense" else "dense (fixed size)",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted(df["L"].unique())
    ax.set_xticks(sizes, [str(L) for L in sizes])
    ax.set_xlabel("lattice size L (trained at the smallest)")
    ax.set_ylabel("per-site energy RMSE")
    ax.legend(frameon=False, fontsize="small")
    return _save(fig, stem)


STUDY = SideStudy(
    name="efnn",
    title="Effective-field networks on lattices larger than the training size (C9)",
    defaults={
        "K": 0.5,
        "train_L": 10,
        "test_L": [10, 20, 40],
        "temperatures": [1.5, 2.0, 2.5, 3.0, 4.0],
        "n_train_per_t": 120,
        "n_train_random": 400,
        "n_test_per_t": 40,
        "n_test_random": 40,
        "channels": 4,
        "kernel_size": 3,
        "steps": 1,
        "epochs": 13,
        "batch_size": 64,
        "learning_rate": 5e-3,
        "patience": 6,
        "eager": False,
    },
    profiles={
        "smoke": {
            "test_L": [10, 20],
            "temperatures": [2.0, 3.0],
            "n_train_per_t": 40,
            "n_train_random": 40,
            "n_test_per_t": 10,
            "n_test_random": 10,
            "channels": 2,
            "epochs": 2,
            "batch_size": 40,
            "eager": True,
        },
        "paper": {
            "test_L": [10, 20, 40, 64],
            "n_train_per_t": 2000,
            "n_train_random": 2000,
            "n_test_per_t": 200,
            "n_test_random": 200,
            "channels": 8,
            "kernel_size": 5,
            "steps": 2,
            "epochs": 200,
            "patience": 20,
            "learning_rate": 1e-3,
        },
    },
    own_files=("analysis/efnn.py", "models/efnn.py"),
    sources=(
        "models/layers.py",
        "models/data.py",
        "models/training.py",
        "ising",
    ),
    run_seed=run_seed,
    claims=claims,
    report=report,
    figures=(SideFigure("efnn_error_vs_size", ("efnn_errors",), plot_error_vs_size),),
)
