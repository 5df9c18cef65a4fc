"""Logging for every part of the system: the API, the dashboard, the simulator and the
`kazsat` command each call `configure` once at start, so all write the same lines to standard
error, times in UTC: text for a person at a terminal (the default), or one JSON object per
line (python-json-logger) for a log collector, with the settings KAZSAT_LOG_FORMAT=json and
KAZSAT_LOG_LEVEL. It imports nothing of the parts, so each may use it (tests/test_imports.py).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

DATE = "%Y-%m-%dT%H:%M:%SZ"
TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# The record's fields a JSON line carries, renamed to what log collectors expect; anything
# a call adds with `extra=` comes along as fields of its own.
JSON_FIELDS = ("asctime", "levelname", "name", "message", "process", "threadName")
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger", "threadName": "thread"}
QUIET = {"httpx": logging.WARNING,  # one line per request is noise
         "influxdb_client.client.write_api": logging.CRITICAL}  # multi-line; ours says why


class _Handler(logging.StreamHandler[TextIO]):
    """The handler `configure` installs: a second call replaces it; handlers others added
    (a test runner's capture) stay."""


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Send every logger's records to standard error in the chosen format, at `level` and
    above."""
    formatter: logging.Formatter
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        formatter = JsonFormatter(list(JSON_FIELDS), rename_fields=JSON_NAMES, datefmt=DATE)
    elif log_format == "text":
        formatter = logging.Formatter(TEXT, datefmt=DATE)
    else:
        raise ValueError(f"the log format is text or json, not {log_format!r}")
    formatter.converter = time.gmtime
    handler = _Handler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
