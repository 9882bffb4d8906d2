"""Credentials for the schemathesis CLI run of tests/service/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

Each case gets what its operation's security asks for: an administrator's access token, checked before the case
(GET /v1/me) and signed in again when an earlier case ended its session, or the web client's secret.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import requests
import schemathesis

BASE_URL = os.environ.get("SW_TEST_BASE_URL", "")
CA_FILE = os.environ.get("SW_TEST_CA_FILE", "")
USER = os.environ.get("SW_TEST_USER", "")
PASSWORD = os.environ.get("SW_TEST_PASSWORD", "")
CLIENT = os.environ.get("SW_TEST_CLIENT", "")


@schemathesis.auth(refresh_interval=None)
class Credentials:
    def __init__(self) -> None:
        self._http = requests.Session()
        self._token = ""

    def _live_token(self) -> str:
        if self._token:
            me = self._http.get(f"{BASE_URL}/v1/me", headers=self._bearer(), verify=CA_FILE, timeout=10)
            if me.status_code == 200:
                return self._token
        r = self._http.post(
            f"{BASE_URL}/v1/sessions", json={"username": USER, "password": PASSWORD}, verify=CA_FILE, timeout=10
        )
        r.raise_for_status()
        self._token = str(r.json()["access_token"])
        return self._token

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return ""

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        security = case.operation.definition.raw.get("security", [])
        schemes = {name for requirement in security for name in requirement}
        if "bearer" in schemes:
            self._live_token()
            case.headers = {**(case.headers or {}), **self._bearer()}
        elif "basic" in schemes:
            basic = base64.b64encode(CLIENT.encode()).decode()
            case.headers = {**(case.headers or {}), "Authorization": f"Basic {basic}"}
