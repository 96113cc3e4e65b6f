"""The scheduler's rules, called directly with a controlled clock (real processes: test_scheduler_processes.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from crashbot import scheduling
from crashbot.models import ScheduledJob
from crashbot.scheduler import run_due_jobs
from crashbot.scheduling import Job
from crashbot.tests import jobs

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RECORD = Job("test.record", timedelta(hours=1), "crashbot.tests.jobs.record")


@pytest.fixture(autouse=True)
def _calls():
    jobs.CALLS.clear()
    yield
    jobs.CALLS.clear()


def test_a_new_job_runs_at_once_then_every_period():
    assert run_due_jobs(worker_id="w1", now=T0, jobs=[RECORD]) == ["test.record"]
    assert run_due_jobs(worker_id="w1", now=T0 + timedelta(minutes=59), jobs=[RECORD]) == []
    assert run_due_jobs(worker_id="w2", now=T0 + timedelta(hours=1), jobs=[RECORD]) == ["test.record"]
    assert jobs.CALLS == ["record", "record"]
    row = ScheduledJob.objects.get(name="test.record")
    assert row.next_run_at == T0 + timedelta(hours=2)
    assert (row.runs, row.leased_by, row.lease_until, row.last_error) == (2, "", None, "")


def test_runs_missed_while_every_worker_was_down_happen_once():
    run_due_jobs(worker_id="w1", now=T0, jobs=[RECORD])
    back = T0 + timedelta(hours=5, minutes=20)  # five due times passed with no worker
    assert run_due_jobs(worker_id="w1", now=back, jobs=[RECORD]) == ["test.record"]
    assert run_due_jobs(worker_id="w1", now=back + timedelta(seconds=1), jobs=[RECORD]) == []
    assert jobs.CALLS == ["record", "record"]
    assert ScheduledJob.objects.get(name="test.record").next_run_at == back + timedelta(hours=1)


def test_a_job_held_by_another_worker_is_left_alone_until_its_lease_expires(settings):
    settings.SCHEDULER_LEASE_SECONDS = 60
    ScheduledJob.objects.create(
        name="test.record", next_run_at=T0, lease_until=T0 + timedelta(seconds=60), leased_by="w1"
    )
    assert run_due_jobs(worker_id="w2", now=T0 + timedelta(seconds=30), jobs=[RECORD]) == []
    assert jobs.CALLS == []
    # w1 died mid-run: once its lease has expired, w2 takes the job over.
    assert run_due_jobs(worker_id="w2", now=T0 + timedelta(seconds=61), jobs=[RECORD]) == ["test.record"]
    assert jobs.CALLS == ["record"]


def test_a_failing_job_is_recorded_and_the_others_still_run():
    failing = Job("test.fail", timedelta(minutes=5), "crashbot.tests.jobs.fail")
    missing = Job("test.missing", timedelta(minutes=5), "crashbot.tests.jobs.no_such_function")
    assert run_due_jobs(worker_id="w1", now=T0, jobs=[failing, missing, RECORD]) == [
        "test.fail",
        "test.missing",
        "test.record",
    ]
    assert jobs.CALLS == ["fail", "record"]
    row = ScheduledJob.objects.get(name="test.fail")
    assert "the probe endpoint said no" in row.last_error
    assert (row.leased_by, row.next_run_at) == ("", T0 + timedelta(minutes=5))
    assert "no_such_function" in ScheduledJob.objects.get(name="test.missing").last_error
    # The next good run clears the error.
    fixed = Job("test.fail", timedelta(minutes=5), "crashbot.tests.jobs.record")
    assert run_due_jobs(worker_id="w1", now=T0 + timedelta(minutes=5), jobs=[fixed]) == ["test.fail"]
    assert ScheduledJob.objects.get(name="test.fail").last_error == ""


def test_the_registry_names_importable_functions_once_each():
    from django.utils.module_loading import import_string

    names = [job.name for job in scheduling.JOBS]
    assert len(names) == len(set(names))
    for job in scheduling.JOBS:
        assert callable(import_string(job.func)), job.func
        assert job.every >= timedelta(seconds=1)


def test_prune_deletes_finished_task_rows_older_than_the_setting(settings):
    from crashbot.housekeeping import prune_finished_tasks

    settings.TASK_RESULTS_KEEP_DAYS = 7
    now = datetime.now(tz=UTC)
    common = {"task_path": "slackbridge.tasks.refresh_names", "args_kwargs": {"args": [], "kwargs": {}}}
    DBTaskResult.objects.create(status="SUCCESSFUL", finished_at=now - timedelta(days=8), **common)
    DBTaskResult.objects.create(status="FAILED", finished_at=now - timedelta(days=30), **common)
    recent = DBTaskResult.objects.create(status="SUCCESSFUL", finished_at=now - timedelta(days=6), **common)
    waiting = DBTaskResult.objects.create(status="READY", **common)
    running = DBTaskResult.objects.create(status="RUNNING", **common)
    assert prune_finished_tasks(now=now) == 2
    left = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert left == {recent.pk, waiting.pk, running.pk}
    assert prune_finished_tasks(now=now) == 0


@pytest.mark.django_db(transaction=True)  # the worker loop closes connections, as in production
def test_batch_workers_do_not_schedule():
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
    assert not ScheduledJob.objects.exists()


@pytest.mark.postgres
@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
    reason="threads on SQLite's in-memory test database lock tables; SQLite runs this as real processes",
)
@pytest.mark.django_db(transaction=True)
def test_of_many_workers_claiming_at_once_exactly_one_runs_the_job():
    import threading

    from django.db import connection

    ScheduledJob.objects.create(name="test.record", next_run_at=T0)
    barrier = threading.Barrier(6)
    ran: list[list[str]] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            ran.append(run_due_jobs(worker_id=f"w{n}", now=T0 + timedelta(seconds=1), jobs=[RECORD]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ran) == [[]] * 5 + [["test.record"]]
    assert jobs.CALLS == ["record"]
