"""Line-protocol texts for property tests: field values and timestamps right and wrong
per parameter type, and lines built of them. Which a line may hold is for the reference
reader (tests/lineprotocol_reference.py) to say, not for these lists."""

from __future__ import annotations

from hypothesis import strategies as st

from backend.mission import Mission

GOOD = {"float": ["100.5", "1e2", "-0", "7i", ".5", "5.", "1e+2", "9u", "00012", "-3.25E-2"],
        "bool": ["t", "FALSE", "true", "F"],
        "int": ["5i", "5", "-3i", "9u", "9223372036854775807i", "18446744073709551615u", "1e3",
                "00012i"],
        "enum": ['"normal"', '"safe"', '"station_keeping"']}
BAD = {"float": ["nan", "1_0", "true", '"x"', "", "+1", "1e999", "٣", "9" * 30 + "i", "1e",
                 "-", "-9u", " 1", "1\t", "infinity", "0x10", "1e5.5", "１"],
       "bool": ["1", '"true"', "yes", "tRUE", "1i"],
       "int": ["5.5", "9223372036854775808i", "5_0i", "+5i", "5I", "-0u", "1e999"],
       "enum": ["normal", '"sleep"', '"a b"', '"x,y=1"', '"safe"x', '"sa"fe"', '""', "1i"]}
GROUPS = {"power": ["bus_voltage", "battery_soc"], "ttc": ["command_counter"],
          "aocs": ["earth_sensor_valid", "aocs_mode"]}
BAD_STAMPS = [" 17640000000000000000000", " 12a", " ", " +17640", " 1_764", " -5", " ١٧٦٤",
              " 1764000000000000000 ", "  1764000000000000000", " 9223372036854775807",
              " 1764000000000000000\t", " 1e9"]


@st.composite
def lines(draw: st.DrawFn, mission: Mission, good_stamps: st.SearchStrategy[str]) -> str:
    """A line of one measurement's own fields, good values and a good time (" <stamp>" or
    ""), where at most one thing (a field's name or value, the time, the satellite) may be
    wrong."""
    measurement = draw(st.sampled_from(sorted(GROUPS)))
    names = draw(st.lists(st.sampled_from(GROUPS[measurement]), min_size=1, max_size=8))
    values = [draw(st.sampled_from(GOOD[mission.parameters[n].type])) for n in names]
    satellite = draw(st.sampled_from(["kazsat-2", "kazsat-3"]))
    stamp = draw(good_stamps)
    wrong = draw(st.sampled_from(["nothing", "value", "value", "value", "time", "time",
                                  "name", "satellite"]))
    at = draw(st.integers(0, len(names) - 1))
    if wrong == "value":
        values[at] = draw(st.sampled_from(BAD[mission.parameters[names[at]].type]))
    elif wrong == "time":
        stamp = draw(st.sampled_from(BAD_STAMPS))
    elif wrong == "name":
        names[at] = draw(st.sampled_from([n for g in GROUPS.values() for n in g] + ["x"]))
    elif wrong == "satellite":
        satellite = "kazsat-9"
    return (f"{measurement},satellite={satellite} "
            + ",".join(f"{n}={v}" for n, v in zip(names, values, strict=True)) + stamp
            + draw(st.sampled_from(["", "", "\r", "\n", "\n# note", "\n \t"])))
