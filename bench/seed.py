"""Seed a benchmark database in the shapes a real history has, and write the ceiling files.

Shapes: 12 components in 3 groups, 50 people, a few open incidents (default 5), reports spread at a
constant rate (about 9 a day, so 10,000 incidents span three years and 100,000 thirty), about 8 % internal
incidents (every row internal, public counters untouched), about 3 % marked invalid, 1–3 components
per incident, and timelines with an internal note among the public entries. Bulk inserts on purpose
(the services would take minutes for 1,000,000 timeline rows and are not what is measured); the
public counters are set as the services would set them.

`--ceilings DIR` writes, for each measured endpoint, the exact bytes it answers (`list.json`,
`index.html`, `summary.json`), which bench/common.py serves through WhiteNoise as the ceiling.
Run by the bench parts in a subprocess with the bench environment.
"""

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crashbot.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--updates-per-incident", type=int, default=10)
    parser.add_argument("--open", type=int, default=5)
    # 10,000 incidents over three years, the default seed's history; other sizes keep that rate.
    parser.add_argument("--per-day", type=float, default=10_000 / (3 * 365))
    parser.add_argument("--ceilings", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from incidents.models import Component, Incident, IncidentUpdate, Person, Severity, Status, Visibility

    rng = random.Random(84)  # noqa: S311 - deterministic data, not security
    now = timezone.now()
    per = args.updates_per_incident
    # History grows at a constant rate: more incidents means more years behind, not a busier quarter.
    span_minutes = max(24 * 60, int(args.incidents / args.per_day * 24 * 60))
    with transaction.atomic():
        IncidentUpdate.objects.all().delete()
        Incident.components.through.objects.all().delete()
        Incident.objects.all().delete()
        Component.objects.all().delete()
        Person.objects.all().delete()
        components = Component.objects.bulk_create(
            Component(name=f"Service {n}", slug=f"service-{n}", position=n, group=f"Group {n % 3}") for n in range(12)
        )
        Person.objects.bulk_create(Person(slack_id=f"U0BENCH{n:03d}", display_name=f"Person {n}") for n in range(50))
        incidents = []
        for n in range(args.incidents):
            is_open = n < args.open
            internal = not is_open and rng.random() < 0.08
            invalid = not is_open and not internal and rng.random() < 0.03
            reported = now - timedelta(minutes=rng.randint(10, span_minutes))
            # Invalid is not a closed status: it has no closed time (constraint incident_closed_at_iff_resolved).
            closed = None if is_open else min(now, reported + timedelta(minutes=rng.randint(5, 48 * 60)))
            closed = None if invalid else closed
            status = rng.choice(["investigating", "identified", "monitoring"]) if is_open else Status.RESOLVED
            public_entries = 0 if internal else per - (1 if per > 3 else 0)
            incidents.append(
                Incident(
                    title=f"Incident {n}: {rng.choice(['Marketplace', 'Realm', 'Catalyst', 'Wallet'])} degraded",
                    description=f"**Impact**: users saw errors.\n\nIncident {n}.",
                    severity=rng.choice(Severity.values),
                    status=Status.INVALID if invalid else status,
                    visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
                    reported_at=reported,
                    acknowledged_at=reported + timedelta(minutes=rng.randint(1, 30)),
                    closed_at=closed,
                    point=f"U0BENCH{rng.randint(0, 49):03d}",
                    contact=f"U0BENCH{rng.randint(0, 49):03d}",
                    rca_link="https://example.com/rca" if n % 7 == 0 else "",
                    update_number=per - 1,
                    public_entries=public_entries,
                    public_update_number=max(0, public_entries - 1),
                    created_by="bench",
                    modified_by="bench",
                    modified_at=closed or reported,
                    public_modified_at=None if internal else (closed or reported),
                )
            )
        incidents = Incident.objects.bulk_create(incidents, batch_size=2000)
        through = Incident.components.through
        through.objects.bulk_create(
            (
                through(incident_id=i.pk, component_id=c.pk)
                for i in incidents
                for c in rng.sample(components, 1 + i.pk % 3)
            ),
            batch_size=5000,
        )

        def timeline(incident):
            public_number = 0
            for k in range(per):
                internal = incident.visibility == Visibility.INTERNAL or (k == 3 and per > 3)
                if not internal:
                    public_number += 1
                yield IncidentUpdate(
                    incident_id=incident.pk,
                    number=k + 1,
                    created_at=incident.reported_at + timedelta(minutes=k),
                    author=f"U0BENCH{(incident.pk + k) % 50:03d}",
                    source="slack",
                    status=incident.status if k == per - 1 else "investigating",
                    message=("Internal note: paged the database on-call" if internal else f"Update {k + 1}")
                    + f" for incident {incident.pk}",
                    visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
                    public_number=None if internal else public_number,
                )

        IncidentUpdate.objects.bulk_create((u for i in incidents for u in timeline(i)), batch_size=5000)

    sizes = {}
    if args.ceilings:
        args.ceilings.mkdir(parents=True, exist_ok=True)
        from bench.common import ENDPOINTS

        for _, path, name in ENDPOINTS:
            body = Client().get(path, HTTP_HOST="127.0.0.1").content
            (args.ceilings / name).write_bytes(body)
            sizes[path] = len(body)
    print(f"seeded {args.incidents} incidents, {args.incidents * per} timeline rows; bytes: {sizes}")


if __name__ == "__main__":
    main()
