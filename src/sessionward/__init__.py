"""sessionward: a session authority. The names below are the public API; everything else may change.

They are imported when first used, so `import sessionward.sdk` (a relying app's install, without the `server`
extra) loads nothing of the server: no web server, database or Redis client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sessionward.clock import Clock, FakeClock, SystemClock
    from sessionward.config import Settings, load_settings
    from sessionward.crypto.jwt import AccessClaims, TokenVerifier, VerifyRules
    from sessionward.crypto.keys import KeyRing, SigningKey
    from sessionward.errors import ConfigError, InvalidToken, SessionwardError
    from sessionward.http.app import create_app
    from sessionward.services.container import Services, open_services

__version__ = "0.1.0"

_WHERE = {
    "AccessClaims": "sessionward.crypto.jwt",
    "Clock": "sessionward.clock",
    "ConfigError": "sessionward.errors",
    "FakeClock": "sessionward.clock",
    "InvalidToken": "sessionward.errors",
    "KeyRing": "sessionward.crypto.keys",
    "Services": "sessionward.services.container",
    "SessionwardError": "sessionward.errors",
    "Settings": "sessionward.config",
    "SigningKey": "sessionward.crypto.keys",
    "SystemClock": "sessionward.clock",
    "TokenVerifier": "sessionward.crypto.jwt",
    "VerifyRules": "sessionward.crypto.jwt",
    "create_app": "sessionward.http.app",
    "load_settings": "sessionward.config",
    "open_services": "sessionward.services.container",
}

__all__ = [
    "AccessClaims",
    "Clock",
    "ConfigError",
    "FakeClock",
    "InvalidToken",
    "KeyRing",
    "Services",
    "SessionwardError",
    "Settings",
    "SigningKey",
    "SystemClock",
    "TokenVerifier",
    "VerifyRules",
    "__version__",
    "create_app",
    "load_settings",
    "open_services",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sessionward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
