"""`Idempotency-Key` on a POST: the first answer is stored with the key (per API key), and a
retry with the same key and body gets that answer again (same status, same body) instead of
acting twice; the same key with another body is refused (422). Records expire after
API_IDEMPOTENCY_HOURS (the cleanup deletes them); an expired key acts anew. Requests refused
before the endpoint runs (401, 429, a body that does not validate) store nothing."""

import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.errors import ApiError
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# Printable ASCII, as the IETF draft's examples and every client library use.
KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")


def idempotent(request, body: dict, act) -> tuple[int, dict]:
    """Runs `act()` (→ (status, body), or raises ApiError) once per Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        return act()
    if not KEY_FORMAT.fullmatch(key):
        raise ApiError.invalid(HEADER, "1 to 255 printable ASCII characters, no spaces.")
    api_key = request.auth
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.path, body], sort_keys=True).encode()
    ).hexdigest()
    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    # An expired record the cleanup has not deleted yet would block this key's new one.
    IdempotencyRecord.objects.filter(api_key=api_key, key=key, created_at__lt=cutoff).delete()
    found = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
    if found is None:
        try:
            # The work and its record commit together: of two racing retries, the second's
            # INSERT waits for the first and fails, and its work is rolled back with it.
            with transaction.atomic():
                try:
                    status, answer = act()
                except ApiError as error:
                    status, answer = error.status, error.body()
                IdempotencyRecord.objects.create(
                    api_key=api_key,
                    key=key,
                    request_hash=fingerprint,
                    status_code=status,
                    response_body=answer,
                )
            return status, answer
        except IntegrityError:
            found = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
            if found is None:
                raise
    if found.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency-key-reused",
            f"{HEADER} {key!r} was used for another request; use a new key for a new request.",
        )
    return found.status_code, found.response_body
