"""What every bench part shares: databases, servers started as the Dockerfile starts them, wrk, signed
Slack commands, and writing a part's section of docs/BENCHMARKS.md and its raw JSON.

A part is a module of bench/ with `run(args) -> dict` (see bench/run.py); it starts what it measures
from here, so each part can be run alone (`make bench BENCH_ARGS="--only storm"`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / ".data"
STATIC_ROOT = DATA / "static"
SIGNING_SECRET = "bench-signing-secret"
CHANNEL = "C0INCIDENTS"
WEB_CONCURRENCY = os.environ.get("WEB_CONCURRENCY", "3")  # the Dockerfile's default
CEILING_DIR = "bench-ceiling"  # under STATIC_ROOT: the same bytes as each endpoint, served by WhiteNoise
# The public endpoints measured against a ceiling: (name, path, ceiling file holding its bytes).
ENDPOINTS = [
    ("list", "/list", "list.json"),
    ("index", "/", "index.html"),
    ("summary", "/api/v2/summary.json", "summary.json"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


def bench_database_url(name: str = "bench") -> str:
    """A fresh database of its own: a SQLite file, or `<db>_<name>` beside DATABASE_URL's database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        DATA.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DATA / name}.sqlite3{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{DATA / name}.sqlite3"
    parts = urllib.parse.urlsplit(url)
    db = f"{parts.path.lstrip('/')}_{name}"
    admin = parts._replace(path="/postgres").geturl()
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {db}"], check=True)
    return parts._replace(path=f"/{db}").geturl()


