"""X12 validation with pyx12 (the library, offline) plus our rules layer.

pyx12 checks syntax, element lengths and types, code lists (e.g. place of service),
mandatory loops and the SE count; `tpm.domain.billing.check837` adds what pyx12 passes
(NPI check digit, CPT/ICD-10/taxonomy lists, frequency and REF*F8, pointers, add-ons).

pyx12 4.0 is called with `fd_997=None` (it crashes writing a 999 for an 835) and its
findings are read from the JSON error document it writes; its log records are kept out
of our logs (they may quote element values, which can be PHI).
"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

from tpm.domain.billing.check837 import Problem, check_837p, loops_of
from tpm.domain.billing.x12 import Segment, X12SyntaxError, canonical, parse


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pyx12_problems(text: str, segments: list[Segment] | None = None) -> list[Problem]:
    """What pyx12 finds in an interchange (any transaction it has a map for)."""
    import pyx12.params
    import pyx12.x12n_document

    segments = segments if segments is not None else parse(text)
    loops = loops_of(segments)
    logger = logging.getLogger("pyx12")
    handler = _Collect()
    saved = (logger.propagate, logger.level)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.ERROR)
    out = io.StringIO()
    try:
        pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(canonical(text)), None, None, None, out
        )
    except Exception as exc:
        return [
            Problem(
                "ISA",
                "ISA",
                1,
                "",
                f"pyx12 could not read the file ({type(exc).__name__})",
                "pyx12",
            )
        ]
    finally:
        logger.removeHandler(handler)
        logger.propagate, _ = saved
        logger.setLevel(saved[1])
    try:
        report: dict[str, Any] = json.loads(out.getvalue() or "{}")
    except ValueError:
        report = {}
    problems = _walk(report, segments, loops)
    if not problems and handler.messages and not report:
        problems = [Problem("ISA", "ISA", 1, "", m, "pyx12") for m in handler.messages]
    return problems


def _walk(report: dict[str, Any], segments: list[Segment], loops: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    st_positions = [s.n for s in segments if s.id == "ST"]
    isa = next((s for s in segments if s.id == "ISA"), None)
    for interchange in report.get("interchanges", []):
        for err in interchange.get("errors", []):
            problems.append(Problem("ISA", "ISA", isa.n if isa else 1, "", _msg(err), "pyx12"))
        for group in interchange.get("groups", []):
            for err in group.get("errors", []):
                problems.append(Problem("GS", "GS", 0, "", _msg(err), "pyx12"))
            for t_index, transaction in enumerate(group.get("transactions", [])):
                st_n = st_positions[t_index] if t_index < len(st_positions) else 1
                for err in transaction.get("errors", []):
                    problems.append(Problem("ST", "SE", 0, "", _msg(err), "pyx12"))
                for seg in transaction.get("segments", []):
                    n = st_n + int(seg.get("seg_count") or 1) - 1
                    loop = loops[n - 1] if 0 < n <= len(loops) else str(seg.get("ls_id") or "")
                    sid = str(seg.get("seg_id") or "")
                    for err in seg.get("errors", []):
                        problems.append(Problem(loop, sid, n, "", _msg(err), "pyx12"))
                    for ele in seg.get("elements", []):
                        element = f"{sid}{int(ele.get('ele_pos') or 0):02d}"
                        if ele.get("subele_pos"):
                            element += f"-{ele['subele_pos']}"
                        for err in ele.get("errors", []):
                            problems.append(Problem(loop, sid, n, element, _msg(err), "pyx12"))
    return problems


def _msg(err: dict[str, Any]) -> str:
    return str(err.get("err_str") or f"error {err.get('err_cde')}")


def validate_837p(text: str) -> list[Problem]:
    """pyx12 and our rules: every problem, in file order (empty = ready to submit)."""
    try:
        segments = parse(text)
    except X12SyntaxError as exc:
        return [Problem("ISA", "ISA", 0, "", str(exc))]
    ours = check_837p(segments)
    theirs = pyx12_problems(text, segments)
    # pyx12 and our envelope rule both count SE: keep one line for it.
    if any(p.element == "SE01" for p in ours):
        theirs = [p for p in theirs if "SE count" not in p.message]
    return sorted([*theirs, *ours], key=lambda p: (p.position or 10**9, p.source))


def shown(problem: Problem) -> str:
    """A problem's message for an API body: pyx12 quotes element values in parentheses
    (which can be names); those are dropped. Our rules name codes and ids only."""
    if problem.source != "pyx12":
        return problem.message
    return re.sub(r"\s*\([^)]*\)", "", problem.message).strip()
