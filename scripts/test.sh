#!/usr/bin/env bash
# Install everything (Chromium, its driver and a PostgreSQL server included) and run the whole
# test suite. Every install step fails loudly: a run that cannot provide a server the tests
# need must not pass by skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh dev

as_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq "$@" >/dev/null
}

# Browser tests drive Debian's Chromium through chromedriver: no browser download.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if as_root; then
    echo "installing Debian's chromium and chromium-driver for the browser tests"
    apt_install chromium chromium-driver
  else
    echo "NOTE: browser tests will be skipped (fail with CI=true): install Debian's chromium" \
         "and chromium-driver (sudo apt-get install chromium chromium-driver)." >&2
  fi
fi

# The two-site cluster tests (tests/test_cluster.py) run etcd and Patroni from Debian.
if ! command -v patroni >/dev/null || ! command -v etcd >/dev/null; then
  if as_root; then
    echo "installing Debian's patroni and etcd-server for the two-site cluster tests"
    apt_install patroni etcd-server
  else
    echo "NOTE: the two-site cluster tests will be skipped (fail with CI=true): install" \
         "Debian's patroni and etcd-server (sudo apt-get install patroni etcd-server)." >&2
  fi
fi

# tests/test_compose.py validates docker-compose.yml with Debian's docker-compose (no engine).
if ! command -v docker-compose >/dev/null && as_root; then
  echo "installing Debian's docker-compose to validate docker-compose.yml"
  apt_install docker-compose
fi

# The PostgreSQL tests use this server (each run makes and drops its own database). With none
# configured and none answering on 127.0.0.1:5432, root gets Debian's server with a password
# for the postgres user; otherwise they skip saying why (and fail with CI=true).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/5432") 2>/dev/null; }
if [ -z "${KAZSAT_TEST_POSTGRES_URL:-}" ]; then
  KAZSAT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres
  if ! port_open && as_root; then
    echo "installing and starting Debian's PostgreSQL server for the PostgreSQL tests"
    command -v pg_lsclusters >/dev/null || apt_install postgresql
    cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
    [ -n "$cluster" ] || { echo "no PostgreSQL cluster after installing postgresql" >&2; exit 1; }
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start || true  # "already running" is fine; the wait below decides
    for _ in $(seq 60); do port_open && break; sleep 0.5; done
    port_open || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'kazsat-tests'\""
    KAZSAT_TEST_POSTGRES_URL=postgresql+psycopg://postgres:kazsat-tests@127.0.0.1:5432/postgres
  fi
fi
export KAZSAT_TEST_POSTGRES_URL

.venv/bin/ruff check .
.venv/bin/mypy  # strict on backend/, simulator/, orbit/ and logsetup/ (pyproject.toml [tool.mypy])
# In CI, a short soak first (an hour by hand, a few minutes in CI): it prints its figures and
# fails only if a part stops or the API errs; pytest's summary stays the last line.
if [ "${CI:-}" = "true" ]; then
  .venv/bin/python benchmarks/soak.py --minutes "${KAZSAT_SOAK_MINUTES:-2}" --warmup-s 20
fi
exec .venv/bin/pytest "$@"
