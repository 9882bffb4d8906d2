"""A sessionward server in a child process for the benchmarks, and a lean HTTPS load generator.

The load generator is raw asyncio over TLS with keep-alive: far cheaper per request than the server, so the
figures measure the server. Both sides share the machine's cores; ratios within one run stay comparable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class BenchServer:
    port: int
    data_dir: Path
    env: dict[str, str]

    @property
    def ca_file(self) -> str:
        return str(self.data_dir / "tls-cert.pem")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def cli(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sessionward", *args, "--data-dir", str(self.data_dir)],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
            timeout=120,
        )
        return done.stdout


@contextlib.contextmanager
def running_server(extra_env: dict[str, str] | None = None, data_dir: Path | None = None) -> Iterator[BenchServer]:
    with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as fresh:
        tmp = str(data_dir or fresh)
        port = free_port()
        env = {**os.environ, **(extra_env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "sessionward", "serve", "--data-dir", tmp, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = BenchServer(port, Path(tmp), env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    status, _ = asyncio.run(one_request(server, "GET", "/readyz"))
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the benchmark server did not start")
                time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def _request_bytes(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def one_request(
    server: BenchServer, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=server.ssl_context(), server_hostname="localhost"
    )
    try:
        writer.write(_request_bytes(method, path, headers or {}, body))
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


async def _load(server: BenchServer, request: bytes, connections: int, seconds: float) -> tuple[int, int]:
    ok = bad = 0
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal ok, bad
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=server.ssl_context(), server_hostname="localhost"
        )
        while time.monotonic() < stop_at:
            writer.write(request)
            status, _ = await _read_response(reader)
            if 200 <= status < 300:
                ok += 1
            else:
                bad += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return ok, bad


def requests_per_second(
    server: BenchServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    connections: int = 16,
    seconds: float = 2.0,
) -> float:
    request = _request_bytes(method, path, headers or {}, body)
    ok, bad = asyncio.run(_load(server, request, connections, seconds))
    if bad:
        raise RuntimeError(f"{bad} requests to {path} failed during the benchmark")
    return ok / seconds
