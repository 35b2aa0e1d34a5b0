#!/usr/bin/env bash
# Checks the Helm chart (charts/relay) and the Terraform modules (terraform/) without Helm,
# Terraform or a network: templates rendered with Go's text/template + sprig and validated
# against Kubernetes schemas, HCL parsed and cross-checked, the CloudFront Function run in Node.
#
# The first run installs pinned Python packages into a virtual environment in a cache
# directory (RELAY_DEPLOY_TEST_CACHE, default ~/.cache/relay-deploy-tests); later runs reuse it
# and need no network. Extra arguments go to pytest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${RELAY_DEPLOY_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relay-deploy-tests}
venv="$cache/venv"
python=${PYTHON:-python3}

wanted="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "deploy tests: installing Python packages into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  echo "$wanted" > "$venv/.installed"
fi

command -v node >/dev/null || { echo "deploy tests: node is required (the CloudFront Function runs in it)" >&2; exit 1; }

cd "$here"
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"
