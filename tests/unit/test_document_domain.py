"""Document rules: the size limit at its edge, file signatures, sharing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tpm.domain.documents import (
    MAX_DOCUMENT_BYTES,
    Document,
    DocumentRuleError,
    DocumentTooLarge,
    check_content,
    set_shared,
    visible_to_patient,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_the_size_limit_is_inclusive() -> None:
    at_limit = b"%PDF-" + b"0" * (MAX_DOCUMENT_BYTES - 5)
    check_content("application/pdf", at_limit)
    with pytest.raises(DocumentTooLarge) as refused:
        check_content("application/pdf", at_limit + b"0")
    assert refused.value.limit_bytes == MAX_DOCUMENT_BYTES


def test_the_limit_fits_lambda_payloads_once_base64_encoded() -> None:
    assert (MAX_DOCUMENT_BYTES + 2) // 3 * 4 < 6 * 1024 * 1024 - 256 * 1024


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/pdf", b"%PDF-1.7\n"),
        ("image/png", b"\x89PNG\r\n\x1a\nrest"),
        ("image/jpeg", b"\xff\xd8\xff\xe0rest"),
        ("text/plain", "Plain words, accents é".encode()),
    ],
)
def test_files_that_are_what_they_say_pass(content_type: str, data: bytes) -> None:
    check_content(content_type, data)


@pytest.mark.parametrize(
    ("content_type", "data", "problem"),
    [
        ("application/pdf", b"\x89PNG\r\n\x1a\n", ("content_base64", "content_mismatch")),
        ("image/jpeg", b"%PDF-1.7", ("content_base64", "content_mismatch")),
        ("text/plain", b"MZ\x00\x00binary", ("content_base64", "content_mismatch")),
        ("text/plain", b"\xff\xfe", ("content_base64", "content_mismatch")),
        ("text/html", b"<script>", ("content_type", "not_allowed")),
        ("application/pdf", b"", ("content_base64", "empty")),
    ],
)
def test_files_that_are_not_what_they_say_are_refused(
    content_type: str, data: bytes, problem: tuple[str, str]
) -> None:
    with pytest.raises(DocumentRuleError) as refused:
        check_content(content_type, data)
    assert refused.value.fields == [problem]


def test_sharing_is_a_new_version_and_withdrawing_clears_who_and_when() -> None:
    doc = Document(
        id="doc_" + "0" * 26,
        patient_id="pat_x",
        title="Letter",
        filename="letter.pdf",
        content_type="application/pdf",
        size_bytes=10,
        uploaded_by="usr_a",
        created_at=T0,
        updated_at=T0,
    )
    assert not visible_to_patient(doc)
    shared = set_shared(doc, True, "usr_b", T0)
    assert visible_to_patient(shared)
    assert (shared.version, shared.shared_by, shared.shared_at) == (2, "usr_b", T0)
    withdrawn = set_shared(shared, False, "usr_c", T0)
    assert (withdrawn.version, withdrawn.shared_by, withdrawn.shared_at) == (3, None, None)
    assert not visible_to_patient(withdrawn)


@pytest.mark.parametrize("name", ["../x.pdf", "a/b.pdf", "a\\b.pdf", "bad\nname.pdf", ""])
def test_file_names_cannot_carry_paths_or_control_characters(name: str) -> None:
    with pytest.raises(ValueError, match="filename"):
        Document(
            id="doc_" + "0" * 26,
            patient_id="pat_x",
            title="Letter",
            filename=name,
            content_type="application/pdf",
            size_bytes=10,
            uploaded_by="usr_a",
            created_at=T0,
            updated_at=T0,
        )
