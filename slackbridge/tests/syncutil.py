"""Helpers for the outbound-sync tests: run the real worker over the task queue."""

from django.core.management import call_command
from django_tasks_db.models import DBTaskResult


def run_worker() -> int:
    """Run ``manage.py db_worker --batch``: every task that is due, then return how many ran."""
    before = DBTaskResult.objects.exclude(status="READY").count()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
    return DBTaskResult.objects.exclude(status="READY").count() - before


def queued() -> int:
    return DBTaskResult.objects.filter(status="READY").count()
