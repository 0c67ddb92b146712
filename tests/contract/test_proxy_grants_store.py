"""Proxy grants on every store adapter (SQLite and moto DynamoDB built from template.yaml):
a grant under the patient with its basis sealed, the proxy's patients through gsi1, a
re-invitation after a revocation replacing the grant by version, and the clinician's
restriction flag; a stale version is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tpm.adapters.keys.local import LocalMasterKey
from tpm.adapters.store.base import ConditionFailed, Store
from tpm.clock import FixedClock
from tpm.domain.proxies import ProxyGrant, ProxyRelationship, ProxyRestriction, ProxyScope
from tpm.repositories.proxies import ProxyRepository
from tpm.security.envelope import FieldCipher

PRACTICE = "prx_01bbbbbbbbbbbbbbbbbbbbbbbb"
T0 = datetime(2030, 2, 4, 15, 0, tzinfo=UTC)
BASIS = "Birth certificate seen at intake (synthetic)"


def grant(n: int, patient: str, user: str = "usr_guardian") -> ProxyGrant:
    return ProxyGrant(
        id=f"pxy_{n:026d}",
        patient_id=patient,
        proxy_user_id=user,
        relationship=ProxyRelationship.PARENT_OF_MINOR,
        basis=BASIS,
        scopes=(ProxyScope.MESSAGING, ProxyScope.APPOINTMENTS),
        ends_on=date(2031, 1, 31),
        invited_by="usr_desk",
        invited_at=T0,
    )


@pytest.mark.contract
def test_grants_round_trip_and_list_both_ways(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    practice = store.practice(PRACTICE)
    repo = ProxyRepository(practice, FieldCipher(LocalMasterKey(tmp_path / "keys"), store, clock))
    # GIVEN one guardian of two children, and another guardian of the first
    first, second = grant(1, "pat_a"), grant(2, "pat_b")
    other = grant(3, "pat_a", user="usr_other")
    practice.transact([repo.put_op(first), repo.put_op(second), repo.put_op(other)])
    # THEN each reads back whole, the basis sealed at rest
    assert repo.get("pat_a", "usr_guardian") == first
    raw = practice.get("PATIENT#pat_a", "PROXY#usr_guardian")
    assert raw is not None
    assert BASIS not in str(raw)
    assert {g.id for g in repo.for_patient("pat_a")} == {first.id, other.id}
    assert {g.patient_id for g in repo.for_proxy("usr_guardian")} == {"pat_a", "pat_b"}
    # WHEN the grant is revoked (next version) THEN a write from the stale version fails
    revoked = first.model_copy(update={"revoked_at": T0, "revoked_by": "usr_desk", "version": 2})
    practice.transact([repo.put_op(revoked, first)])
    with pytest.raises(ConditionFailed):
        practice.transact([repo.put_op(revoked.model_copy(update={"version": 3}), first)])
    assert repo.get("pat_a", "usr_guardian") == revoked
    # AND a second new grant for the same pair is refused (Absent)
    with pytest.raises(ConditionFailed):
        practice.transact([repo.put_op(grant(4, "pat_a"))])


@pytest.mark.contract
def test_the_restriction_flag(store: Store, clock: FixedClock, tmp_path: Path) -> None:
    practice = store.practice(PRACTICE)
    repo = ProxyRepository(practice, FieldCipher(LocalMasterKey(tmp_path / "keys"), store, clock))
    assert repo.restriction("pat_a") is None
    flag = ProxyRestriction(patient_id="pat_a", restricted=True, set_by="usr_cl", set_at=T0)
    practice.transact([repo.restriction_op(flag, None)])
    assert repo.restriction("pat_a") == flag
    # the flag is not a grant: the patient's proxy list stays empty
    assert repo.for_patient("pat_a") == []
    lifted = flag.model_copy(update={"restricted": False, "version": 2})
    practice.transact([repo.restriction_op(lifted, flag)])
    with pytest.raises(ConditionFailed):
        practice.transact([repo.restriction_op(flag, None)])
    assert repo.restriction("pat_a") == lifted
