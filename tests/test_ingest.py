"""Ingest validation against the mission database: every refusal names its line."""

import gzip
import random
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import db, ingest
from backend.ingest import BodyTooLarge, IngestError, Ingestor, decode_body
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from tests.lineprotocol_reference import Limits, Refused, read_body
from tests.lineprotocol_texts import lines

NOW = 1_764_000_000_000_000_000
# Small request limits, so that the tests reach them with small bodies.
LIMITS = Limits(max_line_bytes=8000, max_fields_per_line=6, max_values_per_body=30)


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("ingest"),
                        max_line_bytes=LIMITS.max_line_bytes,
                        max_fields_per_line=LIMITS.max_fields_per_line,
                        max_values_per_body=LIMITS.max_values_per_body)
    engine = db.make_engine(settings.sql_url())
    db.upgrade(engine)
    mission = load_mission(settings.mission_file)
    return Ingestor(mission, SeriesRegistry(engine, mission), settings)


def parse(ingestor, text, precision="ns"):
    return ingestor.parse(text, precision, now_ns=NOW)


def test_valid_batch_maps_every_field_to_a_series(ingestor):
    batch = parse(ingestor, f"""power,satellite=kazsat-2 bus_voltage=100.3,battery_soc=97.2 {NOW}
link,station=akkol,satellite=kazsat-3 ebn0_db=11.8,carrier_lock=true,frames_lost=0i {NOW}
aocs,satellite=kazsat-3 aocs_mode="safe" {NOW}
station,station=kokterek ups_charge=99 {NOW}
payload,satellite=kazsat-3 twta_28_on=false {NOW}""")
    assert len(batch) == 8
    assert batch.values == [100.3, 97.2, 11.8, 1.0, 0.0, 2.0, 99.0, 0.0]
    assert len(set(batch.series_ids)) == 8
    assert batch.values[5] == 2.0  # "safe" is the enum's third value
    assert set(batch.times) == {NOW}


def test_tag_order_does_not_matter(ingestor):
    a = parse(ingestor, "link,station=akkol,satellite=kazsat-2 ebn0_db=11 1")
    b = parse(ingestor, "link,satellite=kazsat-2,station=akkol ebn0_db=11 1")
    assert a.series_ids == b.series_ids


def test_missing_time_takes_the_server_clock(ingestor):
    assert parse(ingestor, "power,satellite=kazsat-2 bus_voltage=100").times == [NOW]


def test_precision_scales_times(ingestor):
    assert parse(ingestor, "power,satellite=kazsat-2 bus_voltage=100 1764000000", "s").times \
        == [NOW]


def test_int_parameter_accepts_integral_float(ingestor):
    assert parse(ingestor, "ttc,satellite=kazsat-2 command_counter=12 1").values == [12.0]


