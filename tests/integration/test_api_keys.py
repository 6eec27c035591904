"""API keys: made by `create_api_key` or by a manager in the admin, shown once, stored hashed,
revoked in the admin; a key acts for its business only."""

import hashlib
import re

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError

from api.models import ApiKey
from tests.api_client import ApiClient

ADD = "/admin/api/apikey/add/"
LIST = "/admin/api/apikey/"


def test_the_command_prints_a_working_key_on_its_last_line(client, business, capsys):
    call_command("create_api_key", "--business", str(business.pk), "--name", "CRM")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    row = ApiKey.objects.get()
    assert key.startswith("cq_") and len(key) == 43
    assert (row.business, row.name, row.prefix) == (business, "CRM", key[:11])
    # Only its hash is kept.
    assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiKey.objects.values().get())
    assert ApiClient(client, key).get("/calls").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_the_command_refuses_an_unknown_business(db):
    with pytest.raises(CommandError, match="No business with id 999"):
        call_command("create_api_key", "--business", "999")
    assert not ApiKey.objects.exists()


def test_a_manager_adds_a_key_and_sees_it_once_on_the_answer_to_the_form(
    member_client, client, business
):
    admin = member_client((business, "manager"))
    response = admin.post(ADD, {"business": business.pk, "name": "CRM"})
    assert response.status_code == 200
    key = re.search(r'<code class="api-key">(cq_[^<]+)</code>', response.content.decode())[1]
    assert "no-store" in response["Cache-Control"]
    row = ApiKey.objects.get()
    assert (row.business, row.name, row.created_by.username) == (business, "CRM", "alice")
    assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    # Never client-side: no cookie (the messages cookie is signed, not encrypted) and no
    # message carries it; the session does not keep it either.
    assert get_messages(response.wsgi_request)._queued_messages == []
    assert not [c for c in response.cookies.values() if key in c.value or key[3:] in c.value]
    assert key not in str(admin.session.items())
    # Later pages show only its prefix.
    for path in (LIST, f"{LIST}{row.pk}/change/"):
        page = admin.get(path).content.decode()
        assert row.prefix in page and key not in page
    assert ApiClient(client, key).get("/calls").status_code == 200


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_managers_see_and_add_keys(member_client, business, role):
    admin = member_client((business, role))
    assert admin.get(LIST).status_code == 403
    assert admin.post(ADD, {"business": business.pk, "name": "CRM"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_a_manager_cannot_add_or_see_keys_of_another_business(member_client, business, rival):
    from api.keys import api_key_create

    theirs, _ = api_key_create(business=rival, name="theirs")
    admin = member_client((business, "manager"))
    response = admin.post(ADD, {"business": rival.pk, "name": "mine now"})
    assert response.status_code == 200  # the form refuses the choice
    assert ApiKey.objects.count() == 1
    assert "theirs" not in admin.get(LIST).content.decode()
    assert admin.get(f"{LIST}{theirs.pk}/change/").status_code == 302  # not found: back to list


def test_a_manager_revokes_a_key_and_it_answers_401(member_client, client, business):
    from api.keys import api_key_create

    row, key = api_key_create(business=business, name="CRM")
    api = ApiClient(client, key)
    assert api.get("/calls").status_code == 200
    admin = member_client((business, "manager"))
    response = admin.post(
        LIST, {"action": "revoke", "_selected_action": [row.pk], "post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "1 API key revoked" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None
    client.logout()
    assert api.get("/calls").status_code == 401
