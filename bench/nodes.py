"""Several nodes (issue 17): two gunicorn servers and two `db_worker`s sharing PostgreSQL, with and
without Redis (`CACHE_URL`) as the shared cache.

Measures, with real processes on loopback:

1. **renders per change**: readers poll `/list` and `/api/v2/summary.json` on both nodes (revalidating
   with `If-None-Match`, sending one public `Host` as a load balancer would) while signed
   `/update-incident` commands change open incidents through node A; renders are read from each
   node's `/metrics` (`crashbot_public_renders_total`, one `PROMETHEUS_MULTIPROC_DIR` per node, as one
   per machine), once with `CACHE_URL` unset (each process its own memory) and once with Redis;
2. **freshness across nodes**: per change, node and URL, the time from the command's acknowledgement
   until every later answer of that node carries the new ETag (target: `PUBLIC_STAMP_TTL` + 1 s);
3. **Slack sync with a worker SIGKILLed**: 200 changes (signed commands through both nodes) to the open
   incidents, the fake Slack's rate limits off and 50 ms per Web API call; worker A is SIGKILLed once
   about a third of the changes are in their threads, a replacement starts 5 s later (as an orchestrator
   restarts a dead container); then every update text is counted in the channel and its threads:
   duplicates and missing must be 0.

Needs PostgreSQL (`DATABASE_URL=postgres://…`) and a Redis on 127.0.0.1:6379 (database 7 is flushed).
`python bench/nodes.py [--smoke] [--rounds N]` (N = changes in the render phase).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402 - needs ROOT on sys.path

REDIS_URL = "redis://127.0.0.1:6379/7"
PUBLIC_HOST = "localhost"  # what a load balancer forwards: the same Host to every node
METRICS_TOKEN = "bench-metrics-token-0123456789"
PATHS = ("/list", "/api/v2/summary.json")
ROUTES = {"/list": "incidents:legacy-list", "/api/v2/summary.json": "incidents:v2-summary"}
READERS_PER_URL = 2  # per node and URL
SYNC_CHANGES = 200
SLACK_CALL_DELAY = 0.05
LEASE_SECONDS = 30  # SLACK_SYNC_LEASE_SECONDS for the run (default 120): how long a dead worker blocks its incident
RESTART_AFTER = 5.0
COMMAND = [""]  # the command line when run alone (else bench/run.py's)


def run(args) -> dict:
    if not common.on_postgres():
        return {"skipped": "needs PostgreSQL"}
    smoke = args.smoke
    changes = args.rounds or (4 if smoke else 20)
    interval = 1.5 if smoke else 2.0
    sync_changes = 30 if smoke else SYNC_CHANGES
    incidents = 200 if smoke else 2000
    load_before = os.getloadavg()
    started = time.monotonic()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    db = common.bench_database_url("nodes")
    report: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": common.machine(db),
        "load_average_before": [round(x, 2) for x in load_before],
    }
    with common.fake_slack() as fake:
        base_env = common.bench_env(
            db,
            slack_api_url=fake.api_url,
            METRICS_TOKEN=METRICS_TOKEN,
            SLACK_SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        common.prepare(base_env)
        report["data"] = {"incidents": incidents, "seed_seconds": common.seed(base_env, incidents=incidents)}
        ttl = stamp_ttl(base_env)
        report["public_stamp_ttl"] = ttl
        for mode, cache_url in (("without_redis", ""), ("with_redis", REDIS_URL)):
            cluster = Cluster(base_env, cache_url=cache_url, tag=mode)
            try:
                cluster.start()
                print(f"nodes: {mode}: {changes} changes {interval} s apart, readers on both nodes …", flush=True)
                report[mode] = renders_and_freshness(cluster, changes=changes, interval=interval, ttl=ttl)
                if mode == "with_redis":
                    print(f"nodes: sync: {sync_changes} changes, worker A SIGKILLed mid-run …", flush=True)
                    report["sync"] = sync_with_kill(cluster, fake, changes=sync_changes, db=db, smoke=smoke)
            finally:
                cluster.stop()
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.monotonic() - started, 1)
    report["targets"] = targets(report)
    common.save("nodes", report, markdown, smoke=smoke)
    return report


def stamp_ttl(env: dict[str, str]) -> float:
    code = "from django.conf import settings; print(settings.PUBLIC_STAMP_TTL)"
    out = subprocess.run(
        [common.PY, str(ROOT / "manage.py"), "shell", "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


class Cluster:
    """Two nodes (gunicorn, own port, own metrics directory as two machines) and a worker on each."""

    def __init__(self, base_env: dict[str, str], *, cache_url: str, tag: str) -> None:
        self.tag = tag
        self.envs = {}
        for node in ("a", "b"):
            metrics_dir = common.DATA / f"nodes-metrics-{node}"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env = {**base_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
            env.pop("CACHE_URL", None)
            if cache_url:
                env["CACHE_URL"] = cache_url
            self.envs[node] = env
        self.web: dict[str, tuple[subprocess.Popen, str]] = {}
        self.workers: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        for node, env in self.envs.items():
            self.web[node] = common.start_gunicorn(env, log=f"node-{node}")
            self.workers[node] = common.start_worker(self.worker_env(node), log=f"worker-{node}")

    def worker_env(self, node: str) -> dict[str, str]:
        """Warnings on: the sync logs each post in doubt it resolves, which the report counts."""
        return {**self.envs[node], "LOG_LEVEL": "WARNING"}

    def base(self, node: str) -> str:
        return self.web[node][1]

    def stop(self) -> None:
        common.stop(*(p for p, _ in self.web.values()), *self.workers.values())

    def renders(self) -> dict[str, float]:
        """Renders by route, summed over both nodes (each node's scrape adds up its own processes)."""
        from prometheus_client.parser import text_string_to_metric_families

        total: dict[str, float] = {}
        for node in self.web:
            status, _, body = common.get(
                f"{self.base(node)}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}", "Host": PUBLIC_HOST}
            )
            assert status == 200, f"/metrics of node {node}: {status}"
            for family in text_string_to_metric_families(body.decode()):
                for sample in family.samples:
                    if sample.name == "crashbot_public_renders_total":
                        route = sample.labels["route"]
                        total[route] = total.get(route, 0) + sample.value
        return total


