"""Edges of the contract, each over the real HTTPS server: text that is not UTF-8 is a 400 (never a 500 or a dropped
connection), HSTS and no-store on Starlette's own 500, a cookie refresh of an ended session is a dead grant (not a
forged request), and discovery names both assurance levels."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import NoReturn

import httpx2
import pytest

from sessionward.clock import FakeClock
from sessionward.core.assurance import LOA_MFA, LOA_PASSWORD
from sessionward.http.routes import discovery
from sessionward.http.routes import sessions as session_routes
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login
from tests.service.test_cookies_csrf import audit, cookie_login

SECRET = "s3cret-for-the-web-client"
ENV = {"SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": SECRET}
HSTS = "max-age=31536000; includeSubDomains"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def srv(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=ENV, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def http(srv: Server) -> Iterator[httpx2.Client]:
    with srv.client() as c:
        yield c


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"web:{SECRET}".encode()).decode()}


def assert_invalid_request(r: httpx2.Response) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.headers["strict-transport-security"] == HSTS


# -- 1. text that is not UTF-8 -----------------------------------------------------------------------------------


# JSON bodies, written by hand: each holds an escaped lone surrogate, which json.loads accepts.
LONE_SURROGATES = [
    ("/v1/sessions", rb'{"username": "\ud800", "password": "x"}'),
    ("/v1/sessions", rb'{"username": "alice", "password": "\udfff"}'),
    ("/v1/sessions", rb'{"username": "alice", "password": "x", "\ud800": 1}'),  # a key
    ("/v1/sessions", rb'{"username": "alice", "password": "x", "extra": {"deep": ["ok", "\udc00"]}}'),
    ("/v1/sessions/refresh", rb'{"refresh_token": "\ud800"}'),
    ("/v1/sessions/mfa", rb'{"mfa_token": "\ud800", "method": "totp", "code": "123456"}'),
    ("/v1/sessions/mfa", rb'{"mfa_token": "t", "method": "totp", "code": "\ud800"}'),
    ("/v1/sessions/mfa", rb'{"mfa_token": "t", "method": "webauthn", "credential": {"id": "\ud800"}}'),
    ("/v1/sessions/mfa/webauthn", rb'{"mfa_token": "\ud800"}'),
]


@pytest.mark.parametrize(("path", "body"), LONE_SURROGATES)
def test_a_lone_surrogate_in_a_json_body_is_an_invalid_request(
    srv: Server, http: httpx2.Client, path: str, body: bytes
) -> None:
    r = http.post(path, content=body, headers=JSON)
    assert_invalid_request(r)
    assert "UTF-8" in r.json()["error_description"]
    assert http.get("/healthz").status_code == 200  # the server is unharmed


def test_a_lone_surrogate_is_refused_on_the_authenticated_routes_too(srv: Server, http: httpx2.Client) -> None:
    token = login(srv, http)["access_token"]
    for path, body in (
        ("/v1/password", rb'{"current_password": "\ud800", "new_password": "a brand new passphrase"}'),
        ("/v1/sessions/step-up", rb'{"method": "webauthn", "credential": {"response": {"\ud800": "x"}}}'),
        ("/v1/mfa/totp/confirm", rb'{"code": "\ud800"}'),
    ):
        assert_invalid_request(http.post(path, content=body, headers={**JSON, **bearer(token)}))
    assert http.get("/v1/me", headers=bearer(token)).status_code == 200  # a refused body changes nothing


def test_escaped_text_that_is_utf8_still_works(srv: Server, http: httpx2.Client) -> None:
    # A valid surrogate pair is one character; escaped non-ASCII text is fine.
    r = http.post("/v1/sessions", content=rb'{"username": "\ud83d\ude00", "password": "x"}', headers=JSON)
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    escaped = b'{"username": "alic\\u0065", "password": "%s"}' % PASSWORD.encode()
    r = http.post("/v1/sessions", content=escaped, headers=JSON)
    assert r.status_code == 201, r.text


def test_a_form_token_that_is_not_utf8_is_an_invalid_request(srv: Server, http: httpx2.Client) -> None:
    for path in ("/v1/oauth/introspect", "/v1/oauth/revoke"):
        for token in ("%ED%A0%80", "%FF", "abc%C3"):
            assert_invalid_request(http.post(path, content=f"token={token}".encode(), headers={**FORM, **basic()}))
    r = http.post("/v1/oauth/introspect", content=b"token=%C3%A9t%C3%A9", headers={**FORM, **basic()})
    assert r.status_code == 200 and r.json() == {"active": False}


def test_a_sign_in_form_that_is_not_utf8_reads_as_empty(srv: Server, http: httpx2.Client) -> None:
    headers = {**FORM, "Origin": srv.base_url}
    r = http.post("/account/signin", content=b"username=%ED%A0%80&password=x", headers=headers)
    assert r.status_code == 400  # "enter your username and your password", not an attempt with U+FFFD
    assert r.headers["strict-transport-security"] == HSTS
    r = http.post("/account/signin", content=b"username=alice&password=%FF", headers=headers)
    assert r.status_code == 400


# -- 2. HSTS on every response, Starlette's own 500 included -------------------------------------------------------


def _boom(*_args: object, **_kwargs: object) -> NoReturn:
    raise RuntimeError("an unexpected failure")


def test_an_unhandled_exception_answers_500_with_hsts_and_no_store(
    srv: Server, http: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = login(srv, http)["access_token"]
    monkeypatch.setattr(session_routes, "principal", _boom)
    monkeypatch.setattr(discovery, "openapi_document", _boom)
    # uvicorn closes the connection after an unhandled exception: a fresh client (connection) for each.
    with srv.client() as fresh:
        r = fresh.get("/v1/me", headers=bearer(token))
    assert r.status_code == 500
    assert r.headers["strict-transport-security"] == HSTS
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert token not in r.text and "RuntimeError" not in r.text
    with srv.client() as fresh:
        r = fresh.get("/openapi.json")
    assert r.status_code == 500
    assert r.headers["strict-transport-security"] == HSTS
    monkeypatch.undo()
    with srv.client() as fresh:
        assert fresh.get("/v1/me", headers=bearer(token)).status_code == 200


def test_ordinary_answers_carry_the_security_headers_once(srv: Server, http: httpx2.Client) -> None:
    for path in ("/healthz", "/v1/me", "/account/signin", "/no-such-path"):
        r = http.get(path)
        assert r.headers.get_list("strict-transport-security") == [HSTS], path
        assert len(r.headers.get_list("x-frame-options")) == 1, path
    assert http.get("/v1/me").headers["cache-control"] == "no-store"
    assert len(http.get("/account/signin").headers.get_list("content-security-policy")) == 1


# -- 3. cookie refresh of an ended session -------------------------------------------------------------------------


def test_cookie_refresh_of_an_ended_session_is_invalid_grant_not_a_csrf_refusal(
    srv: Server, http: httpx2.Client
) -> None:
    b = cookie_login(srv, http)
    assert b.request("DELETE", "/v1/sessions/current").status_code == 204
    r = b.request("POST", "/v1/sessions/refresh")  # the right X-CSRF-Token and a same-origin Origin
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_grant"
    assert "set-cookie" not in r.headers
    assert audit(srv, "csrf.rejected") == []
    # A live session without its CSRF token is still refused as before.
    live = cookie_login(srv, http)
    assert live.request("POST", "/v1/sessions/refresh", csrf=False).status_code == 403
    assert [record["reason"] for record in audit(srv, "csrf.rejected")] == ["missing_token"]


# -- 4. discovery ---------------------------------------------------------------------------------------------------


def test_discovery_names_both_assurance_levels_and_nothing_it_does_not_have(srv: Server, http: httpx2.Client) -> None:
    conf = http.get("/.well-known/openid-configuration").json()
    assert conf["acr_values_supported"] == [LOA_PASSWORD, LOA_MFA]
    assert "urn:sessionward:loa:2" in conf["acr_values_supported"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in conf
