"""sessionward for relying applications: ASGI middleware that verifies sessionward access tokens locally.

from sessionward.sdk import SessionwardAuth, get_principal

app = SessionwardAuth(app, issuer="https://auth.example", client_id="shop", client_secret="...")

async def hello(request):  # a Starlette or FastAPI route behind it
    return JSONResponse({"sub": get_principal(request).sub})
"""

from sessionward.sdk._principal import (
    InsufficientUserAuthentication,
    Principal,
    get_principal,
    on_insufficient_user_authentication,
    require,
)
from sessionward.sdk.middleware import SessionwardAuth

__all__ = [
    "InsufficientUserAuthentication",
    "Principal",
    "SessionwardAuth",
    "get_principal",
    "on_insufficient_user_authentication",
    "require",
]
