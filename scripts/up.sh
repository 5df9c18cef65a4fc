#!/usr/bin/env bash
# Install everything into .venv and start the API, the dashboard and the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh
exec .venv/bin/kazsat up "$@"
