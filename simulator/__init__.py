"""KazSat telemetry simulator: two geostationary satellites, two ground stations, their links.

The simulator only speaks InfluxDB line protocol over HTTP; its input is the mission dict the
backend serves at GET /api/v1/mission.

- `Model(mission, seed, start_ns, scenario).generate(t0_ns, t1_ns, step_s) -> list[Block]`: the
  one interface between physics and writers.
- Geometry and eclipses live in the `orbit` package, which the API uses too.
- `simulator.cli.simulate`: the `kazsat simulate` command (also `python -m simulator`).
"""

from simulator.model import Block, Model

__all__ = ["Block", "Model"]
