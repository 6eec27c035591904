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
