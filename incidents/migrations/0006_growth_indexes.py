"""Indexes for the admin list at 100,000 incidents (issue 17, docs/BENCHMARKS.md "Growth").

`incident_reported_order` serves the list's order and the date hierarchy; `update_backfill` the
metrics' "was it backfilled" test, which read all timeline rows. On PostgreSQL a trigram
index on `UPPER(title)` serves the admin search (`title__icontains` is `UPPER(title) LIKE
UPPER('%…%')`), and its expression statistics let the planner see how common a word is. pg_trgm is
a trusted extension (PostgreSQL 13+): the database owner may create it. SQLite gets neither.
"""

from django.db import migrations, models

TRIGRAM = "CREATE INDEX IF NOT EXISTS incident_title_trgm ON incidents_incident USING gin (UPPER(title) gin_trgm_ops)"


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(TRIGRAM)


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS incident_title_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0005_staff_slack_identity"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["reported_at", "id"], name="incident_reported_order"),
        ),
        migrations.AddIndex(
            model_name="incidentupdate",
            index=models.Index(
                condition=models.Q(("changes__has_key", "backfill"), ("number", 1)),
                fields=["incident"],
                name="update_backfill",
            ),
        ),
        migrations.RunPython(trigram_index, drop_trigram_index),
    ]
