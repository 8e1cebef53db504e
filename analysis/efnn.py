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

Thermometers (:func:`run_thermometers`): the EFNN with a site-mean readout and
the study's convolutional thermometer (parameter counts matched) regress
beta = 1/T, trained on L = 16 Ising ensembles of the study's temperature grid
and applied with the same weights at L = 16, 32, 64; the measure is the Bayes
ratio, model MSE / MSE of the Bayes-optimal estimate from the energy with the
exact ln Z_L (:mod:`models.evaluation`).

Reproduction (:func:`run_three_spin`): the paper's 3-spin infinite-range model
(15 spins, all 455 triplets, J ~ N(1, 2^2)) with the dense EFNN against the
authors' plain dense chain of the same width, 1-3 layers; relative error
sqrt(MSE) / |mean E| as the authors compute it.

C9 is decided per seed at the largest test sizes: d_s = RMSE(baseline) -
RMSE(EFNN) per site for each size-agnostic energy baseline, and d_s = Bayes
ratio(conv) - Bayes ratio(EFNN) for the thermometers.
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
    "plot_bayes_ratio_vs_size",
    "plot_three_spin",
    "ising_ensembles",
    "run_energy",
    "temperature_grid",
    "conv_thermometer_parameters",
    "build_thermometers",
    "run_thermometers",
    "three_spin_couplings",
    "three_spin_energy",
    "three_spin_dataset",
    "build_three_spin_model",
    "run_three_spin",
    "THERMOMETERS",
    "THREE_SPIN_MODELS",
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


def ising_ensembles(
    L: int, temperatures, n_per_temperature: int, *, seed: int = 0, role: str = "train"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equilibrium configurations of the nearest-neighbour Ising model on the L x L torus (J = 1, h = 0).

    One Markov chain per temperature (:func:`ising.sampling.sample_ensemble`)
    seeded from ``(seed, role, L, index)``, so training, validation and test
    sets never share a chain.

    Returns
    -------
    spins : int8 (n, L, L), values ±1
    energy : float64 (n,), total nearest-neighbour energy -sum_<ij> s_i s_j
    temperature : float64 (n,), the chain's temperature
    """
    from ising.lattice import square
    from ising.sampling import sample_ensemble

    if role not in _ROLES:
        raise ValueError(f"role must be one of {tuple(_ROLES)}, got {role!r}")
    lattice = square(int(L))
    spins, energy, temps = [], [], []
    for k, T in enumerate(temperatures):
        ensemble = sample_ensemble(
            lattice, float(T), int(n_per_temperature), seed=_chain_seed(seed, role, L, k)
        )
        spins.append(np.asarray(ensemble.spins, dtype=np.int8))
        energy.append(np.asarray(ensemble.energy, dtype=np.float64))
        temps.append(np.full(int(n_per_temperature), float(T)))
    if not spins:
        return np.empty((0, int(L), int(L)), dtype=np.int8), np.empty(0), np.empty(0)
    return np.concatenate(spins), np.concatenate(energy), np.concatenate(temps)


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

    The ensembles are :func:`ising_ensembles` (one chain per temperature,
    seeded from ``(seed, role, L, index)``); the random configurations come
    from the stream ``(seed, role, L, len(temperatures))``.

    Returns
    -------
    spins : int8 (n, L, L), values ±1
    energy : float64 (n,), :func:`plaquette_ising_energy` with coupling ``K``
    temperature : float64 (n,), the sampling temperature (inf for random configurations)
    """
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative integer, got {n_random!r}")
    sampled, _, temps = ising_ensembles(L, temperatures, n_per_temperature, seed=seed, role=role)
    rng = np.random.default_rng(_chain_seed(seed, role, L, len(temperatures)))
    random = (2 * rng.integers(0, 2, size=(int(n_random), int(L), int(L))) - 1).astype(np.int8)
    spins = np.concatenate([sampled, random])
    temps = np.concatenate([temps, np.full(int(n_random), np.inf)])
    return spins, plaquette_ising_energy(spins, K=K), temps


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
    """Set the readout bias so the untrained model predicts about the training mean energy.

    Lattice models (a ``"site_readout"`` convolution) get the mean per site;
    models with a single ``"energy"`` unit get the mean total.
    """
    names = {layer.name for layer in model.layers}
    if "site_readout" in names:
        layer, value = model.get_layer("site_readout"), mean_energy_per_site
    else:
        layer, value = model.get_layer("energy"), mean_energy_per_site * n_sites
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


def _training_row(model, name: str, history: dict, seed: int) -> dict:
    """One row of a ``*_models`` table: parameters, epochs run, best epoch and validation MSE."""
    from models.efnn import count_parameters

    return {
        "seed": seed,
        "model": name,
        "architecture": model.name,
        "n_params": count_parameters(model),
        "epochs_run": history["epochs_run"],
        "best_epoch": history["best_epoch"],
        "best_val_mse": history["best_val_loss"],
    }


# --------------------------------------------------------------------------- thermometers
#: Thermometers compared: the EFNN with a site-mean readout and the study's convolutional one.
THERMOMETERS = ("efnn", "conv")


def temperature_grid(spec: dict) -> list[float]:
    """Temperatures start, start + step, ..., stop (plus T_c of the square lattice with ``include_tc``).

    ``spec`` has the keys of the study's ``temperatures`` section (STUDY.md
    section 1: 1.0 ... 3.5 in steps of 0.1, plus T_c = 2 / ln(1 + sqrt 2)).
    """
    from ising.exact import onsager_critical_temperature

    start, stop, step = float(spec["start"]), float(spec["stop"]), float(spec["step"])
    if step <= 0 or stop < start or start <= 0:
        raise ValueError(f"temperature grid needs 0 < start <= stop and step > 0, got {spec}")
    temps = list(np.round(np.arange(start, stop + step / 2, step), 10))
    if spec.get("include_tc"):
        temps.append(onsager_critical_temperature())
    return sorted({round(float(t), 10) for t in temps})


def conv_thermometer_parameters(filters: int, kernel_size: int, hidden: int, ndim: int = 2) -> int:
    """Trainable weights of :func:`models.thermometers.build_conv_thermometer`.

    k^d F (bias-free convolution) + (F + 1) h + (h + 1) h + h + 1 (two hidden layers and the output).
    """
    return kernel_size**ndim * filters + (filters + 1) * hidden + (hidden + 1) * hidden + hidden + 1


def build_thermometers(settings: dict, seed: int) -> dict:
    """The EFNN thermometer and the convolutional thermometer of one seed, parameter counts matched.

    EFNN: :func:`models.efnn.build_lattice_efnn` with the energy model's
    channels, kernel and steps and the site-mean readout. Convolutional:
    :func:`models.thermometers.build_conv_thermometer` with the study's
    filters and nearest-neighbour kernel (2) and the hidden width whose
    parameter count is closest to the EFNN's.
    """
    from models.efnn import build_lattice_efnn, count_parameters
    from models.thermometers import build_conv_thermometer

    efnn = build_lattice_efnn(
        channels=settings["channels"],
        kernel_size=settings["kernel_size"],
        steps=settings["steps"],
        readout="mean",
        seed=seed,
    )
    filters, kernel = settings["thermometer_conv_filters"], 2
    target = count_parameters(efnn)
    hidden = min(range(1, 1025), key=lambda h: abs(conv_thermometer_parameters(filters, kernel, h) - target))
    conv = build_conv_thermometer(2, filters=filters, kernel_size=kernel, hidden=hidden, seed=seed)
    return {"efnn": efnn, "conv": conv}


def _start_at_mean_beta(model, mean_beta: float) -> None:
    """Readout bias at the training mean of beta, for both thermometers alike."""
    names = {layer.name for layer in model.layers}
    layer = model.get_layer("site_readout" if "site_readout" in names else "beta")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, mean_beta)])


def _ratio_rows(seed: int, model: str, L: int, metrics: dict, bayes, n_params: int) -> list[dict]:
    """Rows of ``efnn_thermometer``: MSE, Bayes MSE and their ratio per temperature band."""
    from models.evaluation import BANDS, figure_of_merit

    ratio = figure_of_merit(metrics, bayes)
    return [
        {
            "seed": seed,
            "model": model,
            "L": L,
            "band": band,
            "n": metrics[band]["n"],
            "mse": metrics[band]["mse"],
            "bayes_mse": bayes.metrics[band]["mse"],
            "bayes_ratio": np.nan if ratio[band] is None else ratio[band],
            "n_params": n_params,
        }
        for band in BANDS
    ]


