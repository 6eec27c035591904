"""Where a webhook may be sent: no server-side request forgery.

A business's URL must be https (http only with WEBHOOK_ALLOW_HTTP), on a port of
WEBHOOK_ALLOWED_PORTS (443), and its host must resolve, within a bounded time, only to public
addresses: none in a block of IANA's special-purpose registries, however the address is written
(`127.1`, `0x7f000001`, inside IPv6), unless WEBHOOK_ALLOW_PRIVATE_TARGETS (development and
tests), which lifts the address and port rules. It is checked when the URL is saved and again
before every delivery, since DNS can change; the delivery then connects to an address checked
here, never to a second lookup's answer.

The verdict never depends on the interpreter's `ipaddress` tables (`is_global`, `is_private`
change between Python releases: 3.11.7 takes 192.0.0.0/24 and 6to4 for public): membership in
the blocks below is plain arithmetic. And a refusal never names what a host resolved to: a
manager could otherwise read this network's internal DNS through the error (split horizon).
"""

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)


def _networks(*blocks: str) -> tuple:
    return tuple(ipaddress.ip_network(block) for block in blocks)


# IANA IPv4 Special-Purpose Address Registry (RFC 6890, BCP 153;
# https://www.iana.org/assignments/iana-ipv4-special-registry/), every block, whatever its
# "Globally Reachable" column says (PCP and TURN anycast, AS112, AMT): a business's receiver
# never lives in one. Plus multicast, from IANA's IPv4 Multicast Address Space Registry.
SPECIAL_IPV4 = _networks(
    "0.0.0.0/8",  # "this network" (0.0.0.0/32: this host)
    "10.0.0.0/8",  # private use, RFC 1918
    "100.64.0.0/10",  # shared address space (carrier-grade NAT), RFC 6598
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link local (cloud metadata services live here)
    "172.16.0.0/12",  # private use
    "192.0.0.0/24",  # IETF protocol assignments (192.0.0.0/29 DS-Lite, .8, .9, .10, .170/31)
    "192.0.2.0/24",  # documentation, TEST-NET-1
    "192.31.196.0/24",  # AS112-v4
    "192.52.193.0/24",  # AMT
    "192.88.99.0/24",  # deprecated 6to4 relay anycast, RFC 7526
    "192.168.0.0/16",  # private use
    "192.175.48.0/24",  # direct delegation AS112 service
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation, TEST-NET-2
    "203.0.113.0/24",  # documentation, TEST-NET-3
    "224.0.0.0/4",  # multicast (not unicast at all)
    "240.0.0.0/4",  # reserved, and 255.255.255.255/32 limited broadcast within it
)
# IANA IPv6 Special-Purpose Address Registry (RFC 6890;
# https://www.iana.org/assignments/iana-ipv6-special-registry/), every block. Teredo
# (2001::/32, inside 2001::/23) and 6to4 (2002::/16) embed IPv4 addresses (Teredo its server's
# and its client's, 6to4 the site's): both are deprecated transition schemes no receiver uses,
# so they are refused whole rather than judged by what they embed.
SPECIAL_IPV6 = _networks(
    "::/128",  # unspecified
    "::1/128",  # loopback
    "::ffff:0:0/96",  # IPv4-mapped: refused whole, however public the IPv4 inside
    "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation, RFC 8215
    "100::/64",  # discard only
    "100:0:0:1::/64",  # dummy prefix, RFC 9780
    "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, AMT, AS112, ORCHID, DETs
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4
    "2620:4f:8000::/48",  # direct delegation AS112 service
    "3fff::/20",  # documentation, RFC 9637
    "5f00::/16",  # SRv6 segment identifiers, RFC 9602
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local unicast
)
# IANA's IPv6 Address Space registry allocates only 2000::/3 as global unicast; the rest is
# reserved, unique local, link-local or multicast. Anything outside it is refused, so a block
# IANA reserves later is refused before this list learns of it.
GLOBAL_UNICAST_IPV6 = ipaddress.ip_network("2000::/3")
# The well-known NAT64 prefix (RFC 6052) is globally reachable in the registry: an IPv6-only
# host reaches every IPv4 receiver through it (DNS64). What it embeds is what gets reached, so
# the embedded IPv4 address is judged instead.
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
    if ip.version == 6 and ip in NAT64:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.version == 6:
        return ip in GLOBAL_UNICAST_IPV6 and not any(ip in block for block in SPECIAL_IPV6)
    return not any(ip in block for block in SPECIAL_IPV4)


def host_resolve(host: str, port: int, *, seconds: float) -> list[str]:
    """The host's addresses, or TargetRefused past `seconds`. getaddrinfo has no timeout and
    blocks in C (the resolver's retries can take tens of seconds), so it runs in a thread of
    its own that is abandoned when late; it ends when the resolver gives up."""
    found: list = []

    def lookup():
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            found.append(error)

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(max(0.0, seconds))
    if not found:
        raise TargetRefused(f"The host {host} did not resolve within {seconds:.1f} s.")
    if isinstance(found[0], Exception):
        return []
    return list(dict.fromkeys(info[4][0] for info in found[0]))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def target_resolve(url: str, *, resolve_seconds: float | None = None) -> Target:
    """The URL's target with the addresses it may be reached at; TargetRefused says why not.
    Resolving takes at most `resolve_seconds` (default WEBHOOK_TIMEOUT_SECONDS)."""
    if resolve_seconds is None:
        resolve_seconds = settings.WEBHOOK_TIMEOUT_SECONDS
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
    open_network = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    allowed_ports = settings.WEBHOOK_ALLOWED_PORTS
    if not open_network and port not in allowed_ports:
        ports = ", ".join(str(p) for p in allowed_ports)
        raise TargetRefused(f"The URL's port must be {ports} (not {port}).")
    host = parts.hostname
    addresses = host_resolve(host, port, seconds=resolve_seconds)
    refused = [a for a in addresses if not address_is_public(a)]
    if not addresses or (refused and not open_network):
        # One answer for "does not resolve" and "resolves to an internal address", without the
        # address: otherwise the error tells a manager what this network's DNS says.
        logger.info("Webhook host %s refused: it resolves to %s", host, addresses or "nothing")
        if _is_address(host):
            raise TargetRefused(
                f"{host} is not a public address: webhooks go only to public internet addresses."
            )
        raise TargetRefused(
            f"The host {host} must resolve to public internet addresses, and only to them."
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(addresses))


def validate_webhook_url(value: str) -> None:
    """The model field's validator: the same rules as at send time."""
    if not value:
        return
    try:
        target_resolve(value)
    except TargetRefused as error:
        raise ValidationError(str(error), code="webhook_target") from None
