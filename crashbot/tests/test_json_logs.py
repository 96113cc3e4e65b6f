"""`LOG_FORMAT=json` (SPEC §11): one JSON object per line, with the request id and the incident key where known."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crashbot.observability import ContextFilter, JsonLogFormatter

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def json_log():
    """The handler LOGGING builds for LOG_FORMAT=json, on django.request, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_log_line_names_the_request_id_and_the_incident(client, json_log):
    response = client.get("/incidents/DCL-424242", headers={"X-Request-ID": "lb-req-0123456789"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-req-0123456789"
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert records, "django.request logs the 404"
    record = records[-1]
    assert record["level"] == "WARNING"
    assert record["logger"] == "django.request"
    assert record["request_id"] == "lb-req-0123456789"
    assert record["incident"] == "DCL-424242"
    assert "/incidents/DCL-424242" in record["message"]
    assert record["time"]


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "short", "has spaces in it", "x" * 200, "bad\u2028separator-123"])
def test_an_unusable_incoming_request_id_is_replaced(client, json_log, incoming):
    response = client.get("/no-such-page", headers={"X-Request-ID": incoming} if incoming else {})
    generated = response["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32
    assert json.loads(json_log.getvalue().splitlines()[-1])["request_id"] == generated


def manage(*args: str, log_format: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOG_FORMAT": log_format, "LOG_LEVEL": "INFO"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_every_line_of_a_process_is_one_json_object_even_with_a_traceback():
    code = (
        "import logging; log = logging.getLogger('slackbridge.sync');"
        "log.warning('%s: reply #%d was claimed but never posted', 'DCL-7', 3);"
        "exec('try:\\n 1/0\\nexcept ZeroDivisionError:\\n log.exception(\"sync failed\")');"
        "log.info('multi\\nline message')"
    )
    result = manage("shell", "-c", code, log_format="json")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    records = [json.loads(line) for line in lines]  # fails on any line that is not one JSON object
    assert len(records) == 3
    first, failed, multi = records
    assert (first["incident"], first["request_id"]) == ("DCL-7", None)
    assert first["message"] == "DCL-7: reply #3 was claimed but never posted"
    assert "ZeroDivisionError" in failed["exc_info"]
    assert failed["incident"] is None
    assert multi["message"] == "multi\nline message"


def test_an_unknown_log_format_is_refused_at_start():
    result = manage("check", log_format="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json, not 'xml'" in result.stderr
