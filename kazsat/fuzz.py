"""The whole API fuzzed from its served OpenAPI description (schemathesis), as each kind of
caller; shared by tests/test_fuzz.py (no 5xx) and benchmarks/fuzz_latency.py (answer
times). A dev tool: schemathesis is a dev dependency."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.transport import Response

from kazsat.stack import Stack

PERSON, PASSWORD = "fuzz-engineer", "steppe-wind-1997"
# Each kind of caller: none, an API token per role, a person's login session.
CALLERS = ("none", "ingest", "viewer", "operator", "engineer", "session")
Answer = Callable[[Case, Response], None]


def fuzz_stack(data_dir: Path) -> Stack:
    """A running API over a fresh database with a little telemetry and a person to log in.
    One per caller: fuzzing as an engineer revokes tokens and moves limits."""
    stack = Stack(data_dir, extra_env={"KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000"})
    stack.add_user(PERSON, "engineer", PASSWORD)
    stack.start_api()
    t = time.time_ns()
    answer = stack.write(f"power,satellite=kazsat-2 bus_voltage=104,battery_soc=90 {t}\n"
                         f"link,station=akkol,satellite=kazsat-2 carrier_lock=false {t}")
    answer.raise_for_status()
    return stack


def headers_for(stack: Stack, caller: str) -> dict[str, str]:
    if caller == "none":
        return {}
    token = stack.login(PERSON, PASSWORD) if caller == "session" else stack.tokens[caller]
    return {"Authorization": f"Token {token}"}


def sweep(stack: Stack, headers: dict[str, str], examples: int, answer: Answer) -> int:
    """Every operation of the served description, with generated parameters and bodies
    (valid and not), each answer handed to `answer`; how many operations were exercised."""
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Case) -> None:
            answer(case, case.call(base_url=stack.api_url, timeout=10, headers=headers))

        check()
    return len(operations)
