"""DPoP against the real server: sign in or refresh with a proof, call with `DPoP <token>` and a proof."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.dpop_client import DpopKey
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD


def proof_for(server: Server, key: DpopKey, method: str, path: str, **kw: Any) -> str:
    """A proof at the server's own clock (a FakeClock in most tests)."""
    kw.setdefault("iat", int(server.clock.now()))
    return key.proof(method, server.base_url + path, **kw)


def dpop_login(server: Server, client: httpx2.Client, key: DpopKey, user: str = "alice", **kw: Any) -> httpx2.Response:
    headers = {"DPoP": proof_for(server, key, "POST", "/v1/sessions", **kw)}
    return client.post("/v1/sessions", json={"username": user, "password": PASSWORD}, headers=headers)


def dpop_refresh(server: Server, client: httpx2.Client, key: DpopKey | None, refresh_token: str) -> httpx2.Response:
    headers = {"DPoP": proof_for(server, key, "POST", "/v1/sessions/refresh")} if key else {}
    return client.post("/v1/sessions/refresh", json={"refresh_token": refresh_token}, headers=headers)


def dpop_headers(
    server: Server, key: DpopKey, token: str, method: str = "GET", path: str = "/v1/me", **kw: Any
) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof_for(server, key, method, path, token=token, **kw)}


def dpop_me(server: Server, client: httpx2.Client, key: DpopKey, token: str, **kw: Any) -> httpx2.Response:
    return client.get("/v1/me", headers=dpop_headers(server, key, token, **kw))
