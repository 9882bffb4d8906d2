"""Premature-expiry simulation: many sessions with realistic browsers against the real refresh rules.

    python -m sessionward.simulate [--sessions N] [--seed S] [--jobs J]
        [--access-token-ttl 5m] [--idle-timeout 30m] [--absolute-timeout 12h] [--refresh-grace 30s]
        [--store model|sqlite|postgresql] [--database-url postgresql://...]

With `--store model` (the default) the server side is the pure core (`decide_refresh`, `is_alive`/`expiry_reason`,
`token_lifetimes`), never a copy, over `CasStore`: an in-memory store with the compare-and-set semantics of the real
one, which never forgets a row. Each session runs on its own discrete-event clock (sessions share nothing), with its
own `random.Random` derived from the seed, so a run is reproducible whatever --jobs is. The clients are in
`sessionward._sim_clients`.

With `--store sqlite|postgresql` the same clients talk to the real services over a real store, all sessions on one
clock (`sessionward._sim_real`); slower: use a few hundred sessions (--jobs does not apply).

The oracle. A session *should be alive* at t when nobody ended it before t (a logout, or a reuse detection the
attacker caused), t < created_at + absolute_timeout, and t < last server-observed activity + idle_timeout, where
activity is the login and every rotation. Against it:

- ended early: a legitimate client's refresh was refused, or its access token refused for any reason other than
  its own `exp`, at a moment the session should be alive (a false reuse detection is one such moment);
- outlived policy: a refresh granted, or an access token accepted (t < exp and the session alive, as the server
  checks), at a moment the session should be dead: past its idle or absolute deadline or after it was ended;
- false-alarm reuse: a reuse detection (Reject ending the session with "refresh_reuse") caused by a legitimate
  client. Every browser here is legitimate, so every such detection is a false alarm;
- attacker replays: in 1% of sessions an attacker copies the refresh token from storage and presents it once that
  token has been rotated more than refresh_grace ago (or the session is dead). Each replay must be refused; a
  refusal that ends the session for reuse is a true positive and ends that session only;
- legitimate idle / absolute endings: the client found its session dead because it really was (a break longer
  than idle_timeout, or a day longer than absolute_timeout). These are not early.

Each of ended early, outlived and idle/absolute endings counts a session at most once. A session is one login:
a user who comes back to a dead session would log in again, and that new session is not simulated. "Lost
responses retried" counts refresh responses lost (each retried with the same token after 1-3 s); "races within
grace" counts first presentations answered with the stored successor (tabs or 401 handlers racing).

Modelling choices: a server request is atomic at its arrival instant (the CAS-loser path is exercised by the
stateful tests); a tab writes a received pair back to shared storage only if the storage still holds the token it
presented (the client-side compare-and-set that keeps a slow response from putting an older token back); the
user closes the tabs once no refresh is in flight. API calls carry the access token in storage at arrival.
`Faults` (--close-mid-refresh, --last-write-wins) turns the last two off, to measure what they cost.
"""

from __future__ import annotations

import argparse
import heapq
import math
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields, replace

from sessionward import _sim_clients as clients
from sessionward._sim_clients import CasStore, Grant, Outcome, SimStore
from sessionward._sim_report import SimulationReport, format_report
from sessionward.config import PolicySettings
from sessionward.core.refresh import Reject, Rotate
from sessionward.core.session import is_alive
from sessionward.durations import parse_duration
from sessionward.errors import ConfigError

__all__ = [
    "CasStore",
    "Faults",
    "Grant",
    "Outcome",
    "SimulationReport",
    "main",
    "run_real_simulation",
    "run_simulation",
]

ATTACKED_EVERY = 100  # one session in a hundred has its refresh token stolen


@dataclass(frozen=True, slots=True)
class Faults:
    """Client behaviours outside the default model, to measure what they cost (both raise false reuse alarms).

    close_mid_refresh: the user may close the tabs while a refresh is in flight; the server rotated, the browser
    never stored the successor, and the old token presented after the grace is reuse.
    last_write_wins: a tab stores every pair it receives, so a slow response can put an older token back.
    """

    close_mid_refresh: bool = False
    last_write_wins: bool = False


