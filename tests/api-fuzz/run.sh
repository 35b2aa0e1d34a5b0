#!/usr/bin/env bash
# Runs the pinned schemathesis (requirements.txt) with the given arguments:
#   tests/api-fuzz/run.sh run http://127.0.0.1:8080/api/openapi.json --checks ... --header ...
# services/server/tests/api_fuzz.rs calls it against a throw-away `relay all`.
#
# The first run installs the packages into a virtual environment in a cache directory
# (RELAY_API_FUZZ_CACHE, default ~/.cache/relay-api-fuzz), keyed on requirements.txt and the
# Python version; later runs reuse it and need no network.
# Exits 77 (the usual "skipped") when Python cannot make a virtual environment (python3-venv missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${RELAY_API_FUZZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relay-api-fuzz}
venv="$cache/venv"
python=${PYTHON:-python3}

command -v "$python" >/dev/null || { echo "api fuzz: $python not found" >&2; exit 1; }
"$python" -c 'import venv, ensurepip' 2>/dev/null || {
  echo "api fuzz: $python cannot make a virtual environment (install python3-venv)" >&2
  exit 77
}

mkdir -p "$cache"
# One installer at a time; the others wait and then reuse its result.
exec 9>"$cache/.lock"
flock 9
wanted="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "api fuzz: installing Python packages into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  echo "$wanted" > "$venv/.installed"
fi
flock -u 9

export PYTHONDONTWRITEBYTECODE=1
export NO_COLOR=1
# The project's settings and hooks (schemathesis.toml, hooks.py) apply to every run.
export SCHEMATHESIS_HOOKS="$here/hooks.py"
exec "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" "$@"
