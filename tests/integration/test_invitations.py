"""Who joins a business, and how: a manager invites a person by e-mail address (a new account, a
link to set its password, printed to the console in development) or adds someone already a
member of one of its businesses. A manager never turns an existing account into staff and
learns nothing about which accounts exist; people's pages show memberships, not Django's
permission widgets."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from calls.tenancy import Invitation, Membership
from tests.recipes import make_member

INVITE = "/admin/calls/invitation/add/"
STRONG = "violet kettle orbit 42"


def invite(client, business, email, role="viewer"):
    return client.post(INVITE, {"email": email, "business": business.pk, "role": role})


def link_in(mail) -> str:
    return re.search(r"http://testserver(/admin/invitations/[^/\s]+/)", mail.body)[1]


def told(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def shown(client, response) -> list[str]:
    """The messages the page after `response` shows (which spends them)."""
    page = client.get(response["Location"])
    return [str(m) for m in page.context["messages"]]


@pytest.fixture
def manager(member_client, business):
    return member_client((business, "manager"), username="maria")


def test_an_invited_person_sets_a_password_and_joins(manager, business, mailoutbox):
    response = invite(manager, business, "Ann.Lee@Example.com")
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert mail.to == ["ann.lee@example.com"] and business.name in mail.subject
    assert not get_user_model().objects.filter(email="ann.lee@example.com").exists()
    assert Invitation.objects.get().state == "pending"

    ann = Client()
    page = ann.get(link_in(mail))
    assert page.status_code == 200 and "ann.lee@example.com" in page.content.decode()
    weak = ann.post(
        link_in(mail),
        {"action": "create", "new_password1": "password1234", "new_password2": "password1234"},
    )
    assert "too common" in weak.content.decode()
    assert not get_user_model().objects.filter(username="ann.lee@example.com").exists()
    joined = ann.post(
        link_in(mail), {"action": "create", "new_password1": STRONG, "new_password2": STRONG}
    )
    assert joined.status_code == 302
    user = get_user_model().objects.get(username="ann.lee@example.com")
    assert user.is_staff and not user.is_superuser and user.check_password(STRONG)
    assert Membership.objects.get(user=user).business == business
    assert Membership.objects.get(user=user).role == "viewer"
    assert ann.get("/admin/calls/calllog/").status_code == 200
    # The link works once.
    assert Client().get(link_in(mail)).status_code == 404


def test_inviting_an_existing_account_tells_the_manager_nothing_and_waits_for_its_owner(
    manager, business, mailoutbox
):
    bob = get_user_model().objects.create_user(
        "bob", email="bob@example.com", password=STRONG, is_staff=False
    )
    existing = shown(manager, invite(manager, business, "bob@example.com"))
    unknown = shown(manager, invite(manager, business, "nobody@example.com"))
    assert [m.replace("bob@", "nobody@") for m in existing] == unknown
    assert len(mailoutbox) == 2
    bob.refresh_from_db()
    assert not bob.is_staff and not Membership.objects.filter(user=bob).exists()

    owner = Client()
    page = owner.get(link_in(mailoutbox[0])).content.decode()
    assert "Log in to join" in page and "new_password1" not in page
    wrong = owner.post(
        link_in(mailoutbox[0]), {"action": "login", "username": "bob", "password": "nope"}
    )
    assert wrong.status_code == 200 and not Membership.objects.filter(user=bob).exists()
    joined = owner.post(
        link_in(mailoutbox[0]), {"action": "login", "username": "bob", "password": STRONG}
    )
    assert joined.status_code == 302
    bob.refresh_from_db()
    assert bob.is_staff and Membership.objects.get(user=bob).business == business


def test_the_members_form_takes_no_user_name_and_offers_only_the_manager_s_people(
    member_client, business, rival, client
):
    outsider = get_user_model().objects.create_user("bob", is_staff=False)
    elsewhere = make_member((rival, "viewer"), username="carol")
    colleague = make_member((business, "viewer"), username="dan")
    manager = member_client((business, "manager"), (rival, "viewer"), username="maria")
    form = manager.get("/admin/calls/membership/add/").context["adminform"].form
    offered = set(form.fields["user"].queryset)
    assert colleague in offered and outsider not in offered and elsewhere not in offered
    for username in ("bob", "nobody"):
        response = manager.post(
            "/admin/calls/membership/add/",
            {"username": username, "business": business.pk, "role": "manager"},
        )
        assert "This field is required" in response.content.decode()
    crafted = manager.post(
        "/admin/calls/membership/add/",
        {"user": outsider.pk, "business": business.pk, "role": "manager"},
    )
    assert "Select a valid choice" in crafted.content.decode()
    outsider.refresh_from_db()
    assert not outsider.is_staff and not Membership.objects.filter(user=outsider).exists()


def test_a_manager_adds_a_member_of_one_of_its_businesses_to_another(
    member_client, business, rival
):
    dan = make_member((business, "viewer"), username="dan")
    manager = member_client((business, "manager"), (rival, "manager"), username="maria")
    response = manager.post(
        "/admin/calls/membership/add/", {"user": dan.pk, "business": rival.pk, "role": "operator"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=dan, business=rival).role == "operator"


def test_a_superuser_still_adds_any_account_and_lets_it_in(admin_client, business):
    bob = get_user_model().objects.create_user("bob", is_staff=False)
    response = admin_client.post(
        "/admin/calls/membership/add/", {"user": bob.pk, "business": business.pk, "role": "viewer"}
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.is_staff


def test_an_operator_cannot_invite(member_client, business, mailoutbox):
    operator = member_client((business, "operator"))
    assert invite(operator, business, "ann@example.com").status_code == 403
    assert not Invitation.objects.exists() and mailoutbox == []


def test_a_manager_cannot_invite_to_another_business(manager, rival, mailoutbox):
    response = invite(manager, rival, "ann@example.com", role="manager")
    assert "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.exists() and mailoutbox == []


def test_expired_replaced_and_made_up_links_are_refused(manager, business, mailoutbox):
    invite(manager, business, "ann@example.com")
    invite(manager, business, "ann@example.com", role="operator")
    first, second = (link_in(mail) for mail in mailoutbox)
    assert Client().get(first).status_code == 404  # replaced by the second
    assert Client().get("/admin/invitations/made-up-token/").status_code == 404
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    gone = Client().post(
        second, {"action": "create", "new_password1": STRONG, "new_password2": STRONG}
    )
    assert gone.status_code == 404
    assert not get_user_model().objects.filter(username="ann@example.com").exists()


def test_an_invitation_that_cannot_be_mailed_is_not_stored(manager, business, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr("calls.services.invitations.send_mail", refuse)
    response = invite(manager, business, "ann@example.com")
    assert response.status_code == 302
    assert "could not be mailed" in " ".join(told(response))
    assert not Invitation.objects.exists()


def test_a_manager_reads_its_members_pages_without_django_s_permission_widgets(
    member_client, business, rival, client
):
    ann = make_member((business, "viewer"), (rival, "operator"), username="ann")
    carol = make_member((rival, "viewer"), username="carol")
    manager = member_client((business, "manager"), username="maria")
    listed = {user.username for user in manager.get("/admin/auth/user/").context["cl"].result_list}
    assert listed == {"ann", "maria"}
    page = manager.get(f"/admin/auth/user/{ann.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert business.name in body and rival.name not in body
    for widget in ("user_permissions", "groups", "is_superuser", "is_staff", "password"):
        assert f'name="{widget}"' not in body and f"field-{widget}" not in body
    assert manager.get(f"/admin/auth/user/{carol.pk}/change/").status_code == 302
    changed = manager.post(f"/admin/auth/user/{ann.pk}/change/", {"username": "mine"})
    assert changed.status_code == 403
    assert manager.get(f"/admin/auth/user/{ann.pk}/password/").status_code == 403
    ann.refresh_from_db()
    assert ann.username == "ann"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_people_s_pages_are_for_managers_and_superusers(member_client, business, role):
    assert member_client((business, role)).get("/admin/auth/user/").status_code == 403


def test_a_superuser_sees_every_membership_and_django_s_fields(admin_client, business, rival):
    ann = make_member((business, "viewer"), (rival, "operator"), username="ann")
    body = admin_client.get(f"/admin/auth/user/{ann.pk}/change/").content.decode()
    assert business.name in body and rival.name in body
    assert 'name="is_superuser"' in body
