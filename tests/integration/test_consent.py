"""Consent before an artificial-voice call: refused at queuing without a valid consent for the
purpose, judged again at the claim and at the create (a revoked or expired consent cancels the
request, nothing dialed), and revoked by every channel in one step."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.dashboard import campaign_results
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.dispatch import business_claim
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call, enqueue_outbound_calls
from calls.services.erasure import number_erase, number_hash
from calls.services.placing import Placed, call_place
from compliance.consent import (
    NO_CONSENT_PREFIX,
    TERMS_SQL,
    ConsentTerms,
    consent_refusals,
    consents_revoke,
    requests_cancel_without_consent,
)
from compliance.consent_records import ConsentGiven, consents_record
from compliance.models import ConsentRecord, grant_bits
from compliance.opt_outs import Via, number_opt_out
from compliance.purposes import Purpose
from tests.recipes import NUMBER, make_request

OTHER = "+14155550124"
Kind = ConsentRecord.Kind


def consent(business, number=NUMBER, kind=Kind.WRITTEN, purposes=("telemarketing",), **fields):
    fields.setdefault("captured_at", timezone.now() - timedelta(days=1))
    fields.setdefault("evidence_text", "Ticked the box on the spring offer form.")
    given = ConsentGiven(
        number=number, kind=kind, purposes=list(purposes), source="web_form", **fields
    )
    (pk,) = consents_record(business=business, given=[given])
    return ConsentRecord.objects.get(pk=pk)


@pytest.fixture
def sales(business):
    return baker.make(Campaign, business=business, name="spring", purpose=Purpose.TELEMARKETING)


def test_a_telemarketing_number_without_written_consent_is_refused(business, sales, queue):
    with pytest.raises(EnqueueRefused) as caught:
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    assert caught.value.code == EnqueueRefused.NO_CONSENT == "no-consent"
    assert str(caught.value) == (
        f"{NO_CONSENT_PREFIX}: telemarketing calls need a written consent for this number."
    )
    assert not CallRequest.objects.exists()
    assert queue() == []


@pytest.mark.parametrize(
    "kind, purposes",
    [
        (Kind.EXPRESS, ["telemarketing"]),
        (Kind.BUSINESS_RELATIONSHIP, ["telemarketing"]),
        (Kind.WRITTEN, ["informational"]),
    ],
)
def test_only_a_written_consent_covering_telemarketing_allows_it(business, sales, kind, purposes):
    extra = {}
    if kind == Kind.BUSINESS_RELATIONSHIP:
        extra = {"relationship": "transaction", "relationship_at": timezone.now()}
    consent(business, kind=kind, purposes=purposes, **extra)
    with pytest.raises(EnqueueRefused):
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)


def test_another_business_consent_does_not_count(business, rival, sales):
    consent(rival)
    with pytest.raises(EnqueueRefused):
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)


def test_a_written_consent_is_queued_and_dialed(business, sales, fake_twilio):
    consent(business)
    results = enqueue_outbound_calls(business=business, numbers=[NUMBER, OTHER], campaign=sales)
    assert results[0].request is not None
    assert results[1].refused.startswith(NO_CONSENT_PREFIX)
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [NUMBER]
    assert CallRequest.objects.get().status == "active"


def test_a_consent_captured_later_than_now_or_expired_does_not_count(business, sales):
    consent(business, captured_at=timezone.now() + timedelta(minutes=3))
    consent(business, expires_at=timezone.now() - timedelta(minutes=1))
    refusals = consent_refusals(business=business, numbers=[NUMBER], purpose="telemarketing")
    assert refusals[NUMBER].startswith(f"{NO_CONSENT_PREFIX}: the written consent to")
    assert "expired on" in refusals[NUMBER]


def test_informational_calls_need_no_record_unless_the_business_requires_them(
    business, fake_twilio
):
    reminders = baker.make(Campaign, business=business, name="reminders")
    assert reminders.purpose == Purpose.INFORMATIONAL
    assert enqueue_outbound_call(business=business, to_number=NUMBER, campaign=reminders)
    # A call of the business's own takes its default purpose, informational.
    assert enqueue_outbound_call(business=business, to_number=OTHER)

    business.requires_consent_records = True
    business.save()
    third = "+14155550125"
    with pytest.raises(EnqueueRefused) as caught:
        enqueue_outbound_call(business=business, to_number=third, campaign=reminders)
    assert str(caught.value) == (
        f"{NO_CONSENT_PREFIX}: informational calls need a consent for this number."
    )
    consent(business, number=third, kind=Kind.EXPRESS, purposes=["informational"])
    assert enqueue_outbound_call(business=business, to_number=third, campaign=reminders)


def test_debt_collection_with_required_records_takes_an_express_consent_for_it(business):
    business.requires_consent_records = True
    business.save()
    dunning = baker.make(
        Campaign, business=business, name="dunning", purpose=Purpose.DEBT_COLLECTION
    )
    consent(business, kind=Kind.EXPRESS, purposes=["informational"])
    with pytest.raises(EnqueueRefused):
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=dunning)
    consent(business, kind=Kind.EXPRESS, purposes=["debt_collection"])
    assert enqueue_outbound_call(business=business, to_number=NUMBER, campaign=dunning)


def test_a_campaign_a_superuser_exempted_needs_no_consent(business, sales, fake_twilio):
    Campaign.objects.filter(pk=sales.pk).update(
        consent_exempt_reason="Calls to the business's own staff (not consumers)."
    )
    sales.refresh_from_db()
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [NUMBER]


def test_a_consent_revoked_after_queuing_is_canceled_at_the_claim(business, sales, fake_twilio):
    consent(business)
    consent(business, number=OTHER)
    revoked = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    kept = enqueue_outbound_call(business=business, to_number=OTHER, campaign=sales)
    # The consent alone, not the do-not-call list: the claim's own check must catch it.
    assert consents_revoke(business_id=business.pk, number=NUMBER, via=Via.API) == 1
    claimed = business_claim(business_id=business.pk)
    assert [CallLog.objects.get(pk=pk).to_number for pk in claimed] == [OTHER]
    revoked.refresh_from_db()
    assert (revoked.status, revoked.attempts) == ("canceled", 0)
    today = timezone.now().date().isoformat()
    assert revoked.last_error == (
        f"{NO_CONSENT_PREFIX}: the written consent to telemarketing calls was revoked on {today}."
    )
    assert not CallLog.objects.filter(request=revoked).exists()
    kept.refresh_from_db()
    assert kept.status == "active"


def test_a_consent_revoked_after_the_claim_is_never_dialed(business, sales, fake_twilio):
    consent(business)
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    (call_id,) = business_claim(business_id=business.pk)
    consents_revoke(business_id=business.pk, number=NUMBER, via=Via.API)
    assert call_place(call_id=call_id) is Placed.RELEASED
    assert fake_twilio.created == []
    request.refresh_from_db()
    assert request.status == "canceled"
    assert request.last_error.startswith(NO_CONSENT_PREFIX)
    assert not CallLog.objects.exists()


def test_an_opt_out_stops_a_claimed_request_at_the_create(business, sales, fake_twilio):
    consent(business)
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    (call_id,) = business_claim(business_id=business.pk)
    number_opt_out(business_id=business.pk, number=NUMBER, via=Via.API, reason="asked by mail")
    assert call_place(call_id=call_id) is Placed.RELEASED
    assert fake_twilio.created == []
    request.refresh_from_db()
    assert (request.status, request.last_error) == (
        "canceled",
        "On the do-not-call list: asked by mail",
    )


def test_an_opt_out_revokes_lists_and_cancels_every_queued_request_of_the_number(
    business, rival, sales
):
    consent(business)
    consent(business, kind=Kind.EXPRESS, purposes=["informational"])
    consent(rival)
    queued = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    own = enqueue_outbound_call(business=business, to_number=NUMBER)
    untouched = enqueue_outbound_call(business=business, to_number=OTHER)
    theirs = enqueue_outbound_call(business=rival, to_number=NUMBER)

    done = number_opt_out(
        business_id=business.pk, number="(415) 555-0123", via=Via.API, reason="asked"
    )

    assert (done.consents_revoked, done.requests_canceled) == (2, 2)
    rows = ConsentRecord.objects.filter(business=business)
    assert {(r.revoked_via, r.revoked_note) for r in rows} == {("api", "asked")}
    assert ConsentRecord.objects.get(business=rival).revoked_at is None
    assert DoNotCall.objects.get().business == business
    for request, status in [
        (queued, "canceled"),
        (own, "canceled"),
        (untouched, "queued"),
        (theirs, "queued"),
    ]:
        request.refresh_from_db()
        assert request.status == status
    again = number_opt_out(business_id=business.pk, number=NUMBER, via=Via.API, reason="again")
    assert (again.consents_revoked, again.requests_canceled) == (0, 0)
    assert rows.filter(revoked_note="asked").count() == 2


def test_a_business_relationship_lasts_18_months_after_a_transaction_and_3_after_an_inquiry(
    business,
):
    business.requires_consent_records = True
    business.save()
    now = timezone.now()
    bought = consent(
        business,
        kind=Kind.BUSINESS_RELATIONSHIP,
        purposes=["informational"],
        relationship="transaction",
        relationship_at=now - timedelta(days=400),
    )
    asked = consent(
        business,
        number=OTHER,
        kind=Kind.BUSINESS_RELATIONSHIP,
        purposes=["informational"],
        relationship="inquiry",
        relationship_at=now - timedelta(days=60),
    )
    assert bought.expires_at == now - timedelta(days=400) + relativedelta(months=18)
    assert asked.expires_at == now - timedelta(days=60) + relativedelta(months=3)
    refusals = consent_refusals(
        business=business, numbers=[NUMBER, OTHER], purpose="informational", at=now
    )
    assert refusals == {}
    later = consent_refusals(
        business=business,
        numbers=[NUMBER, OTHER],
        purpose="informational",
        at=now + timedelta(days=40),
    )
    assert list(later) == [OTHER]
    assert "expired on" in later[OTHER]
    much_later = consent_refusals(
        business=business,
        numbers=[NUMBER, OTHER],
        purpose="informational",
        at=bought.expires_at,
    )
    assert set(much_later) == {NUMBER, OTHER}
    assert asked.expires_at < bought.expires_at


def test_an_expired_relationship_cancels_its_queued_request_at_the_claim(business):
    business.requires_consent_records = True
    business.save()
    consent(
        business,
        kind=Kind.BUSINESS_RELATIONSHIP,
        purposes=["informational"],
        relationship="inquiry",
        relationship_at=timezone.now() - timedelta(days=80),
    )
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    kept = requests_cancel_without_consent(
        business=business, requests=[request], at=timezone.now() + timedelta(days=30)
    )
    assert kept == []
    request.refresh_from_db()
    assert request.status == "canceled"
    assert "expired on" in request.last_error


def test_the_claim_checks_all_its_numbers_in_one_lookup(
    business, sales, django_assert_max_num_queries
):
    for n in range(30):
        number = f"+1415555{n:04d}"
        consent(business, number=number)
        make_request(business, number=number, campaign=sales)
    requests = list(CallRequest.objects.all())
    # One for the campaigns, one for the consents of all 30 numbers.
    with django_assert_max_num_queries(2):
        kept = requests_cancel_without_consent(business=business, requests=requests)
    assert kept == requests


CONSENTS = "/admin/compliance/consentrecord/"


def test_pressing_9_revokes_the_consents_and_cancels_the_other_queued_calls(
    business, sales, fake_twilio, twilio_post
):
    consent(business)
    Campaign.objects.filter(pk=sales.pk).update(offers_opt_out=True)
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    summer = baker.make(Campaign, business=business, name="summer", purpose=Purpose.INFORMATIONAL)
    waiting = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=summer)

    path = f"/twilio/calls/{call.public_id}/gather"
    response = twilio_post(path, {"CallSid": call.call_sid, "Digits": "9"})

    assert response.status_code == 200
    row = ConsentRecord.objects.get()
    assert row.revoked_via == "keypress"
    assert row.revoked_note == f"opted out by keypress during call {call.call_sid}"
    assert DoNotCall.objects.get().source_call == call
    waiting.refresh_from_db()
    assert waiting.status == "canceled"
    assert waiting.last_error.startswith("On the do-not-call list: opted out by keypress")
    call.refresh_from_db()
    assert call.digits == "9"
    with pytest.raises(EnqueueRefused):
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    assert len(fake_twilio.created) == 1


def test_an_operator_records_an_opt_out_in_the_admin(member_client, business, rival, sales):
    mine = consent(business)
    consent(business, number=OTHER)
    theirs = consent(rival)
    waiting = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    operator = member_client((business, "operator"))
    data = {"action": "opt_out", "_selected_action": [mine.pk, theirs.pk], "post": "yes"}
    response = operator.post(CONSENTS, data, follow=True)
    assert response.status_code == 200
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_via == "admin" and theirs.revoked_at is None  # not the operator's
    assert ConsentRecord.objects.get(phone_number=OTHER).revoked_at is None
    listed = DoNotCall.objects.get()
    assert (listed.business, listed.phone_number, listed.created_by.username) == (
        business,
        NUMBER,
        "alice",
    )
    waiting.refresh_from_db()
    assert waiting.status == "canceled"


def test_a_member_sees_only_the_consents_of_their_business(member_client, business, rival):
    consent(business, number=NUMBER)
    consent(rival, number=OTHER)
    page = member_client((business, "viewer")).get(CONSENTS).content.decode()
    assert NUMBER in page and OTHER not in page


def test_a_manager_records_a_consent_in_the_admin_and_cannot_change_it_after(
    member_client, business
):
    manager = member_client((business, "manager"))
    form = {
        "business": business.pk,
        "phone_number": "(415) 555-0123",
        "kind": "written",
        "purposes": ["telemarketing", "informational"],
        "source": "web_form",
        "captured_at_0": "2026-11-20",
        "captured_at_1": "10:00:00",
        "evidence_text": "Signed form, scanned.",
    }
    response = manager.post(CONSENTS + "add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ConsentRecord.objects.get()
    assert (row.phone_number, row.purposes, row.created_by.username) == (
        NUMBER,
        ["informational", "telemarketing"],
        "alice",
    )
    page = manager.get(f"{CONSENTS}{row.pk}/change/").content.decode()
    assert 'name="evidence_text"' not in page
    no_evidence = {**form, "evidence_text": ""}
    response = manager.post(CONSENTS + "add/", no_evidence)
    assert response.status_code == 200
    assert "Say how the consent was given" in response.content.decode()


def test_only_a_superuser_exempts_a_campaign_and_who_did_is_kept(
    admin_client, admin_user, member_client, business, sales
):
    url = f"/admin/calls/campaign/{sales.pk}/change/"
    manager = member_client((business, "manager"))
    assert 'name="consent_exempt_reason"' not in manager.get(url).content.decode()
    page = admin_client.get(url).content.decode()
    assert 'name="consent_exempt_reason"' in page
    form = {
        "business": business.pk,
        "name": "spring",
        "concurrency": "",
        "consent_exempt_reason": "Calls to its own employees.",
        "say_text": "Hello",
        "voice": "",
        "language": "",
        "recording_url": "",
        "raw_twiml": "",
        "opt_out_prompt": "",
        "voicemail_text": "",
        "window_days": [],
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    sales.refresh_from_db()
    assert (sales.consent_exempt_reason, sales.consent_exempt_by) == (
        "Calls to its own employees.",
        admin_user,
    )


def test_erasure_keeps_the_proof_s_hash_the_dates_and_the_revocation(business, rival):
    kept = consent(business, evidence_sha256="b" * 64, evidence_url="https://x.example/1")
    other = consent(business, kind=Kind.EXPRESS, purposes=["informational"])
    number_opt_out(business_id=business.pk, number=NUMBER, via=Via.API, reason="asked")
    untouched = consent(rival)
    number_erase(business_id=business.pk, number=NUMBER, via="test")

    for row, before in ((kept, kept), (other, other)):
        row.refresh_from_db()
        assert row.phone_number == "erased"
        assert row.number_hash == number_hash(NUMBER)
        assert (row.evidence_text, row.evidence_url, row.revoked_note) == ("", "", "")
        assert row.captured_at == before.captured_at
        assert row.revoked_via == "api" and row.revoked_at is not None
    assert kept.evidence_sha256 == "b" * 64
    untouched.refresh_from_db()
    assert untouched.phone_number == NUMBER
    # The opt-out outlives the erasure: the number is still refused.
    assert DoNotCall.objects.filter(business=business, phone_number=NUMBER).exists()
    assert not ConsentRecord.objects.filter(business=business, phone_number=NUMBER).exists()


def test_erasure_revokes_a_consent_not_yet_revoked(business):
    row = consent(business)
    number_erase(business_id=business.pk, number=NUMBER, via="test")
    row.refresh_from_db()
    assert (row.phone_number, row.revoked_via) == ("erased", "erasure")


CSV_HEADER = "number,kind,purposes,source,captured_at,evidence,relationship,relationship_at\n"


def test_import_consents_records_a_file_all_or_none(business, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(
        CSV_HEADER
        + "(415) 555-0123,written,telemarketing;informational,web_form,2026-11-20T10:00:00Z,"
        "form 17,,\n"
        + "+14155550124,business_relationship,informational,,2026-11-20 10:00,order 9,"
        "transaction,2026-11-01T00:00:00\n"
    )
    out = StringIO()
    call_command("import_consents", str(good), "--business", str(business.pk), stdout=out)
    assert out.getvalue().strip() == "2 consent(s) recorded for Acme Plumbing."
    rows = {r.phone_number: r for r in ConsentRecord.objects.all()}
    assert rows[NUMBER].purposes == ["informational", "telemarketing"]
    assert rows[OTHER].source == "import"
    assert rows[OTHER].expires_at == datetime(2028, 5, 1, tzinfo=UTC)  # 18 months on

    bad = tmp_path / "bad.csv"
    bad.write_text(
        CSV_HEADER
        + "+14155550125,written,telemarketing,,2026-11-20T10:00:00Z,form,,\n"
        + "+10005550123,oral,telemarketing,,yesterday,form,,\n"
    )
    errors = StringIO()
    with pytest.raises(CommandError, match="Nothing recorded: 1 row"):
        call_command("import_consents", str(bad), "--business", str(business.pk), stderr=errors)
    assert "line 3: captured_at" in errors.getvalue()
    assert ConsentRecord.objects.count() == 2


def test_a_manager_listing_a_number_in_the_admin_revokes_its_consents(
    member_client, business, rival, sales
):
    consent(business)
    consent(rival)
    waiting = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    manager = member_client((business, "manager"))
    response = manager.post(
        "/admin/compliance/donotcall/add/",
        {"business": business.pk, "phone_number": "(415) 555-0123", "reason": "asked by email"},
    )
    assert response.status_code == 302
    row = ConsentRecord.objects.get(business=business)
    assert (row.revoked_via, row.revoked_note) == ("admin", "asked by email")
    assert ConsentRecord.objects.get(business=rival).revoked_at is None
    assert DoNotCall.objects.get().created_by.username == "alice"
    waiting.refresh_from_db()
    assert (waiting.status, waiting.last_error) == (
        "canceled",
        "On the do-not-call list: asked by email",
    )


def test_a_campaign_page_counts_its_requests_canceled_for_consent(admin_client, business, sales):
    consent(business)
    consent(business, number=OTHER)
    for number in (NUMBER, OTHER):
        enqueue_outbound_call(business=business, to_number=number, campaign=sales)
    consents_revoke(business_id=business.pk, number=NUMBER, via=Via.API)
    business_claim(business_id=business.pk)
    assert campaign_results(sales).canceled_for_consent == 1
    page = admin_client.get(f"/admin/calls/campaign/{sales.pk}/live/").content.decode()
    assert '<td class="dialing-no-consent">1</td>' in page


def test_a_request_s_page_says_which_consent_allows_it_or_why_none_is_needed(
    admin_client, business, sales
):
    row = consent(business)
    allowed = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=sales)
    own = enqueue_outbound_call(business=business, to_number=OTHER)

    def page(request):
        return admin_client.get(f"/admin/calls/callrequest/{request.pk}/change/").content.decode()

    assert f"Prior express written consent #{row.pk}, captured " in page(allowed)
    assert "(web form), until revoked." in page(allowed)
    assert "Not needed: informational calls need no consent record" in page(own)
    consents_revoke(business_id=business.pk, number=NUMBER, via=Via.API)
    assert "the written consent to telemarketing calls was revoked on" in page(allowed)


def relationship(kind) -> dict:
    if kind == Kind.BUSINESS_RELATIONSHIP:
        return {"relationship": "transaction", "relationship_at": timezone.now()}
    return {}


@pytest.mark.parametrize("saved", ["service", "orm"])
def test_the_database_grants_what_kind_and_purposes_allow(business, saved):
    """`grants` is the database's: every kind with every set of purposes, written by the
    service (COPY on PostgreSQL) and by the ORM, stores grant_bits of them, and a call for a
    purpose finds a bit exactly when the record is of a needed kind and covers the purpose."""
    subsets = [
        [p for n, p in enumerate(Purpose.values) if mask & 1 << n]
        for mask in range(1 << len(Purpose.values))
    ]
    # The service refuses a record of no purpose; the ORM stores one, which grants nothing.
    cases = [
        (k, purposes) for k in Kind.values for purposes in subsets if purposes or saved == "orm"
    ]
    if saved == "service":
        pks = consents_record(
            business=business,
            given=[
                ConsentGiven(
                    number=f"+1415555{n:04d}",
                    kind=kind,
                    purposes=purposes,
                    source="import",
                    captured_at=timezone.now(),
                    evidence_text="Ticked the box.",
                    **relationship(kind),
                )
                for n, (kind, purposes) in enumerate(cases)
            ],
        )
    else:
        pks = [
            ConsentRecord.objects.create(
                business=business,
                phone_number=f"+1415555{n:04d}",
                kind=kind,
                purposes=purposes,
                source="import",
                captured_at=timezone.now(),
            ).pk
            for n, (kind, purposes) in enumerate(cases)
        ]
    stored = dict(ConsentRecord.objects.filter(pk__in=pks).values_list("pk", "grants"))
    assert [stored[pk] for pk in pks] == [grant_bits([k], purposes) for k, purposes in cases]
    for (kind, purposes), pk in zip(cases, pks, strict=True):
        for needed in [{Kind.WRITTEN}, set(Kind.values)]:
            for purpose in Purpose.values:
                allows = kind in needed and purpose in purposes
                assert bool(stored[pk] & grant_bits(needed, [purpose])) == allows


def test_the_consent_index_holds_every_term_the_judgement_reads(db):
    (index,) = [
        i for i in ConsentRecord._meta.indexes if i.name == "consent_business_number_grants"
    ]
    assert (*index.fields[1:], *index.include) == ConsentTerms._fields


@pytest.mark.postgres
def test_the_claim_s_consent_lookup_is_an_index_only_scan(business):
    # A business with many consents, as the claim meets it: with a handful of rows, or without
    # statistics, the planner may as well read the business's other index and filter (CI once did).
    consents_record(
        business=business,
        given=[
            ConsentGiven(
                number=f"+1415556{n:04d}",
                kind=Kind.WRITTEN,
                purposes=["telemarketing"],
                source="import",
                captured_at=timezone.now() - timedelta(days=1),
                evidence_text="Row of the spring import.",
            )  # fmt: skip
            for n in range(2000)
        ],
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ConsentRecord._meta.db_table}")
        cursor.execute(f"EXPLAIN {TERMS_SQL}", [business.pk, ["+14155560007", NUMBER]])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using consent_business_number_grants" in plan, plan