# Event kinds. An event is (time, seq, kind, tab, period, token, grant, attempt).
_OPEN, _AWAY, _FIRE, _SERVER, _RESPONSE, _API, _LOGOUT, _STEAL, _ATTACK = range(9)
_Event = tuple[float, int, int, int, int, str, Grant | None, int]


def _session(
    index: int, seed: int, policy: PolicySettings, t: dict[str, int], faults: Faults, server: SimStore | None = None
) -> Iterator[float]:
    """One session from login to the end of the user's day (or of the session), counting into `t`.

    A generator: before each event it yields the event's time, and goes on when resumed, so a driver can run many
    sessions over one store on one clock (`_sim_real`); alone (`_run_share`) it simply runs to its end. `server` is
    the store the clients talk to: by default a `CasStore` of the session's own."""
    rng = random.Random(f"{seed}/{index}")  # noqa: S311 - a reproducible simulation, not a secret
    uniform, rand = rng.uniform, rng.random
    prof = clients.make_profile(rng, policy.idle_timeout)
    store: SimStore = CasStore(policy) if server is None else server
    created = prof.periods[0][0]
    yield created
    grant = store.login(f"s{index}", f"u{index}", created)
    sid = grant.sid
    storage = grant  # the browser's shared storage (localStorage / cookies): the latest pair
    absolute, idle, grace = policy.absolute_timeout, policy.idle_timeout, policy.refresh_grace
    last_active, ended_at = created, math.inf  # the oracle: server-observed activity, an end by someone
    flags: set[str] = set()
    heap: list[_Event] = []
    seq = 0
    period, inflight = -1, 0  # the open period (-1: all tabs closed or the client gave up)

    def push(at: float, kind: int, tab: int = 0, p: int = 0, tok: str = "", g: Grant | None = None, n: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (at, seq, kind, tab, p, tok, g, n))

    def delay() -> float:
        return rand() * clients.MAX_NETWORK_DELAY

    push(created, _OPEN)
    if index % ATTACKED_EVERY == ATTACKED_EVERY // 2:
        push(created + uniform(0.0, min(6 * 3600.0, prof.periods[-1][1] - created)), _STEAL)
    while heap:
        yield heap[0][0]
        now, _, kind, tab, p, tok, g, n = heapq.heappop(heap)
        alive = now < ended_at and now < created + absolute and now < last_active + idle
        if kind == _SERVER:
            if n and p != period:  # a retry from a tab the user has closed is never sent
                inflight -= 1
                continue
            t["refreshes"] += 1
            out = store.refresh(tok, now)
            t["cas_conflicts"] += out.cas_lost
            d = out.decision
            if isinstance(d, Reject):
                if d.end_session == "refresh_reuse":
                    t["false_alarm_reuse"] += 1
                if alive:
                    flags.add("ended_early")
                elif now < ended_at:
                    flags.add("legitimate_absolute_endings" if now >= created + absolute else "legitimate_idle_endings")
                push(now + delay(), _RESPONSE, tab, p, tok, None)
                continue
            if not alive:
                flags.add("outlived_policy")
            if isinstance(d, Rotate):
                t["rotations"] += 1
                last_active = now
            elif n:
                t["replays_of_retries"] += 1
            else:
                t["races_within_grace"] += 1
            if rand() < clients.LOST_RESPONSE_RATE:
                t["lost_responses_retried"] += 1
                push(now + delay() + uniform(*clients.RETRY_BACKOFF) + delay(), _SERVER, tab, p, tok, None, n + 1)
            else:
                push(now + delay(), _RESPONSE, tab, p, tok, out.grant)
        elif kind == _RESPONSE:
            inflight -= 1
            if period < 0 or p != period:  # the client gave up, or the tab that asked is closed
                continue
            if g is None:  # invalid_grant: this client's session is over; the user would log in again
                period = -1
                continue
            if storage.refresh == tok or faults.last_write_wins:
                storage = g
            if tab >= 0 and p == period:
                push(now + clients.refresh_delay(prof, tab, now, g.expires_in, g.access_exp, rand()), _FIRE, tab, p)
        elif kind in (_FIRE, _API):
            if p != period:
                continue
            if kind == _API:
                t["api_calls"] += 1
                push(now + max(1.0, rng.expovariate(1.0 / clients.MEAN_API_INTERVAL)), _API, 0, p)
                if store.accepts(storage, now):
                    if not alive:
                        flags.add("outlived_policy")
                    continue
                if now >= storage.access_exp:
                    t["api_calls_with_expired_access"] += 1
                elif alive:
                    flags.add("ended_early")
                tab = -1  # the 401 handler refreshes once; it does not start a timer of its own
            inflight += 1
            push(now + delay(), _SERVER, tab, p, storage.refresh)
        elif kind == _OPEN:
            period = p
            tabs = prof.periods[p][2]
            for i in range(tabs):
                if p == 0 and i == 0:  # the login tab holds the login's pair
                    push(now + clients.refresh_delay(prof, 0, now, grant.expires_in, grant.access_exp, rand()), _FIRE)
                else:  # every other tab loads, and a loading page refreshes: tabs opened together race
                    push(now + (0.0 if i == 0 else uniform(0.0, clients.TAB_OPEN_SPREAD)), _FIRE, i, p)
            push(now + rng.expovariate(1.0 / clients.MEAN_API_INTERVAL), _API, 0, p)
            push(max(now, prof.periods[p][1]), _AWAY, 0, p)
        elif kind == _AWAY:
            if p != period:
                continue
            if inflight and not faults.close_mid_refresh:  # the user closes the tabs once no refresh is in flight
                push(now + 3.0, _AWAY, 0, p)
                continue
            period = -1
            if p + 1 < len(prof.periods):
                push(max(now, prof.periods[p + 1][0]), _OPEN, 0, p + 1)
            elif prof.logs_out:
                push(now + delay(), _LOGOUT)
        elif kind == _LOGOUT:
            if store.end(sid, now, "logout"):
                t["logouts"] += 1
                ended_at = min(ended_at, now)
        elif kind == _STEAL:
            push(now + grace + uniform(1.0, 900.0), _ATTACK, 0, 0, storage.refresh)
        elif kind == _ATTACK:
            token, session = store.snapshot(tok)
            if token is None or session is None:
                raise AssertionError("the attacker copied a token the store never issued")
            # A token the store forgot (its grace passed) comes back as rotated at -inf: replayed at once.
            rotated_at = token.rotated_at if token.rotated_at is not None else now
            fresh = token.state == "current" or now - rotated_at <= grace
            if fresh and is_alive(session, policy, now):  # the attacker waits until the replay is reuse
                push(now + 60.0, _ATTACK, 0, 0, tok)
                continue
            t["attacker_replays_attempted"] += 1
            out = store.refresh(tok, now)
            if isinstance(out.decision, Reject):
                t["attacker_replays_refused"] += 1
                if out.decision.end_session == "refresh_reuse":
                    t["attacker_reuse_detections"] += 1
                    ended_at = min(ended_at, now)
            elif isinstance(out.decision, Rotate):
                last_active = now
    for flag in flags:
        t[flag] += 1


