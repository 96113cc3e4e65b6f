"""Subscriptions delivery bench: one public incident to 10,000 email and 200 webhook subscribers.

Seeds a fresh SQLite database (bench/.data/subs.sqlite3, or DATABASE_URL if set), starts a real
SMTP sink (aiosmtpd) and an HTTP sink, runs `manage.py db_worker` processes as in production, makes
one public incident through the services and measures until every delivery is done; reports the
time, throughput and the workers' peak memory (VmHWM). Not a test: `python bench/subscriptions.py`.

Options: --emails N --webhooks N --workers N (defaults 10000, 200, 2).
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / ".data"
TARGET_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingSMTP:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.count += len(envelope.rcpt_tos)
        return "250 OK"


class CountingHTTP(ThreadingHTTPServer):
    daemon_threads = True
    count = 0


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's hook name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    smtp = CountingSMTP()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    http = CountingHTTP(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    DATA.mkdir(parents=True, exist_ok=True)
    db = DATA / "subs.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{db}"),
        "EMAIL_URL": f"smtp://127.0.0.1:{controller.port}",
        "DEFAULT_FROM_EMAIL": "status@bench.example.com",
        "PUBLIC_BASE_URL": "https://status.bench.example.com",
        "SUBSCRIPTIONS_ALLOW_PRIVATE_URLS": "True",
        "DJANGO_SETTINGS_MODULE": "crashbot.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603

    import django

    django.setup()
    from django.utils import timezone

    from incidents import services
    from incidents.models import Source
    from subscriptions.models import Delivery, DeliveryState, Kind, Subscriber

    now = timezone.now()
    rows = [
        Subscriber(kind=Kind.EMAIL, address=f"person{n}@bench.example.com", confirmed=True, confirmed_at=now)
        for n in range(args.emails)
    ] + [
        Subscriber(
            kind=Kind.WEBHOOK,
            address=f"http://127.0.0.1:{http.server_address[1]}/hook/{n}",
            contact_email="ops@bench.example.com",
            confirmed=True,
            confirmed_at=now,
        )
        for n in range(args.webhooks)
    ]
    Subscriber.objects.bulk_create(rows, batch_size=1000)
    total = args.emails + args.webhooks

    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1", "--no-startup-delay"],
            cwd=ROOT,
            env=env,
        )
        for _ in range(args.workers)
    ]
    time.sleep(2)
    started = time.monotonic()
    services.incident_create(title="Bench: Catalyst nodes are not syncing", author="U0BENCH", source=Source.SLACK)
    peaks = {w.pid: 0 for w in workers}
    try:
        while True:
            done = Delivery.objects.exclude(state=DeliveryState.PENDING).count()
            for w in workers:
                peaks[w.pid] = max(peaks[w.pid], peak_kib(w.pid))
            if done >= total or time.monotonic() - started > 600:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        controller.stop()
        http.shutdown()
    delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED).count()
    result = {
        "emails": args.emails,
        "webhooks": args.webhooks,
        "workers": args.workers,
        "seconds": round(elapsed, 1),
        "delivered": delivered,
        "smtp_received": smtp.count,
        "http_received": http.count,
        "per_second": round(delivered / elapsed, 1),
        "worker_peak_rss_mib": [round(p / 1024, 1) for p in peaks.values()],
        "target_met": delivered == total and elapsed <= TARGET_SECONDS,
        "database": env["DATABASE_URL"].split(":", 1)[0],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()
