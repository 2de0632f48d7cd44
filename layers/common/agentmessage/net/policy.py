"""Which URLs and addresses an outbound request may reach: public hosts, by domain name.

A ``Policy`` is the caller's choice: the schemes allowed (https only by default), how many
redirects to follow (none by default; each to an https URL that passes the same checks), and
whether a target may be this machine (``allow_loopback``, for a developer's receiver on
``http://127.0.0.1:PORT``). Private, link-local, shared, reserved and multicast addresses are
refused whatever the policy.

``check_url`` looks at the URL alone; ``address_allowed`` at each address the host resolves to,
where the connection is made, so a DNS answer that changes between the two cannot get around it.
"""

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

from agentmessage.net.errors import Refused

_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Policy:
    schemes: frozenset[str] = field(default_factory=lambda: frozenset({"https"}))
    max_redirects: int = 0  # followed for GET only, each to an https URL checked like the first
    allow_loopback: bool = False  # 127.0.0.0/8, ::1 and localhost; nothing else that is not global

    def __post_init__(self) -> None:
        if not self.schemes or not self.schemes <= _SCHEMES:
            raise ValueError("schemes must be http and/or https")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")

    def for_redirects(self) -> "Policy":
        """The policy a redirect's target is checked against: this one, https only."""
        return replace(self, schemes=frozenset({"https"}))


def check_url(url: str, policy: Policy) -> None:
    """Refuse a URL that is not of an allowed scheme or does not name a public host by its domain name.

    Under ``allow_loopback``, ``localhost`` and loopback IP literals are allowed too.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        raise Refused("the URL holds whitespace or control characters")
    if not url.isascii():
        # http.client sends the request line as ASCII: a non-ASCII path or query must be
        # percent-encoded, a non-ASCII host written in its xn-- form.
        raise Refused("the URL is not ASCII")
    parts = urlsplit(url)
    if parts.scheme.lower() not in policy.schemes:
        raise Refused(f"not an {' or '.join(sorted(policy.schemes))} URL")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL carries credentials")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise Refused("the URL has an invalid port") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("the URL has no host")
    try:
        # What the resolver and TLS do with the name: an empty label ("a..com") or one longer
        # than 63 characters fails here rather than as a UnicodeError at connect time.
        (parts.hostname or "").encode("idna")
    except UnicodeError:
        raise Refused("the host is not a valid domain name") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if policy.allow_loopback and _is_loopback(literal):
            return
        raise Refused("the host is an IP address, not a domain name")
    if host == "localhost" or host.endswith(".localhost"):
        if policy.allow_loopback:
            return
        raise Refused("the host is local")
    # A public name has a dot and an alphabetic top-level domain; this also refuses the numeric
    # forms a resolver reads as addresses ("2130706433", "0x7f.1", "127.1").
    labels = host.split(".")
    if len(labels) < 2 or not (labels[-1].isalpha() or labels[-1].startswith("xn--")):
        raise Refused("the host is not a public domain name")


def address_allowed(address: str, policy: Policy) -> bool:
    """Whether a resolved address may be connected to: global, or loopback where the policy allows."""
    ip = _unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip.is_global and not ip.is_multicast:
        return True
    return policy.allow_loopback and _is_loopback(ip)


def _unmapped(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return _unmapped(ip).is_loopback  # 127.0.0.0/8 (mapped or not) and ::1
