"""Figures and lines for people: one rounding rule (significant figures) and one way to cut a line to a terminal's
width, shared by the sweep driver's ``status`` table (:mod:`slurm.display`) and the analysis' tables for people
(:mod:`analysis.people`). The files keep every digit; only what is shown is rounded."""

from __future__ import annotations

import math

#: Significant figures of a rate or a time shown to a person: a run-to-run spread of a few % (Datta et al.
#: 2019 report throughput to 3 figures) leaves the fourth figure noise.
SIGNIFICANT = 3
#: Columns a terminal table may take (a 120-column terminal, the width tables are made to fit).
TERMINAL_COLUMNS = 120
ELLIPSIS = "…"


def significant(value: float, digits: int = SIGNIFICANT) -> str:
    """``value`` rounded to ``digits`` significant figures, in positional notation with thousands
    separators: 196.84 -> ``"197"``, 0.14 -> ``"0.140"``, 12345.6 -> ``"12,300"``, 0 -> ``"0"``; NaN and
    infinities as ``str`` gives them. Raises ``ValueError`` for ``digits`` < 1."""
    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - exponent
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > exponent:  # 999.6 -> 1000: one figure fewer
        decimals -= 1
    return f"{rounded:,.{max(0, decimals)}f}"


def cut(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, ending in an ellipsis where it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS
