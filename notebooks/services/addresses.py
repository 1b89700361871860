"""Which network addresses URL ingestion may connect to (the SSRF guard's policy).

A URL comes from a user, and the worker that fetches it sits inside the
deployment's network: next to Redis, the database, the cloud metadata service.
So only public (globally routable) addresses are allowed, unless the address —
or the exact address and port — is listed in
``NOTEBOOKS_FETCH_ALLOWED_ADDRESSES`` (the demo and the tests list their own
local site there, nothing else).

The verdict is given on the address a socket is about to connect to, never on
a host name, so a name that resolves differently on a second lookup (DNS
rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from .. import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(Exception):
    """The address is not one URL ingestion may connect to."""


def _parse_entry(entry: str) -> tuple[IPNetwork, int | None]:
    """``"10.0.0.0/8"``, ``"127.0.0.1"``, ``"127.0.0.1:8080"`` or ``"[::1]:8080"``."""
    text = entry.strip()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        text, port = host, int(rest.lstrip(":")) if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        text, port = host, int(port_text)
    return ipaddress.ip_network(text, strict=False), port


@lru_cache(maxsize=8)
def _allowed(entries: tuple[str, ...]) -> tuple[tuple[IPNetwork, int | None], ...]:
    return tuple(_parse_entry(entry) for entry in entries)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local (metadata), shared, reserved or multicast."""
    address = _unmapped(address)
    return address.is_global and not address.is_multicast


def check(ip: str, port: int) -> None:
    """Raise :class:`RefusedAddress` unless URL ingestion may connect to ``ip``:``port``."""
    address = _unmapped(ipaddress.ip_address(ip.split("%", 1)[0]))
    if not conf.get("NOTEBOOKS_FETCH_BLOCK_PRIVATE_ADDRESSES") or is_public(address):
        return
    for network, allowed_port in _allowed(tuple(conf.get("NOTEBOOKS_FETCH_ALLOWED_ADDRESSES"))):
        if address in network and allowed_port in (None, port):
            return
    raise RefusedAddress(f"{address} is a non-public address (loopback, private, link-local or reserved)")
