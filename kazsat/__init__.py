"""Assembly of the three parts: starts the simulator, API and dashboard together."""
