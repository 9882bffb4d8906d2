"""A relying app installs sessionward without extras: `sessionward.sdk` (and the example app) must work with
only what the package declares without extras, and load nothing of the server. Here a fresh interpreter is kept
from importing the server extra's packages; .ci/package.sh checks the same from a built wheel in a clean venv."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Run in the fresh interpreter: a finder refusing the server's packages, as if they were not installed.
_BLOCK = """
import importlib.abc, json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
"""


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(requirements: list[str]) -> set[str]:
    """These distributions and everything they require (without their extras)."""
    todo = [requirement_name(r) for r in requirements]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [requirement_name(r) for r in requires if "extra ==" not in r]
    return seen


BASE = closure(PROJECT["dependencies"])
SERVER_ONLY = closure(PROJECT["optional-dependencies"]["server"]) - BASE


def server_only_modules() -> list[str]:
    return sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if {d.lower().replace("_", "-") for d in dists} & SERVER_ONLY
    )


def without_the_server(statement: str) -> list[str]:
    """Runs `statement` in a fresh interpreter (this tree's src first on the path) that cannot import the server
    extra's packages; returns the modules it then holds."""
    code = f"{_BLOCK}\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "RP_ISSUER": "https://127.0.0.1:8443", "RP_CLIENT_ID": "rp", "RP_CLIENT_SECRET": "s e c"}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(server_only_modules())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "src",
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_sdk_and_the_example_app_work_without_the_server_extra() -> None:
    assert {"sqlalchemy", "uvicorn", "redis", "typer"} <= set(server_only_modules())  # the block is real
    example = ROOT / "examples" / "sdk_app.py"
    loaded = without_the_server(
        f"import runpy, sessionward.sdk\nfrom sessionward.sdk import *\napp = runpy.run_path({str(example)!r})['app']"
    )
    server_packages = tuple(f"sessionward.{p}" for p in ("http", "services", "stores", "cli", "config", "migrations"))
    assert [m for m in loaded if m.startswith(server_packages)] == []


def test_every_third_party_module_the_sdk_loads_is_declared_without_extras() -> None:
    distributions = importlib.metadata.packages_distributions()
    at_start = set(without_the_server("pass"))  # what the interpreter loads by itself (.pth hooks)
    loaded = set(without_the_server("import sessionward.sdk")) - at_start
    used = {d.lower().replace("_", "-") for m in loaded if "." not in m for d in distributions.get(m, [])}
    used.discard("sessionward")
    assert sorted(used - BASE) == []
    assert "httpx2" in used  # the SDK's HTTP client: the dependency the package once forgot to declare


def test_the_top_level_package_imports_its_public_names_only_when_used() -> None:
    assert [m for m in without_the_server("import sessionward") if m.startswith("sessionward.")] == []
    # ...and with the server installed, they are all there.
    done = subprocess.run(
        [sys.executable, "-c", "import sessionward as s; print(all(getattr(s, n) for n in s.__all__))"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "src",
        check=False,
    )
    assert done.stdout.strip() == "True", done.stderr


def test_the_command_says_what_to_install_without_the_server_extra() -> None:
    statement = "import sys\nsys.argv = ['sessionward', '--help']\nfrom sessionward._entry import main\nmain()"
    code = f"{_BLOCK}\n{statement}"
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(server_only_modules())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "src",
        check=False,
    )
    assert done.returncode == 1
    assert "pip install 'sessionward[server]'" in done.stderr
    assert "Traceback" not in done.stderr
