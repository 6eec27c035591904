"""Who may see and do what, per business: a staff user's access comes from its memberships alone.

`businesses_for(user, role)` is the one question every page, action and later interface asks;
`scoped(queryset, user, role, via)` narrows any queryset to the rows of those businesses.
Superusers see everything.
"""

from django.conf import settings
from django.db import models


class Membership(models.Model):
    """A user's role in one business: viewer < operator < manager."""

    class Role(models.TextChoices):
        VIEWER = "viewer"  # reads every page of the business
        OPERATOR = "operator"  # also queues calls, steers campaigns, hangs up, retries
        MANAGER = "manager"  # also the business's settings, campaigns' scripts and members

    RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.MANAGER: 3}

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    business = models.ForeignKey(
        "calls.Business", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # businesses_for: one role per user and business.
            models.UniqueConstraint(fields=["user", "business"], name="one_membership_per_user"),
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.business.name}"

    @classmethod
    def roles_from(cls, role: str) -> list[str]:
        """`role` and the roles above it."""
        return [r for r, rank in cls.RANK.items() if rank >= cls.RANK[role]]


Role = Membership.Role


class Invitation(models.Model):
    """A manager's invitation to join a business in a role, sent to an e-mail address. It
    becomes a membership only when the person at that address accepts it (setting a password
    for a new account, or logging in to theirs): so a manager never turns an existing account
    into staff, nor learns whether one exists. Only a hash of the link's token is kept."""

    business = models.ForeignKey(
        "calls.Business", on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(help_text="Where the invitation goes.")
    role = models.CharField(max_length=16, choices=Role, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as written, so the list still names someone whose account was removed.
    invited_by_name = models.CharField(max_length=150, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.email} to {self.business.name} as {self.role}"

    @property
    def state(self) -> str:
        from django.utils import timezone

        if self.accepted_at:
            return "accepted"
        return "expired" if self.expires_at <= timezone.now() else "pending"


def is_superuser(user) -> bool:
    return bool(user and user.is_active and user.is_superuser)


def businesses_for(user, role: str = Role.VIEWER):
    """The businesses in which `user` holds `role` or a higher one (every one for a superuser)."""
    from calls.models import Business

    if is_superuser(user):
        return Business.objects.all()
    if not (user and user.is_active and user.is_authenticated):
        return Business.objects.none()
    memberships = Membership.objects.filter(user=user, role__in=Membership.roles_from(role))
    return Business.objects.filter(pk__in=memberships.values("business_id"))


def scoped(queryset, user, *, role: str = Role.VIEWER, via: str = "business"):
    """`queryset` narrowed to rows whose business (reached by `via`) `user` holds `role` in."""
    if is_superuser(user):
        return queryset
    return queryset.filter(**{f"{via}__in": businesses_for(user, role).values("pk")})


def role_in(user, business_id) -> str | None:
    """The user's role in one business: manager for a superuser, None for a non-member."""
    if is_superuser(user):
        return Role.MANAGER
    if not (user and user.is_active and user.is_authenticated) or business_id is None:
        return None
    return (
        Membership.objects.filter(user=user, business_id=business_id)
        .values_list("role", flat=True)
        .first()
    )


def has_role(user, role: str, business_id=None) -> bool:
    """Whether `user` holds `role` (or higher) in that business, or in any when none is given."""
    if business_id is None:
        return businesses_for(user, role).exists()
    held = role_in(user, business_id)
    return held is not None and Membership.RANK[held] >= Membership.RANK[role]
