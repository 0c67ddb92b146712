"""The clearinghouse behind one port, chosen by TPM_CLEARINGHOUSE:

  local:///abs/path/clearinghouse     a folder drop (tpm dev): <dir>/<practice>/outbound/
                                      receives 837P files; response files (999, 277CA,
                                      835) are picked up from <dir>/<practice>/inbound/
  local:///abs/path?simulate=1        the same, and the "clearinghouse" answers every file
                                      it receives at once with a 999 and a 277CA accepting
                                      it (payer claim numbers SIM<CLM01>) - for `tpm dev`
                                      and tests

  local:///abs/path?vendor=<key>     the vendor key it asks the business associate
                                      register about (default `clearinghouse`)

Every submission and eligibility inquiry carries PHI, so the adapter asks the register
first (`guard.require(vendor, carries_phi=True)`; docs/compliance.md): without an
executed agreement nothing is sent (AgreementRequired, 409). The local folder stands in
for the practice's clearinghouse and asks like it, so the register's effect shows in
`tpm dev`. SFTP or an HTTP API in AWS go behind the same methods; they are not built
yet. The folder holds X12 as a clearinghouse would receive it: it is the boundary to
another system, so it is written for that system (the sealed copy of every file stays in
the file store).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from tpm.adapters.outbound import OutboundGuard
from tpm.domain.billing.acks import ClaimStatus
from tpm.domain.billing.eligibility import simulated_271
from tpm.domain.billing.responses import render_277ca, render_999
from tpm.domain.billing.x12 import parse
from tpm.errors import DependencyUnavailable

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class Clearinghouse(Protocol):
    vendor: str  # the vendor's name in the business-associate register

    def submit(self, practice_id: str, name: str, content: str, *, guard: OutboundGuard) -> str:
        """Hands one 837P file over (after asking `guard`); returns the reference."""
        ...

    def collect(self, practice_id: str) -> list[tuple[str, str]]:
        """Response files waiting for us (name, text), each returned once."""
        ...

    def inquire(self, practice_id: str, text: str, *, guard: OutboundGuard) -> str:
        """A real-time 270 eligibility inquiry (after asking `guard`); returns the 271."""
        ...


@dataclass
class FolderClearinghouse:
    root: Path
    simulate: bool = False
    vendor: str = "clearinghouse"

    def _dir(self, practice_id: str, kind: str) -> Path:
        if not _NAME.match(practice_id):
            raise ValueError("practice ids are plain identifiers")
        path = self.root / practice_id / kind
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def submit(self, practice_id: str, name: str, content: str, *, guard: OutboundGuard) -> str:
        if not _NAME.match(name):
            raise ValueError("file names are plain identifiers")
        guard.require(self.vendor, carries_phi=True)  # AgreementRequired: nothing is sent
        target = self._dir(practice_id, "outbound") / f"{name}.837"
        target.write_text(content, encoding="utf-8")
        target.chmod(0o600)
        if self.simulate:
            for response_name, text in simulated_answers(content):
                path = self._dir(practice_id, "inbound") / f"{name}.{response_name}"
                path.write_text(text, encoding="utf-8")
                path.chmod(0o600)
        return name

    def inquire(self, practice_id: str, text: str, *, guard: OutboundGuard) -> str:
        """A folder cannot answer in real time: only the simulated clearinghouse does."""
        guard.require(self.vendor, carries_phi=True)
        if not self.simulate:
            raise DependencyUnavailable("Real-time eligibility needs an online clearinghouse.")
        self._dir(practice_id, "outbound")  # the practice's folder exists, as for claims
        return simulated_271(text, parse(text))

    def collect(self, practice_id: str) -> list[tuple[str, str]]:
        inbound = self._dir(practice_id, "inbound")
        done = self._dir(practice_id, "processed")
        out: list[tuple[str, str]] = []
        for path in sorted(inbound.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)):
            if path.is_file():
                out.append((path.name, path.read_text(encoding="utf-8-sig")))
                path.rename(done / path.name)
        return out


def simulated_answers(content: str) -> list[tuple[str, str]]:
    """A 999 accepting the file and a 277CA accepting every claim in it."""
    segments = parse(content)
    isa = next(s for s in segments if s.id == "ISA")
    gs = next(s for s in segments if s.id == "GS")
    st = next(s for s in segments if s.id == "ST")
    control = int(isa.get(13)) % 900_000_000 + 1
    at = datetime.strptime(gs.get(4) + gs.get(5), "%Y%m%d%H%M")
    npi = next((s.get(9) for s in segments if s.id == "NM1" and s.get(1) == "85"), "")
    statuses: list[ClaimStatus] = []
    first_date: date | None = None
    for seg in segments:
        if seg.id == "CLM":
            statuses.append(
                ClaimStatus(
                    seg.get(1),
                    "A1",
                    "20",
                    "PR",
                    f"SIM{seg.get(1)}",
                    amount=Decimal(seg.get(2) or "0"),
                )
            )
        elif seg.id == "DTP" and seg.get(1) == "472" and first_date is None:
            first_date = datetime.strptime(seg.get(3), "%Y%m%d").date()
    sender, receiver = gs.get(3), gs.get(2)
    ack = render_999(
        sender=sender,
        receiver=receiver,
        at=at,
        control=control,
        group_control=gs.get(6),
        transaction_control=st.get(2),
        accepted=True,
    )
    ca = render_277ca(
        sender=sender,
        receiver=receiver,
        at=at,
        control=control + 1,
        statuses=statuses,
        billing_npi=npi,
        service_date=first_date or at.date(),
    )
    return [("999", ack), ("277", ca)]


def open_clearinghouse(url: str) -> Clearinghouse:
    parts = urlsplit(url)
    if parts.scheme == "local":
        query = parse_qs(parts.query)
        return FolderClearinghouse(
            Path(parts.path),
            simulate=query.get("simulate", ["0"])[0] == "1",
            vendor=query.get("vendor", ["clearinghouse"])[0],
        )
    raise ValueError("TPM_CLEARINGHOUSE must be local:///path[?simulate=1]")
