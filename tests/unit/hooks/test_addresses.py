"""sqlsync.hooks.addresses: where a hook may send events (the SSRF guard), checked on addresses the real
resolver returns (IP literals and localhost: no network needed)."""

from __future__ import annotations

import ipaddress

import pytest

from sqlsync.hooks.addresses import (
    DestinationRefused,
    HostNotResolved,
    check_address,
    check_host,
    check_url,
    parse_http_url,
)

NEVER_ALLOWED = [
    "169.254.169.254",  # the EC2, ECS and GCP metadata service
    "169.254.0.1",
    "169.254.255.254",
    "fe80::1",
    "fe80::a9fe:a9fe",
    "febf:ffff::1",
    "fd00:ec2::254",  # the EC2 metadata service over IPv6
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::169.254.169.254",  # IPv4-compatible
    "64:ff9b::169.254.169.254",  # NAT64
    "2002:a9fe:a9fe::1",  # 6to4
]

PRIVATE = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private network"),
    ("10.255.255.255", "private network"),
    ("172.16.0.1", "private network"),
    ("172.31.255.255", "private network"),
    ("192.168.1.1", "private network"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private network"),
    ("2002:c0a8:0101::1", "private network"),  # 6to4 of 192.168.1.1
    ("192.0.2.1", "not a publicly routable"),  # documentation
    ("240.0.0.1", "not a publicly routable"),  # reserved
    ("255.255.255.255", "not a publicly routable"),
    ("2001:db8::1", "not a publicly routable"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.1",  # just above
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.1",  # just above
    "169.253.255.255",  # just below 169.254/16
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("address", NEVER_ALLOWED)
def test_link_local_and_metadata_addresses_are_never_allowed(address: str, allow_private: bool) -> None:
    # WHEN the address is checked, even where private destinations are allowed
    with pytest.raises(DestinationRefused, match="never allowed") as refused:
        check_host(address, 80, allow_private=allow_private)

    # THEN the message names the address as the resolver gave it
    assert str(ipaddress.ip_address(address)) in str(refused.value)


@pytest.mark.parametrize(("address", "rule"), PRIVATE)
def test_private_addresses_need_allow_private(address: str, rule: str) -> None:
    # WHEN private destinations are not allowed
    with pytest.raises(DestinationRefused) as refused:
        check_host(address, 80, allow_private=False)

    # THEN the message names the address and the rule that refused it
    message = str(refused.value)
    assert str(ipaddress.ip_address(address)) in message and rule in message
    assert "private destinations are not allowed here" in message

    # WHEN they are, THEN the address is accepted
    assert check_host(address, 80, allow_private=True) == [ipaddress.ip_address(address)]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert check_host(address, 443, allow_private=False) == [ipaddress.ip_address(address)]


def test_a_mapped_address_names_the_ipv4_address_it_leads_to() -> None:
    with pytest.raises(DestinationRefused) as refused:
        check_address(ipaddress.ip_address("::ffff:169.254.169.254"), allow_private=True)

    assert str(refused.value) == (
        "::ffff:a9fe:a9fe carries the IPv4 address 169.254.169.254, which is a link-local address "
        "(where cloud metadata services live): never allowed"
    )


def test_a_name_resolving_to_loopback_needs_allow_private() -> None:
    # WHEN localhost is checked without private destinations
    with pytest.raises(DestinationRefused) as refused:
        check_host("localhost", 8080, allow_private=False)

    # THEN the message says what the name resolved to, and why that is refused
    assert str(refused.value).startswith("localhost resolves to ")
    assert "loopback address: private destinations are not allowed here" in str(refused.value)

    # WHEN they are allowed, THEN every address it resolves to comes back
    addresses = check_host("localhost", 8080, allow_private=True)
    assert addresses and all(address.is_loopback for address in addresses)


def test_a_name_that_does_not_resolve_is_refused_as_unresolved() -> None:
    with pytest.raises(HostNotResolved, match=r"cannot resolve the host nothing\.invalid"):
        check_host("nothing.invalid", 80, allow_private=True)
    assert issubclass(HostNotResolved, DestinationRefused) and issubclass(DestinationRefused, ValueError)


def test_check_url_applies_the_policy_to_the_urls_host() -> None:
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True) == [ipaddress.ip_address("127.0.0.1")]
    assert check_url("https://[2606:4700:4700::1111]/", allow_private=False) == [
        ipaddress.ip_address("2606:4700:4700::1111")
    ]
    with pytest.raises(DestinationRefused, match="never allowed"):
        check_url("http://169.254.169.254/latest/meta-data/", allow_private=True)
    with pytest.raises(DestinationRefused, match="never allowed"):
        check_url("http://[::ffff:169.254.169.254]/", allow_private=True)
    with pytest.raises(DestinationRefused, match="loopback"):
        check_url("http://localhost:9000/", allow_private=False)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/", "must start with http:// or https://, not ftp"),
        ("file:///etc/passwd", "must start with http:// or https://, not file"),
        ("gopher://127.0.0.1:6379/", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://, not nothing"),
        ("http://", "has no host"),
        ("http:///hook", "has no host"),
        ("http://user:pass@example.com/", "must not contain a user name or password"),
        ("https://token@example.com/", "must not contain a user name or password"),
        ("http://example.com:99999/", "port must be a number from 1 to 65535"),
        ("http://example.com:0/", "port must be a number from 1 to 65535, not 0"),
        ("http://[::1/hook", "not valid"),
        ("http://example.com/a b", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ],
)
def test_urls_the_sender_would_not_send_to_are_refused(url: str, says: str) -> None:
    with pytest.raises(DestinationRefused, match=says):
        check_url(url, allow_private=True)


def test_a_url_is_taken_apart_for_the_request() -> None:
    destination = parse_http_url("https://Hooks.Example.COM/in/abc?tenant=7#ignored")
    assert (destination.scheme, destination.host, destination.port) == ("https", "hooks.example.com", 443)
    assert destination.target == "/in/abc?tenant=7"
    assert destination.authority == "hooks.example.com"

    ipv6 = parse_http_url("http://[::1]:8080")
    assert (ipv6.host, ipv6.port, ipv6.target, ipv6.authority) == ("::1", 8080, "/", "[::1]:8080")

    assert parse_http_url("http://example.com:80/").authority == "example.com"
    assert parse_http_url("https://example.com:8443/").authority == "example.com:8443"
    assert parse_http_url("https://bücher.example/").host == "xn--bcher-kva.example"
