"""The business associate register as the outbound adapters ask it.

    guard = AgreementGuard(runtime, store, actor)        # one practice, one request or job
    runtime.notifier.send_email(to, subject, text, guard=guard)   # the adapter asks it
    require_agreement(runtime, store, actor, "clearinghouse-x", carries_phi=True)  # direct

`require(vendor, carries_phi=...)` returns when data may go to that vendor today and raises
tpm.domain.vendors.AgreementRequired (409 `vendor_agreement_required`, details
`{"vendor": key, "reason": code}`) when it may not; the rule is
tpm.domain.vendors.agreement_problem. "Today" is the practice's calendar date. A refusal is
written to the audit trail (action `vendor.outbound_refused`, outcome denied, resource the
vendor key, reason the code) once per guard and vendor, so a sweep refused a thousand times
records it once, and the compliance role sees an alert (once per vendor and day).

Answers are cached for the guard's life (a request or one practice's sweep), so asking per
message costs two gets once. Build a new guard per request; never share one across
practices (it is bound to one).
"""

from __future__ import annotations

from datetime import date

from tpm.adapters.store.base import Absent, ConditionFailed, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.vendors import AgreementRequired, Refusal, agreement_problem
from tpm.repositories.vendors import VendorRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.principal import Principal, SystemActor
from tpm.services.practices import get_practice

REFUSED_ACTION = "vendor.outbound_refused"


class AgreementGuard:
    def __init__(
        self, runtime: Runtime, store: PracticeStore, actor: Principal | SystemActor
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.actor = actor
        self._answers: dict[tuple[str, bool], Refusal | None] = {}
        self._recorded: set[str] = set()
        self._today: date | None = None

    @property
    def today(self) -> date:
        if self._today is None:
            zone = get_practice(self.runtime.store, self.store.practice_id).zone
            self._today = self.runtime.clock.now().astimezone(zone).date()
        return self._today

    def problem(self, vendor: str, *, carries_phi: bool) -> Refusal | None:
        """Why data may not go to `vendor` (None: it may). Asks without recording."""
        key = (vendor, carries_phi)
        if key not in self._answers:
            found = VendorRepository(self.store, self.runtime.cipher).by_key(vendor)
            self._answers[key] = agreement_problem(found, self.today, carries_phi=carries_phi)
        return self._answers[key]

    def require(self, vendor: str, *, carries_phi: bool) -> None:
        refusal = self.problem(vendor, carries_phi=carries_phi)
        if refusal is None:
            return
        if vendor not in self._recorded:
            self._recorded.add(vendor)
            self._record_refusal(vendor, refusal)
        raise AgreementRequired(vendor=vendor, reason=refusal.value)

    def _record_refusal(self, vendor: str, refusal: Refusal) -> None:
        fields = {
            "action": REFUSED_ACTION,
            "resource_kind": "vendor",
            "resource_id": vendor,
            "outcome": Outcome.DENIED,
            "reason_code": refusal.value,
        }
        actor = self.actor
        event = (
            AuditEvent.for_principal(actor, **fields)
            if isinstance(actor, Principal)
            else AuditEvent.for_system(actor, **fields)
        )
        now = self.runtime.clock.now()
        alert = Put(
            {
                "pk": "ALERTS",
                "sk": f"{to_rfc3339(now)}#refused#{vendor}",
                "kind": "vendor_refused",
                "vendor_key": vendor,
                "reason": refusal.value,
                "time": to_rfc3339(now),
            }
        )
        once = Put({"pk": "ALERT_ONCE", "sk": f"refused#{vendor}#{self.today}"}, Absent())
        try:
            self.runtime.audit.write_with_audit(self.store, lambda: [once, alert], event)
        except ConditionFailed:
            # Already alerted today: the refusal itself is still recorded.
            self.runtime.audit.record(self.store, event)


def require_agreement(
    runtime: Runtime,
    store: PracticeStore,
    actor: Principal | SystemActor,
    vendor: str,
    *,
    carries_phi: bool,
) -> None:
    """One question without keeping a guard: may data go to `vendor` now?"""
    AgreementGuard(runtime, store, actor).require(vendor, carries_phi=carries_phi)
