#!/usr/bin/env bash
# CI: the package as people install it, from the built wheel, each in a clean venv that cannot see this tree.
#   1. No extras, as a relying app installs it: none of the server's dependencies (pyproject's `server` extra)
#      comes along; `sessionward` and every module of `sessionward.sdk` import; so does examples/sdk_app.py; the
#      `sessionward` command says to install the server rather than end in a traceback.
#   2. The `server` extra: every module of the package imports, the command runs, and the migrations are in the
#      wheel (a fresh data dir is migrated, gets a user, and its audit trail verifies).
# Packages come from pip's configured indexes (its cache makes a second run cheap). Needs only python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PYTHON=${PYTHON:-python3}
unset PYTHONPATH VIRTUAL_ENV # nothing of this tree or of another venv may leak into the clean ones
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '.ci/package.sh: %s\n' "$*"; }

step "building the wheel"
# From a copy of what the build reads, so that the build leaves nothing in this tree (build/, *.egg-info).
mkdir "$work/tree"
cp -r pyproject.toml README.md src "$work/tree/"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/tree" >/dev/null
wheel=$(ls "$work"/dist/sessionward-*.whl)

# -- 1. no extras: the relying app's install -----------------------------------------------------------------
step "installing $(basename "$wheel") without extras"
"$PYTHON" -m venv "$work/sdk"
"$work/sdk/bin/pip" install --quiet "$wheel"
mkdir "$work/elsewhere" # run from a directory where no source tree is importable
cd "$work/elsewhere"

"$work/sdk/bin/python" - "$root/pyproject.toml" <<'PY'
import importlib, importlib.metadata, pkgutil, re, sys, tomllib

pyproject = tomllib.load(open(sys.argv[1], "rb"))
server = {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in pyproject["project"]["optional-dependencies"]["server"]}
installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
pulled = sorted(server & installed)
assert not pulled, f"installing sessionward without extras pulled the server's dependencies: {pulled}"

import sessionward, sessionward.sdk

assert "site-packages" in sessionward.__file__, sessionward.__file__
assert sessionward.__version__ == importlib.metadata.version("sessionward")
for name in sessionward.sdk.__all__:
    getattr(sessionward.sdk, name)
modules = [m.name for m in pkgutil.walk_packages(sessionward.sdk.__path__, "sessionward.sdk.")]
for name in modules:
    importlib.import_module(name)
for name in ("AccessClaims", "TokenVerifier", "VerifyRules", "InvalidToken", "SystemClock"):
    getattr(sessionward, name)  # the public names an SDK user may reach for
print(f"  without extras: sessionward.sdk and {len(modules)} modules under it import; no server dependency")
PY

RP_ISSUER=https://127.0.0.1:8443 RP_CLIENT_ID=rp RP_CLIENT_SECRET=example-secret \
  "$work/sdk/bin/python" -c 'import runpy, sys; app = runpy.run_path(sys.argv[1])["app"]; print("  examples/sdk_app.py imports:", type(app).__name__)' \
  "$root/examples/sdk_app.py"

set +e
message=$("$work/sdk/bin/sessionward" --help 2>&1)
status=$?
set -e
if [[ $status -ne 1 || $message != *"pip install 'sessionward[server]'"* || $message == *Traceback* ]]; then
  echo ".ci/package.sh: without the server extra, \`sessionward\` should exit 1 saying what to install; it said (exit $status):" >&2
  echo "$message" >&2
  exit 1
fi
echo "  without extras: the sessionward command says to install the server extra"
cd "$root"

# -- 2. the server extra -------------------------------------------------------------------------------------
step "installing $(basename "$wheel") with the server extra"
"$PYTHON" -m venv "$work/server"
"$work/server/bin/pip" install --quiet "${wheel}[server]"
cd "$work/elsewhere"
"$work/server/bin/python" - <<'PY'
import importlib, pkgutil

import sessionward

assert "site-packages" in sessionward.__file__, sessionward.__file__
# Every module but two scripts that run when imported: the command (__main__) and Alembic's env.py (run by the
# migrations, which `audit verify` on a fresh data dir below applies).
scripts = {"sessionward.__main__", "sessionward.migrations.env"}
names = [m.name for m in pkgutil.walk_packages(sessionward.__path__, "sessionward.") if m.name not in scripts]
for name in names:
    importlib.import_module(name)
for name in sessionward.__all__:
    getattr(sessionward, name)
print(f"  server extra: all {len(names)} modules import, and every public name resolves")
PY
"$work/server/bin/sessionward" --help >/dev/null
"$work/server/bin/sessionward" db upgrade --data-dir "$work/data" | sed 's/^/  server extra: /'
printf 'correct horse battery staple\n' | "$work/server/bin/sessionward" users add alice --data-dir "$work/data" >/dev/null
"$work/server/bin/sessionward" audit verify --data-dir "$work/data" | sed 's/^/  server extra: /'
cd "$root"
step "ok"