@pytest.mark.parametrize(("line", "fragment"), [
    ("weather,satellite=kazsat-2 bus_voltage=1 1", "unknown measurement 'weather'"),
    ("power,satellite=kazsat-9 bus_voltage=1 1", "unknown satellite 'kazsat-9'"),
    ("link,station=almaty,satellite=kazsat-2 ebn0_db=1 1", "unknown station 'almaty'"),
    ("power bus_voltage=1 1", "takes tags satellite; got none"),
    ("power,satellite=kazsat-2,station=akkol bus_voltage=1 1", "takes tags satellite"),
    ("link,satellite=kazsat-2 ebn0_db=1 1", "takes tags satellite, station"),
    ("power,satellite=kazsat-2 bus_voltag=1 1", "unknown parameter 'bus_voltag'"),
    ("thermal,satellite=kazsat-2 bus_voltage=1 1", "belongs to measurement 'power'"),
    ("payload,satellite=kazsat-2 twta_17_on=true 1", "kazsat-2 has no parameter 'twta_17_on'"),
    ("power,satellite=kazsat-2 bus_voltage=true 1", "expected float, got bool"),
    ('power,satellite=kazsat-2 bus_voltage="high" 1', "expected float, got string"),
    ("aocs,satellite=kazsat-2 earth_sensor_valid=1 1", "expected bool, got float"),
    ('aocs,satellite=kazsat-2 aocs_mode="sleep" 1', "not one of normal, station_keeping, safe"),
    ("aocs,satellite=kazsat-2 aocs_mode=1i 1", "not one of"),
    ("ttc,satellite=kazsat-2 command_counter=1.5 1", "expected int, got float"),
    ("power,satellite=kazsat-2 bus_voltage=nan 1", "not a finite number"),
    ("power,satellite=kazsat-2 bus_voltage=1e400 1", "not a finite number"),
    (f"power,satellite=kazsat-2 bus_voltage=1 {NOW + 86_401 * 10**9}", "ahead"),
    ("power,satellite=kazsat-2 bus_voltage=1 -5", "before 1970"),
    # numbers out of their type's range: a 400 naming the line, never an overflow
    ("ttc,satellite=kazsat-2 command_counter=" + "9" * 400 + "i 1", "out of range (int64)"),
    ("power,satellite=kazsat-2 bus_voltage=" + "9" * 400 + "i 1", "out of range (int64)"),
    ("power,satellite=kazsat-2 bus_voltage=" + "9" * 400 + " 1", "not a finite number"),
    ("power,satellite=kazsat-2 bus_voltage=" + "9" * 5000 + "i 1", "out of range (int64)"),
    ("ttc,satellite=kazsat-2 command_counter=9223372036854775808i 1", "out of range (int64)"),
    ("ttc,satellite=kazsat-2 command_counter=-9223372036854775809i 1", "out of range"),
    ("ttc,satellite=kazsat-2 command_counter=18446744073709551616u 1", "out of range (uint64)"),
    ("ttc,satellite=kazsat-2 command_counter=-1u 1", "malformed unsigned integer"),
    ("power,satellite=kazsat-2 bus_voltage=1 " + "9" * 400, "timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=1 -" + "9" * 400, "out of range"),
    ("power,satellite=kazsat-2 bus_voltage=1 9223372036854775807", "ahead"),
    # what Python's int() and float() read but line protocol does not
    (f"power,satellite=kazsat-2 bus_voltage=1 +{NOW}", "malformed timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=1 1_764_000_000_000_000_000", "malformed timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=1 \u0661\u0662", "malformed timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=1 \uff11\uff12", "malformed timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=1 12\t", "malformed timestamp"),
    ("power,satellite=kazsat-2 bus_voltage=+1 1", "not a number"),
    ("power,satellite=kazsat-2 bus_voltage=1_0 1", "not a number"),
    ("power,satellite=kazsat-2 bus_voltage=\u0661 1", "not a number"),
    ("power,satellite=kazsat-2 bus_voltage=\t1 1", "not a number"),
    ("power,satellite=kazsat-2 bus_voltage=1\x0b 1", "not a number"),
    ("power,satellite=kazsat-2 bus_voltage=infinity 1", "not a finite number"),
    ("power,satellite=kazsat-2 bus_voltage=-inf 1", "not a finite number"),
    ("power,satellite=kazsat-2 bus_voltage=NaN 1", "not a finite number"),
    ("ttc,satellite=kazsat-2 command_counter=+5i 1", "malformed integer"),
    ("ttc,satellite=kazsat-2 command_counter=5_0i 1", "malformed integer"),
    ("ttc,satellite=kazsat-2 command_counter=\u0665i 1", "malformed integer"),
    ('aocs,satellite=kazsat-2 aocs_mode="safe"x 1', "after its closing quote"),
    # the request limits of the fixture
    ("power,satellite=kazsat-2 bus_voltage=1" + ",bus_voltage=1" * 6 + " 1",
     "more than 6 fields (KAZSAT_MAX_FIELDS_PER_LINE)"),
    ("power,satellite=kazsat-2 bus_voltage=1" + "0" * 8000 + " 1",
     "longer than 8000 bytes (KAZSAT_MAX_LINE_BYTES)"),
    ("# a comment" + " " * 8000, "longer than 8000 bytes"),
])
def test_refusals_name_the_first_bad_line(ingestor, line, fragment):
    good = f"power,satellite=kazsat-2 bus_voltage=100 {NOW}"
    with pytest.raises(IngestError) as err:
        parse(ingestor, f"{good}\n{good}\n{line}\n{line}")
    assert err.value.line == 3
    assert fragment in err.value.message


