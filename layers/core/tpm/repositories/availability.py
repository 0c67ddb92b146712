"""Stored shape of clinician availability and the practice's scheduling rules (no PHI).

CLINICIAN#<uid>  AVAILABILITY   weekly rules + exceptions, in the clinician's zone
SCHEDULING       RULES          self-booking rules, cancellation window, holidays
Both are one versioned document each: read in one get, replaced with VersionIs.
"""

from __future__ import annotations

from tpm.adapters.store.base import Absent, PracticeStore, Put, VersionIs
from tpm.domain.availability import Availability
from tpm.domain.scheduling import SchedulingRules

_RULES = ("SCHEDULING", "RULES")


class AvailabilityRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def availability(self, clinician_id: str) -> Availability:
        """The stored availability, or an empty one (version 0) if none was saved."""
        item = self.store.get(f"CLINICIAN#{clinician_id}", "AVAILABILITY")
        if item is None:
            return Availability(clinician_id=clinician_id)
        fields = {k: v for k, v in item.items() if k in Availability.model_fields}
        return Availability.model_validate(fields)

    def availability_op(self, availability: Availability) -> Put:
        item = {
            "pk": f"CLINICIAN#{availability.clinician_id}",
            "sk": "AVAILABILITY",
            **availability.model_dump(mode="json"),
        }
        return Put(item, _condition(availability.version))

    def rules(self) -> SchedulingRules:
        item = self.store.get(*_RULES)
        if item is None:
            return SchedulingRules()
        fields = {k: v for k, v in item.items() if k in SchedulingRules.model_fields}
        return SchedulingRules.model_validate(fields)

    def rules_op(self, rules: SchedulingRules) -> Put:
        item = {"pk": _RULES[0], "sk": _RULES[1], **rules.model_dump(mode="json")}
        return Put(item, _condition(rules.version))


def _condition(version: int) -> Absent | VersionIs:
    # Version 0 is "never saved"; the first save writes version 1 and must create the row.
    return Absent() if version == 1 else VersionIs(version - 1)
