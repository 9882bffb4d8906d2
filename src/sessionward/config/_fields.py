"""Settings keys: how each is declared, checked and shown (secrets never echoed)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from sessionward.durations import MAX_DURATION, format_duration
from sessionward.errors import ConfigError

ENV_PREFIX: Final = "SESSIONWARD_"
REDACTED: Final = "***"
NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HOST_PATTERN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MAX_INT: Final = 2**31 - 1
_SECRET_QUERY_WORDS: Final = ("pass", "secret", "token")

_T = TypeVar("_T")
Kind = Literal["str", "url", "secret", "int", "bool", "duration", "choice"]


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a configurable field accepts; kept in the dataclass field's metadata."""

    kind: Kind
    low: float = 0
    high: float = _MAX_INT
    choices: tuple[str, ...] = ()
    required: bool = False


def _key(default: object, kind: Kind, **spec: Any) -> Any:
    """A configurable field; ints default to 1.._MAX_INT, durations to 1ms..MAX_DURATION."""
    if kind in ("int", "duration"):
        spec = {
            "low": 1 if kind == "int" else 0.001,
            "high": MAX_DURATION if kind == "duration" else _MAX_INT,
        } | spec
    return field(default=default, metadata={"spec": _Spec(kind, **spec)})


def _specs(cls: type[Any]) -> dict[str, _Spec]:
    return {f.name: f.metadata["spec"] for f in fields(cls) if "spec" in f.metadata}


def _show(value: object) -> str:
    return f"{type(value).__name__} {value!r:.40}"


def _seconds(value: float) -> str:
    return format_duration(value) if 0 <= value <= 1000 * MAX_DURATION else f"{value!r} seconds"


def _check(value: object, key: str, spec: _Spec) -> None:
    """Raise ConfigError naming `key` unless `value` fits `spec`. Strings are never echoed (secrets)."""
    if spec.kind == "bool" and not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {_show(value)}")
    if spec.kind == "choice" and value not in spec.choices:
        raise ConfigError(key, f"must be one of {', '.join(map(repr, spec.choices))}, got {_show(value)}")
    if spec.kind in ("int", "duration"):
        types_ = int if spec.kind == "int" else int | float
        if isinstance(value, bool) or not isinstance(value, types_) or value != value:
            what = "an integer" if spec.kind == "int" else "a duration in seconds"
            raise ConfigError(key, f"must be {what}, got {_show(value)}")
        assert isinstance(value, int | float)
        if not spec.low <= value <= spec.high:
            show = str if spec.kind == "int" else _seconds
            raise ConfigError(key, f"must be between {show(spec.low)} and {show(spec.high)}, got {show(value)}")
    if spec.kind in ("str", "url", "secret"):
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {type(value).__name__}")
        if _FORBIDDEN_CHARS.search(value):
            raise ConfigError(key, "must not contain control characters or undecodable bytes")
        if spec.required and not value.strip():
            raise ConfigError(key, "must not be empty")
        scheme, sep, _ = value.partition("://")
        if spec.kind == "url" and value and (not sep or scheme.partition("+")[0].lower() not in spec.choices):
            raise ConfigError(key, f"must be empty or a {' / '.join(spec.choices)} URL")


def _validate(settings: object, where: str) -> None:
    for name, spec in _specs(type(settings)).items():
        _check(getattr(settings, name), f"{where}.{name}", spec)


def _check_name(value: object, key: str) -> None:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigError(key, f"names must match [a-z0-9][a-z0-9_-]{{0,63}}, got {value!r:.70}")


def _is_host(host: str) -> bool:
    if ":" not in host:
        return _HOST_PATTERN.fullmatch(host) is not None
    try:
        return ipaddress.IPv6Address(host).scope_id is None
    except ValueError:
        return False


def _is_issuer(url: str) -> bool:
    if any(c in url for c in "?# \\@") or not url.startswith("https://"):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return _is_host(parts.hostname or "")


def redact_url(url: str) -> str:
    """`url` with the password of its user info, and query parameters that look secret, replaced by ***.

    Errs on the side of hiding: everything between the first ':' of the authority and the last '@' goes.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return REDACTED if url else url
    colon, slash, at = rest.find(":"), rest.find("/"), rest.rfind("@")
    if 0 <= colon < at and (slash == -1 or colon < slash):
        rest = f"{rest[:colon]}:{REDACTED}{rest[at:]}"
    base, qmark, query = rest.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            secret = eq and any(word in name.lower() for word in _SECRET_QUERY_WORDS)
            pairs.append(f"{name}={REDACTED}" if secret else pair)
        rest = f"{base}?{'&'.join(pairs)}{hash_}{fragment}"
    return f"{scheme}://{rest}"
