"""The second sign-in step in Debian's Chromium: after the password, a code from the authenticator app (or a
recovery code) on its own page; a wrong code is said so, and the right one signs in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyotp
import pytest

from tests.browser.conftest import PASSWORD, screenshot
from tests.service.conftest import Server
from tests.service.helpers import bearer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow


def enrol(server: Server) -> tuple[pyotp.TOTP, list[str]]:
    """Turns a TOTP factor on for alice through the API; confirmed with the previous step's code (drift), so the
    current step's code is still unused for the browser."""
    with server.client() as http:
        token = http.post("/v1/sessions", json={"username": "alice", "password": PASSWORD}).json()["access_token"]
        secret = http.post("/v1/mfa/totp", headers=bearer(token)).json()["secret"]
        totp = pyotp.TOTP(secret)
        r = http.post("/v1/mfa/totp/confirm", json={"code": totp.at(time.time() - 30)}, headers=bearer(token))
        assert r.status_code == 200, r.text
        return totp, r.json()["recovery_codes"]


def password_step(context: BrowserContext, server: Server) -> Page:
    page = context.new_page()
    page.goto(server.base_url + "/account/signin")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Second step").is_visible()
    return page


def test_the_second_step_follows_the_password(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    server = make_live_server()
    totp, codes = enrol(server)
    context = new_context()
    page = password_step(context, server)
    assert not [c for c in context.cookies() if c["name"].startswith("__Host-sw-")]  # not signed in yet
    screenshot(page, "30-signin-second-step")
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    assert "didn't work" in page.get_by_role("alert").inner_text()
    screenshot(page, "31-signin-second-step-wrong-code")
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/sessions")
    assert {c["name"] for c in context.cookies()} >= {"__Host-sw-access", "__Host-sw-refresh"}

    # A recovery code works in the same field.
    other = new_context()
    page = password_step(other, server)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/sessions")
