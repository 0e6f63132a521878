"""Which address a request comes from (issue 7, item 9): X-Forwarded-For only from trusted
proxies, whatever the ASGI server in front did."""

from __future__ import annotations

from typing import Any

import pytest

from facesearch.errors import ConfigError
from facesearch.server.auth import (
    CLIENT_KEY,
    UNTRUSTED_FORWARD,
    TrustedProxies,
    client_address,
    resolve_client,
)


def scope(peer: str, port: int = 40000, *forwarded: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, port), "headers": headers}


NONE = TrustedProxies()
LOCAL = TrustedProxies.parse("127.0.0.1, ::1")
NETS = TrustedProxies.parse("10.0.0.0/8,192.168.1.5")


def test_without_trusted_proxies_the_peer_is_the_client():
    assert resolve_client(scope("203.0.113.5"), NONE) == "203.0.113.5"
    assert resolve_client(scope("127.0.0.1", 40000, "198.51.100.1"), NONE) == "127.0.0.1"


def test_a_trusted_proxy_is_believed_from_the_right():
    assert resolve_client(scope("127.0.0.1", 1, "198.51.100.1"), LOCAL) == "198.51.100.1"
    # A client may put anything on the left; the proxy appends the address it saw.
    forged = scope("127.0.0.1", 1, "1.1.1.1, 198.51.100.1")
    assert resolve_client(forged, LOCAL) == "198.51.100.1"
    chain = scope("10.0.0.7", 1, "198.51.100.1, 10.2.3.4", "192.168.1.5")
    assert resolve_client(chain, NETS) == "198.51.100.1"
    assert resolve_client(scope("::1", 1, "[2001:db8::1]:443"), LOCAL) == "2001:db8::1"
    assert resolve_client(scope("127.0.0.1", 1, "198.51.100.1:5555"), LOCAL) == "198.51.100.1"
    assert resolve_client(scope("127.0.0.1", 1, "not-an-ip"), LOCAL) == UNTRUSTED_FORWARD


def test_an_untrusted_peer_is_never_replaced():
    assert resolve_client(scope("203.0.113.5", 1, "198.51.100.1"), LOCAL) == "203.0.113.5"


def test_a_peer_already_replaced_by_the_server_in_front_is_not_believed():
    # uvicorn with its defaults turned the peer into the claimed address (port 0).
    assert resolve_client(scope("198.51.100.1", 0, "198.51.100.1"), NONE) == UNTRUSTED_FORWARD


def test_a_client_cannot_blank_its_own_address_by_claiming_it():
    # Served as `facesearch serve` does (no proxy headers): the peer is a real socket, with
    # a port; X-Forwarded-For naming the peer itself must not hide who it is.
    assert resolve_client(scope("203.0.113.5", 40000, "203.0.113.5"), NONE) == "203.0.113.5"
    claim = scope("203.0.113.5", 40000, "198.51.100.1, 203.0.113.5")
    assert resolve_client(claim, NONE) == "203.0.113.5"
    assert resolve_client(scope("::1", 5000, "::1"), NONE) == "::1"


def test_client_address_reads_what_the_middleware_worked_out():
    s = scope("127.0.0.1", 1, "198.51.100.1")
    assert client_address(s) == "127.0.0.1"
    s["state"] = {CLIENT_KEY: "198.51.100.1"}
    assert client_address(s) == "198.51.100.1"


@pytest.mark.parametrize("text", ["*", "localhost", "10.0.0.0/33", "1.2.3"])
def test_bad_proxy_settings_are_refused(text: str):
    with pytest.raises(ConfigError, match="trusted_proxies"):
        TrustedProxies.parse(text)
    assert not TrustedProxies.parse(" , ")


@pytest.mark.parametrize(
    ("role", "org", "landing"),
    [
        ("investigator", "default", "/search"),
        ("supervisor", "default", "/oversight"),
        ("operator", None, "/orgs"),  # it may read no trail: /audit would be a 403
        ("admin", "default", "/gallery"),
        ("auditor", "default", "/audit"),
    ],
)
def test_each_role_lands_on_a_page_it_may_open(role: str, org: str | None, landing: str) -> None:
    from datetime import UTC, datetime

    from facesearch.accountability import Role, User
    from facesearch.server.auth import Principal

    user = User(name="u", role=Role(role), org=org, disabled=False, created_at=datetime.now(UTC))
    assert Principal(user, "session").home == landing
