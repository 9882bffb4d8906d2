"""Small helpers shared by the session-lifecycle tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2

from sessionward.services.container import open_services
from tests.service.conftest import Server

PASSWORD = "correct horse battery staple"
SHORT_POLICY = {
    "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "60s",
    "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "120s",
    "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "300s",
    "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": "10s",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(server: Server, client: httpx2.Client, user: str = "alice", **extra: Any) -> dict[str, Any]:
    r = server.login(client, user, PASSWORD, **extra)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def me_status(client: httpx2.Client, access_token: str) -> int:
    return client.get("/v1/me", headers=bearer(access_token)).status_code


def refresh(client: httpx2.Client, refresh_token: str) -> httpx2.Response:
    return client.post("/v1/sessions/refresh", json={"refresh_token": refresh_token})


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionward", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def audit(server: Server, event: str) -> list[dict[str, Any]]:
    """The data of every `event` record in the server's audit trail, oldest first (read through a store of its own)."""

    async def read() -> list[dict[str, Any]]:
        svc = await open_services(server.settings)
        try:
            return [json.loads(r.data_json) async for r in svc.store.audit_records() if r.event == event]
        finally:
            await svc.close()

    return anyio.run(read)
