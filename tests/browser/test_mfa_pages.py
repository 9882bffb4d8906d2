"""The second sign-in step in Debian's Chromium: after the password, a code from the authenticator app (or a
recovery code) on its own page; a wrong code is said so, and the right one signs in. The authenticator app set up
on the security page without script, step-up before a factor change, and where step-up may lead back to."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

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


def test_a_sign_in_burned_by_wrong_codes_starts_over_instead_of_looping(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    """Five wrong codes burn the sign-in: the page says to sign in again instead of offering a form that can
    never succeed, even with the right code."""
    server = make_live_server()
    totp, _codes = enrol(server)
    page = password_step(new_context(), server)
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    for _ in range(4):
        page.get_by_label("Code").fill(wrong)
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
        assert "didn't work" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/signin/mfa")
    assert "Sign in again" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Username").is_visible()
    assert not page.get_by_label("Code").is_visible()


# -- the authenticator app and step-up on the pages: no script needed ------------------------------------------------

SHORT_STEP_UP = {"SESSIONWARD_POLICIES__DEFAULT__STEP_UP_MAX_AGE": "3s"}


def sign_in_with_password(context: BrowserContext, server: Server) -> Page:
    page = context.new_page()
    page.goto(server.base_url + "/account/signin")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/sessions")
    return page


def sign_in_with_code(context: BrowserContext, server: Server, code: str) -> Page:
    page = password_step(context, server)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/sessions")
    return page


def wrong_code(totp: pyotp.TOTP) -> str:
    right = {totp.at(time.time() + drift) for drift in (-30, 0, 30)}
    return next(c for c in (str(n).zfill(6) for n in range(100_000, 1_000_000, 7919)) if c not in right)


def test_set_up_the_authenticator_app_on_the_pages_without_script(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    server = make_live_server()
    context = new_context(javascript=False)
    page = sign_in_with_password(context, server)
    page.get_by_role("link", name="Security").click()
    page.wait_for_url("**/account/security")
    assert page.locator("form[data-webauthn]").is_hidden()  # a security key needs script; it says so
    assert "turn on JavaScript" in page.locator("noscript").first.inner_text()
    screenshot(page, "32-security-without-script")

    page.goto(server.base_url + "/account/step-up?next=/account/security")  # nothing to confirm with yet
    assert page.get_by_role("heading", name="No second factor yet").is_visible()
    page.get_by_role("link", name="Set up a second factor").click()

    page.get_by_role("button", name="Set up authenticator app").click()
    page.wait_for_url("**/account/security/totp")
    assert page.get_by_role("heading", name="Set up your authenticator app").is_visible()
    shown = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", shown), shown  # grouped by four for typing
    secret = shown.replace(" ", "")
    uri = page.locator("#totp-uri").inner_text()
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "issuer=sessionward" in uri
    assert page.get_by_role("link", name="open the setup link in your app").get_attribute("href") == uri
    screenshot(page, "33-totp-setup")

    totp = pyotp.TOTP(secret)
    page.get_by_label("6-digit code").fill(wrong_code(totp))
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url("**/account/security/totp/confirm")
    assert "didn't match" in page.locator("#code-error").inner_text()
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret  # the same secret, to try again
    screenshot(page, "34-totp-setup-wrong-code")

    page.get_by_label("6-digit code").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert "Store these now" in page.get_by_role("status").inner_text()
    codes = page.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    screenshot(page, "35-totp-recovery-codes")
    page.get_by_role("link", name="I've stored them").click()
    page.wait_for_url("**/account/security?done=totp_on")
    assert "authenticator app is set up" in page.get_by_role("status").inner_text()
    assert page.locator("#totp-title + .state").inner_text().lower() == "on"
    assert "10 unused recovery codes left" in page.locator("section", has_text="Recovery codes").inner_text()
    screenshot(page, "36-security-totp-on")

    # The app's next code (the current one was spent on the set-up) signs in; so does a shown recovery code.
    sign_in_with_code(new_context(javascript=False), server, totp.at(time.time() + 30))
    sign_in_with_code(new_context(), server, codes[3])


def test_step_up_with_a_code_before_removing_the_app(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    server = make_live_server(SHORT_STEP_UP)
    totp, codes = enrol(server)
    context = new_context()
    page = sign_in_with_code(context, server, totp.now())
    signed_in = time.time()
    page.goto(server.base_url + "/account/security")
    while time.time() < signed_in + 3.3:  # past the policy's step_up_max_age
        time.sleep(0.1)

    # Removing the app now needs a fresh second factor: the page leads to step-up, and nothing is removed.
    page.get_by_role("button", name="Remove the authenticator app").click()
    page.wait_for_url("**/account/step-up?next=/account/security")
    assert page.get_by_role("heading", name="Confirm it's you").is_visible()
    assert page.locator("script").count() == 0  # no security key: no script, and the strict policy
    policy = page.request.get(page.url).headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    screenshot(page, "37-step-up-code")
    page.goto(server.base_url + "/account/security")
    assert page.locator("#totp-title + .state").inner_text().lower() == "on"
    page.goto(server.base_url + "/account/password")  # changing the password too
    assert "/account/step-up?next=/account/password" in page.url
    assert "change your password" in page.locator(".lead").inner_text()

    page.goto(server.base_url + "/account/step-up?next=/account/security")
    page.get_by_label("Code").fill(wrong_code(totp))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/account/step-up")
    assert "didn't work" in page.get_by_role("alert").inner_text()
    screenshot(page, "38-step-up-wrong-code")

    # A `next` pointing elsewhere is never followed, whatever the form says.
    page.locator('input[name="next"]').evaluate("e => { e.value = 'https://evil.example/' }")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{server.base_url}/account/security?done=confirmed")
    assert "Confirmed" in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Remove the authenticator app").click()
    page.wait_for_url("**/account/security?done=totp_removed")
    assert "authenticator app was removed" in page.get_by_role("status").inner_text()
    assert page.locator("#totp-title + .state").inner_text().lower() == "off"
    screenshot(page, "39-security-totp-removed")


def set_up_app(context: BrowserContext, server: Server) -> tuple[pyotp.TOTP, list[str]]:
    """Turns the authenticator app on for alice through the pages: the app, and the recovery codes shown."""
    page = sign_in_with_password(context, server)
    page.goto(server.base_url + "/account/security")
    assert page.get_by_role("button", name="Get new recovery codes").count() == 0  # no factor, no codes
    page.get_by_role("button", name="Set up authenticator app").click()
    page.wait_for_url("**/account/security/totp")
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.get_by_label("6-digit code").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url("**/account/security/totp/confirm")
    return totp, page.locator("ol.codes code").all_inner_texts()


def test_new_recovery_codes_after_step_up_without_script(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    server = make_live_server(SHORT_STEP_UP)
    totp, old = set_up_app(new_context(javascript=False), server)
    page = sign_in_with_code(new_context(javascript=False), server, old[0])  # a fresh second factor, soon stale
    signed_in = time.time()
    page.goto(server.base_url + "/account/security")
    while time.time() < signed_in + 3.3:  # past the policy's step_up_max_age
        time.sleep(0.1)

    # New codes are a factor change: step-up first, then back to the security page to ask again.
    page.get_by_role("button", name="Get new recovery codes").click()
    page.wait_for_url("**/account/step-up?next=/account/security")
    page.get_by_label("Code").fill(totp.at(time.time() + 30))  # the set-up spent the current step's code
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/account/security?done=confirmed")
    assert "9 unused recovery codes left" in page.locator("section", has_text="Recovery codes").inner_text()
    page.get_by_role("button", name="Get new recovery codes").click()
    page.wait_for_url("**/account/security/recovery-codes")
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert "old codes no longer work" in page.locator(".lead").inner_text()
    assert "Store these now" in page.get_by_role("status").inner_text()
    assert page.locator("script").count() == 0
    codes = page.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10 and not set(codes) & set(old)
    screenshot(page, "49-recovery-codes-new")
    page.get_by_role("link", name="I've stored them").click()
    page.wait_for_url("**/account/security?done=codes_new")
    assert "old ones no longer work" in page.get_by_role("status").inner_text()
    assert "10 unused recovery codes left" in page.locator("section", has_text="Recovery codes").inner_text()

    # At sign-in's second step an old code no longer works; a new one does.
    page = password_step(new_context(javascript=False), server)
    page.get_by_label("Code").fill(old[1])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    assert "didn't work" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/sessions")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/account/../x"])
def test_step_up_never_leads_off_site(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext], target: str
) -> None:
    server = make_live_server()
    totp, _codes = enrol(server)
    page = sign_in_with_code(new_context(), server, totp.now())
    page.goto(server.base_url + "/account/step-up?next=" + quote(target, safe=""))
    assert page.locator('input[name="next"]').get_attribute("value") == "/account/security"


def test_step_up_says_how_long_to_wait_when_throttled(
    make_live_server: Callable[..., Server], new_context: Callable[..., BrowserContext]
) -> None:
    server = make_live_server()
    totp, _codes = enrol(server)
    page = sign_in_with_code(new_context(), server, totp.now())
    page.goto(server.base_url + "/account/step-up?next=/account/security")
    for _ in range(10):
        page.get_by_label("Code").fill(wrong_code(totp))
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()
        assert "didn't work" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code").fill(totp.now())
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Confirm").click()
    answer = navigation.value
    assert answer is not None and answer.status == 429 and answer.header_value("retry-after")
    said = page.get_by_role("alert").inner_text()
    assert "Too many attempts" in said and re.search(r"Wait about \d+ (minute|second)s?", said), said
    screenshot(page, "48-step-up-throttled")
