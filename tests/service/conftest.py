"""A real sessionward HTTPS server on a free loopback port, TLS 1.3 handshake included.

The server runs in a thread of the test process so a test can hand it a FakeClock and move time instead of
sleeping; everything else (uvicorn, TLS, SQLite in a temp data dir) is the production path.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn

from sessionward.clock import Clock, FakeClock, SystemClock
from sessionward.config import Settings, load_settings
from sessionward.http.server import certificate_files, uvicorn_config
from sessionward.services.container import open_services

# Cheap argon2 parameters keep the suite fast; the production defaults are measured in `make bench`.
LOG_LEVEL = "warning"
FAST_HASH = {
    "SESSIONWARD_PASSWORDS__TIME_COST": "1",
    "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024",
    "SESSIONWARD_PASSWORDS__PARALLELISM": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    settings: Settings
    clock: Clock
    base_url: str
    ca_file: str
    data_dir: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=10.0)

    def add_user(self, name: str, password: str, admin: bool = False) -> str:
        async def work() -> str:
            svc = await open_services(self.settings)
            try:
                return (await svc.auth.create_user(name, password, admin, "test")).user_id
            finally:
                await svc.close()

        return anyio.run(work)

    def login(self, client: httpx2.Client, name: str, password: str, **extra: object) -> httpx2.Response:
        return client.post("/v1/sessions", json={"username": name, "password": password, **extra})


def start_server(
    data_dir: Path, env: dict[str, str] | None = None, clock: Clock | None = None, config_file: Path | None = None
) -> tuple[Server, Callable[[], None]]:
    port = free_port()
    settings = load_settings(
        config_file, {**FAST_HASH, **(env or {})}, data_dir=str(data_dir), host="127.0.0.1", port=port
    )
    server = uvicorn.Server(uvicorn_config(settings, clock, log_level=LOG_LEVEL))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    cert, _key = certificate_files(settings)
    return Server(settings, clock or SystemClock(), settings.server.issuer_url, cert, data_dir), stop


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    stops: list[Callable[[], None]] = []

    def make(env: dict[str, str] | None = None, clock: Clock | None = None, name: str = "node") -> Server:
        server, stop = start_server(tmp_path / name, env, clock)
        stops.append(stop)
        return server

    yield make
    for stop in stops:
        stop()


@pytest.fixture
def server(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    return make_server(clock=clock)


@pytest.fixture
def client(server: Server) -> Iterator[httpx2.Client]:
    with server.client() as c:
        yield c
