"""Where a webhook may go (webhooks/targets.py): public addresses only, judged against IANA's
special-purpose registries rather than the interpreter's tables, however the address is written;
https on an allowed port; a host that resolves in bounded time; and a refusal that never says
what the host resolved to. Private targets and plain http only when allowed."""

import ipaddress
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from hypothesis import example, given
from hypothesis import strategies as st

from webhooks.targets import TargetRefused, address_is_public, target_resolve, validate_webhook_url

# The IANA IPv4 Special-Purpose Address Registry's blocks (and multicast), written out here
# from the registry rather than imported, so the test checks the list the code keeps.
SPECIAL_IPV4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.0.0.170/32",
    "192.0.0.171/32",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
]
# The IANA IPv6 Special-Purpose Address Registry's blocks, and what lies outside 2000::/3.
SPECIAL_IPV6 = [
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001::/32",
    "2001:1::1/128",
    "2001:1::2/128",
    "2001:1::3/128",
    "2001:2::/48",
    "2001:3::/32",
    "2001:4:112::/48",
    "2001:10::/28",
    "2001:20::/28",
    "2001:30::/28",
    "2001:db8::/32",
    "2002::/16",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "::/96",
    "4000::/3",
]


def spellings(ip: ipaddress.IPv4Address) -> dict[str, str]:
    """The IPv6 forms that carry an IPv4 address."""
    v4 = int(ip)
    return {
        "mapped": str(ipaddress.IPv6Address((0xFFFF << 32) | v4)),
        "nat64": str(ipaddress.IPv6Address((0x64FF9B << 96) | v4)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (v4 << 80) | 1)),
        # Teredo: the server's address in bits 32-63, the client's inverted in the last 32.
        "teredo server": str(ipaddress.IPv6Address((0x20010000 << 96) | (v4 << 64))),
        "teredo client": str(ipaddress.IPv6Address((0x20010000 << 96) | (v4 ^ 0xFFFFFFFF))),
    }


@pytest.fixture(autouse=True)
def production(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOWED_PORTS = [443]
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0


@given(st.sampled_from(SPECIAL_IPV4).flatmap(lambda net: st.ip_addresses(network=net)))
@example(ipaddress.IPv4Address("192.0.0.8"))  # public to Python 3.11.7's tables
@example(ipaddress.IPv4Address("10.0.0.1"))  # private, but public to them inside 6to4
def test_no_address_of_an_ipv4_special_purpose_block_is_public_however_spelled(ip):
    assert not address_is_public(str(ip))
    for form, address in spellings(ip).items():
        assert not address_is_public(address), form


@given(st.sampled_from(SPECIAL_IPV6).flatmap(lambda net: st.ip_addresses(network=net)))
@example(ipaddress.IPv6Address("3fff::1"))
def test_no_address_of_an_ipv6_special_purpose_block_is_public(ip):
    assert not address_is_public(str(ip))


@pytest.mark.parametrize(
    "address",
    ["192.0.0.100", "192.88.99.1", "2002:808:808::1", "3fff::1", "2001:4:112::1"],
)
def test_the_blocks_python_3_11_takes_for_public_are_refused(address):
    assert not address_is_public(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_internet_addresses_are_public_and_nat64_is_judged_by_the_ipv4_address_it_carries(address):
    assert address_is_public(address)


def test_ipv4_inside_mapped_6to4_and_teredo_is_refused_even_when_public():
    forms = spellings(ipaddress.IPv4Address("8.8.8.8"))
    assert address_is_public(forms.pop("nat64"))
    assert not any(address_is_public(address) for address in forms.values())


def test_the_verdict_does_not_read_the_interpreters_tables(monkeypatch):
    def unread(self):
        raise AssertionError("the interpreter's address tables were read")

    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in ("is_global", "is_private", "is_reserved", "is_loopback", "is_link_local"):
            monkeypatch.setattr(cls, name, property(unread))
    assert address_is_public("8.8.8.8")
    assert not address_is_public("192.0.0.100")
    assert not address_is_public("2002:7f00:1::1")


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/hook",
        "https://127.0.0.1/hook",
        "https://127.1/hook",
        "https://0x7f000001/hook",
        "https://2130706433/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hook",
        "https://0.0.0.0/hook",
        "https://[2002:7f00:1::1]/hook",
        "https://192.0.0.100/hook",
    ],
)
def test_a_url_reaching_this_host_or_its_network_is_refused(url):
    with pytest.raises(TargetRefused, match="public"):
        target_resolve(url)
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


