"""Numbers read from text (headers, query strings, form fields, event ids): ASCII decimal digits only.

`str.isdigit()` is true for "²" and "٣", which `int()` then refuses ("²") or reads as 3 ("٣"), and `int()`
also takes " 1", "+1", "-1" and "1_000". A number given as text here is one to `max_digits` of 0-9, nothing else.
"""

from __future__ import annotations

__all__ = ["ascii_digits", "ascii_int"]


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of the ASCII digits 0-9 and nothing else."""
    return text.isascii() and text.isdecimal()


def ascii_int(text: str, max_digits: int) -> int | None:
    """The value of `text` when it is 1 to `max_digits` ASCII digits (leading zeros allowed), else None."""
    if len(text) > max_digits or not ascii_digits(text):
        return None
    return int(text)
