"""SPEC 4: a node accepts a token only when it can prove its session alive. Tokens here are signed with the
server's own key (as someone holding a copy of it, or a bug in another issuer of ours, would sign them), so the
signature passes and only the session check stands between them and the API."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest

import tests.forgery as f
from sessionward.clock import FakeClock
from sessionward.crypto.keys import SigningKey
from sessionward.services.container import open_services
from tests.service.conftest import Server, start_server
from tests.service.helpers import PASSWORD, SHORT_POLICY, bearer, login, me_status
from tests.service.test_audit_trail import records
from tests.service.test_revocation import basic

RS = {
    "SESSIONWARD_CLIENTS__RS__CLIENT_SECRET": "rs-secret-value-1234",
    "SESSIONWARD_CLIENTS__RS__INTROSPECT_ANY": "true",
}
INVALID = {"error": "invalid_token", "error_description": "the access token is missing, invalid, expired or revoked"}


def server_key(server: Server) -> SigningKey:
    async def work() -> SigningKey:
        svc = await open_services(server.settings)
        try:
            return (await svc.keyring.reload()).active(server.settings.tokens.algorithm)
        finally:
            await svc.close()

    return anyio.run(work)


def minted(server: Server, key: SigningKey, **claims: object) -> str:
    """A token exactly as the server would sign it, at the server's clock, naming whatever it is told to."""
    return f.legit(key, f.legit_claims(server.base_url, server.settings.tokens.audience, server.clock.now(), **claims))


def session_of(body: dict[str, Any]) -> dict[str, object]:
    issued = f.payload_of(body["access_token"])
    return {name: issued[name] for name in ("sub", "sid", "client_id")}


def refused(r: httpx2.Response) -> bool:
    return (
        r.status_code == 401
        and r.json() == INVALID
        and r.headers.get("www-authenticate") == 'Bearer error="invalid_token"'
    )


def rejection_reasons(server: Server) -> list[str]:
    return [json.loads(r.data_json)["reason"] for r in records(server) if r.event == "token.rejected"]


@pytest.fixture
def live(make_server: Callable[..., Server], clock: FakeClock) -> tuple[Server, SigningKey]:
    server = make_server(env={**SHORT_POLICY, **RS}, clock=clock)
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    return server, server_key(server)


def test_a_token_naming_a_session_that_never_existed_is_refused(live: tuple[Server, SigningKey]) -> None:
    server, key = live
    with server.client() as c:
        real = session_of(login(server, c, "alice"))
        # The control: the same minting with the real session's names is accepted.
        assert me_status(c, minted(server, key, **real)) == 200
        for forged in (
            minted(server, key),  # made-up user, session and client
            minted(server, key, sub=real["sub"], client_id=real["client_id"]),  # a real user, a made-up session
            minted(server, key, **{**real, "sid": str(real["sid"])[:-1] + "A"}),  # one character off
        ):
            assert refused(c.get("/v1/me", headers=bearer(forged)))
            assert refused(c.get("/v1/me", headers=bearer(forged)))  # the second time too: nothing cached
    assert rejection_reasons(server).count("unknown_session") == 6


def test_another_users_session_is_not_a_key_to_it(live: tuple[Server, SigningKey]) -> None:
    server, key = live
    with server.client() as c:
        alice, bob = session_of(login(server, c, "alice")), session_of(login(server, c, "bob"))
        assert refused(c.get("/v1/me", headers=bearer(minted(server, key, **{**bob, "sub": alice["sub"]}))))
        assert refused(c.get("/v1/me", headers=bearer(minted(server, key, **{**bob, "client_id": "forgery-client"}))))
        # Once bob's session is known alive on this node, the cache does not lend it to another user either.
        assert me_status(c, minted(server, key, **bob)) == 200
        assert refused(c.get("/v1/me", headers=bearer(minted(server, key, **{**bob, "sub": alice["sub"]}))))
    assert "session_mismatch" in rejection_reasons(server)


