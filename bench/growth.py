"""Growth (issue 17): does a page cost the same with 1,000 incidents as with 100,000?

Seeds one PostgreSQL database three times (1k, 10k and 100k incidents with 10 timeline rows each,
so 1,000,000 rows at the top, and a realistic 5 open incidents; bench/seed.py), and at each size
measures every public endpoint and the admin incident list, its "all" view and its search:

- cold: one request rendered from nothing, in-process. A fresh Python process per size with
  Django's test Client (`DEBUG=False`, the bench environment); before every request the public
  body cache and the version-stamp memo are cleared, so each one renders and queries as the first
  request after a change does. Each endpoint `repeat` times; the median is reported. Query counts and
  the slowest queries at each size are kept as the profile of anything that grows.
- warm: throughput with wrk through gunicorn started as the Dockerfile runs it, one endpoint at a
  time; the cost is 1000 / requests-per-second (ms of the whole server per request). Admin pages
  carry a real session cookie (a superuser logged in through the running server's login form).

The result is cost(largest) / cost(smallest) per endpoint; bounded pages must stay ≤ 1.3×. The
metrics page is reported but not targeted: its date range holds more incidents as history grows.
Writes bench/results/growth-postgresql.json, docs/bench-growth.svg and the growth section of
docs/BENCHMARKS.md. On SQLite it does nothing (the growth figures are PostgreSQL's).

    python bench/growth.py [--smoke] [--seconds 5] [--rounds 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime

try:
    from bench import common
except ImportError:  # run as `python bench/growth.py`
    import common

SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (100, 300)
UPDATES_PER_INCIDENT = 10
TARGET = 1.3
ADMIN_USER, ADMIN_PASSWORD = "bench-growth", "bench-growth-password-0123456789"
CHANGELIST = "/admin/incidents/incident/"
# A static file through the same gunicorn, before and after each size: what the machine's load did
# to throughput meanwhile (the sizes are minutes apart on a shared machine).
CONTROL = "/static/admin/css/base.css"

# (name, path; `{key}` is an incident in the middle of the history, `{id}` its number, admin?, targeted?)
ENDPOINTS = [
    ("list", "/list", False, True),
    ("status_page", "/", False, True),
    ("history", "/history", False, True),
    ("summary_json", "/api/v2/summary.json", False, True),
    ("incidents_json", "/api/v2/incidents.json", False, True),
    ("incident_page", "/incidents/{key}", False, True),
    ("admin_list_open", CHANGELIST, True, True),
    ("admin_list_all", CHANGELIST + "?state=all", True, True),
    ("admin_search_key", CHANGELIST + "?state=all&q={key}", True, True),
    ("admin_search_word", CHANGELIST + "?state=all&q=Marketplace", True, True),
    ("admin_metrics", CHANGELIST + "metrics/", True, False),
]
COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#000000",
]


def run(args: argparse.Namespace) -> dict:
    if not common.on_postgres():
        return {"skipped": "needs PostgreSQL"}
    common.ensure_wrk()
    sizes = SMOKE_SIZES if args.smoke else SIZES
    seconds = args.seconds or (1 if args.smoke else 5)
    rounds = args.rounds or 1
    repeat = 2 if args.smoke else 5
    database_url = common.bench_database_url("growth")
    env = common.bench_env(database_url)
    common.prepare(env)
    loads, per_size = [], {}
    for size in sizes:
        seeded = common.seed(env, incidents=size, updates_per_incident=UPDATES_PER_INCIDENT, ceilings=False)
        _settle(env)
        loads.append(os.getloadavg()[0])
        cold = _cold(env, repeat=repeat)
        warm = _warm(env, key=cold["key"], seconds=seconds, rounds=rounds)
        loads.append(os.getloadavg()[0])
        per_size[size] = {"seed_seconds": seeded, "key": cold["key"], "cold": cold["endpoints"], "warm": warm}
        print(f"growth: {size} incidents done (seeded in {seeded} s)", flush=True)
    results = _ratios(per_size, sizes)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": common.machine(database_url),
        "sizes": list(sizes),
        "timeline_rows": [s * UPDATES_PER_INCIDENT for s in sizes],
        "open_incidents": 5,
        "method": {"cold_repeat": repeat, "wrk_seconds": seconds, "rounds": rounds},
        "load_average_1min": {"min": round(min(loads), 2), "max": round(max(loads), 2)},
        "per_size": {str(k): v for k, v in per_size.items()},
        "results": results,
        "target": TARGET,
    }
    if not args.smoke:
        (common.ROOT / "docs" / "bench-growth.svg").write_text(chart(per_size, sizes))
    common.save("growth", report, markdown, smoke=args.smoke)
    return report


def _settle(env: dict[str, str]) -> None:
    """ANALYZE after a bulk load, as autovacuum would soon do: plans for the size, not for an empty table."""
    url = env["DATABASE_URL"]
    subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True, capture_output=True)


def _cold(env: dict[str, str], *, repeat: int) -> dict:
    """The in-process probe below, in a fresh process with the bench environment."""
    out = subprocess.run(
        [common.PY, __file__, "--cold-probe", str(repeat)],
        env=env,
        cwd=common.ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_probe(repeat: int) -> dict:
    """Runs inside the bench environment: every endpoint rendered `repeat` times from nothing."""
    sys.path.insert(0, str(common.ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crashbot.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client

    from incidents.caching import CACHE_ALIAS, forget_stamp
    from incidents.models import Incident, Status, Visibility

    user, _ = get_user_model().objects.get_or_create(
        username=ADMIN_USER, defaults={"is_staff": True, "is_superuser": True, "email": "bench@example.com"}
    )
    user.set_password(ADMIN_PASSWORD)
    user.save()
    resolved = Incident.objects.filter(visibility=Visibility.PUBLIC, status=Status.RESOLVED).order_by("pk")
    middle = resolved[resolved.count() // 2]
    client = Client()
    client.force_login(user)
    out = {}
    for name, template, _admin, _targeted in ENDPOINTS:
        path = template.format(key=middle.key, id=middle.pk)
        timings = []
        for _ in range(repeat):
            caches[CACHE_ALIAS].clear()
            forget_stamp()
            start = time.perf_counter()
            response = client.get(path, HTTP_HOST="127.0.0.1")
            timings.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
        caches[CACHE_ALIAS].clear()
        forget_stamp()
        queries = []

        def timed(execute, sql, params, many, context, queries=queries):
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append({"time": time.perf_counter() - start, "sql": sql})

        with connection.execute_wrapper(timed):
            body = client.get(path, HTTP_HOST="127.0.0.1").content
        slowest = sorted(queries, key=lambda q: -q["time"])[:3]
        out[name] = {
            "path": path,
            "median_ms": round(statistics.median(timings), 1),
            "fastest_ms": round(min(timings), 1),
            "bytes": len(body),
            "queries": len(queries),
            "query_ms": round(sum(q["time"] for q in queries) * 1000, 1),
            "slowest": [{"ms": round(q["time"] * 1000, 1), "sql": q["sql"][:400]} for q in slowest],
        }
    return {"key": middle.key, "endpoints": out}


def _warm(env: dict[str, str], *, key: str, seconds: float, rounds: int) -> dict:
    proc, base = common.start_gunicorn(env, log="growth-gunicorn")
    try:
        cookie = login(base)
        control = [common.run_wrk(f"{base}{CONTROL}", seconds=seconds)]
        out = {}
        for name, template, admin, _targeted in ENDPOINTS:
            path = template.format(key=key)
            headers = {"Cookie": cookie} if admin else {}
            status, _, _ = common.get(f"{base}{path}", headers)
            if status != 200:
                raise RuntimeError(f"{path} answered {status} through gunicorn")
            runs = []
            for _ in range(rounds):
                common.wait_idle(base)
                runs.append(common.run_wrk(f"{base}{path}", seconds=seconds, headers=headers))
            middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            out[name] = {
                **middle,
                "ms_per_request": _per_request(middle["rps"]),
                "every_round_rps": [r["rps"] for r in runs],
            }
        control.append(common.run_wrk(f"{base}{CONTROL}", seconds=seconds))
        out["control"] = {"path": CONTROL, "every_round_rps": [c["rps"] for c in control]}
        out["control"]["ms_per_request"] = _per_request(statistics.mean(c["rps"] for c in control))
        return out
    finally:
        common.stop(proc)


def _per_request(rps: float) -> float | None:
    return round(1000 / rps, 3) if rps else None


def login(base: str) -> str:
    """Log in through the admin's form as a browser does; returns the `Cookie:` header value."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")

    def request(method: str, path: str, body: str = "", headers: dict | None = None):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        payload = response.read().decode()
        cookies = dict(c.split(";", 1)[0].split("=", 1) for c in response.headers.get_all("Set-Cookie") or [])
        conn.close()
        return response.status, payload, cookies

    _, page, cookies = request("GET", "/admin/login/?next=/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/admin/"}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}"}
    status, _, after = request("POST", "/admin/login/?next=/admin/", form, headers)
    if status != 302 or "sessionid" not in after:
        raise RuntimeError(f"admin login answered {status} without a session")
    cookie = f"sessionid={after['sessionid']}"
    if common.get(f"{base}{CHANGELIST}", {"Cookie": cookie})[0] != 200:
        raise RuntimeError("the session cookie does not open the admin")
    return cookie


