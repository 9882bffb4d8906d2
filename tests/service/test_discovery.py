"""Discovery and the JWKS as independent client libraries read them: Authlib's metadata validators, python-jose."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from jose import jwt as jose_jwt

from sessionward.crypto.dpop import DPOP_ALGORITHMS
from sessionward.http.routes.discovery import CLIENT_AUTH_METHODS
from tests.dpop_client import DpopKey
from tests.service.conftest import Server
from tests.service.dpop_helpers import dpop_login, dpop_me
from tests.service.helpers import PASSWORD, login

LOCATIONS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
# What a validator that requires an RFC 6749 token endpoint and ID tokens must refuse: neither exists yet, and the
# metadata does not pretend they do (SPEC 7, the OpenID Provider, brings both; then these sets become empty).
NO_TOKEN_ENDPOINT = {"token_endpoint": '"token_endpoint" is required'}
NO_ID_TOKENS = {"id_token_signing_alg_values_supported": '"id_token_signing_alg_values_supported" is required'}


def refusals(metadata: AuthorizationServerMetadata) -> dict[str, str]:
    """Every check of Authlib's `validate()`, run one by one: the members it refuses and why."""
    refused: dict[str, str] = {}
    for key in metadata.REGISTRY_KEYS:
        try:
            getattr(metadata, f"validate_{key}")()
        except ValueError as exc:
            refused[key] = str(exc)
    return refused


@pytest.fixture
def http(server: Server) -> Any:
    with server.client() as c:
        yield c


def test_both_locations_serve_the_same_exact_metadata(server: Server, http: httpx2.Client) -> None:
    answers = [http.get(path) for path in LOCATIONS]
    for r in answers:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
    rfc8414, oidc = (r.json() for r in answers)
    assert rfc8414 == oidc
    issuer = server.base_url
    assert rfc8414 == {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/v1/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint": f"{issuer}/v1/oauth/introspect",
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "response_types_supported": ["none"],
        "grant_types_supported": [],
        "subject_types_supported": ["public"],
        "acr_values_supported": ["urn:sessionward:loa:1", "urn:sessionward:loa:2"],
        "claims_supported": rfc8414["claims_supported"],
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "service_documentation": f"{issuer}/openapi.json",
    }
    assert {"sub", "sid", "acr", "amr", "auth_time"} <= set(rfc8414["claims_supported"])
    assert "client_secret_basic" in CLIENT_AUTH_METHODS


SECRET = "s3cret with a space"
# How each client authentication method of RFC 7591 / OAuth sends the secret; one without a sender here fails.
SENDERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "client_secret_basic": lambda cid, secret: {
        "headers": {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}
    },
    "client_secret_post": lambda cid, secret: {"data": {"client_id": cid, "client_secret": secret}},
}


def test_every_advertised_client_authentication_method_works(make_server: Callable[..., Server]) -> None:
    server = make_server(env={"SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": SECRET})
    server.add_user("alice", PASSWORD)
    with server.client() as http:
        token = login(server, http)["access_token"]
        metadata = http.get(LOCATIONS[0]).json()
        for field, path in (
            ("introspection_endpoint_auth_methods_supported", "/v1/oauth/introspect"),
            ("revocation_endpoint_auth_methods_supported", "/v1/oauth/revoke"),
        ):
            for method in metadata[field]:
                how = SENDERS[method]("web", SECRET)
                form = {"token": token, **how.get("data", {})}
                r = http.post(path, data=form, headers=how.get("headers", {}))
                assert r.status_code == 200, (method, path, r.text)
                wrong = SENDERS[method]("web", "wrong")
                r = http.post(path, data={"token": token, **wrong.get("data", {})}, headers=wrong.get("headers", {}))
                assert r.status_code == 401, (method, path)


