"""Duration strings of the configuration: "750ms", "90s", "5m", "12h", "30d" <-> seconds.

Grammar: digits, optionally a decimal fraction ("1.5h"), then one unit: ms, s, m, h, d. No sign, no spaces,
no exponent, lower-case units only ("5M" is rejected: it could be read as months). Durations have millisecond
resolution: a value that is not a whole number of milliseconds ("0.5ms") is rejected, and so is anything
longer than ten years. Zero is rejected unless the caller passes ``allow_zero=True``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Final

from sessionward.errors import ConfigError

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

MAX_DURATION: Final = 3650 * 86400.0
"""The longest duration accepted: ten years, in seconds."""

_UNITS: Final = {
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}
_PATTERN: Final = re.compile(r"(?P<number>[0-9]{1,15}(?:\.[0-9]{1,9})?)(?P<unit>ms|s|m|h|d)")
_EXAMPLES: Final = 'a duration such as "750ms", "90s", "5m", "12h" or "30d"'


def parse_duration(text: str, key: str, *, allow_zero: bool = False) -> float:
    """Seconds in `text`; any bad value raises ConfigError naming `key`."""
    if not isinstance(text, str):
        raise ConfigError(key, f"must be {_EXAMPLES} (a string), got {type(text).__name__} {text!r:.40}")
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ConfigError(key, f"must be {_EXAMPLES}, got {text!r:.40}")
    seconds = Decimal(match["number"]) * _UNITS[match["unit"]]
    millis = seconds * 1000
    if millis != millis.to_integral_value():
        raise ConfigError(key, f"must be a whole number of milliseconds, got {text!r}")
    if seconds == 0 and not allow_zero:
        raise ConfigError(key, f"must be greater than zero, got {text!r}")
    if seconds > Decimal(MAX_DURATION):
        raise ConfigError(key, f"must be at most ten years (3650d), got {text!r}")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest duration string for `seconds`, in the largest unit that divides it ("5m", "750ms", "12h").

    For any value `parse_duration` returns, ``parse_duration(format_duration(x), key) == x``. A value finer
    than a millisecond is written in seconds with its decimals ("0.0001s"), which `parse_duration` rejects.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"seconds must be a number, got {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be finite and not negative, got {seconds!r}")
    exact = Decimal(repr(float(seconds)))
    if exact == 0:
        return "0s"
    for unit, size in _UNITS.items():
        count = exact / size
        if count == count.to_integral_value() and count * size == exact:
            return f"{int(count)}{unit}"
    return f"{exact.normalize():f}s"
