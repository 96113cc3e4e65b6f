"""Seed a benchmark database and write the ceiling file (the same bytes as `/list`).

Run by bench/run.py in a subprocess with the bench environment; bulk inserts on purpose
(the services would take minutes for 100,000 timeline rows and are not what is measured).
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
    parser.add_argument("--open", type=int, default=12)
    parser.add_argument("--ceiling", type=Path, required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from incidents.models import Component, Incident, IncidentUpdate, Person, Severity, Status

    rng = random.Random(84)  # noqa: S311 - deterministic data, not security
    now = timezone.now()
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
            reported = now - timedelta(minutes=rng.randint(10, 3 * 365 * 24 * 60))
            closed = None if is_open else min(now, reported + timedelta(minutes=rng.randint(5, 48 * 60)))
            incidents.append(
                Incident(
                    title=f"Incident {n}: {rng.choice(['Marketplace', 'Realm', 'Catalyst', 'Wallet'])} degraded",
                    description=f"**Impact**: users saw errors.\n\nIncident {n}.",
                    severity=rng.choice(Severity.values),
                    status=rng.choice(["investigating", "identified", "monitoring"]) if is_open else Status.RESOLVED,
                    reported_at=reported,
                    acknowledged_at=reported + timedelta(minutes=rng.randint(1, 30)),
                    closed_at=closed,
                    point=f"U0BENCH{rng.randint(0, 49):03d}",
                    contact=f"U0BENCH{rng.randint(0, 49):03d}",
                    rca_link="https://example.com/rca" if n % 7 == 0 else "",
                    update_number=args.updates_per_incident - 1,
                    public_entries=args.updates_per_incident - (1 if args.updates_per_incident > 3 else 0),
                    public_update_number=args.updates_per_incident - (2 if args.updates_per_incident > 3 else 1),
                    created_by="bench",
                    modified_by="bench",
                    modified_at=closed or reported,
                    public_modified_at=closed or reported,
                )
            )
        incidents = Incident.objects.bulk_create(incidents, batch_size=2000)
        through = Incident.components.through
        through.objects.bulk_create(
            (through(incident_id=i.pk, component_id=components[i.pk % len(components)].pk) for i in incidents),
            batch_size=5000,
        )
        updates = (
            IncidentUpdate(
                incident_id=i.pk,
                number=k + 1,
                created_at=i.reported_at + timedelta(minutes=k),
                author="bench",
                source="slack",
                status=i.status if k == args.updates_per_incident - 1 else "investigating",
                message=f"Update {k + 1} for incident {i.pk}",
                visibility="internal" if k == 3 else "public",
                public_number=None if k == 3 else k + 1 - (k > 3),
            )
            for i in incidents
            for k in range(args.updates_per_incident)
        )
        IncidentUpdate.objects.bulk_create(updates, batch_size=5000)

    body = Client().get("/list", HTTP_HOST="127.0.0.1").content
    args.ceiling.parent.mkdir(parents=True, exist_ok=True)
    args.ceiling.write_bytes(body)
    print(
        f"seeded {args.incidents} incidents, {args.incidents * args.updates_per_incident} timeline rows; "
        f"/list is {len(body)} bytes"
    )


if __name__ == "__main__":
    main()
