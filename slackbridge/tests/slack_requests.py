"""Build and send real, signed Slack requests through the Django test client.

Bodies are form-encoded exactly as Slack sends them (slash command fields, or one `payload`
field holding the interaction JSON) and signed with the test signing secret; the scenario
payloads live in fixtures/, one file per scenario.
"""

import copy
import itertools
import json
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from slackbridge.signature import sign
from slackbridge.tests.conftest import SIGNING_SECRET

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS_URL = "/slack/commands"
INTERACTIONS_URL = "/slack/interactions"


def fixture(name: str) -> dict:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def signed_post(client, path: str, body: bytes, *, secret: str = SIGNING_SECRET, timestamp=None, signature=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": signature or sign(secret=secret, timestamp=timestamp, body=body),
    }
    return client.generic("POST", path, body, content_type="application/x-www-form-urlencoded", **headers)


_TRIGGERS = itertools.count(1)


def command_body(name: str = "create_incident_one_line", **fields) -> bytes:
    """A command as Slack sends it: every invocation has its own trigger_id (so two identical commands
    typed in the same second are two requests, not a retry of one; see slackbridge/dedup.py)."""
    data = fixture(name)
    if "trigger_id" in data:
        data["trigger_id"] = f"{next(_TRIGGERS)}.{secrets.token_hex(8)}"
    data.update(fields)
    return urlencode(data).encode()


def send_command(client, name: str = "create_incident_one_line", **fields):
    return signed_post(client, COMMANDS_URL, command_body(name, **fields))


def interaction_body(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def send_interaction(client, payload: dict):
    return signed_post(client, INTERACTIONS_URL, interaction_body(payload))


def set_state(payload: dict, block_id: str, **element) -> dict:
    """Change one submitted value, e.g. set_state(p, "title", value="x")."""
    payload["view"]["state"]["values"][block_id][block_id].update(element)
    return payload


def for_incident(payload: dict, incident_id: int) -> dict:
    """Point a submission's private_metadata or a button's value at `incident_id`."""
    if payload.get("view", {}).get("private_metadata"):
        payload["view"]["private_metadata"] = str(incident_id)
    for action in payload.get("actions", []):
        if "value" in action:
            action["value"] = str(incident_id)
        if "selected_option" in action:
            action["selected_option"]["value"] = str(incident_id)
    return payload
