"""A relying service verifying sessionward access tokens with a JOSE library of its choice, against the JWKS the
server serves (found through discovery): PyJWT, joserfc and python-jose, with ES256 and with RS256 signing."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx2
import jose.jwt
import jwt
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet

from tests.interop.conftest import algorithm_of, login
from tests.service.conftest import Server

AUDIENCE = "sessionward"


def discovered_jwks(server: Server) -> tuple[str, dict[str, Any]]:
    with server.client() as c:
        jwks_uri = c.get("/.well-known/openid-configuration").json()["jwks_uri"]
        jwks: dict[str, Any] = c.get(jwks_uri).json()
    return jwks_uri, jwks


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return header


def check(claims: dict[str, Any], server: Server, issued: dict[str, Any]) -> None:
    assert claims["iss"] == server.base_url
    assert claims["aud"] == AUDIENCE
    assert claims["sid"] == issued["session_id"]
    assert claims["exp"] > time.time()


def test_pyjwt_verifies_with_the_served_jwks(idp: Server) -> None:
    issued = login(idp)
    token, alg = issued["access_token"], algorithm_of(idp)
    jwks_uri, _jwks = discovered_jwks(idp)
    keys = jwt.PyJWKClient(jwks_uri, ssl_context=idp.ssl_context())
    key = keys.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=[alg], audience=AUDIENCE, issuer=idp.base_url, options={"require": ["exp", "sub"]}
    )
    check(claims, idp, issued)
    assert header_of(token)["typ"] == "at+jwt"
    # The same library refuses the token once one byte of its signature changes.
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    try:
        jwt.decode(forged, key.key, algorithms=[alg], audience=AUDIENCE, issuer=idp.base_url)
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("PyJWT accepted a token with an altered signature")


def test_joserfc_verifies_with_the_served_jwks(idp: Server) -> None:
    issued = login(idp)
    token, alg = issued["access_token"], algorithm_of(idp)
    _uri, jwks = discovered_jwks(idp)
    decoded = joserfc_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[alg])
    assert decoded.header["typ"] == "at+jwt"  # no JOSE library checks typ: a relying service must
    joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": idp.base_url}, aud={"essential": True, "value": AUDIENCE}
    ).validate(decoded.claims)
    check(dict(decoded.claims), idp, issued)


def test_python_jose_verifies_with_the_served_jwks(idp: Server) -> None:
    """python-jose is given the whole JWKS, as its documentation shows (it tries the keys in the listed order)."""
    issued = login(idp)
    token, alg = issued["access_token"], algorithm_of(idp)
    _uri, jwks = discovered_jwks(idp)
    claims = jose.jwt.decode(token, jwks, algorithms=[alg], audience=AUDIENCE, issuer=idp.base_url)
    check(claims, idp, issued)


def test_the_served_jwks_has_the_signing_key_and_no_private_part(idp: Server) -> None:
    issued = login(idp)
    _uri, jwks = discovered_jwks(idp)
    kid = header_of(issued["access_token"])["kid"]
    [key] = [k for k in jwks["keys"] if k["kid"] == kid]
    assert key["alg"] == algorithm_of(idp) and key.get("use", "sig") == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    with httpx2.Client(verify=idp.ssl_context()) as c:
        assert c.get(f"{idp.base_url}/.well-known/jwks.json").headers["content-type"].startswith("application/")
