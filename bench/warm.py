"""Warm reads against honest ceilings: each public endpoint next to WhiteNoise serving its exact bytes.

For `/list`, `/` and `summary.json` the seed writes the bytes the endpoint answers to a static file
(`bench/seed.py --ceilings`), and gunicorn (as the Dockerfile runs it: its workers, access log on)
serves both. Three pairs per endpoint, each the endpoint against WhiteNoise doing the same thing:
identity 200, gzip 200 (`Accept-Encoding: gzip`: WhiteNoise answers its `.gz` variant), and 304
(`If-None-Match` with the current ETag: WhiteNoise's own 304 for that file). Rounds are interleaved
(every pair of every endpoint once per round) and each ratio is the median of the rounds.
"First request" is a freshly started gunicorn's first request for that body (no worker has
rendered it): the cold cost a reader pays after a deploy.
"""

from __future__ import annotations

import statistics

try:
    from bench import common
except ImportError:  # run as `python bench/warm.py`
    import common

ENDPOINTS = common.ENDPOINTS
TARGETS = {"200": 0.9, "200_gzip": 0.9, "304": 0.9}
GZIP = {"Accept-Encoding": "gzip"}


def measures(base: str, endpoints: list) -> list[tuple[str, str, str, dict]]:
    """(endpoint, variant, url, headers) for the endpoint and its ceiling, every variant."""
    out = []
    for name, path, static in endpoints:
        ceiling = f"/static/{common.CEILING_DIR}/{static}"
        for variant, headers_for in (("200", lambda _: {}), ("200_gzip", lambda _: GZIP), ("304", _not_modified)):
            out.append((name, variant, f"{base}{path}", headers_for(f"{base}{path}")))
            out.append((name, f"{variant}_ceiling", f"{base}{ceiling}", headers_for(f"{base}{ceiling}")))
    return out


def _not_modified(url: str) -> dict:
    status, headers, _ = common.get(url)
    etag = headers.get("ETag")
    if status != 200 or not etag:
        raise RuntimeError(f"{url} answered {status} without an ETag: no 304 to measure")
    check, _, _ = common.get(url, {"If-None-Match": etag})
    if check != 304:
        raise RuntimeError(f"{url} answered {check} to its own ETag")
    return {"If-None-Match": etag}


def same_bytes(base: str) -> dict:
    """Check the ceilings are what they claim: same length, same encoding as the endpoint."""
    out = {}
    for name, path, static in ENDPOINTS:
        ceiling = f"{base}/static/{common.CEILING_DIR}/{static}"
        _, h1, b1 = common.get(f"{base}{path}")
        _, h2, b2 = common.get(ceiling)
        _, g1, z1 = common.get(f"{base}{path}", GZIP)
        _, g2, z2 = common.get(ceiling, GZIP)
        if g1.get("Content-Encoding") != "gzip" or g2.get("Content-Encoding") != "gzip":
            encodings = (g1.get("Content-Encoding"), g2.get("Content-Encoding"))
            raise RuntimeError(f"{name}: gzip not served by both the endpoint and its ceiling: {encodings}")
        out[name] = {"bytes": len(b1), "ceiling_bytes": len(b2), "gzip_bytes": len(z1), "ceiling_gzip_bytes": len(z2)}
    return out


def run(args) -> dict:
    incidents = 300 if args.smoke else 10_000
    seconds = args.seconds or (1 if args.smoke else 5)
    rounds = args.rounds or (1 if args.smoke else 3)
    endpoints = ENDPOINTS[:1] if args.smoke else ENDPOINTS
    common.ensure_wrk()
    database_url, env, seed_seconds = common.seeded_with_ceilings("warm", incidents=incidents)
    server, base = common.start_gunicorn(env, log="warm")
    try:
        first = {name: common.timed_get_ms(f"{base}{path}") for name, path, _ in ENDPOINTS}
        sizes = same_bytes(base)
        plan = measures(base, endpoints)
        runs: dict[tuple[str, str], list[dict]] = {}
        for number in range(rounds):
            for name, variant, url, headers in plan:
                common.wait_idle(base)
                print(f"warm round {number + 1}/{rounds}: {name} {variant} …", flush=True)
                runs.setdefault((name, variant), []).append(common.run_wrk(url, seconds=seconds, headers=headers))
    finally:
        common.stop(server)
    results = {}
    for name, path, _ in endpoints:
        for variant in TARGETS:
            mine, ceiling = runs[(name, variant)], runs[(name, f"{variant}_ceiling")]
            ratios = [round(a["rps"] / b["rps"], 3) if b["rps"] else 0.0 for a, b in zip(mine, ceiling, strict=True)]
            median = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
            results[f"{name}_{variant}"] = {
                "path": path,
                "rps": mine[median]["rps"],
                "ceiling_rps": ceiling[median]["rps"],
                "p50_ms": mine[median]["p50_ms"],
                "p99_ms": mine[median]["p99_ms"],
                "errors": sum(r["non_2xx_3xx"] + r["timeouts"] for r in mine),
                "ratio": statistics.median(ratios),
                "rounds_ratio": ratios,
                "target": TARGETS[variant],
                "met": statistics.median(ratios) >= TARGETS[variant],
            }
    report = {
        "machine": common.machine(database_url),
        "data": {"incidents": incidents, "timeline_rows": incidents * 10, "seed_seconds": seed_seconds},
        "wrk": {"threads": 2, "connections": 16, "seconds": seconds, "rounds": rounds},
        "first_request_ms": first,
        "bytes": sizes,
        "results": results,
    }
    common.save("warm", report, markdown, smoke=args.smoke)
    return report


def markdown(report: dict) -> str:
    m, r = report["machine"], report["results"]
    rows = [
        [f"`{v['path']}`", key.split("_", 1)[1].replace("_", " "), v["rps"], v["ceiling_rps"], v["p50_ms"]]
        + [v["p99_ms"], v["errors"], v["ratio"], " / ".join(map(str, v["rounds_ratio"])), f"≥ {v['target']}"]
        + ["met" if v["met"] else "MISSED"]
        for key, v in r.items()
    ]
    header = ["endpoint", "variant", "req/s", "ceiling req/s", "p50 ms", "p99 ms", "errors", "ratio", "every round"]
    header += ["target", ""]
    first = ", ".join(f"`{path}` {report['first_request_ms'][name]} ms" for name, path, _ in ENDPOINTS)
    return f"""## Warm reads against WhiteNoise ({m["database"]})

`{report["command"]}` on {report["when"]}: {m["cpus"]} CPUs, {m["database"]}, gunicorn with
{m["gunicorn_workers"]} sync workers and the access log on (the Dockerfile's command), {report["data"]["incidents"]:,}
incidents / {report["data"]["timeline_rows"]:,} timeline rows in the seed's realistic shapes. Load: `wrk -t2 -c16
-d{report["wrk"]["seconds"]}s` on loopback, {report["wrk"]["rounds"]} interleaved rounds; each ratio is the median
of the rounds' ratios, each against WhiteNoise serving the endpoint's exact bytes in the same encoding
(gzip: its `.gz` variant) or answering its own 304.

{common.table(header, rows)}

First request after gunicorn started (no worker had rendered that body): {first}.
"""


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--rounds", type=int)
    run(parser.parse_args())
