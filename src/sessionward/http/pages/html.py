"""The smallest safe templating: every value is escaped unless it is already `Html`.

Templates are `str.format` strings written in this package; what fills them is escaped with `html.escape`
(quotes included, so values are safe in attributes too). Only the functions of this package make `Html`.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape


class Html(str):
    """Markup that is safe as it is: built by `render` or `join`, never from outside input."""

    __slots__ = ()


def _safe(value: object) -> str:
    return value if isinstance(value, Html) else escape(str(value), quote=True)


def render(template: str, /, **values: object) -> Html:
    return Html(template.format(**{name: _safe(value) for name, value in values.items()}))


def join(parts: Iterable[Html], sep: str = "\n") -> Html:
    return Html(sep.join(_safe(part) for part in parts))


EMPTY = Html("")
