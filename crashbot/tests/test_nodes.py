"""Several server processes on one database (SPEC §6, §11; issue 17): what one node does, the others show.

Two gunicorn servers (two and one sync workers, as two machines would run them) share one SQLite
file and one `PROMETHEUS_MULTIPROC_DIR` (the per-machine directory every worker writes its counters
to). Real processes, real HTTP, a signed Slack command as the change.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from slackbridge.signature import sign
from slackbridge.tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "nodes-metrics-token-0123456789"
SECRET = "nodes-signing-secret"
STAMP_TTL = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def wait_up(base: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{base} exited with {process.returncode}"
        try:
            if get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base} did not come up in {timeout} s")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    work = tmp_path_factory.mktemp("nodes")
    multiproc = work / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "nodes-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "STATIC_ROOT": str(work / "static"),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "",
        "PUBLIC_STAMP_TTL": str(STAMP_TTL),
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    seed = (
        "from incidents import services; from incidents.models import Severity, Source;"
        "services.incident_create(title='Realm down', severity=Severity.SEV2, author='U0SEED', source=Source.SLACK);"
        "services.incident_create(title='Wallet slow', severity=Severity.SEV1, author='U0SEED', source=Source.SLACK)"
    )
    subprocess.run([*manage, "shell", "-c", seed], env=env, cwd=ROOT, check=True)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    servers = []
    for workers in (2, 1):
        port = free_port()
        process = subprocess.Popen(
            [gunicorn, "crashbot.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers.append((f"http://127.0.0.1:{port}", process))
    try:
        for base, process in servers:
            wait_up(base, process)
        yield {"a": servers[0][0], "b": servers[1][0], "env": env, "manage": manage}
    finally:
        for _, process in servers:
            process.terminate()
        for _, process in servers:
            process.wait(timeout=30)
        shutil.rmtree(multiproc, ignore_errors=True)


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    status, body, headers = get(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


STATUS_JSON = ("crashbot_http_requests_total", (("route", "incidents:v2-status"), ("status", "200")))


def open_sev(samples: dict, severity: str) -> float:
    return samples[("crashbot_incidents_open", (("severity", severity),))]


def test_counters_add_up_over_every_process_and_gauges_agree(nodes):
    a, b = nodes["a"], nodes["b"]
    before = scrape(a).get(STATUS_JSON, 0)
    for _ in range(5):
        assert get(f"{a}/api/v2/status.json")[0] == 200
    for _ in range(3):
        assert get(f"{b}/api/v2/status.json")[0] == 200
    # Each scrape is answered by whichever worker accepts it; all must give the sum over the three.
    for base in (a, a, a, b, b):
        assert scrape(base)[STATUS_JSON] - before == 8
    durations = scrape(b)[("crashbot_http_request_duration_seconds_count", (("route", "incidents:v2-status"),))]
    assert durations >= 8

    samples_a, samples_b = scrape(a), scrape(b)
    for severity in ("sev-1", "sev-2", "sev-3"):
        assert open_sev(samples_a, severity) == open_sev(samples_b, severity)
    sev1 = open_sev(samples_a, "sev-1")
    assert sev1 >= 1
    close_one = (
        "from incidents import services; from incidents.models import Incident, Source;"
        "i = Incident.objects.filter(severity='sev-1', status='investigating').first();"
        "services.incident_resolve(incident_id=i.pk, author='U0SEED', source=Source.SLACK)"
    )
    subprocess.run([*nodes["manage"], "shell", "-c", close_one], env=nodes["env"], cwd=ROOT, check=True)
    assert open_sev(scrape(a), "sev-1") == sev1 - 1, "gauges are read at scrape time"
    assert open_sev(scrape(b), "sev-1") == sev1 - 1


def slash_command(base: str, text: str) -> dict:
    body = urlencode(
        {
            "team_id": "T0CRASH",
            "channel_id": "C0INCIDENTS",
            "user_id": "U0RESPONDER",
            "user_name": "rita",
            "command": "/update-incident",
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T0CRASH/1/x",
            "trigger_id": "nodes.trigger",
        }
    ).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/slack/commands",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(secret=SECRET, timestamp=timestamp, body=body),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        assert response.status == 200
        return json.loads(response.read())


def list_item(base: str, title: str) -> tuple[dict, str]:
    status, body, headers = get(f"{base}/list")
    assert status == 200
    data = json.loads(body)
    return next(i for i in data["open"] + data["closed"] if i["title"] == title), headers["ETag"]


def test_a_change_through_one_node_shows_on_the_other_within_the_stamp_ttl_plus_a_second(nodes):
    a, b = nodes["a"], nodes["b"]
    item, etag_before = list_item(b, "Realm down")
    for _ in range(4):
        list_item(b, "Realm down")  # B's workers now hold the stamp and the rendered body
    assert item["state"] == "investigating"

    reply = slash_command(a, f"{item['key']} monitoring Fix deployed on node A")
    changed_at = time.monotonic()
    assert "monitoring" in json.dumps(reply).lower()

    first_seen = None
    deadline = changed_at + STAMP_TTL + 1
    while time.monotonic() < deadline:
        started = time.monotonic()
        if list_item(b, "Realm down")[0]["state"] == "monitoring":
            first_seen = started - changed_at
            break
        time.sleep(0.05)
    # Whatever the machine's load did to the polling above: every request to B that starts after
    # TTL + 1 s must show the change (several, so both of B's workers answer some).
    time.sleep(max(0.0, deadline - time.monotonic()))
    for _ in range(6):
        now_item, etag_after = list_item(b, "Realm down")
        assert now_item["state"] == "monitoring"
        assert etag_after != etag_before
        status, body, _ = get(f"{b}/api/v2/incidents/unresolved.json")
        assert b"Fix deployed on node A" in body
    assert first_seen is None or first_seen <= STAMP_TTL + 1


def test_slack_errors_met_by_another_process_on_the_machine_show_on_every_node(nodes):
    """A worker-like process (own pid, same PROMETHEUS_MULTIPROC_DIR) meets Slack errors; every /metrics shows them."""
    key = ("crashbot_slack_api_errors_total", (("error", "channel_not_found"), ("method", "chat.postMessage")))
    before = scrape(nodes["a"]).get(key, 0)
    with FakeSlack() as fake:
        fake.fail("chat.postMessage", error="channel_not_found", times=2)
        env = {
            **nodes["env"],
            "SLACK_API_URL": fake.api_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_RETRY_ATTEMPTS": "1",
        }
        code = (
            "from slackbridge import client\n"
            "for _ in range(2):\n"
            "    try:\n"
            "        client.post_message(channel='C0INCIDENTS', text='hello')\n"
            "    except client.SlackCallError:\n"
            "        pass\n"
        )
        subprocess.run([*nodes["manage"], "shell", "--no-imports", "-c", code], env=env, cwd=ROOT, check=True)
    assert scrape(nodes["a"])[key] - before == 2
    assert scrape(nodes["b"])[key] - before == 2
