"""Findings: an answer that contradicts itself, said with its likely cause instead of a number.

An analysis whose figures cannot all be true at once (billed use above the water put into a
zone, a leakage below zero, "missing" energy that is a surplus, a pressure below zero beside
"no low junction") returns, beside its table, the findings its consistency checks raised.
The checks are small pure functions next to the analysis they judge; this module only holds
the one record they all return, so every entry point prints them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One inconsistency of an answer.

    Attributes
    ----------
    kind : str
        What is inconsistent, in the field's words (``negative_real_losses``,
        ``negative_leakage``, ``negative_missing_energy``, ...).
    element : str
        The zone, meter, feeder or result it concerns.
    reason : str
        One sentence: the figures that disagree and the likely cause(s), in order of
        likelihood, with what to do.
    """

    kind: str
    element: str
    reason: str

    def __str__(self) -> str:
        return f"! {self.element}: {self.reason}"


def flags_by_element(findings: Iterable[Finding]) -> dict[str, str]:
    """The kinds of findings per element, joined by ``;`` (a table's ``flags`` column)."""
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.element, [])
        if f.kind not in out[f.element]:
            out[f.element].append(f.kind)
    return {k: ";".join(v) for k, v in out.items()}
