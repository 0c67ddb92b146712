"""A stand-in for the business associate register in adapter tests: it records what the
adapter asked and refuses the vendors it is told to (as tpm.services.agreements would).
The register itself is tested against a real practice in tests/integration/test_vendors.py."""

from __future__ import annotations

from tpm.domain.vendors import AgreementRequired


class RecordingGuard:
    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.asked: list[tuple[str, bool]] = []

    def require(self, vendor: str, *, carries_phi: bool) -> None:
        self.asked.append((vendor, carries_phi))
        if carries_phi and vendor in self.refuse:
            raise AgreementRequired(vendor=vendor, reason="agreement_expired")
