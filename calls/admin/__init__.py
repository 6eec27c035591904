"""The operators' admin, one module per part; `scoping` is the mechanism every part uses.

Admins of other apps (the task queue, login throttling, accounts) are for superusers only:
a member's access comes from its memberships, never from Django's per-model permissions.
`calls.admin_site.OperatorsAdminConfig` makes them so once every app has registered its own.
"""

from calls.admin import (  # noqa: F401
    audit,
    businesses,
    caller_numbers,
    calls,
    campaigns,
    do_not_call,
    invitations,
    memberships,
    people,
)
