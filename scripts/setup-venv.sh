# Sourced by up.sh and test.sh: a local virtual environment with the project installed.
# Usage: source scripts/setup-venv.sh [extra]   (extra: "dev" for the test tools)
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "KazSat monitor needs Python 3.11 or newer; '$PY' is $("$PY" --version 2>&1)." >&2
  echo "Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
spec="."
[ "${1:-}" = "dev" ] && spec=".[dev]"
echo "installing the project and its dependencies into .venv (${spec})"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