def _run_share(
    share: int, jobs: int, sessions: int, seed: int, policy: PolicySettings, faults: Faults
) -> SimulationReport:
    """Sessions share, share + jobs, share + 2 * jobs, ... (interleaved, so the workers finish together)."""
    tally = {f.name: 0 for f in fields(SimulationReport) if f.name != "wall_time"}
    indices = range(share, sessions, jobs)
    for index in indices:
        for _ in _session(index, seed, policy, tally, faults):
            pass
    tally["sessions"] = len(indices)
    return SimulationReport(**tally)


def run_real_simulation(
    sessions: int,
    seed: int,
    policy: PolicySettings,
    store: str,
    database_url: str = "",
    faults: Faults = Faults(),
    first: int = 0,
    nodes: int = 1,
) -> SimulationReport:
    """`run_simulation` over the real services and store (`store`: "sqlite" or "postgresql"): the same sessions,
    drawn from the same seed, so the figures compare with the model's. `first`: the index of the first session
    (a short run can start just before an attacked one). `nodes`: service nodes over the one store, taking the
    requests in turn (tabs of one session on different nodes)."""
    from sessionward._sim_real import real_store, run_merged

    started = time.perf_counter()
    tally = {f.name: 0 for f in fields(SimulationReport) if f.name != "wall_time"}
    with real_store(store, policy, database_url, nodes) as (server, _):
        indices = range(first, first + sessions)
        run_merged(_session(index, seed, policy, tally, faults, server) for index in indices)
    tally["sessions"] = sessions
    return SimulationReport(**tally, wall_time=time.perf_counter() - started)


