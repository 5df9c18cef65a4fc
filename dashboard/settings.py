"""The dashboard's own settings, read from the same KAZSAT_* environment variables and .env
as the rest of the stack, so one .env (or docker-compose.yml, or `kazsat up`) configures every
part. Only what the dashboard reads is here: it is a client of the API and knows nothing else.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAZSAT_", env_file=".env", extra="ignore")

    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    api_url: str = "http://127.0.0.1:8000"  # every page's data comes from here

    # Signs the session cookie. Empty: a random key kept in data_dir/secret_key (made once,
    # mode 0600). Set it (or point secret_key_file at a file) when several dashboard
    # processes serve the same users.
    data_dir: Path = Path("data")
    secret_key: str = Field(default="", repr=False)
    secret_key_file: str = ""
    cookie_secure: bool = False  # send the session cookie over HTTPS only (behind TLS)
    # Shown to the API with each browser's address (X-Kazsat-Proxy), so that login limits
    # count people, not the dashboard. Empty: the secret in data_dir/proxy_secret, which the
    # API makes; set it to the API's KAZSAT_PROXY_SECRET when they share no data_dir.
    proxy_secret: str = Field(default="", repr=False)
    # The API's own values: the cookie lives as long as an API session may, and the
    # password form states the API's minimum length.
    session_max_s: float = 12 * 3600.0
    password_min_length: int = 12
    # The same log settings as the API's (logsetup/): text or json, and the lowest level.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@lru_cache
def get_settings() -> DashboardSettings:
    return DashboardSettings()
