"""In-memory revocation state checked on every protected request: ended sessions and per-user epochs.

Checked by session id and user epoch, never by a hash of the token: an ECDSA signature can be re-encoded into a
second valid form, so a token hash would let a revoked token back in.
"""

from __future__ import annotations

from collections.abc import Iterable

from sessionward.core.models import Revocation


class RevocationState:
    def __init__(self, keep_for: float) -> None:
        """`keep_for`: how long an ended sid must stay known (the longest access-token life plus leeway)."""
        self._keep_for = keep_for
        self._ended_sids: dict[str, float] = {}
        self._user_epochs: dict[str, float] = {}
        self.cursor = 0  # the last revocation-feed entry applied

    def apply_endings(self, sids: Iterable[str], now: float) -> None:
        """This node's own endings take effect at once, before the feed brings them back."""
        for sid in sids:
            self.end_session(sid, now + self._keep_for)

    def apply_feed(self, entries: Iterable[Revocation]) -> None:
        for entry in entries:
            if entry.kind == "sid":
                self.end_session(entry.subject, entry.value)
            else:
                self.set_user_epoch(entry.subject, entry.value)
            self.cursor = max(self.cursor, entry.seq)

    def end_session(self, sid: str, until: float) -> None:
        """`until`: after this instant no token of the session can be valid anyway, so the entry may go."""
        self._ended_sids[sid] = max(until, self._ended_sids.get(sid, 0.0))

    def set_user_epoch(self, user_id: str, epoch: float) -> None:
        self._user_epochs[user_id] = max(epoch, self._user_epochs.get(user_id, 0.0))

    def is_revoked(self, sid: str, user_id: str, issued_at: float) -> bool:
        if sid in self._ended_sids:
            return True
        epoch = self._user_epochs.get(user_id)
        return epoch is not None and issued_at < epoch

    def sweep(self, now: float) -> None:
        for sid in [s for s, until in self._ended_sids.items() if until <= now]:
            del self._ended_sids[sid]
