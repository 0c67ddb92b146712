"""The demo practice's people: one synthetic user per role, and a synthetic patient.

Everything here is invented and printed on purpose so a newcomer can sign in at once.
Staff who must use MFA (owner, admin, supervisor, biller, compliance) are asked to enrol
on first sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tpm.adapters.store.base import Operation, Put
from tpm.domain.patients import Patient
from tpm.domain.users import User, UserStatus
from tpm.domain.vendors import Agreement, AgreementStatus, Vendor, VendorRole
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.users import UserRepository
from tpm.repositories.vendors import VendorRepository
from tpm.runtime import Runtime
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.practices import get_practice

EMAIL_DOMAIN = "example.test"  # RFC 2606: reserved, never delivers anywhere


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    password: str
    display_name: str
    credentials: str = ""


DEMO_ACCOUNTS = (
    DemoAccount(
        Role.OWNER,
        f"olivia.owner@{EMAIL_DOMAIN}",
        "plum-kettle-harbor-41",
        "Olivia Owner (synthetic)",
    ),
    DemoAccount(
        Role.ADMIN, f"adam.admin@{EMAIL_DOMAIN}", "cedar-violin-meadow-27", "Adam Admin (synthetic)"
    ),
    DemoAccount(
        Role.CLINICIAN,
        f"casey.clinician@{EMAIL_DOMAIN}",
        "amber-falcon-river-63",
        "Casey Clinician (synthetic)",
        "LCSW",
    ),
    DemoAccount(
        Role.SUPERVISOR,
        f"sam.supervisor@{EMAIL_DOMAIN}",
        "granite-tulip-comet-58",
        "Sam Supervisor (synthetic)",
        "LPC-S",
    ),
    DemoAccount(
        Role.BILLER,
        f"billie.biller@{EMAIL_DOMAIN}",
        "walnut-signal-orbit-35",
        "Billie Biller (synthetic)",
    ),
    DemoAccount(
        Role.FRONT_DESK,
        f"frankie.frontdesk@{EMAIL_DOMAIN}",
        "saffron-lagoon-piano-19",
        "Frankie Front-Desk (synthetic)",
    ),
    DemoAccount(
        Role.COMPLIANCE,
        f"cory.compliance@{EMAIL_DOMAIN}",
        "juniper-beacon-atlas-72",
        "Cory Compliance (synthetic)",
    ),
)
DEMO_PATIENT = DemoAccount(
    Role.PATIENT,
    f"pat.example@{EMAIL_DOMAIN}",
    "velvet-orchid-summit-86",
    "Pat Example (synthetic)",
)


def seed_demo_people(
    runtime: Runtime, practice_id: str, *, register: bool = False
) -> dict[Role, str]:
    """Create the demo accounts and patient, in one audited transaction; with `register`,
    the demo business associate register too (`tpm dev`'s outbox asks it). Returns the
    user id of each role's account."""
    store = runtime.store.practice(practice_id)
    users = UserRepository(store, runtime.cipher)
    now = runtime.clock.now()
    ops: list[Operation] = []
    ids: dict[Role, str] = {}
    for account in (*DEMO_ACCOUNTS, DEMO_PATIENT):
        user_id = new_id("usr")
        ids[account.role] = user_id
        patient_id = None
        if account.role is Role.PATIENT:
            patient_id = new_id("pat")
            patient = Patient(
                id=patient_id,
                legal_first_name="Pat",
                legal_last_name="Example",
                preferred_name="Pat",
                pronouns="they/them",
                date_of_birth=date(1990, 1, 1),
                email=account.email,
                phone="+15555550100",  # 555-01xx: reserved for fiction
                created_at=now,
                created_by=ids[Role.FRONT_DESK],
            )
            ops += PatientRepository(store, runtime.cipher).create_ops(patient)
            ops.append(StoreRelationships.add_member_op(patient_id, ids[Role.CLINICIAN], now))
            # The record's portal account, as an accepted invitation leaves it (no live
            # invitation: the hash names none).
            ops.append(PatientRepository.portal_link_op(patient_id, user_id, "accepted", 1))
        user = User(
            id=user_id,
            email=account.email,
            display_name=account.display_name,
            roles=frozenset({account.role}),
            status=UserStatus.ACTIVE,
            credentials=account.credentials,
            patient_id=patient_id,
            password_hash=passwords.hash_password(account.password),
            created_at=now,
            invited_by="bootstrap",
            approved_by="bootstrap",
        )
        ops += users.create_ops(user)
        ops.append(users.role_change_op(user_id, now, "bootstrap", [], [account.role.value]))
    ops.append(users.supervision_op(ids[Role.CLINICIAN], ids[Role.SUPERVISOR]))
    seeded: list[Put] = [op for op in ops if isinstance(op, Put)]
    if register:
        zone = get_practice(runtime.store, practice_id).zone
        today = runtime.clock.now().astimezone(zone).date()
        vendors = demo_vendors(today, "bootstrap", now)
        seeded += [op for v in vendors for op in VendorRepository.create_ops(v)]
    runtime.audit.write_with_audit(
        store,
        lambda: list(seeded),
        AuditEvent.for_system(
            SystemActor("bootstrap", practice_id),
            action="practice.seed",
            resource_kind="practice",
            resource_id=practice_id,
            reason_code="demo_people",
        ),
    )
    return ids


def credentials_table() -> str:
    rows = [
        f"    {a.role.value:<11} {a.email:<36} {a.password}" for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)
    ]
    from tpm.local.demo_practice import SUPERVISEE_EMAIL, SUPERVISEE_PASSWORD

    rows.append(f"    {'clinician':<11} {SUPERVISEE_EMAIL:<36} {SUPERVISEE_PASSWORD}  (supervisee)")
    from tpm.local.demo_proxies import GUARDIAN_EMAIL, GUARDIAN_PASSWORD

    rows.append(
        f"    {'proxy':<11} {GUARDIAN_EMAIL:<36} {GUARDIAN_PASSWORD}  (parent of Sky, a minor)"
    )
    return "\n".join(["    role        email                                password", *rows])


