"""Independent client libraries pointed at a real sessionward server: Python ones (PyJWT, joserfc, python-jose,
in the test extras) and JavaScript ones (jose, oauth4webapi, openid-client, locked in js/package-lock.json and
installed by `npm ci --prefix tests/interop/js`). Without node or js/node_modules the JavaScript tests skip with
the reason, except when CI is set: there they fail, as the PostgreSQL tests do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import in_ci
from tests.service.conftest import Server, start_server

JS_DIR = Path(__file__).parent / "js"
PASSWORD = "correct horse battery staple"
# The resource server's client: its secret has spaces (form-encoding turns them into "+" in Basic credentials).
RS_CLIENT = "rs"
RS_SECRET = "a resource server secret with spaces"
ENV = {f"SESSIONWARD_CLIENTS__{RS_CLIENT.upper()}__CLIENT_SECRET": RS_SECRET}


@pytest.fixture(scope="module", params=["ES256", "RS256"])
def idp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server signing with the parametrized algorithm, with a user `alice`."""
    algorithm: str = request.param
    server, stop = start_server(
        tmp_path_factory.mktemp(f"idp-{algorithm}"), {**ENV, "SESSIONWARD_TOKENS__ALGORITHM": algorithm}
    )
    try:
        server.add_user("alice", PASSWORD)
        yield server
    finally:
        stop()


def login(server: Server, client_id: str = "web") -> dict[str, Any]:
    with server.client() as c:
        r = server.login(c, "alice", PASSWORD, client_id=client_id)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def algorithm_of(server: Server) -> str:
    return server.settings.tokens.algorithm


def require_js_clients() -> None:
    """Skips, or fails under CI, when node or the locked packages are missing."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node is not on PATH")
    if not (JS_DIR / "node_modules").is_dir():
        missing.append(f"{JS_DIR / 'node_modules'} is missing (run: npm ci --prefix {JS_DIR})")
    if missing:
        reason = "; ".join(missing)
        if in_ci():
            pytest.fail(f"{reason}; CI must run the JavaScript interop tests (.ci/run installs them)")
        pytest.skip(reason)


@pytest.fixture
def node() -> Callable[..., dict[str, Any]]:
    """Runs one of js/*.mjs with the given environment (the server's certificate trusted) and returns the JSON
    it printed."""
    require_js_clients()

    def run(script: str, server: Server, **env: str) -> dict[str, Any]:
        done = subprocess.run(
            ["node", script],
            cwd=JS_DIR,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": server.ca_file, "ISSUER": server.base_url, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"node {script} failed:\n{done.stderr.strip()}"
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    return run
