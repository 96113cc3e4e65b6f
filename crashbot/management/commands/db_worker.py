"""``manage.py db_worker``: django-tasks-db's worker, plus the scheduler of ``crashbot.scheduling.JOBS``.

This command shadows the library's one (``crashbot`` comes before ``django_tasks_db`` in
INSTALLED_APPS), so ``make run``, Procfile.dev, docker-compose and any deployment that
already runs ``db_worker`` get the recurring jobs without another process or cron.
"""

import os
from argparse import BooleanOptionalAction

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from crashbot.scheduler import SchedulerThread


class Command(db_worker.Command):
    help = "Run a database background worker and the recurring jobs of crashbot/scheduling.py"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--scheduler",
            action=BooleanOptionalAction,
            default=True,
            help="Also run the recurring jobs (default: on; never in --batch mode)",
        )

    def handle(self, *, scheduler: bool, **options) -> None:
        # With --reload the first process only watches files and restarts a child that runs
        # this command again: only the child (or a worker without --reload) schedules.
        reloader_parent = options["reload"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true"
        if scheduler and not options["batch"] and not reloader_parent:
            SchedulerThread(worker_id=options["worker_id"]).start()
        super().handle(**options)
