"""Refusals at the edge (a bad access token, a CSRF refusal, a wrong client secret) in the audit trail, at a
bounded cost however many arrive.

Per minute-aligned window and per key (event, reason, address, session), the first `verbatim_per_key` refusals
are written in full; the rest are only counted, and one `audit.refusals_summarized` record per key and window
says how many there were. An IPv6 address counts by its /64 (one host holds a whole /64). Refusals that name no
session (anything an unauthenticated client can send) also share one budget of full records per window, so a
flood from many addresses cannot write more than that either; refusals of a validly signed token (they name its
session) have their own keys, which no flood from elsewhere can use up. At most `max_keys` keys are kept per
window; refusals beyond that are counted under the key (event, "*", "*", ""). Pure: no I/O, time is passed in.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sessionward.core.audit import AuditEvent

SUMMARY_EVENT: Final = "audit.refusals_summarized"
ANY: Final = "*"


@dataclass(frozen=True, slots=True)
class RefusalLimits:
    window_seconds: int = 60
    verbatim_per_key: int = 5
    # Full records per window, all addresses together, of refusals that name no session.
    verbatim_per_window: int = 600
    max_keys: int = 4096


@dataclass(frozen=True, slots=True)
class RefusalKey:
    event: str
    reason: str
    address: str
    sid: str = ""  # the hashed session id of a validly signed token; "" for everything else


def address_group(ip: str) -> str:
    """The address refusals are counted by: an IPv4 address as it is, an IPv6 address by its /64."""
    if ":" not in ip:
        return ip[:64]
    try:
        address = ipaddress.IPv6Address(ip.split("%", 1)[0])
    except ValueError:
        return ip[:64]
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def refusal_key(event: AuditEvent) -> RefusalKey:
    data: Mapping[str, Any] = event.data
    return RefusalKey(
        event.event,
        str(data.get("reason", ""))[:64],
        address_group(str(data.get("ip", ""))),
        str(data.get("sid", "")),
    )


@dataclass(slots=True)
class _Count:
    seen: int = 0
    written: int = 0


@dataclass(slots=True)
class _Window:
    start: int
    counts: dict[RefusalKey, _Count] = field(default_factory=dict)
    written_without_session: int = 0


class RefusalTally:
    """Which refusals to write in full, and the summaries of the rest once their window has ended."""

    def __init__(self, limits: RefusalLimits | None = None) -> None:
        self.limits = limits or RefusalLimits()
        self._windows: dict[int, _Window] = {}

    def _window(self, now: float) -> _Window:
        start = math.floor(now / self.limits.window_seconds) * self.limits.window_seconds
        window = self._windows.get(start)
        if window is None:
            window = self._windows[start] = _Window(start)
        return window

    def _count(self, window: _Window, key: RefusalKey) -> tuple[RefusalKey, _Count]:
        count = window.counts.get(key)
        if count is None:
            if len(window.counts) >= self.limits.max_keys:
                key = RefusalKey(key.event, ANY, ANY)
                count = window.counts.get(key)
            if count is None:
                count = window.counts[key] = _Count()
        return key, count

    def admit(self, key: RefusalKey, now: float) -> bool:
        """Counts one refusal; True when it is to be written in full, False when only counted."""
        window = self._window(now)
        key, count = self._count(window, key)
        count.seen += 1
        if key.address == ANY or count.written >= self.limits.verbatim_per_key:
            return False
        if not key.sid:
            if window.written_without_session >= self.limits.verbatim_per_window:
                return False
            window.written_without_session += 1
        count.written += 1
        return True

    def unwritten(self, key: RefusalKey, now: float) -> None:
        """An admitted refusal could not be written in full after all (the buffer was full): count it instead."""
        window = self._window(now)
        key, count = self._count(window, key)
        if count.written > 0:
            count.written -= 1
            if not key.sid:
                window.written_without_session -= 1

    def due(self, now: float, everything: bool = False) -> list[AuditEvent]:
        """The summaries of the windows that ended by `now` (of every window with `everything`), which are then
        forgotten. A key whose refusals were all written in full needs none."""
        ended = [s for s in self._windows if everything or s + self.limits.window_seconds <= now]
        summaries: list[AuditEvent] = []
        for start in sorted(ended):
            window = self._windows.pop(start)
            for key, count in window.counts.items():
                if count.seen > count.written:
                    summaries.append(self._summary(start, key, count))
        return summaries

    def _summary(self, start: int, key: RefusalKey, count: _Count) -> AuditEvent:
        data: dict[str, Any] = {
            "event": key.event,
            "reason": key.reason,
            "ip": key.address,
            "window_start": start,
            "window_seconds": self.limits.window_seconds,
            "count": count.seen - count.written,
            "seen": count.seen,
        }
        if key.sid:
            data["sid"] = key.sid
        return AuditEvent(SUMMARY_EVENT, data)
