"""Security keys on the pages in Debian's Chromium, with the CDP virtual authenticator: register one on the
security page, sign in with the password and the key, step up with it before a factor change that is refused
without it, and an authenticator that cannot verify the user is refused everywhere.

WebAuthn's relying party of a loopback issuer is "localhost" (services/webauthn.py), so these pages are opened at
https://localhost:PORT (the server's certificate covers it; the contexts ignore HTTPS errors anyway)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyotp
import pytest

from tests.browser.conftest import PASSWORD, audit_events, screenshot
from tests.service.conftest import Server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, CDPSession, Page, Route

pytestmark = pytest.mark.slow

ContextMaker = Callable[..., "BrowserContext"]
ServerMaker = Callable[..., Server]
LOA_MFA = "urn:sessionward:loa:2"


def at_localhost(server: Server) -> str:
    return server.base_url.replace("://127.0.0.1:", "://localhost:")


def virtual_authenticators(context: BrowserContext, page: Page) -> CDPSession:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    return cdp


class Authenticator:
    """A CTAP2 virtual authenticator of one page (through CDP): a platform one with user verification, or a
    USB one that cannot verify the user (`can_verify=False`)."""

    def __init__(self, cdp: CDPSession, *, verified: bool = True, can_verify: bool = True) -> None:
        self.cdp = cdp
        options = {
            "protocol": "ctap2",
            "transport": "internal" if can_verify else "usb",
            "hasResidentKey": True,
            "hasUserVerification": can_verify,
            "isUserVerified": verified and can_verify,
        }
        self.id = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    def verifies(self, verified: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified})

    def credentials(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})[
            "credentials"
        ]
        return found

    def adopt(self, credentials: list[dict[str, Any]]) -> None:
        """Holds the same credentials (private keys included) as another authenticator."""
        for credential in credentials:
            self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential})

    def remove(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})


def console_problems(page: Page) -> list[str]:
    """Script errors and policy violations (a 4xx page that says what went wrong is no problem)."""
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def password_step(page: Page, base: str) -> None:
    page.goto(base + "/account/signin")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_in_with_password(page: Page, base: str) -> None:
    password_step(page, base)
    page.wait_for_url("**/account/sessions")


def add_key(page: Page, name: str) -> None:
    page.get_by_label("Name for the new key").fill(name)
    with page.expect_navigation(url="**/account/security/key"):
        page.get_by_role("button", name="Add security key").click()


def use_key(page: Page) -> None:
    """Clicks "Use security key" and waits for the page the form's post answers (or leads to)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Use security key").click()
    page.wait_for_load_state()


def factors(context: BrowserContext, base: str) -> dict[str, Any]:
    answer = context.request.get(base + "/v1/mfa")
    assert answer.ok, answer.text()
    found: dict[str, Any] = answer.json()
    return found


def me(context: BrowserContext, base: str) -> dict[str, Any]:
    answer = context.request.get(base + "/v1/me")
    assert answer.ok, answer.text()
    found: dict[str, Any] = answer.json()
    return found


def test_add_a_key_then_step_up_with_it_before_changing_factors(
    make_live_server: ServerMaker, new_context: ContextMaker
) -> None:
    server = make_live_server()
    base = at_localhost(server)
    context = new_context()
    page = context.new_page()
    problems = console_problems(page)
    key = Authenticator(virtual_authenticators(context, page))
    sign_in_with_password(page, base)

    page.get_by_role("link", name="Security").click()
    page.wait_for_url("**/account/security")
    assert page.get_by_role("heading", name="Sign-in security").is_visible()
    screenshot(page, "40-security-no-factor")

    # The first factor: the key, then the recovery codes, shown once.
    add_key(page, "Virtual key")
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    assert "Store these now" in page.get_by_role("status").inner_text()
    codes = page.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", c) for c in codes)
    screenshot(page, "41-security-key-recovery-codes")
    page.get_by_role("link", name="I've stored them").click()
    page.wait_for_url("**/account/security?done=key_added")
    assert "security key was added" in page.get_by_role("status").inner_text()
    assert page.locator("li.key .key-name").all_inner_texts() == ["Virtual key"]
    assert len(key.credentials()) == 1
    listed = factors(context, base)
    assert [k["name"] for k in listed["webauthn"]] == ["Virtual key"] and listed["recovery_codes_left"] == 10
    screenshot(page, "42-security-key-added")

    # A second key from this password-only session: the script's options request is refused for want of a fresh
    # factor, and the page leads to step-up, with the refusal audited once (not once more by the form's post).
    page.get_by_label("Name for the new key").fill("Second key")
    page.get_by_role("button", name="Add security key").click()
    page.wait_for_url("**/account/step-up?next=/account/security")
    refused = [json.loads(d) for d in audit_events(server, "step_up.required")]
    assert [r["operation"] for r in refused] == ["mfa.webauthn_add"]
    assert len(key.credentials()) == 1
    page.goto(base + "/account/security")

    # This session signed in with the password alone: a factor change now needs a fresh second factor first.
    page.get_by_role("button", name="Set up authenticator app").click()
    page.wait_for_url("**/account/step-up?next=/account/security")
    assert page.get_by_role("heading", name="Confirm it's you").is_visible()
    assert "change how you sign in" in page.locator(".lead").inner_text()
    assert factors(context, base)["totp"] is False
    refused = [json.loads(d) for d in audit_events(server, "step_up.required")]
    assert [r["operation"] for r in refused] == ["mfa.webauthn_add", "mfa.totp_replace"]
    screenshot(page, "43-step-up-with-key")

    page.get_by_role("button", name="Use security key").click()
    page.wait_for_url("**/account/security?done=confirmed")
    assert "Confirmed" in page.get_by_role("status").inner_text()
    now = me(context, base)
    assert now["acr"] == LOA_MFA and "hwk" in now["amr"]
    stepped = [json.loads(d) for d in audit_events(server, "session.stepped_up")]
    assert [s["method"] for s in stepped] == ["webauthn"]

    # The same authenticator again: the browser refuses it (excludeCredentials), and the page says so.
    add_key(page, "Same key again")
    assert "already registered" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Name for the new key").input_value() == "Same key again"
    screenshot(page, "44-security-key-already-registered")

    # Within the step-up window the change goes through: an authenticator app next to the key.
    page.get_by_role("button", name="Set up authenticator app").click()
    page.wait_for_url("**/account/security/totp")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url("**/account/security/totp/confirm")
    page.get_by_role("link", name="I've stored them").click()
    page.wait_for_url("**/account/security?done=totp_on")
    assert factors(context, base)["totp"] is True
    assert problems == []


def register(server: Server, context: BrowserContext, verified: bool = True) -> tuple[Page, Authenticator, str]:
    base = at_localhost(server)
    page = context.new_page()
    key = Authenticator(virtual_authenticators(context, page), verified=verified)
    sign_in_with_password(page, base)
    page.goto(base + "/account/security")
    return page, key, base


def test_sign_in_with_the_password_and_a_security_key(make_live_server: ServerMaker, new_context: ContextMaker) -> None:
    server = make_live_server()
    context = new_context()
    page, _key, base = register(server, context)
    problems = console_problems(page)
    add_key(page, "Laptop")
    codes = page.locator("ol.codes code").all_inner_texts()
    page.locator("header").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/account/signin?ended=signedout")

    password_step(page, base)
    assert page.get_by_role("heading", name="Second step").is_visible()
    assert "security key" in page.locator(".lead").inner_text()
    assert not [c for c in context.cookies() if c["name"].startswith("__Host-sw-")]
    screenshot(page, "45-signin-second-step-key")
    page.get_by_role("button", name="Use security key").click()
    page.wait_for_url("**/account/sessions")
    now = me(context, base)
    assert now["acr"] == LOA_MFA
    assert "hwk" in now["amr"] and "pwd" in now["amr"] and "mfa" in now["amr"]
    page.goto(base + "/account/security")
    assert "last used never" not in page.locator("li.key").inner_text()

    # The code form of the same page needs no script: a recovery code signs in too.
    other = new_context(javascript=False)
    plain = other.new_page()
    password_step(plain, base)
    assert plain.locator("form[data-webauthn]").is_hidden()
    plain.get_by_label("Code").fill(codes[0])
    plain.get_by_role("button", name="Verify").click()
    plain.wait_for_url("**/account/sessions")
    assert me(other, base)["acr"] == LOA_MFA
    assert problems == []


def asking_no_user_verification(page: Page) -> None:
    """A tampered client: the options the page gets ask the authenticator not to verify the user, so an
    authenticator that cannot verify answers all the same, without the UV flag -- the server must refuse it."""

    def tamper(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        options = body["publicKey"]
        if "authenticatorSelection" in options:
            options["authenticatorSelection"] = {"userVerification": "discouraged", "residentKey": "discouraged"}
        else:
            options["userVerification"] = "discouraged"
        route.fulfill(response=answer, json=body)

    page.route("**/options", tamper)


def test_an_authenticator_that_does_not_verify_the_user_is_refused(
    make_live_server: ServerMaker, new_context: ContextMaker
) -> None:
    server = make_live_server()
    context = new_context()
    page, key, base = register(server, context, verified=False)

    # Registration. The browser itself refuses an authenticator that fails user verification...
    add_key(page, "Unverified")
    assert "couldn't confirm it's you" in page.get_by_role("alert").inner_text()
    screenshot(page, "46-security-key-not-verified")
    # ...and the server refuses the answer of one that cannot verify the user at all.
    key.remove()
    unable = Authenticator(key.cdp, can_verify=False)
    asking_no_user_verification(page)
    add_key(page, "Unverified")
    assert "not confirmed it's you" in page.get_by_role("alert").inner_text()
    page.unroute("**/options")
    assert factors(context, base)["webauthn"] == []
    refusals = [json.loads(d) for d in audit_events(server, "mfa.failed")]
    assert [r["reason"] for r in refusals] == ["registration_invalid"]
    unable.remove()

    key = Authenticator(key.cdp)
    add_key(page, "Verified")
    assert page.get_by_role("heading", name="Save your recovery codes").is_visible()
    codes = page.locator("ol.codes code").all_inner_texts()

    # Sign-in: refused either way; the page says so, and nobody is signed in.
    page.locator("header").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/account/signin?ended=signedout")
    key.verifies(False)
    password_step(page, base)
    use_key(page)
    assert page.get_by_role("heading", name="Second step").is_visible()
    assert "couldn't confirm it's you" in page.get_by_role("alert").inner_text()
    screenshot(page, "47-signin-key-not-verified")
    # The registered credential, in an authenticator that cannot verify the user: its assertion has no UV flag.
    unable = Authenticator(key.cdp, can_verify=False)
    unable.adopt(key.credentials())
    key.remove()
    asking_no_user_verification(page)
    use_key(page)
    assert "not confirmed it's you" in page.get_by_role("alert").inner_text()
    assert not [c for c in context.cookies() if c["name"].startswith("__Host-sw-")]
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/sessions")

    # Step-up: the same answer is refused the same way.
    page.goto(base + "/account/step-up?next=/account/security")
    use_key(page)
    assert page.get_by_role("heading", name="Confirm it's you").is_visible()
    assert "not confirmed it's you" in page.get_by_role("alert").inner_text()
    assert audit_events(server, "session.stepped_up") == []
    refusals = [json.loads(d) for d in audit_events(server, "mfa.failed")]
    assert [r["reason"] for r in refusals] == ["registration_invalid", "assertion_invalid", "assertion_invalid"]


def test_only_the_pages_with_a_key_button_load_the_one_script(
    make_live_server: ServerMaker, new_context: ContextMaker
) -> None:
    server = make_live_server()
    context = new_context()
    page = context.new_page()
    base = at_localhost(server)
    sign_in_with_password(page, base)

    scripted = context.request.get(base + "/account/security")
    policy = scripted.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "default-src 'none'" in policy
    assert "require-trusted-types-for 'script'" in policy and "frame-ancestors 'none'" in policy
    tags = re.findall(r"<script\b[^>]*>", scripted.text())
    assert len(tags) == 1 and re.fullmatch(r'<script src="/static/webauthn\.js\?v=[0-9a-f]{12}" defer>', tags[0])
    assert " style=" not in scripted.text() and "<style" not in scripted.text()
    for path in ("/account/sessions", "/account/password", "/account/step-up"):
        strict = context.request.get(base + path)
        assert "script-src" not in strict.headers["content-security-policy"], path
        assert "<script" not in strict.text(), path

    script = context.request.get(base + "/static/webauthn.js")
    assert script.ok and script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"]
    assert "innerHTML" not in script.text() and "eval(" not in script.text()