def _ratios(per_size: dict, sizes: tuple[int, ...]) -> dict:
    low, high = sizes[0], sizes[-1]
    out = {}
    for name, _template, _admin, targeted in ENDPOINTS:
        # The fastest of the repetitions: the request least delayed by the other suites on the machine.
        cold = per_size[high]["cold"][name]["fastest_ms"] / max(per_size[low]["cold"][name]["fastest_ms"], 0.1)
        cold_median = per_size[high]["cold"][name]["median_ms"] / max(per_size[low]["cold"][name]["median_ms"], 0.1)
        warm_low, warm_high = (
            per_size[low]["warm"][name]["ms_per_request"],
            per_size[high]["warm"][name]["ms_per_request"],
        )
        warm = warm_high / warm_low if warm_low and warm_high else None
        drift = per_size[high]["warm"]["control"]["ms_per_request"] / per_size[low]["warm"]["control"]["ms_per_request"]
        adjusted = warm / drift if warm else None
        verdict = "reported"
        if targeted:
            verdict = "met" if cold <= TARGET and adjusted is not None and adjusted <= TARGET else "MISSED"
        out[name] = {
            "cold_ratio": round(cold, 2),
            "cold_median_ratio": round(cold_median, 2),
            "warm_ratio": round(warm, 2) if warm else None,
            "control_ratio": round(drift, 2),
            "warm_ratio_vs_control": round(adjusted, 2) if adjusted else None,
            "verdict": verdict,
        }
    return out


