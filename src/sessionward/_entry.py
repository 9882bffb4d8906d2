"""The `sessionward` command's entry point: where only the SDK is installed (no `server` extra), it says what to
install instead of ending in a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from sessionward.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "sessionward":
            raise
        sys.stderr.write(
            f"sessionward: the server is not installed here (no module named {exc.name!r}); "
            "install it with: pip install 'sessionward[server]'\n"
        )
        raise SystemExit(1) from None
    cli_main()
