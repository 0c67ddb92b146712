"""How a proxy (guardian) reaches a patient: the one authorise-and-load path every proxy
route uses. Two checks, both on every request:

  role          the caller's role holds the action (403 otherwise, audited) — only the
                proxy role holds proxy.* actions
  relationship  the caller has a grant for this patient that is live (not revoked, not past
                its end date, not past the age of majority for a parent of a minor) and
                covers the area (messaging, appointments, billing), and the clinician has
                not restricted proxies away from it (tpm.domain.proxies.denial)

Anything else is 404 — the same answer as a patient that does not exist — written to the
trail with the reason. Every allowed access is audited by the caller with the proxy's user
id as the actor and the patient's id as the patient.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpm.domain.patients import Patient
from tpm.domain.practice import Practice
from tpm.domain.proxies import ProxyGrant, ProxyScope, denial
from tpm.errors import NotFound
from tpm.repositories.patients import PatientRepository
from tpm.repositories.proxies import ProxyRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access, Scope
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice


@dataclass(frozen=True)
class ProxyReach:
    access: Access
    grant: ProxyGrant
    patient: Patient
    practice: Practice


class ProxyAccess:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.grants = ProxyRepository(ctx.store, ctx.runtime.cipher)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    def reach(
        self, action: str, patient_id: str, scope: ProxyScope | None, *, resource_kind: str
    ) -> ProxyReach:
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=resource_kind)
        grant = self.grants.get(patient_id, ctx.principal.user_id)
        patient = self.patients.get(patient_id) if grant is not None else None
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        reason = "no_grant"
        if grant is not None and patient is not None:
            restriction = self.grants.restriction(patient_id)
            reason = (
                denial(
                    grant,
                    scope,
                    date_of_birth=patient.date_of_birth,
                    age_of_majority=practice.settings.age_of_majority,
                    zone=practice.zone,
                    restricted=restriction is not None and restriction.restricted,
                    now=ctx.now(),
                )
                or ""
            )
        if reason or grant is None or patient is None:
            raise self.denied(action, resource_kind, patient_id, reason or "no_grant")
        phi = ctx.authorizer.table.actions[action].phi
        return ProxyReach(Access(action, phi, Scope.PROXY), grant, patient, practice)

    def denied(self, action: str, resource_kind: str, patient_id: str, reason: str) -> NotFound:
        """Writes the denial to the trail; the caller raises the 404 this returns."""
        ctx = self.ctx
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(
                action,
                resource_kind,
                patient_id,
                patient_id=patient_id,
                outcome=Outcome.DENIED,
                reason_code=reason,
            ),
        )
        return NotFound()
