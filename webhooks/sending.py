"""The only code that sends a webhook over the network, and so the one place tests patch.

The host is resolved and checked (webhooks.targets) at every send, and the connection goes to
the address that was checked, with the host name kept for TLS (SNI, certificate) and the Host
header: a DNS answer that changes between the check and the connect (rebinding) cannot move the
request to an internal address. Redirects are never followed (a 3xx is a failed attempt).
"""

import time
from dataclasses import dataclass

import urllib3
from django.conf import settings

from webhooks.targets import TargetRefused, target_resolve

ERROR_MAX_CHARS = 500


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
    """POSTs `body` to `url`; never raises for what the network or the receiver does."""
    started = time.monotonic()

    def result(status_code=None, error=""):
        elapsed = int((time.monotonic() - started) * 1000)
        return DeliveryResult(status_code, error[:ERROR_MAX_CHARS], elapsed)

    try:
        target = target_resolve(url)
    except TargetRefused as error:
        return result(error=f"Refused: {error}")
    timeout = urllib3.Timeout(
        connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS
    )
    options = {"timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.addresses[0],
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.addresses[0], target.port, **options)
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        # Only the status counts; a little of the body is read so the connection ends cleanly.
        response.read(1024)
        response.release_conn()
        return result(status_code=response.status)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return result(error=f"{type(error).__name__}: {error}")
    finally:
        pool.close()