def run_thermometers(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """Train both thermometers at ``thermometer_train_L`` and measure their Bayes ratio at every test L.

    Data: :func:`ising_ensembles` at every temperature of the grid, separate
    chains for training, validation and test (test chains at each test L).
    Training: :func:`models.training.train_thermometer` (the study's
    thermometer training: Adam, MSE of beta, random global flips, step halved
    on plateaus, early stopping on the validation MSE) with the same data,
    seed and budget for both. Evaluation at each L with the same weights:
    :func:`models.evaluation.evaluate_thermometer` against
    :func:`models.evaluation.bayes_limit` (posterior mean of beta from the
    energy with Kaufman's exact ln Z_L, uniform prior on the grid), ratio
    model MSE / Bayes MSE overall and per temperature band.

    ``efnn_thermometer`` also holds, as model ``"bayes_L<train_L>"`` with 0
    parameters, the training size's Bayes estimator applied to the energy per
    site at every L: the floor for any thermometer that learns beta as a
    function of E/N at the training size (its posterior is too broad at larger L).

    Returns ``efnn_thermometer`` (one row per model, L and band) and
    ``efnn_thermometer_models`` (one row per trained model).
    """
    from ising.exact import bayes_beta_estimate
    from ising.lattice import square
    from models.evaluation import bayes_limit, evaluate_thermometer
    from models.thermometers import predict_beta
    from models.training import train_thermometer

    temperatures = temperature_grid(settings["thermometer_temperatures"])
    L = settings["thermometer_train_L"]
    train_spins, _, train_T = ising_ensembles(
        L, temperatures, settings["thermometer_n_train_per_t"], seed=seed, role="train"
    )
    val_spins, _, val_T = ising_ensembles(
        L, temperatures, settings["thermometer_n_val_per_t"], seed=seed, role="validation"
    )
    tests = {
        size: ising_ensembles(
            size, temperatures, settings["thermometer_n_test_per_t"], seed=seed, role="test"
        )
        for size in settings["thermometer_test_L"]
    }
    bayes = {
        size: bayes_limit(square(int(size)), energy, 1.0 / T, T=T) for size, (_, energy, T) in tests.items()
    }
    # Reference: the training size's Bayes estimator read off the energy per site at every L,
    # the best any thermometer can do that learns beta as a function of E/N at L = train_L.
    beta_grid = 1.0 / np.asarray(temperatures)
    log_z_train = square(int(L)).exact_log_z(beta_grid, 1.0)
    rows = []
    for size, (_, energy, T) in tests.items():
        transferred = bayes_beta_estimate(energy * (L * L) / (size * size), beta_grid, log_z_train)
        metrics = evaluate_thermometer(1.0 / T, transferred, T)
        rows += _ratio_rows(seed, f"bayes_L{L}", size, metrics, bayes[size], 0)
    model_rows = []
    for name, model in build_thermometers(settings, seed).items():
        _start_at_mean_beta(model, float(np.mean(1.0 / train_T)))
        history = train_thermometer(
            model,
            (train_spins, 1.0 / train_T),
            (val_spins, 1.0 / val_T),
            epochs=settings["thermometer_epochs"],
            batch_size=settings["thermometer_batch_size"],
            patience=settings["thermometer_patience"],
            learning_rate=settings["thermometer_learning_rate"],
            seed=seed,
        )
        model_rows.append(_training_row(model, name, history, seed))
        n_params = model_rows[-1]["n_params"]
        for size, (spins, _, T) in tests.items():
            metrics = evaluate_thermometer(1.0 / T, predict_beta(model, spins), T)
            rows += _ratio_rows(seed, name, size, metrics, bayes[size], n_params)
    return {
        "efnn_thermometer": pd.DataFrame(rows),
        "efnn_thermometer_models": pd.DataFrame(model_rows),
    }


# --------------------------------------------------------------------------- 3-spin reproduction
#: Models of the reproduction: the dense EFNN (S0 = the spins) and the authors' plain dense chain.
THREE_SPIN_MODELS = ("efnn", "dense")


def three_spin_couplings(
    n_spins: int = 15, seed: int = 17, mean: float = 1.0, sd: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """All C(n, 3) triplets i < j < k (lexicographic order) and couplings J ~ N(mean, sd^2) drawn once.

    Returns int64 (C(n, 3), 3) triplets and float64 (C(n, 3),) couplings from
    ``numpy.random.default_rng(seed)``.
    """
    from itertools import combinations

    if isinstance(n_spins, bool) or not isinstance(n_spins, (int, np.integer)) or n_spins < 3:
        raise ValueError(f"n_spins must be an integer >= 3, got {n_spins!r}")
    if not sd >= 0:
        raise ValueError(f"sd must be non-negative, got {sd!r}")
    triplets = np.array(list(combinations(range(int(n_spins)), 3)), dtype=np.int64)
    couplings = np.random.default_rng(int(seed)).normal(float(mean), float(sd), size=len(triplets))
    return triplets, couplings


def three_spin_energy(spins, triplets, couplings) -> np.ndarray:
    """E = -sum_t J_t s_i s_j s_k over the triplets t = (i, j, k) (the 3-spin infinite-range model).

    spins: (n, N) or (N,), any numeric values (±1 spins or 0/1 occupations);
    triplets int (K, 3) site indices; couplings float (K,). Returns float64 (n,)
    (shape () for one configuration).
    """
    s = np.asarray(spins, dtype=np.float64)
    triplets = np.asarray(triplets)
    couplings = np.asarray(couplings, dtype=np.float64)
    if triplets.ndim != 2 or triplets.shape[1] != 3 or couplings.shape != (len(triplets),):
        raise ValueError(
            f"triplets must be (K, 3) and couplings (K,), got {triplets.shape} and {couplings.shape}"
        )
    if s.ndim not in (1, 2) or (triplets.size and triplets.max() >= s.shape[-1]):
        raise ValueError(f"spins must be (n, N) or (N,) with N > every triplet index, got {s.shape}")
    products = s[..., triplets[:, 0]] * s[..., triplets[:, 1]] * s[..., triplets[:, 2]]
    return -(products @ couplings)


def three_spin_dataset(
    n_samples: int, triplets, couplings, *, n_spins: int = 15, values=(0, 1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly random configurations of the 3-spin model and their energies.

    ``values`` are the two spin states: (0, 1) as in the authors' data generator
    (its energies have mean -sum J / 8, so the relative error has a scale), or
    (-1, 1) Ising spins (mean energy 0: the paper's relative error is then
    undefined). Returns float32 (n, n_spins) configurations and float64 (n,) energies.
    """
    if len(values) != 2 or values[0] == values[1]:
        raise ValueError(f"values must be two distinct spin states, got {values!r}")
    rng = np.random.default_rng(int(seed))
    x = np.asarray(values, dtype=np.float32)[rng.integers(0, 2, size=(int(n_samples), int(n_spins)))]
    return x, three_spin_energy(x, triplets, couplings)


def build_three_spin_model(name: str, width: int, layers: int, seed: int, n_spins: int = 15):
    """``"efnn"``: :func:`models.efnn.build_dense_efnn` with S0 = the spins; ``"dense"``: the chain.

    The chain is :func:`models.efnn.build_dense_chain`, the authors' dense baseline.
    """
    from models.efnn import build_dense_chain, build_dense_efnn

    if name == "efnn":
        return build_dense_efnn(n_spins, width=width, steps=layers, seed=seed, field="spins")
    if name == "dense":
        return build_dense_chain(n_spins, width=width, layers=layers, seed=seed)
    raise ValueError(f"unknown 3-spin model {name!r}; known: {', '.join(THREE_SPIN_MODELS)}")


def run_three_spin(settings: dict, seed: int) -> pd.DataFrame:
    """The paper's benchmark: dense EFNN against a dense chain of the same width, for each depth and width.

    Couplings are fixed (``three_spin_coupling_seed``); each study seed draws
    its own configurations (split 80/20 into training and test; the last tenth
    of the training part is the validation set for early stopping) and seeds
    the networks. Measures on the test set: the paper's relative error
    sqrt(MSE) / |mean E_train| and sqrt(MSE) / sd(E_test) (1 = predicting the mean).
    """
    from models.efnn import count_parameters

    triplets, couplings = three_spin_couplings(15, settings["three_spin_coupling_seed"])
    x, energy = three_spin_dataset(
        settings["three_spin_samples"],
        triplets,
        couplings,
        values=tuple(settings["three_spin_values"]),
        seed=int(np.random.SeedSequence([int(seed), 3]).generate_state(1)[0]),
    )
    n_train = int(0.8 * len(x))
    n_fit = n_train - n_train // 10
    scale = abs(float(np.mean(energy[:n_train])))
    sd = float(np.std(energy[n_train:]))
    rows = []
    for layers in settings["three_spin_layers"]:
        for width in settings["three_spin_widths"]:
            for name in THREE_SPIN_MODELS:
                model = build_three_spin_model(name, int(width), int(layers), seed)
                history = train_energy_model(
                    model,
                    (x[:n_fit], energy[:n_fit]),
                    (x[n_fit:n_train], energy[n_fit:n_train]),
                    epochs=settings["three_spin_epochs"],
                    batch_size=settings["three_spin_batch_size"],
                    learning_rate=settings["three_spin_learning_rate"],
                    patience=settings["three_spin_patience"],
                    seed=seed,
                    eager=settings["eager"],
                )
                pred = model.predict(x[n_train:], batch_size=1024, verbose=0).reshape(-1)
                rmse = float(np.sqrt(np.mean((pred.astype(np.float64) - energy[n_train:]) ** 2)))
                rows.append(
                    {
                        "seed": seed,
                        "model": name,
                        "layers": int(layers),
                        "width": int(width),
                        "n_params": count_parameters(model),
                        "epochs_run": history["epochs_run"],
                        "rmse": rmse,
                        "relative_error": rmse / scale,
                        "rmse_over_sd": rmse / sd,
                    }
                )
    return pd.DataFrame(rows)


def run_energy(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """Train the four energy models on the training size and test them at every test size.

    Returns ``efnn_errors`` (one row per model and test size: per-site RMSE,
    relative error sqrt(MSE)/|mean E|, bias, the test set's energy spread) and
    ``efnn_models`` (one row per model: parameters, epochs, best validation MSE).
    """

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
        model_rows.append(_training_row(model, name, history, seed))
        n_params = model_rows[-1]["n_params"]
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


def run_seed(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """All work of one seed: energies, thermometers and the 3-spin reproduction.

    The tables of :func:`run_energy` and :func:`run_thermometers`, and
    ``efnn_three_spin`` from :func:`run_three_spin`.
    """
    return {
        **run_energy(settings, seed),
        **run_thermometers(settings, seed),
        "efnn_three_spin": run_three_spin(settings, seed),
    }


def _at_size(L: int):
    def select(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["L"] == L]

    return select


def _overall_at_size(L: int):
    def select(df: pd.DataFrame) -> pd.DataFrame:
        return df[(df["L"] == L) & (df["band"] == "overall")]

    return select


def _depth(layers: int):
    def select(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["layers"] == layers]

    return select


def claims(settings: dict) -> tuple[Claim, ...]:
    """C9: per seed, baseline - EFNN > 0 supports, for energies and temperatures at the largest size.

    Deciding: per-site energy RMSE at the largest energy test size (ResNet and
    DenseNet against the EFNN) and the thermometer's Bayes ratio at the largest
    thermometer test size (convolutional against EFNN). Shown: the same at the
    training sizes and the 3-spin reproduction's relative error per depth.
    """
    largest, train_L = max(settings["test_L"]), settings["train_L"]
    t_largest, t_train = max(settings["thermometer_test_L"]), settings["thermometer_train_L"]
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
    ) + (
        Comparison(
            f"thermometer Bayes ratio (MSE / Bayes MSE) at L={t_largest} (trained at L={t_train}): "
            "conv - EFNN",
            "efnn_thermometer",
            "bayes_ratio",
            "model",
            "conv",
            "efnn",
            select=_overall_at_size(t_largest),
            note="conv thermometer's hidden width chosen to match the EFNN's parameter count",
        ),
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
    shown += tuple(
        Comparison(
            f"thermometer Bayes ratio at L={size} (trained at L={t_train}): conv - EFNN",
            "efnn_thermometer",
            "bayes_ratio",
            "model",
            "conv",
            "efnn",
            role="shown",
            select=_overall_at_size(size),
        )
        for size in settings["thermometer_test_L"]
        if size != t_largest
    )
    shown += tuple(
        Comparison(
            f"3-spin model, relative error sqrt(MSE)/|mean E|, {layers} layer(s), mean over widths "
            f"{', '.join(map(str, settings['three_spin_widths']))}: dense - EFNN",
            "efnn_three_spin",
            "relative_error",
            "model",
            "dense",
            "efnn",
            role="shown",
            select=_depth(layers),
            note="reproduction of the paper's dense benchmark (no lattice, no extrapolation)",
        )
        for layers in settings["three_spin_layers"]
    )
    return (
        Claim(
            "C9",
            f"An EFNN trained on {train_L}x{train_L} lattices predicts energies at {largest}x{largest} "
            "with a lower per-site error than residual and dense-block networks of similar size, and an "
            f"EFNN thermometer trained at {t_train}x{t_train} is closer to the Bayes limit at "
            f"{t_largest}x{t_largest} than a convolutional thermometer of similar size.",
            deciding + shown,
            note="Same data, optimiser, budget and readout start for the models of each comparison; ResNet "
            "has exactly the EFNN's parameter count, DenseNet and the convolutional thermometer the nearest "
            "count their structure allows (tables efnn_models, efnn_thermometer_models).",
        ),
    )


def _grid_rows(df: pd.DataFrame, by, column: str, values, cell) -> list[str]:
    """Markdown rows: one per group of ``by`` (its keys first), one cell per value of ``column``.

    ``cell(rows)`` formats the group's rows at that value; a value the group lacks shows "—".
    """
    lines = []
    for key, group in df.groupby(by, sort=False):
        keys = key if isinstance(key, tuple) else (key,)
        cells = ["—" if (at := group[group[column] == value]).empty else cell(at) for value in values]
        lines.append("| " + " | ".join(str(k) for k in (*keys, *cells)) + " |")
    return lines


def _mean_sd(values: pd.Series) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.4g} ± {sd:.2g}"


def _training_table(models: pd.DataFrame | None, kind: str) -> list[str]:
    """Markdown: parameters, epochs run and best validation MSE per model (means over seeds)."""
    if models is None or not len(models):
        return []
    counts = models.groupby("model", sort=False).agg(
        n_params=("n_params", "first"), epochs=("epochs_run", "mean"), val=("best_val_mse", "mean")
    )
    lines = [f"| {kind} | parameters | epochs run (mean) | best validation MSE (mean) |", "|---|---|---|---|"]
    lines += [f"| {m} | {int(r.n_params)} | {r.epochs:.1f} | {r.val:.4g} |" for m, r in counts.iterrows()]
    return [*lines, ""]


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
    lines += _training_table(models, "model")
    if errors is not None and len(errors):
        sizes = sorted(errors["L"].unique())
        lines += [
            "Per-site RMSE sqrt(MSE)/N of the total energy (mean ± sd over seeds); in brackets the paper's "
            "relative error sqrt(MSE)/|mean E|:",
            "",
            "| model | " + " | ".join(f"L = {L}" for L in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        lines += _grid_rows(
            errors,
            "model",
            "L",
            sizes,
            lambda at: f"{_mean_sd(at['rmse_per_site'])} ({at['relative_error'].mean():.2%})",
        )
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
        "combination of steps differs. It cannot speak to other Hamiltonians or larger budgets.",
    ]
    if 64 not in settings["test_L"]:
        lines += [
            "",
            "The 64x64 energy test runs in the paper profile only: its Monte Carlo test chains (a pilot run "
            "of 2500 tau_int per temperature) cost more than this profile's budget.",
        ]
    lines += _thermometer_report(tables, settings)
    lines += _three_spin_report(tables, settings)
    return lines


def _thermometer_report(tables: dict, settings: dict) -> list[str]:
    """Markdown: the thermometers' protocol and Bayes ratios per model and L (and per band)."""
    ratios, models = tables.get("efnn_thermometer"), tables.get("efnn_thermometer_models")
    temps = temperature_grid(settings["thermometer_temperatures"])
    L = settings["thermometer_train_L"]
    lines = [
        "",
        "**Thermometers.** The EFNN with a site-mean readout (same channels, kernel and steps as above) "
        "and the study's convolutional thermometer (periodic 2x2 bond filters, "
        f"{settings['thermometer_conv_filters']} filters, global average, two ReLU layers whose width "
        "matches the EFNN's parameter count) regress beta = 1/T. Both are trained on the same "
        f"{L}x{L} Ising ensembles ({len(temps)} temperatures {temps[0]:g} ... {temps[-1]:g} with T_c, "
        f"{settings['thermometer_n_train_per_t']} configurations each, "
        f"{settings['thermometer_n_val_per_t']} per T from other chains for validation) with the study's "
        f"thermometer training (Adam lr {settings['thermometer_learning_rate']:g}, MSE, random global "
        f"flips, batch {settings['thermometer_batch_size']}, at most {settings['thermometer_epochs']} "
        f"epochs), and applied with the same weights to test chains ({settings['thermometer_n_test_per_t']} "
        f"per T) at L = {', '.join(map(str, settings['thermometer_test_L']))}. The Bayes ratio is the "
        "model's MSE of beta over the MSE of the posterior mean of beta given the energy, with Kaufman's "
        "exact ln Z_L and a uniform prior on the grid (1 is the floor; the Bayes MSE falls like 1/N).",
        "",
    ]
    lines += _training_table(models, "thermometer")
    if ratios is not None and len(ratios):
        overall = ratios[ratios["band"] == "overall"]
        sizes = sorted(overall["L"].unique())
        lines += [
            "Bayes ratio (mean ± sd over seeds), overall; last row the Bayes MSE itself:",
            "",
            "| thermometer | " + " | ".join(f"L = {s}" for s in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        for model, group in overall.groupby("model", sort=False):
            cells = [_mean_sd(group.loc[group["L"] == s, "bayes_ratio"]) for s in sizes]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        bayes = overall.groupby("L")["bayes_mse"].mean()
        lines.append("| Bayes MSE | " + " | ".join(f"{bayes[s]:.3g}" for s in sizes) + " |")
        bands = ratios[ratios["band"] != "overall"]
        band_names = list(dict.fromkeys(bands["band"]))
        lines += [
            "",
            "Bayes ratio per temperature band (mean over seeds):",
            "",
            "| thermometer | L | " + " | ".join(band_names) + " |",
            "|---|---|" + "---|" * len(band_names),
        ]
        table = bands.groupby(["model", "L", "band"], sort=False)["bayes_ratio"].mean()
        for (model, size), _ in bands.groupby(["model", "L"], sort=False):
            cells = [f"{table[(model, size, b)]:.3g}" for b in band_names]
            lines.append(f"| {model} | {size} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "A ratio that grows with L means the network's error does not shrink with the thermal "
        "fluctuations: a systematic error of the map from configuration to beta learned at the training "
        "size. The comparison could go either way; it rests on matched parameter counts, one training "
        "size and one budget.",
    ]
    return lines


def _three_spin_report(tables: dict, settings: dict) -> list[str]:
    """Markdown: the 3-spin reproduction's relative errors per model, depth and width."""
    df = tables.get("efnn_three_spin")
    lines = [
        "",
        "**Reproduction: the 3-spin infinite-range model.** N = 15 spins with states "
        f"{tuple(settings['three_spin_values'])}, all C(15, 3) = 455 triplets, E = -Σ J_ijk s_i s_j s_k "
        f"with J_ijk ~ N(1, 2²) drawn once (seed {settings['three_spin_coupling_seed']}); "
        f"{settings['three_spin_samples']} uniformly random configurations per seed, 80 % for training "
        "(its last tenth for early stopping) and 20 % for testing. Dense EFNN (S0 = the spins, "
        "S_i = NL_i(S_{i-1}) ⊙ G_i(S0), linear readout) against the authors' plain dense chain of the same "
        "blocks without the product, same width and depth; Adam lr "
        f"{settings['three_spin_learning_rate']:g} halved on plateaus, batch "
        f"{settings['three_spin_batch_size']}, at most {settings['three_spin_epochs']} epochs. "
        "Relative error as the authors compute it: sqrt(test MSE) / |mean training E|.",
        "",
    ]
    if df is not None and len(df):
        widths = sorted(df["width"].unique())
        lines += [
            "Relative error (mean ± sd over seeds); parameters in brackets:",
            "",
            "| model | layers | " + " | ".join(f"width {w}" for w in widths) + " |",
            "|---|---|" + "---|" * len(widths),
        ]
        lines += _grid_rows(
            df,
            ["model", "layers"],
            "width",
            widths,
            lambda at: (
                f"{at['relative_error'].mean():.2%} ± {at['relative_error'].std(ddof=1):.1%} "
                f"({int(at['n_params'].iloc[0])})"
            ),
        )
        lines += [
            "",
            "sqrt(MSE) / sd(E) over the test set (1 = predicting the mean), mean over seeds and widths: "
            + "; ".join(
                f"{model} {layers} layer(s) {g['rmse_over_sd'].mean():.3g}"
                for (model, layers), g in df.groupby(["model", "layers"], sort=False)
            )
            + ".",
        ]
    lines += [
        "",
        "The authors report the EFNN at a few per cent relative error on this benchmark, well below "
        "the dense network. The relative error depends on the energy's offset: with (0, 1) states, as "
        "in the authors' data generator, |mean E| ≈ |Σ J| / 8; with ±1 spins the mean energy is zero "
        "and the measure is undefined, so sqrt(MSE)/sd(E) is given beside it.",
    ]
    return lines


def _plot_against_size(df: pd.DataFrame, column: str, labels: dict, ylabel: str, stem, floor=None) -> list:
    """``column`` (mean ± sd over seeds) against L on log-log axes, one line per ``model``."""
    from analysis.plots import _figure, _save

    fig, axes = _figure(1, 1, width=4.2, height=3.4)
    ax = axes[0, 0]
    for (model, group), marker in zip(df.groupby("model", sort=False), "osD^v", strict=False):
        stats = group.groupby("L")[column].agg(["mean", "std"]).reset_index()
        ax.errorbar(
            stats["L"],
            stats["mean"],
            yerr=stats["std"].fillna(0.0),
            marker=marker,
            capsize=3,
            label=labels.get(model, model),
        )
    if floor is not None:
        ax.axhline(floor, color="0.5", lw=0.8, ls="--", label="Bayes limit")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted(df["L"].unique())
    ax.set_xticks(sizes, [str(L) for L in sizes])
    ax.set_xlabel("lattice size L (trained at the smallest)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize="small")
    return _save(fig, stem)


def plot_error_vs_size(tables: dict, stem) -> list:
    """Per-site energy RMSE against L for every model (mean ± sd over seeds), from ``efnn_errors``."""
    from analysis.plots import _require

    df = tables["efnn_errors"]
    _require(df, ["model", "L", "rmse_per_site"], "plot_error_vs_size")
    labels = {"dense": "dense (fixed size)"}
    return _plot_against_size(df, "rmse_per_site", labels, "per-site energy RMSE", stem)


def plot_bayes_ratio_vs_size(tables: dict, stem) -> list:
    """Thermometers' Bayes ratio (overall) against L, one line per model (mean ± sd over seeds)."""
    from analysis.plots import _require

    df = tables["efnn_thermometer"]
    _require(df, ["model", "L", "band", "bayes_ratio"], "plot_bayes_ratio_vs_size")
    labels = {"efnn": "EFNN (site mean)", "conv": "convolutional"}
    labels.update({m: f"Bayes of L={m[7:]} on E/N" for m in df["model"].unique() if m.startswith("bayes_L")})
    ylabel = "MSE of beta / Bayes-optimal MSE"
    return _plot_against_size(df[df["band"] == "overall"], "bayes_ratio", labels, ylabel, stem, floor=1.0)


def plot_three_spin(tables: dict, stem) -> list:
    """3-spin reproduction: relative error against width, colour per model, marker and line per depth."""
    from analysis.plots import _figure, _require, _save

    df = tables["efnn_three_spin"]
    _require(df, ["model", "layers", "width", "relative_error"], "plot_three_spin")
    fig, axes = _figure(1, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    colours = {"efnn": "C0", "dense": "C3"}
    styles = {1: ("o", "-"), 2: ("s", "--"), 3: ("^", ":")}
    for (model, layers), group in df.groupby(["model", "layers"], sort=False):
        stats = group.groupby("width")["relative_error"].agg(["mean", "std"]).reset_index()
        marker, line = styles.get(layers, ("o", "-"))
        ax.errorbar(
            stats["width"],
            stats["mean"],
            yerr=stats["std"].fillna(0.0),
            marker=marker,
            ls=line,
            color=colours.get(model),
            capsize=3,
            label=f"{'EFNN' if model == 'efnn' else 'dense'}, {layers} layer{'s' if layers > 1 else ''}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("width (neurons per layer)")
    ax.set_ylabel("relative error sqrt(MSE) / |mean E|")
    ax.legend(frameon=False, fontsize="x-small", ncol=2)
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
        "thermometer_temperatures": {"start": 1.0, "stop": 3.5, "step": 0.25, "include_tc": True},
        "thermometer_train_L": 16,
        "thermometer_test_L": [16, 32, 64],
        "thermometer_n_train_per_t": 24,
        "thermometer_n_val_per_t": 6,
        "thermometer_n_test_per_t": 8,
        "thermometer_conv_filters": 8,
        "thermometer_epochs": 6,
        "thermometer_batch_size": 32,
        "thermometer_patience": 6,
        "thermometer_learning_rate": 3e-3,
        "three_spin_coupling_seed": 17,
        "three_spin_samples": 20000,
        "three_spin_values": [0, 1],
        "three_spin_layers": [3],
        "three_spin_widths": [60],
        "three_spin_epochs": 3,
        "three_spin_batch_size": 256,
        "three_spin_learning_rate": 3e-3,
        "three_spin_patience": 3,
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
            "thermometer_temperatures": {"start": 1.5, "stop": 3.5, "step": 1.0, "include_tc": True},
            "thermometer_test_L": [16, 32],
            "thermometer_n_train_per_t": 8,
            "thermometer_n_val_per_t": 2,
            "thermometer_n_test_per_t": 4,
            "thermometer_epochs": 2,
            "three_spin_samples": 2000,
            "three_spin_layers": [1],
            "three_spin_widths": [15],
            "three_spin_epochs": 2,
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
            "thermometer_temperatures": {"start": 1.0, "stop": 3.5, "step": 0.1, "include_tc": True},
            "thermometer_n_train_per_t": 200,
            "thermometer_n_val_per_t": 50,
            "thermometer_n_test_per_t": 100,
            "thermometer_epochs": 100,
            "thermometer_patience": 15,
            "three_spin_layers": [1, 2, 3],
            "three_spin_widths": [15, 30, 45, 60, 75, 90, 105, 120, 135, 150],
            "three_spin_epochs": 200,
            "three_spin_patience": 30,
        },
    },
    own_files=("analysis/efnn.py", "models/efnn.py"),
    sources=(
        "models/layers.py",
        "models/data.py",
        "models/training.py",
        "models/thermometers.py",
        "models/evaluation.py",
        "ising",
    ),
    run_seed=run_seed,
    claims=claims,
    report=report,
    figures=(
        SideFigure("efnn_error_vs_size", ("efnn_errors",), plot_error_vs_size),
        SideFigure("efnn_thermometer_bayes_ratio", ("efnn_thermometer",), plot_bayes_ratio_vs_size),
        SideFigure("efnn_three_spin", ("efnn_three_spin",), plot_three_spin),
    ),
)
