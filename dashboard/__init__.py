"""The Dash control-room dashboard: live panels, replay and alerts over the backend's API."""
