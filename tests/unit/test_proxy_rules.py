"""The proxy rules (tpm.domain.proxies): when a grant lets a guardian in, the age of
majority, end dates in the practice's zone, scopes and the clinician's restriction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tpm.domain.messaging import AuthorKind, Thread, ThreadKind, sender_may_write
from tpm.domain.proxies import (
    ProxyGrant,
    ProxyRelationship,
    ProxyRuleError,
    ProxyScope,
    ProxyStatus,
    access_ends_at,
    check_new_grant,
    denial,
    grant_status,
    majority_date,
)

CHICAGO = ZoneInfo("America/Chicago")
BORN = date(2010, 6, 15)


def grant(**changes: object) -> ProxyGrant:
    base = ProxyGrant(
        id="pxy_" + "0" * 26,
        patient_id="pat_x",
        proxy_user_id="usr_x",
        relationship=ProxyRelationship.PARENT_OF_MINOR,
        basis="Birth certificate (synthetic)",
        scopes=(ProxyScope.MESSAGING, ProxyScope.APPOINTMENTS),
        invited_by="usr_desk",
        invited_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def why(
    g: ProxyGrant, scope: ProxyScope | None, now: datetime, restricted: bool = False
) -> str | None:
    return denial(
        g,
        scope,
        date_of_birth=BORN,
        age_of_majority=18,
        zone=CHICAGO,
        restricted=restricted,
        now=now,
    )


def test_a_parents_access_ends_at_midnight_of_the_majority_birthday_in_practice_time() -> None:
    g = grant()
    end = access_ends_at(g, BORN, 18, CHICAGO)
    assert end == datetime(2028, 6, 15, tzinfo=CHICAGO)
    # 23:59 Chicago the evening before is still a minor; 00:00 is not (05:00 UTC)
    assert why(g, ProxyScope.MESSAGING, datetime(2028, 6, 15, 4, 59, tzinfo=UTC)) is None
    assert why(g, ProxyScope.MESSAGING, datetime(2028, 6, 15, 5, 0, tzinfo=UTC)) == (
        "reached_majority"
    )
    # another practice's age of majority (e.g. 19) moves it
    assert access_ends_at(g, BORN, 19, CHICAGO) == datetime(2029, 6, 15, tzinfo=CHICAGO)


def test_a_leap_day_birthday_comes_of_age_on_the_first_of_march() -> None:
    assert majority_date(date(2008, 2, 29), 18) == date(2026, 3, 1)


def test_an_end_date_is_its_whole_last_day_and_the_earlier_of_two_ends_wins() -> None:
    g = grant(ends_on=date(2027, 1, 31))
    assert access_ends_at(g, BORN, 18, CHICAGO) == datetime(2027, 2, 1, tzinfo=CHICAGO)
    assert why(g, None, datetime(2027, 2, 1, 5, 59, tzinfo=UTC)) is None
    assert why(g, None, datetime(2027, 2, 1, 6, 0, tzinfo=UTC)) == "expired"
    # an adult's representative has no majority end, and none at all without an end date
    poa = grant(relationship=ProxyRelationship.HEALTHCARE_POA)
    assert access_ends_at(poa, BORN, 18, CHICAGO) is None


def test_revoked_out_of_scope_and_restricted() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert why(grant(revoked_at=now), ProxyScope.MESSAGING, now) == "revoked"
    assert why(grant(), ProxyScope.BILLING, now) == "out_of_scope"
    # the clinician's restriction leaves scheduling and billing only
    assert why(grant(), ProxyScope.MESSAGING, now, restricted=True) == "restricted"
    assert why(grant(), ProxyScope.APPOINTMENTS, now, restricted=True) is None
    assert why(None, ProxyScope.APPOINTMENTS, now) == "no_grant"
    assert grant_status(grant(revoked_at=now), BORN, 18, CHICAGO, now) is ProxyStatus.REVOKED


def test_new_grants_are_checked() -> None:
    today = date(2026, 12, 7)
    scopes = (ProxyScope.MESSAGING, ProxyScope.MESSAGING)
    parent = ProxyRelationship.PARENT_OF_MINOR
    assert check_new_grant(parent, scopes, None, BORN, 18, today) == (ProxyScope.MESSAGING,)
    with pytest.raises(ProxyRuleError) as past:
        check_new_grant(parent, scopes, date(2026, 12, 6), BORN, 18, today)
    assert past.value.fields == [("ends_on", "in_past")]
    adult = date(2000, 1, 1)
    with pytest.raises(ProxyRuleError) as grown:
        check_new_grant(parent, scopes, None, adult, 18, today)
    assert grown.value.fields == [("relationship", "patient_not_a_minor")]
    guardian = ProxyRelationship.LEGAL_GUARDIAN
    assert check_new_grant(guardian, scopes, None, adult, 18, today)


def test_sender_may_write() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    thread = Thread(
        id="thr_" + "0" * 26,
        kind=ThreadKind.PATIENT,
        patient_id="pat_x",
        subject="s",
        patient_name="p",
        created_by="usr_x",
        created_at=now,
        last_message_at=now,
        last_author_kind=AuthorKind.PATIENT,
    )
    # the patient's own thread: not open to a proxy until marked visible to proxies
    assert sender_may_write(thread, AuthorKind.PATIENT)
    assert not sender_may_write(thread, AuthorKind.PROXY)
    assert sender_may_write(thread.model_copy(update={"proxy_visible": True}), AuthorKind.PROXY)
    staff_only = thread.model_copy(update={"kind": ThreadKind.STAFF, "proxy_visible": True})
    assert not sender_may_write(staff_only, AuthorKind.PROXY)
    assert not sender_may_write(staff_only, AuthorKind.PATIENT)
    assert sender_may_write(staff_only, AuthorKind.STAFF)
