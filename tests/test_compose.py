"""docker-compose.yml (PostgreSQL for everything, the default) and docker-compose.influxdb.yml
(InfluxDB 2.x for telemetry, on top of it) and the Dockerfile, checked without a container
engine: Compose's own parser and validator (Debian's docker-compose, `config`), then what the
deployment promises (docs/deployment.md): health checks, restart policies, one image, volumes,
ports, secrets from .env only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"POSTGRES_PASSWORD": "pg-secret",
           "KAZSAT_INGEST_TOKEN": "ingest-token-0123456789abcdef",
           "KAZSAT_VIEWER_TOKEN": "viewer-token-0123456789abcdef",
           "KAZSAT_PROXY_SECRET": "proxy-secret-0123456789abcdef"}
INFLUX_SECRETS = {"INFLUX_PASSWORD": "influx-secret", "INFLUX_TOKEN": "influx-token-0123456789"}
BUILT = {"api", "simulator", "dashboard"}
PORTS = {"api": "8000", "dashboard": "8050", "mailpit": "8025"}
INFLUX = "docker-compose.influxdb.yml"


def env_file(folder: Path, **overrides: str) -> None:
    """.env as an operator makes it: the example with the secrets filled in."""
    text = (ROOT / ".env.example").read_text()
    for key, value in {**SECRETS, **overrides}.items():
        text = re.sub(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
    (folder / ".env").write_text(text)


def run_config(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed (scripts/test.sh installs it "
                    "when run as root: apt-get install docker-compose)")
    for name in files:
        shutil.copy(ROOT / name, folder)
    return subprocess.run(["docker-compose", *(f"-f{name}" for name in files), "config"],
                          cwd=folder, capture_output=True, text=True, timeout=60)


def compose_config(folder: Path, *files: str) -> dict:
    done = run_config(folder, *files)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """The default: no InfluxDB secret set, none needed."""
    folder = tmp_path_factory.mktemp("compose")
    env_file(folder)
    return compose_config(folder, "docker-compose.yml")


@pytest.fixture(scope="module")
def influx_config(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("compose-influx")
    env_file(folder, **INFLUX_SECRETS)
    return compose_config(folder, "docker-compose.yml", INFLUX)


def test_compose_validates_and_has_every_part(config):
    assert set(config["services"]) == {"postgres", "mailpit", *BUILT}
    assert config["services"]["postgres"]["image"] == "postgres:15"
    assert config["services"]["mailpit"]["image"].startswith("axllent/mailpit")


def test_the_default_store_is_postgresql(config):
    api = config["services"]["api"]["environment"]
    assert api["KAZSAT_STORE"] == "sql"
    assert api["KAZSAT_DATABASE_URL"].startswith("postgresql+psycopg://kazsat:")
    assert not {"influxdb-data", "influxdb-config"} & set(config.get("volumes", {}))


def test_the_influxdb_option_adds_the_store_and_points_the_api_at_it(influx_config):
    s = influx_config["services"]
    assert set(s) == {"influxdb", "postgres", "mailpit", *BUILT}
    assert s["influxdb"]["image"].startswith("influxdb:2.7")
    api = s["api"]["environment"]
    assert api["KAZSAT_STORE"] == "influxdb" and api["KAZSAT_INFLUX_URL"] == \
        "http://influxdb:8086"
    assert api["KAZSAT_INFLUX_TOKEN"] == INFLUX_SECRETS["INFLUX_TOKEN"]
    assert api["KAZSAT_DATABASE_URL"].startswith("postgresql+psycopg://")  # relational state
    influx = s["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == INFLUX_SECRETS["INFLUX_TOKEN"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {k: v["condition"] for k, v in s["api"]["depends_on"].items()} == {
        "postgres": "service_healthy", "influxdb": "service_healthy",
        "mailpit": "service_healthy"}
    assert {"influxdb-data", "influxdb-config"} <= set(influx_config["volumes"])
    assert s["influxdb"]["restart"] == "unless-stopped"
    assert s["influxdb"]["healthcheck"]["test"][0] == "CMD"
    published = {str(p["published"]) if isinstance(p, dict) else p.split(":")[0]
                 for p in s["influxdb"]["ports"]}
    assert "8086" in published
    assert "http://localhost:8086" in (ROOT / "docs" / "deployment.md").read_text()
    raw = (ROOT / INFLUX).read_text()
    assert not any(value in raw for value in INFLUX_SECRETS.values())


def test_the_influxdb_option_refuses_a_missing_token(tmp_path):
    env_file(tmp_path, INFLUX_PASSWORD="influx-secret")
    done = run_config(tmp_path, "docker-compose.yml", INFLUX)
    assert done.returncode != 0 and "INFLUX_TOKEN" in done.stderr


def test_every_service_has_a_health_check_and_a_restart_policy(config):
    for name, service in config["services"].items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        check = service.get("healthcheck", {}).get("test")
        assert check and check[0] in ("CMD", "CMD-SHELL"), name


def test_one_dockerfile_builds_the_three_services(config):
    for name in BUILT:
        service = config["services"][name]
        assert service["build"]["context"] == config["services"]["api"]["build"]["context"]
        assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert service["image"] == "kazsat-monitor:latest", name
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert 'ENTRYPOINT ["kazsat"]' in text


def test_start_order_waits_for_health(config):
    s = config["services"]
    assert {k: v["condition"] for k, v in s["api"]["depends_on"].items()} == {
        "postgres": "service_healthy", "mailpit": "service_healthy"}
    for name in ("simulator", "dashboard"):
        assert s[name]["depends_on"]["api"]["condition"] == "service_healthy"


def test_volumes_are_named_and_declared(config):
    declared = set(config["volumes"])
    assert {"postgres-data", "api-data", "dashboard-data"} <= declared
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            assert source in declared, (name, volume)


def test_ports_are_the_documented_ones(config):
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for name, port in PORTS.items():
        published = {str(p["published"]) if isinstance(p, dict) else p.split(":")[0]
                     for p in config["services"][name].get("ports", [])}
        assert port in published, name
        assert f"http://localhost:{port}" in docs, port


def test_secrets_come_from_env_and_reach_the_services(config):
    api = config["services"]["api"]["environment"]
    assert api["KAZSAT_DATABASE_URL"] == (
        f"postgresql+psycopg://kazsat:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/kazsat")
    assert api["KAZSAT_SMTP_HOST"] == "mailpit"
    for name in ("simulator", "dashboard"):
        env = config["services"][name]["environment"]
        assert env["KAZSAT_INGEST_TOKEN"] == SECRETS["KAZSAT_INGEST_TOKEN"]
        assert env["KAZSAT_API_URL"] == "http://api:8000"
    subnet = config["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert api["KAZSAT_TRUSTED_PROXIES"].split(",")[-1] == subnet  # the dashboard's network
    raw = (ROOT / "docker-compose.yml").read_text()
    assert not any(value in raw for value in SECRETS.values())


def test_a_missing_secret_is_refused(tmp_path):
    env_file(tmp_path, POSTGRES_PASSWORD="")
    done = run_config(tmp_path, "docker-compose.yml")
    assert done.returncode != 0 and "POSTGRES_PASSWORD" in done.stderr


def test_env_example_documents_the_store_and_retention_settings():
    from backend.settings import Settings

    text = (ROOT / ".env.example").read_text()
    missing = [n for n in Settings.model_fields if n.startswith(("store", "influx_", "retention_"))
               and f"KAZSAT_{n.upper()}=" not in text]
    assert missing == []


# ---- the two-site deployment (docker-compose.two-sites.yml, docs/cluster.md) ----------------

TWO_SITES = "docker-compose.two-sites.yml"
SITE_HOSTS = {"AKKOL_HOST": "10.1.0.10", "KOKTEREK_HOST": "10.2.0.10",
              "WITNESS_HOST": "10.3.0.10", "PATRONI_SUPERUSER_PASSWORD": "patroni-secret",
              "PATRONI_REPLICATION_PASSWORD": "replication-secret",
              "FEED_ORIGIN": "2026-12-01T00:00:00Z"}


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory) -> dict:
    """Every profile: all three hosts' services in one view."""
    folder = tmp_path_factory.mktemp("compose-two-sites")
    env_file(folder, **SITE_HOSTS)
    shutil.copytree(ROOT / "deploy", folder / "deploy")
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed (scripts/test.sh installs it "
                    "when run as root: apt-get install docker-compose)")
    shutil.copy(ROOT / TWO_SITES, folder)
    done = subprocess.run(["docker-compose", "-f", TWO_SITES, "--profile", "akkol", "--profile",
                           "kokterek", "--profile", "witness", "config"], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_two_sites_each_have_every_part_and_a_witness_stands_apart(two_sites):
    services = two_sites["services"]
    for site in ("akkol", "kokterek"):
        assert {f"{part}-{site}" for part in ("etcd", "postgres", "api", "dashboard", "feed")} \
            <= set(services)
        assert all(services[f"{p}-{site}"]["profiles"] == [site]
                   for p in ("etcd", "postgres", "api", "dashboard", "feed"))
    assert services["etcd-witness"]["profiles"] == ["witness"]
    assert len([name for name in services if name.startswith("etcd-")]) == 3


def test_consensus_spans_three_places_and_patroni_asks_all_of_them(two_sites):
    services = two_sites["services"]
    peers = {"akkol=http://10.1.0.10:2380", "kokterek=http://10.2.0.10:2380",
             "witness=http://10.3.0.10:2380"}
    for member in ("akkol", "kokterek", "witness"):
        command = services[f"etcd-{member}"]["command"]
        cluster = command[command.index("--initial-cluster") + 1]
        assert set(cluster.split(",")) == peers
    for site in ("akkol", "kokterek"):
        env = services[f"postgres-{site}"]["environment"]
        assert env["PATRONI_NAME"] == site
        assert all(host in env["PATRONI_ETCD3_HOSTS"] for host in ("10.1.0.10", "10.2.0.10",
                                                                  "10.3.0.10"))
        assert services[f"postgres-{site}"]["build"]["context"].endswith("deploy/patroni")
    bootstrap = yaml.safe_load((ROOT / "deploy/patroni/patroni.yml").read_text())["bootstrap"]
    assert bootstrap["dcs"]["synchronous_mode"] is True
    assert bootstrap["dcs"]["synchronous_mode_strict"] is False
    assert bootstrap["dcs"]["postgresql"]["use_pg_rewind"] is True


def test_each_api_finds_the_primary_own_site_first_and_feeds_fall_back(two_sites):
    services = two_sites["services"]
    for site, own, other in (("akkol", "10.1.0.10", "10.2.0.10"),
                             ("kokterek", "10.2.0.10", "10.1.0.10")):
        env = services[f"api-{site}"]["environment"]
        url = env["KAZSAT_DATABASE_URL"]
        assert url.index(f"host={own}:5432") < url.index(f"host={other}:5432")
        assert "target_session_attrs=read-write" in url
        assert env["KAZSAT_SITE"] == site
        sites = json.loads(env["KAZSAT_SITES"])
        assert set(sites) == {"akkol", "kokterek"}
        feed = services[f"feed-{site}"]
        assert feed["environment"]["KAZSAT_API_URL"] == \
            f"http://{own}:8000,http://{other}:8000"
        assert feed["command"][:3] == ["simulate", "--station", site]


def test_two_sites_refuse_missing_hosts_and_secrets(tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed")
    env_file(tmp_path, **{**SITE_HOSTS, "PATRONI_REPLICATION_PASSWORD": "", "WITNESS_HOST": ""})
    shutil.copy(ROOT / TWO_SITES, tmp_path)
    done = subprocess.run(["docker-compose", "-f", TWO_SITES, "--profile", "witness", "config"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "WITNESS_HOST" in done.stderr or "PATRONI_REPLICATION_PASSWORD" in done.stderr
