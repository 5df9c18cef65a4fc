"""`python -m dashboard [--host H] [--port P]`: serve the dashboard, a process of its own that
reaches the API over HTTP only (`kazsat dashboard` and `kazsat up` start it this way)."""

from __future__ import annotations

import argparse

import logsetup
from dashboard.app import run
from dashboard.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m dashboard",
                                     description="Serve the KazSat control-room dashboard.")
    parser.add_argument("--host", default=settings.dashboard_host,
                        help="address to listen on (KAZSAT_DASHBOARD_HOST)")
    parser.add_argument("--port", type=int, default=settings.dashboard_port,
                        help="port to listen on (KAZSAT_DASHBOARD_PORT)")
    args = parser.parse_args(argv)
    # The same log lines as the other parts (KAZSAT_LOG_FORMAT, KAZSAT_LOG_LEVEL).
    logsetup.configure(settings.log_format, settings.log_level)
    run(args.host, args.port)


if __name__ == "__main__":
    main()
