"""Stored shape of proxy portal access (see docs/data-model.md, Proxy access).

PATIENT#<pat>   PROXY#<usr>         the grant for one proxy account (versioned). Plain: ids,
                                    relationship, scopes, dates; `basis` sealed (AAD =
                                    practice + `proxy-grant` + grant id + field).
                                    gsi1: PROXY_OF#<usr> / <pat> (the proxy's patients)
PATIENT#<pat>   PROXY_RESTRICTION   the clinician's flag: proxies get scheduling and billing
                                    only (versioned)
"""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.proxies import ProxyGrant, ProxyRestriction
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "proxy-grant"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})
MAX_PROXIES = 20  # per patient: the list is one query


class ProxyRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self, patient_id: str, user_id: str) -> ProxyGrant | None:
        item = self.store.get(f"PATIENT#{patient_id}", f"PROXY#{user_id}")
        return None if item is None else self.from_item(item)

    def for_patient(self, patient_id: str) -> list[ProxyGrant]:
        page = self.store.query(f"PATIENT#{patient_id}", sk_prefix="PROXY#", limit=MAX_PROXIES)
        return [self.from_item(i) for i in page.items]

    def for_proxy(self, user_id: str) -> list[ProxyGrant]:
        page = self.store.query(f"PROXY_OF#{user_id}", index="gsi1", limit=100)
        return [self.from_item(i) for i in page.items]

    def put_op(self, grant: ProxyGrant, previous: ProxyGrant | None = None) -> Put:
        """A new grant (Absent), or the next version of `previous` (a re-invitation after a
        revocation, or a change)."""
        condition = Absent() if previous is None else VersionIs(previous.version)
        return Put(self.to_item(grant), condition)

    def restriction(self, patient_id: str) -> ProxyRestriction | None:
        item = self.store.get(f"PATIENT#{patient_id}", "PROXY_RESTRICTION")
        if item is None:
            return None
        return ProxyRestriction.model_validate({k: v for k, v in item.items() if k not in _LAYOUT})

    def restriction_op(
        self, restriction: ProxyRestriction, previous: ProxyRestriction | None
    ) -> Put:
        item: Item = {
            "pk": f"PATIENT#{restriction.patient_id}",
            "sk": "PROXY_RESTRICTION",
            **restriction.model_dump(mode="json"),
        }
        return Put(item, Absent() if previous is None else VersionIs(previous.version))

    # ---- shape ----------------------------------------------------------------------------

    def _sealer(self, grant_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, KIND, grant_id)

    def to_item(self, grant: ProxyGrant) -> Item:
        data: dict[str, Any] = grant.model_dump(mode="json", exclude={"basis"})
        data["basis"] = self._sealer(grant.id).seal("basis", grant.basis)
        return {
            "pk": f"PATIENT#{grant.patient_id}",
            "sk": f"PROXY#{grant.proxy_user_id}",
            "gsi1pk": f"PROXY_OF#{grant.proxy_user_id}",
            "gsi1sk": grant.patient_id,
            **data,
        }

    def from_item(self, item: Item) -> ProxyGrant:
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        fields["basis"] = self._sealer(str(item["id"])).open("basis", item.get("basis")) or ""
        return ProxyGrant.model_validate(fields)
