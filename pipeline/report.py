"""The run's ``report.md`` and ``metrics.json``, rendered from its tables alone.

The claims' verdicts are rows of ``tables/claims.csv`` (computed when the
tables are gathered, by :mod:`analysis.claims` and the one verdict rule of
:mod:`analysis.verdicts`); the report renders whatever claims that table holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.side import markdown_table
from analysis.verdicts import ALPHA

from .side import enabled_side_studies, run_claims

__all__ = ["thermometer_summary", "write_report", "claim_results"]


def _ms(series: pd.Series) -> str:
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return "n/a"
    se = x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else float("nan")
    return f"{x.mean():.4g} ± {se:.2g}"


def _md(df: pd.DataFrame) -> str:
    return "\n".join(markdown_table(df))


def claim_results(tables: Path, config: dict) -> dict:
    """Claim id -> {claim, note, verdict, parts} from ``tables/claims.csv``, statements from the catalogue."""
    rows = pd.read_csv(tables / "claims.csv")
    statements = {c.id: c for c in run_claims(config)}
    out = {}
    for cid, group in rows.groupby("claim", sort=False):
        claim = statements.get(cid)
        out[cid] = {
            "claim": claim.statement if claim else "",
            "note": claim.note if claim else "",
            "verdict": group["claim_verdict"].iloc[0],
            "parts": group.drop(columns=["claim", "claim_verdict"]).to_dict(orient="records"),
        }
    return out


def _claim_lines(results: dict) -> list[str]:
    lines = ["## Claims", "", "| claim | statement | verdict |", "|---|---|---|"]
    lines += [f"| {cid} | {c['claim']} | **{c['verdict']}** |" for cid, c in results.items()]
    for cid, c in results.items():
        lines += ["", f"### {cid}: {c['verdict']}", "", c["claim"], ""]
        if c["note"]:
            lines += [c["note"], ""]
        lines += [
            "| comparison (d > 0 supports) | role | mean ± SE | 95 % interval | seeds | verdict | note |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {p['comparison']} | {p['role']} | {p['mean']:.4g} ± {p['se']:.2g} "
            f"| [{p['lo']:.3g}, {p['hi']:.3g}] | {p['n_seeds']} | {p['verdict']} | {p['note']} |"
            for p in c["parts"]
        ]
    return lines


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


def _thermometer_lines(tables: Path, thermo: pd.DataFrame) -> list[str]:
    lines = [
        "## Thermometers",
        "",
        "Test MSE of beta beside the Bayes-optimal MSE from the energy with the exact ln Z "
        "(where the lattice has one; `n/a` elsewhere); ratio = network / Bayes (1 is the floor). "
        "Level k is the lattice after k RG steps, trained on its own Monte Carlo ensembles.",
        "",
        _md(thermo),
    ]
    diagnosis = pd.read_csv(tables / "thermometer_diagnosis.csv")
    first = diagnosis[(diagnosis["level"] == 0) & (diagnosis["seed"] == diagnosis["seed"].min())]
    if len(first):
        lines += ["", "Per-band diagnosis of the first seed's fine-scale thermometers:", ""]
        lines += list(first["text"])
    return lines


def _transfer_lines(transfer: pd.DataFrame, fraction: float) -> list[str]:
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
    lines = [
        "## Transfer",
        "",
        f"epochs_to_convergence: epochs (interpolated) until the validation loss has made {fraction:.0%} "
        "of its total decrease, counted from the untrained model's loss (epoch 0, evaluated before fitting); "
        "epochs_run: epochs trained (early stopping on the validation loss).",
        "",
        _md(summary),
        "",
    ]
    failed = transfer[transfer["rg_check_passed"].astype(str) == "False"]
    if len(failed):
        lines += [
            "**Learned RG encoders below 99 % sign agreement (not faithful RG maps):** "
            + ", ".join(f"{r.model} seed {r.seed} ({r.sign_agreement:.2%})" for r in failed.itertuples())
        ]
    else:
        lines += [
            "Every learned RG encoder reproduces its analytic block spins on at least 99 % of test units."
        ]
    return lines


def _sparsity_lines(sparsity: pd.DataFrame) -> list[str]:
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
    return ["## Weight sparsity", "", _md(spars)]


def _ensemble_lines(ensembles: pd.DataFrame, tc: float | None) -> list[str]:
    if tc is None:
        return []
    near = ensembles.loc[(ensembles["T"] - tc).abs() < 1e-6]
    taus = near.groupby(["L", "algorithm"]).agg(tau_int=("tau_int", _ms)).reset_index()
    return [
        "## Ensembles",
        "",
        f"Integrated autocorrelation time at T_c = {tc:.6g} "
        "(units: sweeps for Metropolis, cluster flips for Wolff):",
        "",
        _md(taus),
    ]


def _side_sections(tables: Path, config: dict) -> list[tuple[str, list[str]]]:
    """(study name, markdown lines) of each enabled side study, rendered from its saved tables."""
    from .collect import table_names

    held = table_names(tables)
    out = []
    for study, settings in enabled_side_studies(config):
        own = {n: pd.read_csv(tables / f"{n}.csv") for n in held if n.startswith(f"{study.name}_")}
        out.append((study.name, [f"## {study.title}", "", *study.report(own, settings)]))
    return out


def _stage_time_lines(stage_times: dict) -> list[str]:
    """The stage-times table; with a local pool the work stages overlap, which it says."""
    lines = ["## Stage times", ""]
    if any("worker_seconds" in t for t in stage_times.values()):
        lines += [
            "The work stages ran as one graph on the local workers, so they overlap: *seconds* is "
            "the wall time from a stage's first unit starting to its last ending, *worker seconds* "
            "the sum of its units' times and *CPU / span* the CPU time of its units over its span "
            "(the cores the stage kept busy).",
            "",
        ]
    lines += ["| stage | seconds | worker seconds | CPU / span | units run |", "|---|---|---|---|---|"]
    for stage, t in stage_times.items():
        worker = f"{t['worker_seconds']:.1f}" if "worker_seconds" in t else ""
        busy = f"{t['cpu_seconds'] / t['seconds']:.2f}" if t.get("cpu_seconds") and t["seconds"] > 0 else ""
        lines.append(f"| {stage} | {t['seconds']:.1f} | {worker} | {busy} | {t.get('ran', '')} |")
    return lines


def write_report(run: Path, config: dict, stage_times: dict, tc: float | None) -> dict:
    """Write ``report.md`` and ``metrics.json`` into the run folder; returns the metrics."""
    tables = run / "tables"
    results = claim_results(tables, config)
    thermo = thermometer_summary(tables)
    transfer = pd.read_csv(tables / "transfer_metrics.csv")
    side = _side_sections(tables, config)
    header = [
        f"# RG coarse-graining versus autoencoders: {config['lattice']} L = {config['L']}",
        "",
        f"Profile `{config['profile']}`, {config['seeds']} seeds, J = {config['J']}, h = {config['h']}. "
        "Error bars are standard errors over seeds. A comparison's verdict comes from an exact one-sided "
        f"sign test over seeds at level {ALPHA} (d > 0 supports the claim; at least 5 seeds, all on one "
        "side, are needed for a verdict); the mean and the 95 % Student-t interval give the effect's size.",
        "",
    ]
    header += [f"Note: {a}." for a in config.get("adjustments", [])]
    sections = [
        header,
        _claim_lines(results),
        _thermometer_lines(tables, thermo),
        _transfer_lines(transfer, config["transfer"]["convergence_fraction"]),
        _sparsity_lines(pd.read_csv(tables / "sparsity.csv")),
        _ensemble_lines(pd.read_csv(tables / "ensembles.csv"), tc),
        *(lines for _study, lines in side),
        ["## Figures", ""]
        + [f"![{f.stem}](figures/{f.name})\n" for f in sorted((run / "figures").glob("*.png"))],
        _stage_time_lines(stage_times),
    ]
    (run / "report.md").write_text("\n\n".join("\n".join(s) for s in sections if s) + "\n")
    metrics = {
        "claims": results,
        "thermometers": thermo.to_dict(orient="records"),
        "transfer": transfer.to_dict(orient="records"),
        "side_studies": {study: {"report": "\n".join(lines)} for study, lines in side},
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
