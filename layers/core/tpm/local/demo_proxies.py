"""The demo practice's proxy access: a minor patient (obviously synthetic) on the demo
clinician's care team, and their parent with a proxy account that signs in to the portal
(messages and appointments), with one conversation the parent started. Written through the
services, so every record is authorised and audited like real use."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from tpm.domain.patients import Guardian
from tpm.domain.proxies import ProxyRelationship, ProxyScope
from tpm.ids import new_id
from tpm.repositories.users import UserRepository
from tpm.security.principal import Principal, Role
from tpm.services.authentication import RequestMeta
from tpm.services.context import ServiceContext
from tpm.services.messaging import MessagingService
from tpm.services.patients import NewPatient, PatientService
from tpm.services.practices import get_practice
from tpm.services.proxies import NewProxy, ProxyService
from tpm.services.proxy_portal import ProxyPortal
from tpm.services.users import accept_invitation

if TYPE_CHECKING:
    from tpm.local.demo_practice import DemoSeed

GUARDIAN_EMAIL = "quinn.guardian@example.test"
GUARDIAN_PASSWORD = "harbor-willow-signal-63"  # noqa: S105 - synthetic, printed by tpm dev
GUARDIAN_NAME = "Quinn Guardian (synthetic)"


def minor_birthday(today: date) -> date:
    """Thirteen years old today, whatever today is (no 29 February)."""
    return (
        date(today.year - 13, 3, 1)
        if (today.month, today.day) >= (3, 1)
        else date(today.year - 14, 3, 1)
    )


def proxies(seed: DemoSeed) -> None:
    desk = PatientService(seed.as_(Role.FRONT_DESK))
    minor = desk.create(
        NewPatient(
            legal_first_name="Sky",
            legal_last_name="Minorcase (synthetic)",
            date_of_birth=minor_birthday(seed.today),
            guardian=Guardian(name=GUARDIAN_NAME, relationship="parent"),
        ),
        add_me_to_care_team=False,
    )
    seed.ids["minor"] = minor.id
    desk.add_to_care_team(minor.id, seed.staff[Role.CLINICIAN])
    invited = ProxyService(seed.as_(Role.FRONT_DESK)).invite(
        minor.id,
        NewProxy(
            email=GUARDIAN_EMAIL,
            display_name=GUARDIAN_NAME,
            relationship=ProxyRelationship.PARENT_OF_MINOR,
            basis="Birth certificate seen at intake (synthetic demo)",
            scopes=(ProxyScope.MESSAGING, ProxyScope.APPOINTMENTS),
            ends_on=None,
        ),
    )
    assert invited.token is not None
    slug = get_practice(seed.runtime.store, seed.practice_id).slug
    meta = RequestMeta(
        source_ip="127.0.0.1", user_agent="tpm dev demo seed", request_id=new_id("req")
    )
    guardian = accept_invitation(seed.runtime, slug, invited.token, GUARDIAN_PASSWORD, meta)
    seed.ids["guardian"] = guardian.id
    sent = ProxyPortal(_acting(seed, guardian.id, Role.PROXY, GUARDIAN_NAME)).start(
        minor.id,
        "Sky's school schedule (synthetic)",
        "Sky has exams next week; could we move Thursday's visit to the afternoon?",
        (),
    )
    # The clinician answers, so nothing waits for a reply (or escalates) in the demo.
    clinician = seed.staff[Role.CLINICIAN]
    user = UserRepository(seed.runtime.store.practice(seed.practice_id), seed.runtime.cipher)
    known = user.get(clinician)
    name = known.display_name if known else "Clinician"
    MessagingService(_acting(seed, clinician, Role.CLINICIAN, name)).reply(
        sent.thread.id, "Of course: I have moved it to 4 pm. See you then (synthetic)."
    )


def _acting(seed: DemoSeed, user_id: str, role: Role, name: str) -> ServiceContext:
    """A service context for one demo person, under their own name (messages show it)."""
    principal = Principal(
        user_id=user_id,
        practice_id=seed.practice_id,
        roles=frozenset({role}),
        session_id="demo-seed",
        auth_time=seed.now,
        mfa_authenticated=True,
        display_name=name,
        user_agent="tpm dev demo seed",
        request_id=new_id("req"),
    )
    return ServiceContext(seed.runtime, principal, _now=seed.now)
