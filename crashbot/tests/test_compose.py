"""docker-compose.yml, checked by parsing it (no Docker engine here), and CACHE_URL with a real Redis."""

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
SCALED = ("web", "worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_stack_has_web_worker_postgres_redis_and_a_proxy(compose):
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker", "proxy"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


@pytest.mark.parametrize("name", SCALED)
def test_scaled_services_have_no_fixed_host_port_or_name(compose, name):
    """`docker compose up --scale web=2 --scale worker=2` needs no host port or container name bound to one copy."""
    service = compose["services"][name]
    assert "ports" not in service
    assert "container_name" not in service
    assert service.get("deploy", {}).get("replicas", 1) >= 1


@pytest.mark.parametrize("name", SCALED)
def test_scaled_services_share_postgres_and_redis(compose, name):
    environment = compose["services"][name]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@db:5432/" in environment["DATABASE_URL"]
    assert re.fullmatch(r"redis://redis:6379/\d+", environment["CACHE_URL"])
    assert environment["PROMETHEUS_MULTIPROC_DIR"]
    assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_proxy_is_the_one_published_port_and_spreads_over_every_web_container(compose):
    proxy = compose["services"]["proxy"]
    published = [p for service in compose["services"].values() for p in service.get("ports", [])]
    assert published == proxy["ports"] == ["8000:80"]
    config_source = proxy["volumes"][0].split(":")[0]
    config = (ROOT / config_source).read_text()
    assert "http://web:8000" in config
    assert re.search(r"resolver 127\.0\.0\.11 valid=\d+s", config), "re-resolves `web` so new replicas join"
    assert "X-Forwarded-Proto" in config
    assert "X-Request-ID" in config


def test_web_and_worker_share_one_metrics_directory_emptied_once_per_up(compose):
    """Every process's counters land in one volume, so /metrics from any web container shows them all."""
    services = compose["services"]
    directory = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    mount = f"metrics:{directory}"
    assert "metrics" in compose["volumes"]
    for name in ("web", "worker", "metrics-init"):
        assert mount in services[name]["volumes"], name
    for name in SCALED:
        assert services[name]["depends_on"]["metrics-init"]["condition"] == "service_completed_successfully"
    init = " ".join(services["metrics-init"]["command"])
    assert f"rm -rf {directory}/*" in init
    assert f"chown 10001 {directory}" in init, "the image's non-root user (Dockerfile uid 10001) writes there"
    assert "--uid 10001" in (ROOT / "Dockerfile").read_text()


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_cache_url_gives_every_process_the_same_redis_cache():
    env = {**os.environ, "CACHE_URL": "redis://127.0.0.1:6379/1", "DJANGO_SETTINGS_MODULE": "crashbot.settings"}
    key, value = f"crashbot-test-{uuid.uuid4().hex}", uuid.uuid4().hex

    def shell(code: str) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "--no-imports", "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return (result.stdout.strip().splitlines() or [""])[-1]

    setup = "from django.conf import settings; from django.core.cache import cache;"
    backend = shell(setup + "print(settings.CACHES['default']['BACKEND'])")
    assert backend == "django.core.cache.backends.redis.RedisCache"
    shell(setup + f"cache.set('{key}', '{value}', 60)")
    assert shell(setup + f"print(cache.get('{key}')); cache.delete('{key}')") == value, "another process reads it"
