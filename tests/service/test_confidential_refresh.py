"""RFC 6749 section 6 through a real server: a confidential client's refresh token (a client with a secret) is
refreshed only with that client's authentication (HTTP Basic, or client_id and client_secret in the JSON body);
a refusal changes nothing, not even reuse detection; public clients such as `web` refresh as before."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, SHORT_POLICY, login, me_status, refresh
from tests.service.test_client_auth import APP_SECRET, ENV, RS_SECRET, TIGHT, encoded_basic, raw_basic
from tests.service.test_cookies_csrf import REFRESH, Browserish, audit

PATH = "/v1/sessions/refresh"


@pytest.fixture
def srv(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env={**ENV, **SHORT_POLICY}, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def http(srv: Server) -> Iterator[httpx2.Client]:
    with srv.client() as c:
        yield c


def as_app(http: httpx2.Client, token: str, **body: str) -> httpx2.Response:
    return http.post(PATH, json={"refresh_token": token, **body}, headers=raw_basic("app", APP_SECRET))


def test_a_confidential_clients_refresh_needs_its_authentication(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http, client_id="app")
    r = refresh(http, s["refresh_token"])
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")
    wrong = http.post(PATH, json={"refresh_token": s["refresh_token"]}, headers=raw_basic("app", "guess"))
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    # Another confidential client, rightly authenticated, is not this token's client.
    other = http.post(PATH, json={"refresh_token": s["refresh_token"]}, headers=encoded_basic("rs", RS_SECRET))
    assert (other.status_code, other.json()["error"]) == (401, "invalid_grant")
    both = as_app(http, s["refresh_token"], client_id="app", client_secret=APP_SECRET)
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    # None of that touched the token: the client's own refresh, by either method, works.
    first = as_app(http, s["refresh_token"])
    assert first.status_code == 200, first.text
    assert first.json()["session_id"] == s["session_id"]
    body = {"refresh_token": first.json()["refresh_token"], "client_id": "app", "client_secret": APP_SECRET}
    second = http.post(PATH, json=body)
    assert second.status_code == 200, second.text
    assert me_status(http, second.json()["access_token"]) == 200
    reasons = [e["reason"] for e in audit(srv, "refresh.rejected")]
    assert reasons == ["client_authentication_required", "issued_to_another_client"]


def test_an_unauthenticated_replay_cannot_end_the_session(srv: Server, http: httpx2.Client, clock: FakeClock) -> None:
    s = login(srv, http, client_id="app")
    new = as_app(http, s["refresh_token"]).json()
    clock.advance(11)  # past the grace: presenting the old token again is reuse
    r = refresh(http, s["refresh_token"])  # a thief without the secret
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert me_status(http, new["access_token"]) == 200  # the session lives on
    assert audit(srv, "refresh.reuse_detected") == []
    assert as_app(http, s["refresh_token"]).status_code == 401  # the client itself: reuse, the session ends
    assert me_status(http, new["access_token"]) == 401
    assert len(audit(srv, "refresh.reuse_detected")) == 1


def test_public_clients_refresh_as_before(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http)  # web: no secret
    r = refresh(http, s["refresh_token"])
    assert r.status_code == 200, r.text
    r = http.post(PATH, json={"refresh_token": r.json()["refresh_token"], "client_id": "web"})  # named, not a method
    assert r.status_code == 200, r.text
    # Another client's credentials do not make a public client's token theirs.
    assert as_app(http, r.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, r.json()["refresh_token"]).status_code == 200


def test_failed_client_authentication_at_refresh_is_throttled(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    srv = make_server(env={**ENV, **TIGHT}, clock=clock)
    srv.add_user("alice", PASSWORD)
    with srv.client() as http:
        s = login(srv, http, client_id="app")
        for _ in range(3):
            r = http.post(PATH, json={"refresh_token": s["refresh_token"], "client_id": "app", "client_secret": "x"})
            assert r.status_code == 401
        r = as_app(http, s["refresh_token"])
        assert r.status_code == 429 and r.headers["retry-after"]
        assert [t["client_id"] for t in audit(srv, "client.auth_throttled")] == ["app"]
        clock.advance(61)
        assert as_app(http, s["refresh_token"]).status_code == 200


def derived_csrf_token(refresh_token: str, sid: str) -> str:
    """What anyone holding a refresh token can compute: the session's CSRF token (http/csrf.py: an HMAC of the sid
    keyed with the refresh-token family, which every refresh token of the session starts with)."""
    family = refresh_token.partition(".")[0]
    mac = hmac.new(family.encode(), b"sessionward csrf v1\x00" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def test_a_confidential_clients_token_cannot_be_refreshed_through_cookies(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http, client_id="app")  # token transport: the client's backend holds the refresh token
    thief = Browserish(
        srv, http, {REFRESH: s["refresh_token"]}, derived_csrf_token(s["refresh_token"], s["session_id"])
    )
    r = thief.request("POST", PATH)  # the cookie path, with the CSRF token and a same-origin Origin
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), r.text
    assert "set-cookie" not in r.headers
    page = thief.request("GET", "/account/sessions", csrf=False, origin=None)  # the pages refresh on a GET
    assert page.status_code == 303 and page.headers["location"].startswith("/account/signin")
    assert not any(
        line.startswith(f"{REFRESH}=") and "Max-Age=0" not in line for line in page.headers.get_list("set-cookie")
    )
    assert as_app(http, s["refresh_token"]).status_code == 200  # the client itself, authenticated, still refreshes
