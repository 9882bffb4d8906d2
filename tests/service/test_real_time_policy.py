"""Second-scale policies on the real clock: the timeouts hold in wall time too, not only on a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, login, me_status, refresh

SECONDS_POLICY = {
    "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "1s",
    "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "2s",
    "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "4s",
    "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": "500ms",
    "SESSIONWARD_TOKENS__LEEWAY": "0s",
}


def wait_until(deadline: float) -> None:
    while time.time() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.time())))


def test_idle_and_absolute_timeouts_in_wall_time(make_server: Callable[..., Server]) -> None:
    server = make_server(env=SECONDS_POLICY)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        idle = login(server, c)
        active = login(server, c)
        start = time.time()
        token = active["refresh_token"]
        # The active session refreshes every ~0.7 s, well inside the 2 s idle timeout.
        for step in range(1, 5):
            wait_until(start + 0.7 * step)
            r = refresh(c, token)
            assert r.status_code == 200, (step, r.text)
            token = r.json()["refresh_token"]
            last_access = r.json()["access_token"]
        # The idle one, untouched for more than 2 s, is dead.
        assert refresh(c, idle["refresh_token"]).status_code == 401
        # Past the absolute limit the active one dies too, however fresh its refresh token.
        wait_until(start + 4.05)
        assert refresh(c, token).status_code == 401
        assert me_status(c, last_access) == 401
