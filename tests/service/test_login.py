"""Login and /v1/me through the real HTTPS server."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.service.conftest import Server

PASSWORD = "correct horse battery staple"


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_login_then_me(server: Server, client: httpx2.Client) -> None:
    user_id = server.add_user("alice", PASSWORD)
    r = server.login(client, "alice", PASSWORD)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {
        "session_id",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "acr",
        "amr",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert len(body["refresh_token"]) >= 22
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == user_id
    assert me.json()["username"] == "alice"
    assert me.json()["session_id"] == body["session_id"]
    assert me.json()["client_id"] == "web"
    assert me.json()["amr"] == ["pwd"]
    assert me.json()["auth_time"].endswith("Z")


def test_access_token_has_every_claim_of_rfc9068(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    token = server.login(client, "alice", PASSWORD).json()["access_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    claims = claims_of(token)
    for name in ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "client_id", "auth_time", "acr", "amr"):
        assert name in claims
    assert claims["iss"] == server.base_url
    assert claims["aud"] == "sessionward"
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 22
    assert claims["exp"] == claims["iat"] + 300  # type: ignore[operator]


def test_jti_is_unique_per_token(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    jtis = {claims_of(server.login(client, "alice", PASSWORD).json()["access_token"])["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_rs256_when_configured(make_server: object) -> None:
    srv = make_server(env={"SESSIONWARD_TOKENS__ALGORITHM": "RS256"})  # type: ignore[operator]
    srv.add_user("bob", PASSWORD)
    with srv.client() as c:
        token = srv.login(c, "bob", PASSWORD).json()["access_token"]
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "RS256"
        assert c.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    wrong = server.login(client, "alice", "not the password")
    unknown = server.login(client, "mallory", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_credentials"
    assert "www-authenticate" not in wrong.headers


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'"alice"', "application/json", 400),
        (b"{}", "application/json", 400),
        (b'{"username": 1, "password": "x"}', "application/json", 400),
        (b'{"username": "alice", "password": null}', "application/json", 400),
        (b'{"username": "alice", "password": ["x"]}', "application/json", 400),
        (b'{"username": "alice", "password": "x", "transport": "carrier-pigeon"}', "application/json", 400),
        (b'{"username": "alice", "password": "x", "revoke_other_sessions": "yes"}', "application/json", 400),
        (b'{"username": "alice", "password": "x", "client_id": "nope"}', "application/json", 400),
        (b'{"username": "' + b"a" * 5000 + b'", "password": "x"}', "application/json", 400),
        (b'{"username": "alice", "password": NaN}', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"username=alice&password=x", "application/x-www-form-urlencoded", 415),
        (b'{"username": "alice", "password": "x"}', "text/plain", 415),
        (b"{" + b" " * 70000 + b"}", "application/json", 400),
    ],
)
def test_malformed_login_bodies_get_4xx_json(
    server: Server, client: httpx2.Client, content: bytes, content_type: str, status: int
) -> None:
    r = client.post("/v1/sessions", content=content, headers={"Content-Type": content_type})
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "error_description"}


def test_unknown_route_and_method_are_json_4xx(client: httpx2.Client) -> None:
    assert client.get("/v1/nothing").status_code == 404
    r = client.put("/v1/me")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"


def test_every_response_has_hsts(server: Server, client: httpx2.Client) -> None:
    for r in (client.get("/healthz"), client.get("/v1/me"), client.get("/nope"), client.post("/v1/sessions")):
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_me_without_or_with_bad_token_is_401_invalid_token(client: httpx2.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer x.y.z"}):
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert r.json()["error"] == "invalid_token"


def test_token_in_query_string_is_ignored(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    token = server.login(client, "alice", PASSWORD).json()["access_token"]
    assert client.get("/v1/me", params={"access_token": token}).status_code == 401


def test_expired_token_rejected_by_moving_the_clock(server: Server, client: httpx2.Client, clock: FakeClock) -> None:
    server.add_user("alice", PASSWORD)
    token = server.login(client, "alice", PASSWORD).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/me", headers=auth).status_code == 200
    clock.advance(300 + 5 - 1)  # inside ttl + leeway
    assert client.get("/v1/me", headers=auth).status_code == 200
    clock.advance(2)
    assert client.get("/v1/me", headers=auth).status_code == 401


def test_discovery_and_jwks(server: Server, client: httpx2.Client) -> None:
    conf = client.get("/.well-known/openid-configuration").json()
    assert conf["issuer"] == server.base_url
    for key in ("jwks_uri", "revocation_endpoint", "introspection_endpoint"):
        assert conf[key].startswith(server.base_url + "/")
    keys = client.get(conf["jwks_uri"].removeprefix(server.base_url)).json()["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256"}
    for k in keys:
        assert k["use"] == "sig"
        assert k["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(k)


def test_openapi_document(client: httpx2.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/sessions" in doc["paths"]
    assert "/v1/me" in doc["paths"]


def test_health_and_ready(client: httpx2.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}


def test_login_upgrades_a_hash_made_with_old_parameters(make_server: object, tmp_path: object) -> None:
    old = make_server(name="shared")  # type: ignore[operator]
    old.add_user("alice", PASSWORD)

    async def stored_hash() -> str:
        from sessionward.services.container import open_services

        svc = await open_services(old.settings)
        try:
            user = await svc.store.get_user_by_name("alice")
            assert user is not None
            return user.password_hash
        finally:
            await svc.close()

    import anyio

    before = anyio.run(stored_hash)
    assert "t=1," in before
    stronger = make_server(env={"SESSIONWARD_PASSWORDS__TIME_COST": "2"}, name="shared")  # type: ignore[operator]
    with stronger.client() as c:
        assert stronger.login(c, "alice", PASSWORD).status_code == 201
    after = anyio.run(stored_hash)
    assert after != before
    assert "t=2," in after
    with stronger.client() as c:
        assert stronger.login(c, "alice", PASSWORD).status_code == 201
