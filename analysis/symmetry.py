"""Side study: symmetry-aware thermometers (STUDY.md section 6, claims C6 and C7).

For one seed, :func:`run_seed`

1. samples Monte Carlo ensembles on the L x L torus (:func:`ising.sampling.sample_ensemble`):
   the symmetric family (J_x = J_y = 1, h = 0) and families that break one symmetry on
   purpose, a field h != 0 (breaks Z2) and couplings J_y/J_x != 1 (breaks D4 to D2), each
   at the reduced temperatures T/T_c of the settings (T_c exact: Onsager, and
   sinh(2 J_x/T_c) sinh(2 J_y/T_c) = 1; the field families use the h = 0 value), with
   training and test configurations from independent chains;
2. C6: trains every thermometer variant of :mod:`models.symmetry` (same width, same
   budget of gradient steps) on the first n configurations per temperature of the
   symmetric training chains, for each n of ``n_train``, and measures the Bayes ratio
   (network MSE / Bayes-posterior MSE, :mod:`models.evaluation`, exact Kaufman ln Z) on
   one test set; then the symmetry violation per type of the models trained on the most
   data. The same variants are trained and tested on each anisotropic family for each n of
   ``anisotropic_n_train``: at h = 0 and a fixed ratio J_y/J_x the energy
   E = J_x E_x + J_y E_y is still sufficient for beta and ln Z is exact (Kaufman's
   anisotropic torus formula, which :func:`ising.lattice.anisotropic_square` carries), so the same Bayes limit
   applies. The field families get no ratio: at h != 0 the energy is not sufficient;
3. C7: trains the soft-equivariant thermometer on every family and records its learned
   strength per symmetry type (on the anisotropic families, the model of step 2);
4. checks the anisotropic sampler against exact enumeration of the 4 x 4 torus and
   against Kaufman's anisotropic energy on the ``check_L`` torus (tau-aware z-scores);
5. trains every variant of the learned RG block encoder (:func:`models.symmetry.build_symmetry_encoder`,
   b x b blocks, N -> N/b², same width and gradient-step budget) to imitate each rule of
   ``encoder_rules`` on the first ``encoder_n_train`` symmetric training configurations per
   temperature, and measures on the test configurations its sign agreement with the rule
   (on all blocks and on tied blocks), the sparsity of its first-layer weights
   (:mod:`analysis.sparsity`), the order- and sign-invariant C2 measures of its binarised
   code (:func:`analysis.codes.code_summary`, per temperature, then averaged) and its
   equivariance violation per symmetry type, beside the same measures of the rule itself.

The encoder rows are shown under C6, not decided: C6 is a statement about thermometers
reaching the Bayes limit, which an encoder has no analogue of, and the encoder measures
partly hold by construction (a weight-shared b x b filter is sparse and block-local
whatever it learns). The rules are not D4-equivariant: decimation keeps one corner of
each block, and majority breaks ties with that corner, so an exactly D4-equivariant
encoder cannot match them on tied blocks.

C6 is decided per seed on the number of training configurations per temperature a
variant needs to reach Bayes ratio <= ``ratio_threshold`` (first crossing, interpolated
linearly in log n; a variant that never reaches it within ``n_train`` is censored at
twice the largest n), free dense minus the symmetric variant. C7 is decided per seed and
per symmetry-breaking family on the fall of the learned strength relative to the
symmetric family, fall_k = ln lambda_k(symmetric) - ln lambda_k(family): the broken
type's fall minus the mean fall of the exact types must be positive. Strengths of
different types are not on one scale (each type's violation has its own size), which is
why the comparison is made against the same type on the symmetric ensembles.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from analysis.claims import Claim, Comparison
from analysis.side import SideFigure, SideStudy, markdown_table

__all__ = [
    "STUDY",
    "run_seed",
    "claims",
    "report",
    "n_to_reach",
    "FAMILY_COLUMNS",
    "anisotropic_log_z",
    "anisotropic_energy_per_spin",
]

VARIANTS = ("free_dense", "weight_shared", "group_averaged", "augmented", "soft_equivariant")
SYMMETRY_TYPES = ("translation", "d4", "z2")
SYMMETRIC = "symmetric"
#: Columns that describe an ensemble family in the tables.
FAMILY_COLUMNS = ("family", "h", "ratio", "T_c")

DEFAULTS = {
    "L": 8,
    "b": 2,
    "hidden": 32,
    "reduced_temperatures": [0.8, 0.95, 1.1, 1.4],
    "n_train": [25, 50, 100, 300],
    "n_test": 100,
    "steps": 250,
    "batch_size": 32,
    "learning_rate": 0.003,
    "train_shifts": 4,
    "strength_scale": 2e-3,
    "violation_floor": 1e-5,
    "fields": [0.3],
    "ratios": [0.5],
    "n_violation": 64,
    "ratio_threshold": 1.1,
    "anisotropic_n_train": [300],
    "check_n": 2000,
    "check_temperatures": [1.2, 2.0],
    "check_L": 16,
    "encoder_rules": ["majority"],
    "encoder_n_train": 50,
    "encoder_steps": 300,
    "encoder_batch_size": 32,
    "encoder_learning_rate": 0.01,
    "encoder_strength_scale": 0.02,
    "encoder_violation_floor": 1e-3,
}

PROFILES = {
    "smoke": {
        "L": 4,
        "reduced_temperatures": [0.8, 1.4],
        "n_train": [8, 16],
        "anisotropic_n_train": [16],
        "n_test": 16,
        "steps": 10,
        "batch_size": 8,
        "n_violation": 8,
        "check_n": 200,
        "check_temperatures": [2.0],
        "encoder_n_train": 8,
        "encoder_steps": 10,
        "encoder_batch_size": 8,
    },
    "paper": {
        "L": 16,
        "reduced_temperatures": [0.7, 0.85, 0.95, 1.05, 1.2, 1.5],
        "n_train": [25, 50, 100, 300, 1000],
        "anisotropic_n_train": [25, 50, 100, 300, 1000],
        "n_test": 500,
        "steps": 2000,
        "batch_size": 64,
        "fields": [0.1, 0.3],
        "n_violation": 256,
        "check_n": 20000,
        "encoder_rules": ["majority", "decimation"],
        "encoder_n_train": 100,
        "encoder_steps": 2000,
        "encoder_batch_size": 64,
    },
}


#: Step in beta of the central difference behind :func:`anisotropic_energy_per_spin`.
ENERGY_STEP = 1e-5
#: Step of the third difference that estimates d³ ln Z / d beta³ for its error bound.
_THIRD_DIFFERENCE_STEP = 1e-3
#: Rounding error of ln Z assumed by that bound, in units of eps |ln Z|.
_LOG_Z_ROUNDING = 64.0


def anisotropic_log_z(L: int, ratio: float, beta, J: float = 1.0):
    """ln Z (h = 0) of :func:`ising.lattice.anisotropic_square` (J_x = J, J_y = ratio J), exact.

    Kaufman's anisotropic torus formula (:func:`ising.exact.kaufman_log_z_anisotropic`); on
    the L x L torus Z is symmetric under J_x <-> J_y (a transpose), so which axis carries
    which coupling does not matter. ``beta``: float or float64 array; returns the same shape.
    """
    from ising.lattice import anisotropic_square

    return anisotropic_square(int(L), ratio=float(ratio)).exact_log_z(beta, float(J))


def anisotropic_energy_per_spin(L: int, beta, ratio: float, step: float = ENERGY_STEP):
    """Mean energy per spin u = -(1/N) d ln Z / d beta of the anisotropic L x L torus, and an error bound.

    The derivative of :func:`anisotropic_log_z` (J_x = 1) by the central difference
    D(h) = (ln Z(beta + h) - ln Z(beta - h)) / 2h, whose error is at most h² max|f'''| / 6
    (Taylor, f = ln Z) plus the rounding of the two values of ln Z divided by 2h. The
    bound returned is 2 h² |f'''| / 6 / N, with f''' from a third central difference of
    step 1e-3 (the factor 2 covers that estimate), plus 2 x 64 eps |ln Z| / (2h N).
    At L = 16, h = 1e-5 it is below 1e-8 per spin; at J_x = J_y the difference lies
    within 2e-9 of Kaufman's analytic derivative (:func:`ising.exact.kaufman_energy_per_spin`)
    from T = 1.2 to 3, T_c included.

    Parameters
    ----------
    L : int, torus side; beta : float (or float64 array) > step; ratio : float, J_y/J_x > 0.

    Returns
    -------
    (u, bound) : floats, or float64 arrays shaped like ``beta``; units of J_x per spin.
    """
    beta = np.asarray(beta, dtype=np.float64)
    if not 0 < step < np.min(beta):
        raise ValueError(f"the difference step must lie in (0, min beta), got step={step}")
    n = float(L) ** 2

    def log_z(b):
        return anisotropic_log_z(L, ratio, b)

    u = -(log_z(beta + step) - log_z(beta - step)) / (2.0 * step * n)
    d = _THIRD_DIFFERENCE_STEP
    third = (log_z(beta + 2 * d) - 2 * log_z(beta + d) + 2 * log_z(beta - d) - log_z(beta - 2 * d)) / (
        2.0 * d**3
    )
    truncation = 2.0 * step**2 * np.abs(third) / 6.0 / n
    rounding = 2.0 * _LOG_Z_ROUNDING * np.finfo(float).eps * np.abs(log_z(beta)) / (2.0 * step * n)
    bound = truncation + rounding
    if beta.ndim == 0:
        return float(u), float(bound)
    return u, bound


def _families(settings: dict) -> list[dict]:
    from ising.lattice import CRITICAL_TEMPERATURES, anisotropic_critical_temperature

    tc = float(CRITICAL_TEMPERATURES["square"])
    out = [{"family": SYMMETRIC, "h": 0.0, "ratio": 1.0, "T_c": tc, "broken": None}]
    for h in settings["fields"]:
        out.append({"family": f"field h={h:g}", "h": float(h), "ratio": 1.0, "T_c": tc, "broken": "z2"})
    for r in settings["ratios"]:
        out.append(
            {
                "family": f"J_y/J_x={r:g}",
                "h": 0.0,
                "ratio": float(r),
                "T_c": anisotropic_critical_temperature(float(r)),
                "broken": "d4",
            }
        )
    return out


def _lattice(settings: dict, ratio: float):
    from ising.lattice import anisotropic_square, square

    L, b = int(settings["L"]), int(settings["b"])
    return square(L, b) if ratio == 1.0 else anisotropic_square(L, b, ratio=ratio)


def _sample_family(settings: dict, family: dict, index: int, seed: int) -> dict:
    """Training (n_max per T) and test (n_test per T) configurations of one family, independent chains."""
    from ising.sampling import sample_ensemble

    lattice = _lattice(settings, family["ratio"])
    n_train = max(settings["n_train"])
    parts = {"train": [], "test": []}
    for k, t in enumerate(settings["reduced_temperatures"]):
        T = float(t) * family["T_c"]
        for p, (part, n) in enumerate((("train", n_train), ("test", int(settings["n_test"])))):
            chain_seed = ((int(seed) * 16 + index) * 64 + k) * 2 + p
            ens = sample_ensemble(lattice, T, n, h=family["h"], seed=chain_seed)
            parts[part].append((ens, T))
    out = {"lattice": lattice}
    for part, items in parts.items():
        out[part] = {
            "spins": np.concatenate([e.spins for e, _ in items]).astype(np.float32),
            "beta": np.concatenate([np.full(e.n, 1.0 / T) for e, T in items]),
            "energy": np.concatenate([e.energy for e, _ in items]),
            "rank": np.concatenate([np.arange(e.n) for e, _ in items]),
        }
    return out


def n_to_reach(n_values, ratios, threshold: float) -> tuple[float, bool]:
    """Training configurations per temperature at which the Bayes ratio first falls to ``threshold``.

    Linear interpolation of the ratio in log n between the last n above the
    threshold and the first at or below it; the smallest n if it is already
    reached there. Returns ``(n, reached)``; a curve that never reaches the
    threshold is censored at twice the largest n with ``reached=False``.
    """
    n_values = np.asarray(n_values, dtype=float)
    ratios = np.asarray(ratios, dtype=float)
    below = np.flatnonzero(ratios <= threshold)
    if below.size == 0:
        return 2.0 * n_values.max(), False
    i = int(below[0])
    if i == 0:
        return float(n_values[0]), True
    r0, r1 = ratios[i - 1], ratios[i]
    x0, x1 = np.log(n_values[i - 1]), np.log(n_values[i])
    return float(np.exp(x0 + (r0 - threshold) / (r0 - r1) * (x1 - x0))), True


def _train(model, data, n_per_T, settings, seed, augment=False):
    from models.symmetry import train_fixed_budget

    keep = data["rank"] < n_per_T
    return train_fixed_budget(
        model,
        data["spins"][keep],
        data["beta"][keep],
        steps=int(settings["steps"]),
        batch_size=int(settings["batch_size"]),
        learning_rate=float(settings["learning_rate"]),
        seed=seed,
        augment=augment,
    )


def _build(variant, settings, seed):
    from models.symmetry import build_symmetry_thermometer

    L, b = int(settings["L"]), int(settings["b"])
    return build_symmetry_thermometer(
        variant,
        L,
        width=(L // b) ** 2,
        hidden=int(settings["hidden"]),
        seed=seed,
        train_shifts=int(settings["train_shifts"]),
        strength_scale=float(settings["strength_scale"]),
        violation_floor=float(settings["violation_floor"]),
    )


def _violation_subset(test: dict, n: int) -> np.ndarray:
    """Up to n test configurations spread evenly over the temperatures."""
    idx = np.linspace(0, test["spins"].shape[0] - 1, min(n, test["spins"].shape[0])).round().astype(int)
    return test["spins"][np.unique(idx)]


def _anisotropic_check(settings: dict, seed: int) -> pd.DataFrame:
    """z-scores of Metropolis mean energies with J_y/J_x != 1 against exact results.

    For each ratio, at ``check_temperatures`` and T_c(ratio): the 4 x 4 torus against
    exact enumeration and the ``check_L`` x ``check_L`` torus against Kaufman's
    anisotropic formula (:func:`anisotropic_energy_per_spin`, with its error bound).
    z = (mean E/N - exact) / sigma, sigma the tau_int-aware standard error of the stored
    series (:func:`ising.autocorr.mean_error`), as in ``tests/test_validation.py``.
    """
    from ising.autocorr import mean_error
    from ising.exact import enumerate_ising
    from ising.lattice import anisotropic_critical_temperature, anisotropic_square
    from ising.sampling import sample_ensemble

    rows = []
    for r in settings["ratios"]:
        r = float(r)
        temperatures = sorted(
            {*map(float, settings["check_temperatures"]), anisotropic_critical_temperature(r)}
        )
        for L, source in ((4, "enumeration"), (int(settings["check_L"]), "Kaufman")):
            lattice = anisotropic_square(L, 2, ratio=r)
            for k, T in enumerate(temperatures):
                if source == "enumeration":
                    exact, bound = enumerate_ising(lattice, 1.0 / T).energy_per_spin, 0.0
                else:
                    exact, bound = anisotropic_energy_per_spin(L, 1.0 / T, r)
                ens = sample_ensemble(
                    lattice,
                    T,
                    int(settings["check_n"]),
                    seed=(int(seed) * 100 + k) * 2 + (L > 4),
                    pilot_taus=200,
                )
                mean, se = mean_error(ens.energy / lattice.n_sites)
                rows.append(
                    {
                        "seed": seed,
                        "ratio": r,
                        "L": L,
                        "exact_from": source,
                        "T": T,
                        "algorithm": ens.params["algorithm"],
                        "energy_mc": mean,
                        "energy_se": se,
                        "energy_exact": float(exact),
                        "exact_bound": float(bound),
                        "tau_int": float(ens.params["tau_int"]),
                        "z": (mean - float(exact)) / se,
                    }
                )
    return pd.DataFrame(rows)


def _rule_model(lattice, rule: str):
    """The analytic rule as a Keras model (batch, L, L) -> (batch, L/b, L/b), for the same measures."""
    import keras

    from transfer.analytic import analytic_encoder_layer

    inputs = keras.Input(lattice.shape, name="spins")
    return keras.Model(inputs, analytic_encoder_layer(lattice, rule, name="code")(inputs), name=rule)


def _encoder_row(model, kernel, lattice, test: dict, rule: str, settings: dict, seed: int) -> dict:
    """Agreement, sparsity, C2 measures and equivariance violations of one block encoder on test data."""
    from analysis.codes import code_summary
    from analysis.sparsity import block_locality, gini, hoyer
    from models.symmetry import predict_codes, symmetry_violation
    from transfer.analytic import block_spins

    b = int(settings["b"])
    spins = test["spins"]
    target = block_spins(spins.astype(np.int8), lattice, rule)
    codes = np.where(predict_codes(model, spins) >= 0, 1, -1).astype(np.int8)
    match = codes == target
    flat = spins.reshape(len(spins), -1)
    ties = flat[:, lattice.block_members()].sum(axis=2).reshape(target.shape) == 0
    summaries = [
        code_summary(codes[rows].reshape(int(rows.sum()), -1), spins[rows], lattice, seed=seed)
        for rows in (test["beta"] == beta for beta in np.unique(test["beta"]))
    ]
    subset = _violation_subset(test, int(settings["n_violation"]))
    violation = symmetry_violation(model, subset, seed=int(seed), block=b)
    return {
        "agreement": float(match.mean()),
        "agreement_ties": float(match[ties].mean()) if ties.any() else np.nan,
        "tie_fraction": float(ties.mean()),
        "hoyer": float(hoyer(kernel).mean()),
        "gini": float(gini(kernel).mean()),
        "block_locality": float(block_locality(kernel, lattice).mean()),
        **{
            key: float(np.nanmean([row[key] for row in summaries]))
            for key in ("mean_abs_correlation", "probe_r2_energy", "probe_r2_abs_magnetization")
        },
        **{f"violation_{kind}": value for kind, value in violation.items()},
    }


def _encoders(settings: dict, sym: dict, seed: int) -> pd.DataFrame:
    """Every encoder variant trained on each rule, and the rule itself, measured on the test set."""
    import keras

    from models.symmetry import build_symmetry_encoder, encoder_dense_kernel, train_fixed_budget
    from transfer.analytic import block_spins, rule_weights

    lattice, b = sym["lattice"], int(settings["b"])
    n = int(settings["encoder_n_train"])
    keep = sym["train"]["rank"] < n
    x = sym["train"]["spins"][keep]
    rows = []
    for r, rule in enumerate(settings["encoder_rules"]):
        y = block_spins(x.astype(np.int8), lattice, rule).astype(np.float32)
        reference = _encoder_row(
            _rule_model(lattice, rule),
            rule_weights(lattice, rule),
            lattice,
            sym["test"],
            rule,
            settings,
            seed,
        )
        rows.append({"seed": seed, "rule": rule, "variant": "rule", "n_train": 0, **reference})
        for v, variant in enumerate(VARIANTS):
            keras.utils.set_random_seed(int(seed))
            model = build_symmetry_encoder(
                variant,
                int(settings["L"]),
                b,
                seed=int(seed) * 10 + v,
                train_shifts=int(settings["train_shifts"]),
                strength_scale=float(settings["encoder_strength_scale"]),
                violation_floor=float(settings["encoder_violation_floor"]),
            )
            train_fixed_budget(
                model,
                x,
                y,
                steps=int(settings["encoder_steps"]),
                batch_size=int(settings["encoder_batch_size"]),
                learning_rate=float(settings["encoder_learning_rate"]),
                seed=int(seed) * 1000 + r,
                augment=variant == "augmented",
                block=b,
            )
            row = _encoder_row(model, encoder_dense_kernel(model), lattice, sym["test"], rule, settings, seed)
            rows.append({"seed": seed, "rule": rule, "variant": variant, "n_train": n, **row})
    return pd.DataFrame(rows)


def _bayes_sweeps(settings: dict, families: list, bayes: dict) -> dict[str, list[int]]:
    """Family name -> training sizes of the Bayes-ratio sweep, for families with an exact limit.

    The symmetric family gets ``n_train``; every other family whose Bayes limit is
    available (h = 0 and an exact ln Z: the anisotropic ones) gets ``anisotropic_n_train``.
    A family without a limit (h != 0) gets no sweep, so no ratio is ever quoted for it.
    """
    sweeps = {SYMMETRIC: sorted(int(n) for n in settings["n_train"])}
    for family in families:
        if family["family"] != SYMMETRIC and bayes[family["family"]].available:
            sweeps[family["family"]] = sorted(int(n) for n in settings["anisotropic_n_train"])
    return sweeps


def run_seed(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """All work of one seed: ensembles, Bayes-ratio sweeps, violations, C7 strengths, checks, encoders."""
    import keras

    from models.evaluation import bayes_limit, evaluate_thermometer
    from models.symmetry import predict, soft_strengths, symmetry_violation

    families = _families(settings)
    by_name = {f["family"]: f for f in families}
    data = {f["family"]: _sample_family(settings, f, i, seed) for i, f in enumerate(families)}
    bayes = {
        name: bayes_limit(d["lattice"], d["test"]["energy"], d["test"]["beta"], h=by_name[name]["h"])
        for name, d in data.items()
    }
    sym = data[SYMMETRIC]
    n_values = sorted(int(n) for n in settings["n_train"])
    sweeps = _bayes_sweeps(settings, families, bayes)
    efficiency, violations, strengths = [], [], []
    # (strengths, violations) of the soft-equivariant thermometer trained on the largest n of a family
    soft_results = {}
    for v, variant in enumerate(VARIANTS):
        keras.utils.set_random_seed(int(seed))
        model = _build(variant, settings, seed=int(seed) * 10 + v)
        initial = model.get_weights()
        for name, sizes in sweeps.items():
            family, family_test = by_name[name], data[name]["test"]
            subset = _violation_subset(family_test, int(settings["n_violation"]))
            for n in sizes:
                model.set_weights(initial)
                _train(
                    model,
                    data[name]["train"],
                    n,
                    settings,
                    seed=int(seed) * 1000 + n,
                    augment=variant == "augmented",
                )
                metrics = evaluate_thermometer(family_test["beta"], predict(model, family_test["spins"]))
                mse, ref = metrics["overall"]["mse"], bayes[name].mse
                efficiency.append(
                    {
                        "seed": seed,
                        **{c: family[c] for c in FAMILY_COLUMNS},
                        "variant": variant,
                        "n_train": n,
                        "mse": mse,
                        "bayes_mse": ref,
                        "bayes_ratio": mse / ref,
                        "threshold": float(settings["ratio_threshold"]),
                    }
                )
                if variant == "soft_equivariant" and n == n_values[-1]:
                    soft_results[name] = (
                        soft_strengths(model),
                        symmetry_violation(model, subset, seed=int(seed)),
                    )
            if name == SYMMETRIC:
                # the model trained on the largest n of the symmetric family
                for kind, value in symmetry_violation(model, subset, seed=int(seed)).items():
                    violations.append(
                        {
                            "seed": seed,
                            "variant": variant,
                            "n_train": n_values[-1],
                            "type": kind,
                            "violation": value,
                        }
                    )
        if variant == "soft_equivariant":
            soft_model, soft_initial = model, initial
    # The soft-equivariant model of the sweeps, restarted from the same initial weights
    # (and compiled step) on every family it was not yet trained on with the largest n.
    for family in families:
        name = family["family"]
        if name not in soft_results:
            soft_model.set_weights(soft_initial)
            _train(
                soft_model, data[name]["train"], n_values[-1], settings, seed=int(seed) * 1000 + n_values[-1]
            )
            subset = _violation_subset(data[name]["test"], int(settings["n_violation"]))
            soft_results[name] = (
                soft_strengths(soft_model),
                symmetry_violation(soft_model, subset, seed=int(seed)),
            )
        lam, viol = soft_results[name]
        for kind in SYMMETRY_TYPES:
            role = (
                "reference"
                if family["broken"] is None
                else ("broken" if kind == family["broken"] else "exact")
            )
            strengths.append(
                {
                    "seed": seed,
                    **{c: family[c] for c in FAMILY_COLUMNS},
                    "type": kind,
                    "role": role,
                    "strength": lam[kind],
                    "log_strength": float(np.log(lam[kind])),
                    "violation": viol[kind],
                }
            )
    strengths = pd.DataFrame(strengths)
    reference = strengths[strengths["family"] == SYMMETRIC].set_index("type")["log_strength"]
    strengths["fall"] = strengths["type"].map(reference) - strengths["log_strength"]
    efficiency = pd.DataFrame(efficiency)
    c6 = []
    for variant, rows in efficiency[efficiency["family"] == SYMMETRIC].groupby("variant", sort=False):
        rows = rows.sort_values("n_train")
        n_star, reached = n_to_reach(rows["n_train"], rows["bayes_ratio"], float(settings["ratio_threshold"]))
        c6.append(
            {
                "seed": seed,
                "variant": variant,
                "ratio_smallest_n": float(rows["bayes_ratio"].iloc[0]),
                "n_needed": n_star,
                "log2_n_needed": float(np.log2(n_star)),
                "reached": reached,
            }
        )
    return {
        "symmetry_efficiency": efficiency,
        "symmetry_c6": pd.DataFrame(c6),
        "symmetry_violation": pd.DataFrame(violations),
        "symmetry_strengths": strengths,
        "symmetry_anisotropic_check": _anisotropic_check(settings, seed),
        "symmetry_encoders": _encoders(settings, sym, seed),
    }


def _family_rows(df: pd.DataFrame, family: str) -> pd.DataFrame:
    return df[df["family"] == family]


def _variant_rows(df: pd.DataFrame, variant: str, n: int) -> pd.DataFrame:
    return df[(df["variant"] == variant) & (df["n_train"] == n)]


def _rule_rows(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    return df[df["rule"] == rule]


def claims(settings: dict) -> tuple[Claim, ...]:
    """C6 (sample efficiency of built-in symmetry) and C7 (learned strengths find the broken type)."""
    thr = settings["ratio_threshold"]
    c6 = []
    for variant, role, note in (
        ("weight_shared", "verdict", "censored at 2 x the largest n where not reached"),
        ("group_averaged", "verdict", "censored at 2 x the largest n where not reached"),
        ("augmented", "shown", ""),
        ("soft_equivariant", "shown", ""),
    ):
        c6.append(
            Comparison(
                f"log2 n to reach Bayes ratio <= {thr}: free_dense - {variant}",
                "symmetry_c6",
                "log2_n_needed",
                "variant",
                "free_dense",
                variant,
                role=role,
                note=note,
            )
        )
    for variant in VARIANTS[1:]:
        c6.append(
            Comparison(
                f"Bayes ratio at the smallest n: free_dense - {variant}",
                "symmetry_c6",
                "ratio_smallest_n",
                "variant",
                "free_dense",
                variant,
                role="shown",
            )
        )
    n_broken = max(int(n) for n in settings["anisotropic_n_train"])
    for family in _families(settings):
        if family["broken"] != "d4":
            continue
        for variant in VARIANTS:
            c6.append(
                Comparison(
                    f"{family['family']} - symmetric ensembles, Bayes ratio at n = {n_broken}: {variant}",
                    "symmetry_efficiency",
                    "bayes_ratio",
                    "family",
                    family["family"],
                    SYMMETRIC,
                    role="shown",
                    select=partial(_variant_rows, variant=variant, n=n_broken),
                    note="D4 broken to D2; the energy stays sufficient and ln Z exact (Kaufman, anisotropic)",
                )
            )
    for rule in settings["encoder_rules"]:
        for variant in VARIANTS[1:]:
            c6.append(
                Comparison(
                    f"learned {rule} encoder, test sign agreement: {variant} - free_dense",
                    "symmetry_encoders",
                    "agreement",
                    "variant",
                    variant,
                    "free_dense",
                    role="shown",
                    select=partial(_rule_rows, rule=rule),
                    note=f"{settings['encoder_n_train']} training configurations per temperature; "
                    "encoders have no Bayes limit, so they do not decide C6",
                )
            )
    c7 = []
    for family in _families(settings):
        if family["broken"] is None:
            continue
        name = family["family"]
        c7.append(
            Comparison(
                f"{name}: fall of ln lambda, broken ({family['broken']}) - exact types",
                "symmetry_strengths",
                "fall",
                "role",
                "broken",
                "exact",
                select=partial(_family_rows, family=name),
                note="fall = ln lambda(symmetric ensembles) - ln lambda(this family), per type",
            )
        )
        c7.append(
            Comparison(
                f"{name}: ln lambda, exact types - broken ({family['broken']})",
                "symmetry_strengths",
                "log_strength",
                "role",
                "exact",
                "broken",
                role="shown",
                select=partial(_family_rows, family=name),
                note="raw strengths; types differ in scale",
            )
        )
    return (
        Claim(
            "C6",
            "Building the Ising symmetries into a thermometer (weight sharing, group averaging) reaches the "
            "Bayes limit with fewer training configurations than a free dense network.",
            tuple(c6),
            note=(
                f"L = {settings['L']}, same width and gradient-step budget for every variant; n per "
                "temperature."
            ),
        ),
        Claim(
            "C7",
            "Per-symmetry equivariance penalties with strengths tuned in training discover which symmetry "
            "the data break and keep the exact ones.",
            tuple(c7),
            note=(
                "soft-equivariant thermometer trained on each ensemble family; strength = a / "
                "(violation + b)."
            ),
        ),
    )


#: Report tables: the index as the first column, floats to 3 significant digits.
_markdown = partial(markdown_table, float_format=".3g", index=True)


def report(tables: dict, settings: dict) -> list[str]:
    """Markdown of the symmetry study: settings, Bayes ratios, violations, strengths, checks, limits."""
    eff = tables["symmetry_efficiency"]
    c6 = tables["symmetry_c6"]
    viol = tables["symmetry_violation"]
    lam = tables["symmetry_strengths"]
    check = tables["symmetry_anisotropic_check"]
    n_seeds = eff["seed"].nunique()
    temps = ", ".join(f"{t:g}" for t in settings["reduced_temperatures"])
    lines = [
        f"Square torus L = {settings['L']} (a small lattice, to fit the time budget), reduced temperatures "
        f"T/T_c = {temps}, {settings['n_test']} test configurations per temperature from "
        "chains independent of "
        f"the training chains, {n_seeds} seeds. Every variant has a first layer of (L/b)² = "
        f"{(settings['L'] // settings['b']) ** 2} tanh units with L² weights each, "
        f"Dense({settings['hidden']}, relu), "
        f"Dense(1), and is trained for exactly {settings['steps']} Adam steps of {settings['batch_size']} "
        "configurations (drawn with replacement), whatever n. The free dense network is the study's dense "
        "thermometer without its spin-flip pair; group averaging uses all L² shifts × D4 × Z2 "
        "at evaluation and "
        f"{settings['train_shifts']} random shifts × D4 × Z2 per training step.",
        "",
        "**Bayes ratio** (network MSE / Bayes-posterior MSE with Kaufman's exact ln Z; mean over seeds) "
        "against training configurations per temperature:",
        "",
        *_markdown(
            eff[eff["family"] == SYMMETRIC]
            .pivot_table(index="variant", columns="n_train", values="bayes_ratio", aggfunc="mean")
            .reindex(VARIANTS)
        ),
        "",
        *_broken_bayes_report(eff, settings),
        "",
        f"Configurations per temperature to reach ratio <= {settings['ratio_threshold']} (mean over seeds; "
        "censored at twice the largest n where a seed never reaches it) and seeds that reached it:",
        "",
        *_markdown(
            c6.groupby("variant", sort=False).agg(
                n_needed=("n_needed", "mean"),
                reached=("reached", "sum"),
                ratio_smallest_n=("ratio_smallest_n", "mean"),
            )
        ),
        "",
        "**Symmetry violation** mean |f(gs) - f(s)| on test data, models trained on the "
        "largest n (mean over seeds); "
        "the group-averaged model must be at float rounding, the weight-shared one in translations:",
        "",
        *_markdown(
            viol.pivot_table(index="variant", columns="type", values="violation", aggfunc="mean").reindex(
                VARIANTS
            )
        ),
        "",
        "**Learned strengths** ln lambda per type of the soft-equivariant thermometer per ensemble family "
        "(mean over seeds), and their fall relative to the symmetric ensembles:",
        "",
        *_markdown(lam.pivot_table(index="family", columns="type", values="log_strength", aggfunc="mean")),
        "",
        *_markdown(lam.pivot_table(index="family", columns="type", values="fall", aggfunc="mean")),
        "",
        "**Anisotropic sampler check**: the one sampler that serves per-bond couplings, colour-class "
        "Metropolis (the multi-spin-coded fast path and both Wolff kernels decline them), on the 4 × 4 "
        "torus against exact enumeration and on the "
        f"{settings['check_L']} × {settings['check_L']} torus against Kaufman's anisotropic ln Z "
        "(energy = -d ln Z/d beta / N by a central difference, its error bound in `exact_bound`), "
        f"{settings['check_n']} configurations per row; z = (mean E/N - exact) / sigma, sigma from "
        "the tau_int-corrected variance of the stored series (tau_int of the chain, in sweeps). "
        "Mean over seeds, and the largest |z| over seeds:",
        "",
        *_markdown(
            check.groupby(["ratio", "L", "T"])
            .agg(
                energy_mc=("energy_mc", "mean"),
                energy_exact=("energy_exact", "first"),
                exact_bound=("exact_bound", "max"),
                tau_int=("tau_int", "mean"),
                mean_z=("z", "mean"),
                max_abs_z=("z", lambda z: float(np.abs(z).max())),
            )
            .reset_index()
            .set_index("ratio"),
            float_format=".5g",
        ),
        "",
        *_encoder_report(tables["symmetry_encoders"], settings),
        "",
        "What this can and cannot show: the Bayes limit is quoted where the energy is sufficient for "
        "beta and ln Z is exact: the symmetric ensembles (Kaufman) and the anisotropic ones at h = 0 "
        "(E = J_x E_x + J_y E_y at a fixed ratio J_y/J_x; Kaufman's anisotropic torus formula). For "
        "h != 0 the energy alone is not sufficient (E_nn and M are) and no exact ln Z with a field "
        "exists for the torus, so no ratio is given for the field family. "
        "The D4 penalty averages the 7 non-identity elements, 3 of which (the D2 subgroup) stay exact at "
        "J_x != J_y. The invariance penalties are evaluated on training configurations only, "
        "so a symmetry whose "
        "images lie off the data (flipped configurations in a strong field) can be kept at no "
        "cost to the fit "
        "and its strength need not fall. The strengths are a / (running violation + b), a "
        "Gamma-prior posterior "
        "mode of a precision; this is our reading of the automatic tuning of Kim et al. (ICML "
        "2023), not their code.",
    ]
    return lines


#: Columns of the encoder table in the report, in order.
_ENCODER_COLUMNS = (
    "agreement",
    "agreement_ties",
    "hoyer",
    "gini",
    "block_locality",
    "mean_abs_correlation",
    "probe_r2_energy",
    "probe_r2_abs_magnetization",
    "violation_translation",
    "violation_d4",
    "violation_z2",
)


def _broken_bayes_report(eff: pd.DataFrame, settings: dict) -> list[str]:
    """The Bayes ratio of every variant on the anisotropic families beside the symmetric one."""
    families = [f for f in dict.fromkeys(eff["family"]) if f != SYMMETRIC]
    sizes = sorted(int(n) for n in settings["anisotropic_n_train"])
    lines = [
        "**Bayes ratio with D4 broken** (J_y/J_x != 1, h = 0: the energy E = J_x E_x + J_y E_y is "
        "sufficient for beta and ln Z is exact, Kaufman's anisotropic torus formula): every variant "
        "trained as above on the first n configurations per temperature of the anisotropic "
        "training chains (same reduced temperatures T/T_c, T_c of the ratio) and tested on that "
        "family's test chains, beside the same variant on the symmetric ensembles (mean over seeds). "
        "The group-averaged model is exactly D4-invariant, so it cannot compute E itself, only "
        "functions symmetric under E_x <-> E_y; augmentation trains on rotated configurations "
        "labelled with the unrotated beta. A ratio close to the symmetric one would say the "
        "restriction costs little here (plausibly because the strong bonds are nearly always the "
        "more satisfied ones, so the unordered pair (E_x, E_y) fixes E); the limit of "
        "D4-invariant estimators itself is not computed. No ratio is given for the field family "
        "(h != 0): the energy alone is not sufficient there and no exact ln Z with a field exists.",
        "",
    ]
    if not families:
        return lines[:-1] + ["", "(No anisotropic family in these settings.)"]
    rows = eff[eff["n_train"].isin(sizes)]
    table = rows.pivot_table(
        index="variant", columns=["family", "n_train"], values="bayes_ratio", aggfunc="mean"
    )
    table = table.reindex(VARIANTS)[[(f, n) for f in [SYMMETRIC, *families] for n in sizes]]
    table.columns = [f"{f}, n={n}" for f, n in table.columns]
    return lines + _markdown(table)


def _encoder_report(enc: pd.DataFrame, settings: dict) -> list[str]:
    """The learned RG encoder subsection: what was trained, the table, how to read it."""
    L, b = settings["L"], settings["b"]
    lines = [
        f"**Learned RG encoders** on the same L = {L} ensembles, {b} × {b} blocks, N = {L * L} -> "
        f"N/B = {(L // b) ** 2} tanh units, each variant trained for exactly "
        f"{settings['encoder_steps']} Adam steps of {settings['encoder_batch_size']} (configuration, "
        "block spins) pairs, learning rate "
        f"{settings['encoder_learning_rate']}, squared error, on the first {settings['encoder_n_train']} "
        "training configurations per temperature (no noisy inputs, unlike the main study's encoders, so "
        "that only the symmetry differs). free_dense is the study's Dense(N/B) encoder; weight_shared one "
        f"{b} × {b} filter and bias tiled over the blocks (a stride-{b} convolution); group_averaged the "
        f"dense encoder averaged as g^-1 f(g s) over D4 × Z2 × translations by multiples of {b} (all "
        f"{(L // b) ** 2} at evaluation, {settings['train_shifts']} random ones per training step); "
        "augmented the dense encoder on pairs moved by one random group element (input and target); "
        "soft_equivariant "
        "one equivariance penalty per type with strengths a / (violation + b_floor), a = "
        f"{settings['encoder_strength_scale']}, b_floor = {settings['encoder_violation_floor']}. Measured "
        "on the test configurations: sign agreement with the rule (all blocks; tied blocks, sum 0), "
        "Hoyer, Gini and block locality of the first-layer weights as a Dense kernel (the backbone's "
        "for the wrappers; the tiled filter for weight_shared), mean |R_ij| and the degree-2 probe R² of "
        "the binarised code (per temperature, then averaged), and the equivariance violation "
        "mean |f(gs) - g·f(s)| of the tanh output per coarse unit. Row `rule` is the analytic rule "
        "itself (outputs ±1, so its violations are 2 × the fraction of units that change). Mean over "
        "seeds:",
        "",
    ]
    for rule, rows in enc.groupby("rule", sort=False):
        table = rows.groupby("variant", sort=False)[list(_ENCODER_COLUMNS)].mean()
        lines += [f"Rule: {rule}", "", *_markdown(table), ""]
    lines.append(
        "How to read it: the rules themselves are translation- (by b) and flip-equivariant but not "
        "D4-equivariant (decimation keeps one corner of the block; majority breaks ties with that corner), "
        "so a D4-equivariant encoder (group_averaged) can agree with the rule on tied blocks only about half "
        "the time, and augmenting with D4 moves teaches it label noise. The weight-shared encoder's "
        "sparsity and block locality hold by construction (b² non-zero weights per unit); the dense "
        "variants' are learned. These rows are shown beside C6, not decided: C6 concerns thermometers "
        "and the Bayes limit."
    )
    return lines


def _draw_encoders(tables: dict, stem) -> list:
    from analysis.plots import _figure, _save

    df = tables["symmetry_encoders"]
    variants = ["rule", *VARIANTS]
    rules = list(dict.fromkeys(df["rule"]))
    fig, axes = _figure(1, 2, width=4.5, height=3.5)
    x = np.arange(len(variants))
    width = 0.8 / len(rules)
    for i, rule in enumerate(rules):
        rows = df[df["rule"] == rule].groupby("variant")["agreement"]
        mean = rows.mean().reindex(variants)
        sd = rows.std(ddof=1).reindex(variants).fillna(0.0)
        offset = (i - (len(rules) - 1) / 2) * width
        axes[0, 0].bar(x + offset, mean.values, width, yerr=sd.values, capsize=2, label=rule)
    axes[0, 0].set_xticks(x, variants, rotation=30, ha="right")
    axes[0, 0].set_ylabel("test sign agreement with the rule")
    axes[0, 0].set_ylim(min(0.9, float(df["agreement"].min()) - 0.01), 1.0)
    axes[0, 0].legend(fontsize=7)
    ax = axes[0, 1]
    width = 0.8 / len(SYMMETRY_TYPES)
    first = df[df["rule"] == rules[0]]
    floor = 1e-9
    for i, kind in enumerate(SYMMETRY_TYPES):
        mean = first.groupby("variant")[f"violation_{kind}"].mean().reindex(variants)
        ax.bar(x + (i - 1) * width, np.maximum(mean.values, floor), width, label=kind)
    ax.set_yscale("log")
    ax.set_xticks(x, variants, rotation=30, ha="right")
    ax.set_ylabel(f"equivariance violation ({rules[0]}), floor {floor:g}")
    ax.legend(fontsize=7)
    return _save(fig, stem)


def _draw_efficiency(tables: dict, stem) -> list:
    from analysis.plots import _figure, _save

    df = tables["symmetry_efficiency"]
    fig, axes = _figure(1, 1, width=4.5, height=3.5)
    ax = axes[0, 0]
    broken = df[df["family"] != SYMMETRIC]
    df = df[df["family"] == SYMMETRIC]
    for variant in VARIANTS:
        rows = df[df["variant"] == variant].groupby("n_train")["bayes_ratio"]
        mean, sd = rows.mean(), rows.std(ddof=1).fillna(0.0)
        line = ax.errorbar(mean.index, mean.values, yerr=sd.values, marker="o", capsize=2, label=variant)
        for family, rows in broken[broken["variant"] == variant].groupby("family"):
            mean = rows.groupby("n_train")["bayes_ratio"].mean()
            ax.plot(
                mean.index,
                mean.values,
                linestyle="--",
                marker="o",
                markerfacecolor="none",
                color=line.lines[0].get_color(),
                label=f"{variant}, {family}",
            )
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    ax.axhline(float(df["threshold"].iloc[0]), color="0.5", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    n_values = sorted(df["n_train"].unique())
    ax.set_xticks(n_values, [str(n) for n in n_values])
    ax.minorticks_off()
    ax.set_xlabel("training configurations per temperature")
    ax.set_ylabel("Bayes ratio (MSE / Bayes MSE)")
    ax.legend(fontsize=6)
    return _save(fig, stem)


def _draw_strengths(tables: dict, stem) -> list:
    from analysis.plots import _figure, _save

    df = tables["symmetry_strengths"]
    families = list(dict.fromkeys(df["family"]))
    fig, axes = _figure(1, 1, width=5.0, height=3.5)
    ax = axes[0, 0]
    width = 0.8 / len(families)
    x = np.arange(len(SYMMETRY_TYPES))
    for i, family in enumerate(families):
        rows = df[df["family"] == family].groupby("type")["log_strength"]
        mean = rows.mean().reindex(SYMMETRY_TYPES)
        sd = rows.std(ddof=1).reindex(SYMMETRY_TYPES).fillna(0.0)
        ax.bar(
            x + (i - (len(families) - 1) / 2) * width,
            mean.values,
            width,
            yerr=sd.values,
            capsize=2,
            label=family,
        )
    ax.set_xticks(x, SYMMETRY_TYPES)
    ax.set_ylabel("learned strength ln lambda")
    ax.legend(fontsize=7)
    return _save(fig, stem)


STUDY = SideStudy(
    name="symmetry",
    title="Symmetry-aware thermometers and broken symmetries (C6, C7)",
    defaults=DEFAULTS,
    profiles=PROFILES,
    own_files=("analysis/symmetry.py", "models/symmetry.py"),
    sources=(
        "ising",
        "models/evaluation.py",
        "models/layers.py",
        "transfer/learned.py",
        "transfer/analytic.py",
        "analysis/codes.py",
        "analysis/sparsity.py",
    ),
    run_seed=run_seed,
    claims=claims,
    report=report,
    figures=(
        SideFigure("symmetry_sample_efficiency", ("symmetry_efficiency",), _draw_efficiency),
        SideFigure("symmetry_strengths", ("symmetry_strengths",), _draw_strengths),
        SideFigure("symmetry_encoders", ("symmetry_encoders",), _draw_encoders),
    ),
)
