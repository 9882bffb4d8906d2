"""A User-Agent header in words a person recognises: "Firefox 128 on Windows", "Safari on iPhone".

Pure and forgiving: any string (empty, garbage, 10 KB of it) gives an answer, never an exception. It is for
display only, never for a security decision: a User-Agent is whatever the client chose to send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

DeviceKind = Literal["desktop", "mobile", "tablet", "other"]

MAX_INSPECTED: Final = 512  # sessions store at most 512 characters of it anyway


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    browser: str  # "Chrome", "Firefox", ... or "Unknown browser"
    browser_version: str  # the major version, or ""
    os: str  # "Windows", "macOS", "iOS", "Android", "Linux", ... or "Unknown OS"
    os_version: str  # "", "14", "17.4", ...
    device: DeviceKind

    @property
    def browser_label(self) -> str:
        return f"{self.browser} {self.browser_version}".strip()

    @property
    def os_label(self) -> str:
        return f"{self.os} {self.os_version}".strip()

    @property
    def summary(self) -> str:
        """ "Chrome 126 on macOS": what a person reads first."""
        if self.browser == UNKNOWN_BROWSER and self.os == UNKNOWN_OS:
            return "Unknown device"
        return f"{self.browser_label} on {self.os_label}"


UNKNOWN_BROWSER: Final = "Unknown browser"
UNKNOWN_OS: Final = "Unknown OS"

# Order matters: many browsers also name the engines they descend from ("Chrome/... Safari/..." in Edge).
_BROWSERS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("Edge", re.compile(r"\b(?:Edg|EdgA|EdgiOS|Edge)/(\d+)")),
    ("Opera", re.compile(r"\b(?:OPR|OPiOS|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Vivaldi", re.compile(r"\bVivaldi/(\d+)")),
    ("Yandex Browser", re.compile(r"\bYaBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome (headless)", re.compile(r"\bHeadlessChrome/(\d+)")),
    ("Chrome", re.compile(r"\b(?:CriOS)/(\d+)")),
    ("Chromium", re.compile(r"\bChromium/(\d+)")),
    ("Chrome", re.compile(r"\bChrome/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)(?:\.\d+)*(?: Mobile/\w+)? Safari/")),
    ("Internet Explorer", re.compile(r"\b(?:MSIE (\d+)|Trident/.*rv:(\d+))")),
    ("curl", re.compile(r"^curl/(\d+)")),
    ("Wget", re.compile(r"^Wget/(\d+)")),
    ("HTTPX", re.compile(r"^python-httpx\d*/(\d+)")),
    ("Python", re.compile(r"^(?:python-requests|Python-urllib|aiohttp)/(\d+)")),
    ("Go", re.compile(r"^Go-http-client/(\d+)")),
    ("Java", re.compile(r"^Java/(\d+)")),
    ("okhttp", re.compile(r"^okhttp/(\d+)")),
    ("Postman", re.compile(r"^PostmanRuntime/(\d+)")),
)
_PROGRAMS: Final = frozenset({"curl", "Wget", "HTTPX", "Python", "Go", "Java", "okhttp", "Postman"})

_WINDOWS_NT: Final = {"10.0": "", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.1": "XP"}


def _version(raw: str, keep: int = 2) -> str:
    """ "17_4_1" -> "17.4"; trailing ".0" dropped ("14.0" -> "14")."""
    parts = [p for p in re.split(r"[._]", raw) if p.isdigit()][:keep]
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


def _os(ua: str) -> tuple[str, str, DeviceKind]:
    if m := re.search(r"\biPad\b.*?\bOS (\d+(?:_\d+)*)", ua):
        return "iPadOS", _version(m[1]), "tablet"
    if "iPad" in ua:
        return "iPadOS", "", "tablet"
    if m := re.search(r"\biPhone\b.*?\bOS (\d+(?:_\d+)*)", ua):
        return "iOS", _version(m[1]), "mobile"
    if "iPhone" in ua or "iPod" in ua:
        return "iOS", "", "mobile"
    if m := re.search(r"\bAndroid[ /]?(\d+(?:\.\d+)*)?", ua):
        device: DeviceKind = "mobile" if "Mobile" in ua else "tablet"
        return "Android", _version(m[1] or "", 1), device
    if m := re.search(r"\bWindows NT (\d+\.\d+)", ua):
        return "Windows", _WINDOWS_NT.get(m[1], ""), "desktop"
    if "Windows" in ua:
        return "Windows", "", "desktop"
    if re.search(r"\bCrOS\b", ua):
        return "ChromeOS", "", "desktop"
    if m := re.search(r"\bMac OS X (\d+(?:[._]\d+)*)", ua):
        # Browsers froze the reported macOS version at 10.15.7; anything later is the same string.
        version = _version(m[1])
        return "macOS", "" if version.startswith("10.15") else version, "desktop"
    if "Macintosh" in ua or "Mac OS" in ua:
        return "macOS", "", "desktop"
    for name in ("Ubuntu", "Fedora", "Debian"):
        if name in ua:
            return name, "", "desktop"
    if "Linux" in ua or "X11" in ua:
        return "Linux", "", "desktop"
    if "FreeBSD" in ua:
        return "FreeBSD", "", "desktop"
    return UNKNOWN_OS, "", "other"


def parse_user_agent(user_agent: str) -> UserAgentInfo:
    ua = user_agent[:MAX_INSPECTED].replace("\x00", "")
    os_name, os_version, device = _os(ua)
    for name, pattern in _BROWSERS:
        if m := pattern.search(ua):
            version = next((g for g in m.groups() if g), "")
            if name in _PROGRAMS:
                return UserAgentInfo(name, version, os_name, os_version, "other" if os_name == UNKNOWN_OS else device)
            return UserAgentInfo(name, version, os_name, os_version, device)
    return UserAgentInfo(UNKNOWN_BROWSER, "", os_name, os_version, device)
