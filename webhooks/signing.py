"""Standard Webhooks signing (https://www.standardwebhooks.com/), with the `standardwebhooks`
package: the secret's `whsec_<base64>` form and the three headers a receiver verifies."""

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_headers(*, secret: str, webhook_id: str, body: str, at: datetime) -> dict[str, str]:
    """The headers of one delivery attempt. The timestamp is the attempt's (receivers refuse
    one more than five minutes off), so every retry is signed again, with the same id."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "calls-webhooks/1",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }
