"""Client authentication at revocation and introspection (RFC 6749 2.3, RFC 7009, RFC 7662) through a real server:
client_secret_basic read raw (Authlib) and form-encoded (oauth4webapi, openid-client), client_secret_post
(openid-client 6's default), one method at a time, throttled failures, and introspection of a client's own
tokens only unless the caller is a resource server."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from authlib.oauth2.auth import encode_client_secret_basic, encode_client_secret_post

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login, me_status
from tests.service.test_cookies_csrf import audit

INTROSPECT, REVOKE = "/v1/oauth/introspect", "/v1/oauth/revoke"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A space (a form-encoder sends `+`), a `+` (sent as %2B), a colon and something that looks percent-encoded.
RS_SECRET = "rs secret with spaces+plus:colon %41 end"
APP_SECRET = "app-secret-0123456789"
ENV = {
    "SESSIONWARD_CLIENTS__RS__CLIENT_SECRET": RS_SECRET,
    "SESSIONWARD_CLIENTS__RS__INTROSPECT_ANY": "true",
    "SESSIONWARD_CLIENTS__APP__CLIENT_SECRET": APP_SECRET,
}
TIGHT = {
    "SESSIONWARD_LOGIN__FAILURE_WINDOW": "60s",
    "SESSIONWARD_LOGIN__MAX_CLIENT_AUTH_FAILURES_PER_CLIENT": "3",
    "SESSIONWARD_LOGIN__MAX_CLIENT_AUTH_FAILURES_PER_IP": "5",
}


class _Client:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret


def authlib_basic(client_id: str, secret: str) -> dict[str, str]:
    """What Authlib's client_secret_basic sends: the id and secret raw."""
    _uri, headers, _body = encode_client_secret_basic(_Client(client_id, secret), "POST", INTROSPECT, {}, "")
    return dict(headers)


def authlib_post(client_id: str, secret: str, token: str) -> str:
    """What Authlib's client_secret_post sends: the form with client_id and client_secret added."""
    _uri, _headers, body = encode_client_secret_post(
        _Client(client_id, secret), "POST", INTROSPECT, {}, f"token={token}"
    )
    return str(body)


def form_url_encode(text: str) -> str:
    """oauth4webapi's formUrlEncode (used by openid-client 6): encodeURIComponent, then a space as `+` and
    -_.!~*'() percent-encoded too, so only letters and digits stay as they are."""
    return "".join(
        ch if ch.isascii() and ch.isalnum() else "+" if ch == " " else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in text
    )


def encoded_basic(client_id: str, secret: str) -> dict[str, str]:
    """What oauth4webapi and openid-client send for client_secret_basic (RFC 6749 2.3.1)."""
    pair = f"{form_url_encode(client_id)}:{form_url_encode(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def raw_basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def srv(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=ENV, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def http(srv: Server) -> Any:
    with srv.client() as c:
        yield c


def introspect(http: httpx2.Client, token: str, headers: dict[str, str]) -> httpx2.Response:
    return http.post(INTROSPECT, data={"token": token}, headers=headers)


def assert_invalid_client(r: httpx2.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")


def test_a_secret_with_spaces_works_raw_form_encoded_and_in_the_body(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http)
    assert encoded_basic("rs", RS_SECRET) != raw_basic("rs", RS_SECRET)  # the two libraries really differ
    for headers in (authlib_basic("rs", RS_SECRET), encoded_basic("rs", RS_SECRET), raw_basic("rs", RS_SECRET)):
        r = introspect(http, s["access_token"], headers)
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True and r.json()["token_type"] == "Bearer"
    # client_secret_post, as Authlib builds it and as openid-client 6 does by default (a form-encoded body).
    r = http.post(INTROSPECT, content=authlib_post("rs", RS_SECRET, s["access_token"]).encode(), headers=FORM)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    body = f"token={s['refresh_token']}&client_id=rs&client_secret={form_url_encode(RS_SECRET)}"
    r = http.post(INTROSPECT, content=body.encode(), headers=FORM)
    assert r.status_code == 200 and r.json()["sid"] == s["session_id"], r.text
    # Revocation with client_secret_post, by the token's own client.
    own = login(srv, http, client_id="app")
    form = {"token": own["refresh_token"], "client_id": "app", "client_secret": APP_SECRET}
    assert http.post(REVOKE, data=form).status_code == 200
    assert me_status(http, own["access_token"]) == 401
    assert me_status(http, s["access_token"]) == 200


def test_refresh_token_introspection_names_no_token_type(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http)
    answer = introspect(http, s["refresh_token"], raw_basic("rs", RS_SECRET)).json()
    assert answer["active"] is True and answer["sid"] == s["session_id"]
    assert "token_type" not in answer  # RFC 7662: an RFC 6749 7.1 type (Bearer, DPoP), never "refresh_token"
    assert introspect(http, s["access_token"], raw_basic("rs", RS_SECRET)).json()["token_type"] == "Bearer"


def test_wrong_secrets_fail_in_every_reading_and_method(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http)
    token = s["access_token"]
    # The body method first: refusals past five a minute per address are only counted (services/refusals.py),
    # so the records read below are the first five.
    assert_invalid_client(http.post(INTROSPECT, data={"token": token, "client_id": "rs", "client_secret": "x"}))
    assert_invalid_client(http.post(INTROSPECT, data={"token": token, "client_id": "web", "client_secret": "x"}))
    assert_invalid_client(http.post(INTROSPECT, data={"token": token, "client_id": "rs"}))  # no secret: none
    for wrong in ("", RS_SECRET[:-1], RS_SECRET + " ", RS_SECRET.replace(" ", ""), RS_SECRET.upper()):
        assert_invalid_client(introspect(http, token, raw_basic("rs", wrong)))
    # Only one client at a time: rs must not be reached with app's secret, nor a public client with none.
    assert_invalid_client(introspect(http, token, raw_basic("rs", APP_SECRET)))
    failed = audit(srv, "client.auth_failed")
    assert {f["method"] for f in failed} == {"client_secret_basic", "client_secret_post"}
    assert {f["client_id"] for f in failed} == {"rs", "web"}
    assert "spaces" not in str(failed).lower() and "SPACES" not in str(failed)  # no reading of a secret is kept


def test_two_methods_at_once_are_an_invalid_request(srv: Server, http: httpx2.Client) -> None:
    token = login(srv, http)["access_token"]
    both = {"token": token, "client_id": "rs", "client_secret": RS_SECRET}
    r = http.post(INTROSPECT, data=both, headers=raw_basic("rs", RS_SECRET))  # both right, still two methods
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = http.post(INTROSPECT, data={"token": token, "client_id": "app"}, headers=raw_basic("rs", RS_SECRET))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = http.post(INTROSPECT, data={"token": token, "client_secret": RS_SECRET})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = http.post(INTROSPECT, content=f"token={token}&client_id=rs&client_id=rs&client_secret=x".encode(), headers=FORM)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    # Basic with the same client_id in the body is one method.
    r = http.post(INTROSPECT, data={"token": token, "client_id": "rs"}, headers=raw_basic("rs", RS_SECRET))
    assert r.status_code == 200 and r.json()["active"] is True


def test_failed_client_authentication_is_throttled_per_client_and_per_address(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    srv = make_server(env={**ENV, **TIGHT}, clock=clock)
    srv.add_user("alice", PASSWORD)
    with srv.client() as http:
        throttled_checks(srv, http, clock)


def throttled_checks(srv: Server, http: httpx2.Client, clock: FakeClock) -> None:
    token = login(srv, http)["access_token"]
    for _ in range(3):
        assert_invalid_client(introspect(http, token, encoded_basic("rs", "guess")))
    # The client's window is full: even the right secret waits now, by either method.
    for r in (
        introspect(http, token, encoded_basic("rs", RS_SECRET)),
        http.post(INTROSPECT, data={"token": token, "client_id": "rs", "client_secret": RS_SECRET}),
    ):
        assert (r.status_code, r.json()["error"]) == (429, "too_many_attempts")
        assert 1 <= int(r.headers["retry-after"]) <= 60
    assert introspect(http, token, raw_basic("app", APP_SECRET)).status_code == 200  # another client is not held up
    # Two more failures from this address, naming another client: the address's window (5) is full for everyone.
    for _ in range(2):
        assert_invalid_client(introspect(http, token, raw_basic("app", "guess")))
    r = introspect(http, token, raw_basic("app", APP_SECRET))
    assert r.status_code == 429 and r.headers["retry-after"]
    r = http.post(REVOKE, data={"token": token}, headers=raw_basic("nobody", "guess"))
    assert r.status_code == 429
    throttled = audit(srv, "client.auth_throttled")
    assert {t["client_id"] for t in throttled} == {"rs", "app", "nobody"}
    assert len(audit(srv, "client.auth_failed")) == 5  # a refused attempt is not evaluated, so not a failure
    clock.advance(61)
    assert introspect(http, token, raw_basic("rs", RS_SECRET)).json()["active"] is True
    assert introspect(http, token, raw_basic("app", APP_SECRET)).status_code == 200


def test_a_client_introspects_only_its_own_tokens_unless_a_resource_server(srv: Server, http: httpx2.Client) -> None:
    web = login(srv, http)  # client web
    app = login(srv, http, client_id="app")
    as_app = raw_basic("app", APP_SECRET)
    for token in (web["access_token"], web["refresh_token"]):
        r = introspect(http, token, as_app)
        assert r.status_code == 200 and r.json() == {"active": False}  # exactly, as for an unknown token
    assert introspect(http, app["access_token"], as_app).json()["active"] is True
    assert introspect(http, app["refresh_token"], as_app).json()["active"] is True
    # The resource server (introspect_any = true) sees every client's tokens.
    as_rs = raw_basic("rs", RS_SECRET)
    assert introspect(http, web["access_token"], as_rs).json()["client_id"] == "web"
    assert introspect(http, app["access_token"], as_rs).json()["client_id"] == "app"
    # Trying to pass as the resource server with app's credentials, or naming it in the body, gets nowhere.
    r = http.post(INTROSPECT, data={"token": web["access_token"], "client_id": "rs"}, headers=as_app)
    assert r.status_code == 400
    assert_invalid_client(
        http.post(INTROSPECT, data={"token": web["access_token"], "client_id": "rs", "client_secret": APP_SECRET})
    )
    refused = audit(srv, "token.introspection_refused")
    assert [(f["client_id"], f["token_client_id"]) for f in refused] == [("app", "web"), ("app", "web")]
    assert me_status(http, web["access_token"]) == 200
    assert http.get("/v1/me", headers=bearer(app["access_token"])).status_code == 200


def test_discovery_names_both_methods(http: httpx2.Client) -> None:
    conf = http.get("/.well-known/openid-configuration").json()
    for key in ("revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"):
        assert conf[key] == ["client_secret_basic", "client_secret_post"]
