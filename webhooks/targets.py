"""Where a webhook may be sent: no server-side request forgery.

A business's URL must be https (http only with WEBHOOK_ALLOW_HTTP) and its host must resolve
only to public addresses: not loopback, private, link-local, shared (CGNAT), multicast,
reserved or unspecified, however the address is written (`127.1`, `0x7f000001`, an IPv4-mapped
IPv6 address), unless WEBHOOK_ALLOW_PRIVATE_TARGETS (development and tests). It is checked when
the URL is saved and again before every delivery, since DNS can change; the delivery then
connects to an address checked here, never to a second lookup's answer.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

# NAT64 maps every IPv4 address into this prefix: what it embeds is what gets reached.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query
    addresses: tuple[str, ...]


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def target_resolve(url: str) -> Target:
    """The URL's target with the addresses it may be reached at; TargetRefused says why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"Not a valid URL: {error}.") from None
    if parts.scheme not in ("https", "http"):
        raise TargetRefused("The URL must start with https://.")
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise TargetRefused("The URL must be https (plain http is for development only).")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL must not carry a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"The host {parts.hostname} does not resolve.") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in found))
    if not addresses:
        raise TargetRefused(f"The host {parts.hostname} does not resolve.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        refused = [a for a in addresses if not address_is_public(a)]
        if refused:
            raise TargetRefused(
                f"The host {parts.hostname} resolves to {refused[0]}, which is not a public "
                "address: webhooks go only to public internet addresses."
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses)


def validate_webhook_url(value: str) -> None:
    """The model field's validator: the same rules as at send time."""
    if not value:
        return
    try:
        target_resolve(value)
    except TargetRefused as error:
        raise ValidationError(str(error), code="webhook_target") from None
