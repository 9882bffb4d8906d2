"""openid-client 6 (panva's, over oauth4webapi) at the revocation and introspection endpoints of a real server,
with a client secret containing spaces: its default method (client_secret_post) and client_secret_basic, which
it form-encodes (a space as `+`). The library comes from tests/interop/js's committed lockfile (`npm ci`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessionward.clock import FakeClock
from tests.contract.conftest import in_ci
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, login, me_status
from tests.service.test_client_auth import APP_SECRET, ENV, RS_SECRET

INTEROP = Path(__file__).resolve().parents[1] / "interop" / "js"  # one package, one lockfile


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason}: CI must run the interop tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with openid-client installed from the lockfile if it is not yet."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are not installed")
    assert node is not None and npm is not None
    if not (INTEROP / "node_modules" / "openid-client").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(INTEROP)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            _unavailable(f"npm ci in tests/interop/js failed: {done.stderr.strip()[-300:]}")
    return node


def openid_client(
    node: str, server: Server, client_id: str, secret: str, method: str, action: str, token: str
) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(INTEROP / "client_auth.mjs"), server.base_url, client_id, method, action, token],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CLIENT_SECRET": secret, "NODE_EXTRA_CA_CERTS": server.ca_file},
    )
    assert done.stdout.strip(), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.fixture
def srv(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=ENV, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


def test_openid_client_introspects_with_a_secret_containing_spaces(node: str, srv: Server) -> None:
    with srv.client() as http:
        s = login(srv, http)
    for method in ("default", "post", "basic"):
        answer = openid_client(node, srv, "rs", RS_SECRET, method, "introspect", s["access_token"])
        assert answer["active"] is True and answer["sid"] == s["session_id"], (method, answer)
        assert answer["token_type"] == "Bearer"
    answer = openid_client(node, srv, "rs", RS_SECRET, "basic", "introspect", s["refresh_token"])
    assert answer["active"] is True and "token_type" not in answer
    wrong = openid_client(node, srv, "rs", RS_SECRET + "x", "default", "introspect", s["access_token"])
    assert (wrong["status"], wrong["schemes"]) == (401, ["basic"]), wrong  # 401 and WWW-Authenticate: Basic


def test_openid_client_revokes_its_own_token(node: str, srv: Server) -> None:
    with srv.client() as http:
        mine, other = login(srv, http, client_id="app"), login(srv, http)
        done = openid_client(node, srv, "app", APP_SECRET, "default", "revoke", other["refresh_token"])
        assert done == {"revoked": True} and me_status(http, other["access_token"]) == 200  # not app's: untouched
        for method, token in (("default", mine["refresh_token"]), ("basic", mine["access_token"])):
            assert openid_client(node, srv, "app", APP_SECRET, method, "revoke", token) == {"revoked": True}
        assert me_status(http, mine["access_token"]) == 401