def run_simulation(
    sessions: int, seed: int, policy: PolicySettings, jobs: int = 1, faults: Faults = Faults()
) -> SimulationReport:
    """Simulate `sessions` sessions; the result depends only on (sessions, seed, policy, faults), not on `jobs`."""
    started = time.perf_counter()
    if jobs <= 1 or sessions < 2 * jobs:
        report = _run_share(0, 1, sessions, seed, policy, faults)
    else:
        n = range(jobs)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = pool.map(_run_share, n, *([x] * jobs for x in (jobs, sessions, seed, policy, faults)))
            report = sum(parts, SimulationReport())
    return replace(report, wall_time=time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionward.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (the figures do not depend on it)",
    )
    for key in ("access_token_ttl", "idle_timeout", "absolute_timeout", "refresh_grace"):
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, metavar="DURATION", help='e.g. "5m", "30s"')
    parser.add_argument("--close-mid-refresh", action="store_true", help="users may close tabs during a refresh")
    parser.add_argument("--last-write-wins", action="store_true", help="tabs store every pair they receive")
    parser.add_argument(
        "--store",
        choices=("model", "sqlite", "postgresql"),
        default="model",
        help="the model store (default), or the real services over a real store",
    )
    parser.add_argument("--database-url", default="", help="with --store postgresql: the database to work in")
    parser.add_argument("--nodes", type=int, default=1, help="with a real store: service nodes taking turns")
    args = parser.parse_args(argv)
    base = PolicySettings("default")

    def duration(key: str) -> float:
        text = getattr(args, key)
        default: float = getattr(base, key)
        return default if text is None else parse_duration(text, f"--{key}", allow_zero=key == "refresh_grace")

    try:
        policy = PolicySettings(
            "default",
            access_token_ttl=duration("access_token_ttl"),
            idle_timeout=duration("idle_timeout"),
            absolute_timeout=duration("absolute_timeout"),
            refresh_grace=duration("refresh_grace"),
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sessions < 1 or args.nodes < 1:
        print("error: --sessions and --nodes must be at least 1", file=sys.stderr)
        return 2
    if args.store == "postgresql" and not args.database_url:
        print("error: --store postgresql needs --database-url", file=sys.stderr)
        return 2
    faults = Faults(close_mid_refresh=args.close_mid_refresh, last_write_wins=args.last_write_wins)
    if args.store == "model":
        report = run_simulation(args.sessions, args.seed, policy, jobs=args.jobs, faults=faults)
    else:
        real = (args.store, args.database_url, faults)
        report = run_real_simulation(args.sessions, args.seed, policy, *real, nodes=args.nodes)
    store = args.store if args.store == "model" or args.nodes == 1 else f"{args.store}, {args.nodes} nodes"
    print(format_report(report, policy, store))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
