"""Every registered replay (tests/service/replays.py) through the real server; prints the count (pytest -s)."""

from __future__ import annotations

from collections.abc import Callable

from sessionward.clock import FakeClock
from tests.service import mfa_replays  # noqa: F401 -- registers the second-factor replays
from tests.service.conftest import Server
from tests.service.replays import REPLAYS, ReplayKit


def test_every_replay_is_blocked(make_server: Callable[..., Server], clock: FakeClock) -> None:
    kit = ReplayKit(make_server, clock)
    blocked = [name for name, case in REPLAYS.items() if case(kit)]
    missed = [name for name in REPLAYS if name not in blocked]
    print(f"\nreplays blocked: {len(blocked)} of {len(REPLAYS)}")
    assert not missed, f"replays not blocked: {missed}"
    assert len(blocked) == len(REPLAYS) >= 12
