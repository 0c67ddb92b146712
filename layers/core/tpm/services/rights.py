"""HIPAA individual rights: the disclosure register and accounting of disclosures (45 CFR
164.528), and patients' requests for access (164.524), amendment (164.526) and an
accounting, with their deadlines. Rules in `tpm.domain.rights`; documented in
docs/compliance.md#patients-rights.

Every call is authorised by role and relationship and audited (reads too): disclosures as
`disclosure.*` (resource `disclosure`), requests as `rights.*` (resource `rights_request`),
each naming the patient.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.patients import Patient
from tpm.domain.record_export import bundle_bytes, fhir_bundle, validate_bundle
from tpm.domain.rights import (
    EXTENSION_DAYS,
    Disclosure,
    DisclosureBasis,
    DisclosureSource,
    Extension,
    InvalidRequestState,
    PackageFile,
    PackageFormat,
    RequestKind,
    RequestStatus,
    RightsRequest,
    accounting_period,
    extension_problem,
    first_due,
    in_accounting,
)
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import is_id, new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.rights import DISCLOSURE_KIND, REQUEST_KIND, RightsRepository
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.record_access import gather_record_set
from tpm.services.record_pdf import render_record_pdf


def practice_today(ctx: ServiceContext) -> date:
    zone = get_practice(ctx.runtime.store, ctx.practice_id).zone
    return ctx.now().astimezone(zone).date()


class RightsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = RightsRepository(ctx.store, ctx.runtime.cipher)

    # ---- the disclosure register ------------------------------------------------------------

    def record_disclosure(
        self,
        patient_id: str,
        *,
        disclosed_on: date,
        recipient: str,
        recipient_address: str,
        description: str,
        purpose: str,
        basis: DisclosureBasis,
        source: DisclosureSource,
        reference: str | None,
    ) -> Disclosure:
        ctx = self.ctx
        access = ctx.authorize(
            "disclosure.record",
            resource_kind=DISCLOSURE_KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._patient(patient_id)
        if disclosed_on > practice_today(ctx):
            raise ValidationFailed(fields=[{"path": "body.disclosed_on", "type": "in_future"}])
        prefix = {DisclosureSource.INCIDENT: "inc", DisclosureSource.MESSAGE_FLAG: "mfl"}
        if source in prefix and not (reference and is_id(reference, prefix[source])):
            raise ValidationFailed(fields=[{"path": "body.reference", "type": "invalid_id"}])
        if source is DisclosureSource.MANUAL and reference is not None:
            raise ValidationFailed(fields=[{"path": "body.reference", "type": "not_expected"}])
        disclosure = Disclosure(
            id=new_id("dsc"),
            patient_id=patient_id,
            disclosed_on=disclosed_on,
            recipient=recipient,
            recipient_address=recipient_address,
            description=description,
            purpose=purpose,
            basis=basis,
            source=source,
            reference=reference,
            recorded_by=ctx.principal.user_id,
            recorded_at=ctx.now(),
        )
        op = self.repo.disclosure_op(disclosure)
        ctx.write(
            access,
            lambda: [op],
            DISCLOSURE_KIND,
            disclosure.id,
            patient_id=patient_id,
            reason_code=basis.value,
        )
        return disclosure

    def disclosures(self, patient_id: str) -> list[Disclosure]:
        """The register for one patient (every basis), newest first."""
        ctx = self.ctx
        access = ctx.authorize(
            "disclosure.read",
            resource_kind=DISCLOSURE_KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._patient(patient_id)
        found = self.repo.disclosures(patient_id)
        ctx.record(
            access,
            DISCLOSURE_KIND,
            patient_id,
            patient_id=patient_id,
            reason_code=f"count_{len(found)}",
        )
        return list(reversed(found))

    # ---- requests -------------------------------------------------------------------------

    def create_request(
        self,
        patient_id: str,
        kind: RequestKind,
        *,
        details: str,
        record_reference: str | None,
        period_from: date | None,
    ) -> RightsRequest:
        ctx = self.ctx
        access = ctx.authorize(
            "rights.request",
            resource_kind=REQUEST_KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._patient(patient_id)
        today = practice_today(ctx)
        if kind is RequestKind.AMENDMENT and not details.strip():
            raise ValidationFailed(fields=[{"path": "body.details", "type": "missing"}])
        if period_from is not None and (kind is not RequestKind.ACCOUNTING or period_from > today):
            raise ValidationFailed(fields=[{"path": "body.period_from", "type": "out_of_range"}])
        if record_reference is not None and kind is not RequestKind.AMENDMENT:
            raise ValidationFailed(
                fields=[{"path": "body.record_reference", "type": "not_expected"}]
            )
        request = RightsRequest(
            id=new_id("rrq"),
            patient_id=patient_id,
            kind=kind,
            details=details,
            record_reference=record_reference,
            period_from=period_from,
            received_at=ctx.now(),
            received_on=today,
            requested_by=ctx.principal.user_id,
            due_on=first_due(kind, today),
        )
        op = self.repo.create_op(request)
        ctx.write(
            access,
            lambda: [op],
            REQUEST_KIND,
            request.id,
            patient_id=patient_id,
            reason_code=kind.value,
        )
        return request

    def requests(self, patient_id: str) -> list[RightsRequest]:
        ctx = self.ctx
        access = ctx.authorize(
            "rights.read", resource_kind=REQUEST_KIND, resource_id=patient_id, patient_id=patient_id
        )
        self._patient(patient_id)
        found = self.repo.for_patient(patient_id)
        ctx.record(
            access,
            REQUEST_KIND,
            patient_id,
            patient_id=patient_id,
            reason_code=f"count_{len(found)}",
        )
        return found

    def request(self, patient_id: str, request_id: str) -> tuple[RightsRequest, list[Disclosure]]:
        """One request; for a fulfilled accounting, the disclosures it gave."""
        ctx = self.ctx
        access = ctx.authorize(
            "rights.read", resource_kind=REQUEST_KIND, resource_id=request_id, patient_id=patient_id
        )
        request = self._load(patient_id, request_id)
        given: list[Disclosure] = []
        if request.disclosure_ids:
            wanted = set(request.disclosure_ids)
            given = [d for d in self.repo.disclosures(patient_id) if d.id in wanted]
        ctx.record(access, REQUEST_KIND, request.id, patient_id=patient_id)
        return request, given

    def queue(
        self, limit: int, cursor: str | None, *, open_only: bool
    ) -> tuple[list[RightsRequest], str | None]:
        """Every patient's requests for the compliance officer: open ones by due date."""
        ctx = self.ctx
        access = ctx.authorize("rights.queue", resource_kind=REQUEST_KIND)
        items, next_cursor = self.repo.page(limit, cursor, open_only=open_only)
        ctx.record(access, REQUEST_KIND, reason_code=f"count_{len(items)}")
        return items, next_cursor

    def extend(self, patient_id: str, request_id: str, version: int, reason: str) -> RightsRequest:
        ctx = self.ctx
        access = self._manage(patient_id, request_id)
        request = self._current(patient_id, request_id, version)
        problem = extension_problem(request, practice_today(ctx))
        if problem is not None:
            raise InvalidRequestState(reason=problem)
        if not reason.strip():
            raise ValidationFailed(fields=[{"path": "body.reason", "type": "missing"}])
        due = request.due_on + timedelta(days=EXTENSION_DAYS)
        extension = Extension(reason=reason, by=ctx.principal.user_id, at=ctx.now(), due_on=due)
        return self._commit(access, request.bump(extension=extension, due_on=due), "extended")

    def give_accounting(self, patient_id: str, request_id: str, version: int) -> RightsRequest:
        """Fulfils an accounting request: the accountable disclosures of its period, fixed
        in the request as given (later records do not change what the patient received)."""
        ctx = self.ctx
        access = self._manage(patient_id, request_id)
        request = self._current(patient_id, request_id, version)
        self._open_of(request, RequestKind.ACCOUNTING)
        start, end = accounting_period(request)
        given = [
            d for d in self.repo.disclosures(patient_id, start, end) if in_accounting(d, start, end)
        ]
        changed = request.bump(
            status=RequestStatus.FULFILLED,
            decided_by=ctx.principal.user_id,
            decided_at=ctx.now(),
            disclosure_ids=tuple(d.id for d in given),
        )
        return self._commit(access, changed, f"accounting_{len(given)}")

    def give_access(self, patient_id: str, request_id: str, version: int) -> RightsRequest:
        """Fulfils an access request: the designated record set as a FHIR R4 bundle
        (validated) and a PDF, sealed in the file store and delivered through the portal.
        Psychotherapy notes are never part of it."""
        ctx = self.ctx
        access = self._manage(patient_id, request_id)
        request = self._current(patient_id, request_id, version)
        self._open_of(request, RequestKind.ACCESS)
        record = gather_record_set(ctx, patient_id)
        bundle = fhir_bundle(record)
        validate_bundle(bundle)
        stamp = f"{record.generated_at:%Y-%m-%d}"
        files = [
            (
                PackageFormat.FHIR,
                f"health-record-{stamp}.json",
                "application/fhir+json",
                bundle_bytes(bundle),
            ),
            (
                PackageFormat.PDF,
                f"health-record-{stamp}.pdf",
                "application/pdf",
                render_record_pdf(record),
            ),
        ]
        package: list[PackageFile] = []
        for fmt, filename, content_type, data in files:
            file_id = new_id("rpk")
            ctx.runtime.files.put(ctx.practice_id, file_id, data, guard=ctx.outbound)
            package.append(
                PackageFile(
                    format=fmt,
                    file_id=file_id,
                    filename=filename,
                    content_type=content_type,
                    size_bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        changed = request.bump(
            status=RequestStatus.FULFILLED,
            decided_by=ctx.principal.user_id,
            decided_at=ctx.now(),
            package=tuple(package),
        )
        return self._commit(access, changed, "access_given")

    def package_file(
        self, patient_id: str, request_id: str, fmt: PackageFormat
    ) -> tuple[PackageFile, bytes]:
        """One file of a fulfilled access request (the patient's download); audited."""
        ctx = self.ctx
        access = ctx.authorize(
            "rights.read", resource_kind=REQUEST_KIND, resource_id=request_id, patient_id=patient_id
        )
        request = self._load(patient_id, request_id)
        found = next((f for f in request.package if f.format is fmt), None)
        if found is None:
            raise NotFound()
        data = ctx.runtime.files.get(ctx.practice_id, found.file_id)
        ctx.record(
            access, REQUEST_KIND, request.id, patient_id=patient_id, reason_code=f"download_{fmt}"
        )
        return found, data

    def decide_amendment(
        self, patient_id: str, request_id: str, version: int, *, accept: bool, response: str
    ) -> RightsRequest:
        """Accepts an amendment (`response` is the amendment as made, kept with the record)
        or denies it (`response` is the basis for the denial, given to the patient)."""
        ctx = self.ctx
        access = self._manage(patient_id, request_id)
        request = self._current(patient_id, request_id, version)
        self._open_of(request, RequestKind.AMENDMENT)
        if not response.strip():
            raise ValidationFailed(fields=[{"path": "body.response", "type": "missing"}])
        changed = request.bump(
            status=RequestStatus.ACCEPTED if accept else RequestStatus.DENIED,
            decided_by=ctx.principal.user_id,
            decided_at=ctx.now(),
            response=response,
        )
        return self._commit(access, changed, "accepted" if accept else "denied")

    def disagree(
        self, patient_id: str, request_id: str, version: int, statement: str
    ) -> RightsRequest:
        """The patient's statement of disagreement with a denied amendment (164.526(d)),
        kept with the request; once."""
        ctx = self.ctx
        access = ctx.authorize(
            "rights.disagree",
            resource_kind=REQUEST_KIND,
            resource_id=request_id,
            patient_id=patient_id,
        )
        request = self._current(patient_id, request_id, version)
        if request.kind is not RequestKind.AMENDMENT or request.status is not RequestStatus.DENIED:
            raise InvalidRequestState(reason="not_denied")
        if request.disagreement:
            raise InvalidRequestState(reason="already_recorded")
        if not statement.strip():
            raise ValidationFailed(fields=[{"path": "body.statement", "type": "missing"}])
        changed = request.bump(disagreement=statement, disagreement_at=ctx.now())
        return self._commit(access, changed, "disagreement")

    # ---- helpers --------------------------------------------------------------------------

    def _manage(self, patient_id: str, request_id: str) -> Access:
        return self.ctx.authorize(
            "rights.manage",
            resource_kind=REQUEST_KIND,
            resource_id=request_id,
            patient_id=patient_id,
        )

    def _patient(self, patient_id: str) -> Patient:
        patient = PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        return patient

    def _load(self, patient_id: str, request_id: str) -> RightsRequest:
        request = self.repo.get(patient_id, request_id) if is_id(request_id, "rrq") else None
        if request is None:
            raise NotFound()
        return request

    def _current(self, patient_id: str, request_id: str, version: int) -> RightsRequest:
        request = self._load(patient_id, request_id)
        if request.version != version:
            raise VersionConflict(current_version=request.version)
        return request

    @staticmethod
    def _open_of(request: RightsRequest, kind: RequestKind) -> None:
        if request.kind is not kind:
            raise InvalidRequestState(reason="wrong_kind")
        if not request.is_open:
            raise InvalidRequestState(reason="not_open")

    def _commit(self, access: Access, changed: RightsRequest, reason: str) -> RightsRequest:
        op = self.repo.update_op(changed)
        try:
            self.ctx.write(
                access,
                lambda: [op],
                REQUEST_KIND,
                changed.id,
                patient_id=changed.patient_id,
                reason_code=reason,
            )
        except ConditionFailed as exc:
            current = self.repo.get(changed.patient_id, changed.id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc
        return changed
