"""What a username may look like (printable, short, no leading or trailing space), and the one rule by which two
names are the same account: NFKC, then case folding (Unicode's compatibility caseless match, as a string).
Usernames are unique under it, sign-in finds a user by it, and every throttle keyed by a typed name uses it."""

from __future__ import annotations

import re
import unicodedata

from sessionward.errors import InvalidRequest

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def check_username(name: str) -> str:
    if not _USERNAME.fullmatch(name):
        raise InvalidRequest(
            "a username has 1 to 64 characters: letters, digits and . _ @ + -, starting with a letter or digit"
        )
    return name


def fold_username(name: str) -> str:
    """The form two names share when they name the same account: `Alice`, `ALICE` and a
    full-width ALICE all fold to `alice`.

    NFKC before folding maps compatibility characters (full-width letters, ligatures) to their plain forms; NFKC
    after it recomposes what folding decomposed, so folding a folded name changes nothing."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
