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
from dataclasses import dataclass, field
from pathlib import Path

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

    def differences(self, tables: dict) -> pd.Series:
        """Per-seed differences (index: seed); empty when the table lacks either side."""
        df = tables.get(self.table)
        if df is None or self.measure not in df:
            return pd.Series(dtype=float)
        if self.select is not None:
            df = self.select(df)
        wide = df.pivot_table(index="seed", columns=self.key, values=self.measure, aggfunc="mean")
        if self.a not in wide or self.b not in wide:
            return pd.Series(dtype=float)
        return self.sign * (wide[self.a] - wide[self.b])


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    comparisons: tuple
    note: str = ""
    tables: tuple = field(default=())

    def evaluate(self, tables: dict) -> dict:
        parts = []
        for c in self.comparisons:
            result = verdict(c.differences(tables), tolerance=c.tolerance)
            parts.append(
                {"comparison": c.label, "measure": c.measure, "role": c.role, "note": c.note, **result}
            )
        deciding = [p["verdict"] for p in parts if p["role"] == "verdict"]
        return {
            "claim": self.statement,
            "note": self.note,
            "parts": parts,
            "verdict": combine_verdicts(deciding),
        }


def _largest_reliable_patch(df: pd.DataFrame) -> pd.DataFrame:
    patches = df[(df["measure"] == "patch") & (~df["undersampled"].astype(bool))]
    if not len(patches):
        return patches
    return patches[patches["k"] == patches["k"].max()]


def study_claims(rules, convergence_fraction: float = 0.9) -> tuple[Claim, ...]:
    """Claims C1-C5 for the given block-spin rules."""
    c1 = tuple(
        Comparison(
            f"{measure}: learned {rule} RG encoder (TL) - AE encoder (TL)",
            "sparsity",
            f"{measure}_mean",
            "encoder",
            f"rg_{rule}_transfer",
            "ae_transfer",
        )
        for rule in rules
        for measure in ("hoyer", "gini")
    )
    c2 = tuple(
        Comparison(
            f"<s_i s_j>_nn averaged over T: {rep} - AE code",
            "correlations",
            "nn_product",
            "representation",
            rep,
            "ae_code",
        )
        for rule in rules
        for rep in (rule, f"learned_{rule}")
    )
    c3 = tuple(
        Comparison(
            f"test reconstruction MSE: {model} - AE (TL)",
            "transfer_metrics",
            "test_loss",
            "model",
            model,
            "ae_transfer",
        )
        for model in sorted(f"encdec_{kind}{rule}" for rule in rules for kind in ("", "learned_"))
    )
    patch = "largest reliable patch"
    c4 = (
        Comparison(
            f"{patch} entropy per spin: original - AE reconstruction",
            "entropy",
            "entropy",
            "representation",
            "original",
            "ae_reconstruction",
            select=_largest_reliable_patch,
        ),
    ) + tuple(
        Comparison(
            f"{patch} entropy per spin: {rule} - original",
            "entropy",
            "entropy",
            "representation",
            rule,
            "original",
            select=_largest_reliable_patch,
        )
        for rule in rules
    )
    c5 = tuple(
        Comparison(
            f"epochs to {convergence_fraction:.0%} of the loss decrease from the untrained loss: "
            f"learned {rule} RG (TL) - AE (TL)",
            "transfer_metrics",
            "epochs_to_convergence",
            "model",
            f"rg_{rule}_transfer",
            "ae_transfer",
        )
        for rule in rules
    )
    return (
        Claim("C1", "RG-based encoders have sparse weights; AE encoders are dense.", c1),
        Claim("C2", "RG coarse-graining retains more spin correlations than the AE code.", c2),
        Claim("C3", "The AE reaches a lower reconstruction loss than RG encode-decode.", c3),
        Claim(
            "C4",
            "The AE de-noises (lower entropy than the lattice); RG decimation has higher entropy per "
            "spin than the original.",
            c4,
        ),
        Claim("C5", "RG is less efficient to learn than the AE from the same TL start.", c5),
    )


def read_tables(folder: Path, claims) -> dict:
    """The tables the claims read, from a run's ``tables/`` folder (missing ones are absent)."""
    names = {c.table for claim in claims for c in claim.comparisons}
    return {n: pd.read_csv(folder / f"{n}.csv") for n in sorted(names) if (folder / f"{n}.csv").is_file()}


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