def open_incident_ids(base: str) -> list[int]:
    status, _, body = common.get(f"{base}/list", {"Host": PUBLIC_HOST})
    assert status == 200, status
    return [item["id"] for item in json.loads(body)["open"]]


def command(base: str, text: str) -> float:
    """Send one signed command; returns when it was acknowledged (time.monotonic)."""
    ms, status, payload = common.post_command(base, text)
    assert status == 200, (status, payload[:200])
    return time.monotonic()


# --- 1 and 2: renders per change, freshness across nodes -----------------------------------------------------------
def renders_and_freshness(cluster: Cluster, *, changes: int, interval: float, ttl: float) -> dict:
    ids = open_incident_ids(cluster.base("a"))
    log: list[tuple[float, float, str, str, int, str]] = []  # (start, end, node, path, status, etag)
    stop = threading.Event()
    lock = threading.Lock()

    def reader(node: str, path: str) -> None:
        etag = ""
        url = f"{cluster.base(node)}{path}"
        while not stop.is_set():
            headers = {"Host": PUBLIC_HOST, "Accept-Encoding": "gzip"}
            if etag:
                headers["If-None-Match"] = etag
            begin = time.monotonic()
            status, response_headers, _ = common.get(url, headers)
            end = time.monotonic()
            etag = response_headers.get("ETag", etag)
            with lock:
                log.append((begin, end, node, path, status, etag))
            time.sleep(0.02)

    threads = [
        threading.Thread(target=reader, args=(node, path), daemon=True)
        for node in ("a", "b")
        for path in PATHS
        for _ in range(READERS_PER_URL)
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)  # every process has rendered the current bodies
    before = cluster.renders()
    sent: list[tuple[float, float]] = []  # (sent, acknowledged)
    tag = uuid.uuid4().hex[:6]
    for n in range(changes):
        t_send = time.monotonic()
        t_ack = command(cluster.base("a"), f"{ids[n % len(ids)]} Render change {n} of run {tag}")
        sent.append((t_send, t_ack))
        time.sleep(max(0.0, interval - (time.monotonic() - t_send)))
    time.sleep(max(0.0, ttl + 1.5 - interval))
    after = cluster.renders()
    stop.set()
    for thread in threads:
        thread.join(timeout=90)

    freshness = []  # seconds, per change × node × path
    late = []
    for i, (t_send, t_ack) in enumerate(sent):
        window_end = sent[i + 1][0] if i + 1 < len(sent) else float("inf")
        for path in PATHS:
            old = {e for (b, _, _, p, s, e) in log if p == path and b < t_send and s in (200, 304)}
            for node in ("a", "b"):
                answers = sorted(
                    (b, e) for (b, _, nd, p, s, e) in log if nd == node and p == path and t_send <= b < window_end
                )
                fresh_at = None
                for begin, etag in answers:
                    if etag in old:
                        fresh_at = None
                    elif fresh_at is None:
                        fresh_at = begin
                if fresh_at is None:
                    late.append({"change": i, "node": node, "path": path})
                    continue
                freshness.append(round(max(0.0, fresh_at - t_ack), 3))
    delta = {route: after.get(route, 0) - before.get(route, 0) for route in ROUTES.values()}
    versions = {
        path: len({e for (b, _, _, p, s, e) in log if p == path and b >= sent[0][0] and s in (200, 304)})
        for path in PATHS
    }
    return {
        "changes": changes,
        "interval_s": interval,
        "requests": len(log),
        "non_2xx_3xx": sum(1 for entry in log if entry[4] not in (200, 304)),
        "renders": {path: delta[ROUTES[path]] for path in PATHS},
        "renders_per_change": {path: round(delta[ROUTES[path]] / changes, 2) for path in PATHS},
        "versions_seen": versions,
        "freshness_s": {
            "samples": len(freshness),
            "p50": common.percentile(freshness, 50) if freshness else None,
            "p99": percentile3(freshness, 99),
            "max": max(freshness) if freshness else None,
            "not_fresh_before_next_change": late,
            "target": ttl + 1,
        },
    }


