"""The sessions this node has proven alive in the store (SPEC 4: a node accepts a token only when it can prove
its session alive).

The revocation state knows which sessions ended, not which exist: a validly signed token naming a session that
never existed, or another user's, would pass it. So the first time a node sees a session, it reads it from the
store (services/tokens.py); what it read is remembered here, per session id with the user and client it
belongs to, for a bounded time. Within that time an ending reaches the node through the revocation feed, which
is still checked on every request; after it, the next token of the session is read from the store again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

# sid -> (user id, client id, trusted until): ~200 bytes an entry, so the default bounds it near 13 MB.
DEFAULT_SIZE: Final = 65536


class LiveSessions:
    """A bounded, first-in-first-out memory of sessions read alive; forgetting one only costs a store read."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if type(size) is not int or size < 1:
            raise ValueError("size must be an int >= 1")
        self._size = size
        self._entries: OrderedDict[str, tuple[str, str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def known(self, sid: str, user_id: str, client_id: str, now: float) -> bool:
        """Proven alive, for this very user and client, and not longer ago than its bound allows."""
        entry = self._entries.get(sid)
        return entry is not None and entry[0] == user_id and entry[1] == client_id and now < entry[2]

    def remember(self, sid: str, user_id: str, client_id: str, until: float) -> None:
        entries = self._entries
        entries[sid] = (user_id, client_id, until)
        entries.move_to_end(sid)
        while len(entries) > self._size:
            entries.popitem(last=False)

    def forget(self, sid: str) -> None:
        self._entries.pop(sid, None)