def bench_env(database_url: str, *, slack_api_url: str = "", **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off) on loopback; Slack pointed at the fake."""
    return {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(STATIC_ROOT),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_INCIDENTS_CHANNEL": CHANNEL,
        "SLACK_API_URL": slack_api_url or "http://127.0.0.1:9/api/",
        "LOG_LEVEL": "ERROR",
        # Absolute links independent of the port, so the seed's ceiling bytes equal what gunicorn answers.
        "PUBLIC_BASE_URL": "https://status.bench.example.com",
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


def prepare(env: dict[str, str]) -> None:
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")


def seed(env: dict[str, str], *, incidents: int, updates_per_incident: int = 10, ceilings: bool = True) -> float:
    """bench/seed.py in the bench environment; returns its seconds."""
    started = time.monotonic()
    cmd = [PY, str(ROOT / "bench" / "seed.py"), "--incidents", str(incidents)]
    cmd += ["--updates-per-incident", str(updates_per_incident)]
    if ceilings:
        cmd += ["--ceilings", str(STATIC_ROOT / CEILING_DIR)]
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    return round(time.monotonic() - started, 1)


def seeded_with_ceilings(name: str, *, incidents: int, slack_api_url: str = "") -> tuple[str, dict[str, str], float]:
    """A fresh database `name`, migrated and seeded, static files collected, each endpoint's ceiling file
    written with its `.gz` variant: (database URL, environment, seed seconds)."""
    database_url = bench_database_url(name)
    env = bench_env(database_url, slack_api_url=slack_api_url)
    prepare(env)
    seed_seconds = seed(env, incidents=incidents)
    gzip_ceiling_files()
    return database_url, env, seed_seconds


def gzip_ceiling_files() -> None:
    """The `.gz` variants WhiteNoise serves to clients that accept gzip (as collectstatic would make them)."""
    import gzip

    for path in (STATIC_ROOT / CEILING_DIR).glob("*"):
        if path.suffix != ".gz":
            Path(f"{path}.gz").write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def start_gunicorn(env: dict[str, str], *, port: int | None = None, log: str = "gunicorn") -> tuple:
    """gunicorn as the Dockerfile's CMD runs it (workers, access log on), on a loopback port."""
    port = port or free_port()
    DATA.mkdir(parents=True, exist_ok=True)
    access = open(DATA / f"{log}-access.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "crashbot.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            WEB_CONCURRENCY,
            "--access-logfile",
            "-",
            "--forwarded-allow-ips=*",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=access,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz")
    return proc, base


def start_worker(env: dict[str, str], *, log: str = "worker") -> subprocess.Popen:
    DATA.mkdir(parents=True, exist_ok=True)
    out = open(DATA / f"{log}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [PY, str(ROOT / "manage.py"), "db_worker", "--interval", "0.1"],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def stop(*procs: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    for proc in procs:
        if proc and proc.poll() is None:
            proc.send_signal(sig)
    for proc in procs:
        if proc:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def fake_slack(*, delay: float = 0.0):
    from slackbridge.tests.fakeslack import FakeSlack

    fake = FakeSlack().start()
    if delay:
        fake.delay(delay)
    try:
        yield fake
    finally:
        fake.stop()


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("installing Debian's wrk …", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def wait_idle(base: str) -> None:
    """Let gunicorn drain what the previous run left queued, so runs don't bleed into each other."""
    for _ in range(120):
        start = time.perf_counter()
        urllib.request.urlopen(f"{base}/healthz", timeout=60).read()  # noqa: S310 - loopback only
        if time.perf_counter() - start < 0.05:
            return
        time.sleep(0.5)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def timed_get_ms(url: str, headers: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    get(url, headers)
    return round((time.perf_counter() - start) * 1000, 1)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict:
    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return round(float(value) * _UNITS[unit], 3)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    completed = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    timeouts = re.search(r"timeout (\d+)", errors.group(1)) if errors else None
    # wrk prints 0 latencies when nothing completed in time: report that as unknown, not as 0 ms.
    measured = completed > 0 and latency("50") > 0
    return {
        "rps": round(rps, 1),
        "requests": completed,
        "p50_ms": latency("50") if measured else None,
        "p99_ms": latency("99") if measured else None,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def wrk_command(url: str, *, seconds: float, headers: dict[str, str] | None = None, connections: int = 16) -> list[str]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    return [*cmd, url]


def run_wrk(url: str, *, seconds: float, headers: dict[str, str] | None = None) -> dict:
    cmd = wrk_command(url, seconds=seconds, headers=headers)
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def signed_command(text: str, *, command: str = "/update-incident", user: str = "U0BENCH001") -> tuple[bytes, dict]:
    """A Slack slash command as Slack sends it: form body, v0 signature, a trigger id of its own."""
    body = urllib.parse.urlencode(
        {
            "token": "unused",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": CHANNEL,
            "channel_name": "crash",
            "user_id": user,
            "user_name": "bench",
            "command": command,
            "text": text,
            "api_app_id": "A0BENCH",
            "response_url": "https://hooks.slack.invalid/commands/x",
            "trigger_id": f"bench.{uuid.uuid4().hex}",
        }
    ).encode()
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def post_command(base: str, text: str, **kwargs) -> tuple[float, int, bytes]:
    """POST one signed command; returns (ms, status, body)."""
    body, headers = signed_command(text, **kwargs)
    request = urllib.request.Request(f"{base}/slack/commands", data=body, headers=headers, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            payload, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    return (time.perf_counter() - start) * 1000, status, payload


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))], 1)


def machine(database_url: str) -> dict:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "gunicorn_workers": int(WEB_CONCURRENCY),
    }


def command_line() -> str:
    return "make bench" + (f' BENCH_ARGS="{" ".join(sys.argv[1:])}"' if sys.argv[1:] else "")


def save(part: str, report: dict, render, *, smoke: bool) -> None:
    """Stamp the report (when, command), then write its raw figures to bench/results/<part>-<database>.json
    and `render(report)` as the part's section of docs/BENCHMARKS.md (a smoke run writes neither: it
    only keeps the harness alive, and renders to check the template)."""
    report.update(when=datetime.now(UTC).isoformat(timespec="seconds"), command=command_line())
    markdown = render(report)
    if smoke:
        return
    database = report.get("machine", {}).get("database", "sqlite")
    out = ROOT / "bench" / "results" / f"{part}-{database}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    write_section(f"{part}:{database}", markdown.strip() + f"\n\nRaw figures: `bench/results/{out.name}`.\n")


def write_section(section: str, text: str) -> None:
    """Replace one section of docs/BENCHMARKS.md between its markers, keeping the rest."""
    path = ROOT / "docs" / "BENCHMARKS.md"
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    block = f"{start}\n{text}{end}"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current)


def table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return "–" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
