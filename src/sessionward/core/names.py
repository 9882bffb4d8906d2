"""What a username may look like: printable, short, no leading or trailing space."""

from __future__ import annotations

import re

from sessionward.errors import InvalidRequest

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def check_username(name: str) -> str:
    if not _USERNAME.fullmatch(name):
        raise InvalidRequest(
            "a username has 1 to 64 characters: letters, digits and . _ @ + -, starting with a letter or digit"
        )
    return name
