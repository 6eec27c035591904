"""The only code that sends a webhook over the network, and so the one place tests patch.

The host is resolved and checked (webhooks.targets) at every send, and the connection goes to
the address that was checked, with the host name kept for TLS (SNI, certificate) and the Host
header: a DNS answer that changes between the check and the connect (rebinding) cannot move the
request to an internal address. Redirects are never followed (a 3xx is a failed attempt).

A delivery has one deadline, WEBHOOK_TIMEOUT_SECONDS from its start, for everything: resolving
the host, connecting, the TLS handshake, sending, and reading the status line and headers. The
status decides; the body is never read. A socket timeout alone would not do: it restarts at
every byte, so a receiver that trickles a byte every few seconds would hold the worker for as
long as it liked. A watchdog thread shuts the socket down at the deadline, whatever call is
blocked on it.
"""

import socket
import threading
import time
from dataclasses import dataclass
from http.client import HTTPException

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

from webhooks.targets import Target, TargetRefused, target_resolve

ERROR_MAX_CHARS = 500
# How often the watchdog shuts the socket again past the deadline: the connection may swap its
# socket (TCP, then TLS) while being cut.
CUT_REPEAT_SECONDS = 0.05


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deadline:
    """Shuts the connection's socket down at `at` (time.monotonic()), from a thread of its own,
    until `end()`: a blocked connect, send or read then fails at once."""

    def __init__(self, connection: HTTPConnection, at: float):
        self.connection = connection
        self.at = at
        self.passed = False
        self._ended = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="webhook deadline", daemon=True)
        self._watchdog.start()

    def _watch(self):
        if self._ended.wait(max(0.0, self.at - time.monotonic())):
            return
        self.passed = True
        while not self._ended.is_set():
            sock = self.connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # not connected yet, or already shut
            self._ended.wait(CUT_REPEAT_SECONDS)

    def end(self):
        self._ended.set()
        self._watchdog.join()


def _connection(target: Target, timeout: float) -> HTTPConnection:
    # Each blocking call also times out on its own, so a connect in progress (whose socket the
    # watchdog cannot reach yet) ends by the deadline too.
    if target.scheme == "https":
        return HTTPSConnection(
            target.addresses[0],
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    return HTTPConnection(target.addresses[0], target.port, timeout=timeout)


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
    """POSTs `body` to `url` within WEBHOOK_TIMEOUT_SECONDS in all; never raises for what the
    network or the receiver does."""
    limit = settings.WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    deadline = started + limit
    late = f"No answer within {limit:g} s."

    def result(status_code=None, error=""):
        elapsed = int((time.monotonic() - started) * 1000)
        return DeliveryResult(status_code, error[:ERROR_MAX_CHARS], elapsed)

    try:
        target = target_resolve(url, resolve_seconds=limit)
    except TargetRefused as error:
        return result(error=f"Refused: {error}")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return result(error=late)
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    connection = _connection(target, remaining)
    watchdog = Deadline(connection, deadline)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            preload_content=False,
        )
        response = connection.getresponse()
        return result(status_code=response.status)
    except (urllib3.exceptions.HTTPError, HTTPException, OSError) as error:
        # Past the deadline, whichever ended the call: the watchdog's cut, or (on a loaded
        # machine, before the watchdog's thread ran) the socket's own timeout.
        if watchdog.passed or time.monotonic() >= deadline:
            return result(error=late)
        return result(error=f"{type(error).__name__}: {error}")
    finally:
        watchdog.end()
        connection.close()
