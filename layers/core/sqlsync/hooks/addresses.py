"""Where a hook may send events: the guard against server-side request forgery.

A hook's destination is typed by a user, and the dispatcher connects to it from inside the platform's
network. Without a guard, a URL could reach the cloud metadata service (instance credentials), or services
that only trust the private network. The rules:

* never: link-local addresses (169.254.0.0/16 and fe80::/10, where the metadata services live) and the
  AWS metadata service's IPv6 address, fd00:ec2::254;
* only where private destinations are allowed (`allow_private`, the hook_allow_private_destinations
  setting: local development, a receiver inside the VPC): loopback, private networks (RFC 1918),
  carrier-grade NAT, IPv6 unique-local, unspecified, multicast, and any other address that is not
  publicly routable.

An IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::) is judged by the IPv4 address too: that is where it leads.

A name is judged by every address it resolves to, when the hook is saved and again before each delivery
(DNS may have changed since); the sender then connects to the checked address, not to the name again.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_Rule = tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


_NEVER: tuple[_Rule, ...] = (
    ("a link-local address (where cloud metadata services live)", _networks("169.254.0.0/16", "fe80::/10")),
    ("the AWS metadata service's IPv6 address", _networks("fd00:ec2::254/128")),
)
_PRIVATE: tuple[_Rule, ...] = (
    ("a loopback address", _networks("127.0.0.0/8", "::1/128")),
    ("an unspecified address", _networks("0.0.0.0/8", "::/128")),
    ("a private network address (RFC 1918)", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("a carrier-grade NAT address (RFC 6598)", _networks("100.64.0.0/10")),
    ("an IPv6 unique-local address", _networks("fc00::/7")),
    ("a multicast address", _networks("224.0.0.0/4", "ff00::/8")),
)
_NOT_PUBLIC = "not a publicly routable address"
_PRIVATE_ONLY = "private destinations are not allowed here"

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class DestinationRefused(ValueError):
    """A hook destination the address policy refuses; the message is meant for the user who typed it."""


class HostNotResolved(DestinationRefused):
    """The host name does not resolve. Refused when a hook is saved; worth a retry when delivering (DNS may
    be failing for a moment)."""


@dataclass(frozen=True)
class HttpDestination:
    """An http(s) URL taken apart the way the sender needs it."""

    scheme: str
    host: str
    """The host name (IDNA-encoded, lower case) or IP address, without brackets."""
    port: int
    target: str
    """The request target: path and query, at least "/"."""
    authority: str
    """The Host header: the host (bracketed when IPv6), and the port when it is not the scheme's default."""


def parse_http_url(url: str) -> HttpDestination:
    """Take an http(s) URL apart, refusing anything the sender would not send to as typed: another scheme,
    no host, credentials in the URL (they belong in headers, where they are kept secret), a bad port."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise DestinationRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6 address
        raise DestinationRefused(f"the URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused(f"the URL must start with http:// or https://, not {scheme or 'nothing'}")
    if "@" in parts.netloc:
        raise DestinationRefused("the URL must not contain a user name or password: send credentials in headers")
    if not parts.hostname:
        raise DestinationRefused("the URL has no host")
    default_port = 443 if scheme == "https" else 80
    try:
        port = default_port if parts.port is None else parts.port
    except ValueError:
        raise DestinationRefused("the URL's port must be a number from 1 to 65535") from None
    if port == 0:
        raise DestinationRefused("the URL's port must be a number from 1 to 65535, not 0")
    host = _ascii_host(parts.hostname)
    literal = _literal_address(host)
    bracketed = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HttpDestination(
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        authority=bracketed if port == default_port else f"{bracketed}:{port}",
    )


def check_url(url: str, allow_private: bool) -> list[IPAddress]:
    """The addresses an http(s) URL leads to, all allowed; else DestinationRefused saying why."""
    destination = parse_http_url(url)
    return check_host(destination.host, destination.port, allow_private)


def check_host(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """Resolve the host and check every address it resolves to: one refused address refuses the host, since
    the connection could go to any of them. Returns the addresses in the resolver's order."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        raise HostNotResolved(f"cannot resolve the host {host}: {reason}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostNotResolved(f"the host {host} resolves to no address")
    for address in addresses:
        check_address(address, allow_private, host=host)
    return addresses


def check_address(address: IPAddress, allow_private: bool, host: str | None = None) -> None:
    """Refuse an address the policy forbids: DestinationRefused naming the address (and the host it came
    from) and the rule."""
    embedded = _embedded_ipv4(address)
    candidates = (address, embedded) if embedded is not None else (address,)
    for candidate in candidates:
        rule = _matching_rule(_NEVER, candidate)
        if rule:
            raise DestinationRefused(_refusal(address, candidate, host, rule, "never allowed"))
    if allow_private:
        return
    for candidate in candidates:
        rule = _matching_rule(_PRIVATE, candidate)
        if rule:
            raise DestinationRefused(_refusal(address, candidate, host, rule, _PRIVATE_ONLY))
    judged = embedded if embedded is not None else address
    if not judged.is_global:
        raise DestinationRefused(_refusal(address, judged, host, _NOT_PUBLIC, _PRIVATE_ONLY))


def _matching_rule(rules: tuple[_Rule, ...], address: IPAddress) -> str | None:
    for description, networks in rules:
        if any(address.version == network.version and address in network for network in networks):
            return description
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to, when it carries one."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refusal(address: IPAddress, candidate: IPAddress, host: str | None, rule: str, consequence: str) -> str:
    named = host is not None and _literal_address(host) is None
    text = f"{host} resolves to {address}, which" if named else str(address)
    if candidate != address:
        text += f" carries the IPv4 address {candidate}, which"
    return f"{text} is {rule}: {consequence}"


def _ascii_host(hostname: str) -> str:
    if _literal_address(hostname) is not None or hostname.isascii():
        return hostname
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise DestinationRefused(f"the host name {hostname} is not a valid internationalized name") from None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