def test_nothing_is_advertised_that_the_service_does_not_do(http: httpx2.Client) -> None:
    """The review's findings: no empty required lists, no ID-token members, no unlisted grant types (RFC 8414 reads
    a missing grant_types_supported as authorization_code and implicit), no endpoint that is not served."""
    metadata = http.get(LOCATIONS[0]).json()
    assert metadata["response_types_supported"], "REQUIRED and non-empty (RFC 8414, OIDC Discovery)"
    assert "grant_types_supported" in metadata
    assert not [name for name in metadata if name.startswith(("id_token_", "userinfo_", "request_object_"))]
    for absent in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint"):
        assert absent not in metadata
    for name, value in metadata.items():
        if name.endswith(("_endpoint", "_uri", "service_documentation")):
            path = value.removeprefix(metadata["issuer"])
            assert http.request("OPTIONS" if name.endswith("_endpoint") else "GET", path).status_code in (200, 405)


def test_authlib_rfc8414_validator_refuses_only_the_missing_token_endpoint(http: httpx2.Client) -> None:
    metadata = AuthorizationServerMetadata(http.get("/.well-known/oauth-authorization-server").json())
    assert refusals(metadata) == NO_TOKEN_ENDPOINT
    with pytest.raises(ValueError, match="token_endpoint"):
        metadata.validate()


def test_authlib_oidc_validator_refuses_only_what_an_openid_provider_adds(http: httpx2.Client) -> None:
    metadata = OpenIDProviderMetadata(http.get("/.well-known/openid-configuration").json())
    assert refusals(metadata) == {**NO_TOKEN_ENDPOINT, **NO_ID_TOKENS}


def test_the_validators_would_catch_the_old_document() -> None:
    """The per-check run is not blind: the metadata the review found is refused for the reasons it gave."""
    old = {
        "issuer": "https://sw.example",
        "jwks_uri": "https://sw.example/.well-known/jwks.json",
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    }
    refused = refusals(AuthorizationServerMetadata(old))
    assert "response_types_supported" in refused
    assert "authorization_endpoint" in refused  # no grant_types_supported: read as authorization_code, implicit


def test_every_advertised_dpop_algorithm_is_accepted_and_no_other(server: Server, http: httpx2.Client) -> None:
    """The list is read from the verifier's own (crypto/dpop.py), and each entry really works end to end."""
    advertised = http.get(LOCATIONS[1]).json()["dpop_signing_alg_values_supported"]
    assert advertised == list(DPOP_ALGORITHMS)
    assert {"ES256", "RS256", "PS256", "EdDSA"} <= set(advertised)
    server.add_user("alice", PASSWORD)
    for alg in advertised:
        key = DpopKey(alg)
        r = dpop_login(server, http, key)
        assert r.status_code == 201, (alg, r.text)
        assert r.json()["token_type"] == "DPoP"
        assert dpop_me(server, http, key, r.json()["access_token"]).status_code == 200, alg
    refused = dpop_login(server, http, DpopKey("ES256"), alg="ES384")  # signed, but not an advertised algorithm
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"


# -- the JWKS: the signing algorithm's keys first --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_python_jose_verifies_a_token_against_the_served_jwks(
    make_server: Callable[..., Server], algorithm: str
) -> None:
    """python-jose tries the JWKS's keys in order and fails on an EC key for an RS256 token: the keys of
    `tokens.algorithm` come first, although both algorithms have an active key."""
    server = make_server(env={"SESSIONWARD_TOKENS__ALGORITHM": algorithm})
    server.add_user("alice", PASSWORD)
    with server.client() as http:
        token = login(server, http)["access_token"]
        jwks = http.get("/.well-known/jwks.json").json()
    assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    unverified = jose_jwt.get_unverified_claims(token)
    claims = jose_jwt.decode(token, jwks, algorithms=[algorithm], audience=unverified["aud"], issuer=server.base_url)
    assert claims["sid"] == unverified["sid"]
    assert jwks["keys"][0]["alg"] == algorithm
    assert jose_jwt.get_unverified_header(token)["kid"] == jwks["keys"][0]["kid"]
