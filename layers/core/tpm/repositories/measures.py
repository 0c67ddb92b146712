"""Stored shape of measure requests, responses and risk flags.

MEASURE_REQUEST#<id>   PROFILE  a request (ids, dates, status; nothing free-text)
                                gsi1: PATIENT_MEASURE_REQUESTS#<pid> / <id>   every request
                                gsi2: PATIENT_OPEN_MEASURES#<pid> / <id>      only while open
                                      (sparse: the portal lists what is left to answer)
MEASURE_RESPONSE#<id>  PROFILE  a completed measure; `answers` and `score` sealed
                                gsi1: PATIENT_MEASURE#<pid>#<template id> / <completed>#<id>
                                      (the series, oldest first)
MEASURE_FLAG#<id>      PROFILE  risk flags raised by one response; `flags` sealed
MEASURE_FLAG_INBOX#<uid> <flag id>  one row per clinician notified (ids only)

Ids are ULIDs, so request and flag indexes list in creation order.
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, Item, Operation, PracticeStore, Put, VersionIs
from tpm.clock import to_rfc3339
from tpm.domain.measures import MeasureFlag, MeasureRequest, MeasureResponse
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

REQUEST_KIND = "measure-request"
RESPONSE_KIND = "measure-response"
FLAG_KIND = "measure-flag"
MAX_SERIES = 1000


class MeasureRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- requests ---------------------------------------------------------------------

    def get_request(self, request_id: str) -> MeasureRequest | None:
        item = self.store.get(f"MEASURE_REQUEST#{request_id}", "PROFILE")
        return None if item is None else _request(item)

    def requests_for(
        self, patient_id: str, *, open_only: bool, limit: int, cursor: str | None
    ) -> tuple[list[MeasureRequest], str | None]:
        if open_only:
            page = self.store.query(
                f"PATIENT_OPEN_MEASURES#{patient_id}", index="gsi2", limit=limit, cursor=cursor
            )
        else:
            page = self.store.query(
                f"PATIENT_MEASURE_REQUESTS#{patient_id}",
                index="gsi1",
                limit=limit,
                cursor=cursor,
                descending=True,
            )
        return [_request(i) for i in page.items], page.next_cursor

    def create_request_op(self, request: MeasureRequest) -> Put:
        return Put(_request_item(request), Absent())

    def update_request_op(self, request: MeasureRequest) -> Put:
        """`request` carries the next version."""
        return Put(_request_item(request), VersionIs(request.version - 1))

    # ---- responses --------------------------------------------------------------------

    def create_response_op(self, response: MeasureResponse) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, RESPONSE_KIND, response.id)
        data: dict[str, Any] = response.model_dump(mode="json")
        score = {"total": data.pop("total"), "band": data.pop("band"), "flags": data.pop("flags")}
        data["answers"] = sealer.seal("answers", json.dumps(data["answers"], sort_keys=True))
        data["score"] = sealer.seal("score", json.dumps(score, sort_keys=True))
        item: Item = {
            "pk": f"MEASURE_RESPONSE#{response.id}",
            "sk": "PROFILE",
            "gsi1pk": f"PATIENT_MEASURE#{response.patient_id}#{response.template_id}",
            "gsi1sk": f"{to_rfc3339(response.completed_at)}#{response.id}",
            **data,
        }
        return Put(item, Absent())

    def series(self, patient_id: str, template_id: str) -> list[MeasureResponse]:
        """Every response of one patient to one measure, oldest first (at most MAX_SERIES:
        weekly for twenty years)."""
        found: list[MeasureResponse] = []
        cursor: str | None = None
        while len(found) < MAX_SERIES:
            page = self.store.query(
                f"PATIENT_MEASURE#{patient_id}#{template_id}",
                index="gsi1",
                limit=min(100, MAX_SERIES - len(found)),
                cursor=cursor,
            )
            found += [self._response(i) for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def _response(self, item: Item) -> MeasureResponse:
        sealer = Sealer(self.cipher, self.store.practice_id, RESPONSE_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in MeasureResponse.model_fields}
        fields["answers"] = json.loads(sealer.open("answers", item["answers"]) or "{}")
        fields |= json.loads(sealer.open("score", item["score"]) or "{}")
        return MeasureResponse.model_validate(fields)

    # ---- risk flags -------------------------------------------------------------------

    def _flag_item(self, flag: MeasureFlag) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, FLAG_KIND, flag.id)
        data: dict[str, Any] = flag.model_dump(mode="json")
        data["flags"] = sealer.seal("flags", json.dumps(data["flags"]))
        note = data.pop("acknowledgement_note")
        if note is not None:
            data["acknowledgement_note"] = sealer.seal("acknowledgement_note", note)
        return {"pk": f"MEASURE_FLAG#{flag.id}", "sk": "PROFILE", **data}

    def acknowledge_flag_op(self, flag: MeasureFlag) -> Put:
        """The acknowledged flag, written only over the version it was read at."""
        return Put(self._flag_item(flag), VersionIs(flag.version - 1))

    def create_flag_ops(self, flag: MeasureFlag) -> list[Operation]:
        ops: list[Operation] = [Put(self._flag_item(flag), Absent())]
        ops += [
            Put(
                {
                    "pk": f"MEASURE_FLAG_INBOX#{user_id}",
                    "sk": flag.id,
                    "flag_id": flag.id,
                    "patient_id": flag.patient_id,
                },
                Absent(),
            )
            for user_id in flag.notified
        ]
        return ops

    def inbox(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[str], str | None]:
        """Ids of the flags addressed to a clinician, newest first."""
        page = self.store.query(
            f"MEASURE_FLAG_INBOX#{user_id}", limit=limit, cursor=cursor, descending=True
        )
        return [str(i["flag_id"]) for i in page.items], page.next_cursor

    def get_flag(self, flag_id: str) -> MeasureFlag | None:
        item = self.store.get(f"MEASURE_FLAG#{flag_id}", "PROFILE")
        if item is None:
            return None
        sealer = Sealer(self.cipher, self.store.practice_id, FLAG_KIND, flag_id)
        fields = {k: v for k, v in item.items() if k in MeasureFlag.model_fields}
        fields["flags"] = json.loads(sealer.open("flags", item["flags"]) or "[]")
        if item.get("acknowledgement_note") is not None:
            fields["acknowledgement_note"] = sealer.open(
                "acknowledgement_note", item["acknowledgement_note"]
            )
        return MeasureFlag.model_validate(fields)


def _request_item(request: MeasureRequest) -> Item:
    item: Item = {
        "pk": f"MEASURE_REQUEST#{request.id}",
        "sk": "PROFILE",
        "gsi1pk": f"PATIENT_MEASURE_REQUESTS#{request.patient_id}",
        "gsi1sk": request.id,
        **request.model_dump(mode="json"),
    }
    if request.status == "open":
        item |= {"gsi2pk": f"PATIENT_OPEN_MEASURES#{request.patient_id}", "gsi2sk": request.id}
    return item


def _request(item: Item) -> MeasureRequest:
    return MeasureRequest.model_validate(
        {k: v for k, v in item.items() if k in MeasureRequest.model_fields}
    )