@pytest.mark.parametrize(("text", "value"), [
    ("1.5", 1.5), ("-0.5", -0.5), (".5", 0.5), ("5.", 5.0), ("1e2", 100.0), ("1E+2", 100.0),
    ("2e-1", 0.2), ("7i", 7.0), ("-7i", -7.0), ("7u", 7.0), ("000001", 1.0),
    ("9223372036854775807i", 9223372036854775807.0),
    ("1.7976931348623157e308", 1.7976931348623157e308),
])
def test_accepted_numbers(ingestor, text, value):
    """Each spelling line protocol allows, through the fast path (a seen field) and the full
    parser (a line it cannot take) alike."""
    for line in (f"power,satellite=kazsat-2 bus_voltage={text} 5",
                 f"power,satellite=kazsat-2 bus_voltage={text}\r"):
        assert parse(ingestor, f"power,satellite=kazsat-2 bus_voltage=1 5\n{line}").values \
            == [1.0, value]


def test_a_body_over_the_value_limit_is_413(ingestor):
    line = "power,satellite=kazsat-2 " + ",".join(["bus_voltage=1"] * 5) + " {}"
    parse(ingestor, "\n".join(line.format(i) for i in range(6)))  # 30 values: at the limit
    with pytest.raises(BodyTooLarge, match="more than 30 field values"):
        parse(ingestor, "\n".join(line.format(i) for i in range(7)))


@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"d" * 7, b"\n\n"]), max_size=40).map(
    b"".join), st.integers(1, 12))
def test_lines_are_split_as_a_whole_split_would(body, max_line):
    """Block by block (blocks of a few bytes here): the lines body.split gives, up to the
    first line over max_line, of which enough is given to refuse it."""
    saved, ingest._LINE_BLOCK = ingest._LINE_BLOCK, 4
    try:
        got = list(ingest.lines_of(body, max_line))
    finally:
        ingest._LINE_BLOCK = saved
    whole = body.split(b"\n")
    long = next((i for i, line in enumerate(whole) if len(line) > max_line), None)
    if long is None:
        assert got == whole
    else:
        assert got[:long] == whole[:long] and len(got[long]) > max_line


def test_crlf_lines_are_read(ingestor):
    assert parse(ingestor, "power,satellite=kazsat-2 bus_voltage=2 5\r\n\r\n").values == [2.0]


def test_a_line_that_is_not_utf8_is_refused_by_number(ingestor):
    with pytest.raises(IngestError, match="not UTF-8") as err:
        parse(ingestor, b"power,satellite=kazsat-2 bus_voltage=2 5\n# caf\xe9\n")
    assert err.value.line == 2


def test_empty_body_is_refused(ingestor):
    with pytest.raises(IngestError, match="no data lines"):
        parse(ingestor, "\n# nothing\n")


def test_unknown_precision_is_refused(ingestor):
    with pytest.raises(IngestError, match="precision"):
        parse(ingestor, "power,satellite=kazsat-2 bus_voltage=1 1", "h")


GOOD_STAMPS = ["", " 1764000000000000000", " 1763999999999999999", " 0", " 1764000000"]


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), st.sampled_from(["ns", "ns", "s"]))
def test_parser_agrees_with_an_independent_reading(ingestor, data, precision):
    """Whatever the line, the parser (fast path and full parser alike) stores what the
    reference reader reads, or refuses the line the reference refuses."""
    line = data.draw(lines(ingestor.mission, st.sampled_from(GOOD_STAMPS)))
    # Every field already seen once for both satellites: a plain line takes the fast path.
    for sat in ("kazsat-2", "kazsat-3"):
        parse(ingestor, f"power,satellite={sat} bus_voltage=1,battery_soc=1 1\n"
                        f"ttc,satellite={sat} command_counter=1i 1\n"
                        f'aocs,satellite={sat} earth_sensor_valid=t,aocs_mode="safe" 1')
    body = f"power,satellite=kazsat-2 bus_voltage=100 1\n{line}"
    expected = read_body(body.encode(), ingestor.mission, NOW, precision, LIMITS)
    try:
        batch = ingestor.parse(body, precision, now_ns=NOW)
    except IngestError as exc:
        assert expected == Refused(400, exc.line), exc.message
        return
    except BodyTooLarge:
        assert expected == Refused(413)
        return
    assert not isinstance(expected, Refused), f"accepted what the reference refuses: {line!r}"
    registry = ingestor.registry
    got = [(registry.by_id[sid].parameter.key, t, registry.by_id[sid].parameter.decode(v))
           for sid, t, v in zip(batch.series_ids, batch.times, batch.values, strict=True)]
    assert got == [(key, t, value) for _, _, key, t, value in expected]


