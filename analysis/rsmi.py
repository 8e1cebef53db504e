"""Claim C10: a coarse-graining learned by maximising I(H : E) (RSMI), its estimator checks and verdict.

Per seed (:func:`run_seed`): an ensemble on the square torus at T_c
(:func:`ising.sampling.sample_ensemble`); one (V, E) patch per block
(:func:`transfer.rsmi.block_patches`); the RSMI filter Λ learned on the
patches of the first configurations (:func:`transfer.rsmi.train_rsmi_filter`);
then, on the patches of the other configurations, the InfoNCE bound on
I(H : E) for the binarised RSMI, majority-rule and decimation block spins,
with one critic each of the same shape, trained on the same batches and
evaluated on the same held-out batches (paired errors).

The estimator is checked per seed (:func:`estimator_checks`) on correlated
Gaussian pairs, I = -½ ln(1 - ρ²), and on the 4 x 4 Ising torus, whose 2^16
states are enumerated, so I(H : E) is exact for every filter (the learned one
included), beside the plug-in count (Miller-Madow corrected) and the neural
bound from i.i.d. samples of the exact distribution; these pairs are estimated in
the same model as the comparison (as many samples, the same batches and epochs).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from analysis.claims import Claim, Comparison
from analysis.side import SideFigure, SideStudy, markdown_table

__all__ = [
    "torus_states",
    "exact_mutual_information",
    "plugin_mutual_information",
    "estimator_checks",
    "majority_agreement",
    "run_seed",
    "claims",
    "report",
    "STUDY",
]

#: Coarse-grainings compared under the same estimator, in table order.
RULES = ("rsmi", "majority", "decimation")
#: Block filters of the analytic rules on a 2 x 2 block (C order; 1.5 on the representative is the tie rule).
RULE_FILTERS = {"majority": (1.5, 1.0, 1.0, 1.0), "decimation": (1.0, 0.0, 0.0, 0.0)}


def torus_states(L: int, T: float, J: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """All 2^(L²) states of the L x L Ising torus and their Boltzmann probabilities.

    Returns ``(spins int8 (2^(L²), L, L), p float64 (2^(L²),))``; L <= 4.
    """
    if not 2 <= L <= 4:
        raise ValueError(f"exact enumeration is for 2 <= L <= 4 (2^(L^2) states), got L = {L}")
    n = L * L
    codes = np.arange(2**n, dtype=np.int64)
    spins = (1 - 2 * ((codes[:, None] >> np.arange(n)) & 1)).astype(np.int8).reshape(-1, L, L)
    s = spins.astype(np.int64)
    energy = -J * (s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2)).sum(axis=(1, 2))
    weight = np.exp(-(energy - energy.min()) / T)
    return spins, weight / weight.sum()


def exact_mutual_information(h_labels, e_labels, p) -> float:
    """I(H : E) in nats of discrete labels under state probabilities p (all float/int (n_states,))."""
    h = np.unique(np.asarray(h_labels), return_inverse=True)[1]
    e = np.unique(np.asarray(e_labels), return_inverse=True)[1]
    joint = np.bincount(h * (e.max() + 1) + e, weights=p, minlength=(h.max() + 1) * (e.max() + 1))
    joint = joint.reshape(h.max() + 1, e.max() + 1)
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / outer[nz])))


def plugin_mutual_information(h_labels, e_labels) -> tuple[float, float]:
    """Plug-in I(H : E) from samples with the Miller-Madow correction, and its delta-method error.

    I = Σ p̂(h,e) ln p̂(h,e)/(p̂(h)p̂(e)) + (m_h + m_e - m_he - 1)/(2n), m the numbers of
    occupied cells; error sqrt(Var[i]/n) with i = ln p̂(h,e)/(p̂(h)p̂(e)) per sample.
    Returns ``(mi, err)`` in nats.
    """
    h = np.unique(np.asarray(h_labels), return_inverse=True)[1]
    e = np.unique(np.asarray(e_labels), return_inverse=True)[1]
    n = h.size
    joint = np.unique(h * (e.max() + 1) + e, return_inverse=True, return_counts=True)
    ph, pe = np.bincount(h) / n, np.bincount(e) / n
    pj = joint[2][joint[1]] / n
    i = np.log(pj / (ph[h] * pe[e]))
    correction = (np.count_nonzero(ph) + np.count_nonzero(pe) - joint[2].size - 1) / (2 * n)
    return float(i.mean() + correction), float(i.std() / math.sqrt(n))


def majority_agreement(filter_weights, V) -> float:
    """P(sign(Λ·V) = sign(Σ V) | Σ V ≠ 0): how often a filter agrees with majority rule on untied blocks.

    ``V`` float (n, B) block spins of an ensemble. 1 for majority rule whatever its tie rule;
    a binary H = sign(Λ·V) does not identify Λ (many weights give the same Boolean function),
    so this, not the spread of Λ, says whether the learned block spin is majority-like.
    """
    V = np.asarray(V, dtype=np.float64)
    total = V.sum(axis=1)
    untied = total != 0
    h = np.sign(V[untied] @ np.asarray(filter_weights, dtype=np.float64).reshape(-1))
    return float(np.mean(h == np.sign(total[untied])))


def estimator_checks(filters: dict, T: float, n: int, settings: dict, rng) -> tuple[pd.DataFrame, list, list]:
    """Cases with exact answers for the InfoNCE estimator, and the plug-in count beside it.

    - Correlated Gaussian pairs (x, y), one per ρ in ``settings["gaussian_rhos"]``:
      I = -½ ln(1 - ρ²).
    - The 4 x 4 Ising torus at temperature ``T``, enumerated exactly: V the 2 x 2
      block at the origin, E the 12 other sites (no buffer: the torus is too small
      for one), H = sign(Λ·V) for each filter in ``filters`` (the learned one
      included); exact I(H : E), the plug-in count (Miller-Madow) from
      ``settings["plugin_n"]`` i.i.d. samples; the first ``n`` of them go to InfoNCE.

    Returns ``(cases, codes, envs)``: a DataFrame, one row per case, with columns
    ``check``, ``case``, ``exact``, ``plugin``, ``plugin_err``, and the (code,
    environment) sample pairs, float (n, dim) each, in the same order, for the
    caller to estimate with the study's other pairs in one
    :func:`transfer.rsmi.infonce_mutual_information` call (same critic shape,
    batches and epochs as the comparison it checks).
    """
    n_plugin = max(settings["plugin_n"], n)
    rows, codes, envs = [], [], []
    for rho in settings["gaussian_rhos"]:
        x = rng.standard_normal(n)
        y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
        rows.append({"check": "gaussian", "case": f"rho={rho:g}", "exact": -0.5 * math.log(1 - rho**2)})
        codes.append(x[:, None])
        envs.append(y[:, None])
    spins, p = torus_states(4, T)
    flat = spins.reshape(len(spins), -1).astype(np.float64)
    block = [0, 1, 4, 5]
    env = [i for i in range(16) if i not in block]
    e_labels = ((flat[:, env] < 0) * (1 << np.arange(len(env)))).sum(axis=1)
    draw = rng.choice(len(p), size=n_plugin, p=p)
    for rule, weights in filters.items():
        h = np.where(flat[:, block] @ np.asarray(weights, dtype=np.float64) > 0, 1.0, -1.0)
        mi, err = plugin_mutual_information(h[draw], e_labels[draw])
        rows.append(
            {
                "check": "torus_4x4",
                "case": rule,
                "exact": exact_mutual_information(h, e_labels, p),
                "plugin": mi,
                "plugin_err": err,
            }
        )
        codes.append(h[draw[:n]][:, None])
        envs.append(flat[draw[:n]][:, env])
    return pd.DataFrame(rows, columns=["check", "case", "exact", "plugin", "plugin_err"]), codes, envs


def _estimator(settings: dict) -> dict:
    return {
        "hidden": settings["critic_hidden"],
        "epochs": settings["critic_epochs"],
        "batch_size": settings["batch_size"],
        "learning_rate": settings["learning_rate"],
        "test_fraction": settings["test_fraction"],
        "run_eagerly": settings["run_eagerly"],
    }


def run_seed(settings: dict, seed: int) -> dict[str, pd.DataFrame]:
    """One seed: sample at T_c, learn the filter, estimate I(H : E) per rule, check the estimator."""
    from ising.lattice import square
    from ising.sampling import sample_ensemble
    from transfer.rsmi import (
        block_patches,
        infonce_mutual_information,
        tiled_encoder_weights,
        train_rsmi_filter,
    )

    from .sparsity import sparsity_table

    b, buffer, env = settings["b"], settings["buffer"], settings["env"]
    if b != 2:
        raise ValueError(
            "the RSMI study compares filters on 2x2 blocks (its exact checks enumerate them); "
            f"set b = 2, not {b}"
        )
    lattice = square(settings["L"], b)
    T = lattice.critical_temperature_at()
    ensemble = sample_ensemble(lattice, T, settings["n_configs"], seed=seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(ensemble.n)
    n_fit = ensemble.n // 2
    # Filter and critics see different configurations; rows shuffled within each half.
    V_fit, E_fit = block_patches(ensemble.spins[order[:n_fit]], b, buffer, env)
    V, E = block_patches(ensemble.spins[order[n_fit:]], b, buffer, env)
    shuffle_fit, shuffle = rng.permutation(len(V_fit)), rng.permutation(len(V))
    V_fit, E_fit, V, E = V_fit[shuffle_fit], E_fit[shuffle_fit], V[shuffle], E[shuffle]
    learned = train_rsmi_filter(
        V_fit,
        E_fit,
        hidden=settings["critic_hidden"],
        epochs=settings["filter_epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        tau_start=settings["tau_start"],
        tau_end=settings["tau_end"],
        seed=seed,
        run_eagerly=settings["run_eagerly"],
    )
    filters = {"rsmi": learned["filter"][:, 0], **{k: np.asarray(v) for k, v in RULE_FILTERS.items()}}
    codes = [np.where(V @ filters[r] > 0, 1.0, -1.0)[:, None].astype(np.float32) for r in RULES]
    # A second, independently initialised critic on the majority block spins: the spread between
    # the two is the critic-training error that held-out batches do not see.
    codes.append(codes[RULES.index("majority")])
    envs = [E] * len(codes)
    checks, check_codes, check_envs = estimator_checks(filters, T, len(V), settings, rng)
    # Every estimate, checks included, in one model: same critic shape, batches and epochs.
    est = infonce_mutual_information(
        codes + check_codes, envs + check_envs, seed=seed, **_estimator(settings)
    )
    checks["infonce"] = est["mi"][len(codes) :]
    checks["infonce_err"] = est["mi_err"][len(codes) :]
    batches = est["batches"][:, : len(RULES)]
    diffs = batches - batches[:, [RULES.index("majority")]]
    diff_err = diffs.std(axis=0, ddof=1) / math.sqrt(len(diffs))
    critic_spread = abs(float(est["mi"][RULES.index("majority")] - est["mi"][len(RULES)]))
    mi = pd.DataFrame(
        {
            "rule": RULES,
            "T": T,
            "mi": est["mi"][: len(RULES)],
            "mi_err": est["mi_err"][: len(RULES)],
            "minus_majority": diffs.mean(axis=0),
            "minus_majority_err": diff_err,
            "critic_spread": critic_spread,
            "minus_majority_critic_err": [0.0 if r == "majority" else critic_spread for r in RULES],
            "train_bound": est["train_bound"][: len(RULES)],
            "majority_agreement": [majority_agreement(filters[r], V) for r in RULES],
            "ln_batch": math.log(settings["batch_size"]),
        }
    )
    margin = settings["noninferiority_sigmas"] * float(diff_err[0]) + critic_spread
    noninferiority = pd.DataFrame(
        {
            "side": ["rsmi", "majority_minus_margin"],
            "mi": [est["mi"][0], est["mi"][1] - margin],
            "margin": margin,
        }
    )
    lam, lam0 = learned["filter"][:, 0], learned["initial_filter"][:, 0]
    weights = pd.DataFrame(
        {
            "site": np.arange(b * b),
            "row": np.arange(b * b) // b,
            "col": np.arange(b * b) % b,
            "weight": lam,
            "initial_weight": lam0,
        }
    )
    uniformity = pd.DataFrame(
        {
            "filter": ["rsmi_learned", "rsmi_initial", "threshold"],
            "cv_abs": [_cv(lam), _cv(lam0), settings["cv_threshold"]],
            "one_sign": [bool(np.all(lam > 0)), bool(np.all(lam0 > 0) or np.all(lam0 < 0)), True],
        }
    )
    sparsity = sparsity_table({r: tiled_encoder_weights(filters[r], lattice) for r in RULES}, lattice)
    history = pd.DataFrame(
        {"epoch": learned["history"]["epoch"], "bound": -np.asarray(learned["history"]["loss"])}
    )
    tables = {
        "rsmi_mi": mi,
        "rsmi_noninferiority": noninferiority,
        "rsmi_filter": weights,
        "rsmi_uniformity": uniformity,
        "rsmi_sparsity": sparsity.rename(columns={"encoder": "rule"}),
        "rsmi_checks": checks,
        "rsmi_history": history,
    }
    for table in tables.values():
        table.insert(0, "seed", seed)
    return tables


def _cv(weights) -> float:
    a = np.abs(np.asarray(weights, dtype=np.float64))
    return float(a.std() / a.mean())


def claims(settings: dict) -> tuple[Claim, ...]:
    """Claim C10: non-inferiority of the MI against majority, and a majority-like learned block spin."""
    sigmas = settings["noninferiority_sigmas"]
    return (
        Claim(
            "C10",
            "A coarse-graining learned by maximising I(H : E) is block-local and majority-like, and keeps at "
            "least as much information about the environment as majority rule.",
            (
                Comparison(
                    f"I(H:E) InfoNCE: RSMI - (majority - margin), margin = {sigmas:g} paired s.e. "
                    "+ critic spread",
                    "rsmi_noninferiority",
                    "mi",
                    "side",
                    "rsmi",
                    "majority_minus_margin",
                    note="non-inferiority: a seed opposes only if RSMI falls below majority by more than "
                    f"{sigmas:g} standard errors of the paired difference plus the spread of two critics "
                    "trained on the same majority block spins; anything above that supports",
                ),
                Comparison(
                    "majority agreement on untied blocks: RSMI - decimation",
                    "rsmi_mi",
                    "majority_agreement",
                    "rule",
                    "rsmi",
                    "decimation",
                    tolerance=0.01,
                    note="a learned block spin as far from majority as decimation is would oppose",
                ),
                Comparison(
                    "I(H:E) InfoNCE: RSMI - majority (strictly more)",
                    "rsmi_mi",
                    "mi",
                    "rule",
                    "rsmi",
                    "majority",
                    role="shown",
                    errors=("minus_majority_err", "minus_majority_critic_err"),
                ),
                Comparison(
                    "I(H:E) InfoNCE: majority - decimation (can the estimator tell rules apart?)",
                    "rsmi_mi",
                    "mi",
                    "rule",
                    "majority",
                    "decimation",
                    role="shown",
                    errors=("mi_err",),
                ),
                Comparison(
                    "CV of |Λ|: threshold - learned filter",
                    "rsmi_uniformity",
                    "cv_abs",
                    "filter",
                    "threshold",
                    "rsmi_learned",
                    role="shown",
                    note="weights of a binarised filter are not identified by the block spin it computes",
                ),
                Comparison(
                    "block locality of the tiled encoder: RSMI - majority",
                    "rsmi_sparsity",
                    "block_locality_mean",
                    "rule",
                    "rsmi",
                    "majority",
                    role="shown",
                    note="holds by construction: the filter sees only its block (both are 1)",
                ),
            ),
            note="The filter sees only its own block, so block locality and the sparsity of the tiled "
            "encoder hold by construction and are shown. The verdict rests on (a) a non-inferiority test of "
            "the InfoNCE bound against majority rule, paired on the same held-out batches, and (b) whether "
            "the learned binary block spin agrees with majority rule on untied blocks more than decimation "
            "does. "
            "The AE is not part of this side study, so 'unlike the AE' is not tested here.",
        ),
    )


#: Report tables: floats to 4 significant digits.
_markdown = partial(markdown_table, float_format=".4g")


def _mean_se(df: pd.DataFrame, by: str, columns) -> pd.DataFrame:
    g = df.groupby(by, sort=False)[list(columns)]
    mean, se = g.mean(), g.std(ddof=1) / np.sqrt(g.count())
    out = mean.copy()
    for c in columns:
        out[c] = [
            "—" if np.isnan(m) else f"{m:.4f} ± {s:.4f}"
            for m, s in zip(mean[c], se[c].fillna(0.0), strict=True)
        ]
    return out.reset_index()


def report(tables: dict, settings: dict) -> list[str]:
    """Markdown lines of the C10 section."""
    s = settings
    lines = [
        f"RSMI on the square torus L = {s['L']} at T_c, b = {s['b']}, buffer {s['buffer']}, environment "
        f"shell {s['env']}; {s['n_configs']} configurations per seed (half to learn the filter, half for the "
        f"estimator); filter H = tanh(Λ̂·V/τ), τ annealed {s['tau_start']:g} → {s['tau_end']:g} over "
        f"{s['filter_epochs']} epochs, then binarised; InfoNCE with critics "
        f"Dense({s['critic_hidden']}, relu), batch {s['batch_size']}, {s['critic_epochs']} epochs, "
        "one per rule on the same batches.",
        "",
        "Mutual information I(H:E) (nats; mean ± s.e. over seeds) and agreement with majority on "
        "untied blocks:",
        "",
    ]
    mi = tables.get("rsmi_mi")
    if mi is not None:
        lines += _markdown(_mean_se(mi, "rule", ["mi", "minus_majority", "majority_agreement"]))
        spread = mi.groupby("seed")["critic_spread"].first()
        margin = tables["rsmi_noninferiority"].groupby("seed")["margin"].first()
        lines += [
            "",
            f"Two critics trained on the same majority block spins differ by {spread.mean():.4f} on average "
            f"(max {spread.max():.4f}); the non-inferiority margin per seed "
            f"({s['noninferiority_sigmas']:g} paired s.e. + that spread) "
            f"averages {margin.mean():.4f} nats. ln K = {np.log(s['batch_size']):.2f} caps the bound.",
        ]
    filt = tables.get("rsmi_filter")
    if filt is not None:
        wide = filt.pivot_table(index="seed", columns="site", values="weight")
        wide.columns = [f"Λ_{c}" for c in wide.columns]
        uni = tables["rsmi_uniformity"]
        wide["CV|Λ|"] = uni[uni["filter"] == "rsmi_learned"].set_index("seed")["cv_abs"]
        lines += [
            "",
            "Learned unit-norm filters (sites in C order of the block, 0 = representative corner):",
            "",
        ]
        lines += _markdown(wide.reset_index())
    checks = tables.get("rsmi_checks")
    if checks is not None:
        lines += [
            "",
            "Estimator checks (mean ± s.e. over seeds): exact value, plug-in count, InfoNCE bound:",
            "",
        ]
        lines += _markdown(_mean_se(checks, ["check", "case"], ["exact", "plugin", "infonce"]))
    lines += [
        "",
        "What this can show: whether the learned block spin is majority-like and loses no information "
        "against majority under one checked estimator. What it cannot: a binary H = sign(Λ·V) does not "
        "identify Λ (many weight vectors give the same Boolean function of the block), so the spread of Λ "
        "is shown but not decisive; block locality holds by construction; InfoNCE is a lower bound, so "
        "equal bounds do not prove equal information.",
    ]
    return lines


def _draw_filters(tables: dict, stem) -> list:
    from .plots import _figure, _save

    df = tables["rsmi_filter"]
    seeds = sorted(df["seed"].unique())
    fig, axes = _figure(1, len(seeds))
    vmax = float(df["weight"].abs().max())
    for ax, seed in zip(axes[0], seeds, strict=True):
        d = df[df["seed"] == seed]
        grid = np.zeros((d["row"].max() + 1, d["col"].max() + 1))
        grid[d["row"], d["col"]] = d["weight"]
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for (r, c), v in np.ndenumerate(grid):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8)
        ax.set_title(f"seed {seed}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0, -1], shrink=0.8, label="Λ (unit norm)")
    return _save(fig, stem)


def _draw_mi(tables: dict, stem) -> list:
    from .plots import _figure, _save

    df = tables["rsmi_mi"]
    fig, axes = _figure(1, 1)
    ax = axes[0, 0]
    seeds = sorted(df["seed"].unique())
    for k, rule in enumerate(RULES):
        d = df[df["rule"] == rule].set_index("seed").loc[seeds]
        x = k + np.linspace(-0.2, 0.2, len(seeds))
        ax.errorbar(x, d["mi"], yerr=d["mi_err"], fmt="o", ms=3, capsize=2, label=rule)
    ax.set_xticks(range(len(RULES)), RULES)
    ax.set_ylabel("InfoNCE I(H:E) (nats)")
    ax.set_title("per seed, held-out s.e.")
    return _save(fig, stem)


STUDY = SideStudy(
    name="rsmi",
    title="C10: real-space mutual information (RSMI) coarse-graining",
    defaults={
        "L": 16,
        "b": 2,
        "buffer": 1,
        "env": 1,
        "n_configs": 400,
        "filter_epochs": 8,
        "critic_epochs": 6,
        "critic_hidden": 32,
        "batch_size": 256,
        "learning_rate": 0.003,
        "tau_start": 1.0,
        "tau_end": 0.05,
        "test_fraction": 0.25,
        "gaussian_rhos": [0.3, 0.6, 0.9],
        "plugin_n": 262144,
        "noninferiority_sigmas": 2.0,
        "cv_threshold": 0.2,
        "run_eagerly": False,
    },
    profiles={
        "smoke": {
            "L": 8,
            "n_configs": 64,
            "filter_epochs": 2,
            "critic_epochs": 1,
            "batch_size": 64,
            "plugin_n": 4096,
            "run_eagerly": True,
        },
        "paper": {"L": 32, "n_configs": 2000, "filter_epochs": 20, "critic_epochs": 15},
    },
    own_files=("analysis/rsmi.py", "transfer/rsmi.py"),
    sources=("analysis/sparsity.py", "ising", "models/training.py"),
    run_seed=run_seed,
    claims=claims,
    report=report,
    figures=(
        SideFigure("rsmi_filters", ("rsmi_filter",), _draw_filters),
        SideFigure("rsmi_mi", ("rsmi_mi",), _draw_mi),
    ),
)
