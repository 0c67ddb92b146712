"""Intake's pure parts: card images keep only pixels, messages carry no PHI, templates
order their steps, verification codes and document hashes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from tpm.domain.card_images import CardImageRuleError, clean_card_image
from tpm.domain.intake import (
    ConsentItem,
    FormItem,
    IntakeTemplate,
    Step,
    code_hash,
    document_hash,
)
from tpm.domain.reminders import check_text
from tpm.services import intake_messages as messages

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (400, 300), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SyntheticCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"secret comment")
    return out.getvalue() + b"TRAILING-DATA"


def test_a_card_image_is_re_encoded_with_pixels_only() -> None:
    raw = jpeg_with_exif()
    clean = clean_card_image(raw)
    with Image.open(io.BytesIO(clean.data)) as out:
        assert out.format == "JPEG"
        assert dict(out.getexif()) == {}
        assert "comment" not in out.info
        assert "icc_profile" not in out.info
        # Turned upright by its orientation tag before the tag was dropped.
        assert out.size == (300, 400)
    assert b"SyntheticCam" not in clean.data
    assert b"TRAILING-DATA" not in clean.data


def test_large_images_are_scaled_down() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 2500), (0, 0, 0)).save(out, format="PNG")
    clean = clean_card_image(out.getvalue())
    assert max(clean.width, clean.height) == 2000


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image", "not_an_allowed_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not_an_allowed_image"),
        (b"x" * (4 * 1024 * 1024 + 1), "too_large"),
    ],
)
def test_what_is_not_an_allowed_image_is_refused(raw: bytes, code: str) -> None:
    with pytest.raises(CardImageRuleError) as caught:
        clean_card_image(raw)
    assert caught.value.code == code


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, format="PNG")  # small file, 64 megapixels
    with pytest.raises(CardImageRuleError) as caught:
        clean_card_image(out.getvalue())
    assert caught.value.code == "bad_dimensions"


@pytest.mark.parametrize(
    "text",
    [
        messages.INVITATION_SUBJECT,
        messages.INVITATION_BODY,
        messages.CODE_SUBJECT,
        messages.CODE_SMS,
        messages.REMINDER_SUBJECT,
        messages.REMINDER_BODY,
        messages.REMINDER_SMS,
        messages.STAFF_SUBJECT,
        messages.STAFF_BODY,
    ],
)
def test_messages_pass_the_reminder_content_check(text: str) -> None:
    allowed = frozenset({"first_name", "practice_name", "portal_link", "code"})
    assert check_text(text, "text", allowed=allowed, clinical_terms_ok=False) == []


def test_a_template_orders_its_steps() -> None:
    template = IntakeTemplate(
        id="itp_x",
        version=1,
        name="t",
        forms=(FormItem(key="a", template_id="phq9"),),
        consents=(ConsentItem(key="b", template_id="telehealth_consent"),),
        insurance_card=False,
        review=False,
        created_at=NOW,
        created_by="u",
    )
    assert template.steps() == (Step.IDENTITY, Step.FORMS, Step.CONSENTS, Step.APPOINTMENT)
    assert template.form("b") is not None
    assert template.form("zzz") is None
    with pytest.raises(ValueError, match="unique"):
        IntakeTemplate(
            id="itp_y",
            version=1,
            name="t",
            forms=(FormItem(key="a", template_id="phq9"), FormItem(key="a", template_id="gad7")),
            created_at=NOW,
            created_by="u",
        )


def test_codes_and_documents_hash_to_their_context() -> None:
    assert code_hash("int_1", "123456") != code_hash("int_2", "123456")
    assert document_hash({"a": 1, "b": 2}) == document_hash({"b": 2, "a": 1})
