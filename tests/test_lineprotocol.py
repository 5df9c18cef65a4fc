"""Line-protocol syntax: the fast path, escapes, and every malformed shape refused cleanly."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.lineprotocol import LineError, parse_key, parse_lines


def one(text: str, precision: str = "ns"):
    return next(iter(parse_lines(text, precision)))


def test_plain_line():
    line = one("power,satellite=kazsat-2 bus_voltage=100.3,battery_soc=97.2 1764000000000000000")
    assert line.key == "power,satellite=kazsat-2"
    assert line.fields == [("bus_voltage", 100.3), ("battery_soc", 97.2)]
    assert line.time_ns == 1764000000000000000


@pytest.mark.parametrize(("text", "value"), [
    ("5i", 5), ("-7i", -7), ("9u", 9), ("t", True), ("TRUE", True), ("false", False),
    ("F", False), ("1e-6", 1e-6), ("-0.5", -0.5), ('"normal"', "normal"), ('""', ""),
])
def test_field_types(text, value):
    got = one(f"m,a=b f={text} 1").fields[0][1]
    assert got == value and type(got) is type(value)


def test_range_edges_are_accepted():
    line = one(f"m a={2**63 - 1}i,b=-{2**63}i,c={2**64 - 1}u,d={'0' * 50}7i {2**63 - 1}")
    assert [v for _, v in line.fields] == [2**63 - 1, -(2**63), 2**64 - 1, 7]
    assert line.time_ns == 2**63 - 1


def test_scaled_timestamp_out_of_int64_is_refused():
    assert one(f"m f=1 {2**63 // 10**9}", "s").time_ns == (2**63 // 10**9) * 10**9
    with pytest.raises(LineError, match="out of range"):
        one(f"m f=1 {2**63 // 10**9 + 1}", "s")


def test_an_error_quotes_a_long_value_cut():
    with pytest.raises(LineError) as err:
        one("m f=" + "9" * 100_000 + "i")
    assert len(str(err.value)) < 200


@pytest.mark.parametrize(("precision", "ns"), [("ns", 7), ("us", 7_000), ("ms", 7_000_000),
                                               ("s", 7_000_000_000)])
def test_precision(precision, ns):
    assert one("m f=1 7", precision).time_ns == ns


def test_missing_timestamp_is_none():
    assert one("m,a=b f=1").time_ns is None


def test_escapes_in_every_position():
    line = one(r'my\ meas\,x,tag\ key=va\,l\=ue field\ one="say \"hi\", \\ ok",f2=2 3')
    assert parse_key(line.key) == ("my meas,x", {"tag key": "va,l=ue"})
    assert line.fields == [("field one", 'say "hi", \\ ok'), ("f2", 2.0)]


def test_string_with_spaces_and_commas_takes_the_full_parser():
    line = one('aocs,satellite=kazsat-2 mode="station keeping, east",x=1 5')
    assert line.fields == [("mode", "station keeping, east"), ("x", 1.0)]
    assert line.time_ns == 5


def test_blank_and_comment_lines_are_skipped_and_numbering_counts_them():
    lines = list(parse_lines("\n# comment\nm f=1 1\r\n\nm f=2 2\n"))
    assert [x.number for x in lines] == [3, 5]


@pytest.mark.parametrize(("text", "fragment"), [
    ("m", "missing fields"),
    ("m f=", "has no value"),
    ("m =1", "malformed field"),
    ("m f=abc", "not a number"),
    ("m f=nan", "not a finite number"),
    ("m f=inf", "not a finite number"),
    ("m f=-Infinity", "not a finite number"),
    ("m f=1_000", "not a number"),
    ("m f=+1", "not a number"),
    ("m f=\u0661", "not a number"),
    ("m f=\t1", "not a number"),
    ("m f=1 ", "malformed timestamp"),
    ("m f=1 +1", "malformed timestamp"),
    ("m f=1 1_0", "malformed timestamp"),
    ("m f=1 \u0661", "malformed timestamp"),
    ("m f=1 " + "9" * 5000, "out of range"),
    ("m f=1 9223372036854775808", "out of range"),
    ("m f=1 -9223372036854775809", "out of range"),
    ("m f=" + "9" * 400 + "i", "out of range (int64)"),
    ("m f=" + "9" * 5000 + "u", "out of range (uint64)"),
    ("m f=18446744073709551616u", "out of range (uint64)"),
    ("m f=-1u", "malformed unsigned integer"),
    ("m f=1_0i", "malformed integer"),
    ("m f=" + "9" * 400, "not a finite number"),
    ('m f="a"b=1', "after its closing quote"),
    ("m f=1 12a", "malformed timestamp"),
    ("m f=1 1 2", "malformed"),
    ('m f="open', "unterminated string"),
    ("m f=1.5i", "malformed integer"),
    ("m,t f=1", "malformed tag"),
    ("m,t= f=1", "malformed tag"),
    (",t=1 f=1", "missing measurement"),
    (" f=1", "missing measurement"),
])
def test_malformed_lines_name_line_and_problem(text, fragment):
    with pytest.raises(LineError) as err:
        list(parse_lines("m f=1 1\n" + text))
    assert err.value.line == 2
    assert fragment in err.value.message


def test_tag_given_twice_is_refused():
    with pytest.raises(LineError, match="given twice"):
        parse_key("m,a=1,a=2")


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_line_error(text):
    try:
        for line in parse_lines(text):
            parse_key(line.key, line.number)
    except LineError as exc:
        assert exc.line >= 1
