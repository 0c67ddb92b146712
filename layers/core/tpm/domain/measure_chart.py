"""A measure's scores over time as a small, self-contained SVG. Pure: no I/O, no library.

Rendered on the server so that the chart a clinician sees is the same everywhere (a future
staff UI, a PDF, an export) and needs no script. The SVG holds only what it is given:
dates, totals, band labels and flag markers — never a name (callers pass none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from tpm.domain.template_models import Band

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 48, 200, 40, 48
# Bands from mild to severe: light to strong, readable in greyscale as well.
FLAGGED_STYLE = 'fill="#fff" stroke="#b00020" stroke-width="3"'
BAND_FILLS = ("#e8f4ea", "#fdf6d8", "#fde7cf", "#f9d3c4", "#f3bcbc", "#eaa5a5")


@dataclass(frozen=True)
class ChartPoint:
    at: datetime
    total: int
    band: str
    flagged: bool = False


@dataclass(frozen=True)
class _Frame:
    low: int
    high: int
    start: float
    end: float

    def x(self, at: datetime, index: int, count: int) -> float:
        width = WIDTH - LEFT - RIGHT
        if count == 1:
            return LEFT + width / 2
        if self.end == self.start:  # all at one instant: spread them evenly
            return LEFT + width * index / (count - 1)
        return LEFT + width * (at.timestamp() - self.start) / (self.end - self.start)

    def y(self, value: float) -> float:
        height = HEIGHT - TOP - BOTTOM
        value = min(max(value, self.low), self.high)
        return TOP + height * (1 - (value - self.low) / (self.high - self.low))


def render_chart(
    title: str, low: int, high: int, bands: Sequence[Band], points: Sequence[ChartPoint]
) -> str:
    """The SVG document: y axis from `low` to `high` with the severity bands shaded and
    labelled, one circle per response (flagged ones ringed in red), oldest to newest."""
    if high <= low:
        raise ValueError("the score range is empty")
    ordered = sorted(points, key=lambda p: p.at)
    times = [p.at.timestamp() for p in ordered] or [0.0]
    frame = _Frame(low, high, min(times), max(times))
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        'font-family="sans-serif" font-size="12">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(ordered))}</desc>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    parts += _bands(frame, bands)
    parts += _axes(frame, bands, ordered)
    parts += _series(frame, ordered)
    parts.append("</svg>")
    return "\n".join(parts)


def _description(points: Sequence[ChartPoint]) -> str:
    if not points:
        return "No responses yet."
    listed = "; ".join(
        f"{p.at.date().isoformat()}: {p.total} ({p.band}){', flagged' if p.flagged else ''}"
        for p in points
    )
    count = "1 response" if len(points) == 1 else f"{len(points)} responses"
    return f"{count}. {listed}."


def _bands(frame: _Frame, bands: Sequence[Band]) -> list[str]:
    parts = ['<g class="bands">']
    right = WIDTH - RIGHT
    for index, band in enumerate(sorted(bands, key=lambda b: b.min)):
        top = frame.y(band.max + 0.5)
        bottom = frame.y(band.min - 0.5)
        fill = BAND_FILLS[min(index, len(BAND_FILLS) - 1)]
        parts.append(
            f'<rect class="band" x="{LEFT}" y="{top:.1f}" width="{right - LEFT}" '
            f'height="{bottom - top:.1f}" fill="{fill}"/>'
        )
        parts.append(
            f'<text x="{right + 8}" y="{(top + bottom) / 2 + 4:.1f}">'
            f"{escape(band.label)} ({band.min}-{band.max})</text>"
        )
    parts.append("</g>")
    return parts


def _axes(frame: _Frame, bands: Sequence[Band], points: Sequence[ChartPoint]) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [
        '<g class="axes" stroke="#333">',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        "</g>",
        '<g class="ticks">',
    ]
    for value in sorted({frame.low, frame.high, *(b.min for b in bands)}):
        y = frame.y(value)
        parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    # Dates under the points: all of them when few, else the first and the last.
    shown = points if len(points) <= 6 else [points[0], points[-1]]
    for point in shown:
        x = frame.x(point.at, points.index(point), len(points))
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">'
            f"{point.at.date().isoformat()}</text>"
        )
    parts.append(
        f'<text x="{(LEFT + right) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">Completed</text>'
    )
    parts.append("</g>")
    return parts


def _series(frame: _Frame, points: Sequence[ChartPoint]) -> list[str]:
    if not points:
        middle = (TOP + HEIGHT - BOTTOM) / 2
        x = (LEFT + WIDTH - RIGHT) / 2
        return [f'<text x="{x:.1f}" y="{middle:.1f}" text-anchor="middle">No responses yet</text>']
    xy = [(frame.x(p.at, i, len(points)), frame.y(p.total)) for i, p in enumerate(points)]
    parts = ['<g class="series">']
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline class="trend" points="{path}" fill="none" stroke="#1f4e79"/>')
    for point, (x, y) in zip(points, xy, strict=True):
        label = f"{point.at.date().isoformat()}: {point.total} ({point.band})"
        if point.flagged:
            label += ", flagged for review"
        style = (
            'fill="#fff" stroke="#b00020" stroke-width="3"' if point.flagged else 'fill="#1f4e79"'
        )
        css = "point flagged" if point.flagged else "point"
        parts.append(
            f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="5" {style}>'
            f"<title>{escape(label)}</title></circle>"
        )
    parts.append("</g>")
    return parts
