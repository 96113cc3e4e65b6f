"""Real parts for the subscription tests: an SMTP server (aiosmtpd) and an HTTP receiver, both in-process."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from slackbridge.tests.conftest import SIGNING_SECRET

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line at INFO


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)
    refuse: dict = field(default_factory=dict)  # address -> SMTP reply (e.g. "550 no such user")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for rcpts, m in self.messages if address in rcpts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1; Django's SMTP backend pointed at it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "Status <status@status.example.com>"
    mailbox.controller = controller
    yield mailbox
    controller.stop()


@dataclass
class Request:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class ReusableServer(ThreadingHTTPServer):
    allow_reuse_address = True


class Receiver:
    """An HTTP server that records every POST and answers with the queued statuses (then 200)."""

    def __init__(self, port: int = 0):
        self.requests: list[Request] = []
        self.replies: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ReusableServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS = True
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _subscription_settings(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.STATUS_PAGE_NAME = "Decentraland"
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_BOT_TOKEN = ""
    settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS = 0.2
    settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS = 1.0
