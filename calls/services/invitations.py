"""Inviting a person to a business by e-mail, and their accepting it.

A manager never picks an account: the invitation goes to an address, and becomes a membership
only when the person there accepts it, by setting the password of a new account (its user name
is the address) or by logging in to theirs. The manager sees the same "invitation sent" whether
or not an account uses the address, so an invitation tells nothing about which accounts exist,
and no manager can make someone else's account staff. The link carries a random token; only its
hash is kept, and it works once, for INVITATION_DAYS.
"""

import hashlib
import secrets
import smtplib
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from calls.tenancy import Invitation, Membership

INVITATION_DAYS = 7


class InvitationGone(Exception):
    """Accepted already, or expired: nothing was changed."""


class InvitationNotSent(Exception):
    """The mail could not be sent: nothing was stored."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_send(*, business, email: str, role: str, invited_by, site_url: str) -> Invitation:
    """Stores an invitation and mails its link (the console prints it in development); raises
    InvitationNotSent, and stores nothing, when the mail cannot be sent. A new invitation to
    the same address and business replaces a pending one (its link stops working)."""
    email = email.strip().lower()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        Invitation.objects.filter(business=business, email=email, accepted_at__isnull=True).delete()
        invitation = Invitation.objects.create(
            business=business,
            email=email,
            role=role,
            invited_by=invited_by,
            invited_by_name=invited_by.get_username() if invited_by else "",
            token_hash=token_hash(token),
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        link = site_url.rstrip("/") + reverse("admin:invitation-accept", args=[token])
        # Inside the transaction: a mail that cannot be sent leaves no invitation behind (a link
        # mailed for an invitation that then failed to commit names no token and does nothing).
        try:
            _invitation_mail(invitation, link)
        except (OSError, smtplib.SMTPException) as error:
            raise InvitationNotSent(
                f"The invitation could not be mailed to {email} ({error}); nothing was stored."
            ) from error
    return invitation


def _invitation_mail(invitation: Invitation, link: str) -> None:
    who = invitation.invited_by_name or "A manager"
    send_mail(
        subject=f"You are invited to {invitation.business.name}",
        message=(
            f"{who} invited you to join {invitation.business.name} as {invitation.role} on "
            f"the outbound calls console.\n\nTo accept, open this link: you set your password "
            f"there, or log in if you have an account already.\n\n{link}\n\n"
            f"It works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC. If you did not "
            "expect it, ignore this e-mail."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_find(*, token: str) -> Invitation | None:
    """The pending, unexpired invitation the link's token names, or None."""
    return (
        Invitation.objects.select_related("business")
        .filter(
            token_hash=token_hash(token),
            accepted_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def account_of(email: str):
    """The active account the address belongs to (as user name or e-mail), if any."""
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(Q(username__iexact=email) | Q(email__iexact=email)).order_by("pk").first()


def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Makes `user` a member of the invitation's business in its role (a member already keeps
    the role it has), lets it into the admin, and spends the invitation. Raises InvitationGone
    if the invitation was accepted meanwhile or has expired."""
    with transaction.atomic():
        spent = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if not spent:
            raise InvitationGone("This invitation was used already or has expired.")
        membership, _ = Membership.objects.get_or_create(
            user=user, business_id=invitation.business_id, defaults={"role": invitation.role}
        )
        if not user.is_staff:
            # The person accepted it themselves: a membership is what lets them into the admin.
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return membership


def invitation_account_create(*, invitation: Invitation, password: str):
    """A new account for the invited address (its user name), with `password` (validated by
    the caller's form), then the invitation accepted by it. Raises InvitationGone, and
    IntegrityError when an account took the name meanwhile."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=invitation.email, email=invitation.email, password=password
        )
        invitation_accept(invitation=invitation, user=user)
    return user
