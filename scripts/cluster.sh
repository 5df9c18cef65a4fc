#!/usr/bin/env bash
# The two-site demo on this machine (docs/cluster.md): install what it needs (as root:
# Debian's patroni, etcd-server and PostgreSQL server programs) and start both sites.
# Ctrl-C stops them; `kazsat cluster status | switchover | fail akkol | start akkol` from
# another terminal (.venv/bin/kazsat).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh
need=()
command -v patroni >/dev/null || need+=(patroni)
command -v etcd >/dev/null || need+=(etcd-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's ${need[*]} for the two-site demo"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "the two-site demo needs Debian's ${need[*]}: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
exec .venv/bin/kazsat cluster up "$@"
