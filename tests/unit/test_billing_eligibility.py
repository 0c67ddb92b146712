"""270 written for the mental-health service types; 271 read: copay, coinsurance,
deductible, authorisation and network flags, AAA rejections, a carve-out's other payer."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tpm.domain.billing.eligibility import Inquiry, read_271, render_270, simulated_271
from tpm.domain.billing.x12 import parse

INQUIRY = Inquiry(
    trace="T1",
    payer_name="Synthetic Health Plan",
    payer_id="SYNPY1",
    provider_name="Group",
    provider_npi="1245319599",
    last_name="Testperson",
    first_name="Jordan",
    date_of_birth=date(1985, 5, 5),
    member_id="MEM1",
    on=date(2026, 12, 6),
    at=datetime(2026, 12, 6, 12, tzinfo=UTC),
    control=7,
    sender="TPMSYNTH",
    receiver="CLEARHOUSE",
)


def test_270_asks_for_the_mental_health_service_types() -> None:
    segments = parse(render_270(INQUIRY))
    assert [s.get(1) for s in segments if s.id == "EQ"] == ["30", "MH", "A4", "A6", "A8", "AI"]
    st = next(s for s in segments if s.id == "ST")
    se = next(s for s in segments if s.id == "SE")
    assert st.get(3) == "005010X279A1"
    assert int(se.get(1)) == se.n - st.n + 1


def test_271_benefits() -> None:
    text = render_270(INQUIRY)
    result = read_271(parse(simulated_271(text, parse(text))))
    assert (result.trace, result.active, result.rejections) == ("T1", True, [])
    kinds = {b.kind: b for b in result.benefits}
    assert kinds["copay"].in_network is True
    assert str(kinds["coinsurance"].percent) == "0.2"


def test_rejection_and_carve_out() -> None:
    text = simulated_271(render_270(INQUIRY), parse(render_270(INQUIRY)))
    text = text.replace(
        "EB*1*IND*30**SYNTHETIC PPO~",
        "AAA*N**75*C~\nEB*R*IND*MH~\nLS*2120~\nNM1*PR*2*BEHAVIORAL CARVEOUT*****PI*BH1~\nLE*2120~",
    )
    result = read_271(parse(text))
    assert result.rejections == ["75: subscriber not found"]
    assert result.other_payer == "BEHAVIORAL CARVEOUT"
