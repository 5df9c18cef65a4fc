"""Values from the browser are checked as what they must be before the dashboard builds an
API URL from them: a crafted alert key like `1/../../alerts/2` never becomes a path."""

from __future__ import annotations

import pytest

from dashboard import api_client


@pytest.mark.parametrize("value", [7, "7", "0012"])
def test_whole_numbers_pass(value: object) -> None:
    assert api_client.whole_number(value, "alert id") == int(value)


@pytest.mark.parametrize("value", ["1/../../alerts/2", "abc", "", " 7", "7 ", "-3", -3, "1e3",
                                   "٣", "²", "7.0", 7.0, True, None, [1], "9" * 40])
def test_anything_else_is_refused_naming_what(value: object) -> None:
    with pytest.raises(api_client.InvalidInput, match="alert id must"):
        api_client.whole_number(value, "alert id")


def test_acknowledge_and_shelve_refuse_a_crafted_id_before_any_request() -> None:
    # No session here: a request would raise SessionExpired, so InvalidInput means the id
    # was refused before any URL was built.
    with pytest.raises(api_client.InvalidInput, match="alert id"):
        api_client.acknowledge("1/../../alerts/2", "")
    with pytest.raises(api_client.InvalidInput, match="alert id"):
        api_client.shelve("1/../../alerts/2", 60, "")
    with pytest.raises(api_client.InvalidInput, match="shelve minutes"):
        api_client.shelve(3, "abc", "")
