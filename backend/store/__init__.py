"""Time-series stores: one interface (`base.TelemetryStore`), one implementation per kind."""
