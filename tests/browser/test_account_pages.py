"""The account pages end to end in Debian's Chromium: cookies, transparent refresh, ending sessions, password
change, timeouts, and forged cross-site posts. Every page is saved as a screenshot in tests/browser/artifacts/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import (
    FIREFOX_WINDOWS,
    PASSWORD,
    PHONE,
    SAFARI_IPHONE,
    audit_events,
    screenshot,
)
from tests.service.conftest import Server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

ContextMaker = Callable[..., "BrowserContext"]
ServerMaker = Callable[..., Server]

# Second-scale policies, so the browser lives through token expiry and timeouts in real time.
BROWSING = {
    "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "2s",
    "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "4s",
    "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "10s",
    "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": "1s",
    "SESSIONWARD_TOKENS__LEEWAY": "0s",
}
IDLE = {
    "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "1s",
    "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "3s",
    "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "60s",
    "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": "1s",
    "SESSIONWARD_TOKENS__LEEWAY": "0s",
}
SESSION_COOKIES = ("__Host-sw-access", "__Host-sw-refresh")


def on_signin(page: Page) -> bool:
    return "/account/signin" in page.url


def sign_in(context: BrowserContext, server: Server, user: str = "alice", password: str = PASSWORD) -> Page:
    page = context.new_page()
    page.goto(server.base_url + "/account/signin")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/sessions*")
    return page


def session_cookies(context: BrowserContext) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in context.cookies() if c["name"] in SESSION_COOKIES}


def wait_until(deadline: float) -> None:
    while time.time() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.time())))


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def test_sign_in_by_keyboard_and_keep_browsing_past_token_expiry(
    make_live_server: ServerMaker, new_context: ContextMaker
) -> None:
    server = make_live_server(BROWSING)
    context = new_context()
    page = context.new_page()
    errors = console_errors(page)

    page.goto(server.base_url + "/")
    assert on_signin(page)
    assert page.evaluate("document.activeElement.id") == "username"  # ready to type
    screenshot(page, "01-signin")

    # A wrong password: a clear message, nothing set.
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type("not my password")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text().count("incorrect") == 1
    assert session_cookies(context) == {}
    screenshot(page, "02-signin-wrong-password")

    # The keyboard alone signs in: the username is kept, focus is on the password.
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    started = time.time()
    page.keyboard.press("Enter")
    page.wait_for_url("**/account/sessions")
    signed_in = time.time()  # the session was created between `started` and now
    assert page.get_by_role("heading", name="Where you're signed in").is_visible()
    assert page.locator("li.session-current .badge").inner_text().lower() == "this device"
    screenshot(page, "03-sessions-one-device")

    # The browser's own cookie jar: __Host- cookies, HttpOnly, Secure, SameSite=Strict, host-only, Path=/.
    jar = session_cookies(context)
    assert set(jar) == set(SESSION_COOKIES)
    for cookie in jar.values():
        assert cookie["httpOnly"] is True
        assert cookie["secure"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/"
        assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
        assert isinstance(cookie["expires"], float)
        assert cookie["expires"] - time.time() <= 10 + 1  # Max-Age within the absolute timeout
    # No token is readable by page script, and none is in the page.
    assert "sw-" not in page.evaluate("document.cookie")
    html = page.content()
    assert all(str(c["value"]) not in html for c in jar.values())

    # Keep browsing well past the 2 s access token and the 4 s idle timeout: never asked to sign in again.
    seen_access = {jar["__Host-sw-access"]["value"]}
    seen_refresh = {jar["__Host-sw-refresh"]["value"]}
    targets = ["/account/password", "/account/sessions", "/"]
    step = 0
    while time.time() < started + 8.5:
        page.goto(server.base_url + targets[step % len(targets)])
        assert not on_signin(page), f"asked to sign in after {time.time() - started:.1f} s"
        jar = session_cookies(context)
        seen_access |= {str(c["value"]) for n, c in jar.items() if n == "__Host-sw-access"}
        seen_refresh.add(str(jar["__Host-sw-refresh"]["value"]))
        step += 1
        time.sleep(0.4)
    assert len(seen_access) >= 3, "the access cookie was not renewed while browsing"
    assert len(seen_refresh) >= 3, "the refresh cookie was not rotated"
    assert "sw-" not in page.evaluate("document.cookie")

    # Past the absolute timeout, however active: the next page asks to sign in, and says why.
    wait_until(signed_in + 10.3)
    page.goto(server.base_url + "/account/sessions")
    assert on_signin(page)
    assert "expired" in page.get_by_role("status").inner_text()
    assert session_cookies(context) == {}
    screenshot(page, "14-signin-session-expired")
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []


def test_idle_past_the_idle_timeout_asks_to_sign_in(make_live_server: ServerMaker, new_context: ContextMaker) -> None:
    server = make_live_server(IDLE)
    context = new_context()
    page = sign_in(context, server)
    time.sleep(3.4)  # idle longer than the 3 s idle timeout
    page.goto(server.base_url + "/account/sessions")
    assert on_signin(page)
    assert "?ended=idle" in page.url
    message = page.get_by_role("status").inner_text()
    assert "You were signed out" in message and "3 seconds without activity" in message
    screenshot(page, "13-signin-idle")
    assert session_cookies(context) == {}  # the dead cookies are gone too


def test_end_one_session_and_then_every_other_from_the_sessions_page(
    make_live_server: ServerMaker, new_context: ContextMaker
) -> None:
    server = make_live_server()
    a = sign_in(new_context(), server)
    b_context = new_context(user_agent=FIREFOX_WINDOWS)
    b = sign_in(b_context, server)
    c = sign_in(new_context(user_agent=SAFARI_IPHONE, viewport=PHONE), server)

    a.reload()
    rows = a.locator("li.session")
    assert rows.count() == 3
    names = " | ".join(" ".join(text.split()) for text in rows.locator(".session-name").all_text_contents())
    assert "Firefox 128 on Windows" in names and "Safari 17 on iOS 17.5" in names and "This device" in names
    screenshot(a, "04-sessions-three-devices")
    screenshot(c, "05-sessions-phone")

    # End the second context's session from the first's page.
    b_sid = b.locator("li.session-current").get_attribute("data-sid")
    assert b_sid
    a.locator(f'li[data-sid="{b_sid}"]').get_by_role("button", name="Sign out").click()
    a.wait_for_url("**/account/sessions?done=ended")
    assert "That session was signed out" in a.get_by_role("status").inner_text()
    assert a.locator("li.session").count() == 2
    screenshot(a, "06-sessions-after-ending-one")

    b.reload()  # the second context's next request lands on sign-in, saying why
    assert on_signin(b)
    assert "ended from another device" in b.get_by_role("status").inner_text()
    assert session_cookies(b_context) == {}
    screenshot(b, "07-signin-ended-elsewhere")

    # "Sign out everywhere else": every other context (c, and b signed in again) is signed out.
    b = sign_in(b_context, server)
    a.reload()
    assert a.locator("li.session").count() == 3
    a.get_by_role("button", name="Sign out everywhere else").click()
    a.wait_for_url("**/account/sessions?done=others*")
    assert "2 other sessions ended" in a.get_by_role("status").inner_text()
    assert a.locator("li.session").count() == 1
    assert "only device" in a.locator(".card-foot").inner_text()
    screenshot(a, "08-sessions-signed-out-everywhere-else")
    for other in (b, c):
        other.goto(server.base_url + "/account/password")
        assert on_signin(other)
        assert "ended from another device" in other.get_by_role("status").inner_text()
    screenshot(c, "18-signin-phone-ended-elsewhere")


def test_password_change_signs_out_the_other_context(make_live_server: ServerMaker, new_context: ContextMaker) -> None:
    server = make_live_server()
    a = sign_in(new_context(), server)
    b_context = new_context(user_agent=FIREFOX_WINDOWS)
    b = sign_in(b_context, server)

    a.get_by_role("link", name="Password", exact=True).click()
    a.wait_for_url("**/account/password")
    assert a.get_by_label("Current password").evaluate("e => e === document.activeElement")
    screenshot(a, "09-password")

    new_password = "a brand new passphrase"
    a.get_by_label("Current password").fill(PASSWORD)
    a.get_by_label("New password", exact=True).fill(new_password)
    a.get_by_label("Repeat the new password").fill("something else entirely")
    a.get_by_role("button", name="Change password").click()
    a.wait_for_load_state()
    assert "don't match" in a.locator("#confirm_password-error").inner_text()
    assert a.get_by_label("Repeat the new password").get_attribute("aria-invalid") == "true"
    screenshot(a, "10-password-mismatch")

    a.get_by_label("Current password").fill(PASSWORD)
    a.get_by_label("New password", exact=True).fill(new_password)
    a.get_by_label("Repeat the new password").fill(new_password)
    a.get_by_role("button", name="Change password").click()
    a.wait_for_url("**/account/sessions?done=password*")
    said = a.get_by_role("status").inner_text()
    assert "password was changed" in said and "1 other session was signed out" in said
    assert a.locator("li.session").count() == 1
    screenshot(a, "11-sessions-password-changed")

    b.reload()
    assert on_signin(b)
    assert "password of this account was changed" in b.get_by_role("status").inner_text()
    screenshot(b, "12-signin-password-changed")

    # The old password is dead; the new one works; the first context stays signed in.
    b.get_by_label("Username").fill("alice")
    b.get_by_label("Password", exact=True).fill(PASSWORD)
    b.get_by_role("button", name="Sign in").click()
    b.wait_for_load_state()
    assert on_signin(b) and "incorrect" in b.get_by_role("alert").inner_text()
    sign_in(b_context, server, password=new_password)
    a.reload()
    assert not on_signin(a)
    assert a.locator("li.session").count() == 2


@pytest.mark.parametrize("tls", [True, False], ids=["same-site-other-port", "cross-site-http"])
def test_a_forged_cross_site_post_is_refused_and_changes_nothing(
    make_live_server: ServerMaker,
    new_context: ContextMaker,
    attacker_site: Callable[[Server, str, bool], str],
    tls: bool,
) -> None:
    server = make_live_server()
    a_context = new_context()
    a = sign_in(a_context, server)
    b = sign_in(new_context(user_agent=FIREFOX_WINDOWS), server)
    # Even the session's real CSRF token (leaked, say) does not help a page of another origin.
    leaked = a.locator('input[name="csrf_token"]').first.get_attribute("value")
    cookies_before = session_cookies(a_context)
    evil = attacker_site(
        server,
        f"""<!doctype html><title>You won!</title>
<form method="post" action="{server.base_url}/account/sessions/others">
<input type="hidden" name="csrf_token" value="{leaked}"><button id="others">Claim your prize</button></form>
<form method="post" action="{server.base_url}/account/signout">
<input type="hidden" name="csrf_token" value="guess"><button id="signout">Or this one</button></form>""",
        tls,
    )
    for button in ("#others", "#signout"):
        a.goto(evil)
        with a.expect_navigation() as navigation:
            a.click(button)
        response = navigation.value
        assert response is not None and response.status == 403
        assert a.get_by_role("heading", name="This request was refused").is_visible()
    screenshot(a, f"15-refused-{'same-site' if tls else 'cross-site'}")

    # Nothing changed: both sessions alive, the first one's cookies untouched.
    assert session_cookies(a_context) == cookies_before
    a.goto(server.base_url + "/account/sessions")
    assert a.locator("li.session").count() == 2
    b.reload()
    assert not on_signin(b)
    refusals = [json.loads(d) for d in audit_events(server, "csrf.rejected")]
    assert len(refusals) == 2
    assert {r["reason"] for r in refusals} <= {"cross_origin", "cross_origin_fetch"}
    assert all(r["ip"] == "127.0.0.1" for r in refusals)


def test_sign_out_clears_the_browser(make_live_server: ServerMaker, new_context: ContextMaker) -> None:
    server = make_live_server()
    context = new_context()
    page = sign_in(context, server)
    with page.expect_response(lambda r: r.url.endswith("/account/signout")) as answer:
        page.locator("header").get_by_role("button", name="Sign out").click()
    assert answer.value.all_headers()["clear-site-data"] == '"cache", "cookies", "storage"'
    page.wait_for_url("**/account/signin?ended=signedout")
    assert "You signed out" in page.get_by_role("status").inner_text()
    assert session_cookies(context) == {}
    screenshot(page, "16-signin-signed-out")
    page.goto(server.base_url + "/account/sessions")
    assert on_signin(page) and page.get_by_role("status").count() == 0  # no session, nothing to explain


def test_session_limit_offers_to_sign_out_the_others(make_live_server: ServerMaker, new_context: ContextMaker) -> None:
    server = make_live_server({"SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER": "1"})
    a = sign_in(new_context(), server)
    page = new_context(user_agent=FIREFOX_WINDOWS).new_page()
    page.goto(server.base_url + "/account/signin")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "Too many devices" in page.get_by_role("status").inner_text()
    screenshot(page, "17-signin-too-many-devices")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Sign out my other sessions").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/sessions")
    a.reload()
    assert on_signin(a)
    assert "ended from another device" in a.get_by_role("status").inner_text()
