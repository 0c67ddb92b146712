"""Scheduling: catalogue, availability and slots, appointments (staff and self-service),
recurring series, waitlist, and prospective patients' appointment requests."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, request_meta, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import Instant, IsoDate
from tpm.api.responses import created, created_doc
from tpm.api.scheduling_models import (
    AcceptIn,
    AppointmentIn,
    AppointmentView,
    AvailabilityPatch,
    AvailabilityView,
    BookableClinicianView,
    CancelIn,
    DeclineIn,
    LocationIn,
    LocationPatch,
    LocationView,
    OfferView,
    OverrideIn,
    RequestIn,
    RequestReceived,
    RequestView,
    RescheduleIn,
    RulesPatch,
    RulesView,
    SelfBookingIn,
    SelfRescheduleIn,
    SeriesBooked,
    SeriesIn,
    SeriesView,
    ServiceIn,
    ServicePatch,
    ServiceView,
    SlotsView,
    SlotView,
    SplitIn,
    StatusIn,
    Versioned,
    WaitlistIn,
    WaitlistView,
)
from tpm.api.views import Page
from tpm.domain.scheduling import Appointment
from tpm.services.appointment_requests import AppointmentRequestService, submit_request
from tpm.services.availability import AvailabilityService
from tpm.services.catalogue import CatalogueService
from tpm.services.scheduling import AppointmentService, BookingRequest
from tpm.services.series import SeriesRequest, SeriesService
from tpm.services.waitlist import WaitlistService

app = create_app("scheduling")
CATALOGUE, APPTS, PORTAL = ["scheduling-catalogue"], ["appointments"], ["patient-portal"]
ID = r"^[a-z]{2,5}_[0-9a-z]{26}$"
From = Annotated[
    Instant, Query(alias="from", description="Start of the range (RFC 3339 with an offset)")
]
To = Annotated[Instant, Query(alias="to", description="End of the range, exclusive (with offset)")]
FilterId = Annotated[str | None, Query(pattern=ID)]


def _view(appt: Appointment) -> AppointmentView:
    """The appointment as this caller may see it (an override's reason: staff only)."""
    return AppointmentView.of(appt, staff=service_context(app).principal.patient_id is None)


def _reason(override: OverrideIn | None) -> str | None:
    return override.reason if override is not None else None


def _changes(body: Versioned) -> dict[str, object]:
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    fee = getattr(body, "fee", None)
    if fee is not None:
        changes |= {"fee": fee.amount, "currency": fee.currency}
    return changes


# ---- catalogue --------------------------------------------------------------------------------


@app.post(
    "/v1/locations",
    summary="Add a location",
    tags=CATALOGUE,
    responses=created_doc(LocationView),
    middlewares=[idempotent],
)
def create_location(body: LocationIn) -> Response[str]:
    location = CatalogueService(service_context(app)).create_location(body.model_dump())
    return created(LocationView.of(location), f"/v1/locations/{location.id}")


@app.get("/v1/locations", summary="List locations", tags=CATALOGUE)
def list_locations() -> Page[LocationView]:
    found = CatalogueService(service_context(app)).locations()
    return Page[LocationView](items=[LocationView.of(x) for x in found])


@app.get("/v1/locations/<locationId>", summary="Get a location", tags=CATALOGUE)
def get_location(locationId: str) -> LocationView:  # noqa: N803 - path parameter
    return LocationView.of(CatalogueService(service_context(app)).location(locationId))


@app.patch("/v1/locations/<locationId>", summary="Update a location", tags=CATALOGUE)
def update_location(locationId: str, body: LocationPatch) -> LocationView:  # noqa: N803
    service = CatalogueService(service_context(app))
    return LocationView.of(service.update_location(locationId, body.version, _changes(body)))


@app.post("/v1/locations/<locationId>/deactivate", summary="Deactivate a location", tags=CATALOGUE)
def deactivate_location(locationId: str, body: Versioned) -> LocationView:  # noqa: N803
    service = CatalogueService(service_context(app))
    return LocationView.of(service.update_location(locationId, body.version, {"active": False}))


@app.post(
    "/v1/services",
    summary="Add a service",
    tags=CATALOGUE,
    responses=created_doc(ServiceView),
    middlewares=[idempotent],
)
def create_service(body: ServiceIn) -> Response[str]:
    fields = body.model_dump(exclude={"fee"})
    fields |= {"fee": body.fee.amount, "currency": body.fee.currency}
    service = CatalogueService(service_context(app)).create_service(fields)
    return created(ServiceView.of(service), f"/v1/services/{service.id}")


@app.get("/v1/services", summary="List services (patients: self-bookable ones)", tags=CATALOGUE)
def list_services() -> Page[ServiceView]:
    found = CatalogueService(service_context(app)).services()
    return Page[ServiceView](items=[ServiceView.of(x) for x in found])


@app.get("/v1/services/<serviceId>", summary="Get a service", tags=CATALOGUE)
def get_service(serviceId: str) -> ServiceView:  # noqa: N803
    return ServiceView.of(CatalogueService(service_context(app)).service(serviceId))


@app.patch("/v1/services/<serviceId>", summary="Update a service", tags=CATALOGUE)
def update_service(serviceId: str, body: ServicePatch) -> ServiceView:  # noqa: N803
    changes = _changes(body)
    service = CatalogueService(service_context(app)).update_service(
        serviceId, body.version, changes
    )
    return ServiceView.of(service)


@app.post("/v1/services/<serviceId>/deactivate", summary="Deactivate a service", tags=CATALOGUE)
def deactivate_service(serviceId: str, body: Versioned) -> ServiceView:  # noqa: N803
    service = CatalogueService(service_context(app))
    return ServiceView.of(service.update_service(serviceId, body.version, {"active": False}))


# ---- availability, slots, rules ---------------------------------------------------------------


@app.get(
    "/v1/clinicians/<clinicianId>/availability", summary="A clinician's availability", tags=APPTS
)
def get_availability(clinicianId: str) -> AvailabilityView:  # noqa: N803
    return AvailabilityView.of(AvailabilityService(service_context(app)).get(clinicianId))


@app.patch("/v1/clinicians/<clinicianId>/availability", summary="Change availability", tags=APPTS)
def update_availability(clinicianId: str, body: AvailabilityPatch) -> AvailabilityView:  # noqa: N803
    service = AvailabilityService(service_context(app))
    return AvailabilityView.of(service.update(clinicianId, body.version, _changes(body)))


@app.get("/v1/clinicians/<clinicianId>/slots", summary="Free slots for a service", tags=APPTS)
def get_slots(
    clinicianId: str,  # noqa: N803
    service_id: Annotated[str, Query(pattern=ID)],
    first: Annotated[IsoDate, Query(alias="from", description="First local date")],
    last: Annotated[IsoDate, Query(alias="to", description="Last local date (inclusive)")],
) -> SlotsView:
    found = AvailabilityService(service_context(app)).slots(clinicianId, service_id, first, last)
    return SlotsView(items=[SlotView.of(s) for s in found])


@app.get("/v1/scheduling-rules", summary="The practice's scheduling rules", tags=APPTS)
def get_rules() -> RulesView:
    return RulesView.of(AvailabilityService(service_context(app)).rules())


@app.patch("/v1/scheduling-rules", summary="Change the scheduling rules", tags=APPTS)
def update_rules(body: RulesPatch) -> RulesView:
    service = AvailabilityService(service_context(app))
    return RulesView.of(service.update_rules(body.version, _changes(body)))


# ---- appointments (staff) ---------------------------------------------------------------------


@app.post(
    "/v1/appointments",
    summary="Book an appointment",
    tags=APPTS,
    responses=created_doc(AppointmentView),
    middlewares=[idempotent],
)
def book(body: AppointmentIn) -> Response[str]:
    req = BookingRequest(
        tuple(body.patient_ids),
        body.clinician_id,
        body.service_id,
        body.location_id,
        body.start,
        _reason(body.override),
    )
    appt = AppointmentService(service_context(app)).book(req)
    return created(_view(appt), f"/v1/appointments/{appt.id}")


@app.get("/v1/appointments", summary="List appointments (a schedule or a patient's)", tags=APPTS)
def list_appointments(
    start: From,
    end: To,
    clinician_id: FilterId = None,
    patient_id: FilterId = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[AppointmentView]:
    found, next_cursor = AppointmentService(service_context(app)).list_appointments(
        clinician_id=clinician_id,
        patient_id=patient_id,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    return Page[AppointmentView](items=[_view(a) for a in found], next_cursor=next_cursor)


@app.get("/v1/appointments/<appointmentId>", summary="Get an appointment", tags=APPTS)
def get_appointment(appointmentId: str) -> AppointmentView:  # noqa: N803
    return _view(AppointmentService(service_context(app)).get(appointmentId))


@app.post("/v1/appointments/<appointmentId>/reschedule", summary="Move an appointment", tags=APPTS)
def reschedule(appointmentId: str, body: RescheduleIn) -> AppointmentView:  # noqa: N803
    service = AppointmentService(service_context(app))
    moved = service.reschedule(
        appointmentId,
        body.version,
        body.start,
        body.location_id,
        override=_reason(body.override),
    )
    return _view(moved)


@app.post("/v1/appointments/<appointmentId>/cancel", summary="Cancel an appointment", tags=APPTS)
def cancel(appointmentId: str, body: CancelIn) -> AppointmentView:  # noqa: N803
    service = AppointmentService(service_context(app))
    return _view(service.cancel(appointmentId, body.version, body.reason))


@app.post(
    "/v1/appointments/<appointmentId>/status", summary="Arrived, completed or no-show", tags=APPTS
)
def set_status(appointmentId: str, body: StatusIn) -> AppointmentView:  # noqa: N803
    service = AppointmentService(service_context(app))
    return _view(service.set_status(appointmentId, body.version, body.status))


# ---- recurring series -------------------------------------------------------------------------


@app.post(
    "/v1/appointment-series",
    summary="Book a recurring series (all occurrences or none)",
    tags=APPTS,
    responses=created_doc(SeriesBooked),
    middlewares=[idempotent],
)
def book_series(body: SeriesIn) -> Response[str]:
    req = SeriesRequest(
        patient_ids=tuple(body.patient_ids),
        clinician_id=body.clinician_id,
        service_id=body.service_id,
        location_id=body.location_id,
        rrule=body.rrule,
        start_local=body.start_local,
        timezone=body.timezone,
        count=body.count,
        until=body.until,
        override=_reason(body.override),
    )
    series, appts = SeriesService(service_context(app)).book(req)
    out = SeriesBooked(series=SeriesView.of(series), appointments=[_view(a) for a in appts])
    return created(out, f"/v1/appointment-series/{series.id}")


@app.get(
    "/v1/appointment-series/<seriesId>",
    summary="A recurring series (its rule, occurrences and version)",
    tags=APPTS,
)
def get_series(seriesId: str) -> SeriesView:  # noqa: N803
    return SeriesView.of(SeriesService(service_context(app)).get(seriesId))


@app.post(
    "/v1/appointment-series/<seriesId>/split",
    summary="Change this and following occurrences (ends the series, starts a new one)",
    tags=APPTS,
    responses=created_doc(SeriesBooked),
    middlewares=[idempotent],
)
def split_series(seriesId: str, body: SplitIn) -> Response[str]:  # noqa: N803
    changes = body.changes.model_dump(exclude_unset=True)
    series, appts = SeriesService(service_context(app)).split(
        seriesId, body.version, body.from_occurrence, changes, _reason(body.override)
    )
    out = SeriesBooked(series=SeriesView.of(series), appointments=[_view(a) for a in appts])
    return created(out, f"/v1/appointment-series/{series.id}")


# ---- patient self-service ---------------------------------------------------------------------


@app.get("/v1/me/appointments", summary="My appointments (patients)", tags=PORTAL)
def my_appointments(
    start: From, end: To, limit: Limit = 25, cursor: Cursor = None
) -> Page[AppointmentView]:
    ctx = service_context(app)
    found, next_cursor = AppointmentService(ctx).list_mine(start, end, limit, cursor)
    return Page[AppointmentView](items=[_view(a) for a in found], next_cursor=next_cursor)


@app.get(
    "/v1/clinicians",
    summary="The practice's active clinicians and supervisors (staff directory, no PHI)",
    tags=CATALOGUE,
)
def clinicians() -> Page[BookableClinicianView]:
    found = AvailabilityService(service_context(app)).clinicians()
    return Page[BookableClinicianView](items=[BookableClinicianView.of(u) for u in found])


@app.get(
    "/v1/me/bookable-clinicians",
    summary="Clinicians I may book online with (patients)",
    tags=PORTAL,
)
def my_bookable_clinicians() -> Page[BookableClinicianView]:
    found = AvailabilityService(service_context(app)).bookable_clinicians()
    return Page[BookableClinicianView](items=[BookableClinicianView.of(u) for u in found])


@app.post(
    "/v1/me/appointments",
    summary="Book online within the practice's rules",
    tags=PORTAL,
    responses=created_doc(AppointmentView),
    middlewares=[idempotent],
)
def self_book(body: SelfBookingIn) -> Response[str]:
    appt = AppointmentService(service_context(app)).self_book(
        body.clinician_id, body.service_id, body.location_id, body.start
    )
    return created(_view(appt), f"/v1/appointments/{appt.id}")


@app.post("/v1/me/appointments/<appointmentId>/cancel", summary="Cancel online", tags=PORTAL)
def self_cancel(appointmentId: str, body: CancelIn) -> AppointmentView:  # noqa: N803
    service = AppointmentService(service_context(app))
    cancelled = service.cancel(
        appointmentId, body.version, body.reason, action="appointment.self_cancel"
    )
    return _view(cancelled)


@app.post(
    "/v1/me/appointments/<appointmentId>/reschedule", summary="Reschedule online", tags=PORTAL
)
def self_reschedule(appointmentId: str, body: SelfRescheduleIn) -> AppointmentView:  # noqa: N803
    service = AppointmentService(service_context(app))
    moved = service.reschedule(
        appointmentId,
        body.version,
        body.start,
        body.location_id,
        action="appointment.self_reschedule",
    )
    return _view(moved)


# ---- waitlist ---------------------------------------------------------------------------------


@app.post(
    "/v1/waitlist",
    summary="Join the waitlist",
    tags=APPTS,
    responses=created_doc(WaitlistView),
    middlewares=[idempotent],
)
def join_waitlist(body: WaitlistIn) -> Response[str]:
    ctx = service_context(app)
    patient_id = body.patient_id or ctx.principal.patient_id or ""
    entry = WaitlistService(ctx).add(
        patient_id, [(w.start, w.end) for w in body.windows], body.clinician_id, body.service_id
    )
    return created(WaitlistView.of(entry))


@app.get("/v1/waitlist", summary="The waitlist (patients: their own entries)", tags=APPTS)
def list_waitlist(limit: Limit = 25, cursor: Cursor = None) -> Page[WaitlistView]:
    entries, next_cursor = WaitlistService(service_context(app)).page(limit, cursor)
    return Page[WaitlistView](items=[WaitlistView.of(e) for e in entries], next_cursor=next_cursor)


@app.post(
    "/v1/waitlist/<entryId>/remove",
    summary="Take a patient off the waitlist (no more offers)",
    tags=APPTS,
)
def remove_from_waitlist(entryId: str, body: Versioned) -> WaitlistView:  # noqa: N803
    return WaitlistView.of(WaitlistService(service_context(app)).remove(entryId, body.version))


@app.get(
    "/v1/waitlist-offers",
    summary="Offers of freed slots starting in a range, and where each stands (staff)",
    tags=APPTS,
)
def list_offers(start: From, end: To, limit: Limit = 25, cursor: Cursor = None) -> Page[OfferView]:
    found, next_cursor = WaitlistService(service_context(app)).offers(start, end, limit, cursor)
    return Page[OfferView](
        items=[OfferView.of(o, state) for o, state in found], next_cursor=next_cursor
    )


@app.post(
    "/v1/waitlist-offers/<offerId>/claim",
    summary="Claim an offered slot (first claim wins)",
    tags=PORTAL,
    responses=created_doc(AppointmentView),
    middlewares=[idempotent],
)
def claim_offer(offerId: str) -> Response[str]:  # noqa: N803
    appt = WaitlistService(service_context(app)).claim(offerId)
    return created(_view(appt), f"/v1/appointments/{appt.id}")


# ---- appointment requests (prospective patients) ----------------------------------------------


@app.post(
    "/v1/appointment-requests",
    summary="Request an appointment (public; no account needed)",
    tags=PORTAL,
    responses=created_doc(RequestReceived),
)
def request_appointment(body: RequestIn) -> Response[str]:
    request = submit_request(body.model_dump(), request_meta(app))
    return created(RequestReceived(id=request.id, status=request.status))


@app.get("/v1/appointment-requests", summary="Appointment requests to review", tags=APPTS)
def list_requests(limit: Limit = 25, cursor: Cursor = None) -> Page[RequestView]:
    found, next_cursor = AppointmentRequestService(service_context(app)).page(limit, cursor)
    return Page[RequestView](items=[RequestView.of(r) for r in found], next_cursor=next_cursor)


@app.post(
    "/v1/appointment-requests/<requestId>/accept",
    summary="Accept: create the patient and book",
    tags=APPTS,
    responses=created_doc(AppointmentView),
    middlewares=[idempotent],
)
def accept_request(requestId: str, body: AcceptIn) -> Response[str]:  # noqa: N803
    appt = AppointmentRequestService(service_context(app)).accept(requestId, body)
    return created(_view(appt), f"/v1/appointments/{appt.id}")


@app.post("/v1/appointment-requests/<requestId>/decline", summary="Decline a request", tags=APPTS)
def decline_request(requestId: str, body: DeclineIn) -> RequestView:  # noqa: N803
    service = AppointmentRequestService(service_context(app))
    return RequestView.of(service.decline(requestId, body.version))


lambda_handler = lambda_entry(app, "scheduling")
