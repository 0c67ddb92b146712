"""A message thread as a PDF transcript, for filing into the patient's chart: subject,
patient, each message with its author, time (practice zone and UTC) and attachments by
file name. A restricted message (flagged as an inappropriate disclosure) is shown as
withheld, never its text. Built with fpdf2's core fonts, like note PDFs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tpm.clock import to_rfc3339
from tpm.domain.messaging import AuthorKind, Message, Thread

if TYPE_CHECKING:
    from fpdf import FPDF

WIDTH = 0
_ENCODING = "latin-1"  # the core fonts' encoding; anything else prints as "?"


def render_thread_pdf(
    thread: Thread, messages: list[Message], zone: str, filed_by: str, filed_at: datetime
) -> bytes:
    # fpdf2 costs ~150 ms to import: load it for PDFs only.
    from fpdf import FPDF

    pdf = FPDF(format="Letter")
    pdf.set_title(_text(f"Secure messages: {thread.subject}"))
    pdf.set_author("tpm")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "", 10)
    _heading(pdf, "Secure message thread", 15)
    _line(pdf, f"Subject: {thread.subject}")
    _line(pdf, f"Patient: {thread.patient_name}   Patient id: {thread.patient_id}")
    kind = "patient and care team" if thread.kind.value == "patient" else "staff only"
    _line(pdf, f"Thread id: {thread.id} ({kind}); {len(messages)} message(s)")
    _line(pdf, f"Filed by {filed_by} at {to_rfc3339(filed_at)}")
    pdf.ln(3)
    tz = ZoneInfo(zone)
    for message in messages:
        local = message.sent_at.astimezone(tz)
        who = {
            AuthorKind.PATIENT: f"{message.author_name} (patient)",
            AuthorKind.STAFF: message.author_name,
            AuthorKind.SYSTEM: f"{message.author_name} (automatic message)",
        }[message.author_kind]
        _line(pdf, f"{who} - {local:%Y-%m-%d %H:%M %Z} ({to_rfc3339(message.sent_at)})", bold=True)
        if message.restriction is not None:
            _line(pdf, "[Withheld: flagged as an inappropriate disclosure, under privacy review.]")
        else:
            pdf.multi_cell(WIDTH, 5, _text(message.body), new_x="LMARGIN", new_y="NEXT")
            for attachment in message.attachments:
                _line(pdf, f"Attachment: {attachment.filename} ({attachment.size_bytes} bytes)")
        pdf.ln(2)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(WIDTH, size * 0.5, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _line(pdf: FPDF, text: str, *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 10)
    pdf.multi_cell(WIDTH, 5, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _text(text: str) -> str:
    return text.encode(_ENCODING, "replace").decode(_ENCODING)
