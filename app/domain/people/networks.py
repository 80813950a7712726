"""Client addresses as the limits see them: one IPv4 address, or one IPv6 /64 (a client with a
/64 may send from any address in it, so counting single IPv6 addresses counts nothing)."""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64
IPV4_NETWORK_PREFIX = 24  # the neighbourhood a sign-in back-off is shared with


def client_key(address: str) -> str:
    """What per-address limits count: the address itself, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def client_network(address: str) -> str:
    """The network a sign-in back-off is kept for: IPv4 /24, IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    v4 = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip
    if v4 is not None:
        return str(ipaddress.ip_network(f"{v4}/{IPV4_NETWORK_PREFIX}", strict=False))
    return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
