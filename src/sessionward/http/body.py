"""Reading request bodies strictly: the right media type, a size cap, a JSON object, typed fields."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from sessionward.core.numbers import ascii_digits, ascii_int
from sessionward.errors import InvalidRequest, SessionwardError

MAX_BODY_BYTES = 64 * 1024


class UnsupportedMediaType(SessionwardError):
    code = "unsupported_media_type"


class JsonBody:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def string(self, name: str, *, required: bool = True, max_len: int = 1024, default: str = "") -> str:
        value = self._data.get(name)
        if value is None:
            if required:
                raise InvalidRequest(f"'{name}' is required")
            return default
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string")
        if len(value) > max_len:
            raise InvalidRequest(f"'{name}' is longer than {max_len} characters")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._data.get(name, default)
        if not isinstance(value, bool):
            raise InvalidRequest(f"'{name}' must be true or false")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self._data.get(name)
        if value is None:
            raise InvalidRequest(f"'{name}' is required")
        if not isinstance(value, dict):
            raise InvalidRequest(f"'{name}' must be a JSON object")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(name, required=False, default=default)
        if value not in choices:
            raise InvalidRequest(f"'{name}' must be one of: {', '.join(choices)}")
        return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_utf8_text(data: Any) -> bool:
    """Whether every string of parsed JSON (keys and values, at any depth) can be encoded as UTF-8.

    `json.loads` accepts escapes of lone surrogates (`"\\ud800"`); such a string fails later, wherever it is
    encoded (a hash, a database, the answer itself), so it is refused where the body is read."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


async def capped_body(request: Request, media_type: str) -> bytes:
    """The body, when it has `media_type` and at most MAX_BODY_BYTES (checked while reading, not after)."""
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if given != media_type:
        raise UnsupportedMediaType(f"the body must be {media_type}")
    declared = request.headers.get("content-length")
    if declared is not None:
        length = ascii_int(declared, max_digits=19)
        if length is None and not ascii_digits(declared):
            raise InvalidRequest("Content-Length must be a number of bytes")
        if length is None or length > MAX_BODY_BYTES:
            raise InvalidRequest(f"the body must be at most {MAX_BODY_BYTES} bytes")
    raw = b""
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY_BYTES:
                raise InvalidRequest(f"the body must be at most {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:  # gone before its body ended (or cut off by the read timeout): nobody to answer
        raise InvalidRequest("the body ended early") from None
    return raw


async def json_body(request: Request) -> JsonBody:
    raw = await capped_body(request, "application/json")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    if not is_utf8_text(data):
        raise InvalidRequest("the body is not valid UTF-8 text")
    return JsonBody(data)
