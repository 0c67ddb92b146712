"""Code sets a claim is checked against, offline: NPI and EIN shapes, the NUCC taxonomy
codes we ship, the procedure codes a therapy practice bills (codes and our own short
labels, never AMA descriptors), CMS place-of-service codes, and ICD-10-CM billable leaf
codes (the `simple-icd-10-cm` package; the code set changes every 1 October)."""

from __future__ import annotations

import re
import warnings
from functools import cache
from importlib import resources
from typing import Any, Final

# ---- identifiers ------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_problem(npi: str) -> str | None:
    """Why `npi` is not a valid NPI, or None. Ten digits starting with 1 or 2, Luhn check
    digit over the prefix 80840 + the first nine. (The first digit does not tell a person
    from an organisation: CMS issues both types from the 1 range today.)"""
    if not re.fullmatch(r"\d{10}", npi):
        return "an NPI is ten digits"
    if npi[0] not in "12":
        return "an NPI starts with 1 or 2"
    if not luhn_ok("80840" + npi):
        return "the NPI check digit is wrong"
    return None


def ein_problem(ein: str) -> str | None:
    """An EIN is nine digits (written 12-3456789); prefixes 00, 07-09, 17-19, 28-29, 49,
    69-70, 78-79 and 89 are never issued."""
    digits = ein.replace("-", "")
    if not re.fullmatch(r"\d{9}", digits):
        return "an EIN is nine digits"
    if digits[:2] in _EIN_UNUSED_PREFIXES:
        return "that EIN prefix is never issued"
    return None


_EIN_UNUSED_PREFIXES: Final = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89"}
)


def zip9_problem(postal_code: str) -> str | None:
    digits = postal_code.replace("-", "")
    if not re.fullmatch(r"\d{9}", digits):
        return "the service address needs a ZIP+4 (nine digits)"
    return None


# ---- taxonomy -----------------------------------------------------------------------------


