"""Client authentication (RFC 6749 section 2.3): which credentials a request presents, how a secret is compared,
the windows failed attempts count in, and whether a refresh may go ahead for the session's client. Pure: no I/O.

Two methods are accepted, never both in one request (section 2.3: "MUST NOT use more than one"):
`client_secret_basic` (HTTP Basic) and `client_secret_post` (client_id and client_secret in the body).
Section 2.3.1 says Basic's id and secret are form-urlencoded before Base64, and libraries disagree: oauth4webapi
and openid-client encode (a space becomes `+`), Authlib sends them raw. A Basic secret is therefore read three
ways (raw, form-decoded, percent-decoded as this server read it before) and all three are always compared.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote, unquote_plus

from sessionward.core.throttle import Window
from sessionward.errors import InvalidClient, InvalidRequest

MAX_AUTHORIZATION: Final = 2048
MAX_CLIENT_ID: Final = 64  # config.NAME_PATTERN: no client id is longer
Method = Literal["client_secret_basic", "client_secret_post"]
RefreshRefusal = Literal["client_authentication_required", "issued_to_another_client"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A presented client id and the readings of its secret (one for the body, three for Basic); never logged."""

    client_id: str
    secrets: tuple[str, ...]
    method: Method

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r:.70}, method={self.method!r})"


def is_basic(authorization: str | None) -> bool:
    return authorization is not None and authorization.partition(" ")[0].lower() == "basic"


def basic_credentials(authorization: str) -> ClientCredentials:
    """The credentials of an `Authorization: Basic` header; InvalidClient when it is not one or is malformed."""
    if len(authorization) > MAX_AUTHORIZATION or not is_basic(authorization):
        raise InvalidClient("client authentication is required: HTTP Basic, or client_id and client_secret")
    try:
        octets = base64.b64decode(authorization.partition(" ")[2].strip(), validate=True)
    except binascii.Error:
        raise InvalidClient("malformed client credentials") from None
    try:
        decoded = octets.decode("utf-8")
    except UnicodeDecodeError:  # Authlib encodes the raw id and secret as Latin-1
        decoded = octets.decode("latin-1")
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed client credentials")
    readings = (raw_secret, unquote_plus(raw_secret), unquote(raw_secret))
    return ClientCredentials(unquote_plus(raw_id), readings, "client_secret_basic")


def presented_credentials(
    authorization: str | None, body_id: str | None, body_secret: str | None
) -> ClientCredentials | None:
    """The one set of client credentials a request presents, or None when it presents none.

    `authorization`: the header, when it is meant as client authentication (a caller that also takes other
    schemes passes only a Basic one); `body_id`, `body_secret`: the request body's client_id and client_secret
    (None or "" when absent). A body client_id next to Basic credentials must name the same client."""
    if authorization is not None:
        if body_secret:
            raise InvalidRequest(
                "use one client authentication method: HTTP Basic, or client_id and client_secret in the body"
            )
        found = basic_credentials(authorization)
        if body_id and body_id != found.client_id:
            raise InvalidRequest("the body's client_id is not the client of the Authorization header")
        return found
    if body_secret:
        if not body_id:
            raise InvalidRequest("client_secret needs the client_id it belongs to")
        return ClientCredentials(body_id, (body_secret,), "client_secret_post")
    return None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def secret_matches(readings: tuple[str, ...], expected: str) -> bool:
    """Whether any reading is the expected secret. Every reading is compared, each in constant time over equal-length
    digests, so neither the timing nor the length tells which reading (if any) matched. No secret never matches."""
    want = _digest(expected or "\0no secret\0")
    matched = False
    for reading in readings:
        matched |= hmac.compare_digest(_digest(reading), want)
    return matched and bool(expected)


def failure_windows(
    client_id: str, ip: str, per_client: int, per_ip: int, seconds: float
) -> tuple[tuple[str, Window], tuple[str, Window]]:
    """The throttle windows a failed client authentication counts in (and every attempt is checked against):
    failures naming this client id, from anywhere; failures from this address, naming any client."""
    return (
        (f"client:id:{client_id[:MAX_CLIENT_ID]}", Window("client", per_client, seconds)),
        (f"client:ip:{ip}", Window("client_ip", per_ip, seconds)),
    )


def refresh_refusal(session_client: str, confidential: bool, authenticated: str | None) -> RefreshRefusal | None:
    """RFC 6749 section 6: a confidential client's refresh token is refreshed only by that client, authenticated;
    a refresh that authenticated some other client is refused whatever the session's client."""
    if authenticated is not None and authenticated != session_client:
        return "issued_to_another_client"
    if confidential and authenticated is None:
        return "client_authentication_required"
    return None
