"""Usernames by user id, from memory after the first look-up: usernames never change, and hot paths such as
GET /v1/me and introspection must not hit the store for them."""

from __future__ import annotations

from sessionward.stores.base import UserStore

MAX_CACHED = 100_000  # a bound on memory; past it, look-ups go to the store


class Usernames:
    def __init__(self, store: UserStore) -> None:
        self._store = store
        self._known: dict[str, str] = {}

    async def of(self, user_id: str) -> str:
        """The user's name; "" for an unknown user (never cached, so a user created later is found)."""
        name = self._known.get(user_id)
        if name is None:
            user = await self._store.get_user(user_id)
            name = user.username if user else ""
            if user and len(self._known) < MAX_CACHED:
                self._known[user_id] = name
        return name
