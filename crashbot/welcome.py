"""`make run`'s last start-up lines: where to look and what to try, once the web server answers.

Run by Procfile.dev beside web and worker (`python -m crashbot.welcome`); it stays up until honcho
stops it, since honcho stops everything when one of its processes ends.
"""

import os
import signal
import sys
import time
import urllib.error
import urllib.request

WAIT_SECONDS = 120
# After the web server answers, let the worker print its own start-up lines first.
SETTLE_SECONDS = 2.0


def lines(*, origin: str, signing_secret_set: bool) -> list[str]:
    simulate = '.venv/bin/python manage.py slack_simulate "/create-incident sev-2 Marketplace down"'
    if origin != "http://127.0.0.1:8000":
        simulate += f" --url {origin}"
    secret = (
        "(in another terminal with the same SLACK_SIGNING_SECRET)"
        if signing_secret_set
        else "(needs `export SLACK_SIGNING_SECRET=local-secret` here before make run, and there)"
    )
    return [
        "Crashbot is running (web and worker; Ctrl-C stops both).",
        f"  Status page: {origin}/",
        f"  Admin:       {origin}/admin/  (create a login first: .venv/bin/python manage.py createsuperuser)",
        f"  Try Slack:   {simulate}",
        f"               {secret}",
    ]


def wait_until_up(url: str, *, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - our own local server
            return True
        except urllib.error.HTTPError:
            return True  # it answers (e.g. 503 before migrations): up
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host  # noqa: S104 - only shown, not bound
    origin = f"http://{shown}:{os.environ.get('WEB_PORT', '8000')}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if wait_until_up(f"{origin}/healthz"):
        time.sleep(SETTLE_SECONDS)
        print("\n".join(lines(origin=origin, signing_secret_set=bool(os.environ.get("SLACK_SIGNING_SECRET")))))
    else:
        print(f"The web server did not answer on {origin} within {WAIT_SECONDS} s; see its output above.")
    sys.stdout.flush()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
