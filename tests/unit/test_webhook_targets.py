"""Where a webhook may go (webhooks/targets.py): public addresses only, however written, unless
private targets are allowed; https unless plain http is allowed."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from webhooks.targets import TargetRefused, address_is_public, target_resolve, validate_webhook_url

NON_PUBLIC = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]


@pytest.fixture(autouse=True)
def production(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


@given(st.sampled_from(NON_PUBLIC).flatmap(lambda net: st.ip_addresses(network=net)))
def test_no_address_of_a_private_loopback_link_local_multicast_or_reserved_range_is_public(ip):
    assert not address_is_public(str(ip))
    if ip.version == 4:
        # The same address inside IPv6 (mapped, or NAT64) is refused too.
        assert not address_is_public(f"::ffff:{ip}")
        assert not address_is_public(str(ipaddress.IPv6Address(f"64:ff9b::{ip}")))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address):
    assert address_is_public(address)


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
    ],
)
def test_a_url_reaching_this_host_or_its_network_is_refused(url):
    with pytest.raises(TargetRefused, match="not a public address"):
        target_resolve(url)
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


def test_a_host_name_resolving_to_loopback_is_refused(monkeypatch):
    def resolve(host, port, **kwargs):
        assert host == "hooks.example.com"
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    with pytest.raises(TargetRefused, match="hooks.example.com resolves to 127.0.0.1"):
        target_resolve("https://hooks.example.com/calls")


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    answers = [(2, 1, 6, "", ("8.8.8.8", 443)), (2, 1, 6, "", ("192.168.1.5", 443))]
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(TargetRefused, match="192.168.1.5"):
        target_resolve("https://hooks.example.com/calls")


def test_a_public_https_url_is_accepted_with_its_checked_addresses():
    target = target_resolve("https://8.8.8.8:8443/calls?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "8.8.8.8",
        8443,
        "/calls?x=1",
    )
    assert target.addresses == ("8.8.8.8",)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://8.8.8.8/hook", "must be https"),
        ("ftp://8.8.8.8/hook", "must start with https://"),
        ("https://user:pw@8.8.8.8/hook", "user name or password"),
        ("https:///hook", "no host"),
        ("https://8.8.8.8:99999/hook", "Not a valid URL"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_a_url_that_is_not_https_to_a_resolvable_host_is_refused_with_the_reason(url, says):
    with pytest.raises(TargetRefused, match=says):
        target_resolve(url)


def test_development_allows_plain_http_and_private_targets(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert target_resolve("http://localhost:8000/hook").addresses[0] in ("127.0.0.1", "::1")


def test_check_deploy_warns_when_production_allows_http_or_private_targets(settings):
    from webhooks.checks import webhook_targets_check

    settings.DEBUG = False
    assert webhook_targets_check(None) == []
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert [w.id for w in webhook_targets_check(None)] == ["webhooks.W001", "webhooks.W002"]
    settings.DEBUG = True
    assert webhook_targets_check(None) == []
