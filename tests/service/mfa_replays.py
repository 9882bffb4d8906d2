"""Second-factor replays for the registry in tests/service/replays.py: a TOTP code, a recovery code, an mfa_token
and a WebAuthn assertion, each used twice, and a cloned security key. Each case checks that the first use
worked."""

from __future__ import annotations

from typing import Any

import httpx2
import pyotp

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login
from tests.service.replays import ReplayKit, replay
from tests.service.soft_authenticator import SoftAuthenticator

STEP = 30


def _next_step(clock: FakeClock) -> None:
    clock.set((int(clock.now()) // STEP + 1) * STEP + 0.5)


def _with_factor(kit: ReplayKit) -> tuple[Server, httpx2.Client, pyotp.TOTP, list[str]]:
    server = kit.server()
    client = server.client()  # the case closes it
    token = login(server, client)["access_token"]
    totp = pyotp.TOTP(client.post("/v1/mfa/totp", headers=bearer(token)).json()["secret"])
    r = client.post("/v1/mfa/totp/confirm", json={"code": totp.at(kit.clock.now())}, headers=bearer(token))
    assert r.status_code == 200, r.text
    _next_step(kit.clock)
    return server, client, totp, r.json()["recovery_codes"]


def _mfa_token(server: Server, client: httpx2.Client) -> str:
    r = server.login(client, "alice", PASSWORD)
    assert r.status_code == 401 and r.json()["error"] == "mfa_required", r.text
    token: str = r.json()["mfa_token"]
    return token


def _second_step(client: httpx2.Client, mfa_token: str, method: str, code: str) -> httpx2.Response:
    return client.post("/v1/sessions/mfa", json={"mfa_token": mfa_token, "method": method, "code": code})


def _invalid_mfa(r: httpx2.Response) -> bool:
    return r.status_code == 401 and r.json()["error"] == "invalid_mfa"


@replay("a TOTP code used twice")
def totp_code_twice(kit: ReplayKit) -> bool:
    server, client, totp, _ = _with_factor(kit)
    try:
        code = totp.at(kit.clock.now())
        assert _second_step(client, _mfa_token(server, client), "totp", code).status_code == 201
        return _invalid_mfa(_second_step(client, _mfa_token(server, client), "totp", code))
    finally:
        client.close()


@replay("a recovery code used twice")
def recovery_code_twice(kit: ReplayKit) -> bool:
    server, client, _, codes = _with_factor(kit)
    try:
        assert _second_step(client, _mfa_token(server, client), "recovery_code", codes[0]).status_code == 201
        return _invalid_mfa(_second_step(client, _mfa_token(server, client), "recovery_code", codes[0]))
    finally:
        client.close()


@replay("an mfa_token used twice")
def mfa_token_twice(kit: ReplayKit) -> bool:
    server, client, totp, _ = _with_factor(kit)
    try:
        token = _mfa_token(server, client)
        assert _second_step(client, token, "totp", totp.at(kit.clock.now())).status_code == 201
        _next_step(kit.clock)  # a fresh, valid code: only the token is replayed
        return _invalid_mfa(_second_step(client, token, "totp", totp.at(kit.clock.now())))
    finally:
        client.close()


def _with_key(kit: ReplayKit) -> tuple[Server, httpx2.Client, SoftAuthenticator]:
    server = kit.server()
    client = server.client()  # the case closes it
    token = login(server, client)["access_token"]
    key = SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")
    options = client.post("/v1/mfa/webauthn", headers=bearer(token)).json()
    r = client.post("/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return server, client, key


def _key_step(client: httpx2.Client, mfa_token: str, assertion: dict[str, Any]) -> httpx2.Response:
    return client.post("/v1/sessions/mfa", json={"mfa_token": mfa_token, "method": "webauthn", "credential": assertion})


def _key_options(client: httpx2.Client, mfa_token: str) -> dict[str, Any]:
    r = client.post("/v1/sessions/mfa/webauthn", json={"mfa_token": mfa_token})
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()
    return options


@replay("a WebAuthn assertion sent twice")
def webauthn_assertion_twice(kit: ReplayKit) -> bool:
    server, client, key = _with_key(kit)
    try:
        token = _mfa_token(server, client)
        assertion = key.get(_key_options(client, token))
        assert _key_step(client, token, assertion).status_code == 201
        again = _mfa_token(server, client)
        _key_options(client, again)  # a live challenge of its own: only the assertion is replayed
        return _invalid_mfa(_key_step(client, again, assertion))
    finally:
        client.close()


@replay("a WebAuthn assertion of a cloned key (stale signature counter)")
def webauthn_cloned_counter(kit: ReplayKit) -> bool:
    server, client, key = _with_key(kit)
    try:
        token = _mfa_token(server, client)
        assert _key_step(client, token, key.get(_key_options(client, token))).status_code == 201
        again = _mfa_token(server, client)
        return _invalid_mfa(_key_step(client, again, key.get(_key_options(client, again), count=key.sign_count)))
    finally:
        client.close()