def markdown(report: dict) -> str:
    sizes = report["sizes"]
    per = report["per_size"]
    labels = [_size_label(s) for s in sizes]
    header = ["endpoint", "path"]
    header += [f"cold {x} ms" for x in labels] + ["cold × (fastest)"]
    header += [f"warm {x} req/s" for x in labels] + ["warm ×", "warm × / control ×", "target ≤ 1.3×"]
    rows = []
    for name, _template, _admin, _targeted in ENDPOINTS:
        path = per[str(sizes[-1])]["cold"][name]["path"]
        result = report["results"][name]
        row = [name, f"`{path}`"]
        row += [f"{per[str(s)]['cold'][name]['fastest_ms']} ({per[str(s)]['cold'][name]['median_ms']})" for s in sizes]
        row += [result["cold_ratio"]]
        row += [per[str(s)]["warm"][name]["rps"] for s in sizes]
        row += [result["warm_ratio"], result["warm_ratio_vs_control"], result["verdict"]]
        rows.append(row)
    query_rows = []
    for name, *_ in ENDPOINTS:
        cells = [
            f"{per[str(s)]['cold'][name]['queries']} / {per[str(s)]['cold'][name]['query_ms']} / "
            f"{per[str(s)]['cold'][name]['bytes'] // 1000} kB"
            for s in sizes
        ]
        slowest = per[str(sizes[-1])]["cold"][name]["slowest"]
        top = f"{slowest[0]['ms']} ms: `{_short_sql(slowest[0]['sql'])}`" if slowest else "–"
        query_rows.append([name, *cells, top])
    missed = [n for n, r in report["results"].items() if r["verdict"] == "MISSED"]
    load = report["load_average_1min"]
    seeds = ", ".join(f"{_size_label(s)} in {per[str(s)]['seed_seconds']} s" for s in sizes)
    method = report["method"]
    control = next(iter(report["results"].values()))["control_ratio"]
    return f"""
## Growth on {report["machine"]["database"]} (issue 17)

Written by `bench/growth.py` on {report["when"]}. Data: bench/seed.py at
{", ".join(f"{s:,}" for s in sizes)} incidents ({", ".join(f"{r:,}" for r in report["timeline_rows"])} timeline rows),
{report["open_incidents"]} of them open, re-seeded into one database per size ({seeds}), then `VACUUM ANALYZE`.
Machine: {report["machine"]["cpus"]} CPUs shared with the other engineers' suites (1-minute load average
{load["min"]}–{load["max"]} during the run), PostgreSQL on loopback.

- **cold**: a fresh Python process per size, Django's test Client in-process (`DEBUG=False`), the public
  body cache and the version-stamp memo cleared before every request, so each request renders and
  queries as the first one after a change; {method["cold_repeat"]} per endpoint, the table shows the fastest
  (median in brackets) and the ratio is the fastest's, the request least delayed by the machine's other work.
- **warm**: `wrk -t2 -c16 -d{method["wrk_seconds"]}s` through gunicorn
  ({report["machine"]["gunicorn_workers"]} sync workers as the Dockerfile), one endpoint at a time, median of
  {method["rounds"]} round(s); the cost is 1 / requests per second. The control, `{CONTROL}` served by the same
  gunicorn before and after each size's endpoints, moved {control}× between the smallest and largest size;
  the warm verdict divides by it (the machine's load drifts over the minutes between sizes).
  Public pages answer from the rendered-body cache here; admin pages render every time (a superuser's
  session cookie from a real login).
- ratio = cost at {labels[-1]} / cost at {labels[0]}; bounded pages must stay ≤ {TARGET}×. The metrics page
  is reported, not targeted (its range holds more incidents as history grows). Admin searches use
  `?state=all` (the list's own "All" filter), as staff do to find a resolved incident.

![Cost per request against the number of incidents, cold and warm](bench-growth.svg)

{common.table(header, rows)}

Missed: {", ".join(missed) if missed else "none"}.

Profile (cold, one request, every query timed): queries / ms spent in SQL / body size at each size,
and the slowest query at {labels[-1]}. A body that grows is a page whose window (the last year of `/list`,
the 90-day strip) holds more incidents as they get denser, not a cost of the history's length.

{common.table(["endpoint", *[f"{x} queries / SQL ms / body" for x in labels], f"slowest at {labels[-1]}"], query_rows)}
"""