@cache
def taxonomy_codes() -> dict[str, str]:
    text = resources.files("tpm.domain.billing").joinpath("data/taxonomy.txt").read_text("utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            code, _, label = line.partition(" ")
            out[code] = label.strip()
    return out


def taxonomy_problem(code: str) -> str | None:
    if not re.fullmatch(r"[0-9]{3}[0-9A-Z]{6}X", code):
        return "a taxonomy code is ten characters ending in X"
    if code not in taxonomy_codes():
        return "not a taxonomy code on the shipped NUCC list"
    return None


PRESCRIBER_TAXONOMY_PREFIXES: Final = ("2084", "207", "208", "363L", "364S", "103TP0016X")


def is_prescriber(taxonomy: str) -> bool:
    return taxonomy.startswith(PRESCRIBER_TAXONOMY_PREFIXES)


# ---- procedures ---------------------------------------------------------------------------

# code -> our own short label. Behavioural-health CPT codes plus the E/M codes a
# prescriber adds psychotherapy to. A code outside this list is refused on a claim.
PROCEDURES: Final[dict[str, str]] = {
    "90785": "Interactive complexity (add-on)",
    "90791": "Diagnostic evaluation",
    "90792": "Diagnostic evaluation with medical services",
    "90832": "Psychotherapy 16-37 min",
    "90833": "Psychotherapy 16-37 min with E/M (add-on)",
    "90834": "Psychotherapy 38-52 min",
    "90836": "Psychotherapy 38-52 min with E/M (add-on)",
    "90837": "Psychotherapy 53+ min",
    "90838": "Psychotherapy 53+ min with E/M (add-on)",
    "90839": "Crisis psychotherapy, first 30-74 min",
    "90840": "Crisis psychotherapy, each further 30 min (add-on)",
    "90845": "Psychoanalysis",
    "90846": "Family psychotherapy without the patient",
    "90847": "Family psychotherapy with the patient",
    "90849": "Multiple-family group psychotherapy",
    "90853": "Group psychotherapy",
    "90863": "Pharmacologic management (add-on)",
    "90887": "Interpretation of results to family",
    "96127": "Brief behavioural assessment",
    "96130": "Psychological evaluation, first hour",
    "96131": "Psychological evaluation, each further hour (add-on)",
    "96136": "Test administration by professional, first 30 min",
    "96137": "Test administration by professional, each further 30 min (add-on)",
    "96156": "Health behaviour assessment",
    "96158": "Health behaviour intervention, first 30 min",
    "96159": "Health behaviour intervention, each further 15 min (add-on)",
    "99202": "New patient visit, level 2",
    "99203": "New patient visit, level 3",
    "99204": "New patient visit, level 4",
    "99205": "New patient visit, level 5",
    "99211": "Established patient visit, level 1",
    "99212": "Established patient visit, level 2",
    "99213": "Established patient visit, level 3",
    "99214": "Established patient visit, level 4",
    "99215": "Established patient visit, level 5",
    "99484": "Behavioural health integration care management",
    "99492": "Collaborative care, first month",
    "99493": "Collaborative care, later month",
    "99494": "Collaborative care, each further 30 min (add-on)",
}

PSYCHOTHERAPY_BASE: Final = frozenset({"90832", "90834", "90837"})
PSYCHOTHERAPY_WITH_EM: Final = frozenset({"90833", "90836", "90838"})
EVALUATION_AND_MANAGEMENT: Final = frozenset(
    {"99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215"}
)
# add-on -> the primary codes it may accompany
ADD_ONS: Final[dict[str, frozenset[str]]] = {
    "90785": frozenset(
        {"90791", "90792", "90832", "90833", "90834", "90836", "90837", "90838", "90853"}
    ),
    "90833": EVALUATION_AND_MANAGEMENT,
    "90836": EVALUATION_AND_MANAGEMENT,
    "90838": EVALUATION_AND_MANAGEMENT,
    "90840": frozenset({"90839"}),
    "90863": PSYCHOTHERAPY_BASE | frozenset({"90845", "90846", "90847", "90853"}),
    "96131": frozenset({"96130"}),
    "96137": frozenset({"96136"}),
    "96159": frozenset({"96158"}),
    "99494": frozenset({"99492", "99493"}),
}
REPEATABLE: Final = frozenset({"90840", "96131", "96137", "96159", "99494", "96127"})
PRESCRIBERS_ONLY: Final = frozenset({"90792"}) | PSYCHOTHERAPY_WITH_EM | EVALUATION_AND_MANAGEMENT

MODIFIERS: Final[dict[str, str]] = {
    "95": "Synchronous telehealth (audio and video)",
    "93": "Synchronous telehealth (audio only)",
    "GT": "Interactive telecommunications (legacy)",
    "FQ": "Audio-only service (FQHC/RHC)",
    "HO": "Master's level",
    "HN": "Bachelor's level",
    "AH": "Clinical psychologist",
    "AJ": "Clinical social worker",
    "HE": "Mental health program",
    "59": "Distinct procedural service",
    "XE": "Separate encounter",
    "XP": "Separate practitioner",
    "25": "Significant, separately identifiable E/M",
    "GC": "Resident under a teaching physician",
}


def procedure_problem(code: str) -> str | None:
    if not re.fullmatch(r"[0-9A-Z]{5}", code):
        return "a procedure code is five characters"
    if code not in PROCEDURES:
        return "not a procedure code on the practice's allow-list"
    return None


def modifier_problem(modifier: str) -> str | None:
    if not re.fullmatch(r"[0-9A-Z]{2}", modifier):
        return "a modifier is two characters"
    if modifier not in MODIFIERS:
        return "not a modifier on the allow-list"
    return None


# ---- place of service ---------------------------------------------------------------------

PLACES_OF_SERVICE: Final[dict[str, str]] = {
    "02": "Telehealth, patient not at home",
    "03": "School",
    "04": "Homeless shelter",
    "05": "Indian Health Service free-standing facility",
    "06": "Indian Health Service provider-based facility",
    "07": "Tribal 638 free-standing facility",
    "08": "Tribal 638 provider-based facility",
    "09": "Prison/correctional facility",
    "10": "Telehealth, patient at home",
    "11": "Office",
    "12": "Home",
    "13": "Assisted living facility",
    "14": "Group home",
    "15": "Mobile unit",
    "16": "Temporary lodging",
    "17": "Walk-in retail health clinic",
    "18": "Place of employment",
    "19": "Off-campus outpatient hospital",
    "20": "Urgent care facility",
    "21": "Inpatient hospital",
    "22": "On-campus outpatient hospital",
    "23": "Emergency room",
    "24": "Ambulatory surgical center",
    "25": "Birthing center",
    "26": "Military treatment facility",
    "27": "Outreach site/street",
    "31": "Skilled nursing facility",
    "32": "Nursing facility",
    "33": "Custodial care facility",
    "34": "Hospice",
    "41": "Ambulance, land",
    "42": "Ambulance, air or water",
    "49": "Independent clinic",
    "50": "Federally qualified health center",
    "51": "Inpatient psychiatric facility",
    "52": "Psychiatric facility, partial hospitalisation",
    "53": "Community mental health center",
    "54": "Intermediate care facility",
    "55": "Residential substance abuse treatment facility",
    "56": "Psychiatric residential treatment center",
    "57": "Non-residential substance abuse treatment facility",
    "58": "Non-residential opioid treatment facility",
    "60": "Mass immunisation center",
    "61": "Comprehensive inpatient rehabilitation facility",
    "62": "Comprehensive outpatient rehabilitation facility",
    "65": "End-stage renal disease treatment facility",
    "71": "Public health clinic",
    "72": "Rural health clinic",
    "81": "Independent laboratory",
    "99": "Other place of service",
}


def pos_problem(code: str) -> str | None:
    if code not in PLACES_OF_SERVICE:
        return "not a CMS place-of-service code"
    return None


# ---- diagnoses ----------------------------------------------------------------------------


def icd10_dotted(code: str) -> str:
    """F331 -> F33.1 (claims carry codes without the dot)."""
    code = code.replace(".", "").upper()
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def icd10_undotted(code: str) -> str:
    return code.replace(".", "").upper()


@cache
def _icd10() -> Any:
    """The ICD-10-CM tables (about 2 s to load): on first use only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm

        cm.is_valid_item("F43.10")  # the package loads its data lazily inside the warning
    return cm


def icd10_problem(code: str) -> str | None:
    """None when `code` (with or without the dot) is a billable ICD-10-CM leaf code."""
    cm = _icd10()
    if not re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?", code.upper()):
        return "not an ICD-10-CM code"
    dotted = icd10_dotted(code)
    if not cm.is_valid_item(dotted):
        return "not an ICD-10-CM code"
    if not cm.is_leaf(dotted):
        return "a category header, not a billable code: use a more specific code"
    return None