def demo_vendors(today: date, by: str, at: datetime) -> list[Vendor]:
    """The demo practice's business associate register: AWS (hosting, e-mail and SMS;
    agreement executed, renewing in 45 days so the expiry warning shows) and a card
    processor that receives no PHI. Everything here is invented."""
    aws = Vendor(
        id=new_id("vnd"),
        key="aws",
        name="Amazon Web Services (synthetic demo entry)",
        role=VendorRole.HOSTING,
        receives_phi=True,
        services=("dynamodb", "kms", "s3", "ses", "sns", "lambda", "cloudtrail"),
        contact="AWS Artifact, account agreements",
        agreement=Agreement(
            status=AgreementStatus.EXECUTED,
            executed_on=today - timedelta(days=320),
            expires_on=today + timedelta(days=45),
            breach_notice_days=30,
            permitted_uses="Hosting, storage, processing and transmission of the practice's"
            " records through HIPAA-eligible services only.",
            subcontractor_terms="Subcontractors bound by the same restrictions.",
            return_destruction_terms="Customer deletes its data; AWS destroys media per"
            " its data-destruction process.",
        ),
        created_at=at,
        updated_at=at,
        updated_by=by,
    )
    card = Vendor(
        id=new_id("vnd"),
        key="card-processor",
        name="Example Card Processor (synthetic)",
        role=VendorRole.CARD_PROCESSOR,
        receives_phi=False,
        notes="Receives card data and amounts only; no service or diagnosis details.",
        created_at=at,
        updated_at=at,
        updated_by=by,
    )
    clearinghouse = Vendor(
        id=new_id("vnd"),
        key="clearinghouse",
        name="Synthetic Clearinghouse (demo entry)",
        role=VendorRole.CLEARINGHOUSE,
        receives_phi=True,
        notes="Receives 837P claims and 270 inquiries; returns 999, 277CA, 271 and 835 files.",
        agreement=Agreement(
            status=AgreementStatus.EXECUTED,
            executed_on=today - timedelta(days=200),
            breach_notice_days=30,
            permitted_uses="Claims, eligibility and remittance transactions for the practice.",
        ),
        created_at=at,
        updated_at=at,
        updated_by=by,
    )
    return [aws, card, clearinghouse]
