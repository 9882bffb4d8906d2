"""sessionward: a session authority. The names below are the public API; everything else may change."""

from sessionward.clock import Clock, FakeClock, SystemClock
from sessionward.config import Settings, load_settings
from sessionward.crypto.jwt import AccessClaims, TokenVerifier, VerifyRules
from sessionward.crypto.keys import KeyRing, SigningKey
from sessionward.errors import ConfigError, InvalidToken, SessionwardError
from sessionward.http.app import create_app
from sessionward.services.container import Services, open_services

__version__ = "0.1.0"

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
