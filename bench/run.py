"""`make bench`: every bench part, or some (`make bench BENCH_ARGS="--only storm,ack"`).

Parts (each a module of bench/ with `run(args)`, each starting what it measures and writing its own
section of docs/BENCHMARKS.md and `bench/results/<part>-<database>.json` from that real run):

- warm: `/list`, `/`, `summary.json` against WhiteNoise serving the same bytes (identity, gzip, 304);
- ack: the Slack acknowledgement while the worker runs and the fake Slack is 2 s slow;
- storm: warm reads while an update lands every 5 s, with staleness per change;
- subscriptions: one update to 10,000 email and 200 webhook subscribers;
- growth (PostgreSQL): 1k, 10k and 100k incidents, public endpoints and the admin list;
- nodes (PostgreSQL): two web nodes and two workers on one database, with and without Redis.

On SQLite the PostgreSQL parts are skipped (said so, not failed). `--smoke` runs a few-second version
of every part that can run here, writing nothing, so CI keeps the harness alive.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402 - after the path is set

PARTS = ("warm", "ack", "storm", "subscriptions", "growth", "nodes")
POSTGRES_ONLY = {"growth", "nodes"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few seconds per part, writes nothing")
    parser.add_argument("--only", help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--seconds", type=int, help="wrk seconds per measure (warm, storm, growth)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 in smoke)")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.only.split(",")] if args.only else list(PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    summary = {}
    for part in chosen:
        if part in POSTGRES_ONLY and not common.on_postgres():
            print(f"== {part}: skipped (needs PostgreSQL: DATABASE_URL=postgres://…)", flush=True)
            summary[part] = "skipped: needs PostgreSQL"
            continue
        print(f"== {part}", flush=True)
        started = time.monotonic()
        report = importlib.import_module(f"bench.{part}").run(args)
        summary[part] = {"seconds": round(time.monotonic() - started, 1), **verdicts(report)}
    print(json.dumps(summary, indent=2))
    return 0


def verdicts(report: dict) -> dict:
    """What each part met or missed, for the closing summary (the figures are in its JSON and section)."""
    if "met" in report:
        return {"met": report["met"]}
    if isinstance(report.get("targets"), dict) and all(isinstance(v, bool) for v in report["targets"].values()):
        return {name: ("met" if ok else "MISSED") for name, ok in report["targets"].items()}
    if "skipped" in report:
        return {"skipped": report["skipped"]}
    results = report.get("results", {})
    out = {}
    for name, r in results.items():
        if isinstance(r, dict):
            out[name] = r.get("verdict") or ("met" if r.get("met") else "MISSED")
    return out


if __name__ == "__main__":
    sys.exit(main())
