"""Accounts over real HTTP and the real CLI after issue 7: forwarded headers (item 9), lockout
per name and address (10), token expiry and revocation (11), password strength (12), and two
messages of item 17 (``users token`` on the wrong home, the Users page's default role)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facesearch.accountability import AccountabilityStore, Action

pytestmark = pytest.mark.lfw

PASSWORD = "correct-horse-battery"  # tests/integration/conftest.py
SPOOFED = [f"198.51.100.{i}" for i in range(1, 9)]


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


def login(
    client: httpx.Client, name: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    page = client.get("/login", headers=headers)
    return client.post(
        "/login",
        data={"name": name, "password": password, "login_token": _hidden(page.text, "login_token")},
        headers=headers,
        follow_redirects=False,
    )


def failed_login_clients(home: Path) -> list[str | None]:
    with AccountabilityStore.open(home) as store:
        return [e.payload["client"] for e in store.audit.entries(action=Action.LOGIN_FAILED)]


def spoof_logins(url: str) -> list[int]:
    """Eight failed logins of an unknown name, each claiming another X-Forwarded-For."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return [login(client, "nobody", "wrong password", ip).status_code for ip in SPOOFED]


@pytest.fixture
def serve_cli() -> Iterator[Any]:
    """serve_cli(home, **env): ``facesearch serve`` in a subprocess; yields its URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(home: Any, **env: str) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        full_env = {
            **os.environ,
            "FACESEARCH_CACHE_DIR": str(home.settings.cache_dir),
            **{"FACESEARCH_" + k.upper(): v for k, v in env.items()},
        }
        command = [sys.executable, "-m", "facesearch", "--home", str(home.home), "serve"]
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        procs.append(proc)
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                return f"http://127.0.0.1:{port}"
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.2)

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err


# --- item 9: X-Forwarded-For is believed only from trusted proxies ----------------------------


def test_serve_ignores_a_spoofed_forwarded_for(server_home: Any, serve_cli: Any) -> None:
    home = server_home("xff-serve")
    url = serve_cli(home, server_login_rate_limit="5")
    codes = spoof_logins(url)
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3  # one address, one limit
    assert failed_login_clients(home.home) == ["127.0.0.1"] * 5  # the socket's address


def test_serve_keeps_the_address_of_a_client_claiming_its_own(
    server_home: Any, serve_cli: Any
) -> None:
    """A client must not blank its address in the trail by sending its own as X-Forwarded-For."""
    home = server_home("xff-self")
    url = serve_cli(home)
    with httpx.Client(base_url=url, timeout=60) as client:
        assert login(client, "nobody", "wrong password", "127.0.0.1").status_code == 401
    assert failed_login_clients(home.home) == ["127.0.0.1"]


def test_the_app_ignores_forwarded_for_even_when_uvicorn_believes_it(
    server_home: Any, serve: Any
) -> None:
    """The test server runs uvicorn with its defaults, which trust X-Forwarded-For from
    loopback: the application must not rely on how it is served."""
    home = server_home("xff-uvicorn")
    with serve(home.settings.replace(server_login_rate_limit=5)) as url:
        codes = spoof_logins(url)
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
    assert not set(failed_login_clients(home.home)) & set(SPOOFED)


def test_forwarded_for_from_a_trusted_proxy_is_honoured(server_home: Any, serve: Any) -> None:
    home = server_home("xff-trusted", trusted_proxies="127.0.0.1")
    with serve(home.settings.replace(server_login_rate_limit=5)) as url:
        codes = spoof_logins(url)
        # A proxy's own hop after the client's is skipped: the client is the last untrusted.
        with httpx.Client(base_url=url, timeout=60) as client:
            r = login(client, "nobody", "wrong password", "203.0.113.7, 127.0.0.1")
            assert r.status_code == 401
    assert codes == [401] * 8  # eight clients behind the proxy, five attempts each allowed
    assert failed_login_clients(home.home) == [*SPOOFED, "203.0.113.7"]


def test_bad_trusted_proxies_are_refused(server_home: Any) -> None:
    from facesearch.errors import ConfigError
    from facesearch.server import create_app

    home = server_home("xff-bad")
    with pytest.raises(ConfigError, match="trusted_proxies"):
        create_app(home.settings.replace(trusted_proxies="127.0.0.1, not-an-address"))


# --- item 10: an attacker locks out only their own address; admins see it --------------------


def test_lockout_is_per_address_and_admins_see_it(
    server_home: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from facesearch.accountability import store as store_module

    # A lock that outlives the test however slow the logins (argon2) on this machine.
    real = store_module.account_policy
    monkeypatch.setattr(
        store_module,
        "account_policy",
        lambda s: replace(real(s), lockout=timedelta(hours=1), max_lockout=timedelta(hours=2)),
    )
    home = server_home("lockout", trusted_proxies="127.0.0.1")
    attacker, admin_ip = "203.0.113.66", "10.1.2.3"
    with serve(home.settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(5):
            assert login(client, "admin1", "wrong password", attacker).status_code == 401
        r = login(client, "admin1", PASSWORD, attacker)
        assert r.status_code == 401 and "too many failed logins" in r.text
        r = login(client, "admin1", PASSWORD, admin_ip)  # the real admin, elsewhere
        assert r.status_code == 303
        users = client.get("/api/v1/users", headers=home.auth("admin1")).json()["items"]
        (me,) = [u for u in users if u["name"] == "admin1"]
        (lock,) = me["lockouts"]
        assert lock["client"] == attacker and lock["failures"] == 5
        assert lock["message"] == f"locked for 60 min after 5 failed logins from {attacker}"
        page = client.get("/users")
        assert page.status_code == 200
        assert f"locked for 60 min after 5 failed logins from {attacker}" in page.text


# --- item 11: tokens expire, die with a new password or a disable, show their use -------------


def test_tokens_are_listed_and_revoked(server_home: Any, serve: Any) -> None:
    home = server_home("tokens", token_lifetime_days=30)
    admin = home.auth("admin1")
    with serve(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        me = api.get("/api/v1/me", headers=home.auth("inv1")).json()
        (token,) = api.get(me["links"]["tokens"], headers=home.auth("inv1")).json()["items"]
        assert token["prefix"] == home.tokens["inv1"][:10] and token["state"] == "live"
        assert token["last_used_at"] is not None  # these very requests
        issued = datetime.fromisoformat(token["created_at"])
        expires = datetime.fromisoformat(token["expires_at"])
        assert expires - issued == timedelta(days=30)  # token_lifetime_days
        user = api.get("/api/v1/users/inv1", headers=admin).json()
        assert [t["prefix"] for t in user["tokens"]] == [token["prefix"]]
        listing = api.get("/api/v1/users", headers=admin).json()["items"]
        assert next(u for u in listing if u["name"] == "inv1")["tokens"][0]["state"] == "live"
        page = api.get("/users", headers=admin)
        assert token["prefix"] in page.text and "expires" in page.text

        # A new password revokes the old token.
        r = api.post(
            "/api/v1/users/inv1/password", headers=admin, data={"password": PASSWORD + "!"}
        )
        assert r.status_code == 200, r.text
        assert api.get("/api/v1/me", headers=home.auth("inv1")).status_code == 401
        # Disable then enable does not bring a token back.
        r = api.post("/api/v1/users/inv2/disable", headers=admin)
        assert r.status_code == 200
        r = api.post("/api/v1/users/inv2/enable", headers=admin)
        assert r.status_code == 200
        assert api.get("/api/v1/me", headers=home.auth("inv2")).status_code == 401
        states = api.get("/api/v1/users/inv2", headers=admin).json()["tokens"]
        assert [t["state"] for t in states] == ["revoked"]


# --- item 12: trivial passwords ---------------------------------------------------------------


def test_trivial_passwords_are_refused_by_api_and_cli(server_home: Any, serve: Any) -> None:
    home = server_home("weak")
    with serve(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        r = api.post(
            "/api/v1/users",
            headers=home.auth("admin1"),
            data={"name": "weak", "role": "auditor", "password": "aaaaaaaaaaaa"},
        )
        assert r.status_code == 422 and "too easy to guess" in r.json()["error"]["message"]
    r = cli(
        home,
        "users",
        "add",
        "weak",
        "--role",
        "auditor",
        "--password-stdin",
        stdin="password1234\n",
    )
    assert r.returncode == 2 and "most common passwords" in r.stderr, r.stderr


# --- item 17: messages ------------------------------------------------------------------------


def cli(
    home: Any, *args: str, stdin: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACESEARCH_CACHE_DIR": str(home.settings.cache_dir),
        **{"FACESEARCH_" + k.upper(): v for k, v in settings.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home.home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        input=stdin,
    )


def test_users_token_on_the_wrong_home_names_the_home(server_home: Any, tmp_path: Path) -> None:
    home = server_home("wrong-home")
    other = type(home)(home.settings.replace(home=tmp_path / "elsewhere"))
    r = cli(other, "users", "token", "inv1")
    assert r.returncode == 2
    assert "no facesearch accounts" in r.stderr and str(tmp_path / "elsewhere") in r.stderr
    assert not (tmp_path / "elsewhere").exists()  # a mistyped home is not created (attack 2)
    # a home with accounts, but not this user
    r = cli(home, "users", "token", "nobody")
    assert r.returncode == 2
    assert "no user nobody" in r.stderr and str(home.home) in r.stderr, r.stderr
    # nor does a mistyped home "verify" as an empty, intact trail
    r = cli(other, "audit", "verify")
    assert r.returncode == 2 and "no facesearch accounts" in r.stderr, r.stderr


def test_users_page_defaults_to_the_least_privileged_role(server_home: Any, serve: Any) -> None:
    home = server_home("roles")
    with serve(home.settings) as url:
        page = httpx.get(url + "/users", headers=home.auth("admin1"))
    selected = re.findall(r'<option value="(\w+)"[^>]*\bselected\b', page.text)
    assert selected == ["auditor"], selected  # the role with the fewest permissions


def test_users_tokens_lists_issue_expiry_and_last_use(server_home: Any) -> None:
    home = server_home("cli-tokens")
    r = cli(home, "users", "token", "inv1", token_lifetime_days="7")
    assert r.returncode == 0 and "expires" in r.stderr, r.stderr
    # The fixture's token was issued for 90 days: the shorter lifetime now in force wins.
    r = cli(home, "users", "tokens", "inv1", "--json", token_lifetime_days="7")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["state"] for row in rows] == ["live", "live"]
    for row in rows:
        issued = datetime.fromisoformat(row["created_at"])
        assert datetime.fromisoformat(row["expires_at"]) - issued <= timedelta(days=7)
    assert rows[0]["last_used_at"] is None  # made by the fixture, never used
    r = cli(home, "users", "tokens", "nobody")
    assert r.returncode == 2 and str(home.home) in r.stderr