# ---- gzip bodies: decoded whole, every member, or refused ------------------------------

def test_every_gzip_member_is_decoded():
    body = gzip.compress(b"a\n") + gzip.compress(b"b\n") + gzip.compress(b"")
    assert decode_body(body, "gzip", 1000) == b"a\nb\n"


@pytest.mark.parametrize("cut", [1, 2, 9, 10, 15, 20, 24, 25])
def test_a_truncated_gzip_stream_is_refused(cut):
    body = gzip.compress(b"power,satellite=kazsat-2 bus_voltage=100\n")  # 61 bytes
    with pytest.raises(IngestError, match="gzip stream is truncated: member 1 does not end"):
        decode_body(body[:-cut], "gzip", 1000)


@pytest.mark.parametrize("tail", [b"x", b"\x00", b"\x00" * 8, b"\x1f", b"garbage\n"])
def test_bytes_after_the_last_gzip_member_are_refused(tail):
    with pytest.raises(IngestError, match=r"after the end of gzip member 1 \(at byte 22\)"):
        decode_body(gzip.compress(b"a\n") + tail, "gzip", 1000)


def test_a_damaged_gzip_stream_is_refused():
    body = bytearray(gzip.compress(b"a" * 100))
    body[-6] ^= 0xFF  # the CRC
    with pytest.raises(IngestError, match="not valid gzip"):
        decode_body(bytes(body), "gzip", 1000)


def test_an_empty_gzip_body_is_refused():
    with pytest.raises(IngestError, match="empty"):
        decode_body(b"", "gzip", 1000)


def test_an_unknown_content_encoding_is_refused():
    with pytest.raises(IngestError, match="'br' is not supported"):
        decode_body(b"m f=1", "br", 1000)
    assert decode_body(b"m f=1", "identity", 1000) == b"m f=1"


def test_a_gzip_bomb_stops_at_the_limit_without_inflating():
    inflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join(inflater.compress(zeros) for _ in range(256)) + inflater.flush()  # 256 MiB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge, match="over the 1048576-byte limit"):
            decode_body(bomb, "gzip", 1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32), st.integers(0, 150_000), st.booleans()),
                min_size=1, max_size=5),
       st.sampled_from(["whole", "cut", "tail"]), st.data())
def test_gunzip_agrees_with_the_standard_library(members, damage, data):
    """Members of random and of repetitive bytes (crossing the decoder's input chunks),
    concatenated, maybe cut or followed by bytes: decoded as gzip.decompress reads them, or
    refused where it refuses (it skips zero padding, which the API refuses: none here)."""
    parts = []
    for seed, size, random_bytes in members:
        raw = random.Random(seed).randbytes(size) if random_bytes else b"ab\n" * (size // 3)
        parts.append(gzip.compress(raw, compresslevel=1))
    body = b"".join(parts)
    if damage == "cut":
        body = body[:data.draw(st.integers(1, len(body) - 1))]
    elif damage == "tail":
        body += data.draw(st.binary(min_size=1, max_size=20).filter(
            lambda b: b[0] not in (0, 0x1F)))
    try:
        expected = gzip.decompress(body)
    except Exception:
        expected = None
    try:
        got = bytes(decode_body(body, "gzip", 1 << 30))
    except IngestError:
        got = None
    assert got == expected
