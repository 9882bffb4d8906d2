"""Debian's Chromium driven by Playwright against a real sessionward HTTPS server on loopback.

Chromium comes from Debian (`.ci/chromium.sh` installs it when /usr/bin/chromium is missing); Playwright never
downloads a browser. Without Chromium or Playwright these tests skip with the reason, except in CI (env CI
true), where they fail. Screenshots of every page go to tests/browser/artifacts/.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import pytest

from sessionward.http.server import certificate_files
from sessionward.services.container import open_services
from tests.service.conftest import Server, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1100, "height": 760}

T = TypeVar("T")


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Runs `fn` in a worker thread: the Playwright sync API owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result(timeout=60)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable() -> str | None:
    """Why the browser tests cannot run here, or None. Installs Debian's Chromium first when it is missing."""
    if not CHROMIUM.exists():
        script = ROOT / ".ci" / "chromium.sh"
        if script.exists():
            subprocess.run(["bash", str(script)], check=False, timeout=1200)
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing and could not be installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    reason = _unavailable()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium_ready: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def make(
        user_agent: str | None = None, viewport: dict[str, int] | None = None, javascript: bool = True
    ) -> BrowserContext:
        options: dict[str, Any] = {
            "ignore_https_errors": True,
            "viewport": viewport or DESKTOP,
            "java_script_enabled": javascript,
        }
        if user_agent:
            options["user_agent"] = user_agent
        if viewport == PHONE:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def make_live_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """A real server on the system clock (the browser's cookie jar lives in real time too)."""
    stops: list[Callable[[], None]] = []

    def make(env: dict[str, str] | None = None, users: tuple[str, ...] = ("alice",)) -> Server:
        server, stop = in_thread(start_server, tmp_path / f"node{len(stops)}", env)
        stops.append(stop)
        for user in users:
            in_thread(server.add_user, user, PASSWORD)
        return server

    yield make
    for stop in stops:
        stop()


def audit_events(server: Server, event: str) -> list[str]:
    """The data of every audit record named `event`."""

    async def read() -> list[str]:
        svc = await open_services(server.settings)
        try:
            return [r.data_json async for r in svc.store.audit_records() if r.event == event]
        finally:
            await svc.close()

    return in_thread(anyio.run, read)


class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def attacker_site() -> Iterator[Callable[[Server, str, bool], str]]:
    """Serves one HTML page from another origin on loopback; returns its URL.

    `tls=True`: https on another port of 127.0.0.1 -- another origin but the same site, so Chromium still sends
    SameSite=Strict cookies and only the server's own CSRF checks stand in the way. `tls=False`: plain http,
    a different site altogether."""
    servers: list[ThreadingHTTPServer] = []

    def serve(target: Server, html: str, tls: bool) -> str:
        handler = type("Handler", (_Attacker,), {"page": html.encode()})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            cert, key = certificate_files(target.settings)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}/"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
