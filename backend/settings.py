"""One settings object for the backend, read from KAZSAT_* environment variables and .env."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAZSAT_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    # SQL for relational state and the SQL store; default: SQLite in data_dir
    database_url: str = ""
    mission_file: Path = PACKAGE_DIR / "mission.yaml"

    # The time-series store: "sql" (the database above) or "influxdb" (docs/deployment.md).
    # Relational state stays in SQL either way.
    store: Literal["sql", "influxdb"] = "sql"
    influx_url: str = "http://127.0.0.1:8086"
    influx_org: str = "kazsat"
    influx_bucket: str = "kazsat"
    influx_token: str = Field(default="", repr=False)
    influx_timeout_s: float = 30.0
    influx_write_retries: int = 5  # a failed write is retried this often (backing off)

    # Retention per resolution in days (0: forever), enforced by a background job in the
    # API every retention_interval_s (0: never) and by `kazsat db prune`. SQL store only:
    # an InfluxDB bucket has its own retention period.
    retention_raw_days: float = 90
    retention_1m_days: float = 730
    retention_10m_days: float = 1825
    retention_1h_days: float = 0
    retention_1d_days: float = 0
    retention_interval_s: float = 3600

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    api_url: str = "http://127.0.0.1:8000"  # where the dashboard and simulator find the API
    public_dashboard_url: str = "http://127.0.0.1:8050"  # used in alert emails

    max_body_bytes: int = 32 * 1024 * 1024  # an ingest body (after gzip) larger than this is 413
    max_future_s: int = 86_400  # samples further ahead than this are refused
    check_limits: bool = True  # off only to measure what limit checking costs

    # Tokens the stack uses between its own parts; `kazsat up` writes them to data_dir.
    ingest_token: str = Field(default="", repr=False)
    viewer_token: str = Field(default="", repr=False)
    operator_token: str = Field(default="", repr=False)
    engineer_token: str = Field(default="", repr=False)

    # Alerts and email (docs/alerts.md). With no smtp_host, alert emails wait in the outbox.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # none: local catcher only
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_timeout_s: float = 30.0
    email_sender: str = "KazSat monitor <kazsat-monitor@kazsat.local>"
    # Recipients, comma-separated: every alert; critical ones only; and per satellite or
    # station as JSON {"kazsat-2": "a@x, b@y", "akkol:critical": "c@z"}.
    email_to: Annotated[list[str], NoDecode] = []
    email_to_critical: Annotated[list[str], NoDecode] = []
    email_to_entity: dict[str, str] = {}
    alert_email_interval_s: float = 300.0  # per series and severity: one message at most
    alert_email_max_age_s: float = 900.0  # breaches in older samples (back-fill) send none
    notify_cleared: bool = True  # a cleared notice follows an emailed alert that clears
    stale_alert_s: float = 30.0  # an entity with no new sample this long: alert (0: never)
    stale_severity: Literal["warning", "critical"] = "warning"
    outbox_poll_s: float = 2.0  # how often the sender looks for due messages
    outbox_retry_s: float = 5.0  # first retry after a failed send; doubles each time
    outbox_retry_max_s: float = 600.0
    outbox_max_attempts: int = 20  # a message the server refuses (5xx) this often: failed

    @field_validator("email_to", "email_to_critical", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_addresses(value) if isinstance(value, str) else value

    def retention_days(self) -> dict[int, float]:
        """Days kept per level in seconds (0 for raw samples); 0 days means forever."""
        return {0: self.retention_raw_days, 60: self.retention_1m_days,
                600: self.retention_10m_days, 3600: self.retention_1h_days,
                86400: self.retention_1d_days}

    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kazsat.db').resolve()}"


def split_addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace(";", ",").split(",") if a.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
