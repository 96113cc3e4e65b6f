"""docs/SUBSCRIPTIONS.md's receiver snippet is runnable and verifies a real delivery."""

import re
from pathlib import Path

import pytest

from incidents.tests.factories import make_incident
from subscriptions.models import Kind
from subscriptions.tests.factories import make_subscriber
from subscriptions.tests.util import drain

DOC = Path(__file__).resolve().parents[2] / "docs" / "SUBSCRIPTIONS.md"


def snippet() -> dict:
    [code] = [c for c in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "verify_crashbot" in c]
    namespace: dict = {"__name__": "docs_snippet"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation, tested as code
    return namespace


@pytest.mark.django_db(transaction=True)
def test_the_documented_receiver_verifies_a_real_delivery(receiver, smtp):
    verify = snippet()["verify_crashbot_signature"]
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    make_incident("Catalyst down")
    drain()
    [request] = receiver.requests
    headers, body = request.headers, request.body
    assert verify(hook.secret, headers["x-crashbot-timestamp"], headers["x-crashbot-signature"], body)
    assert not verify("0" * 64, headers["x-crashbot-timestamp"], headers["x-crashbot-signature"], body)
    assert not verify(hook.secret, headers["x-crashbot-timestamp"], headers["x-crashbot-signature"], body + b" ")
    assert not verify(hook.secret, "1000000000", headers["x-crashbot-signature"], body)  # stale
