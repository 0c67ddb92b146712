"""Pure patient rules: guardians for minors, what a patient may change, reminder consents,
the portal address, and the normalisation behind blind-index search."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tpm.domain.patients import (
    Communication,
    Guardian,
    Patient,
    PatientRuleError,
    age_on,
    apply_update,
    check_guardian,
    fields_not_editable,
    is_minor,
    normalise_name,
    normalise_phone,
    portal_email,
    search_terms,
)

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
GUARDIAN = Guardian(name="Gale Guardian", relationship="mother", phone="+15555550111")


def patient(**changes: object) -> Patient:
    base: dict[str, object] = {
        "id": "pat_1",
        "legal_first_name": "Ana",
        "legal_last_name": "Núñez",
        "date_of_birth": date(1990, 3, 4),
        "phone": "+15555550123",
        "created_at": NOW,
        "created_by": "usr_1",
    }
    return Patient.model_validate(base | changes)


# ---- age and guardians ---------------------------------------------------------------------


def test_age_turns_on_the_birthday_not_before() -> None:
    dob = date(2012, 6, 15)
    assert age_on(dob, date(2030, 6, 14)) == 17
    assert age_on(dob, date(2030, 6, 15)) == 18


def test_leap_day_birthday_comes_of_age_on_the_first_of_march() -> None:
    dob = date(2012, 2, 29)
    assert is_minor(dob, date(2030, 2, 28))
    assert not is_minor(dob, date(2030, 3, 1))


def test_a_minor_needs_a_guardian() -> None:
    minor = patient(date_of_birth=date(2012, 6, 16))  # 18 tomorrow
    with pytest.raises(PatientRuleError) as caught:
        check_guardian(minor, date(2030, 6, 15))
    assert caught.value.fields == [("guardian", "guardian_required")]
    check_guardian(minor.model_copy(update={"guardian": GUARDIAN}), date(2030, 6, 15))


def test_an_adult_needs_no_guardian_and_a_future_birth_date_is_refused() -> None:
    check_guardian(patient(date_of_birth=date(2012, 6, 15)), date(2030, 6, 15))
    with pytest.raises(PatientRuleError) as caught:
        check_guardian(patient(date_of_birth=date(2031, 1, 1)), date(2030, 6, 15))
    assert caught.value.fields == [("date_of_birth", "in_future")]


# ---- who may change what -------------------------------------------------------------------


def test_patients_may_change_contact_details_and_reminder_channels_only() -> None:
    allowed = {
        "email": "a@example.test",
        "phone": "+15555550100",
        "address": None,
        "emergency_contact": None,
        "communication": {"email_reminders": True, "sms_reminders": False},
    }
    assert fields_not_editable(allowed, "self") == []
    refused = {
        "legal_last_name": "X",
        "date_of_birth": "2000-01-01",
        "insurance": None,
        "communication": {"reminder_may_name_service": True},
    }
    assert fields_not_editable(refused, "self") == [
        "date_of_birth",
        "insurance",
        "legal_last_name",
        "communication.reminder_may_name_service",
    ]
    assert fields_not_editable(refused, "staff") == []


def test_a_refused_self_update_changes_nothing() -> None:
    with pytest.raises(PatientRuleError) as caught:
        apply_update(patient(), {"legal_first_name": "Eve"}, "self", NOW)
    assert caught.value.fields == [("legal_first_name", "not_editable")]


def test_update_merges_communication_and_replaces_objects() -> None:
    before = patient(communication=Communication(email_reminders=True))
    after = apply_update(
        before,
        {
            "communication": {"sms_reminders": True},
            "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "00001"},
        },
        "staff",
        NOW,
    )
    assert after.communication.email_reminders is True  # untouched key kept
    assert after.communication.sms_reminders is True
    assert after.address is not None
    assert after.address.country == "US"
    assert after.version == before.version + 1
    cleared = apply_update(after, {"address": None}, "staff", NOW)
    assert cleared.address is None


def test_update_validates_the_result_and_reports_paths() -> None:
    with pytest.raises(PatientRuleError) as caught:
        apply_update(patient(), {"legal_first_name": None, "phone": "555"}, "staff", NOW)
    paths = {path for path, _ in caught.value.fields}
    assert paths == {"legal_first_name", "phone"}


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(PatientRuleError) as caught:
        apply_update(patient(), {"timezone": "Mars/Olympus"}, "staff", NOW)
    assert [p for p, _ in caught.value.fields] == ["timezone"]


# ---- reminder consents ---------------------------------------------------------------------


def test_opt_out_wins_over_the_preference_at_once() -> None:
    p = patient(communication=Communication(email_reminders=True, sms_reminders=True))
    out = p.opt_out("sms", NOW)
    assert out.communication.allows("email")
    assert not out.communication.allows("sms")
    assert out.communication.sms_opted_out_at == NOW
    assert (
        out.opt_out("sms", datetime(2031, 1, 1, tzinfo=UTC)).communication.sms_opted_out_at == NOW
    )


def test_only_the_patient_can_opt_back_in() -> None:
    opted_out = patient(communication=Communication(sms_reminders=True)).opt_out("sms", NOW)
    by_staff = apply_update(opted_out, {"communication": {"sms_reminders": True}}, "staff", NOW)
    assert not by_staff.communication.allows("sms")
    by_patient = apply_update(opted_out, {"communication": {"sms_reminders": True}}, "self", NOW)
    assert by_patient.communication.allows("sms")
    assert by_patient.communication.sms_opted_out_at is None


def test_channels_are_off_until_chosen() -> None:
    assert not Communication().allows("email")
    assert not Communication().allows("sms")
    assert not Communication().reminder_may_name_service


# ---- portal address ------------------------------------------------------------------------


def test_portal_email_is_the_one_on_file() -> None:
    assert portal_email("Pat@Example.test", None) == "pat@example.test"
    assert portal_email("pat@example.test", "PAT@example.test") == "pat@example.test"
    assert portal_email(None, "new@example.test") == "new@example.test"
    with pytest.raises(PatientRuleError) as other:
        portal_email("pat@example.test", "someone.else@example.test")
    assert other.value.fields == [("email", "not_email_on_file")]
    with pytest.raises(PatientRuleError) as missing:
        portal_email(None, None)
    assert missing.value.fields == [("email", "missing_email")]


# ---- search normalisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  José   DE la\tCruz ", "jose de la cruz"),
        ("ANA NÚÑEZ", "ana nunez"),
        ("Straße", "strasse"),
    ],
)
def test_names_are_casefolded_without_accents_or_extra_spaces(raw: str, normal: str) -> None:
    assert normalise_name(raw) == normal


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+1 (555) 555-0123", "15555550123"),
        ("555.555.0123", "15555550123"),
        ("+44 20 7946 0018", "442079460018"),
    ],
)
def test_phones_become_e164_digits(raw: str, digits: str) -> None:
    assert normalise_phone(raw) == digits


def test_search_terms_cover_full_first_last_and_preferred_names() -> None:
    terms = search_terms(patient(preferred_name="Annie"))
    assert terms == {
        ("name", "ana nunez"),
        ("name", "ana"),
        ("name", "nunez"),
        ("name", "annie nunez"),
        ("dob", "1990-03-04"),
        ("phone", "15555550123"),
    }
    assert ("phone", "15555550123") not in search_terms(patient(phone=None))
