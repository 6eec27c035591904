"""Making, revoking and checking API keys, and the per-key throttle.

A key is `cq_` and 40 random URL-safe characters (240 bits): with that much entropy a plain
sha256 is enough to store it (a slow hash defends guessable passwords, not random keys), and it
lets a request find its key by one indexed lookup.
"""

import hashlib
import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from api.models import ApiKey

KEY_PREFIX = "cq_"
# The longest a presented key may be; anything longer is not one of ours.
KEY_MAX_LENGTH = 100


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, business, name: str = "", created_by=None) -> tuple[ApiKey, str]:
    """A new key for `business`: the row, and the key itself, which is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    row = ApiKey.objects.create(
        business=business,
        name=name,
        prefix=key[:11],
        secret_hash=key_hash(key),
        created_by=created_by,
    )
    return row, key


def api_keys_revoke(*, key_ids) -> int:
    """Revokes the keys not revoked yet; how many it revoked. A revoked key answers 401."""
    return ApiKey.objects.filter(pk__in=list(key_ids), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def api_key_find(*, key: str) -> ApiKey | None:
    """The live key `key` is, with its business; None for an unknown or revoked one."""
    if not key or len(key) > KEY_MAX_LENGTH or not key.isascii():
        return None
    return (
        ApiKey.objects.select_related("business")
        .filter(secret_hash=key_hash(key), revoked_at__isnull=True)
        .first()
    )


@dataclass(frozen=True)
class ThrottleVerdict:
    allowed: bool
    retry_after: int = 0


def api_key_throttle(*, api_key: ApiKey) -> ThrottleVerdict:
    """Counts one request against the key's API_RATE_PER_MINUTE, in a fixed one-minute window.

    The count lives on the key's row and moves by conditional UPDATEs, so the limit holds across
    every web process and host (a per-process cache would multiply it by their number): the
    first UPDATE counts within the current window while under the limit; the second starts a
    new window; when neither matches, the window is full. Each is one conditional UPDATE, so
    racing requests never count past the limit.
    """
    now = time.time()
    window = int(now // 60)
    limit = settings.API_RATE_PER_MINUTE
    rows = ApiKey.objects.filter(pk=api_key.pk)
    stamp = timezone.now()

    def count_in_window() -> int:
        return rows.filter(throttle_window=window, throttle_count__lt=limit).update(
            throttle_count=F("throttle_count") + 1, last_used_at=stamp
        )

    def window_start() -> int:
        return rows.filter(throttle_window__lt=window).update(
            throttle_window=window, throttle_count=1, last_used_at=stamp
        )

    # The second count_in_window: another request may have started the window between ours.
    counted = count_in_window() or window_start() or count_in_window()
    if counted:
        return ThrottleVerdict(True)
    return ThrottleVerdict(False, retry_after=max(1, math.ceil((window + 1) * 60 - now)))
