"""`make bench`: seed, serve with gunicorn as the Dockerfile does, measure with wrk.

Writes bench/results.json (bench/results-postgres.json on PostgreSQL) and that database's section
of docs/BENCHMARKS.md. `--smoke` runs a few-second version (small seed, 1 s per endpoint, 20 Slack
commands) so CI keeps the harness alive; it writes only bench/results-smoke.json (not committed).
"""

import argparse
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
DATA = ROOT / "bench" / ".data"
SIGNING_SECRET = "bench-signing-secret"
CEILING_PATH = "bench-ceiling/list.json"
TARGETS = {"list_200": 0.8, "list_304": 1.0, "slack_ack_p99_ms": 250}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_database_url() -> str:
    """A database of its own: SQLite file, or `<name>_bench` beside DATABASE_URL's database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        DATA.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DATA / 'bench.sqlite3'}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{DATA / 'bench.sqlite3'}"
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/") + "_bench"
    admin = parts._replace(path="/postgres").geturl()
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return parts._replace(path=f"/{name}").geturl()


def ensure_wrk() -> str:
    if shutil.which("wrk"):
        return "wrk"
    print("installing Debian's wrk …", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )
    return "wrk"


def wait_http(url: str, timeout: float = 30) -> None:
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


def first_request_ms(url: str, headers: dict[str, str] | None = None) -> float:
    """One request before the load: a worker that has not rendered this body yet (cold cache)."""
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as response:  # noqa: S310
        response.read()
    return round((time.perf_counter() - start) * 1000, 1)


def run_wrk(url: str, *, seconds: int, headers: dict[str, str] | None = None) -> dict:
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s", "--latency", url]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def signed_command(text: str, user: str = "U0BENCH001") -> tuple[bytes, dict[str, str]]:
    body = urllib.parse.urlencode(
        {
            "token": "unused",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0INCIDENTS",
            "channel_name": "crash",
            "user_id": user,
            "user_name": "bench",
            "command": "/update-incident",
            "text": text,
            "api_app_id": "A0BENCH",
            "response_url": "https://hooks.slack.invalid/commands/x",
            "trigger_id": "bench.trigger",
        }
    ).encode()
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def slack_ack(base: str, incident_ids: list[int], *, count: int) -> dict:
    def one(n: int) -> tuple[float, int]:
        incident_id = incident_ids[n % len(incident_ids)]
        body, headers = signed_command(f"{incident_id} Bench update {n}: still watching error rates")
        request = urllib.request.Request(f"{base}/slack/commands", data=body, headers=headers, method="POST")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return (time.perf_counter() - start) * 1000, status

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(count)))
    latencies = sorted(ms for ms, _ in results)
    return {
        "requests": count,
        "non_200": sum(1 for _, status in results if status != 200),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to keep the harness from rotting")
    parser.add_argument("--incidents", type=int)
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--slack-commands", type=int)
    parser.add_argument("--rounds", type=int, help="rounds of (ceiling + every endpoint); median reported")
    args = parser.parse_args()
    incidents = args.incidents or (300 if args.smoke else 10_000)
    seconds = args.seconds or (1 if args.smoke else 10)
    commands = args.slack_commands or (20 if args.smoke else 500)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    ensure_wrk()

    from slackbridge.tests.fakeslack import FakeSlack

    fake = FakeSlack().start()
    fake.delay(2.0, except_methods=("views.open", "views.update"))
    database_url = bench_database_url()
    static_root = DATA / "static"
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(static_root),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_INCIDENTS_CHANNEL": "C0INCIDENTS",
        "SLACK_API_URL": fake.api_url,
        "LOG_LEVEL": "ERROR",
    }
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    seed_started = time.monotonic()
    subprocess.run(
        [
            PY,
            str(ROOT / "bench" / "seed.py"),
            "--incidents",
            str(incidents),
            "--ceiling",
            str(static_root / CEILING_PATH),
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )
    seed_seconds = time.monotonic() - seed_started

    port = free_port()
    workers = os.environ.get("WEB_CONCURRENCY", "3")
    gunicorn = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "crashbot.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            workers,
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    worker = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        etag = urllib.request.urlopen(f"{base}/list", timeout=10).headers.get("ETag")  # noqa: S310 - loopback
        results: dict[str, dict] = {}
        plan = [
            ("ceiling_static", f"/static/{CEILING_PATH}", None),
            ("list_200", "/list", None),
            ("list_304", "/list", {"If-None-Match": etag} if etag else None),
            ("summary_json", "/api/v2/summary.json", None),
            ("status_page", "/", None),
        ]
        # Several rounds, each measuring the ceiling and every endpoint back to back: a 2-core machine's
        # throughput drifts by 10-20 % between runs, so a ratio is taken within one round and the
        # median round is reported.
        rounds: dict[str, list[dict]] = {name: [] for name, _, _ in plan}
        for round_number in range(args.rounds):
            for name, path, headers in plan:
                wait_idle(base)
                print(f"round {round_number + 1}/{args.rounds}: wrk {name} {path} …", flush=True)
                first = None if headers or round_number else first_request_ms(f"{base}{path}")
                run = run_wrk(f"{base}{path}", seconds=seconds, headers=headers)
                run["first_request_ms"] = first
                rounds[name].append(run)
        for name, path, _ in plan:
            for run, ceiling_run in zip(rounds[name], rounds["ceiling_static"], strict=True):
                run["ratio_to_ceiling"] = round(run["rps"] / ceiling_run["rps"], 3) if ceiling_run["rps"] else 0.0
            median = sorted(rounds[name], key=lambda run: run["ratio_to_ceiling"])[len(rounds[name]) // 2]
            results[name] = {
                "path": path,
                **median,
                "first_request_ms": rounds[name][0]["first_request_ms"],
                "rounds_rps": [run["rps"] for run in rounds[name]],
                "rounds_ratio": [run["ratio_to_ceiling"] for run in rounds[name]],
            }
        results["list_304"]["etag_sent"] = bool(etag)

        if http_status(f"{base}/slack/commands", method="POST") == 404:
            results["slack_ack"] = {"skipped": "no /slack/commands endpoint in this build"}
            return finish(args, results, database_url, workers, incidents, seconds, seed_seconds)
        print(f"slack: {commands} signed /update-incident commands with every Web API call delayed 2 s …", flush=True)
        open_ids = [item["id"] for item in json.loads(urllib.request.urlopen(f"{base}/list").read())["open"]]  # noqa: S310
        ack = slack_ack(base, open_ids, count=commands)
        fake.clear_faults()
        fake.delay(0.05)
        fake.reset_calls()
        catch_up_started = time.monotonic()
        worker = subprocess.Popen([*manage, "db_worker", "--interval", "0.1"], env=env, cwd=ROOT)
        deadline = catch_up_started + (120 if args.smoke else 900)
        while time.monotonic() < deadline:
            # Only the burst's own updates count (the seeded timeline messages are posted too).
            replies = sum(
                "Bench update" in reply.get("text", "")
                for m in fake.messages("C0INCIDENTS")
                for reply in fake.replies("C0INCIDENTS", m["ts"])
            )
            if replies >= commands:
                break
            time.sleep(0.5)
        ack["worker_catch_up_s"] = round(time.monotonic() - catch_up_started, 1)
        ack["thread_replies_after_catch_up"] = replies
        ack["web_api_calls_during_catch_up"] = len(fake.calls)
        results["slack_ack"] = ack
    finally:
        for proc in (worker, gunicorn):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        fake.stop()

    return finish(args, results, database_url, workers, incidents, seconds, seed_seconds)


def http_status(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"" if method == "POST" else None), timeout=10):  # noqa: S310
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def finish(
    args, results: dict, database_url: str, workers: str, incidents: int, seconds: int, seed_seconds: float
) -> int:
    checks = {
        "list_200_ratio": results["list_200"]["ratio_to_ceiling"] >= TARGETS["list_200"],
        "list_304_ratio": results["list_304"]["ratio_to_ceiling"] >= TARGETS["list_304"],
        "slack_ack_p99": results["slack_ack"].get("p99_ms", float("inf")) < TARGETS["slack_ack_p99_ms"],
    }
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "full",
        "command": " ".join(["bench/run.py", *sys.argv[1:]]) if sys.argv[1:] else "make bench",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
            "gunicorn_workers": int(workers),
        },
        "data": {"incidents": incidents, "timeline_rows": incidents * 10, "seed_seconds": round(seed_seconds, 1)},
        "wrk": {"threads": 2, "connections": 16, "seconds": seconds, "rounds": args.rounds},
        "targets": TARGETS,
        "results": results,
        "targets_met": checks,
    }
    postgres = database_url.startswith("postgres")
    name = "results-smoke.json" if args.smoke else "results-postgres.json" if postgres else "results.json"
    out = ROOT / "bench" / name
    out.write_text(json.dumps(report, indent=2) + "\n")
    if not args.smoke:
        write_markdown(report, section="postgresql" if postgres else "sqlite")
    print(json.dumps(report["results"], indent=2))
    print("targets met:", checks)
    return 0


def _cell(value) -> str:
    return "–" if value is None else str(value)


def write_markdown(report: dict, *, section: str) -> None:
    """Replace this database's section of docs/BENCHMARKS.md, keeping the rest (profile notes, other database)."""
    r = report["results"]
    rows = [
        f"| {name} | `{r[name]['path']}` | {r[name]['rps']} | {_cell(r[name]['p50_ms'])} | {_cell(r[name]['p99_ms'])} "
        f"| {r[name].get('timeouts', 0)} | {_cell(r[name].get('first_request_ms'))} | {r[name]['ratio_to_ceiling']} "
        f"| {' / '.join(str(x) for x in r[name]['rounds_ratio'])} |"
        for name in ("ceiling_static", "list_200", "list_304", "summary_json", "status_page")
    ]
    ack = r["slack_ack"]
    m = report["machine"]
    verdicts = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in report["targets_met"].items())
    raw = "bench/results-postgres.json" if section == "postgresql" else "bench/results.json"
    text = f"""## Latest run on {m["database"]}

Written by `bench/run.py` from a real run of `{report["command"]}` on {report["when"]}
(raw figures in `{raw}`). Other test suites of the team may have been running on the same machine.
Machine: {m["cpus"]} CPUs, {m["platform"]}, Python {m["python"]},
{m["database"]}, gunicorn with {m["gunicorn_workers"]} sync workers as in the Dockerfile. Data:
{report["data"]["incidents"]:,} incidents and {report["data"]["timeline_rows"]:,} timeline rows. Load: Debian's
`wrk -t2 -c16 -d{report["wrk"]["seconds"]}s` on loopback, one endpoint at a time, in one run of
{report["wrk"]["rounds"]} rounds (each round: the ceiling, then every endpoint; the table shows the round with the
median ratio, and the last column every round's ratio).

| measure | path | requests/s | p50 ms | p99 ms | timeouts | first request ms | ratio to ceiling | every round |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

The ceiling is the same bytes as `/list` served as a static file by the same gunicorn + whitenoise.
"first request" is one request before the load (a process that has not rendered that body yet);
p50/p99 are "–" when no request completed within wrk's timeout.

Slack acknowledgement: {ack["requests"]} signed `/update-incident` one-line commands (8 at a time) while the
fake Slack delays every Web API call by 2 s: p50 {ack["p50_ms"]} ms, p99 {ack["p99_ms"]} ms, max
{ack["max_ms"]} ms, {ack["non_200"]} non-200. The worker then brought Slack in line in
{ack["worker_catch_up_s"]} s ({ack["thread_replies_after_catch_up"]} of the {ack["requests"]} updates in their threads,
plus the headlines and the seeded timeline messages of the open incidents;
{ack["web_api_calls_during_catch_up"]} Web API calls, with the fake's latency set to 50 ms per call for the catch-up).

Targets: `/list` 200 ≥ {TARGETS["list_200"]}× ceiling, 304 ≥ {TARGETS["list_304"]}×, ack p99 <
{TARGETS["slack_ack_p99_ms"]} ms → {verdicts}.
"""
    path = ROOT / "docs" / "BENCHMARKS.md"
    path.parent.mkdir(exist_ok=True)
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    block = f"{start}\n{text}{end}"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current)


if __name__ == "__main__":
    sys.exit(main())
