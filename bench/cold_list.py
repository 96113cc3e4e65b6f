"""Cold render of `/list`, in-process: what one request costs a process that has not rendered it.

    python bench/cold_list.py [--incidents 10000] [--repeat 15] [--reseed]

Seeds `bench/.data/cold_list.sqlite3` with bench/seed.py once (kept for the next run, so a
before/after comparison renders the same data), then times `GET /list` through the Django test
client with the rendered-body cache and the version-stamp memo cleared before every request.
Prints the median and the fastest of the repetitions; used for the /list serializer figures in
docs/BENCHMARKS.md. Not a throughput test (that is `make bench`).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    database = DATA / "cold_list.sqlite3"
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "ERROR",
        "STATIC_ROOT": str(DATA / "static"),
    }
    if args.reseed or not database.exists():
        (DATA / "static").mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
        seed = [sys.executable, str(ROOT / "bench" / "seed.py"), "--incidents", str(args.incidents)]
        subprocess.run([*seed, "--ceiling", str(DATA / "cold_list_body.json")], env=env, check=True, cwd=ROOT)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "crashbot.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.cache import caches
    from django.test import Client

    from incidents.caching import CACHE_ALIAS, forget_stamp

    client = Client()
    timings, cpu = [], []
    size = 0
    for _ in range(args.repeat):
        caches[CACHE_ALIAS].clear()
        forget_stamp()
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get("/list", HTTP_HOST="127.0.0.1")
        cpu.append((time.process_time() - start_cpu) * 1000)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
        size = len(response.content)
    # CPU time of this process (SQLite runs in it) moves far less than wall time on a shared machine.
    print(
        f"/list cold render, {args.repeat} requests, {size} bytes: wall median {statistics.median(timings):.1f} ms "
        f"(fastest {min(timings):.1f}); CPU median {statistics.median(cpu):.1f} ms (fastest {min(cpu):.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
