"""Every throttle under concurrent bursts through the real server, on SQLite and on PostgreSQL + Redis.

Each test opens 30 connections, then fires 30 guesses at the same moment and counts from the audit trail how
many of them were evaluated (a password or code checked: `login.failed`, `password.change_refused`,
`mfa.failed` with the reason of a checked code): never more than the limit. Checking a window first and counting
the failure after the awaited check let 19 to 30 of 30 through; each attempt is now reserved first, atomically.
Covered: the three sign-in windows, `current_password` (password change, a first factor), the mfa_token (TOTP,
recovery codes), and the account window of second factors (across tokens, step-up, WebAuthn, enrolment).

The PostgreSQL cases use the database of SESSIONWARD_TEST_DATABASE_URL (a schema of the test's own) and a
redis-server of the test's own (throttle keys carry usernames and addresses: a shared Redis would mix runs).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import redis as redis_sync
from sqlalchemy import Engine, text

from sessionward.clock import FakeClock
from tests.contract.conftest import DATABASE_URL, postgresql_admin, schema_url
from tests.multinode.harness import RedisServer
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, audit, bearer, login
from tests.service.soft_authenticator import SoftAuthenticator
from tests.service.test_mfa import enrol, password_step, totp_code
from tests.service.test_webauthn import key_step_up, register, step_up_options

__all__ = ["postgresql_admin"]  # a fixture, imported for the PostgreSQL cases

BURST = 30
Send = Callable[[httpx2.AsyncClient], Awaitable[httpx2.Response]]


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The server's storage settings: SQLite and memory (the default), or PostgreSQL and Redis."""
    if request.param == "sqlite":
        yield {}
        return
    admin: Engine = request.getfixturevalue("postgresql_admin")
    schema = f"sw_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        yield {
            "SESSIONWARD_STORAGE__DATABASE_URL": schema_url(DATABASE_URL, schema),
            "SESSIONWARD_STORAGE__REDIS_URL": redis.url,
        }
    finally:
        redis.stop()
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def start(backend: dict[str, str], make_server: Callable[..., Server], clock: FakeClock) -> Callable[..., Server]:
    """A server on the backend, with `env` on top (it stops before the backend goes)."""

    def run(env: dict[str, str] | None = None) -> Server:
        return make_server(env={**backend, **(env or {})}, clock=clock)

    return run


def burst(server: Server, send: Send, n: int = BURST, source: str = "127.0.0.1") -> list[httpx2.Response]:
    """`n` requests at once from `source`, each on a connection of its own opened (TLS included) beforehand."""

    async def run() -> list[httpx2.Response]:
        transport = httpx2.AsyncHTTPTransport(verify=server.ssl_context(), local_address=source)
        limits = httpx2.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx2.AsyncClient(
            base_url=server.base_url, transport=transport, timeout=60.0, limits=limits
        ) as client:
            ready = anyio.Event()
            answers: list[httpx2.Response] = []
            warm = 0

            async def one() -> None:
                nonlocal warm
                assert (await client.get("/healthz")).status_code == 200  # the connection is open
                warm += 1
                if warm == n:
                    ready.set()
                await ready.wait()
                answers.append(await send(client))

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)
            return answers

    return anyio.run(run)


def checked(server: Server, event: str, reason: str) -> int:
    return sum(1 for data in audit(server, event) if data.get("reason") == reason)