def _short_sql(sql: str) -> str:
    return re.sub(r"\s+", " ", sql)[:160].replace("|", "\\|").replace("`", "'")


def _size_label(size: int) -> str:
    return f"{size // 1000}k" if size >= 1000 and size % 1000 == 0 else str(size)


def chart(per_size: dict, sizes: tuple[int, ...]) -> str:
    """Two panels (cold ms, warm ms per request), log-log, a line per endpoint; plain SVG text."""
    width, height, left, top, panel_w, panel_h, gap = 980, 460, 60, 50, 300, 320, 80
    series = {
        "cold": {name: [per_size[s]["cold"][name]["median_ms"] for s in sizes] for name, *_ in ENDPOINTS},
        "warm": {name: [per_size[s]["warm"][name]["ms_per_request"] or 0 for s in sizes] for name, *_ in ENDPOINTS},
    }
    values = [v for panel in series.values() for line in panel.values() for v in line if v > 0]
    y_low = 10 ** math.floor(math.log10(min(values)))
    y_high = 10 ** math.ceil(math.log10(max(values)))
    x_low, x_high = math.log10(sizes[0]), math.log10(sizes[-1])

    def x_at(panel: int, size: int) -> float:
        return left + panel * (panel_w + gap) + (math.log10(size) - x_low) / (x_high - x_low) * panel_w

    def y_at(value: float) -> float:
        value = max(value, y_low)
        return (
            top + panel_h - (math.log10(value) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low)) * panel_h
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="growth-title growth-desc" font-family="sans-serif" font-size="11">',
        '<title id="growth-title">Cost per request as the history grows</title>',
        '<desc id="growth-desc">Two log-log panels. Left: cold render in milliseconds per endpoint at '
        + ", ".join(f"{s:,}" for s in sizes)
        + " incidents. Right: warm cost (1000 / requests per second, milliseconds) through gunicorn. "
        + "; ".join(
            f"{name}: cold {' / '.join(str(v) for v in series['cold'][name])} ms, warm "
            f"{' / '.join(str(v) for v in series['warm'][name])} ms"
            for name, *_ in ENDPOINTS
        )
        + ".</desc>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    for panel, (key, title) in enumerate(
        (("cold", "cold render, ms"), ("warm", "warm, ms per request (1/throughput)"))
    ):
        x0 = left + panel * (panel_w + gap)
        parts.append(f'<text x="{x0}" y="{top - 15}" font-size="13" font-weight="bold">{title}</text>')
        parts.append(f'<rect x="{x0}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#999999"/>')
        decade = y_low
        while decade <= y_high:
            y = y_at(decade)
            parts.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>')
            decade *= 10
        for size in sizes:
            x = x_at(panel, size)
            parts.append(f'<text x="{x:.1f}" y="{top + panel_h + 16}" text-anchor="middle">{size:,}</text>')
        parts.append(
            f'<text x="{x0 + panel_w / 2}" y="{top + panel_h + 34}" text-anchor="middle">incidents (log)</text>'
        )
        for colour, (name, *_rest) in zip(COLOURS, ENDPOINTS, strict=False):
            points = " ".join(
                f"{x_at(panel, s):.1f},{y_at(v):.1f}" for s, v in zip(sizes, series[key][name], strict=True)
            )
            dash = ' stroke-dasharray="5 3"' if name.startswith("admin") else ""
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
    legend_x = left + 2 * (panel_w + gap) - 10
    for row, (colour, (name, *_rest)) in enumerate(zip(COLOURS, ENDPOINTS, strict=False)):
        y = top + 10 + row * 20
        dash = ' stroke-dasharray="5 3"' if name.startswith("admin") else ""
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 30}" y="{y + 4}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Growth bench (issue 17): cost at 1k, 10k and 100k incidents.")
    parser.add_argument("--smoke", action="store_true", help="sizes 100 and 300, 1 s of wrk: keeps the harness alive")
    parser.add_argument("--seconds", type=int, help="wrk seconds per endpoint (default 5, smoke 1)")
    parser.add_argument("--rounds", type=int, help="wrk rounds per endpoint, median reported (default 1)")
    parser.add_argument("--cold-probe", type=int, metavar="REPEAT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_probe:
        print(json.dumps(cold_probe(args.cold_probe)))
        return 0
    report = run(args)
    print(json.dumps(report.get("results", report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
