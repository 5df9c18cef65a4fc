"""One settings object for the backend, read from KAZSAT_* environment variables and .env."""

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.store.base import CLOCK_TOLERANCE_S

PACKAGE_DIR = Path(__file__).resolve().parent


class SiteEndpoints(BaseModel):
    """One site of the two-site deployment, as the others reach it (docs/cluster.md)."""

    name: str = ""  # as operators say it: "Akkol"
    api_url: str
    patroni_url: str  # its PostgreSQL node's Patroni REST API


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
    influx_timeout_s: float = 10.0
    # A failed write is retried this often, backing off 1, 2, 4 s: with the timeout, an
    # ingest request answers 503 within about 45 s when InfluxDB is gone, never minutes.
    influx_write_retries: int = 3

    # Retention per resolution in days (0: forever), enforced by a background job in the
    # API every retention_interval_s (0: never) and by `kazsat db prune`. SQL store only:
    # an InfluxDB bucket has its own retention period. Raw samples are kept forever: sealed
    # into blocks they take about 1.1 bytes a value with rollups on SQLite, some 3 GB a year
    # for both satellites (docs/storage.md, "Sealed history figures").
    retention_raw_days: float = 0
    retention_1m_days: float = 730
    retention_10m_days: float = 1825
    retention_1h_days: float = 0
    retention_1d_days: float = 0
    retention_interval_s: float = 3600
    # The SQL store's compactor (backend/store/compactor.py): every compact_interval_s (0:
    # never) it seals each 6 h segment that ended more than compact_settle_s ago into one
    # compressed block per series; samples newer than that stay rows (fast writes). A
    # negative settle seals the running segment too (tests that read everything from blocks).
    compact_interval_s: float = 600
    compact_settle_s: float = 3600

    # The two-site deployment (docs/cluster.md): this API's site, and every site's API and
    # Patroni endpoints as JSON {"akkol": {"name": "Akkol", "api_url": ..., "patroni_url":
    # ...}, "kokterek": {...}}. Empty: one site, nothing to watch.
    site: str = ""
    sites: dict[str, SiteEndpoints] = {}
    cluster_watch_s: float = Field(default=2.0, gt=0)  # how often the duty holder looks

    # Log lines of every part (logsetup/): "text" for a terminal, "json" (one object a line)
    # for a log collector; and the lowest level written.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_url: str = "http://127.0.0.1:8000"  # where the dashboard and simulator find the API
    public_dashboard_url: str = "http://127.0.0.1:8050"  # used in alert emails

    max_body_bytes: int = 32 * 1024 * 1024  # an ingest body (after gzip) larger than this is 413
    # What one ingest body may hold, so that no request takes much memory (README "Ingest"):
    # a longer line or more fields in one is a 400 naming the line; more field values in the
    # body is a 413. The mission's widest line has about 120 fields.
    max_line_bytes: int = Field(default=64 * 1024, gt=0)
    max_fields_per_line: int = Field(default=1000, gt=0)
    max_values_per_body: int = Field(default=50_000, gt=0)
    max_future_s: int = 86_400  # samples further ahead than this are refused
    # Samples further ahead of the server clock than this (but within max_future_s) are
    # stored for replay but are not the present: not the latest value, not limit checked
    # live (docs/alerts.md "Samples ahead of the clock"). Allows for ordinary clock skew.
    clock_tolerance_s: float = Field(default=CLOCK_TOLERANCE_S, ge=0)
    # /readyz reports "out of disk space" for a SQLite database when the data folder has
    # less free space than this (a one-page probe write may still fit in a full disk).
    ready_min_free_bytes: int = 8 * 1024 * 1024
    check_limits: bool = True  # off only to measure what limit checking costs
    # A database call with no answer for this long is cut and the request answers 503: a
    # PostgreSQL node that froze (or a path that silently drops packets) never holds a
    # request, a lock or a connection for longer (backend/db_watch.py). The API only.
    db_call_timeout_s: float = Field(default=10.0, gt=0)

    # Tokens the stack uses between its own parts; `kazsat up` writes them to data_dir.
    ingest_token: str = Field(default="", repr=False)
    viewer_token: str = Field(default="", repr=False)
    operator_token: str = Field(default="", repr=False)
    engineer_token: str = Field(default="", repr=False)
    # Prometheus's token for GET /metrics (`kazsat token bootstrap` registers it; compose).
    metrics_token: str = Field(default="", repr=False)

    # People and sessions (README "People and roles"). A session ends after session_idle_s
    # without a request (an open dashboard page's stream re-checks it every second, its poll
    # asks every second) or session_max_s after login.
    session_idle_s: float = 1800.0
    session_max_s: float = 12 * 3600.0
    password_min_length: int = 12
    # Failed logins: at most this many per user name, and per client address, in the window;
    # then 429 with Retry-After. Counted in the SQL database (table rate_limits, with the
    # `limits` library), so every API process on it shares them and a restart forgets none.
    # Windows and delays are whole seconds (the library's granularity).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window_s: float = 300.0
    # ...and this many per user name from every address together (browsers without that
    # name's device cookie only: README "Security"); delays grow up to login_max_delay_s.
    login_max_failures_per_name: int = 50
    login_first_delay_s: float = 1.0
    login_max_delay_s: float = 300.0
    # Peers whose X-Forwarded-For names the real client for the per-address limit (the
    # dashboard forwards its browser's address when it logs someone in); comma-separated
    # addresses or networks (172.16.0.0/12 for a compose network).
    trusted_proxies: Annotated[list[str], NoDecode] = ["127.0.0.1", "::1"]
    # ...and only when the request carries this secret in X-Kazsat-Proxy: a trusted address
    # alone would let any local process pick the address its guesses count under. Empty: a
    # random secret kept in data_dir/proxy_secret (made once, mode 0600), which the API and
    # a dashboard over the same data_dir share; set it when they do not (docker-compose).
    proxy_secret: str = Field(default="", repr=False)
    # Signs device cookies (a browser that logged in as a name before gets past that name's
    # lock-out). Empty: a random key kept in data_dir/device_key (made once, mode 0600).
    device_key: str = Field(default="", repr=False)
    # Ingest requests per token: at most ingest_burst within ingest_burst / ingest_rate_per_s
    # seconds (rounded up; 1,000 per 5 s), in each API process's memory; rate 0: no limit.
    ingest_rate_per_s: float = 200.0
    ingest_burst: int = 1000
    max_json_bytes: int = 64 * 1024  # any request body but ingest's larger than this is 413
    # Origins allowed to call the API from a browser, comma-separated; empty: CORS closed.
    cors_origins: Annotated[list[str], NoDecode] = []
    # The live stream (GET /api/v1/stream, README "Live stream"): each subscriber's queue
    # holds at most stream_queue_events updates (one that falls further behind is dropped
    # and told to resync); the last stream_buffer_events updates are kept for clients that
    # reconnect with Last-Event-ID; a subscriber that takes no data for stream_send_timeout_s
    # is dropped; at most stream_max_per_user streams per user (or API token) and
    # stream_max_total in all (0: streaming off; past either, 429). A stream re-checks its
    # token every stream_recheck_s and sends a heartbeat when quiet that long.
    stream_queue_events: int = Field(default=256, gt=0)
    stream_buffer_events: int = Field(default=4096, gt=0)
    stream_send_timeout_s: float = Field(default=10.0, gt=0)
    stream_max_per_user: int = Field(default=32, ge=0)
    stream_max_total: int = Field(default=256, ge=0)
    stream_recheck_s: float = Field(default=1.0, gt=0)
    # The dashboard's own settings (host, port, session cookie) are in dashboard/settings.py.

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
    # The escalation ladder (docs/alerts.md "Escalation"): a YAML file of tiers of
    # recipients paged while an alert stays unacknowledged. Empty: no ladder.
    escalation_file: Path | None = None
    # Alarm floods (ISA-18.2: more than 10 alarms in 10 minutes for one operator): with
    # more than flood_alarms alerts raised in flood_window_s, alert email becomes a digest,
    # sent once its oldest alarm has waited flood_digest_s.
    flood_alarms: int = Field(default=10, ge=1)
    flood_window_s: float = Field(default=600.0, gt=0)
    flood_digest_s: float = Field(default=120.0, gt=0)
    # The monthly alarm-system health report (ISA-18.2 measures), comma-separated; empty:
    # none is sent. It goes once the month is over (backend/alarm_report.py).
    report_email_to: Annotated[list[str], NoDecode] = []
    # The shift report at each shift change, comma-separated; empty: none is sent
    # (backend/shift_email.py).
    shift_report_email_to: Annotated[list[str], NoDecode] = []
    # Shift changes, local times in shift_timezone, comma-separated (the shift report,
    # backend/shift_report.py).
    shift_changes: Annotated[list[str], NoDecode] = ["08:00", "20:00"]
    shift_timezone: str = "Asia/Almaty"
    notify_cleared: bool = True  # a cleared notice follows an emailed alert that clears
    stale_alert_s: float = 30.0  # an entity with no new sample this long: alert (0: never)
    stale_severity: Literal["warning", "critical"] = "warning"
    outbox_poll_s: float = 2.0  # how often the sender looks for due messages
    outbox_retry_s: float = 5.0  # first retry after a failed send; doubles each time
    outbox_retry_max_s: float = 60.0  # a waiting message is tried at least once a minute
    outbox_max_attempts: int = 20  # a message the server refuses (5xx) this often: failed

    @field_validator("email_to", "email_to_critical", "report_email_to",
                     "shift_report_email_to", "cors_origins",
                     "trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_addresses(value) if isinstance(value, str) else value

    @field_validator("shift_changes", mode="before")
    @classmethod
    def _times(cls, value: object) -> object:
        items = split_addresses(value) if isinstance(value, str) else value
        if isinstance(items, list):
            for item in items:
                try:
                    time_of_day = dt.time.fromisoformat(str(item))
                except ValueError:
                    raise ValueError(f"shift change {item!r} is not a time like 08:00") from None
                if time_of_day.second or time_of_day.microsecond:
                    raise ValueError(f"shift change {item!r}: whole minutes only")
            if not items:
                raise ValueError("at least one shift change time")
        return items

    @field_validator("shift_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is no time zone (e.g. Asia/Almaty)") from None
        return value

    @field_validator("escalation_file", mode="before")
    @classmethod
    def _no_file(cls, value: object) -> object:
        return None if value == "" else value

    def retention_days(self) -> dict[int, float]:
        """Days kept per level in seconds (0 for raw samples); 0 days means forever."""
        return {0: self.retention_raw_days, 60: self.retention_1m_days,
                600: self.retention_10m_days, 3600: self.retention_1h_days,
                86400: self.retention_1d_days}

    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kazsat.db').resolve()}"

    def sql_url_for_log(self) -> str:
        """The database URL without its password (and query), safe to log."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.sql_url()).render_as_string(hide_password=True).split("?")[0]
        except Exception:  # an unparsable URL: say nothing of it rather than leak it
            return "(unparsable database URL)"


def split_addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace(";", ",").split(",") if a.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
