"""The study's stages: sample -> thermometers -> transfer -> measure (tables).

Each stage turns the configuration and the keys of its inputs into a list of
:class:`~pipeline.store.Task`, one per independent unit of work, and returns
an index of the entries it needs. Keys hash exactly the settings a unit
depends on, so a changed parameter redoes only the units that use it. The
task functions are module-level so that Dask can ship them to workers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ising import __version__ as ising_version

from .config import lattice_levels, temperature_grid
from .store import Store, Task, key_of

ROLES = ("train", "val", "test")
ROOT = Path(__file__).resolve().parents[1]


def source_digest(*parts: str) -> str:
    """Hash of the Python sources under ``parts`` (packages or files of this project).

    It enters the keys of the units those sources compute, so a change of the
    code, not only of the configuration, redoes what it affects.
    """
    h = hashlib.sha256()
    for part in parts:
        path = ROOT / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(str(file.relative_to(ROOT)).encode())
            h.update(file.read_bytes())
    return h.hexdigest()[:16]


SOURCES = {
    "ensembles": ("ising",),
    "thermometers": ("ising", "models", "pipeline/stages.py"),
    "transfer": ("ising", "models", "transfer", "pipeline/stages.py"),
    "measure": ("ising", "models", "transfer", "analysis", "pipeline/stages.py"),
}


# --------------------------------------------------------------------------- sample
def ensemble_specs(config: dict) -> list[dict]:
    """One spec per ensemble: every RG level, temperature, seed and role (independent chains)."""
    specs = []
    code = source_digest(*SOURCES["ensembles"])
    for level, lattice in enumerate(lattice_levels(config)):
        for T in temperature_grid(config):
            for seed in range(config["seeds"]):
                for role in ROLES:
                    spec = {
                        "lattice": lattice.name,
                        "L": lattice.L,
                        "b": lattice.b or None,
                        "J": config["J"],
                        "h": config["h"],
                        "T": T,
                        "n": config["sampling"][f"n_{role}"],
                        "algorithm": config["sampling"]["algorithm"],
                        "role": role,
                        "seed_index": seed,
                        "version": ising_version,
                    }
                    # The chain's own seed: distinct for every level, T, seed index and role.
                    spec["chain_seed"] = int(key_of(spec)[:8], 16)
                    spec["code"] = code
                    spec["level"] = level
                    specs.append(spec)
    return specs


def ensemble_key(spec: dict) -> str:
    return key_of({k: v for k, v in spec.items() if k != "level"})


def build_ensemble(store_root: str, spec: dict) -> None:
    """Task: sample one ensemble into ``ensembles/<key>/ensemble.h5``."""
    from ising.io import save_ensemble
    from ising.lattice import make_lattice
    from ising.sampling import sample_ensemble

    def work(folder: Path):
        kwargs = {"b": spec["b"]} if spec["b"] else {}
        lattice = make_lattice(spec["lattice"], spec["L"], **kwargs)
        ens = sample_ensemble(
            lattice,
            spec["T"],
            spec["n"],
            J=spec["J"],
            h=spec["h"],
            algorithm=spec["algorithm"],
            seed=spec["chain_seed"],
        )
        save_ensemble(folder / "ensemble.h5", ens)
        return {
            k: ens.params[k]
            for k in (
                "tau_int",
                "tau_int_energy",
                "tau_int_abs_m",
                "sweeps_between",
                "thermalization_sweeps",
                "algorithm",
                "seconds",
            )
        }

    Store(store_root).build("ensembles", ensemble_key(spec), spec, work)


def sample_stage(config: dict, store: Store) -> tuple[list[Task], dict]:
    """Tasks for every ensemble and an index ``(level, T, seed, role) -> ensemble path``."""
    tasks, index = [], {}
    for spec in ensemble_specs(config):
        key = ensemble_key(spec)
        tasks.append(
            Task(
                "ensembles",
                key,
                build_ensemble,
                {"store_root": str(store.root), "spec": spec},
                label=f"L={spec['L']} T={spec['T']:.3f} {spec['role']}",
            )
        )
        index[(spec["level"], spec["T"], spec["seed_index"], spec["role"])] = {
            "key": key,
            "path": str(store.path("ensembles", key) / "ensemble.h5"),
        }
    return tasks, index


def ensemble_files(index: dict, level: int, seed: int, role: str) -> list[str]:
    return [
        v["path"] for (lv, _T, s, r), v in sorted(index.items()) if lv == level and s == seed and r == role
    ]


def ensemble_keys(index: dict, level: int, seed: int, role: str) -> list[str]:
    return [
        v["key"] for (lv, _T, s, r), v in sorted(index.items()) if lv == level and s == seed and r == role
    ]


# --------------------------------------------------------------------------- thermometers
def thermometer_plan(config: dict) -> list[tuple[int, str]]:
    """(level, architecture) pairs: conv at every RG level, dense at the fine level.

    The dense thermometer's first layer is what transfers into the encoders, so
    it is needed at the fine scale only (``thermometer.dense_levels = "all"``
    trains it wherever the level has blocks).
    """
    plan = []
    every = config["thermometer"]["dense_levels"] == "all"
    for level, lattice in enumerate(lattice_levels(config)):
        for arch in config["thermometer"]["architectures"]:
            if arch == "dense" and not (lattice.has_blocks and (level == 0 or every)):
                continue
            plan.append((level, arch))
    return plan


#: Settings of the ``thermometer`` section that each architecture's training reads; a
#: thermometer's key holds only these, so a conv-only change leaves the dense one cached.
THERMOMETER_SETTINGS = {
    "dense": ("dense_hidden", "epochs", "batch_size", "patience", "learning_rate"),
    "conv": ("conv_filters", "conv_kernel", "epochs", "batch_size", "patience", "learning_rate"),
}

#: Settings of the ``transfer`` section that only the tables read (pipeline.collect), not training.
TRANSFER_TABLE_SETTINGS = ("convergence_fraction",)


def build_thermometer(store_root: str, key: str, spec: dict, train: list, val: list, test: list) -> None:
    """Task: train one thermometer, evaluate it on the test chains, save model and tables."""
    import json

    import numpy as np
    import pandas as pd

    from models import (
        bayes_limit,
        build_conv_thermometer,
        build_dense_thermometer,
        evaluate_thermometer,
        figure_of_merit,
        load_configurations,
        predict_beta,
        save_model,
        statistic_dependence,
        train_thermometer,
    )
    from models.evaluation import band_masks, describe_thermometer

    def work(folder: Path):
        lattice = _lattice(spec["lattice_spec"])
        cfg = spec["thermometer"]
        if spec["arch"] == "dense":
            model = build_dense_thermometer(lattice, hidden=cfg["dense_hidden"], seed=spec["seed"])
        else:
            kernel = cfg["conv_kernel"] or (3 if lattice.name.startswith("triangular") else 2)
            model = build_conv_thermometer(
                lattice, filters=cfg["conv_filters"], kernel_size=kernel, seed=spec["seed"]
            )
        history = train_thermometer(
            model,
            train,
            val,
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            patience=cfg["patience"],
            learning_rate=cfg["learning_rate"],
            seed=spec["seed"],
        )
        save_model(model, folder / "model.keras")
        (folder / "history.json").write_text(json.dumps(history))
        data = load_configurations(test, expect=model)
        beta_pred = predict_beta(model, data["spins"])
        # Bands are defined on the square lattice's temperatures; rescale by T_c ratio.
        T_band = data["T"] / spec["band_scale"]
        metrics = evaluate_thermometer(data["beta"], beta_pred, T_band)
        bayes = bayes_limit(lattice, data["energy"], data["beta"], J=spec["J"], h=spec["h"], T=T_band)
        ratio = figure_of_merit(metrics, bayes)
        n_sites = lattice.n_sites
        stats = {"energy": data["energy"] / n_sites, "abs_m": np.abs(data["magnetization"]) / n_sites}
        dependence = {
            band: statistic_dependence(beta_pred[mask], {k: v[mask] for k, v in stats.items()})
            for band, mask in band_masks(T_band).items()
            if mask.sum() > 20
        }
        name = f"{spec['arch']} L={lattice.L} ({lattice.name})"
        report = describe_thermometer(name, metrics, bayes, dependence)
        pd.DataFrame(
            {
                "model": spec["arch"],
                "lattice": lattice.name,
                "L": lattice.L,
                "level": spec["level"],
                "T": data["T"],
                "beta": data["beta"],
                "beta_pred": beta_pred,
                "beta_bayes": bayes.beta_hat if bayes.available else np.nan,
                "energy": data["energy"],
                "seed": spec["seed"],
            }
        ).to_csv(folder / "predictions.csv", index=False)
        (folder / "report.md").write_text(report + "\n")
        return {
            "metrics": metrics,
            "bayes": bayes.metrics if bayes.available else None,
            "bayes_reason": bayes.reason,
            "ratio": ratio,
            "dependence": dependence,
            "epochs_run": history["epochs_run"],
            "best_val_loss": history["best_val_loss"],
        }

    Store(store_root).build("thermometers", key, spec, work)


def _lattice(lattice_spec: dict):
    from ising.lattice import make_lattice

    kwargs = {"b": lattice_spec["b"]} if lattice_spec.get("b") else {}
    return make_lattice(lattice_spec["name"], lattice_spec["L"], **kwargs)


def _lattice_spec(lattice) -> dict:
    return {"name": lattice.name, "L": lattice.L, "b": lattice.b or None}


def thermometer_stage(config: dict, store: Store, ensembles: dict) -> tuple[list[Task], dict]:
    """Tasks for every (level, architecture, seed); index ``(level, arch, seed) -> entry``."""
    from .config import rescale

    levels = lattice_levels(config)
    tasks, index = [], {}
    for level, arch in thermometer_plan(config):
        for seed in range(config["seeds"]):
            files = {role: ensemble_files(ensembles, level, seed, role) for role in ROLES}
            spec = {
                "code": source_digest(*SOURCES["thermometers"]),
                "arch": arch,
                "level": level,
                "seed": seed,
                "lattice_spec": _lattice_spec(levels[level]),
                "J": config["J"],
                "h": config["h"],
                "band_scale": rescale(config),
                "thermometer": {k: config["thermometer"][k] for k in THERMOMETER_SETTINGS[arch]},
                "inputs": {role: ensemble_keys(ensembles, level, seed, role) for role in ROLES},
            }
            key = key_of(spec)
            tasks.append(
                Task(
                    "thermometers",
                    key,
                    build_thermometer,
                    {"store_root": str(store.root), "key": key, "spec": spec, **files},
                    label=f"{arch} level {level} seed {seed}",
                )
            )
            index[(level, arch, seed)] = {"key": key, "path": str(store.path("thermometers", key))}
    return tasks, index


# --------------------------------------------------------------------------- transfer
def _load_spins(files: list) -> tuple:
    from models import load_configurations

    data = load_configurations(files)
    return data["spins"], data["beta"], data["T"]


def build_transfer(
    store_root: str, key: str, spec: dict, thermometer: str, train: list, val: list, test: list
) -> None:
    """Task: learned RG encoders, autoencoders and RG encode-decode models for one seed."""
    import json
    import warnings

    import numpy as np

    from models import load_model
    from transfer.learned import (
        build_autoencoder,
        build_encoder,
        build_rg_encode_decode,
        check_rg_encoder,
        encoder_kernel,
        history_frame,
        train_reconstruction,
        train_rg_encoder,
    )

    def work(folder: Path):
        lattice = _lattice(spec["lattice_spec"])
        cfg = spec["transfer"]
        fit = {
            "epochs": cfg["epochs"],
            "batch_size": cfg["batch_size"],
            "patience": cfg["patience"],
            "learning_rate": cfg["learning_rate"],
            "seed": spec["seed"],
        }
        thermo = load_model(Path(thermometer) / "model.keras")
        x_train, _, _ = _load_spins(train)
        x_val, _, _ = _load_spins(val)
        x_test, _, _ = _load_spins(test)
        histories, models, checks, kernels = {}, {}, {}, {}
        kernels["thermometer"] = thermo.get_layer("coarse").get_weights()[0]
        for rule in cfg["rules"]:
            for init, source in (("transfer", thermo), ("scratch", None)):
                name = f"rg_{rule}_{init}"
                enc = build_encoder(lattice, init_from=source, seed=spec["seed"], name=name)
                histories[name] = train_rg_encoder(enc, x_train, x_val, lattice, rule, **fit)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # failures are reported, not warned
                    checks[name] = check_rg_encoder(enc, x_test, lattice, rule)
                models[name] = enc
                kernels[name] = encoder_kernel(enc)
        for init, source in (("transfer", thermo), ("scratch", None)):
            name = f"ae_{init}"
            ae = build_autoencoder(lattice, init_from=source, seed=spec["seed"], name=name)
            histories[name] = train_reconstruction(ae, x_train, x_val, lattice, **fit)
            models[name] = ae
            kernels[name] = encoder_kernel(ae)
        for rule in cfg["rules"]:
            for frozen in (rule, f"rg_{rule}_transfer"):
                name = f"encdec_{frozen}" if frozen == rule else f"encdec_learned_{rule}"
                encoder = frozen if frozen == rule else models[frozen]
                ed = build_rg_encode_decode(lattice, encoder, seed=spec["seed"], name=name)
                histories[name] = train_reconstruction(ed, x_train, x_val, lattice, **fit)
                models[name] = ed
        test_loss = {}
        for name, model in models.items():
            if name.startswith(("ae_", "encdec_")):
                recon = model.predict(x_test.astype(np.float32), batch_size=1024, verbose=0)
                test_loss[name] = float(np.mean((recon - x_test) ** 2))
        from models import save_model

        for name, model in models.items():
            save_model(model, folder / f"{name}.keras")
        np.savez_compressed(folder / "kernels.npz", **kernels)
        frame = history_frame(histories)
        frame["seed"] = spec["seed"]
        frame.to_csv(folder / "histories.csv", index=False)
        (folder / "checks.json").write_text(json.dumps(checks, indent=1))
        return {
            "checks": checks,
            "test_loss": test_loss,
            "epochs_run": {k: h["epoch"][-1] for k, h in histories.items()},
        }

    Store(store_root).build("transfer", key, spec, work)


def transfer_stage(config: dict, store: Store, ensembles: dict, thermometers: dict):
    if (0, "dense", 0) not in thermometers:
        raise ValueError("the transfer stage needs the dense thermometer (thermometer.architectures)")
    levels = lattice_levels(config)
    tasks, index = [], {}
    for seed in range(config["seeds"]):
        thermo = thermometers[(0, "dense", seed)]
        spec = {
            "code": source_digest(*SOURCES["transfer"]),
            "seed": seed,
            "lattice_spec": _lattice_spec(levels[0]),
            "transfer": {k: v for k, v in config["transfer"].items() if k not in TRANSFER_TABLE_SETTINGS},
            "thermometer": thermo["key"],
            "inputs": {role: ensemble_keys(ensembles, 0, seed, role) for role in ROLES},
        }
        key = key_of(spec)
        files = {role: ensemble_files(ensembles, 0, seed, role) for role in ROLES}
        tasks.append(
            Task(
                "transfer",
                key,
                build_transfer,
                {
                    "store_root": str(store.root),
                    "key": key,
                    "spec": spec,
                    "thermometer": thermo["path"],
                    **files,
                },
                label=f"seed {seed}",
            )
        )
        index[seed] = {"key": key, "path": str(store.path("transfer", key))}
    return tasks, index


# --------------------------------------------------------------------------- measure
def _window_sites(lattice, side: int):
    """Flat indices of the sites in the leading ``side``^d corner window of a hypercubic array."""
    import numpy as np

    side = min(side, *lattice.shape)
    grids = np.indices((side,) * len(lattice.shape)).reshape(len(lattice.shape), -1)
    return np.ravel_multi_index(tuple(grids), lattice.shape)


def build_measure(
    store_root: str, key: str, spec: dict, transfer: str, thermometers: list, test: list
) -> None:
    """Task: sparsity, correlations, entropy and the RG flow for one seed (tables only)."""
    import numpy as np
    import pandas as pd

    from analysis.correlations import (
        connected_correlation,
        correlation_matrix_table,
        correlation_summary,
        flip_symmetrised,
        fold_index,
        nearest_neighbour_correlation,
    )
    from analysis.entropy import binarise, entropy_table
    from analysis.sparsity import receptive_field_table, sparsity_table
    from ising.exact import exact_entropy_per_spin
    from models import load_model
    from transfer.analytic import block_spins, rule_weights
    from transfer.flow import rg_flow
    from transfer.learned import coarse_spins, encode

    def work(folder: Path):
        cfg = spec["analysis"]
        seed = spec["seed"]
        lattice = _lattice(spec["lattice_spec"])
        coarse = lattice.coarse()
        rules = spec["rules"]
        spins, beta, T = _load_spins(test)
        tdir = Path(transfer)
        learned = {f"rg_{r}_transfer": load_model(tdir / f"rg_{r}_transfer.keras") for r in rules}
        ae = load_model(tdir / "ae_transfer.keras")

        # Weight sparsity of every encoder, with the analytic rules as references.
        kernels = dict(np.load(tdir / "kernels.npz"))
        weights = {f"analytic_{r}": rule_weights(lattice, r) for r in rules} | kernels
        sparsity = sparsity_table(weights, lattice)
        sparsity["seed"] = seed
        sparsity.to_csv(folder / "sparsity.csv", index=False)
        fields = receptive_field_table(weights, lattice, units=(0, lattice.n_blocks // 2))
        fields["seed"] = seed
        fields.to_csv(folder / "receptive_fields.csv", index=False)

        # Correlations and entropies of every representation, temperature by temperature.
        window = {
            "fine": _window_sites(lattice, cfg["matrix_window"]),
            "coarse": _window_sites(coarse, max(1, cfg["matrix_window"] // max(lattice.b or 1, 1))),
        }
        matrix_T = [min(np.unique(T), key=lambda t, m=m: abs(t - m)) for m in spec["matrix_temperatures"]]
        corr_rows, cr_rows, ent_rows, mat_tables = [], [], [], []

        def represent(x):
            """Every representation of configurations x: (array, lattice, scale) by name."""
            reps = {"original": (x, lattice, "fine")}
            for r in rules:
                reps[r] = (block_spins(x, lattice, r), coarse, "coarse")
                reps[f"learned_{r}"] = (coarse_spins(learned[f"rg_{r}_transfer"], x), coarse, "coarse")
            reps["ae_code"] = (binarise(encode(ae, x)), coarse, "coarse")
            reconstruction = ae.predict(x.astype(np.float32), batch_size=1024, verbose=0)
            reps["ae_reconstruction"] = (reconstruction, lattice, "fine")
            return reps

        exact_ok = lattice.name == "square" and spec["h"] == 0
        # T_c of the lattice at this coupling (grid values of T_c are rounded); unknown T_c: never fold
        fold_below = (lattice.critical_temperature or 0.0) * abs(spec["J"]) * (1 - 1e-5)
        for t in np.unique(T):
            x = spins[T == t][: cfg["max_configurations"]]
            # At h = 0 the global flip is an exact symmetry that a Metropolis chain below T_c
            # does not sample, while Wolff near T_c does. So that every temperature means the
            # same whichever sampler made it, entropies and non-connected correlations use the
            # ensemble with its mirror image (the symmetric Gibbs state, whose exact entropy is
            # the reference). Connected correlations use the thermodynamic state: the symmetric
            # one from T_c up, and below T_c of a ferromagnet the ensemble folded to
            # non-negative magnetisation (the pure state, whose correlations decay; the
            # symmetric state's would hold m^2). The folded or mirrored configurations are
            # encoded, not the codes: learned encoders have biases and are not odd under the flip.
            symmetric = spec["h"] == 0
            mixed = represent(flip_symmetrised(x)) if symmetric else represent(x)
            fold = symmetric and spec["J"] > 0 and t < fold_below
            if fold:  # the folded configurations are rows of the symmetrised ensemble
                rows = fold_index(x)
                pure = {name: (arr[rows], lat, scale) for name, (arr, lat, scale) in mixed.items()}
            else:
                pure = mixed
            state = "pure (folded)" if fold else ("symmetric" if symmetric else "as sampled")
            for name, (arr, lat, scale) in pure.items():
                summary = correlation_summary(arr, lat)
                corr_rows.append(
                    {
                        "representation": name,
                        "T": t,
                        "scale": scale,
                        "seed": seed,
                        **{k: summary[k] for k in ("nn_correlation", "xi", "abs_magnetization", "n_samples")},
                        "nn_product": nearest_neighbour_correlation(mixed[name][0], lat, connected=False),
                        "connected_state": state,
                    }
                )
                cr_rows.extend(
                    {"representation": name, "T": t, "r": int(r_), "C": float(c_), "seed": seed}
                    for r_, c_ in zip(summary["r"], summary["C_r"], strict=True)
                )
                if seed == 0 and t in matrix_T:
                    flat = np.asarray(arr, dtype=np.float64).reshape(len(arr), -1)[:, window[scale]]
                    mat_tables.append(
                        correlation_matrix_table(connected_correlation(flat), representation=name, T=t)
                    )
            exact = exact_entropy_per_spin(lattice.L, 1.0 / t, J=spec["J"], bits=True) if exact_ok else None
            table = entropy_table(
                {k: v[0] for k, v in mixed.items()},
                t,
                ks=cfg["patch_sizes"],
                lattices={k: v[1] for k, v in mixed.items()},
                exact_entropy=exact,
                seed=seed,
            )
            ent_rows.append(table)
        pd.DataFrame(corr_rows).to_csv(folder / "correlations.csv", index=False)
        pd.DataFrame(cr_rows).to_csv(folder / "correlation_function.csv", index=False)
        pd.concat(ent_rows).to_csv(folder / "entropy.csv", index=False)
        if mat_tables:
            pd.concat(mat_tables).to_csv(folder / "correlation_matrices.csv", index=False)

        # RG flow through the coarse-scale thermometers.
        thermos = [load_model(Path(p) / "model.keras") if p else None for p in thermometers]
        encoders = {r: r for r in rules} | {f"learned_{r}": learned[f"rg_{r}_transfer"] for r in rules}
        encoders["ae_code"] = ae
        if spec["h"] == 0:  # the flow of the symmetric state, whatever made the chains
            spins, beta = flip_symmetrised(spins), np.concatenate([beta, beta])
        flow = rg_flow(encoders, thermos, spins, beta, lattice)
        flow["seed"] = seed
        flow.to_csv(folder / "rg_flow.csv", index=False)
        return {"n_temperatures": int(np.unique(T).size)}

    Store(store_root).build("measure", key, spec, work)


def measure_stage(config: dict, store: Store, ensembles: dict, thermometers: dict, transfers: dict):
    from .config import resolve_temperature

    levels = lattice_levels(config)
    flow_arch = config["analysis"]["flow_thermometer"]
    tasks, index = [], {}
    for seed in range(config["seeds"]):
        flow_thermos = []
        for level in range(len(levels)):
            entry = thermometers.get((level, flow_arch, seed)) or thermometers.get((level, "dense", seed))
            flow_thermos.append(entry)
        analysis = {k: v for k, v in config["analysis"].items() if k != "matrix_temperatures"}
        spec = {
            "code": source_digest(*SOURCES["measure"]),
            "seed": seed,
            "lattice_spec": _lattice_spec(levels[0]),
            "analysis": analysis,
            "rules": config["transfer"]["rules"],
            "J": config["J"],
            "h": config["h"],
            "matrix_temperatures": [
                resolve_temperature(config, t) for t in config["analysis"]["matrix_temperatures"]
            ],
            "transfer": transfers[seed]["key"],
            "thermometers": [e["key"] if e else None for e in flow_thermos],
            "test": ensemble_keys(ensembles, 0, seed, "test"),
        }
        key = key_of(spec)
        tasks.append(
            Task(
                "measure",
                key,
                build_measure,
                {
                    "store_root": str(store.root),
                    "key": key,
                    "spec": spec,
                    "transfer": transfers[seed]["path"],
                    "thermometers": [e["path"] if e else None for e in flow_thermos],
                    "test": ensemble_files(ensembles, 0, seed, "test"),
                },
                label=f"seed {seed}",
            )
        )
        index[seed] = {"key": key, "path": str(store.path("measure", key))}
    return tasks, index
