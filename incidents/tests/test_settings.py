"""Settings behave as production needs: checked in fresh processes with a real environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_secret_key():
    result = run_manage("check", DEBUG="False", ALLOWED_HOSTS="status.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = run_manage("check", DEBUG="False", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_check_deploy_is_clean_in_production():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="False",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="status.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_healthz_answers_503_when_the_database_is_down():
    code = "import django; django.setup();from django.test import Client;print(Client().get('/healthz').status_code)"
    env = {k: v for k, v in os.environ.items()}
    env.update(DATABASE_URL="postgres://nobody@127.0.0.1:9/none", DJANGO_SETTINGS_MODULE="crashbot.settings")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "503", result.stderr


def test_allowed_team_ids_is_a_comma_list_with_optional_spaces():
    code = "import django; django.setup();from django.conf import settings;print(settings.SLACK_ALLOWED_TEAM_IDS)"
    env = {k: v for k, v in os.environ.items()}
    env.update(SLACK_ALLOWED_TEAM_IDS="T0ONE, T0TWO,", DJANGO_SETTINGS_MODULE="crashbot.settings")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "['T0ONE', 'T0TWO']", result.stderr
