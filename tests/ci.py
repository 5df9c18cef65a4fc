"""What a test does when a server it needs is missing: skip, saying why, on a developer's
machine; fail on a CI run (CI=true), where the test command provides PostgreSQL and Chromium,
so their absence is a broken run rather than a reason to pass."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> NoReturn:
    """Skip with the reason; on CI, fail with it."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: a missing server fails the run; scripts/test.sh "
                    "installs and starts it when run as root)", pytrace=False)
    pytest.skip(reason)
