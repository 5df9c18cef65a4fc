"""The write endpoint of a real API process fed generated bodies: line protocol right and
wrong, plain and gzip (one member or several, cut short, followed by other bytes), and
random bytes. Each answer and what the store then holds are compared with an independent
reading of the format (tests/lineprotocol_reference.py): never a 5xx, never a partial store."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.mission import load_mission
from backend.settings import Settings
from backend.timeutil import format_time
from kazsat.stack import Stack
from tests.lineprotocol_reference import Limits, Refused, read_request
from tests.lineprotocol_texts import GROUPS, lines

NS = 1_000_000_000
MISSION = load_mission(Settings().mission_file)
# Small request limits, so that generated bodies reach them.
LIMITS = Limits(max_line_bytes=400, max_fields_per_line=6, max_values_per_body=40)
SATELLITES = ("kazsat-2", "kazsat-3")
PARAMETERS = [name for group in GROUPS.values() for name in group]
WINDOW_S = 1000  # each example writes into its own window of this many seconds
_windows = itertools.count()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("write-fuzz") / "data", extra_env={
        "KAZSAT_MAX_LINE_BYTES": str(LIMITS.max_line_bytes),
        "KAZSAT_MAX_FIELDS_PER_LINE": str(LIMITS.max_fields_per_line),
        "KAZSAT_MAX_VALUES_PER_BODY": str(LIMITS.max_values_per_body),
        "KAZSAT_INGEST_RATE_PER_S": "0"})
    stack.start_api()
    yield stack
    stack.stop()


@st.composite
def bodies(draw: st.DrawFn, t0_s: int, precision: str) -> bytes:
    """Lines (mostly data, some wrong, comments, blanks, junk) with times in the window."""
    scale = {"ns": NS, "ms": 1000, "s": 1}[precision]
    stamps = st.integers(0, WINDOW_S - 1).map(lambda k: f" {(t0_s + k) * scale}")
    line = st.one_of(lines(MISSION, stamps), lines(MISSION, stamps), lines(MISSION, stamps),
                     st.sampled_from(["", "# a comment", "  ", "\t# indented", "\r"]),
                     st.text(max_size=40).filter(lambda t: "\n" not in t))
    text = "\n".join(draw(st.lists(line, min_size=1, max_size=12)))
    return text.encode() + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


@st.composite
def requests(draw: st.DrawFn, t0_s: int) -> tuple[bytes, bool, str]:
    """(body as sent, gzip or not, precision)."""
    precision = draw(st.sampled_from(["ns", "ns", "ms", "s"]))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300)), draw(st.booleans()), precision
    text = draw(bodies(t0_s, precision))
    how = draw(st.sampled_from(["plain", "plain", "gzip", "members", "cut", "tail"]))
    if how == "plain":
        return text, False, precision
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=3)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    body = b"".join(gzip.compress(p) for p in (pieces if how == "members" else [text]))
    if how == "cut":
        body = body[:draw(st.integers(1, len(body) - 1))]
    elif how == "tail":  # not a gzip member, nor the zero padding gzip.decompress skips
        body += draw(st.binary(min_size=1, max_size=16).filter(lambda b: b[0] not in (0, 0x1F)))
    return body, True, precision


def as_exported(samples: list[tuple]) -> set[tuple]:
    """The reference's samples as `stored` gives them: the first per series and time."""
    first: dict[tuple, tuple] = {}
    for satellite, _, name, t, value in samples:
        text = ("true" if value else "false") if type(value) is bool else str(value)
        first.setdefault((satellite, name, t), (satellite, name, format_time(t), number(text)))
    return set(first.values())


def number(text: str) -> float | str:
    """A value text as a number where it is one: 5, 5.0 and -0.0 against 0.0 compare equal."""
    try:
        return float(text)
    except ValueError:
        return text


def stored(stack: Stack, t0_s: int) -> set[tuple]:
    """Every sample of the example's window: (satellite, parameter, time text, value)."""
    found = set()
    with stack.client("viewer") as client:
        for satellite in SATELLITES:
            r = client.get("/api/v1/export", params={
                "satellite": satellite, "parameter": PARAMETERS,
                "start": format_time(t0_s * NS), "end": format_time((t0_s + WINDOW_S) * NS)})
            assert r.status_code == 200, r.text
            found |= {(row["satellite"], row["parameter"], row["time"], number(row["value"]))
                      for row in csv.DictReader(io.StringIO(r.text))}
    return found


