"""Bad input: the whole API fuzzed from its OpenAPI description (schemathesis), and the
write endpoint fed arbitrary bodies (hypothesis). No 500s, no hangs; refusals are 4xx."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(str.encode),
    st.lists(st.sampled_from([
        "power,satellite=kazsat-2 bus_voltage=", "100.5", "1e999", "true", '"x"', "5i", " ",
        ",", "=", "\\", "\n", "link,station=akkol,satellite=kazsat-2 ", "ebn0_db=", "#",
        "17640000000000000000000", "-1", "\r", "\t", "é"]), max_size=30).map(
        lambda parts: "".join(parts).encode())))
def test_write_answers_any_body_with_204_or_a_clean_400(fuzz_stack, body):
    r = httpx.post(f"{fuzz_stack.api_url}/api/v2/write", content=body, timeout=10,
                   headers={"Authorization": f"Token {fuzz_stack.tokens['ingest']}"})
    assert r.status_code in (204, 400), r.text
    if r.status_code == 400:
        assert r.json()["code"] == "invalid" and r.json()["message"]
