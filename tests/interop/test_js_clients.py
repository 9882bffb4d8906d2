"""JavaScript clients (jose, oauth4webapi, openid-client 6; versions locked in js/package-lock.json) against a
real server: token verification with the served JWKS, RFC 7662 introspection and RFC 7009 revocation with
client_secret_basic and client_secret_post and a secret containing spaces, and DPoP with an Ed25519 key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.interop.conftest import PASSWORD, RS_CLIENT, RS_SECRET, algorithm_of, login, require_js_clients
from tests.service.conftest import Server

Node = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module", autouse=True)
def _js_clients_installed() -> None:
    """Before the module's servers start: without the clients there is nothing to run them against."""
    require_js_clients()


def payload_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return payload


def test_jose_verifies_with_create_remote_jwks_set(idp: Server, node: Node) -> None:
    issued = login(idp)
    with idp.client() as c:
        jwks_uri = c.get("/.well-known/openid-configuration").json()["jwks_uri"]
    out = node(
        "verify_jose.mjs",
        idp,
        JWKS_URI=jwks_uri,
        AUDIENCE="sessionward",
        TOKEN=issued["access_token"],
        ALGORITHM=algorithm_of(idp),
    )
    assert out["header"]["alg"] == algorithm_of(idp)
    assert out["payload"]["sid"] == issued["session_id"]


@pytest.mark.parametrize("auth", ["basic", "post"])
@pytest.mark.parametrize("library", ["oauth4webapi", "openid-client"])
def test_introspection_then_revocation(idp: Server, node: Node, library: str, auth: str) -> None:
    """The token is the resource server's client's own (introspection may be limited to a token's client)."""
    for kind in ("refresh_token", "access_token"):
        issued = login(idp, client_id=RS_CLIENT)  # a session of its own: the revocation ends it
        out = node(
            "introspect_revoke.mjs",
            idp,
            CLIENT_ID=RS_CLIENT,
            CLIENT_SECRET=RS_SECRET,
            TOKEN=issued[kind],
            LIBRARY=library,
            AUTH=auth,
        )
        assert out["before"]["active"] is True, (kind, out)
        assert out["before"]["client_id"] == RS_CLIENT
        assert out["before"]["sid"] == issued["session_id"]
        assert out["after"] == {"active": False}, (kind, out)


def test_dpop_with_an_ed25519_key(idp: Server, node: Node) -> None:
    out = node("dpop_ed25519.mjs", idp, USERNAME="alice", PASSWORD=PASSWORD)
    assert out["login"]["status"] == 201, out["login"]
    assert out["login"]["body"]["token_type"] == "DPoP"
    assert payload_of(out["login"]["body"]["access_token"])["cnf"] == {"jkt": out["jkt"]}
    assert out["me"]["status"] == 200, out["me"]
    assert out["refresh"]["status"] == 200, out["refresh"]
    assert payload_of(out["refresh"]["body"]["access_token"])["cnf"] == {"jkt": out["jkt"]}
    assert out["me_after"]["status"] == 200, out["me_after"]
