"""User-Agent strings as people's devices send them, in words a person recognises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.useragent import UNKNOWN_BROWSER, UNKNOWN_OS, parse_user_agent

CASES = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36",
        ("Chrome", "126", "Windows", "", "desktop", "Chrome 126 on Windows"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36 Edg/126.0.2592.87",
        ("Edge", "126", "Windows", "", "desktop", "Edge 126 on Windows"),
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
        ("Firefox", "115", "Windows", "7", "desktop", "Firefox 115 on Windows 7"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
        "Safari/605.1.15",
        ("Safari", "17", "macOS", "", "desktop", "Safari 17 on macOS"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.13; rv:109.0) Gecko/20100101 Firefox/115.0",
        ("Firefox", "115", "macOS", "10.13", "desktop", "Firefox 115 on macOS 10.13"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        ("Safari", "17", "iOS", "17.4", "mobile", "Safari 17 on iOS 17.4"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
        ("Chrome", "126", "iOS", "17.5", "mobile", "Chrome 126 on iOS 17.5"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
        "Mobile/15E148 Safari/604.1",
        ("Safari", "16", "iPadOS", "16.6", "tablet", "Safari 16 on iPadOS 16.6"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 "
        "Mobile Safari/537.36",
        ("Chrome", "126", "Android", "14", "mobile", "Chrome 126 on Android 14"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        ("Samsung Internet", "25", "Android", "13", "mobile", "Samsung Internet 25 on Android 13"),
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
        ("Firefox", "127", "Android", "14", "mobile", "Firefox 127 on Android 14"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 "
        "OPR/111.0.0.0",
        ("Opera", "111", "Linux", "", "desktop", "Opera 111 on Linux"),
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
        ("Firefox", "127", "Ubuntu", "", "desktop", "Firefox 127 on Ubuntu"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
        ("Chrome (headless)", "156", "Linux", "", "desktop", "Chrome (headless) 156 on Linux"),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36",
        ("Chrome", "126", "ChromeOS", "", "desktop", "Chrome 126 on ChromeOS"),
    ),
    ("curl/8.5.0", ("curl", "8", UNKNOWN_OS, "", "other", "curl 8 on Unknown OS")),
    ("python-httpx2/2.16.2", ("HTTPX", "2", UNKNOWN_OS, "", "other", "HTTPX 2 on Unknown OS")),
    ("", (UNKNOWN_BROWSER, "", UNKNOWN_OS, "", "other", "Unknown device")),
    ("<script>alert(1)</script>", (UNKNOWN_BROWSER, "", UNKNOWN_OS, "", "other", "Unknown device")),
]


@pytest.mark.parametrize(("ua", "expected"), CASES, ids=[e[5] for _, e in CASES])
def test_known_user_agents(ua: str, expected: tuple[str, str, str, str, str, str]) -> None:
    info = parse_user_agent(ua)
    assert (info.browser, info.browser_version, info.os, info.os_version, info.device, info.summary) == expected


def test_labels_join_name_and_version() -> None:
    info = parse_user_agent(CASES[5][0])
    assert info.browser_label == "Safari 17"
    assert info.os_label == "iOS 17.4"


def test_only_the_start_of_a_huge_header_is_read() -> None:
    info = parse_user_agent("x" * 10_000 + " Firefox/99.0")
    assert info.browser == UNKNOWN_BROWSER


@given(st.text(max_size=600))
def test_any_string_gets_an_answer(ua: str) -> None:
    info = parse_user_agent(ua)
    assert info.summary
    assert info.device in ("desktop", "mobile", "tablet", "other")
