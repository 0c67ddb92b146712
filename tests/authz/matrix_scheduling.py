"""Authorization matrix rows for the scheduling routes (see matrix.py for the format)."""

from __future__ import annotations

from matrix import Case

CASES: list[Case] = []
