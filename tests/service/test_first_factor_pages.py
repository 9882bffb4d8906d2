"""The account pages under the first-factor rule, without a browser: form posts through the real server.

A session whose sign-in is older than step_up_max_age sees a password field in the forms that begin a first
factor (authenticator app, security key); a post without it asks for it, a wrong one is refused and counted,
the right one goes on. Right after a sign-in nothing is asked.
"""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD
from tests.service.soft_authenticator import SoftAuthenticator
from tests.service.test_cookies_csrf import Browserish, cookie_login, set_cookies
from tests.service.test_first_factor import STEP_UP_MAX_AGE, audit

SECURITY = "/account/security"


@pytest.fixture
def alice(server: Server) -> str:
    return server.add_user("alice", PASSWORD)


def post(b: Browserish, path: str, **fields: str) -> httpx2.Response:
    """A page's form post (the CSRF token in the form, as the pages send it); cookies a refresh set are kept."""
    r = b.request("POST", path, data={"csrf_token": b.csrf, **fields}, csrf=False, follow_redirects=False)
    keep(b, r)
    return r


def get(b: Browserish, path: str) -> httpx2.Response:
    r = b.request("GET", path, csrf=False, origin=None, follow_redirects=False)
    keep(b, r)
    return r


def keep(b: Browserish, r: httpx2.Response) -> None:
    for name, m in set_cookies(r).items():
        b.cookies[name] = m["value"]


def secret_on(page: httpx2.Response) -> str | None:
    found = re.search(r'<code id="totp-secret"[^>]*>([A-Z2-7 ]+)</code>', page.text)
    return found[1].replace(" ", "") if found else None


def test_after_a_fresh_sign_in_the_pages_ask_no_password(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    b = cookie_login(server, client)
    assert 'name="current_password"' not in get(b, SECURITY).text
    r = post(b, f"{SECURITY}/totp")
    assert r.status_code == 200 and secret_on(r)


def test_an_older_session_is_asked_for_the_password_and_a_wrong_one_counts(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    b = cookie_login(server, client)
    clock.advance(STEP_UP_MAX_AGE + 1)
    security = get(b, SECURITY)
    assert security.status_code == 200
    assert security.text.count('name="current_password"') == 2  # the app's form and the key's form
    asked = post(b, f"{SECURITY}/totp")
    assert asked.status_code == 200 and secret_on(asked) is None
    assert 'name="current_password"' in asked.text and "Confirm it" in asked.text
    wrong = post(b, f"{SECURITY}/totp", current_password="guess")
    assert wrong.status_code == 403 and secret_on(wrong) is None
    assert "That password isn" in wrong.text
    refused = audit(server, "mfa.enrolment_refused")
    assert [d["reason"] for d in refused] == ["wrong_current_password"]
    right = post(b, f"{SECURITY}/totp", current_password=PASSWORD)
    assert right.status_code == 200 and secret_on(right)


def test_an_older_session_adds_a_first_security_key_with_the_password_and_keeps_the_others(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    key = SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")
    b = cookie_login(server, client)
    other = cookie_login(server, client)
    clock.advance(STEP_UP_MAX_AGE + 1)
    r = post(b, f"{SECURITY}/key/options")
    assert (r.status_code, r.json()) == (401, {"error": "password"})
    r = post(b, f"{SECURITY}/key/options", current_password="guess")
    assert (r.status_code, r.json()) == (403, {"error": "password_wrong"})
    # The script hands the options endpoint's refusal back: the page words it and still asks.
    r = post(b, f"{SECURITY}/key", credential="", webauthn_error="password_wrong")
    assert r.status_code == 400 and "That password isn" in r.text and 'name="current_password"' in r.text
    r = post(b, f"{SECURITY}/key/options", current_password=PASSWORD)
    assert r.status_code == 200, r.text
    answer = key.create(r.json())
    r = post(b, f"{SECURITY}/key", credential=json.dumps(answer), key_name="Blue key", current_password=PASSWORD)
    assert r.status_code == 200 and "recovery codes" in r.text
    # The first factor keeps the other session, and the trail names the session that bound it.
    assert get(other, "/account/sessions").status_code == 200
    assert [d["method"] for d in audit(server, "mfa.first_factor_added")] == ["webauthn"]
    # With a factor now, the forms ask no password: adding another needs a step-up instead.
    page = get(b, SECURITY)
    assert 'name="current_password"' not in page.text
    r = post(b, f"{SECURITY}/totp", current_password=PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/step-up")