def test_a_refusal_never_names_what_the_host_resolved_to(monkeypatch):
    def resolve(host, port, **kwargs):
        if host == "intranet.example.com":
            return [(2, 1, 6, "", ("10.20.30.40", port))]
        raise OSError("Name or service not known")

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    with pytest.raises(TargetRefused) as internal:
        target_resolve("https://intranet.example.com/calls")
    with pytest.raises(TargetRefused) as missing:
        target_resolve("https://missing.example.com/calls")
    assert "10.20.30.40" not in str(internal.value)
    # The same answer as for a host that does not resolve: no oracle for internal names.
    assert str(internal.value) == str(missing.value).replace("missing", "intranet")
    assert "must resolve to public internet addresses" in str(internal.value)


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    answers = [(2, 1, 6, "", ("8.8.8.8", 443)), (2, 1, 6, "", ("192.168.1.5", 443))]
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(TargetRefused, match="hooks.example.com must resolve") as refused:
        target_resolve("https://hooks.example.com/calls")
    assert "192.168" not in str(refused.value)


def test_a_host_that_does_not_resolve_in_time_is_refused_within_the_bound(monkeypatch):
    released = threading.Event()

    def hanging(*args, **kwargs):
        released.wait(30)  # a resolver whose server never answers
        raise OSError("timed out")

    monkeypatch.setattr("socket.getaddrinfo", hanging)
    started = time.monotonic()
    try:
        with pytest.raises(TargetRefused, match="did not resolve within 0.5 s"):
            target_resolve("https://slow-dns.example.com/calls", resolve_seconds=0.5)
        assert time.monotonic() - started < 1.5
        # On save, the bound is WEBHOOK_TIMEOUT_SECONDS.
        from django.conf import settings

        settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
        started = time.monotonic()
        with pytest.raises(ValidationError, match="did not resolve within 0.3 s"):
            validate_webhook_url("https://slow-dns.example.com/calls")
        assert time.monotonic() - started < 1.5
    finally:
        released.set()


def test_a_public_https_url_is_accepted_with_its_checked_addresses():
    target = target_resolve("https://8.8.8.8/calls?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "8.8.8.8",
        443,
        "/calls?x=1",
    )
    assert target.addresses == ("8.8.8.8",)


def test_only_the_allowed_ports_are_accepted(settings):
    with pytest.raises(TargetRefused, match="port must be 443 \\(not 8443\\)"):
        target_resolve("https://8.8.8.8:8443/calls")
    with pytest.raises(TargetRefused, match="port must be 443 \\(not 25\\)"):
        target_resolve("https://8.8.8.8:25/calls")
    assert target_resolve("https://8.8.8.8:443/calls").port == 443
    settings.WEBHOOK_ALLOWED_PORTS = [443, 8443]
    assert target_resolve("https://8.8.8.8:8443/calls").port == 8443
    with pytest.raises(TargetRefused, match="port must be 443, 8443"):
        target_resolve("https://8.8.8.8:8080/calls")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://8.8.8.8/hook", "must be https"),
        ("ftp://8.8.8.8/hook", "must start with https://"),
        ("https://user:pw@8.8.8.8/hook", "user name or password"),
        ("https:///hook", "no host"),
        ("https://8.8.8.8:99999/hook", "Not a valid URL"),
        ("https://no-such-host.invalid/hook", "must resolve to public internet addresses"),
    ],
)
def test_a_url_that_is_not_https_to_a_resolvable_host_is_refused_with_the_reason(url, says):
    with pytest.raises(TargetRefused, match=says):
        target_resolve(url)


def test_development_allows_plain_http_private_targets_and_any_port(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    target = target_resolve("http://localhost:8000/hook")
    assert target.addresses[0] in ("127.0.0.1", "::1")
    assert target.port == 8000


def test_check_deploy_warns_when_production_allows_http_or_private_targets(settings):
    from webhooks.checks import webhook_targets_check

    settings.DEBUG = False
    assert webhook_targets_check(None) == []
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert [w.id for w in webhook_targets_check(None)] == ["webhooks.W001", "webhooks.W002"]
    settings.DEBUG = True
    assert webhook_targets_check(None) == []
