"""The issuer's public keys: discovery, the JWKS, and refetching it when a token names a kid not yet known.

A refetch for an unknown kid happens at most once per `refetch_interval` whatever the traffic: forged tokens with
made-up kids cost no network call beyond that. Concurrent requests share one refetch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Final

import anyio
import httpx2

from sessionward.crypto.jwks import PublicKeyRing, load_jwks

log = logging.getLogger("sessionward.sdk")

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES: Final = 256 * 1024
REFETCH_TIMEOUT: Final = 2.0  # a request waiting on a refetch waits at most this long


async def get_json(http: httpx2.AsyncClient, url: str) -> object:
    response = await http.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise ValueError(f"{url} answered {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    return response.json()


async def discover(http: httpx2.AsyncClient, issuer: str) -> tuple[str, str | None]:
    """The jwks_uri and introspection_endpoint (None when it names none) of the issuer's discovery document,
    which must name exactly this issuer (OIDC Discovery 4.3)."""
    document = await get_json(http, issuer.rstrip("/") + DISCOVERY_PATH)
    if type(document) is not dict or document.get("issuer") != issuer:
        raise ValueError("the discovery document names another issuer")
    jwks_uri = document.get("jwks_uri")
    if type(jwks_uri) is not str or not jwks_uri.startswith("https://"):
        raise ValueError("the discovery document has no https jwks_uri")
    introspection = document.get("introspection_endpoint")
    if introspection is not None and (type(introspection) is not str or not introspection.startswith("https://")):
        raise ValueError("the discovery document's introspection_endpoint is not an https URL")
    return jwks_uri, introspection


class IssuerKeys:
    def __init__(
        self, http: httpx2.AsyncClient, refetch_interval: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._http = http
        self._refetch_interval = refetch_interval
        self._monotonic = monotonic
        self._ring = PublicKeyRing(())
        self._next_refetch = -math.inf
        self._lock: anyio.Lock | None = None
        self._generation = 0
        self.jwks_uri: str | None = None
        self.fetches = 0  # JWKS requests made, for operators and tests

    @property
    def loaded(self) -> bool:
        return self._generation > 0

    def current(self) -> PublicKeyRing:
        """The snapshot the verifier reads (TokenVerifier's `keys`)."""
        return self._ring

    async def fetch(self) -> None:
        """Fetches the JWKS and swaps the ring; raises (keeping the old ring) on any failure."""
        if self.jwks_uri is None:
            raise ValueError("the jwks_uri is not known yet")
        self.fetches += 1
        ring, problems = load_jwks(await get_json(self._http, self.jwks_uri))
        for problem in problems:
            log.warning("sessionward JWKS: %s; that key is not used", problem)
        self._ring = ring
        self._generation += 1

    async def refetch_for_unknown_kid(self) -> bool:
        """True when the keys were fetched again (by this call or a concurrent one) and may now know the kid."""
        if self._lock is None:
            self._lock = anyio.Lock()
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return True
            now = self._monotonic()
            if now < self._next_refetch or self.jwks_uri is None:
                return False
            self._next_refetch = now + self._refetch_interval
            try:
                with anyio.fail_after(REFETCH_TIMEOUT):
                    await self.fetch()
            except (httpx2.HTTPError, ValueError, TimeoutError) as exc:
                log.warning("sessionward JWKS refetch for an unknown kid failed: %s", exc)
                return False
            return True
