"""Proving a token's session alive from a relying app, which cannot read sessionward's store (SPEC 4).

The revocation feed tells the app which sessions ended, not which exist: a validly signed token naming a
session that never existed would pass it. So the first token of each session the app sees is introspected once
(RFC 7662, with the app's client credentials): sessionward answers `active` only when that session exists, is
the token's user's and client's, and is alive. The answer is remembered for the session until that token's `exp`
(plus leeway): later tokens that do not outlive it pass without a call, and an ending in the meantime arrives by
the feed, which is still checked on every request. A refreshed token that outlives it is introspected once more.

An introspection that cannot be made or answers anything but 200 means "cannot prove": the request is answered
503, never let through.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Final

import anyio
import httpx2

from sessionward.crypto.jwt import AccessClaims

log = logging.getLogger("sessionward.sdk")

INTROSPECTION_TIMEOUT: Final = 2.0
DEFAULT_SIZE: Final = 65536
MAX_ANSWER_BYTES: Final = 64 * 1024


class SessionUnknown(Exception):
    """sessionward says the token is not active: its session never existed, is another's, or has ended."""


class CannotProve(Exception):
    """The introspection endpoint could not be asked or did not answer: fail closed."""


class SessionProofs:
    def __init__(self, leeway: float, size: int = DEFAULT_SIZE) -> None:
        self._leeway = leeway
        self._size = size
        # sid -> (sub, client_id, trusted for tokens expiring up to)
        self._proven: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self.endpoint: str | None = None  # the issuer's introspection_endpoint, from discovery
        self.checks = 0  # introspections made, for operators and tests

    def known(self, claims: AccessClaims) -> bool:
        entry = self._proven.get(claims.sid)
        return (
            entry is not None
            and entry[0] == claims.sub
            and entry[1] == claims.client_id
            and claims.exp + self._leeway <= entry[2]
        )

    async def prove(self, http: httpx2.AsyncClient, auth: httpx2.BasicAuth, token: str, claims: AccessClaims) -> None:
        """Returns once sessionward has said the token active; SessionUnknown or CannotProve otherwise."""
        if self.endpoint is None:
            raise CannotProve("the introspection endpoint is not known yet")
        self.checks += 1
        try:
            with anyio.fail_after(INTROSPECTION_TIMEOUT):
                response = await http.post(
                    self.endpoint, data={"token": token}, auth=auth, headers={"Accept": "application/json"}
                )
        except (httpx2.HTTPError, TimeoutError, OSError) as exc:
            raise CannotProve(f"introspection failed: {type(exc).__name__}") from None
        if response.status_code != 200 or len(response.content) > MAX_ANSWER_BYTES:
            # 401 here means this app's client may not introspect: a configuration error, and never a pass.
            log.warning("sessionward introspection answered %d", response.status_code)
            raise CannotProve(f"introspection answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise CannotProve("introspection answered something other than JSON") from None
        if type(answer) is not dict or answer.get("active") is not True:
            raise SessionUnknown
        named = (answer.get("sid"), answer.get("sub"), answer.get("client_id"))
        if named != (claims.sid, claims.sub, claims.client_id):
            raise SessionUnknown  # an answer about some other token is no proof for this one
        self._proven[claims.sid] = (claims.sub, claims.client_id, claims.exp + self._leeway)
        self._proven.move_to_end(claims.sid)
        while len(self._proven) > self._size:
            self._proven.popitem(last=False)