def test_a_forged_sid_of_another_users_ended_session_is_refused_after_the_revocation_is_forgotten(
    live: tuple[Server, SigningKey], clock: FakeClock
) -> None:
    server, key = live
    with server.client() as c:
        body = login(server, c, "bob")
        bob = session_of(body)
        alice = session_of(login(server, c, "alice"))
        assert c.delete("/v1/sessions/current", headers=bearer(body["access_token"])).status_code == 204
        # Past every token's life the revocation state forgets bob's session (nothing it concerns can live).
        clock.advance(server.settings.max_access_token_ttl + server.settings.tokens.leeway + 5)
        time.sleep(0.2)  # a few revocation polls (every 50 ms), each of which sweeps
        for forged in (minted(server, key, **bob), minted(server, key, **{**bob, "sub": alice["sub"]})):
            assert refused(c.get("/v1/me", headers=bearer(forged)))
    assert {"session_ended", "session_mismatch"} <= set(rejection_reasons(server))


def test_a_session_known_alive_and_then_ended_is_refused_at_once(live: tuple[Server, SigningKey]) -> None:
    server, _key = live
    with server.client() as c:
        body = login(server, c, "alice")
        assert me_status(c, body["access_token"]) == 200  # now known alive on this node
        assert c.delete("/v1/sessions/current", headers=bearer(body["access_token"])).status_code == 204
        assert refused(c.get("/v1/me", headers=bearer(body["access_token"])))


def test_a_token_whose_client_was_removed_is_refused(tmp_path: Any, clock: FakeClock) -> None:
    with_client = {**SHORT_POLICY, "SESSIONWARD_CLIENTS__KIOSK__CLIENT_SECRET": "kiosk-secret-0123456789"}
    server, stop = start_server(tmp_path / "node", with_client, clock)
    try:
        server.add_user("alice", PASSWORD)
        with server.client() as c:
            kiosk = login(server, c, "alice", client_id="kiosk")
            web = login(server, c, "alice")
            assert me_status(c, kiosk["access_token"]) == 200
    finally:
        stop()
    # The same data (keys, sessions) and issuer, served by a configuration without that client.
    env = {**SHORT_POLICY, "SESSIONWARD_SERVER__ISSUER": server.base_url}
    server, stop = start_server(tmp_path / "node", env, clock)
    try:
        url = f"https://127.0.0.1:{server.settings.server.port}"
        with httpx2.Client(base_url=url, verify=server.ssl_context(), timeout=10.0) as c:
            assert refused(c.get("/v1/me", headers=bearer(kiosk["access_token"])))
            assert me_status(c, web["access_token"]) == 200
        assert "client_removed" in rejection_reasons(server)
    finally:
        stop()


def test_a_store_that_cannot_say_fails_closed_with_503(live: tuple[Server, SigningKey]) -> None:
    """The sessions table unreadable while the revocation feed still answers: the node is in sync, yet it
    cannot prove a session it has not seen alive, so it answers 503, never 200 (nor a 500)."""
    server, _key = live
    with server.client() as c:
        seen, unseen = login(server, c, "alice"), login(server, c, "bob")
        assert me_status(c, seen["access_token"]) == 200
        db = sqlite3.connect(server.data_dir / "sessionward.db", timeout=10)
        try:
            db.execute("ALTER TABLE sessions RENAME TO sessions_away")
            db.commit()
            r = c.get("/v1/me", headers=bearer(unseen["access_token"]))
            assert (r.status_code, r.json()["error"]) == (503, "temporarily_unavailable")
            assert me_status(c, seen["access_token"]) == 200  # proven before: the feed still covers it
        finally:
            db.execute("ALTER TABLE sessions_away RENAME TO sessions")
            db.commit()
            db.close()
        assert me_status(c, unseen["access_token"]) == 200


def test_introspection_calls_a_token_of_a_made_up_or_another_users_session_inactive(
    live: tuple[Server, SigningKey],
) -> None:
    server, key = live
    with server.client() as c:
        alice, bob = session_of(login(server, c, "alice")), session_of(login(server, c, "bob"))

        def introspect(token: str) -> dict[str, Any]:
            r = c.post("/v1/oauth/introspect", data={"token": token}, headers=basic("rs", RS[next(iter(RS))]))
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        assert introspect(minted(server, key, **alice))["active"] is True  # the control
        for forged in (
            minted(server, key),
            minted(server, key, **{**bob, "sub": alice["sub"]}),
            minted(server, key, **{**alice, "client_id": "rs"}),
        ):
            assert introspect(forged) == {"active": False}
