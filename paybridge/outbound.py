"""Where outgoing requests (webhooks) may go: public unicast addresses only. One rule for both
moments it is applied: when a merchant registers or changes a webhook URL, and again when each
attempt is sent (a name may resolve elsewhere by then).

`PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE=1` switches the rule off, for receivers on a developer's own
machine or network.
"""

from __future__ import annotations

import ipaddress
import os
import socket

ALLOW_PRIVATE_ENV = "PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL points somewhere webhooks may not go (private, loopback, link-local, ...)."""


class HostUnresolvable(AddressRefused):
    """The name does not resolve now (it may later: registration lets it through)."""


_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, and the cloud metadata service at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/3",  # multicast and reserved
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, and AWS's IPv6 metadata service at fd00:ec2::254
        "fe80::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def private_addresses_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"


def is_forbidden_address(address: str | Address) -> bool:
    """True for any address that is not plain public unicast, including IPv4 hidden inside
    IPv6 (mapped, NAT64, 6to4)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_forbidden_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_forbidden_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _6TO4:
            return is_forbidden_address(ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF))
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return True
    return not ip.is_global or ip.is_multicast


def ip_literal(host: str) -> Address | None:
    """`host` as an address when it is written as one (`[::1]` and zone ids included)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` stands for, every one of them public, in resolver order; raises
    `AddressRefused` (or its `HostUnresolvable`) otherwise. A literal address is checked as it
    is; anything else goes through the system resolver, which also reads the other spellings
    of an address that clients accept (`2130706433`, `0x7f.1`, `127.1`) and `localhost`."""
    literal = ip_literal(host)
    if literal is not None:
        if is_forbidden_address(literal):
            raise AddressRefused(f"refused private or reserved address {literal}")
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise HostUnresolvable(f"cannot resolve {host}: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise HostUnresolvable(f"{host} has no address")
    for address in addresses:
        if is_forbidden_address(address):
            raise AddressRefused(f"refused {host}: it resolves to private address {address}")
    return addresses
