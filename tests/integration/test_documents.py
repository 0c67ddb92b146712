"""Documents through the local API gateway: staff upload for a patient and share; the
patient sees and downloads only what was shared with them; bad files are refused; every
read is audited with the patient; nothing readable lands on disk."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.demo_practice import demo_practice
from support.gateway_calls import call_gateway

from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome
from tpm.security.principal import Role

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj << /Title (Treatment summary) >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TITLE = "Treatment summary for Pat"


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    data_dir: Path
    tokens: dict[Role, str]

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=self.tokens[role], body=body)

    def patient_id(self) -> str:
        me = json.loads(self.call("GET", "/v1/me", Role.PATIENT).body)
        return str(me["patient_id"])

    def upload(self, role: Role, patient_id: str, **overrides: Any) -> HttpResponse:
        body = {
            "title": TITLE,
            "filename": "summary.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(PDF).decode(),
            "shared_with_patient": False,
            **overrides,
        }
        return self.call("POST", f"/v1/patients/{patient_id}/documents", role, body)

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.body)


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Documents Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, tmp_path, demo.tokens)


def test_patient_sees_and_downloads_only_shared_documents(local: Local) -> None:
    pid = local.patient_id()
    # GIVEN the clinician files one shared and one private document for their patient
    shared = local.upload(Role.CLINICIAN, pid, shared_with_patient=True)
    private = local.upload(
        Role.CLINICIAN,
        pid,
        title="Private working note",
        filename="n.txt",
        content_type="text/plain",
        content_base64=base64.b64encode(b"private").decode(),
    )
    assert shared.status == 201, shared.body
    assert private.status == 201, private.body
    shared_doc, private_doc = body_of(shared), body_of(private)
    assert dict(shared.headers)["Location"] == f"/v1/documents/{shared_doc['id']}"
    assert shared_doc["size_bytes"] == len(PDF)
    assert shared_doc["shared_with_patient"] is True

    # WHEN the patient lists their documents THEN only the shared one is there
    mine = body_of(local.call("GET", "/v1/me/documents", Role.PATIENT))["items"]
    assert [d["id"] for d in mine] == [shared_doc["id"]]
    assert mine[0]["title"] == TITLE
    via_record = local.call("GET", f"/v1/patients/{pid}/documents", Role.PATIENT)
    assert [d["id"] for d in body_of(via_record)["items"]] == [shared_doc["id"]]
    # ... while the clinician sees both, newest first
    staff_list = body_of(local.call("GET", f"/v1/patients/{pid}/documents", Role.CLINICIAN))
    assert [d["id"] for d in staff_list["items"]] == [private_doc["id"], shared_doc["id"]]

    # AND the patient downloads the shared one, byte for byte
    content = local.call("GET", f"/v1/documents/{shared_doc['id']}/content", Role.PATIENT)
    assert content.status == 200
    payload = body_of(content)
    assert base64.b64decode(payload["content_base64"]) == PDF
    assert (payload["filename"], payload["content_type"]) == ("summary.pdf", "application/pdf")

    # BUT the private one does not exist for them (metadata or bytes), and the try is audited
    before = local.head()
    for path in (
        f"/v1/documents/{private_doc['id']}",
        f"/v1/documents/{private_doc['id']}/content",
    ):
        refused = local.call("GET", path, Role.PATIENT)
        assert refused.status == 404
        assert body_of(refused)["error"]["details"] == {}
    denied = [e for e in local.events_after(before) if e.outcome is Outcome.DENIED]
    assert [(e.action, e.reason_code, e.patient_id) for e in denied] == [
        ("document.read", "not_shared", pid),
        ("document.content.read", "not_shared", pid),
    ]


def test_share_and_unshare_follow_the_version(local: Local) -> None:
    pid = local.patient_id()
    doc = body_of(local.upload(Role.CLINICIAN, pid))
    doc_path = f"/v1/documents/{doc['id']}"
    assert local.call("GET", doc_path, Role.PATIENT).status == 404

    shared = local.call("POST", f"{doc_path}/share", Role.CLINICIAN, {"version": 1})
    assert shared.status == 200, shared.body
    assert body_of(shared)["version"] == 2
    assert body_of(shared)["shared_at"]
    assert local.call("GET", doc_path, Role.PATIENT).status == 200

    # A stale version is a conflict and changes nothing.
    stale = local.call("POST", f"{doc_path}/unshare", Role.CLINICIAN, {"version": 1})
    assert stale.status == 409
    assert body_of(stale)["error"]["details"]["current_version"] == 2
    assert local.call("GET", doc_path, Role.PATIENT).status == 200

    unshared = local.call("POST", f"{doc_path}/unshare", Role.CLINICIAN, {"version": 2})
    assert unshared.status == 200
    assert body_of(unshared)["shared_with_patient"] is False
    assert local.call("GET", doc_path, Role.PATIENT).status == 404
    assert body_of(local.call("GET", "/v1/me/documents", Role.PATIENT))["items"] == []


def test_front_desk_files_paperwork_but_does_not_open_it(local: Local) -> None:
    pid = local.patient_id()
    filed = local.upload(
        Role.FRONT_DESK,
        pid,
        content_type="image/png",
        filename="card.png",
        content_base64=base64.b64encode(PNG).decode(),
    )
    assert filed.status == 201, filed.body
    doc_id = body_of(filed)["id"]
    assert local.call("GET", f"/v1/documents/{doc_id}", Role.FRONT_DESK).status == 200
    assert local.call("GET", f"/v1/documents/{doc_id}/content", Role.FRONT_DESK).status == 403
    share = local.call("POST", f"/v1/documents/{doc_id}/share", Role.FRONT_DESK, {"version": 1})
    assert share.status == 403
    # Nor can they publish to the portal by sharing on upload.
    before = local.head()
    assert local.upload(Role.FRONT_DESK, pid, shared_with_patient=True).status == 403
    denied = [(e.action, e.outcome) for e in local.events_after(before)]
    assert denied == [("document.share", Outcome.DENIED)]
    assert body_of(local.call("GET", "/v1/me/documents", Role.PATIENT))["items"] == []


@pytest.mark.parametrize(
    ("overrides", "path", "kind"),
    [
        ({"content_type": "text/html"}, "body.content_type", "literal_error"),
        ({"content_type": "image/png"}, "body.content_base64", "content_mismatch"),
        ({"content_base64": "not base64!"}, "body.content_base64", "base64"),
        ({"filename": "../../etc/passwd"}, "body.filename", "string_pattern_mismatch"),
        ({"title": ""}, "body.title", "string_too_short"),
        ({"uploaded_by": "usr_x"}, "body.uploaded_by", "extra_forbidden"),
        (
            {
                "content_type": "text/plain",
                "content_base64": base64.b64encode(b"\xff\xfe").decode(),
            },
            "body.content_base64",
            "content_mismatch",
        ),
    ],
)
def test_bad_files_are_refused_without_echoing_them(
    local: Local, overrides: dict[str, Any], path: str, kind: str
) -> None:
    pid = local.patient_id()
    before = len(
        body_of(local.call("GET", f"/v1/patients/{pid}/documents", Role.CLINICIAN))["items"]
    )
    response = local.upload(Role.CLINICIAN, pid, **overrides)
    assert response.status == 422, response.body
    fields = body_of(response)["error"]["details"]["fields"]
    assert {"path": path, "type": kind} in [{"path": f["path"], "type": f["type"]} for f in fields]
    assert b"passwd" not in response.body
    assert TITLE.encode() not in response.body
    after = body_of(local.call("GET", f"/v1/patients/{pid}/documents", Role.CLINICIAN))["items"]
    assert len(after) == before


def test_a_file_over_the_limit_is_413(local: Local) -> None:
    pid = local.patient_id()
    big = b"%PDF-" + b"0" * (4 * 1024 * 1024)
    response = local.upload(Role.CLINICIAN, pid, content_base64=base64.b64encode(big).decode())
    assert response.status == 413
    assert body_of(response)["error"]["code"] == "payload_too_large"


def test_a_file_near_the_limit_uploads_locally_as_in_aws(local: Local) -> None:
    # The documents function's larger body limit lives in its code, so tpm dev and AWS
    # agree: 3.5 MiB (about 4.7 MB of base64 JSON) goes through; other routes keep 1 MiB.
    pid = local.patient_id()
    data = b"%PDF-" + b"1" * (3 * 1024 * 1024 + 512 * 1024)
    response = local.upload(Role.CLINICIAN, pid, content_base64=base64.b64encode(data).decode())
    assert response.status == 201, body_of(response)


def test_unknown_patient_and_document_are_404(local: Local) -> None:
    assert local.upload(Role.FRONT_DESK, "pat_01jz0000000000000000000000").status == 404
    missing = "/v1/documents/doc_01jz0000000000000000000000"
    assert local.call("GET", missing, Role.CLINICIAN).status == 404
    assert local.call("GET", "/v1/me/documents", Role.CLINICIAN).status == 404


def test_every_read_is_audited_with_the_patient(local: Local) -> None:
    pid = local.patient_id()
    doc = body_of(local.upload(Role.CLINICIAN, pid, shared_with_patient=True))
    before = local.head()
    local.call("GET", f"/v1/patients/{pid}/documents", Role.CLINICIAN)
    local.call("GET", f"/v1/documents/{doc['id']}", Role.CLINICIAN)
    local.call("GET", f"/v1/documents/{doc['id']}/content", Role.CLINICIAN)
    local.call("GET", "/v1/me/documents", Role.PATIENT)
    local.call("GET", f"/v1/documents/{doc['id']}/content", Role.PATIENT)
    events = [e for e in local.events_after(before) if e.action.startswith("document.")]
    assert [(e.action, e.patient_id, e.outcome) for e in events] == [
        ("document.list", pid, Outcome.ALLOWED),
        ("document.read", pid, Outcome.ALLOWED),
        ("document.content.read", pid, Outcome.ALLOWED),
        ("document.list", pid, Outcome.ALLOWED),
        ("document.content.read", pid, Outcome.ALLOWED),
    ]
    assert events[0].reason_code == "count_1"


def test_nothing_readable_reaches_the_disk(local: Local) -> None:
    pid = local.patient_id()
    doc = body_of(local.upload(Role.CLINICIAN, pid, filename="pat-example-summary.pdf"))
    path = local.data_dir / "files" / local.practice_id / doc["id"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    at_rest = path.read_bytes()
    assert at_rest.startswith(b"tpm1:")
    assert b"%PDF" not in at_rest
    local.runtime.store.close()  # flush the WAL into the database file
    for file in local.data_dir.glob("tpm.db*"):
        raw = file.read_bytes()
        assert TITLE.encode() not in raw
        assert b"pat-example-summary" not in raw
