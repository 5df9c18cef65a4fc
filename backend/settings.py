"""One settings object for the backend, read from KAZSAT_* environment variables and .env."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAZSAT_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    # SQL for relational state and the SQL store; default: SQLite in data_dir
    database_url: str = ""
    mission_file: Path = PACKAGE_DIR / "mission.yaml"

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

    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kazsat.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
