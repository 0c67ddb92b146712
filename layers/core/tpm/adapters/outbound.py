"""The one question every adapter asks before data leaves the practice.

An adapter that delivers data to an outside party (an email or SMS provider, S3, a
clearinghouse, a card processor) names that party by its vendor key (`aws`, …) and calls
`guard.require(vendor, carries_phi=...)` BEFORE sending. The guard is the practice's
business associate register (tpm.services.agreements.AgreementGuard); it raises
tpm.domain.vendors.AgreementRequired when PHI would go to a vendor without an executed,
unexpired agreement, and then nothing is sent. Adapters that keep data on this machine
(the local outbox, the local file folder) have no vendor and do not ask.

The guard is a required argument of every sending method, so a new call site cannot forget
it: see docs/compliance.md, "Sending data out".
"""

from __future__ import annotations

from typing import Protocol


class OutboundGuard(Protocol):
    def require(self, vendor: str, *, carries_phi: bool) -> None:
        """Returns when data may go to `vendor`; raises AgreementRequired otherwise."""
        ...
