"""Bad input: the whole API fuzzed from its OpenAPI description (schemathesis) with each
caller's credentials: no 500s, no hangs; refusals are 4xx (write bodies: test_write_fuzz.py)."""

from __future__ import annotations

import pytest

from kazsat import fuzz


@pytest.fixture
def fuzz_stack(tmp_path):
    # One stack per test: fuzzing as an engineer revokes API tokens (POST /tokens/{id}/revoke),
    # which must not leave the next test holding a dead token.
    stack = fuzz.fuzz_stack(tmp_path / "data")
    yield stack
    stack.stop()


@pytest.mark.parametrize("caller", fuzz.CALLERS)
def test_no_server_errors_as_any_caller(fuzz_stack, caller):
    """As no one, each token role and a person's session: an answer for every request,
    never a 5xx (answer times: benchmarks/fuzz_latency.py)."""

    def no_5xx(case, response) -> None:
        assert response.status_code < 500, (case.as_curl_command(), response.text[:300])

    examples = 30 if caller == "engineer" else 10
    assert fuzz.sweep(fuzz_stack, fuzz.headers_for(fuzz_stack, caller), examples, no_5xx) >= 20
