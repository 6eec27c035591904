"""Consent over real processes (gunicorn, qcluster, the local Twilio on PostgreSQL): a campaign
of 20 numbers, half of them with a written consent recorded over the API, one of those revoked by
its callee's keypress mid-campaign. Per the local Twilio's own record, only the consented numbers
are dialed, and the revoked one never again.

The business requires consent records for its informational calls: the same consent check as
telemarketing's, while the calls keep the business's window (open all day here), so the test does
not depend on the hour it runs at; telemarketing would be held by its federal hours on the real
clock the live stack judges with (tests/integration/test_consent.py covers telemarketing)."""

import pytest
import requests

from api.keys import api_key_create
from calls.models import CallRequest, Campaign, DoNotCall
from compliance.models import ConsentRecord
from compliance.purposes import Purpose
from tests.e2e.queue_checks import make_business, wait_for, wait_until_settled

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPTING_OUT = "+14155550007"  # the local Twilio's rule: ...0007 presses 9 at the <Gather>
CONSENTED = [OPTING_OUT] + [f"+141555501{n:02d}" for n in range(1, 10)]
UNCONSENTED = [f"+141555502{n:02d}" for n in range(1, 11)]


def test_only_consented_unrevoked_numbers_are_dialed(stack_for):
    stack = stack_for("orm")
    business = make_business("North", "+14155550110", 2)
    business.requires_consent_records = True
    business.save()
    _, key = api_key_create(business=business, name="CRM")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"

    def post(path, body):
        return api.post(f"{stack.web_url}/api/v1{path}", json=body, timeout=10)

    consents = [
        {
            "to": number,
            "kind": "written",
            "purposes": ["informational"],
            "source": "web_form",
            "evidence": "Ticked 'Call me about offers' on the spring form.",
            "captured_at": "2026-11-20T10:00:00Z",
        }
        for number in CONSENTED
    ]
    answer = post("/consents", consents)
    assert answer.status_code == 201, answer.text
    assert answer.json()["recorded"] == len(CONSENTED)
    # A later campaign that also holds the number, paused until the callee has opted out.
    summer = Campaign.objects.create(
        business=business, name="summer", purpose=Purpose.INFORMATIONAL, status="paused"
    )
    answer = post(f"/campaigns/{summer.pk}/numbers", {"numbers": [{"to": OPTING_OUT}]})
    assert answer.json()["queued"] == 1, answer.text
    spring = Campaign.objects.create(
        business=business,
        name="spring",
        purpose=Purpose.INFORMATIONAL,
        concurrency=1,
        offers_opt_out=True,
    )
    numbers = [{"to": n} for n in CONSENTED + UNCONSENTED]
    answer = post(f"/campaigns/{spring.pk}/numbers", {"numbers": numbers})
    assert answer.status_code == 200, answer.text
    results = {r["to"]: r for r in answer.json()["numbers"]}
    assert {n for n, r in results.items() if r["status"] == "queued"} == set(CONSENTED)
    assert all(results[n]["reason"].startswith("No consent on file") for n in UNCONSENTED)

    wait_for(lambda: DoNotCall.objects.filter(phone_number=OPTING_OUT).exists(), 30, "opt-out")
    assert post(f"/campaigns/{summer.pk}/resume", {}).status_code == 200

    assert wait_until_settled(11, timeout=60) == {"done": 10, "canceled": 1}
    later = CallRequest.objects.get(campaign=summer)
    assert later.status == "canceled"
    assert later.last_error.startswith("On the do-not-call list: opted out by keypress")
    revoked = ConsentRecord.objects.get(phone_number=OPTING_OUT)
    assert revoked.revoked_via == "keypress" and revoked.revoked_at is not None
    assert (
        not ConsentRecord.objects.filter(revoked_at__isnull=False).exclude(pk=revoked.pk).exists()
    )

    dialed = [c["to"] for c in stack.sim.calls()]
    assert sorted(dialed) == sorted(CONSENTED)  # each once; no unconsented number, no redial
    assert dialed[0] == OPTING_OUT
