"""The do-not-call admin: managers keep their business's list (by hand, by CSV), see and export
theirs only; the list for every business is the superusers'."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from calls.audit import OperatorAction
from calls.models import DoNotCall
from tests.recipes import NUMBER, make_call, sid

LIST = "/admin/compliance/donotcall/"
IMPORT = "/admin/compliance/donotcall/import/"
EXPORT = "/admin/compliance/donotcall/export/"
OTHER = "+14155550124"


@pytest.fixture
def rows(business, rival):
    return {
        "ours": DoNotCall.objects.create(business=business, phone_number=NUMBER, reason="ours"),
        "theirs": DoNotCall.objects.create(business=rival, phone_number=OTHER, reason="theirs"),
        "global": DoNotCall.objects.create(phone_number="+14155550125", reason="everyone's"),
    }


def test_a_manager_adds_a_number_normalised_and_signed(member_client, business):
    client = member_client((business, "manager"))
    response = client.post(
        f"{LIST}add/",
        {"business": business.pk, "phone_number": "+1 (415) 555-0123", "reason": "x"},
    )
    assert response.status_code == 302
    row = DoNotCall.objects.get()
    assert (row.business, row.phone_number, row.reason) == (business, NUMBER, "x")
    assert row.created_by.username == "alice"


def test_a_number_listed_twice_is_refused_with_a_clear_message(member_client, business, rows):
    client = member_client((business, "manager"))
    response = client.post(f"{LIST}add/", {"business": business.pk, "phone_number": NUMBER})
    assert response.status_code == 200
    assert "already on the business&#x27;s list" in response.content.decode()
    assert DoNotCall.objects.filter(business=business).count() == 1


@pytest.mark.parametrize("owner", ["rival", "nobody"])
def test_a_manager_cannot_add_to_another_list_or_the_global_one(
    member_client, business, rival, owner
):
    client = member_client((business, "manager"))
    target = rival.pk if owner == "rival" else ""
    response = client.post(f"{LIST}add/", {"business": target, "phone_number": NUMBER})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["business"]
    assert not DoNotCall.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_below_manager_a_member_reads_but_cannot_add_or_remove(member_client, business, rows, role):
    client = member_client((business, role))
    assert list(client.get(LIST).context["cl"].result_list) == [rows["ours"]]
    added = client.post(f"{LIST}add/", {"business": business.pk, "phone_number": "+14155550126"})
    assert added.status_code == 403
    assert client.post(f"{LIST}{rows['ours'].pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(IMPORT).status_code == 403
    assert set(DoNotCall.objects.values_list("phone_number", flat=True)) == {
        NUMBER,
        OTHER,
        "+14155550125",
    }


def test_a_manager_sees_and_removes_its_own_rows_only(member_client, business, rows):
    client = member_client((business, "manager"))
    response = client.get(LIST)
    assert list(response.context["cl"].result_list) == [rows["ours"]]
    body = response.content.decode()
    assert OTHER not in body and "+14155550125" not in body and "Rival Roofing" not in body
    assert 'href="/admin/compliance/donotcall/import/"' in body
    assert client.get(f"{LIST}add/").status_code == 200
    page = client.get(f"{LIST}{rows['ours'].pk}/change/")
    assert page.status_code == 200
    assert "ours" in page.content.decode()
    for other in ("theirs", "global"):
        url = f"{LIST}{rows[other].pk}/"
        assert client.get(f"{url}change/").status_code == 302
        assert client.post(f"{url}delete/", {"post": "yes"}).status_code in (302, 403)
        assert DoNotCall.objects.filter(pk=rows[other].pk).exists()
    assert client.post(f"{LIST}{rows['ours'].pk}/delete/", {"post": "yes"}).status_code == 302
    assert not DoNotCall.objects.filter(pk=rows["ours"].pk).exists()


def test_a_search_by_the_number_as_people_write_it_finds_the_row(member_client, business, rows):
    client = member_client((business, "manager"))
    assert list(client.get(LIST, {"q": "(415) 555-0123"}).context["cl"].result_list) == [
        rows["ours"]
    ]
    assert list(client.get(LIST, {"q": "4155550124"}).context["cl"].result_list) == []
    # Part of a number, as typed: the rows whose number holds those digits.
    assert list(client.get(LIST, {"q": "555-0123"}).context["cl"].result_list) == [rows["ours"]]


@pytest.mark.parametrize("superuser", [False, True])
def test_the_import_page_comes_with_the_user_s_own_business_chosen(
    member_client, admin_user, business, rival, superuser
):
    from calls.models import Membership

    if superuser:
        Membership.objects.create(user=admin_user, business=rival, role="manager")
        client = member_client()
        client.force_login(admin_user)
        own = rival
    else:
        client = member_client((business, "manager"))
        own = business
    field = client.get(IMPORT).context["form"]["business"]
    assert field.value() == own.pk
    assert f'<option value="{own.pk}" selected>' in str(field)


def test_a_superuser_lists_a_number_for_every_business(admin_client, business, rows):
    response = admin_client.post(f"{LIST}add/", {"business": "", "phone_number": "+14155550126"})
    assert response.status_code == 302
    assert DoNotCall.objects.get(phone_number="+14155550126").business is None
    listed = admin_client.get(LIST).context["cl"].result_list
    assert len(listed) == 4
    body = admin_client.get(LIST).content.decode()
    assert "Every business" in body


def upload(content: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("list.csv", content.encode(), content_type="text/csv")


CSV = "number,reason\n(415) 555-0123,asked\nnot-a-number,typo\n+14155550126,\n"


def test_a_manager_imports_a_file_and_sees_each_refused_row(member_client, business):
    client = member_client((business, "manager"))
    assert client.get(IMPORT).status_code == 200
    response = client.post(IMPORT, {"business": business.pk, "file": upload(CSV)})
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 added, 0 already listed, 1 refused." in body
    assert "not-a-number" in body and "is not a phone number" in body
    assert set(business.do_not_call.values_list("phone_number", "reason")) == {
        (NUMBER, "asked"),
        ("+14155550126", ""),
    }
    assert set(business.do_not_call.values_list("created_by__username", flat=True)) == {"alice"}
    action = OperatorAction.objects.get()
    assert (action.business, action.action) == (business, "import_do_not_call")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("\udcff", "not UTF-8"),
        ("number,reason\n", "holds no number"),
    ],
)
def test_an_unreadable_file_is_refused_on_the_page(member_client, business, content, error):
    client = member_client((business, "manager"))
    raw = content.encode("utf-8", "surrogateescape")
    file = SimpleUploadedFile("list.csv", raw, content_type="text/csv")
    response = client.post(IMPORT, {"business": business.pk, "file": file})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not DoNotCall.objects.exists()


@pytest.mark.parametrize("owner", ["rival", "nobody"])
def test_a_manager_cannot_import_into_another_list_or_the_global_one(
    member_client, business, rival, owner
):
    client = member_client((business, "manager"))
    target = rival.pk if owner == "rival" else ""
    response = client.post(IMPORT, {"business": target, "file": upload(CSV)})
    assert response.status_code == 200
    assert response.context["form"].errors["business"]
    assert not DoNotCall.objects.exists()


def test_a_superuser_imports_into_the_global_list(admin_client, db):
    response = admin_client.post(IMPORT, {"business": "", "file": upload(CSV)})
    assert "2 added" in response.content.decode()
    assert DoNotCall.objects.filter(business=None).count() == 2
    assert not OperatorAction.objects.exists()


def test_an_export_holds_the_members_rows_and_imports_back(member_client, business, rival, rows):
    client = member_client((business, "manager"), (rival, "manager"))
    response = client.get(EXPORT, {"business__id__exact": business.pk})
    assert response.status_code == 200
    exported = b"".join(response.streaming_content).decode()
    lines = exported.splitlines()
    assert lines[0] == "number,reason,business,created_at,source_call"
    assert [line.split(",")[:3] for line in lines[1:]] == [[NUMBER, "ours", str(business.pk)]]
    assert OperatorAction.objects.get().action == "export_csv"

    response = client.post(IMPORT, {"business": rival.pk, "file": upload(exported)})
    assert "1 added, 0 already listed, 0 refused." in response.content.decode()
    assert rival.do_not_call.get(phone_number=NUMBER).reason == "ours"


def test_a_superuser_export_includes_the_global_rows(admin_client, rows):
    response = admin_client.get(EXPORT)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1].startswith("+14155550125,everyone's,,")
    assert len(lines) == 4


def test_a_row_from_a_keypress_shows_its_call(admin_client, business):
    call = make_call(business, call_sid=sid(7), status="completed")
    row = DoNotCall.objects.create(
        business=business, phone_number=NUMBER, reason="pressed 9", source_call=call
    )
    page = admin_client.get(f"{LIST}{row.pk}/change/")
    assert page.status_code == 200
    assert sid(7) in page.content.decode()


def test_a_manager_edits_the_reason_but_never_the_number_or_business(
    member_client, business, rival, rows
):
    client = member_client((business, "manager"), (rival, "manager"))
    url = f"{LIST}{rows['ours'].pk}/change/"
    form = {"business": rival.pk, "phone_number": "+14155550199", "reason": "asked twice"}
    assert client.post(url, form).status_code == 302
    row = DoNotCall.objects.get(pk=rows["ours"].pk)
    assert (row.business, row.phone_number, row.reason) == (business, NUMBER, "asked twice")
