"""The study's verdicts on claims C1-C5, from the run's tables alone.

Every claim is a comparison between two representations or models, made seed
by seed: the per-seed difference d_s (oriented so that d > 0 supports the
claim) is averaged, with the standard error over seeds and a two-sided 95 %
Student-t interval. Verdict: *reproduced* when the interval lies above 0,
*not reproduced* when it lies below 0, *inconclusive* otherwise (or with a
single seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare", "claims", "thermometer_summary", "write_report"]


def compare(d: pd.Series | np.ndarray) -> dict:
    """Mean, standard error and verdict of per-seed differences (d > 0 supports the claim)."""
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    if n < 2:
        return {
            "mean": mean,
            "se": float("nan"),
            "n_seeds": n,
            "low": float("nan"),
            "high": float("nan"),
            "verdict": "inconclusive",
        }
    se = float(d.std(ddof=1) / np.sqrt(n))
    half = float(stats.t.ppf(0.975, n - 1)) * se
    low, high = mean - half, mean + half
    verdict = "reproduced" if low > 0 else "not reproduced" if high < 0 else "inconclusive"
    return {"mean": mean, "se": se, "n_seeds": n, "low": low, "high": high, "verdict": verdict}


def _per_seed(df: pd.DataFrame, key: str, value: str, a: str, b: str) -> pd.Series:
    """Per-seed difference value(a) - value(b) of a table indexed by ``key``."""
    wide = df.pivot_table(index="seed", columns=key, values=value, aggfunc="mean")
    if a not in wide or b not in wide:
        return pd.Series(dtype=float)
    return wide[a] - wide[b]


def _ms(series: pd.Series) -> str:
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return "n/a"
    se = x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else float("nan")
    return f"{x.mean():.4g} ± {se:.2g}"


def _combine(parts: list[dict]) -> str:
    verdicts = {p["verdict"] for p in parts}
    if verdicts == {"reproduced"}:
        return "reproduced"
    if "not reproduced" in verdicts:
        return "not reproduced"
    return "inconclusive"


def claims(tables: Path, rules: list[str], convergence_fraction: float = 0.9) -> dict:
    """The five claims' comparisons, each a dict of parts plus an overall verdict.

    ``convergence_fraction`` only labels C5; the table's ``epochs_to_convergence``
    was computed with it (``pipeline.collect.epochs_to_fraction``).
    """
    sparsity = pd.read_csv(tables / "sparsity.csv")
    corr = pd.read_csv(tables / "correlations.csv")
    transfer = pd.read_csv(tables / "transfer_metrics.csv")
    entropy = pd.read_csv(tables / "entropy.csv")
    out = {}

    parts = []
    for rule in rules:
        for measure in ("hoyer", "gini"):
            c = compare(
                _per_seed(sparsity, "encoder", f"{measure}_mean", f"rg_{rule}_transfer", "ae_transfer")
            )
            parts.append({"comparison": f"{measure}: learned {rule} RG encoder (TL) - AE encoder (TL)", **c})
    out["C1"] = {"claim": "RG-based encoders have sparse weights; AE encoders are dense.", "parts": parts}

    parts = []
    for rule in rules:
        for rep in (rule, f"learned_{rule}"):
            c = compare(_per_seed(corr, "representation", "nn_product", rep, "ae_code"))
            parts.append({"comparison": f"<s_i s_j>_nn averaged over T: {rep} - AE code", **c})
    out["C2"] = {
        "claim": "RG coarse-graining retains more spin correlations than the AE code.",
        "parts": parts,
    }

    parts = []
    for model in sorted(m for m in transfer["model"].unique() if m.startswith("encdec_")):
        c = compare(_per_seed(transfer, "model", "test_loss", model, "ae_transfer"))
        parts.append({"comparison": f"test reconstruction MSE: {model} - AE (TL)", **c})
    out["C3"] = {"claim": "The AE reaches a lower reconstruction loss than RG encode-decode.", "parts": parts}

    patches = entropy[(entropy["measure"] == "patch") & (~entropy["undersampled"].astype(bool))]
    k = int(patches["k"].max()) if len(patches) else 1
    patches = patches[patches["k"] == k]
    parts = [
        {
            "comparison": f"{k}x{k} patch entropy per spin: original - AE reconstruction",
            **compare(_per_seed(patches, "representation", "entropy", "original", "ae_reconstruction")),
        }
    ]
    for rule in rules:
        parts.append(
            {
                "comparison": f"{k}x{k} patch entropy per spin: {rule} - original",
                **compare(_per_seed(patches, "representation", "entropy", rule, "original")),
            }
        )
    out["C4"] = {
        "claim": "The AE de-noises (lower entropy than the lattice); RG decimation has higher "
        "entropy per spin than the original.",
        "parts": parts,
    }

    parts = []
    for rule in rules:
        c = compare(
            _per_seed(transfer, "model", "epochs_to_convergence", f"rg_{rule}_transfer", "ae_transfer")
        )
        parts.append(
            {
                "comparison": f"epochs to {convergence_fraction:.0%} of the loss decrease from the untrained "
                f"loss: learned {rule} RG (TL) - AE (TL)",
                **c,
            }
        )
    out["C5"] = {"claim": "RG is less efficient to learn than the AE from the same TL start.", "parts": parts}

    for claim in out.values():
        claim["verdict"] = _combine(claim["parts"])
    return out


def thermometer_summary(tables: Path) -> pd.DataFrame:
    """Mean ± standard error over seeds of MSE, Bayes MSE and their ratio per model, level and band."""
    df = pd.read_csv(tables / "thermometer_metrics.csv")
    rows = []
    for (model, level, band), g in df.groupby(["model", "level", "band"], sort=True):
        rows.append(
            {
                "model": model,
                "level": level,
                "band": band,
                "MSE": _ms(g["mse"]),
                "Bayes MSE": _ms(g["bayes_mse"]),
                "ratio": _ms(g["ratio"]),
                "R²": _ms(g["r2"]),
            }
        )
    return pd.DataFrame(rows)


def _md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _fmt_part(p: dict) -> str:
    return (
        f"| {p['comparison']} | {p['mean']:.4g} ± {p['se']:.2g} | [{p['low']:.3g}, {p['high']:.3g}] "
        f"| {p['n_seeds']} | {p['verdict']} |"
    )


def write_report(run: Path, config: dict, stage_times: dict, tc: float | None, band_scale: float) -> dict:
    """Write ``report.md`` and ``metrics.json`` into the run folder; returns the metrics."""
    tables = run / "tables"
    rules = config["transfer"]["rules"]
    verdicts = claims(tables, rules, config["transfer"]["convergence_fraction"])
    thermo = thermometer_summary(tables)
    transfer = pd.read_csv(tables / "transfer_metrics.csv")
    sparsity = pd.read_csv(tables / "sparsity.csv")
    ensembles = pd.read_csv(tables / "ensembles.csv")

    lines = [
        f"# RG coarse-graining versus autoencoders: {config['lattice']} L = {config['L']}",
        "",
        f"Profile `{config['profile']}`, {config['seeds']} seeds, J = {config['J']}, h = {config['h']}. "
        "Error bars are standard errors over seeds; a verdict needs the 95 % Student-t interval of the "
        "per-seed difference to exclude zero (d > 0 supports the claim).",
        "",
        "## Claims",
        "",
        "| claim | statement | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {cid} | {c['claim']} | **{c['verdict']}** |" for cid, c in verdicts.items()]
    for cid, c in verdicts.items():
        lines += [
            "",
            f"### {cid}: {c['verdict']}",
            "",
            c["claim"],
            "",
            "| comparison (d > 0 supports) | mean ± SE | 95 % interval | seeds | verdict |",
            "|---|---|---|---|---|",
        ]
        lines += [_fmt_part(p) for p in c["parts"]]
    lines += [
        "",
        "## Thermometers",
        "",
        "Test MSE of beta beside the Bayes-optimal MSE from the energy with the exact ln Z "
        "(square torus only; `n/a` elsewhere); ratio = network / Bayes (1 is the floor). "
        "Level k is the lattice after k RG steps, trained on its own Monte Carlo ensembles.",
        "",
        _md(thermo),
    ]
    diagnosis = pd.read_csv(tables / "thermometer_diagnosis.csv")
    first = diagnosis[(diagnosis["level"] == 0) & (diagnosis["seed"] == diagnosis["seed"].min())]
    if len(first):
        lines += ["", "Per-band diagnosis of the first seed's fine-scale thermometers:", ""]
        lines += list(first["text"])
    summary = (
        transfer.groupby("model")
        .agg(
            test_loss=("test_loss", _ms),
            sign_agreement=("sign_agreement", _ms),
            epochs_to_convergence=("epochs_to_convergence", _ms),
            epochs_run=("epochs_run", _ms),
        )
        .reset_index()
    )
    failed = transfer[transfer["rg_check_passed"].astype(str) == "False"]
    fraction = config["transfer"]["convergence_fraction"]
    lines += [
        "",
        "## Transfer",
        "",
        f"epochs_to_convergence: epochs until the training loss has made {fraction:.0%} of its total "
        "decrease, counted from the untrained model's loss (epoch 0, evaluated before fitting); "
        "epochs_run: epochs trained (early stopping on the validation loss).",
        "",
        _md(summary),
        "",
    ]
    if len(failed):
        lines += [
            "**Learned RG encoders below 99 % sign agreement (not faithful RG maps):** "
            + ", ".join(f"{r.model} seed {r.seed} ({r.sign_agreement:.2%})" for r in failed.itertuples())
        ]
    else:
        lines += [
            "Every learned RG encoder reproduces its analytic block spins on at least 99 % of test units."
        ]
    spars = (
        sparsity.groupby("encoder")
        .agg(
            fraction_small=("fraction_small_mean", _ms),
            hoyer=("hoyer_mean", _ms),
            gini=("gini_mean", _ms),
            block_locality=("block_locality_mean", _ms),
        )
        .reset_index()
    )
    lines += ["", "## Weight sparsity", "", _md(spars)]
    if tc is not None:
        near = ensembles.loc[(ensembles["T"] - tc).abs() < 1e-6]
        taus = near.groupby(["L", "algorithm"]).agg(tau_int=("tau_int", _ms)).reset_index()
        lines += [
            "",
            "## Ensembles",
            "",
            f"Integrated autocorrelation time at T_c = {tc:.6g} "
            "(units: sweeps for Metropolis, cluster flips for Wolff):",
            "",
            _md(taus),
        ]
    lines += ["", "## Figures", ""]
    for fig in sorted((run / "figures").glob("*.png")):
        lines += [f"![{fig.stem}](figures/{fig.name})", ""]
    lines += ["## Stage times", "", "| stage | seconds | units run |", "|---|---|---|"]
    lines += [f"| {s} | {t['seconds']:.1f} | {t.get('ran', '')} |" for s, t in stage_times.items()]
    (run / "report.md").write_text("\n".join(lines) + "\n")
    metrics = {
        "claims": verdicts,
        "thermometers": thermo.to_dict(orient="records"),
        "transfer": transfer.to_dict(orient="records"),
        "stage_times": stage_times,
    }
    (run / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json_default))
    return metrics


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
