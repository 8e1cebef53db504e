"""The study's claims as data, and their evaluation from the run's tables.

A claim is a row: its id, the statement, and its comparisons. A comparison
names the table it reads, the measure (a column), the two things compared
(values of a key column) and which way supports the claim; the per-seed
difference goes through the one verdict rule (:func:`analysis.verdicts.verdict`).
Comparisons with ``role="verdict"`` decide the claim; ``role="shown"`` ones are
reported beside them (measures that hold by construction, or the other side of
an equal-capacity comparison). Adding a claim is adding a :class:`Claim` to
:func:`study_claims`; the report renders whatever claims exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .verdicts import combine_verdicts, verdict

__all__ = ["Comparison", "Claim", "study_claims", "evaluate_claims", "claims_table", "CLAIM_COLUMNS"]

#: Columns of ``tables/claims.csv``, one row per comparison.
CLAIM_COLUMNS = ("claim", "comparison", "measure", "mean", "se", "lo", "hi", "n_seeds", "verdict", "note")


@dataclass(frozen=True)
class Comparison:
    """d_s = sign * (measure(a) - measure(b)) per seed, from one table.

    ``select`` narrows the table first (e.g. one patch size); rows left for a seed
    and a key value are averaged (e.g. over temperatures).
    """

    label: str
    table: str
    measure: str
    key: str
    a: str
    b: str
    sign: int = 1
    role: str = "verdict"
    tolerance: float = 0.0
    select: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    note: str = ""
    errors: tuple = ()
    faithful: bool = False

    def unfaithful_seeds(self, tables: dict) -> set:
        """Seeds whose learned RG encoder on either side failed its sign-agreement check.

        Only with ``faithful``: ``transfer_metrics`` marks each learned RG encoder
        ``rg_check_passed`` (>= 99 % agreement with the analytic block spins on test
        data); a comparison that rests on the encoder being an RG map drops those seeds.
        """
        metrics = tables.get("transfer_metrics")
        if not self.faithful or metrics is None or "rg_check_passed" not in metrics:
            return set()
        failed = metrics["model"].isin([self.a, self.b]) & metrics["rg_check_passed"].eq(False)
        return set(metrics.loc[failed, "seed"])

    def _wide(self, df: pd.DataFrame, column: str) -> pd.DataFrame:
        return df.pivot_table(index="seed", columns=self.key, values=column, aggfunc="mean")

    def differences(self, tables: dict) -> tuple[pd.Series, pd.Series | float]:
        """Per-seed differences (index: seed) and per-seed tolerances; empty without either side.

        With ``errors`` (columns of the table, e.g. ``stat_err`` and ``sys_err``), a seed's
        tolerance is the sum of those errors of both sides: a difference within it is a tie.
        """
        df = tables.get(self.table)
        if df is None or self.measure not in df:
            return pd.Series(dtype=float), self.tolerance
        if self.select is not None:
            df = self.select(df)
        wide = self._wide(df, self.measure)
        if self.a not in wide or self.b not in wide:
            return pd.Series(dtype=float), self.tolerance
        d = self.sign * (wide[self.a] - wide[self.b])
        d[d.index.isin(self.unfaithful_seeds(tables))] = np.nan
        tolerance = pd.Series(self.tolerance, index=d.index)
        for column in self.errors:
            err = self._wide(df, column)
            tolerance = tolerance + err[self.a].abs() + err[self.b].abs()
        return d, tolerance.fillna(np.inf)


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    comparisons: tuple
    note: str = ""

    def evaluate(self, tables: dict) -> dict:
        parts = []
        for c in self.comparisons:
            d, tolerance = c.differences(tables)
            result = verdict(d, tolerance=tolerance)
            note = c.note
            if excluded := sorted(c.unfaithful_seeds(tables)):
                dropped = f"seeds {excluded} excluded: learned RG encoder below its sign-agreement threshold"
                note = f"{note}; {dropped}" if note else dropped
            parts.append(
                {"comparison": c.label, "measure": c.measure, "role": c.role, "note": note, **result}
            )
        deciding = [p["verdict"] for p in parts if p["role"] == "verdict"]
        return {
            "claim": self.statement,
            "note": self.note,
            "parts": parts,
            "verdict": combine_verdicts(deciding),
        }


def _conditional(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["measure"] == "conditional"]


def _largest_reliable_patch(df: pd.DataFrame) -> pd.DataFrame:
    patches = df[(df["measure"] == "patch") & (~df["undersampled"].astype(bool))]
    if not len(patches):
        return patches
    return patches[patches["k"] == patches["k"].max()]


def _c1(rules) -> Claim:
    by_construction = tuple(
        Comparison(
            f"{measure}: learned {rule} RG encoder (TL) - AE encoder (TL)",
            "sparsity",
            f"{measure}_mean",
            "encoder",
            f"rg_{rule}_transfer",
            "ae_transfer",
            role="shown",
            note="holds by construction: the RG encoder is trained to a block target",
            faithful=True,
        )
        for rule in rules
        for measure in ("hoyer", "gini")
    )
    could_fail = tuple(
        Comparison(
            f"{measure}: thermometer's first layer - AE encoder (TL) trained from it",
            "sparsity",
            f"{measure}_mean",
            "encoder",
            "thermometer",
            "ae_transfer",
        )
        for measure in ("hoyer", "gini")
    )
    return Claim(
        "C1",
        "RG-based encoders have sparse weights; AE encoders are dense.",
        could_fail + by_construction,
        note="The RG side holds by construction (learned RG encoders imitate a block rule), so it is "
        "shown, not tested. The verdict asks whether autoencoder training makes the transferred "
        "first layer denser and more homogeneous (lower Hoyer and Gini) than the thermometer's it "
        "started from: a comparison that could come out either way.",
    )


def _c2(rules) -> Claim:
    invariant = tuple(
        Comparison(
            f"{label} averaged over T: {rep} - AE code (aligned, binarised)",
            "codes",
            measure,
            "representation",
            rep,
            "ae_code",
            role="verdict" if rep in rules else "shown",
        )
        for rule in rules
        for rep in (rule, f"learned_{rule}")
        for measure, label in (
            ("mean_abs_correlation", "mean |R_ij| over unit pairs"),
            ("probe_r2_energy", "probe R² of the fine energy"),
        )
    )
    aligned = tuple(
        Comparison(
            f"<s_i s_j>_nn averaged over T: {rule} - AE code (units aligned to blocks)",
            "correlations",
            "nn_product",
            "representation",
            rule,
            "ae_code",
            role="shown",
        )
        for rule in rules
    )
    return Claim(
        "C2",
        "RG coarse-graining retains more spin correlations than the AE code.",
        invariant + aligned,
        note="Decided on measures that do not depend on the order or sign of code units "
        "(analysis.codes): the mean |R_ij| of the units' correlation matrix and the cross-validated "
        "R² with which a quadratic probe recovers the fine configuration's energy. Both are "
        "computed identically for every code (a random code scores about 0) at equal capacity "
        "(±1 units). Lattice measures of the AE code are taken after aligning its units to blocks.",
    )


def study_claims(rules, convergence_fraction: float = 0.9) -> tuple[Claim, ...]:
    """Claims C1-C5 for the given block-spin rules."""
    c3 = tuple(
        Comparison(
            f"test reconstruction MSE: {model} - {ae}",
            "transfer_metrics",
            "test_loss",
            "model",
            model,
            ae,
            role=role,
            note=note,
        )
        for rule in rules
        for model, ae, role, note in (
            (f"encdec_{rule}", "ae_binary_transfer", "verdict", "equal capacity: ±1 codes on both sides"),
            (f"encdec_learned_{rule}", "ae_transfer", "verdict", "equal capacity: tanh codes on both sides"),
            (f"encdec_{rule}", "ae_transfer", "shown", "unequal capacity: ±1 code against a tanh code"),
        )
    )
    entropy = "conditional entropy per spin"
    c4 = (
        Comparison(
            f"{entropy}: original - AE reconstruction",
            "entropy",
            "entropy",
            "representation",
            "original",
            "ae_reconstruction",
            select=_conditional,
            errors=("stat_err", "sys_err"),
        ),
    ) + tuple(
        Comparison(
            f"{entropy}: {rule} - original",
            "entropy",
            "entropy",
            "representation",
            rule,
            "original",
            select=_conditional,
            errors=("stat_err", "sys_err"),
        )
        for rule in rules
    )
    c5 = tuple(
        Comparison(
            f"epochs (interpolated) to {convergence_fraction:.0%} of the validation-loss decrease from the "
            f"untrained loss: learned {rule} RG (TL) - AE (TL)",
            "transfer_metrics",
            "epochs_to_convergence",
            "model",
            f"rg_{rule}_transfer",
            "ae_transfer",
            faithful=True,
        )
        for rule in rules
    )
    return (
        _c1(rules),
        _c2(rules),
        Claim(
            "C3",
            "The AE reaches a lower reconstruction loss than RG encode-decode.",
            c3,
            note="Decided at equal capacity, with the same decoder: a binary-code AE (sign forward, "
            "straight-through gradient) against frozen analytic ±1 codes, and the tanh-code AE against "
            "a frozen learned RG encoder's tanh code. The confounded comparison (±1 RG code against "
            "the tanh AE) is shown beside them.",
        ),
        Claim(
            "C4",
            "The AE de-noises (lower entropy than the lattice); RG decimation has higher entropy per "
            "spin than the original.",
            c4,
            note="Entropy per spin from the conditional (Markov) estimator, extrapolated in the number "
            "of configurations; a seed counts only where its difference exceeds the statistical plus "
            "systematic errors of both sides.",
        ),
        Claim("C5", "RG is less efficient to learn than the AE from the same TL start.", c5),
    )


def evaluate_claims(claims, tables: dict) -> dict:
    """Claim id -> :meth:`Claim.evaluate` result."""
    return {claim.id: claim.evaluate(tables) for claim in claims}


def claims_table(results: dict) -> pd.DataFrame:
    """``tables/claims.csv``: one row per comparison, columns :data:`CLAIM_COLUMNS` plus role and counts."""
    rows = []
    for cid, result in results.items():
        for p in result["parts"]:
            note = (
                f"{p['n_support']}/{p['n_seeds']} seeds support, {p['n_oppose']} oppose; "
                f"sign test p = {p['p_support']:.3g}"
            )
            if p["note"]:
                note = f"{p['note']}; {note}"
            rows.append(
                {
                    "claim": cid,
                    "comparison": p["comparison"],
                    "measure": p["measure"],
                    **{k: p[k] for k in ("mean", "se", "lo", "hi", "n_seeds", "verdict")},
                    "note": note,
                    "role": p["role"],
                    "claim_verdict": result["verdict"],
                }
            )
    return pd.DataFrame(rows, columns=[*CLAIM_COLUMNS, "role", "claim_verdict"])
