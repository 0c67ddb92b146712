"""Our rules for an 837P, on top of what pyx12 checks (syntax, lengths, code lists,
mandatory loops). pyx12 passes a wrong NPI check digit, an unknown CPT or ICD-10 code, a
header ICD-10 code, frequency 9, a replacement without the payer's claim number and a
made-up taxonomy: these rules refuse them, one Problem per finding with its loop,
segment and element. Pure: no I/O."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from tpm.domain.billing.claim837 import IMPLEMENTATION
from tpm.domain.billing.codes import (
    ADD_ONS,
    PSYCHOTHERAPY_BASE,
    PSYCHOTHERAPY_WITH_EM,
    REPEATABLE,
    ein_problem,
    icd10_problem,
    modifier_problem,
    npi_problem,
    pos_problem,
    procedure_problem,
    taxonomy_problem,
    zip9_problem,
)
from tpm.domain.billing.x12 import Segment

_Add = Callable[[Segment, str, str], None]  # report(segment, element, message)
FREQUENCIES = {"1": "original", "7": "replacement", "8": "void"}
MAX_DIAGNOSES = 12
MAX_LINES = 50


@dataclass(frozen=True)
class Problem:
    """One finding: where (loop, segment id and position, element) and what is wrong."""

    loop: str
    segment: str
    position: int  # the segment's 1-based position in the file
    element: str  # e.g. "CLM05-3"; "" for the whole segment
    message: str
    source: str = "rules"  # "rules" (ours) or "pyx12"

    def line(self) -> str:
        where = f"{self.segment}#{self.position}" if self.position else self.segment
        element = self.element or "-"
        return f"{self.loop}\t{where}\t{element}\t{self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_NM1_LOOPS = {
    "41": "1000A",
    "40": "1000B",
    "85": "2010AA",
    "87": "2010AB",
    "IL": "2010BA",
    "PR": "2010BB",
    "QC": "2010CA",
    "DN": "2310A",
    "82": "2310B",
    "77": "2310C",
    "DQ": "2310D",
}
_HL_LOOPS = {"20": "2000A", "22": "2000B", "23": "2000C"}
_PARTY = {
    "85": "billing provider",
    "87": "pay-to provider",
    "82": "rendering provider",
    "DN": "referring provider",
    "77": "service facility",
    "DQ": "supervising provider",
}


def loops_of(segments: list[Segment]) -> list[str]:
    """The 837P loop each segment belongs to (our own walker; enough to name a place)."""
    out: list[str] = []
    loop = "ISA"
    in_claim = False
    for seg in segments:
        sid = seg.id
        if sid in ("ISA", "GS", "ST", "BHT", "SE", "GE", "IEA"):
            loop = {"ST": "HEADER", "BHT": "HEADER"}.get(sid, sid)
            in_claim = False
        elif sid == "HL":
            loop = _HL_LOOPS.get(seg.get(3), "2000")
            in_claim = False
        elif sid == "CLM":
            loop, in_claim = "2300", True
        elif sid == "LX":
            loop = "2400"
        elif sid == "NM1":
            code = seg.get(1)
            if in_claim and loop == "2400":
                loop = {"82": "2420A", "77": "2420C", "DN": "2420F"}.get(code, "2400")
            else:
                loop = _NM1_LOOPS.get(code, loop)
        out.append(loop)
    return out


@dataclass
class _ClaimScope:
    clm: Segment
    loop_index: int
    frequency: str = ""
    has_f8: bool = False
    diagnoses: int = 0
    charge_total: Decimal = Decimal(0)
    lines: list[tuple[Segment, str, bool]] | None = None  # (SV1, date, has_6R)


def check_837p(segments: list[Segment]) -> list[Problem]:
    """Every rule finding for an 837P interchange, in file order."""
    problems: list[Problem] = []
    loops = loops_of(segments)

    def add(seg: Segment, element: str, message: str) -> None:
        problems.append(Problem(loops[seg.n - 1], seg.id, seg.n, element, message))

    _check_envelope(segments, add)
    claims: list[_ClaimScope] = []
    current: _ClaimScope | None = None
    line_date = ""
    for seg, loop in zip(segments, loops, strict=True):
        sid = seg.id
        if sid == "NM1" and seg.get(8) == "XX":
            problem = npi_problem(seg.get(9))
            if problem:
                party = _PARTY.get(seg.get(1), "provider")
                add(seg, "NM109", f"{party} NPI {seg.get(9)}: {problem}")
        elif sid == "PRV":
            problem = taxonomy_problem(seg.get(3))
            if problem:
                add(seg, "PRV03", f"taxonomy {seg.get(3)}: {problem}")
        elif sid == "REF" and seg.get(1) == "EI" and loop == "2010AA":
            problem = ein_problem(seg.get(2))
            if problem:
                add(seg, "REF02", f"billing provider EIN: {problem}")
        elif sid == "N3" and loop == "2010AA":
            if re.search(r"\bP\.?\s*O\.?\s*BOX\b", seg.get(1), re.IGNORECASE):
                add(
                    seg, "N301", "the billing provider address must be a street address (no PO box)"
                )
        elif sid == "N4" and loop == "2010AA":
            problem = zip9_problem(seg.get(3))
            if problem:
                add(seg, "N403", f"billing provider: {problem}")
        elif sid == "CLM":
            current = _ClaimScope(seg, len(claims), lines=[])
            claims.append(current)
            _check_clm(seg, current, add)
        elif current is not None and sid == "REF" and seg.get(1) == "F8" and loop == "2300":
            current.has_f8 = bool(seg.get(2))
        elif current is not None and sid == "HI":
            current.diagnoses += _check_hi(seg, add)
        elif current is not None and sid == "SV1":
            assert current.lines is not None
            current.lines.append((seg, "", False))
            _check_sv1(seg, current, add)
        elif current is not None and sid == "DTP" and seg.get(1) == "472" and loop == "2400":
            line_date = seg.get(3)
            if current.lines:
                sv1, _, has_6r = current.lines[-1]
                current.lines[-1] = (sv1, line_date, has_6r)
        elif current is not None and sid == "REF" and seg.get(1) == "6R" and loop == "2400":
            if current.lines:
                sv1, when, _ = current.lines[-1]
                current.lines[-1] = (sv1, when, bool(seg.get(2)))
        elif sid in ("HL", "SE"):
            current = None
    for claim in claims:
        _finish_claim(claim, add)
    return sorted(problems, key=lambda p: p.position)


def _check_envelope(segments: list[Segment], add: _Add) -> None:
    first = {s.id: s for s in reversed(segments)}
    isa, iea, gs, ge = first.get("ISA"), first.get("IEA"), first.get("GS"), first.get("GE")
    if isa and iea and isa.get(13).strip() != iea.get(2).strip():
        add(iea, "IEA02", "the interchange control number does not match ISA13")
    if gs and ge and gs.get(6) != ge.get(2):
        add(ge, "GE02", "the group control number does not match GS06")
    if gs and gs.get(8) != IMPLEMENTATION:
        add(gs, "GS08", f"the version must be {IMPLEMENTATION}")
    start: Segment | None = None
    for seg in segments:
        if seg.id == "ST":
            start = seg
            if seg.get(1) != "837":
                add(seg, "ST01", "not an 837 transaction")
            if seg.get(3) != IMPLEMENTATION:
                add(seg, "ST03", f"the implementation must be {IMPLEMENTATION}")
        elif seg.id == "SE" and start is not None:
            count = seg.n - start.n + 1
            if seg.get(1) != str(count):
                add(seg, "SE01", f"the segment count says {seg.get(1)}; ST to SE holds {count}")
            if seg.get(2) != start.get(2):
                add(seg, "SE02", "the transaction control number does not match ST02")
            start = None


def _check_clm(seg: Segment, claim: _ClaimScope, add: _Add) -> None:
    claim_id = seg.get(1)
    if not re.fullmatch(r"[A-Za-z0-9-]{1,20}", claim_id):
        add(seg, "CLM01", "our claim id must be 1-20 letters or digits (it comes back in the 835)")
    place = seg.components(5)
    pos = place[0] if place else ""
    problem = pos_problem(pos)
    if problem:
        add(seg, "CLM05-1", f"place of service {pos!r}: {problem}")
    if len(place) < 2 or place[1] != "B":
        add(seg, "CLM05-2", "the facility code qualifier must be B")
    claim.frequency = place[2] if len(place) > 2 else ""
    if claim.frequency not in FREQUENCIES:
        add(
            seg,
            "CLM05-3",
            f"claim frequency {claim.frequency!r} is not 1 (original), 7 (replacement) or 8 (void)",
        )
    try:
        Decimal(seg.get(2))
    except InvalidOperation:
        add(seg, "CLM02", "the total charge is not a number")


def _check_hi(seg: Segment, add: _Add) -> int:
    count = 0
    for i in range(1, len(seg.elements)):
        parts = seg.components(i)
        if not parts:
            continue
        count += 1
        element = f"HI{i:02d}"
        qualifier = parts[0]
        code = parts[1] if len(parts) > 1 else ""
        if qualifier not in ("ABK", "ABF", "BK", "BF"):
            add(seg, f"{element}-1", f"diagnosis qualifier {qualifier!r} is not ICD-10-CM")
        elif i == 1 and qualifier not in ("ABK", "BK"):
            add(seg, f"{element}-1", "the first diagnosis must be the principal one (ABK)")
        problem = icd10_problem(code) if code else "missing"
        if problem:
            add(seg, f"{element}-2", f"diagnosis {code!r}: {problem}")
    if count > MAX_DIAGNOSES:
        add(seg, "HI", f"at most {MAX_DIAGNOSES} diagnoses on a claim")
    return count


def _check_sv1(seg: Segment, claim: _ClaimScope, add: _Add) -> None:
    parts = seg.components(1)
    qualifier, code = ([*parts, "", ""])[:2]
    if qualifier != "HC":
        add(seg, "SV101-1", "the procedure qualifier must be HC")
    problem = procedure_problem(code)
    if problem:
        add(seg, "SV101-2", f"procedure {code!r}: {problem}")
    for k, modifier in enumerate(parts[2:6], start=3):
        problem = modifier_problem(modifier)
        if problem:
            add(seg, f"SV101-{k}", f"modifier {modifier!r}: {problem}")
    try:
        claim.charge_total += Decimal(seg.get(2))
    except InvalidOperation:
        add(seg, "SV102", "the line charge is not a number")
    units = seg.get(4)
    if not re.fullmatch(r"[1-9]\d{0,3}", units):
        add(seg, "SV104", "units must be a whole number of at least 1")
    elif int(units) > 1 and code not in REPEATABLE:
        add(seg, "SV104", f"{code} is billed as one unit")
    if seg.get(5):
        problem = pos_problem(seg.get(5))
        if problem:
            add(seg, "SV105", f"place of service {seg.get(5)!r}: {problem}")


def _finish_claim(claim: _ClaimScope, add: _Add) -> None:
    clm = claim.clm
    lines = claim.lines or []
    if claim.frequency in ("7", "8") and not claim.has_f8:
        add(
            clm,
            "REF02",
            f"a {FREQUENCIES[claim.frequency]} claim (frequency {claim.frequency}) needs the "
            "payer's claim number in REF*F8",
        )
    if claim.diagnoses == 0:
        add(clm, "HI", "the claim has no diagnosis")
    if not lines:
        add(clm, "", "the claim has no service lines")
    if len(lines) > MAX_LINES:
        add(clm, "", f"at most {MAX_LINES} service lines on a claim")
    try:
        if lines and Decimal(clm.get(2)) != claim.charge_total:
            add(clm, "CLM02", "the claim total does not equal the sum of its line charges")
    except InvalidOperation:
        pass
    by_day: dict[str, list[str]] = defaultdict(list)
    for sv1, when, has_6r in lines:
        pointers = sv1.components(7)
        if not pointers:
            add(sv1, "SV107", "every line needs at least one diagnosis pointer")
        for k, pointer in enumerate(pointers, start=1):
            if not pointer.isdigit() or not 1 <= int(pointer) <= max(claim.diagnoses, 0):
                add(
                    sv1,
                    f"SV107-{k}",
                    f"diagnosis pointer {pointer} points past the {claim.diagnoses} diagnoses",
                )
        if not has_6r:
            add(sv1, "REF*6R", "every line needs its line control number (REF*6R)")
        parts = sv1.components(1)
        if len(parts) > 1:
            by_day[when].append(parts[1])
    for codes in by_day.values():
        _check_code_combination(clm, codes, add)


def combination_problems(codes: list[str]) -> list[str]:
    """Add-on and one-per-day rules for the procedure codes of one day and provider."""
    found: list[str] = []
    present = set(codes)
    base = [c for c in codes if c in PSYCHOTHERAPY_BASE]
    if len(base) > 1:
        found.append("one psychotherapy code per patient per day per provider")
    if base and present & PSYCHOTHERAPY_WITH_EM:
        found.append("90833/90836/90838 never go with 90832/90834/90837 on the same day")
    for code in codes:
        primaries = ADD_ONS.get(code)
        if primaries is not None and not present & primaries:
            found.append(f"add-on {code} needs one of {', '.join(sorted(primaries))} the same day")
    return found


def _check_code_combination(clm: Segment, codes: list[str], add: _Add) -> None:
    for message in combination_problems(codes):
        add(clm, "SV101-2", message)
