"""X12 as text: read an interchange the way files arrive in practice (a UTF-8 byte-order
mark, line breaks or indentation between segments, any separators the ISA declares) and
write one with fixed separators. Pure: no I/O.

The ISA segment is fixed width (106 characters): the element separator is its 4th
character, the repetition separator ISA11, the component separator ISA16 (position 105)
and the segment terminator the character after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

ISA_LENGTH = 106


class X12SyntaxError(ValueError):
    """The text is not an X12 interchange (no ISA, or a truncated one)."""


@dataclass(frozen=True)
class Separators:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"


@dataclass(frozen=True)
class Segment:
    """One segment: `elements[0]` is the segment id; `n` its 1-based position in the file."""

    elements: tuple[str, ...]
    n: int
    separators: Separators = field(default_factory=Separators, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, i: int) -> str:
        """Element `i` (1-based, as in "CLM05"), "" when absent."""
        return self.elements[i] if i < len(self.elements) else ""

    def components(self, i: int) -> list[str]:
        value = self.get(i)
        return value.split(self.separators.component) if value else []

    def text(self) -> str:
        return self.separators.element.join(self.elements)


def normalise(text: str) -> str:
    """Drop a byte-order mark and leading whitespace."""
    return text.lstrip("\ufeff").lstrip()


def separators_of(text: str) -> Separators:
    text = normalise(text)
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise X12SyntaxError("the file does not start with a complete ISA segment")
    element = text[3]
    fields = text[:ISA_LENGTH].split(element)
    if len(fields) != 17:
        raise X12SyntaxError("the ISA segment does not have 16 elements")
    repetition = fields[11] if len(fields[11]) == 1 and fields[12] >= "00402" else "^"
    return Separators(
        element=element,
        component=text[104],
        repetition=repetition,
        segment=text[105],
    )


def parse(text: str) -> list[Segment]:
    """Every segment of an interchange, whitespace between segments ignored."""
    text = normalise(text)
    seps = separators_of(text)
    out: list[Segment] = []
    for raw in text.split(seps.segment):
        raw = raw.strip("\r\n\t ")
        if not raw:
            continue
        out.append(Segment(tuple(raw.split(seps.element)), len(out) + 1, seps))
    return out


def canonical(text: str) -> str:
    """The same interchange with the usual separators (* : ^ ~) and one segment a line:
    what pyx12 reads most reliably."""
    segments = parse(text)
    std = Separators()
    lines: list[str] = []
    for seg in segments:
        if seg.id == "ISA":
            els = list(seg.elements)
            els[11] = std.repetition if seg.get(12) >= "00402" else els[11]
            els[16] = std.component
            lines.append(std.element.join(els) + std.segment)
            continue
        els = [
            e.replace(seg.separators.component, std.component).replace(
                seg.separators.repetition, std.repetition
            )
            for e in seg.elements
        ]
        lines.append(std.element.join(els) + std.segment)
    return "\n".join(lines) + "\n"


# ---- writing ---------------------------------------------------------------------------


def amount(value: Decimal) -> str:
    """X12 decimal (R): no trailing zeros, no leading '+', at most two places."""
    q = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def clean(value: str, limit: int | None = None) -> str:
    """Text safe inside an element: upper case, separators and control characters
    replaced by spaces, trimmed to `limit`."""
    out = "".join(" " if ch in "*:^~\r\n\t|" or ord(ch) < 32 else ch for ch in value)
    out = " ".join(out.upper().split())
    return out[:limit] if limit else out


class Writer:
    """Builds a transaction with standard separators, counting segments from ST."""

    def __init__(self) -> None:
        self.segments: list[str] = []
        self.st_start: int | None = None

    def add(self, *elements: str) -> None:
        values = list(elements)
        while len(values) > 1 and values[-1] == "":
            values.pop()
        if values[0] == "ST":
            self.st_start = len(self.segments)
        self.segments.append("*".join(values))

    def st_count(self) -> int:
        """Segments from ST to the one about to be written (SE) inclusive."""
        assert self.st_start is not None
        return len(self.segments) - self.st_start + 1

    def text(self) -> str:
        return "".join(s + "~\n" for s in self.segments)


def iter_ids(segments: list[Segment], *ids: str) -> Iterator[Segment]:
    return (s for s in segments if s.id in ids)
