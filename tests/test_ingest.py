"""Ingest validation against the mission database: every refusal names its line."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import db
from backend.ingest import IngestError, Ingestor
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings

NOW = 1_764_000_000_000_000_000


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("ingest"))
    engine = db.make_engine(settings.sql_url())
    db.upgrade(engine)
    mission = load_mission(settings.mission_file)
    return Ingestor(mission, SeriesRegistry(engine, mission), max_future_s=86_400)


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
])
def test_refusals_name_the_first_bad_line(ingestor, line, fragment):
    good = f"power,satellite=kazsat-2 bus_voltage=100 {NOW}"
    with pytest.raises(IngestError) as err:
        parse(ingestor, f"{good}\n{good}\n{line}\n{line}")
    assert err.value.line == 3
    assert fragment in err.value.message


def test_empty_body_is_refused(ingestor):
    with pytest.raises(IngestError, match="no data lines"):
        parse(ingestor, "\n# nothing\n")


def test_unknown_precision_is_refused(ingestor):
    with pytest.raises(IngestError, match="precision"):
        parse(ingestor, "power,satellite=kazsat-2 bus_voltage=1 1", "h")


FIELD_TEXTS = {"bus_voltage": ["100.5", "1e2", "-0", "7i", "nan", "1_0", "true", '"x"', ""],
               "earth_sensor_valid": ["t", "FALSE", "1", '"true"'],
               "command_counter": ["5i", "5", "5.5", "-3i", "9u"],
               "aocs_mode": ['"normal"', '"safe"', "normal", '"sleep"', '"a b"', '"x,y=1"']}
SUBSYSTEM = {"bus_voltage": "power", "earth_sensor_valid": "aocs", "command_counter": "ttc",
             "aocs_mode": "aocs"}


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(FIELD_TEXTS)), st.data()), min_size=1,
                max_size=4),
       st.sampled_from(["", " 1764000000000000000", " 17640000000000000000000", " 12a", " "]),
       st.sampled_from(["kazsat-2", "kazsat-3", "kazsat-9"]))
def test_fast_path_agrees_with_the_full_parser(ingestor, fields, stamp, satellite):
    """Whatever the line, the fast path and the full parser accept the same values or
    refuse with the same message."""
    from backend.store.base import Batch

    fields = [(k, d.draw(st.sampled_from(FIELD_TEXTS[k]))) for k, d in fields]
    measurement = SUBSYSTEM[fields[0][0]]
    line = f"{measurement},satellite={satellite} " + ",".join(f"{k}={v}" for k, v in fields) \
        + stamp
    body = f"power,satellite=kazsat-2 bus_voltage=100 1\n{line}"
    try:
        fast = ingestor.parse(body, now_ns=NOW)
    except IngestError as exc:
        fast = ("refused", exc.line, exc.message)
    reference = Batch()
    try:
        ingestor._one_line(body.split("\n")[0], 1, NOW, (NOW + 86_400 * 10**9, 1, "ns"), reference)
        ingestor._one_line(line, 2, NOW, (NOW + 86_400 * 10**9, 1, "ns"), reference)
    except IngestError as exc:
        reference = ("refused", exc.line, exc.message)
    assert fast == reference
