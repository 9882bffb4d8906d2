"""Rotation: old tokens keep verifying until they expire; then the retired key verifies nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio

from sessionward.clock import FakeClock
from sessionward.config import load_settings
from sessionward.core.models import Session
from sessionward.errors import InvalidToken
from sessionward.services.container import open_services

FAST = {"SESSIONWARD_PASSWORDS__TIME_COST": "1", "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024"}


def a_session(now: float) -> Session:
    return Session("s" * 24, "u1", "web", "default", now, now, now, "urn:sessionward:loa:1", ("pwd",), "::1", "t")


def test_rotation_keeps_old_tokens_until_they_expire(tmp_path: Path) -> None:
    settings = load_settings(None, FAST, data_dir=str(tmp_path))
    policy = settings.policies["default"]
    clock = FakeClock()

    async def scenario() -> None:
        svc = await open_services(settings, clock)
        try:
            await svc.keyring.ensure_keys(clock.now())
            old = svc.tokens.issue_access_token(a_session(clock.now()), policy, clock.now()).token
            old_kid = svc.keyring.current().active("ES256").kid
            clock.advance(60)
            await svc.keyring.rotate(clock.now())
            new_kid = svc.keyring.current().active("ES256").kid
            assert new_kid != old_kid
            new = svc.tokens.issue_access_token(a_session(clock.now()), policy, clock.now()).token
            assert svc.tokens.verify(old, clock.now()).kid == old_kid
            assert svc.tokens.verify(new, clock.now()).kid == new_kid
            jwks_kids = {k["kid"] for k in svc.keyring.current().jwks(clock.now())["keys"]}
            assert {old_kid, new_kid} <= jwks_kids
            # The old token expires at +300 s; the retired key verifies until the longest ttl plus leeway.
            clock.advance(300 + 5 + 1)
            assert old_kid not in {k["kid"] for k in svc.keyring.current().jwks(clock.now())["keys"]}
            try:
                svc.tokens.verify(old, clock.now())
                raise AssertionError("a retired key's token verified after the key expired")
            except InvalidToken:
                pass
        finally:
            await svc.close()

    anyio.run(scenario)


def test_cli_rotate_and_list(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sessionward", *args, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = cli("keys", "rotate")
    assert first.returncode == 0, first.stderr
    kids = re.findall(r"new active key (\S+) \((ES256|RS256)\)", first.stdout)
    assert {alg for _kid, alg in kids} == {"ES256", "RS256"}
    second = cli("keys", "rotate")
    assert second.returncode == 0
    listing = cli("keys", "list")
    assert listing.returncode == 0
    for kid, _alg in kids:
        line = next(line for line in listing.stdout.splitlines() if kid in line)
        assert "retired" in line
    assert "BEGIN" not in listing.stdout
    assert "PRIVATE" not in listing.stdout