def statuses(answers: list[httpx2.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in answers:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts


# -- passwords ---------------------------------------------------------------------------------------------------


def test_a_burst_of_wrong_passwords_gets_at_most_max_failures_per_account_ip_checked(
    start: Callable[..., Server],
) -> None:
    server = start({"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "10"})
    server.add_user("alice", PASSWORD)
    body = {"username": "alice", "password": "guess"}
    answers = burst(server, lambda c: c.post("/v1/sessions", json=body))
    assert statuses(answers) == {401: 10, 429: 20}
    assert checked(server, "login.failed", "invalid_credentials") == 10
    # The 20 refusals: the first five a minute from one address in full, the rest counted (services/refusals.py).
    assert len(audit(server, "login.throttled")) == 5
    # The right password now waits too: the window is full.
    with server.client() as c:
        assert server.login(c, "alice", PASSWORD).status_code == 429


def test_bursts_from_three_addresses_get_at_most_the_account_limit_checked(start: Callable[..., Server]) -> None:
    server = start(
        {"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT": "12", "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "8"}
    )
    server.add_user("alice", PASSWORD)
    body = {"username": "alice", "password": "guess"}
    answers: dict[str, list[httpx2.Response]] = {}

    async def all_at_once() -> None:
        async def one(ip: str) -> None:
            answers[ip] = await anyio.to_thread.run_sync(
                lambda: burst(server, lambda c: c.post("/v1/sessions", json=body), 10, ip)
            )

        async with anyio.create_task_group() as tg:
            for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
                tg.start_soon(one, ip)

    anyio.run(all_at_once)
    per_address = [statuses(a).get(401, 0) for a in answers.values()]
    assert all(n <= 8 for n in per_address), per_address
    assert sum(per_address) == 12
    failed = [d for d in audit(server, "login.failed") if d.get("reason") == "invalid_credentials"]
    assert len(failed) == 12
    assert all(sum(1 for d in failed if d["ip"] == ip) <= 8 for ip in answers)


def test_a_burst_across_accounts_gets_at_most_max_attempts_per_ip_checked(start: Callable[..., Server]) -> None:
    server = start({"SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "5"})
    names = iter(range(BURST))

    def spray(c: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
        return c.post("/v1/sessions", json={"username": f"user{next(names)}", "password": "Winter2026!"})

    assert statuses(burst(server, spray)) == {401: 5, 429: 25}
    assert checked(server, "login.failed", "invalid_credentials") == 5


def test_a_burst_of_wrong_current_passwords_gets_at_most_the_limit_checked(start: Callable[..., Server]) -> None:
    server = start({"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "10"})
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        token = login(server, c)["access_token"]
    guess = {"current_password": "guess", "new_password": "a new long password"}
    answers = burst(server, lambda c: c.post("/v1/password", json=guess, headers=bearer(token)))
    assert statuses(answers) == {403: 10, 429: 20}
    assert checked(server, "password.change_refused", "wrong_current_password") == 10
    assert checked(server, "password.change_refused", "throttled") == 20


# -- second factors ----------------------------------------------------------------------------------------------


def enrolled(server: Server, clock: FakeClock) -> tuple[str, list[str], str]:
    """alice with TOTP: (secret, recovery codes, a password-only access token)."""
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        token = login(server, c)["access_token"]
        secret, codes = enrol(c, token, clock)
    return secret, codes, token


def wrong_code(secret: str, clock: FakeClock) -> str:
    return str((int(totp_code(secret, clock)) + 500_000) % 1_000_000).zfill(6)


def test_a_burst_of_wrong_codes_at_one_mfa_token_gets_five_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    server = start()
    secret, _codes, _token = enrolled(server, clock)
    with server.client() as c:
        mfa_token = password_step(server, c)
    body = {"mfa_token": mfa_token, "method": "totp", "code": wrong_code(secret, clock)}
    answers = burst(server, lambda c: c.post("/v1/sessions/mfa", json=body))
    assert statuses(answers) == {401: BURST}
    assert checked(server, "mfa.failed", "wrong_code") == 5
    assert checked(server, "mfa.failed", "attempts_exhausted") == BURST - 5
    assert len(audit(server, "mfa.token_burned")) == 1
    # Burned: the right code is refused now.
    with server.client() as c:
        r = c.post("/v1/sessions/mfa", json={**body, "code": totp_code(secret, clock)})
        assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_a_burst_of_wrong_recovery_codes_at_one_mfa_token_gets_five_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    server = start()
    _secret, codes, _token = enrolled(server, clock)
    with server.client() as c:
        mfa_token = password_step(server, c)
    body = {"mfa_token": mfa_token, "method": "recovery_code", "code": "AAAAA-AAAAA"}
    answers = burst(server, lambda c: c.post("/v1/sessions/mfa", json=body))
    assert statuses(answers) == {401: BURST}
    assert checked(server, "mfa.failed", "wrong_or_used_code") == 5
    # A recovery code is still good for a new sign-in.
    with server.client() as c:
        r = c.post("/v1/sessions/mfa", json={**body, "mfa_token": password_step(server, c), "code": codes[0]})
        assert r.status_code == 201, r.text


def test_a_burst_over_several_mfa_tokens_gets_at_most_the_account_window_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    """Six sign-ins, five wrong codes each, all at once: the account's window (10) holds across tokens."""
    server = start()
    secret, _codes, _token = enrolled(server, clock)
    with server.client() as c:
        tokens = iter([password_step(server, c) for _ in range(6)] * 5)
    code = wrong_code(secret, clock)

    def guess(c: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
        return c.post("/v1/sessions/mfa", json={"mfa_token": next(tokens), "method": "totp", "code": code})

    assert statuses(burst(server, guess)) == {401: 10, 429: 20}
    assert checked(server, "mfa.failed", "wrong_code") == 10
    assert len(audit(server, "mfa.throttled")) == 20


def test_a_burst_of_wrong_step_ups_gets_at_most_the_account_window_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    server = start()
    secret, _codes, token = enrolled(server, clock)
    body = {"method": "totp", "code": wrong_code(secret, clock)}
    answers = burst(server, lambda c: c.post("/v1/sessions/step-up", json=body, headers=bearer(token)))
    assert statuses(answers) == {401: 10, 429: 20}
    assert checked(server, "mfa.failed", "wrong_code") == 10
    assert len(audit(server, "session.stepped_up")) == 0


def key_step_up_async(c: httpx2.AsyncClient, token: str, assertion: dict[str, Any]) -> Awaitable[httpx2.Response]:
    body = {"method": "webauthn", "credential": assertion}
    return c.post("/v1/sessions/step-up", json=body, headers=bearer(token))


def test_a_burst_of_wrong_webauthn_assertions_gets_at_most_the_account_window_checked(
    start: Callable[..., Server],
) -> None:
    server = start()
    server.add_user("alice", PASSWORD)
    key = SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")
    stranger = SoftAuthenticator(origin=key.origin)
    with server.client() as c:
        token = login(server, c)["access_token"]
        register(c, token, key)
        assertions = iter([stranger.get(step_up_options(c, token)) for _ in range(BURST)])

    def guess(c: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
        return key_step_up_async(c, token, next(assertions))

    answers = burst(server, guess)
    assert statuses(answers) == {401: 10, 429: 20}
    # Never more than the window (on a loaded machine one assertion may fail for another reason first).
    failed = audit(server, "mfa.failed")
    assert len(failed) == 10, failed
    assert checked(server, "mfa.failed", "unknown_credential") <= 10
    # The owner's key is refused too while the window is full.
    with server.client() as c:
        assert key_step_up(c, token, key.get(step_up_options(c, token))).status_code == 429


def test_a_burst_of_wrong_confirmation_codes_gets_at_most_the_account_window_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    server = start()
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        token = login(server, c)["access_token"]
        r = c.post("/v1/mfa/totp", headers=bearer(token))
        assert r.status_code == 200, r.text
    body = {"code": wrong_code(r.json()["secret"], clock)}
    answers = burst(server, lambda c: c.post("/v1/mfa/totp/confirm", json=body, headers=bearer(token)))
    assert statuses(answers) == {401: 10, 429: 20}
    assert checked(server, "mfa.failed", "wrong_code") == 10


def test_a_burst_of_wrong_current_passwords_for_a_first_factor_gets_at_most_the_limit_checked(
    start: Callable[..., Server], clock: FakeClock
) -> None:
    """A session older than step_up_max_age must give current_password to bind a first factor: the same
    windows as a sign-in, reserved the same way."""
    server = start({"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "10"})
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        session = login(server, c)
        clock.advance(301)
        token = c.post("/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]}).json()["access_token"]
    guess = {"current_password": "guess"}
    answers = burst(server, lambda c: c.post("/v1/mfa/totp", json=guess, headers=bearer(token)))
    assert statuses(answers) == {403: 10, 429: 20}
    assert checked(server, "mfa.enrolment_refused", "wrong_current_password") == 10


# -- client secrets -------------------------------------------------------------------------------------------


def test_a_burst_of_wrong_client_secrets_gets_at_most_the_address_window_compared(
    start: Callable[..., Server],
) -> None:
    """Client secrets are throttled like passwords: 30 wrong secrets at once at introspection get at most the
    address's window compared (each compared one answers 401 invalid_client, each refused one 429; the refusal
    records themselves are bounded per minute, so the statuses are the count here)."""
    server = start(
        {
            "SESSIONWARD_CLIENTS__RS__CLIENT_SECRET": "the right resource-server secret",
            "SESSIONWARD_LOGIN__MAX_CLIENT_AUTH_FAILURES_PER_IP": "10",
        }
    )
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        token = login(server, c)["access_token"]
    wrong = httpx2.BasicAuth("rs", "a wrong secret")
    answers = burst(server, lambda c: c.post("/v1/oauth/introspect", data={"token": token}, auth=wrong))
    assert statuses(answers) == {401: 10, 429: 20}
    assert all(r.json()["error"] == "invalid_client" for r in answers if r.status_code == 401)
    # The right secret waits too while the window is full.
    right = httpx2.BasicAuth("rs", "the right resource-server secret")
    with server.client() as c:
        r = c.post("/v1/oauth/introspect", data={"token": token}, auth=right)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


@pytest.mark.parametrize("backend", ["postgresql+redis"], indirect=True)
def test_a_typed_username_reaches_the_shared_store_only_as_a_keyed_digest(
    backend: dict[str, str], start: Callable[..., Server]
) -> None:
    """People type passwords into the username field: the throttle's Redis keys must not hold what they typed
    (nor its plain SHA-256), and the one account is still counted under one key whatever the case."""
    server = start()
    typed = "Correct-Horse-Battery-Staple-42"
    with server.client() as c:
        for name in (typed, typed.upper()):
            r = c.post("/v1/sessions", json={"username": name, "password": "whatever it is"})
            assert r.status_code == 401
    client = redis_sync.Redis.from_url(backend["SESSIONWARD_STORAGE__REDIS_URL"])
    try:
        keys = [k.decode() for k in client.keys("*")]
    finally:
        client.close()
    folded = typed.casefold()
    plain = hashlib.sha256(folded.encode()).hexdigest()
    account_keys = [k for k in keys if ":acct:" in k]
    assert len(account_keys) == 1, keys  # both spellings count against one account
    assert not [k for k in keys if folded in k.casefold() or plain[:16] in k], keys
