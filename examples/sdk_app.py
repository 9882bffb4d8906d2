"""A relying app behind sessionward. Run: RP_ISSUER=https://127.0.0.1:8443 RP_CLIENT_ID=rp RP_CLIENT_SECRET=...
RP_CA_FILE=.sessionward/tls-cert.pem .venv/bin/uvicorn examples.sdk_app:app --port 8000"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionward.sdk import SessionwardAuth, get_principal


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": get_principal(request).sub})


env = os.environ
app = SessionwardAuth(
    Starlette(routes=[Route("/hello", hello)]),
    issuer=env["RP_ISSUER"],
    client_id=env["RP_CLIENT_ID"],
    client_secret=env["RP_CLIENT_SECRET"],
    ca_file=env.get("RP_CA_FILE"),
)
