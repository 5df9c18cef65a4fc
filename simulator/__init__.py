"""KazSat telemetry simulator: two geostationary satellites, two ground stations, their links.

The simulator only speaks InfluxDB line protocol over HTTP; its input is the mission dict the
backend serves at GET /api/v1/mission. See `simulator.model.Model` for the one interface.
"""

from simulator.eclipse import next_eclipse
from simulator.model import Block, Model

__all__ = ["Block", "Model", "next_eclipse"]