def window() -> int:
    """The start (s) of a window of time no other example writes into."""
    return (time.time_ns() // NS - 30 * 86_400) // WINDOW_S * WINDOW_S \
        - next(_windows) * WINDOW_S


def check_write(stack: Stack, t0_s: int, body: bytes, gzipped: bool, precision: str) -> None:
    """POST the body; the answer and the window's samples are what the reference says."""
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    with stack.client("ingest") as client:
        r = client.post("/api/v2/write", params={"precision": precision}, content=body,
                        headers=headers)
    expected = read_request(body, gzipped, MISSION, time.time_ns(), precision, LIMITS)
    if isinstance(expected, Refused):
        assert r.status_code == expected.status, (body[:300], r.text)
        if expected.status == 400:
            assert r.json()["code"] == "invalid" and r.json()["message"]
            assert r.json()["line"] == expected.line, r.text
        assert stored(stack, t0_s) == set(), "a refused body stored samples"
    else:
        assert r.status_code == 204, (body[:300], r.text)
        assert stored(stack, t0_s) == as_exported(expected)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_write_stores_what_the_format_says_or_nothing(stack, data):
    t0_s = window()
    check_write(stack, t0_s, *data.draw(requests(t0_s)))


def _line(t0_s: int, value: str = "10", field: str = "bus_voltage") -> bytes:
    return f"power,satellite=kazsat-2 {field}={value} {t0_s * NS}\n".encode()


def _two(t0_s: int) -> bytes:
    return _line(t0_s) + _line(t0_s + 1, "50", "battery_soc")


@pytest.mark.parametrize(("case", "status"), [
    (lambda t: (gzip.compress(_two(t))[:-9], True), 400),  # truncated: stored its cut line
    (lambda t: (gzip.compress(_line(t)) + gzip.compress(_two(t + 5)), True), 204),  # members
    (lambda t: (gzip.compress(_line(t)) + b"garbage", True), 400),  # trailing bytes
    (lambda t: (gzip.compress(_line(t)) + b"\x1f", True), 400),
    (lambda t: (_line(t) + _line(t + 1, "9" * 400 + "i"), False), 400),  # was a 500
    (lambda t: (_line(t) + _line(t + 1, "9" * 400), False), 400),
    (lambda t: (f"ttc,satellite=kazsat-2 command_counter={'9' * 400}i {t * NS}".encode(),
                False), 400),
    (lambda t: (_line(t) + f"power,satellite=kazsat-2 bus_voltage=1 +{t * NS}".encode(),
                False), 400),  # a + before the time was read
    (lambda t: (_line(t) + _line(t + 1, "1_0"), False), 400),
    (lambda t: (_line(t) + _line(t + 1, "\u0661"), False), 400),
], ids=["truncated", "members", "trailing", "trailing-1-byte", "int-overflow",
        "float-overflow", "int-field-overflow", "plus-time", "underscore", "arabic-digit"])
def test_known_damaged_bodies(stack, case, status):
    t0_s = window()
    body, gzipped = case(t0_s)
    expected = read_request(body, gzipped, MISSION, time.time_ns(), "ns", LIMITS)
    assert (204 if not isinstance(expected, Refused) else expected.status) == status
    check_write(stack, t0_s, body, gzipped, "ns")


def test_a_body_over_the_value_limit_is_413_naming_it(stack):
    body = "\n".join(f"power,satellite=kazsat-2 bus_voltage=1,battery_soc=2 {i}"
                     for i in range(1, 22))  # 42 values
    r = stack.write(body)
    assert r.status_code == 413
    assert "more than 40 field values (KAZSAT_MAX_VALUES_PER_BODY)" in r.json()["message"]


def test_a_long_line_is_400_naming_it_and_the_limit(stack):
    r = stack.write("# fine\npower,satellite=kazsat-2 bus_voltage=1" + "0" * 400)
    assert r.status_code == 400 and r.json()["line"] == 2
    assert "longer than 400 bytes (KAZSAT_MAX_LINE_BYTES)" in r.json()["message"]


def test_a_gzip_body_decoded_beyond_the_body_limit_is_413(tmp_path):
    stack = Stack(tmp_path / "data", extra_env={"KAZSAT_MAX_BODY_BYTES": "100000"})
    stack.start_api()
    try:
        body = gzip.compress(b"# " + b"x" * 200_000 + b"\npower,satellite=kazsat-2 battery_soc=5")
        with stack.client("ingest") as client:
            r = client.post("/api/v2/write", content=body, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413
        assert "over the 100000-byte limit once decompressed" in r.json()["message"]
    finally:
        stack.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(str.encode),
    st.lists(st.sampled_from([
        "power,satellite=kazsat-2 bus_voltage=", "100.5", "1e999", "true", '"x"', "5i", " ",
        ",", "=", "\\", "\n", "link,station=akkol,satellite=kazsat-2 ", "ebn0_db=", "#",
        "17640000000000000000000", "-1", "\r", "\t", "é"]), max_size=30).map(
        lambda parts: "".join(parts).encode())))
def test_write_answers_any_body_with_204_or_a_clean_400(stack, body):
    r = httpx.post(f"{stack.api_url}/api/v2/write", content=body, timeout=10,
                   headers={"Authorization": f"Token {stack.tokens['ingest']}"})
    assert r.status_code in (204, 400), r.text
    if r.status_code == 400:
        assert r.json()["code"] == "invalid" and r.json()["message"]
