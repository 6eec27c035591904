"""Uploads are refused by their size before they are read: any multipart body past
UPLOAD_MAX_BYTES by its Content-Length, before anything parses it (the CSRF check parses every
POST's body, logged in or not); a campaign's numbers past CAMPAIGN_UPLOAD_MAX_BYTES by the file's
size, before a row is read (a 7 MB file cost ~180 MB and 9 s before the row limit refused it)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser

from calls.admin import campaign_numbers
from calls.models import Campaign, DoNotCall

ROW = b"+14155550123, Ann Lee\n"


def csv_file(size: int) -> SimpleUploadedFile:
    return SimpleUploadedFile("numbers.csv", ROW * (size // len(ROW) + 1), "text/csv")


@pytest.fixture
def parsed(monkeypatch):
    """How often Django's multipart parser ran."""
    runs = []
    parse = MultiPartParser.parse

    def counting(self):
        runs.append(self)
        return parse(self)

    monkeypatch.setattr(MultiPartParser, "parse", counting)
    return runs


@pytest.fixture
def rows_read(monkeypatch):
    """How often a campaign's rows were read from a paste or a file."""
    reads = []
    read = campaign_numbers.number_rows_from

    def counting(text, upload):
        reads.append(upload)
        return read(text, upload)

    monkeypatch.setattr(campaign_numbers, "number_rows_from", counting)
    return reads


def campaign_form(business, upload):
    return {
        "business": business.pk,
        "name": "Spring",
        "purpose": "informational",
        "say_text": "Hello from Acme.",
        "numbers": "",
        "numbers_file": upload,
    }


def test_a_campaign_file_past_its_bound_is_refused_by_its_size_before_a_row_is_read(
    member_client, business, settings, rows_read
):
    settings.CAMPAIGN_UPLOAD_MAX_BYTES = 20_000
    client = member_client((business, "manager"))
    page = client.post("/admin/calls/campaign/add/", campaign_form(business, csv_file(40_000)))
    assert page.status_code == 200
    errors = " ".join(page.context["adminform"].form.non_field_errors())
    assert "at most 19.5 KB at once (CAMPAIGN_UPLOAD_MAX_BYTES)" in errors
    assert rows_read == []
    assert not Campaign.objects.exists()
    # Within the bound the same form reads the rows and makes the campaign.
    client.post("/admin/calls/campaign/add/", campaign_form(business, csv_file(2_000)))
    assert len(rows_read) == 1 and Campaign.objects.count() == 1


def test_numbers_added_to_a_campaign_past_the_bound_are_refused_unread(
    member_client, business, settings, rows_read
):
    settings.CAMPAIGN_UPLOAD_MAX_BYTES = 20_000
    campaign = Campaign.objects.create(business=business, name="Spring")
    client = member_client((business, "operator"))
    page = client.post(
        f"/admin/calls/campaign/{campaign.pk}/numbers/",
        {"numbers": "", "numbers_file": csv_file(40_000)},
    )
    assert "(CAMPAIGN_UPLOAD_MAX_BYTES)" in page.content.decode()
    assert rows_read == [] and not campaign.requests.exists()


@pytest.mark.parametrize(
    ("path", "field", "logged_in"),
    [
        ("/admin/calls/campaign/add/", "numbers_file", True),
        ("/admin/compliance/donotcall/import/", "file", True),
        ("/admin/login/", "file", False),
    ],
)
def test_a_body_past_upload_max_bytes_is_refused_before_it_is_parsed(
    member_client, client, business, settings, parsed, path, field, logged_in
):
    settings.UPLOAD_MAX_BYTES = 50_000
    if logged_in:
        client = member_client((business, "manager"))
    page = client.post(path, {"business": business.pk, field: csv_file(80_000)})
    assert page.status_code == 413
    assert "at most 48.8 KB is taken at once" in page.content.decode()
    assert parsed == []
    assert not Campaign.objects.exists() and not DoNotCall.objects.exists()


def test_a_body_within_upload_max_bytes_is_parsed_as_ever(member_client, business, parsed):
    client = member_client((business, "manager"))
    page = client.post(
        "/admin/compliance/donotcall/import/",
        {"business": business.pk, "file": SimpleUploadedFile("dnc.csv", b"+14155550123,asked\n")},
    )
    assert page.status_code == 200 and len(parsed) == 1
    assert DoNotCall.objects.filter(phone_number="+14155550123").exists()
