"""schemathesis against the live HTTPS server: every operation, valid and invalid requests, real credentials.

No answer may be a 500, and every answer must be one the document names: its status, its media type, its body's
schema, its required headers; an operation that succeeded must refuse the same request without its credentials.
Two bounded, deterministic runs: derandomized fuzzing in process (about 550 cases), and the coverage phase through
schemathesis' command line (about 730 cases: boundary values, wrong types, missing headers, methods a path does
not serve). Together about 80 s on a loaded 2-core machine. A failure names the operation and carries
schemathesis' curl line to reproduce it.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import Server
from tests.service.helpers import PASSWORD

pytestmark = pytest.mark.slow

SECRET = "s3cret-for-the-web-client"
ENV = {
    "SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": SECRET,
    # Every authenticated case signs in afresh: let sessions pile up (the oldest go), and keep wrong current
    # passwords (POST /v1/password) from locking the account, so each case reaches its handler with a live token.
    "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",
    "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT": "100",
    "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "100",
    "SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "100000",
    "SESSIONWARD_LOGIN__FAILURE_WINDOW": "1s",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # resends a case that succeeded without its credentials, and with bad ones: refused
]
# Cases per operation and mode: the bound on the whole run.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 14, schemathesis.GenerationMode.NEGATIVE: 8}
# An endless Server-Sent Events stream: tests/service/test_revocation_stream.py reads it with a deadline.
SKIPPED = {"GET /v1/revocations/stream"}
USER = "root"


class Credentials:
    """The headers an operation's security asks for: an administrator's access token, or the web client's secret.

    A case may end its own session (logout, scope=all, a password change): after any DELETE or password change
    the token is forgotten and the next case signs in afresh. A token that died otherwise only costs coverage
    (its cases get the documented 401), never a false failure.
    """

    def __init__(self, server: Server, session: requests.Session) -> None:
        self._server, self._session = server, session
        self._token = ""

    def _request(self, method: str, path: str, **more: Any) -> requests.Response:
        return self._session.request(method, f"{self._server.base_url}{path}", verify=self._server.ca_file, **more)

    def __call__(self, security: list[dict[str, Any]]) -> dict[str, str]:
        schemes = {name for requirement in security for name in requirement}
        if "bearer" in schemes:
            if not self._token:
                r = self._request("POST", "/v1/sessions", json={"username": USER, "password": PASSWORD})
                assert r.status_code == 201, r.text
                self._token = r.json()["access_token"]
            return self._bearer()
        if "basic" in schemes:
            return {"Authorization": "Basic " + base64.b64encode(f"web:{SECRET}".encode()).decode()}
        return {}

    def after(self, case: schemathesis.Case) -> None:
        if case.method.upper() == "DELETE" or case.path == "/v1/password":
            self._token = ""

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


def fuzz(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, send: Callable[[Any], None]) -> int:
    """Sends the operation's derandomized cases of one mode; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is collected as it comes
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        send(case)

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid: no parameters, no body
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return sent


def test_the_live_server_answers_only_what_its_document_says(make_server: Callable[..., Server]) -> None:
    server = make_server(env=ENV)
    server.add_user(USER, PASSWORD, admin=True)
    with server.client() as http:
        document = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    sent: dict[str, int] = {}
    started = time.monotonic()
    with requests.Session() as session:  # closed before the server stops
        session.verify = server.ca_file
        credentials = Credentials(server, session)
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label in SKIPPED:
                continue
            security = operation.definition.raw.get("security", [])

            def send(case: schemathesis.Case, security: list[dict[str, Any]] = security) -> None:
                headers = credentials(security)
                try:
                    case.call_and_validate(server.base_url, session, headers, CHECKS, timeout=10, verify=server.ca_file)
                except FailureGroup as group:
                    failures.append(f"{case.operation.label}: {group}")
                finally:
                    credentials.after(case)

            for mode in EXAMPLES:
                sent[operation.label] = sent.get(operation.label, 0) + fuzz(operation, mode, send)
    elapsed = time.monotonic() - started
    every = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    assert set(sent) == every - SKIPPED, "every operation is exercised"
    assert failures == [], f"{len(failures)} failures in {sum(sent.values())} cases:\n" + "\n".join(failures[:10])
    print(f"schemathesis: {sum(sent.values())} cases over {len(sent)} operations in {elapsed:.1f} s")


# The coverage phase (boundary values, wrong types, missing parameters, methods the path does not serve) runs
# through schemathesis' own command line, which is how it is offered; credentials come from the hooks module.
COVERAGE_CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,ignored_auth,missing_required_header,unsupported_method"
)


def test_the_coverage_phase_finds_nothing_either(make_server: Callable[..., Server], tmp_path: Any) -> None:
    server = make_server(env=ENV)
    server.add_user(USER, PASSWORD, admin=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([root, os.path.join(root, "src")]),
        "SCHEMATHESIS_HOOKS": "tests.service.schemathesis_hooks",  # never imported here: its auth is global
        "SW_TEST_BASE_URL": server.base_url,
        "SW_TEST_CA_FILE": server.ca_file,
        "SW_TEST_USER": USER,
        "SW_TEST_PASSWORD": PASSWORD,
        "SW_TEST_CLIENT": f"web:{SECRET}",
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.base_url}/openapi.json",
        "--tls-verify", server.ca_file, "--phases", "coverage", "--generation-deterministic",
        "--checks", COVERAGE_CHECKS, "--exclude-path", "/v1/revocations/stream", "--continue-on-failure",
        "--no-color", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None and int(counts[1]) == int(counts[2]) > 500, summary
    assert "✅ Coverage" in summary, summary
