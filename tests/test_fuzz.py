"""Bad input: the whole API fuzzed from its OpenAPI description (schemathesis). No 500s,
no hangs; refusals are 4xx. (The write endpoint's bodies: tests/test_write_fuzz.py.)"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from kazsat.stack import Stack


@pytest.fixture
def fuzz_stack(tmp_path):
    # One stack per test: fuzzing as an engineer revokes API tokens (DELETE /tokens/{id}),
    # which must not leave the next test holding a dead token.
    stack = Stack(tmp_path / "data")
    stack.start_api()
    t = time.time_ns()
    stack.write(f"power,satellite=kazsat-2 bus_voltage=104,battery_soc=90 {t}\n"
                f"link,station=akkol,satellite=kazsat-2 carrier_lock=false {t}")
    yield stack
    stack.stop()


def fuzz_operations(stack: Stack, role: str, examples: int) -> int:
    """Every operation of the served OpenAPI description, with generated parameters and
    bodies (valid and not); returns how many operations were exercised."""
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    headers = {"Authorization": f"Token {stack.tokens[role]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call(base_url=stack.api_url, timeout=10, headers=headers)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:300])

        check()
    return len(operations)


def test_no_server_errors_as_engineer(fuzz_stack):
    """With a token that may do everything: an answer for every request, never a 5xx."""
    assert fuzz_operations(fuzz_stack, "engineer", 30) >= 10


def test_no_server_errors_as_viewer(fuzz_stack):
    assert fuzz_operations(fuzz_stack, "viewer", 10) >= 10
