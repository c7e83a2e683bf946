"""The address guard judges IPv4 embedded in IPv6 by that IPv4: NAT64, 6to4, Teredo,
IPv4-mapped, -compatible and -translated addresses lead to the IPv4 inside them."""

from __future__ import annotations

import pytest

from archiver.net import guard
from archiver.net.fetch import Fetcher, FetchLimits
from archiver.net.http1 import LeanFetcher

# Teredo: server 65.54.227.120, client IPv4 in the last 32 bits XOR 0xffffffff.
TEREDO_CLIENT_10_0_0_1 = "2001:0:4136:e378:8000:63bf:f5ff:fffe"
TEREDO_CLIENT_8_8_8_8 = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"

PRIVATE = [
    "10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 well-known prefix → 10.0.0.1
    "64:ff9b::7f00:1",  # → 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # → 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    "64:ff9b:1:a00:1::",
    "2002:a00:1::",  # 6to4 → 10.0.0.1
    "2002:7f00:1:1::1",  # 6to4 → 127.0.0.1
    "2002:c0a8:101::",  # 6to4 → 192.168.1.1
    TEREDO_CLIENT_10_0_0_1,
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::10.0.0.1",  # IPv4-compatible (deprecated)
    "::127.0.0.1",
    "::ffff:0:10.0.0.1",  # IPv4-translated (SIIT)
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
]
PUBLIC = [
    "8.8.8.8",
    "64:ff9b::808:808",  # NAT64 → 8.8.8.8
    "2002:808:808::1",  # 6to4 → 8.8.8.8
    "::ffff:8.8.8.8",
    "2606:4700:4700::1111",
]


@pytest.mark.parametrize("address", PRIVATE)
def test_embedded_private_ipv4_is_not_public(address: str) -> None:
    assert not guard.is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_stay_public(address: str) -> None:
    assert guard.is_public_address(address)


def test_the_embedded_address_is_found() -> None:
    import ipaddress

    def inner(text: str) -> list[str] | None:
        found = guard.embedded_ipv4(ipaddress.IPv6Address(text))
        return None if found is None else [str(a) for a in found]

    assert inner("64:ff9b::a00:1") == ["10.0.0.1"]
    assert inner("2002:a00:1::") == ["10.0.0.1"]
    assert inner(TEREDO_CLIENT_10_0_0_1) == ["65.54.227.120", "10.0.0.1"]
    assert inner(TEREDO_CLIENT_8_8_8_8) == ["65.54.227.120", "8.8.8.8"]
    assert inner("::ffff:127.0.0.1") == ["127.0.0.1"]
    assert inner("2606:4700:4700::1111") is None


@pytest.mark.parametrize("transport", [Fetcher, LeanFetcher])
@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a00:1]/",
        "http://[64:ff9b::7f00:1]:8080/x",
        "http://[2002:a00:1::]/",
        f"http://[{TEREDO_CLIENT_10_0_0_1}]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::10.0.0.1]/",
    ],
)
def test_fetches_of_literal_embedded_addresses_are_refused_before_connecting(
    transport: type[Fetcher] | type[LeanFetcher], url: str
) -> None:
    """No DNS: the literal is the address. A connect would be a network-guard violation."""
    result = transport(FetchLimits(timeout=3.0)).fetch(url)
    assert result.error_type == "private_address", (url, result.error_message)
