"""Geostationary geometry and eclipse prediction, shared by the simulator and the API.

Pure numpy functions with no other dependency, so the API can answer eclipse questions without
loading the simulator's physics model:

- `orbit.geometry`: Sun ephemeris, satellite and station positions, look angles, time helpers.
- `orbit.eclipse`: illumination and eclipse times of a geostationary satellite.
"""
