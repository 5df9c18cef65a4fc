#!/bin/sh
# Run by Patroni once, on the node that bootstraps the cluster: the monitor's role and
# database (replicated from here to the other site).
set -eu
psql -v ON_ERROR_STOP=1 "$1" <<SQL
CREATE ROLE kazsat LOGIN PASSWORD '${KAZSAT_DB_PASSWORD:?}';
CREATE DATABASE kazsat OWNER kazsat;
SQL
