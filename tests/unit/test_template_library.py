"""The clinical template library: every template loads, its realistic example validates, a
malformed variant is rejected with field-level errors; instruments score at their band
boundaries and raise risk flags; practice templates are checked before they are saved."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tpm.domain import templates_doc
from tpm.domain.templates import (
    Category,
    FieldError,
    Template,
    TemplateLibrary,
    builtin_library,
    builtin_templates_dir,
    check_template_definition,
    clone,
    missing_at_signing,
    new_version,
    parse_template,
    score,
    validate_content,
)
from tpm.errors import NotFound, ValidationFailed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tests" / "fixtures" / "template_examples"
LIBRARY = builtin_library()
IDS = LIBRARY.ids()
MEASURES = [t.id for t in LIBRARY.measures()]
PHI_MARKER = "Jane Q. Sentinel 555-0199"


def example(template_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{template_id}.json").read_text("utf-8"))
    return data


def wrong_type(value: object) -> object:
    """A value of a different JSON type than `value`."""
    return 12345 if isinstance(value, str | bool | dict | list) else "not-a-number"


def paths(errors: list[FieldError]) -> set[str]:
    return {e.path for e in errors}


# --- the library as a whole ----------------------------------------------------------


def test_library_has_at_least_forty_unique_templates() -> None:
    assert len(IDS) >= 40
    assert len(IDS) == len(set(IDS)) == len(LIBRARY)


def test_every_category_is_represented_and_every_template_is_described() -> None:
    for category in Category:
        assert LIBRARY.by_category(category), f"no {category.value} template"
    for template in LIBRARY:
        assert template.title.strip()
        assert template.description.strip()
        assert template.layout


def test_the_required_services_have_templates() -> None:
    for code in ("90791", "90832", "90834", "90837", "90846", "90847", "90853", "90839", "90785"):
        assert LIBRARY.for_cpt(code), code
    assert {
        "progress_note_soap",
        "progress_note_dap",
        "progress_note_birp",
        "progress_note_girp",
        "progress_note_pie",
        "treatment_plan",
        "treatment_plan_review",
        "mental_status_exam",
        "safety_plan",
        "release_of_information_authorization",
        "discharge_summary",
        "telehealth_consent",
        "financial_policy_acknowledgement",
    } <= set(IDS)


def test_every_template_has_exactly_one_example_and_no_stray_examples() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.json")} == set(IDS)


def test_schemas_templates_is_the_packaged_copy(project_root: Path) -> None:
    # One copy of each file: schemas/templates links to the package data.
    link = project_root / "schemas" / "templates"
    assert link.is_symlink()
    assert link.resolve() == (project_root / "layers/core/tpm/templates").resolve()
    assert Path(str(builtin_templates_dir())).resolve() == link.resolve()


# --- per template: a realistic example validates, a malformed one does not ------------


@pytest.mark.parametrize("template_id", IDS)
def test_realistic_example_validates_and_is_complete_for_signing(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    content = example(template_id)
    assert validate_content(template, content) == []
    assert missing_at_signing(template, content) == []


@pytest.mark.parametrize("template_id", IDS)
def test_dropping_a_required_field_is_a_field_error(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    for name in template.content_schema["required"]:
        content = example(template_id)
        del content[name]
        errors = validate_content(template, content)
        assert FieldError(path=f"/{name}", type="required") in errors
        # A draft may lack it; signing may not.
        assert validate_content(template, content, partial=True) == []


@pytest.mark.parametrize("template_id", IDS)
def test_a_wrong_type_is_rejected_at_its_path_without_echoing_the_value(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    for name, value in example(template_id).items():
        content = example(template_id)
        content[name] = wrong_type(value)
        errors = validate_content(template, content)
        assert f"/{name}" in paths(errors), name
        assert all(e.type for e in errors)


@pytest.mark.parametrize("template_id", IDS)
def test_unknown_fields_are_rejected(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    content = example(template_id) | {"shoe_size": 42}
    assert FieldError(path="/shoe_size", type="unknown_field") in validate_content(
        template, content
    )


def test_nested_errors_point_at_the_exact_field() -> None:
    template = LIBRARY.latest("treatment_plan")
    content = example("treatment_plan")
    goal = content["problems"][0]["goals"][0]
    goal["target_date"] = "2025-02-30"
    del goal["objectives"][1]["target_date"]
    assert validate_content(template, content) == [
        FieldError(path="/problems/0/goals/0/objectives/1/target_date", type="required"),
        FieldError(path="/problems/0/goals/0/target_date", type="format"),
    ]


def test_errors_never_contain_submitted_values() -> None:
    template = LIBRARY.latest("progress_note_soap")
    content = example("progress_note_soap")
    content["session"]["date"] = PHI_MARKER
    content["risk"]["risk_level"] = PHI_MARKER
    content["interventions"] = [PHI_MARKER]
    content[PHI_MARKER[:4].lower()] = PHI_MARKER
    errors = validate_content(template, content)
    assert len(errors) == 4
    assert PHI_MARKER not in json.dumps([e.model_dump() for e in errors])


def test_date_time_and_email_formats_are_enforced() -> None:
    crisis = LIBRARY.latest("crisis_contact_note")
    content = example("crisis_contact_note")
    for bad in ("2025-03-12 21:40", "2025-03-12T21:40:00", "yesterday"):
        content["contact_at"] = bad
        assert FieldError(path="/contact_at", type="format") in validate_content(crisis, content)
    consent = LIBRARY.latest("electronic_communication_consent")
    content = example("electronic_communication_consent") | {
        "preferred_email": "jordan.example.com"
    }
    assert FieldError(path="/preferred_email", type="format") in validate_content(consent, content)


def test_acknowledgements_only_count_when_ticked() -> None:
    template = LIBRARY.latest("release_of_information_authorization")
    content = example("release_of_information_authorization")
    content["statements"]["redisclosure"] = False
    assert validate_content(template, content) == [
        FieldError(path="/statements/redisclosure", type="const")
    ]


def test_roi_requires_the_hipaa_core_elements() -> None:
    template = LIBRARY.latest("release_of_information_authorization")
    required = set(template.content_schema["required"])
    # 164.508(c)(1)(i)-(vi) and the (c)(2) statements
    assert {
        "information",
        "disclosing_party",
        "recipient",
        "purposes",
        "expiration",
        "statements",
        "signature",
    } <= required
    content = example("release_of_information_authorization") | {"expiration": {}}
    assert FieldError(path="/expiration", type="minProperties") in validate_content(
        template, content
    )


# --- signing -------------------------------------------------------------------------


def test_missing_at_signing_names_blank_and_absent_fields_concretely() -> None:
    template = LIBRARY.latest("treatment_plan")
    content = example("treatment_plan")
    content["problems"].append(copy.deepcopy(content["problems"][0]))
    content["problems"][1]["goals"][0]["target_date"] = "  "
    content["problems"][0]["goals"][0]["objectives"] = []
    del content["review_date"]
    assert missing_at_signing(template, content) == [
        # in the template's required_at_signing order
        "/review_date",
        "/problems/1/goals/0/target_date",
        "/problems/0/goals/0/objectives",
    ]


def test_missing_at_signing_reports_an_absent_array_not_its_wildcard() -> None:
    template = LIBRARY.latest("progress_note_girp")
    content = example("progress_note_girp")
    del content["goals_addressed"]
    del content["session"]
    missing = missing_at_signing(template, content)
    assert "/goals_addressed" in missing
    assert "/session/date" in missing
    assert not any("*" in m for m in missing)


def test_false_is_an_answer_but_null_is_not() -> None:
    template = LIBRARY.latest("treatment_plan")
    content = example("treatment_plan") | {"client_agrees": False}
    assert missing_at_signing(template, content) == []
    content["client_agrees"] = None
    assert missing_at_signing(template, content) == ["/client_agrees"]


# --- instruments ----------------------------------------------------------------------


@pytest.mark.parametrize("template_id", MEASURES)
def test_every_instrument_states_source_and_licence(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    assert template.category is Category.MEASURE
    assert len(template.source or "") > 20
    assert len(template.licence or "") > 20
    assert (template.licence_url or "").startswith("https://")
    assert template.item_text_included is not None


@pytest.mark.parametrize("template_id", MEASURES)
def test_every_band_boundary_scores_into_its_band(template_id: str) -> None:
    template = LIBRARY.latest(template_id)
    scoring = template.scoring
    assert scoring is not None
    for band in scoring.bands:
        for total in (band.min, band.max):
            answers = answers_totalling(template, total)
            result = score(template, answers)
            assert (result.total, result.band) == (total, band.label)


def answers_totalling(template: Template, total: int) -> dict[str, int]:
    scoring = template.scoring
    assert scoring is not None
    remaining = total - scoring.min_total
    answers = {}
    # Fill from the last item so flag items (PHQ-9 item 9) stay low where possible.
    for item in reversed(scoring.items):
        extra = min(remaining, scoring.item_max - scoring.item_min)
        answers[item] = scoring.item_min + extra
        remaining -= extra
    assert remaining == 0
    return answers


@pytest.mark.parametrize(
    ("template_id", "expected"),
    [
        (
            "phq9",
            [
                (0, "minimal"),
                (4, "minimal"),
                (5, "mild"),
                (9, "mild"),
                (10, "moderate"),
                (14, "moderate"),
                (15, "moderately severe"),
                (19, "moderately severe"),
                (20, "severe"),
                (27, "severe"),
            ],
        ),
        (
            "gad7",
            [
                (4, "minimal"),
                (5, "mild"),
                (9, "mild"),
                (10, "moderate"),
                (14, "moderate"),
                (15, "severe"),
                (21, "severe"),
            ],
        ),
        ("phq2", [(2, "negative screen"), (3, "positive screen")]),
        ("gad2", [(2, "negative screen"), (3, "positive screen")]),
        (
            "pcl5",
            [
                (30, "below provisional cut-off"),
                (31, "provisional cut-off range (31-33)"),
                (33, "provisional cut-off range (31-33)"),
                (34, "above provisional cut-off"),
                (80, "above provisional cut-off"),
            ],
        ),
        (
            "audit_c",
            [
                (2, "negative screen"),
                (3, "positive screen for women (3 or more); negative for men"),
                (4, "positive screen (men 4 or more, women 3 or more)"),
                (12, "positive screen (men 4 or more, women 3 or more)"),
            ],
        ),
    ],
)
def test_published_cut_offs(template_id: str, expected: list[tuple[int, str]]) -> None:
    template = LIBRARY.latest(template_id)
    for total, label in expected:
        assert score(template, answers_totalling(template, total)).band == label, total


def test_phq9_item_9_above_zero_flags_suicide_risk_at_any_total() -> None:
    phq9 = LIBRARY.latest("phq9")
    quiet = {f"item_{n}": 0 for n in range(1, 10)}
    assert score(phq9, quiet).flags == ()
    result = score(phq9, quiet | {"item_9": 1})
    assert (result.total, result.band, result.flags) == (1, "minimal", ("suicide_risk",))
    high_but_safe = {f"item_{n}": 3 for n in range(1, 9)} | {"item_9": 0}
    assert score(phq9, high_but_safe).flags == ()


def test_epds_self_harm_item_flags_suicide_risk() -> None:
    epds = LIBRARY.latest("epds")
    answers = {f"item_{n}": 0 for n in range(1, 11)}
    assert score(epds, answers).flags == ()
    assert score(epds, answers | {"item_10": 2}).flags == ("suicide_risk",)


def test_k10_starts_at_ten_and_who5_lower_is_worse() -> None:
    k10 = LIBRARY.latest("k10")
    assert score(k10, {f"item_{n}": 1 for n in range(1, 11)}).total == 10
    who5 = LIBRARY.latest("who5")
    assert score(who5, {f"item_{n}": 1 for n in range(1, 6)}).band.startswith("likely depression")


def test_scoring_names_missing_and_out_of_range_items_without_values() -> None:
    phq9 = LIBRARY.latest("phq9")
    answers: dict[str, object] = {f"item_{n}": 1 for n in range(1, 9)}
    answers["item_3"] = 7
    answers["item_4"] = "3"
    answers["item_5"] = True
    with pytest.raises(ValidationFailed) as caught:
        score(phq9, answers)
    assert caught.value.details["errors"] == [
        {"path": "/answers/item_3", "type": "out_of_range"},
        {"path": "/answers/item_4", "type": "type"},
        {"path": "/answers/item_5", "type": "type"},
        {"path": "/answers/item_9", "type": "required"},
    ]


def test_scoring_a_template_without_a_scoring_rule_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        score(LIBRARY.latest("progress_note_soap"), {})


def test_reverse_scored_items_are_inverted() -> None:
    raw = LIBRARY.latest("gad2").definition()
    raw["scoring"]["reverse_items"] = ["item_2"]
    template = parse_template(raw)
    assert score(template, {"item_1": 0, "item_2": 0}).total == 3
    assert score(template, {"item_1": 3, "item_2": 3}).total == 3


def test_instruments_whose_wording_may_not_be_reproduced_carry_labels_only() -> None:
    epds = LIBRARY.latest("epds")
    assert epds.item_text_included is False
    titles = [
        s["title"] for s in epds.content_schema["properties"]["answers"]["properties"].values()
    ]
    assert all(t.startswith("Item ") for t in titles)
    assert "Royal College of Psychiatrists" in (epds.licence or "")
    assert not {"c_ssrs", "cssrs", "dast10", "dast_10", "core10"} & set(IDS)


# --- lookups -----------------------------------------------------------------------


def test_lookups_by_id_version_category_and_cpt() -> None:
    soap = LIBRARY.get("progress_note_soap", 1)
    assert LIBRARY.latest("progress_note_soap") is soap
    assert LIBRARY.versions("progress_note_soap") == [1]
    assert soap in LIBRARY.for_cpt("90834")
    assert soap in LIBRARY.by_category("progress_note")
    assert all(t.scoring is not None for t in LIBRARY.by_category(Category.MEASURE))
    with pytest.raises(NotFound):
        LIBRARY.get("progress_note_soap", 99)
    with pytest.raises(NotFound):
        LIBRARY.latest("no_such_template")


def test_a_new_version_leaves_the_old_one_intact() -> None:
    # GIVEN a library holding version 1 and a revised version 2
    v1 = LIBRARY.latest("progress_note_dap")
    v2 = new_version(v1, {"title": "Progress note (DAP, revised)"})
    library = TemplateLibrary([v1, v2])
    # THEN both resolve, latest is 2, and version 1 is unchanged
    assert library.versions("progress_note_dap") == [1, 2]
    assert library.latest("progress_note_dap").title == "Progress note (DAP, revised)"
    assert library.get("progress_note_dap", 1).title == "Progress note (DAP)"
    with pytest.raises(ValueError, match="duplicated"):
        TemplateLibrary([v1, v1])


def test_loading_a_directory_checks_paths_and_content(tmp_path: Path) -> None:
    # GIVEN a directory with one good template
    good = LIBRARY.latest("gad2").definition()
    (tmp_path / "gad2").mkdir()
    (tmp_path / "gad2" / "1.json").write_text(json.dumps(good), "utf-8")
    assert TemplateLibrary.from_directory(tmp_path).ids() == ["gad2"]
    # WHEN the file name disagrees with the version inside THEN loading fails
    (tmp_path / "gad2" / "1.json").rename(tmp_path / "gad2" / "2.json")
    with pytest.raises(ValueError, match=r"gad2/2\.json"):
        TemplateLibrary.from_directory(tmp_path)
    # WHEN the content is invalid THEN loading fails naming the file and the field
    (tmp_path / "gad2" / "2.json").write_text(json.dumps(good | {"version": 2, "layout": []}))
    with pytest.raises(ValueError, match="/layout"):
        TemplateLibrary.from_directory(tmp_path)


# --- practice templates -------------------------------------------------------------


def test_every_library_definition_passes_the_practice_checks() -> None:
    for template in LIBRARY:
        assert check_template_definition(template.definition()) == [], template.id


def test_a_practice_clone_keeps_its_origin_and_validates_changes() -> None:
    soap = LIBRARY.latest("progress_note_soap")
    schema = copy.deepcopy(soap.content_schema)
    schema["properties"]["supervisor_comment"] = {"type": "string", "maxLength": 500}
    layout = [
        *soap.definition()["layout"],
        {"section": "Supervision", "fields": ["/supervisor_comment"]},
    ]
    mine = clone(
        soap,
        "soap_with_supervision",
        {"schema": schema, "layout": layout, "title": "SOAP (supervised)"},
    )
    assert (mine.id, mine.version, mine.derived_from) == ("soap_with_supervision", 1, soap.ref)
    content = example("progress_note_soap") | {"supervisor_comment": "Reviewed."}
    assert validate_content(mine, content) == []
    assert soap.content_schema["properties"].get("supervisor_comment") is None


def test_a_clone_whose_layout_misses_a_new_field_is_refused() -> None:
    soap = LIBRARY.latest("progress_note_soap")
    schema = copy.deepcopy(soap.content_schema)
    schema["properties"]["extra"] = {"type": "string"}
    with pytest.raises(ValidationFailed) as caught:
        clone(soap, "soap_extra", {"schema": schema})
    assert caught.value.details["errors"] == [
        {"path": "/schema/properties/extra", "type": "not_in_layout"}
    ]


def test_instrument_items_and_scoring_cannot_be_changed_by_a_clone() -> None:
    phq9 = LIBRARY.latest("phq9")
    assert (
        clone(phq9, "phq9_portal", {"title": "PHQ-9 (before each visit)"}).scoring == phq9.scoring
    )
    with pytest.raises(ValidationFailed) as caught:
        clone(phq9, "phq9_short", {"schema": {}, "scoring": {}, "id": "x"})
    assert [e["path"] for e in caught.value.details["errors"]] == ["/id", "/schema", "/scoring"]


def broken(mutate: Any) -> list[FieldError]:
    raw = LIBRARY.latest("gad2").definition()
    mutate(raw)
    return check_template_definition(raw)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("title"), FieldError(path="/title", type="missing")),
        (lambda r: r.update(category="novel"), FieldError(path="/category", type="enum")),
        (lambda r: r.update(id="Bad Id"), FieldError(path="/id", type="string_pattern_mismatch")),
        (
            lambda r: r.update(cpt_codes=["9083"]),
            FieldError(path="/cpt_codes/0", type="string_pattern_mismatch"),
        ),
        (lambda r: r.update(colour="blue"), FieldError(path="/colour", type="extra_forbidden")),
        (
            lambda r: r["schema"].update(type="array"),
            FieldError(path="/schema/type", type="must_be_object"),
        ),
        (
            lambda r: r["schema"]["properties"]["administered_on"].update(type="date"),
            FieldError(path="/schema/properties/administered_on/type", type="anyOf"),
        ),
        (
            lambda r: r["schema"]["properties"]["administered_on"].update(pattern="(unclosed"),
            FieldError(path="/schema/properties/administered_on/pattern", type="format"),
        ),
        (
            lambda r: r["schema"]["properties"].update(x={"$ref": "https://example.com/s.json"}),
            FieldError(path="/schema/properties/x/$ref", type="remote_ref"),
        ),
        (
            lambda r: r["schema"].update({"$schema": "http://json-schema.org/draft-07/schema#"}),
            FieldError(path="/schema/$schema", type="unsupported_dialect"),
        ),
        (
            lambda r: r.update(required_at_signing=["/nope"]),
            FieldError(path="/required_at_signing/0", type="unknown_field"),
        ),
        (
            lambda r: r["layout"][0]["fields"].append("/answers"),
            FieldError(path="/layout/0/fields/3", type="duplicate"),
        ),
        (lambda r: r.pop("licence"), FieldError(path="/licence", type="required")),
        (
            lambda r: r["scoring"]["items"].append("item_3"),
            FieldError(path="/scoring/items/2", type="unknown_field"),
        ),
        (
            lambda r: r["scoring"].update(item_max=4),
            FieldError(path="/scoring/items/0", type="range_mismatch"),
        ),
        (
            lambda r: r["scoring"]["bands"][1].update(min=4),
            FieldError(path="/scoring/bands/1", type="bands_must_tile_range"),
        ),
        (
            lambda r: r["scoring"]["bands"][1].update(max=5),
            FieldError(path="/scoring/bands", type="bands_must_tile_range"),
        ),
        (
            lambda r: r["scoring"].update(
                flags=[{"item": "item_7", "op": "gt", "value": 0, "flag": "x_risk"}]
            ),
            FieldError(path="/scoring/flags/0/item", type="unknown_field"),
        ),
        (
            lambda r: r["scoring"]["options"].append({"value": 9, "label": "Always"}),
            FieldError(path="/scoring/options/4", type="out_of_range"),
        ),
    ],
    ids=[
        "no-title",
        "category",
        "id",
        "cpt",
        "extra-key",
        "root-type",
        "meta-schema",
        "bad-regex",
        "remote-ref",
        "dialect",
        "signing-path",
        "layout-duplicate",
        "licence",
        "scoring-item",
        "item-range",
        "band-gap",
        "band-short",
        "flag-item",
        "option-range",
    ],
)
def test_template_definition_problems_are_field_errors(mutate: Any, expected: FieldError) -> None:
    assert expected in broken(mutate)


def test_a_non_object_definition_is_one_error() -> None:
    assert check_template_definition(["not", "a", "template"]) == [FieldError(path="", type="type")]


def test_local_refs_are_followed_for_paths() -> None:
    raw = LIBRARY.latest("mental_status_exam").definition()
    schema = raw["schema"]
    schema["$defs"] = {"mse": schema["properties"]["mental_status"]}
    schema["properties"]["mental_status"] = {"$ref": "#/$defs/mse"}
    template = parse_template(raw)
    content = example("mental_status_exam")
    assert validate_content(template, content) == []
    del content["mental_status"]["mood"]
    assert missing_at_signing(template, content) == ["/mental_status/mood"]


# --- the doc -------------------------------------------------------------------------

DOC = Path("docs/clinical-templates.md")


def test_clinical_templates_doc_is_current(project_root: Path) -> None:
    current = (project_root / DOC).read_text(encoding="utf-8")
    rendered = templates_doc.render_library_markdown()
    assert current == templates_doc.replace_generated(current, rendered), (
        "docs/clinical-templates.md is stale: run "
        "python -m tpm.domain.templates_doc --write docs/clinical-templates.md"
    )
    for template_id in IDS:
        assert f"`{template_id}`" in rendered
    for template in LIBRARY.measures():
        assert (template.licence or "") in rendered


def test_doc_check_reports_stale_and_write_repairs(project_root: Path, tmp_path: Path) -> None:
    original = (project_root / DOC).read_text(encoding="utf-8")
    stale = original.replace("| `phq9` | 1 |", "| `phq9` | 2 |", 1)
    assert stale != original
    copy_path = tmp_path / "clinical-templates.md"
    copy_path.write_text(stale, encoding="utf-8")
    assert templates_doc.main(["--check", str(copy_path)]) == 1
    assert templates_doc.main(["--write", str(copy_path)]) == 0
    assert copy_path.read_text(encoding="utf-8") == original
    with pytest.raises(ValueError, match="templates:begin"):
        templates_doc.replace_generated("no markers", "x")


def test_doc_module_runs_as_a_script(project_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpm.domain.templates_doc", "--check", str(DOC)],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
