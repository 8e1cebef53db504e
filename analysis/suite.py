"""The measurement suite: which representations are measured, in which state, by which measures.

For one seed it takes the fine lattice's test configurations, the trained
encoders of the transfer stage and the coarse-scale thermometers, and returns
one table per measurement (sparsity, receptive fields, correlations, C(r),
correlation matrices, entropies, RG flow). The pipeline stores and gathers the
tables; nothing here knows about files or caches.

A representation is a catalogue entry (:class:`Representation`): the original
lattice, an analytic block-spin lattice, the binarised code of a learned RG
encoder, the binarised AE code, or the AE's reconstruction. Adding one is one
entry in :func:`representation_catalogue` and its case in :func:`represent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Representation", "representation_catalogue", "represent", "measure_seed", "window_sites"]


@dataclass(frozen=True)
class Representation:
    """One way of looking at a configuration.

    Attributes
    ----------
    name : str
        Table name (``original``, ``majority``, ``learned_majority``, ``ae_code``, ...).
    scale : str
        ``"fine"`` (N sites) or ``"coarse"`` (N/B sites).
    kind : str
        ``"original"``, ``"block_spins"`` (analytic rule), ``"learned_code"`` (a learned RG
        encoder's code, binarised), ``"ae_code"`` (binarised) or ``"reconstruction"``.
    rule : str or None
        The analytic rule of ``block_spins`` and ``learned_code`` representations.
    model : str or None
        The transfer catalogue entry the representation is computed with.
    """

    name: str
    scale: str
    kind: str
    rule: str | None = None
    model: str | None = None


def representation_catalogue(rules) -> tuple[Representation, ...]:
    """Every representation the suite measures, for the given block-spin rules."""
    reps = [Representation("original", "fine", "original")]
    for rule in rules:
        reps.append(Representation(rule, "coarse", "block_spins", rule=rule))
        reps.append(
            Representation(
                f"learned_{rule}", "coarse", "learned_code", rule=rule, model=f"rg_{rule}_transfer"
            )
        )
    reps.append(Representation("ae_code", "coarse", "ae_code", model="ae_transfer"))
    reps.append(Representation("ae_reconstruction", "fine", "reconstruction", model="ae_transfer"))
    return tuple(reps)


def represent(reps, x, lattice, models: dict, alignments: dict | None = None) -> dict:
    """Every representation of configurations ``x``: name -> (array, lattice, scale).

    ``x`` int8 (n, *lattice.shape); ``models`` maps catalogue names to trained Keras models;
    ``alignments`` maps an AE's catalogue name to ``(order, signs)`` from
    :func:`analysis.codes.align_units`: its code units are put on their blocks, with
    their signs, before any lattice-based measure sees them.
    """
    from transfer.analytic import block_spins
    from transfer.learned import coarse_spins, encode

    from .codes import apply_alignment
    from .entropy import binarise

    coarse = lattice.coarse()
    out = {}
    for rep in reps:
        if rep.kind == "original":
            arr = x
        elif rep.kind == "block_spins":
            arr = block_spins(x, lattice, rep.rule)
        elif rep.kind == "learned_code":
            arr = coarse_spins(models[rep.model], x)
        elif rep.kind == "ae_code":
            code = encode(models[rep.model], x)
            if alignments and rep.model in alignments:
                code = apply_alignment(code, *alignments[rep.model]).reshape(code.shape)
            arr = binarise(code)
        elif rep.kind == "reconstruction":
            arr = models[rep.model].predict(x.astype(np.float32), batch_size=1024, verbose=0)
        else:
            raise ValueError(f"unknown representation kind {rep.kind!r}")
        out[rep.name] = (arr, lattice if rep.scale == "fine" else coarse, rep.scale)
    return out


def window_sites(lattice, side: int) -> np.ndarray:
    """Flat indices of the sites in the leading ``side``^d corner window of a hypercubic array."""
    side = min(side, *lattice.shape)
    grids = np.indices((side,) * len(lattice.shape)).reshape(len(lattice.shape), -1)
    return np.ravel_multi_index(tuple(grids), lattice.shape)


def weight_tables(kernels: dict, lattice, rules, seed: int) -> dict[str, pd.DataFrame]:
    """Sparsity and receptive fields of every encoder kernel, with the analytic rules as references."""
    from transfer.analytic import rule_weights

    from .sparsity import receptive_field_table, sparsity_table

    weights = {f"analytic_{r}": rule_weights(lattice, r) for r in rules} | kernels
    sparsity = sparsity_table(weights, lattice)
    sparsity["seed"] = seed
    fields = receptive_field_table(weights, lattice, units=(0, lattice.n_blocks // 2))
    fields["seed"] = seed
    return {"sparsity": sparsity, "receptive_fields": fields}


def _states(x, t: float, reps, lattice, models, alignments, J: float, h: float, fold_below: float):
    """The mixed (symmetric) and pure (connected-correlation) states' representations at one T.

    At h = 0 the global flip is an exact symmetry that a Metropolis chain below T_c
    does not sample, while Wolff near T_c does. So that every temperature means the
    same whichever sampler made it, entropies and non-connected correlations use the
    ensemble with its mirror image (the symmetric Gibbs state, whose exact entropy is
    the reference). Connected correlations use the thermodynamic state: the symmetric
    one from T_c up, and below T_c of a ferromagnet the ensemble folded to non-negative
    magnetisation (the pure state, whose correlations decay; the symmetric state's would
    hold m^2). The folded or mirrored configurations are encoded, not the codes: learned
    encoders have biases and are not odd under the flip.
    """
    from .correlations import flip_symmetrised, fold_index

    symmetric = h == 0
    mixed = represent(reps, flip_symmetrised(x) if symmetric else x, lattice, models, alignments)
    fold = symmetric and J > 0 and t < fold_below
    if fold:  # the folded configurations are rows of the symmetrised ensemble
        rows = fold_index(x)
        pure = {name: (arr[rows], lat, scale) for name, (arr, lat, scale) in mixed.items()}
    else:
        pure = mixed
    state = "pure (folded)" if fold else ("symmetric" if symmetric else "as sampled")
    # A configuration and its mirror image are one sample for resampling and cross-validation.
    groups = None if (fold or not symmetric) else np.tile(np.arange(len(x)), 2)
    return mixed, pure, state, groups


def code_rows(pure: dict, groups, t: float, seed: int, reps) -> list[dict]:
    """Order- and sign-invariant measures (analysis.codes) of every coarse representation at one T."""
    from .codes import code_summary

    fine, lattice, _ = pure["original"]
    rows = []
    for rep in reps:
        if rep.scale != "coarse":
            continue
        arr = np.asarray(pure[rep.name][0], dtype=np.float64)
        summary = code_summary(arr.reshape(len(arr), -1), fine, lattice, groups=groups)
        rows.append({"representation": rep.name, "T": t, "seed": seed, **summary})
    return rows


def measure_seed(
    spins, beta, T, lattice, models: dict, kernels: dict, thermometers: list, settings: dict
) -> dict[str, pd.DataFrame]:
    """Every measurement of one seed's test ensembles.

    Parameters
    ----------
    spins : int8 (n, *lattice.shape)
        Test configurations of the fine lattice at every temperature.
    beta, T : float64 (n,)
        Their inverse temperatures and temperatures (as the ensembles record them).
    lattice : Lattice
        The fine lattice.
    models : dict
        Transfer catalogue name -> trained Keras model (the entries the representations use).
    kernels : dict
        Encoder name -> float32 (N, N/B) kernel (sparsity, receptive fields).
    thermometers : list
        ``(keras thermometer, transfer.flow.Calibration)`` per RG level (None where a level
        has none), for the RG flow.
    settings : dict
        ``seed, rules, J, h, matrix_temperatures`` and the ``analysis`` section
        (``matrix_window``, ``patch_sizes``, ``max_configurations``).

    Returns
    -------
    dict of table name -> DataFrame
    """
    from ising.exact import exact_entropy_per_spin

    from .codes import align_units
    from .correlations import (
        connected_correlation,
        correlation_matrix_table,
        correlation_summary,
        nearest_neighbour_correlation,
    )
    from .entropy import entropy_table, mirror_pair_groups

    cfg, seed, rules = settings["analysis"], settings["seed"], settings["rules"]
    J, h = settings["J"], settings["h"]
    tables = weight_tables(kernels, lattice, rules, seed)
    coarse = lattice.coarse()
    reps = representation_catalogue(rules)
    window = {
        "fine": window_sites(lattice, cfg["matrix_window"]),
        "coarse": window_sites(coarse, max(1, cfg["matrix_window"] // max(lattice.b or 1, 1))),
    }
    matrix_T = [min(np.unique(T), key=lambda t, m=m: abs(t - m)) for m in settings["matrix_temperatures"]]
    corr_rows, cr_rows, ent_rows, mat_tables, code_table = [], [], [], [], []
    alignments = {
        rep.model: align_units(kernels[rep.model], lattice) for rep in reps if rep.kind == "ae_code"
    }
    exact_ok = lattice.exact_log_z is not None and h == 0
    # T_c of the lattice at this coupling (grid values of T_c are rounded); unknown T_c: never fold
    fold_below = (lattice.critical_temperature_at(J) or 0.0) * (1 - 1e-5)
    for t in np.unique(T):
        x = spins[T == t][: cfg["max_configurations"]]
        mixed, pure, state, groups = _states(x, t, reps, lattice, models, alignments, J, h, fold_below)
        code_table.extend(code_rows(pure, groups, t, seed, reps))
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
        exact = exact_entropy_per_spin(lattice.L, 1.0 / t, J=J, bits=True) if exact_ok else None
        ent_rows.append(
            entropy_table(
                {k: v[0] for k, v in mixed.items()},
                t,
                ks=cfg["patch_sizes"],
                lattices={k: v[1] for k, v in mixed.items()},
                exact_entropy=exact,
                groups=None if h != 0 else mirror_pair_groups(2 * len(x)),
                seed=seed,
            )
        )
    tables["correlations"] = pd.DataFrame(corr_rows)
    tables["correlation_function"] = pd.DataFrame(cr_rows)
    tables["entropy"] = pd.concat(ent_rows)
    tables["codes"] = pd.DataFrame(code_table)
    if mat_tables:
        tables["correlation_matrices"] = pd.concat(mat_tables)

    tables["rg_flow"] = flow_table(spins, beta, lattice, models, reps, thermometers, alignments, settings)
    return tables


def flow_table(spins, beta, lattice, models, reps, thermometers, alignments, settings) -> pd.DataFrame:
    """The RG flow of every encoder, read raw, through calibrated thermometers and by energy matching.

    ``thermometers`` is a list of ``(model, calibration)`` per RG level (None where a level
    has none); AE codes enter after alignment of their units to blocks.
    """
    from transfer.flow import rg_flow

    from .codes import apply_alignment

    encoders = {r: r for r in settings["rules"]}
    for rep in reps:
        if rep.kind == "learned_code":
            encoders[rep.name] = models[rep.model]
        elif rep.kind == "ae_code":
            order, signs = alignments[rep.model]
            encoders[rep.name] = (models[rep.model], lambda c, o=order, s=signs: apply_alignment(c, o, s))
    models_by_level = [t[0] if t else None for t in thermometers]
    calibrations = [t[1] if t else None for t in thermometers]
    h = settings["h"]
    flow = rg_flow(
        encoders,
        models_by_level,
        spins,
        beta,
        lattice,
        calibrations=calibrations,
        J=settings["J"],
        h=h,
        flip_symmetrise=h == 0,
    )
    flow["seed"] = settings["seed"]
    return flow
