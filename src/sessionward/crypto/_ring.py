"""The immutable key ring both rings share: the server's own KeyRing and a relying app's PublicKeyRing.

A ring is a snapshot replaced wholesale when keys change, so readers never lock; lookups are by exact kid only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Generic, Protocol, TypeVar


class RingKey(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def _deadline(self) -> float: ...


K = TypeVar("K", bound=RingKey)


class ImmutableRing(Generic[K]):
    __slots__ = ("_by_kid", "_keys")
    _holds: ClassVar[type]
    _keys: tuple[K, ...]
    _by_kid: dict[str, K]

    def __init__(self, keys: Iterable[K]) -> None:
        ordered = tuple(keys)
        by_kid: dict[str, K] = {}
        for key in ordered:
            if not isinstance(key, self._holds):
                raise TypeError(f"{type(self).__name__} holds {self._holds.__name__} objects only")
            if key.kid in by_kid:
                raise ValueError(f"duplicate kid {key.kid}")
            by_kid[key.kid] = key
        object.__setattr__(self, "_keys", ordered)
        object.__setattr__(self, "_by_kid", by_kid)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; build a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; build a new one")

    @property
    def keys(self) -> tuple[K, ...]:
        return self._keys

    def __contains__(self, kid: object) -> bool:
        return type(kid) is str and kid in self._by_kid

    def for_verification(self, kid: object, now: float) -> K | None:
        """Exact kid match only; None for anything else, including non-strings and keys past their deadline."""
        if type(kid) is not str:
            return None
        key = self._by_kid.get(kid)
        if key is None or not now < key._deadline:
            return None
        return key
