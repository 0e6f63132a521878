"""Driving Debian's chromium with Playwright: the browser fixture's launch, screenshots into
test-artifacts/ (gitignored) for a person to look at, and logging in through the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct-horse-battery"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch() -> Iterator[Any]:
    """A headless chromium for a module (skips loudly when Debian's chromium is missing)."""
    if not CHROMIUM.exists():
        pytest.skip(
            "CHROMIUM MISSING at /usr/bin/chromium: browser tests skipped "
            "(apt-get install chromium; scripts/test.sh does it when run as root)"
        )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# the passwords users chose at their first login (an account an admin made has a one-time
# password, PASSWORD: its user chooses their own, OWN_PASSWORD, on the form the login answers)
CHOSEN: dict[str, str] = {}
OWN_PASSWORD = "my own horse battery staple"


def login(page: Any, url: str, name: str, target: str) -> None:
    page.goto(url + target)
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.fill("#name", name)
    page.fill("#password", CHOSEN.get(name, PASSWORD))
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.locator("#choose-form").count():
        shot(page, "00-choose-own-password")
        page.fill("#password", PASSWORD)
        page.fill("#new_password", OWN_PASSWORD)
        page.fill("#new_password_again", OWN_PASSWORD)
        page.click("#choose-form button[type=submit]")
        CHOSEN[name] = OWN_PASSWORD
    page.wait_for_url(url + target)
