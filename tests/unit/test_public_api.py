"""The package's public names: sorted, importable, and nothing private among them."""

from __future__ import annotations

import importlib.metadata

import sessionward


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert sessionward.__all__ == sorted(set(sessionward.__all__))
    for name in sessionward.__all__:
        assert getattr(sessionward, name) is not None
    assert not [n for n in sessionward.__all__ if n.startswith("_") and n != "__version__"]


def test_version_matches_the_distribution() -> None:
    assert sessionward.__version__ == importlib.metadata.version("sessionward")