def percentile3(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


# --- 3: 200 changes to Slack, one worker SIGKILLed ---------------------------------------------------------------
CHANGE = re.compile(r"Sync change (\d+) of run (\w+)")
KEY = re.compile(r"\b[A-Z]+-\d+\b")


def slack_texts(fake) -> tuple[list[str], list[str]]:
    """(top-level messages, thread replies) of the incidents channel, as Slack holds them."""
    tops = fake.messages(common.CHANNEL)
    replies = [r.get("text", "") for m in tops for r in fake.replies(common.CHANNEL, m["ts"])]
    return [m.get("text", "") for m in tops], replies


def changes_in_slack(fake, tag: str) -> dict[int, int]:
    """How many messages (channel or thread) carry each change of this run."""
    tops, replies = slack_texts(fake)
    counts: dict[int, int] = {}
    for text in tops + replies:
        for number, run in CHANGE.findall(text):
            if run == tag:
                counts[int(number)] = counts.get(int(number), 0) + 1
    return counts


def psql(db: str, sql: str) -> str:
    return subprocess.run(["psql", db, "-Atc", sql], capture_output=True, text=True, check=True).stdout.strip()


def wait_quiet(fake, seconds: float = 3.0, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    count, since = len(fake.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now_count = len(fake.calls)
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return


def sync_with_kill(cluster: Cluster, fake, *, changes: int, db: str, smoke: bool) -> dict:
    wait_quiet(fake)  # the render phase's updates are in Slack
    fake.clear_faults()
    fake.delay(SLACK_CALL_DELAY)
    ids = open_incident_ids(cluster.base("a"))
    tag = uuid.uuid4().hex[:8]
    kill_at = changes // 3
    state: dict = {}
    calls_before = len(fake.calls)
    # Worker logs are appended to across runs: only what this phase adds is read.
    logs = [common.DATA / f"{name}.log" for name in ("worker-a", "worker-a2", "worker-b")]
    log_offsets = {path: path.stat().st_size if path.exists() else 0 for path in logs}

    def send(node: str, numbers: list[int]) -> None:
        for n in numbers:
            command(cluster.base(node), f"{ids[n % len(ids)]} Sync change {n} of run {tag}")

    senders = [
        threading.Thread(target=send, args=(node, list(range(k, changes, 4))), daemon=True)
        for k, node in enumerate(("a", "b", "a", "b"))
    ]
    started = time.monotonic()
    for thread in senders:
        thread.start()
    replacement = None
    deadline = started + (120 if smoke else 600)
    while time.monotonic() < deadline:
        present = changes_in_slack(fake, tag)
        if "killed_at" not in state and len(present) >= kill_at:
            cluster.workers["a"].send_signal(signal.SIGKILL)
            cluster.workers["a"].wait()
            state["killed_at"] = time.monotonic()
            state["in_slack_at_kill"] = len(present)
            state["claims_in_doubt_at_kill"] = int(
                psql(db, "SELECT count(*) FROM slackbridge_slackmessage WHERE ts=''")
            )
        if "killed_at" in state and replacement is None and time.monotonic() - state["killed_at"] >= RESTART_AFTER:
            replacement = common.start_worker(cluster.worker_env("a"), log="worker-a2")
            cluster.workers["a2"] = replacement
            state["restarted_at"] = time.monotonic()
        if all(not t.is_alive() for t in senders) and "sent_at" not in state:
            state["sent_at"] = time.monotonic()
        in_doubt = int(psql(db, "SELECT count(*) FROM slackbridge_slackmessage WHERE ts=''"))
        if len(present) == changes and in_doubt == 0 and "sent_at" in state and replacement is not None:
            state["converged_at"] = time.monotonic()
            break
        time.sleep(0.2)
    wait_quiet(fake, seconds=LEASE_SECONDS + 5 if not smoke else 5)  # a late re-post would show here
    counts = changes_in_slack(fake, tag)
    tops, _ = slack_texts(fake)
    keys = [m.group(0) for m in map(KEY.search, tops) if m]
    recorded = int(psql(db, f"SELECT count(*) FROM incidents_incidentupdate WHERE message LIKE '%of run {tag}'"))  # noqa: S608 - our own hex tag
    worker_logs = "".join(path.read_bytes()[offset:].decode(errors="replace") for path, offset in log_offsets.items())
    return {
        "changes": changes,
        "recorded_in_database": recorded,
        "open_incidents": len(ids),
        "slack_call_delay_s": SLACK_CALL_DELAY,
        "lease_seconds": LEASE_SECONDS,
        "killed_after_changes_in_slack": state.get("in_slack_at_kill"),
        "claims_in_doubt_at_kill": state.get("claims_in_doubt_at_kill"),
        "replacement_started_after_kill_s": RESTART_AFTER,
        "in_slack": len(counts),
        "missing": changes - len(counts),
        "duplicates": sum(c - 1 for c in counts.values() if c > 1),
        "duplicated_changes": sorted(n for n, c in counts.items() if c > 1),
        "headlines": len(keys),
        "duplicate_headlines": len(keys) - len(set(keys)),
        "sending_s": round(state["sent_at"] - started, 1) if "sent_at" in state else None,
        "catch_up_after_kill_s": round(state["converged_at"] - state["killed_at"], 1)
        if "converged_at" in state
        else None,
        "catch_up_after_last_change_s": round(state["converged_at"] - state["sent_at"], 1)
        if "converged_at" in state
        else None,
        "web_api_calls": len(fake.calls) - calls_before,
        "posts_in_doubt_found_in_slack": worker_logs.count("found it in Slack, not posting it again"),
        "posts_in_doubt_posted_again": worker_logs.count("Slack does not have it; posting it again"),
    }


# --- report ------------------------------------------------------------------------------------------------------
def targets(report: dict) -> dict[str, bool]:
    checks = {}
    for mode in ("without_redis", "with_redis"):
        fresh = report[mode]["freshness_s"]
        checks[f"freshness_{mode}"] = (
            fresh["max"] is not None and fresh["max"] <= fresh["target"] and not fresh["not_fresh_before_next_change"]
        )
    checks["renders_per_change_with_redis_about_one"] = all(
        v <= 1.5 for v in report["with_redis"]["renders_per_change"].values()
    )
    sync = report["sync"]
    checks["sync_no_duplicates"] = sync["duplicates"] == 0 and sync["duplicate_headlines"] == 0
    checks["sync_none_missing"] = sync["missing"] == 0
    return checks


def markdown(report: dict) -> str:
    m = report["machine"]
    rows = []
    for mode, label in (("without_redis", "without `CACHE_URL`"), ("with_redis", "`CACHE_URL` = Redis")):
        r = report[mode]
        f = r["freshness_s"]
        rows.append(
            [
                label,
                r["changes"],
                r["requests"],
                r["renders_per_change"]["/list"],
                r["renders_per_change"]["/api/v2/summary.json"],
                f["p50"],
                f["p99"],
                f["max"],
                len(f["not_fresh_before_next_change"]),
            ]
        )
    s = report["sync"]
    verdicts = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in report["targets"].items())
    return f"""## Several nodes on {m["database"]}

Written by `bench/nodes.py` from a real run of `{COMMAND[0] or common.command_line()}` on {
        report["started"]
    }. Machine: {m["cpus"]} CPUs shared with the team's other suites, load
average {" / ".join(map(str, report["load_average_before"]))} before and
{" / ".join(map(str, report["load_average_after"]))} after (1 / 5 / 15 min); {m["platform"]}, Python {m["python"]}.
Two gunicorn servers ({m["gunicorn_workers"]} sync workers each, own port and own `PROMETHEUS_MULTIPROC_DIR`, as two
machines) and two `db_worker`s on one PostgreSQL database seeded with {report["data"]["incidents"]:,} incidents;
Redis at `{REDIS_URL}` (flushed first) as `CACHE_URL`, or no `CACHE_URL`. `PUBLIC_STAMP_TTL` =
{report["public_stamp_ttl"]} s.

**Renders and freshness.** {READERS_PER_URL} readers per node and URL poll `/list` and `/api/v2/summary.json`
(`If-None-Match`, `Accept-Encoding: gzip`, one public `Host` for both nodes as a load balancer forwards it)
while signed `/update-incident` commands change an open incident through node A every
{report["with_redis"]["interval_s"]} s. Renders are `crashbot_public_renders_total` from both nodes' `/metrics`
(the bodies a view had to render), per change, summed over both nodes. Freshness: per change, node and URL, the
time from the command's acknowledgement until every later answer of that node carries the new ETag.

{
        common.table(
            [
                "cache",
                "changes",
                "requests",
                "`/list` renders per change",
                "summary renders per change",
                "freshness p50 s",
                "p99 s",
                "max s",
                "not fresh before next change",
            ],
            rows,
        )
    }

**Slack sync with a worker SIGKILLed.** {s["changes"]} signed `/update-incident` commands (4 senders, both
nodes) to the {s["open_incidents"]} open incidents ({s["recorded_in_database"]} recorded in the database), fake
Slack without rate limits and {int(s["slack_call_delay_s"] * 1000)} ms per Web API call,
`SLACK_SYNC_LEASE_SECONDS={s["lease_seconds"]}`. Worker A was SIGKILLed once {s["killed_after_changes_in_slack"]}
changes were in their threads ({s["claims_in_doubt_at_kill"]} message claims without `ts` at that moment); a
replacement started {s["replacement_started_after_kill_s"]} s later. Result: {s["in_slack"]} of {s["changes"]} in
Slack, **{s["duplicates"]} duplicates**, **{s["missing"]} missing**, {s["headlines"]} headlines
({s["duplicate_headlines"]} duplicated); sending took {s["sending_s"]} s, Slack was in line
{s["catch_up_after_last_change_s"]} s after the last change ({s["catch_up_after_kill_s"]} s after the kill);
{s["web_api_calls"]} Web API calls; posts in doubt (cut by the kill) that the surviving workers found in Slack
and recorded instead of posting again: {s["posts_in_doubt_found_in_slack"]}, posted again because Slack did not
have them: {s["posts_in_doubt_posted_again"]}.

Targets: renders per change with Redis ≤ 1.5 per URL for both nodes together, freshness ≤ `PUBLIC_STAMP_TTL` + 1 s,
0 duplicate and 0 missing Slack posts → {verdicts}. Whole part: {report["seconds"]} s.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--rounds", type=int, help="changes in the render/freshness phase")
    COMMAND[0] = " ".join(
        ["DATABASE_URL=postgres://postgres@127.0.0.1:5432/crashbot python bench/nodes.py", *sys.argv[1:]]
    )
    report = run(parser.parse_args())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
