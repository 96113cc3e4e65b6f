"""The storm: readers at full load while the team posts an update every 5 s.

Per endpoint (`/list`, `/`, `summary.json`) and encoding (identity, gzip), in interleaved rounds: the
ceiling (WhiteNoise serving the endpoint's bytes, quiet), then the endpoint under the same wrk load
while a signed `/update-incident` lands every 5 s through gunicorn (the worker running, syncing to
the fake Slack) and a separate reader polls the endpoint on fresh connections. Each change must reach
every reader within `PUBLIC_STAMP_TTL` + 1 s: after the command's acknowledgement (the change is
committed by then), any poll that starts later and still gets an ETag seen before the change is
stale; the longest such gap is the change's staleness.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

try:
    from bench import common
except ImportError:  # run as `python bench/storm.py`
    import common

ENDPOINTS = common.ENDPOINTS
VARIANTS = {"200": {}, "200_gzip": {"Accept-Encoding": "gzip"}}
TARGET_RATIO = 0.6
TARGET_P99_MS = 250
UPDATE_EVERY_S = 5.0
PUBLIC_STAMP_TTL = 1.0  # the settings default, which the bench does not change


class Storm:
    """The writer (a signed update every 5 s) and one reader polling on fresh connections."""

    def __init__(self, base: str, url: str, headers: dict, incident_ids: list[int]) -> None:
        self.base, self.url, self.headers, self.incident_ids = base, url, headers, incident_ids
        self.stopping = threading.Event()
        self.polls: list[tuple[float, str | None]] = []  # (start time, ETag)
        self.changes: list[tuple[float, int]] = []  # (acknowledged at, status)
        self.ack_ms: list[float] = []
        self.threads = [threading.Thread(target=self.write), threading.Thread(target=self.read)]

    def __enter__(self) -> Storm:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def write(self) -> None:
        n = 0
        while not self.stopping.wait(UPDATE_EVERY_S):
            incident = self.incident_ids[n % len(self.incident_ids)]
            ms, status, _ = common.post_command(self.base, f"{incident} Storm update {time.time_ns()}: still watching")
            self.changes.append((time.monotonic(), status))
            self.ack_ms.append(ms)
            n += 1

    def read(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            _, headers, _ = common.get(self.url, self.headers)
            self.polls.append((started, headers.get("ETag")))
            time.sleep(0.02)

    def staleness(self) -> list[float]:
        """Per change: how long after its acknowledgement a new poll could still get an old ETag (0 if none).

        Only polls before the next change's acknowledgement count for a change: after that, an ETag
        from just before the next change is the next change's staleness, not this one's.
        """
        out = []
        acks = [acked for acked, _ in self.changes] + [float("inf")]
        for acked, until in zip(acks, acks[1:], strict=False):
            seen_before = {etag for started, etag in self.polls if started < acked}
            stale = [s - acked for s, etag in self.polls if acked <= s < until and etag in seen_before]
            out.append(round(max(stale, default=0.0), 3))
        return out


def run(args) -> dict:
    incidents = 300 if args.smoke else 10_000
    seconds = args.seconds or (6 if args.smoke else 10)
    rounds = args.rounds or (1 if args.smoke else 3)
    endpoints = ENDPOINTS[:1] if args.smoke else ENDPOINTS
    common.ensure_wrk()
    with common.fake_slack(delay=0.05) as fake:
        database_url, env, seed_seconds = common.seeded_with_ceilings(
            "storm", incidents=incidents, slack_api_url=fake.api_url
        )
        server, base = common.start_gunicorn(env, log="storm")
        worker = common.start_worker(env, log="storm-worker")
        runs: dict[tuple[str, str], list[dict]] = {}
        try:
            open_ids = [item["id"] for item in json.loads(common.get(f"{base}/list")[2])["open"]]
            for number in range(rounds):
                for name, path, static in endpoints:
                    for variant, headers in VARIANTS.items():
                        print(f"storm round {number + 1}/{rounds}: {name} {variant} …", flush=True)
                        common.wait_idle(base)
                        ceiling = common.run_wrk(
                            f"{base}/static/{common.CEILING_DIR}/{static}", seconds=seconds, headers=headers
                        )
                        common.wait_idle(base)
                        with Storm(base, f"{base}{path}", headers, open_ids) as storm:
                            loaded = common.run_wrk(f"{base}{path}", seconds=seconds, headers=headers)
                        loaded.update(
                            ceiling_rps=ceiling["rps"],
                            ratio=round(loaded["rps"] / ceiling["rps"], 3) if ceiling["rps"] else 0.0,
                            changes=len(storm.changes),
                            change_errors=sum(1 for _, status in storm.changes if status != 200),
                            staleness_s=storm.staleness(),
                            ack_ms=[round(ms, 1) for ms in storm.ack_ms],
                            polls=len(storm.polls),
                        )
                        runs.setdefault((name, variant), []).append(loaded)
        finally:
            common.stop(worker, server)
    results = {}
    for name, path, _ in endpoints:
        for variant in VARIANTS:
            items = runs[(name, variant)]
            ratios = [r["ratio"] for r in items]
            median = items[sorted(range(len(items)), key=ratios.__getitem__)[len(items) // 2]]
            staleness = [s for r in items for s in r["staleness_s"]]
            errors = sum(r["non_2xx_3xx"] + r["timeouts"] + r["change_errors"] for r in items)
            p99s = [r["p99_ms"] if r["p99_ms"] is not None else float("inf") for r in items]
            p99 = statistics.median(p99s)
            result = {
                "path": path,
                "rps": median["rps"],
                "ceiling_rps": median["ceiling_rps"],
                "ratio": statistics.median(ratios),
                "rounds_ratio": ratios,
                "p50_ms": median["p50_ms"],
                "p99_ms": p99,
                "p99_ms_rounds": p99s,
                "errors": errors,
                "changes": sum(r["changes"] for r in items),
                "staleness_max_s": max(staleness, default=None),
                "ack_ms_max": max((ms for r in items for ms in r["ack_ms"]), default=None),
            }
            result["met"] = (
                result["ratio"] >= TARGET_RATIO
                and p99 < TARGET_P99_MS
                and errors == 0
                and result["changes"] > 0
                and (result["staleness_max_s"] or 0) <= PUBLIC_STAMP_TTL + 1
            )
            results[f"{name}_{variant}"] = result
    report = {
        "machine": common.machine(database_url),
        "data": {"incidents": incidents, "timeline_rows": incidents * 10, "seed_seconds": seed_seconds},
        "wrk": {"threads": 2, "connections": 16, "seconds": seconds, "rounds": rounds},
        "targets": {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS, "staleness_s": PUBLIC_STAMP_TTL + 1},
        "results": results,
    }
    common.save("storm", report, markdown, smoke=args.smoke)
    return report


def markdown(report: dict) -> str:
    m, t = report["machine"], report["targets"]
    rows = [
        [
            f"`{v['path']}`",
            key.split("_", 1)[1].replace("_", " "),
            v["rps"],
            v["ceiling_rps"],
            v["ratio"],
            " / ".join(map(str, v["rounds_ratio"])),
            v["p50_ms"],
            v["p99_ms"],
            " / ".join(map(str, v["p99_ms_rounds"])),
            v["errors"],
            v["changes"],
            v["staleness_max_s"],
            v["ack_ms_max"],
            "met" if v["met"] else "MISSED",
        ]
        for key, v in report["results"].items()
    ]
    header = [
        "endpoint",
        "variant",
        "req/s",
        "ceiling req/s",
        "ratio",
        "every round",
        "p50 ms",
        "p99 ms",
        "p99 every round",
        "errors",
        "changes",
        "staleness max s",
        "ack max ms",
        "",
    ]
    return f"""## Storm: readers at full load while updates land every {UPDATE_EVERY_S:g} s ({m["database"]})

`{report["command"]}` on {report["when"]}: {m["cpus"]} CPUs, {m["database"]}, gunicorn with {m["gunicorn_workers"]}
sync workers and the access log on, the worker running and syncing to the fake Slack (50 ms per call),
{report["data"]["incidents"]:,} incidents in the seed's realistic shapes. Each run: the ceiling (WhiteNoise
serving the endpoint's bytes in the same encoding, quiet), then `wrk -t2 -c16 -d{report["wrk"]["seconds"]}s` on the
endpoint while a signed `/update-incident` lands every {UPDATE_EVERY_S:g} s and one more reader polls on fresh
connections; {report["wrk"]["rounds"]} interleaved rounds, ratio and p99 = median of the rounds. Staleness: after
a change was acknowledged (and before the next one), the latest poll that still got an ETag from before it.

{common.table(header, rows)}

Targets: ratio ≥ {t["ratio"]}, p99 < {t["p99_ms"]} ms, 0 errors, staleness ≤ {t["staleness_s"]:g} s
(`PUBLIC_STAMP_TTL` + 1 s).
"""


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--rounds", type=int)
    run(parser.parse_args())
