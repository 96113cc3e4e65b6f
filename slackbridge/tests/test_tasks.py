"""Worker behaviour under Slack trouble: outages, rate limits, permanent errors, slow Slack."""

import logging
import socket
import time

import pytest
from django_tasks_db.models import DBTaskResult

from incidents import services
from incidents.models import Incident, IncidentUpdate, Person, Source
from slackbridge.models import MessageKind, SlackMessage
from slackbridge.tasks import sync_incident
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.syncutil import queued, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quick_retries(settings):
    settings.SLACK_RETRY_ATTEMPTS = 2
    settings.SLACK_RETRY_BACKOFF = 0.01
    settings.SLACK_SYNC_BACKOFF = 0.05
    settings.SLACK_SYNC_BACKOFF_MAX = 0.2


def create(title="Marketplace down", **kwargs):
    return services.incident_create(title=title, author="U0POINT", source=Source.SLACK, **kwargs)


def drain(rounds=20):
    """Run the worker until nothing is queued (deferred retries included)."""
    for _ in range(rounds):
        run_worker()
        if not queued():
            return
        time.sleep(0.1)
    raise AssertionError(f"{queued()} tasks still queued")


@pytest.mark.reliability
def test_outage_during_burst_loses_nothing_and_converges(fake_slack, quick_retries, settings):
    # Retries come back after 2 s: shorter, and on a loaded machine a `--batch` worker pass over the
    # failing tasks outlasts the delay, so the batch never runs out of due tasks while Slack is down.
    settings.SLACK_SYNC_BACKOFF = settings.SLACK_SYNC_BACKOFF_MAX = 2
    fake_slack.http_error(500)  # every call, until cleared
    incidents = [create(f"Incident {n}", severity=f"sev-{n % 5 + 1}") for n in range(5)]
    for n in range(95):
        incident = incidents[n % 5]
        services.incident_update(
            incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message=f"update {n} ✓"
        )
        if n % 10 == 0:
            run_worker()  # tasks fail against the outage and re-queue themselves
    run_worker()
    # Nothing a person entered is lost: every change is in the database.
    assert IncidentUpdate.objects.count() == 100
    assert SlackMessage.objects.exclude(ts="").count() == 0
    assert fake_slack.messages(DEFAULT_CHANNEL) == []
    assert queued() >= 1  # retries are waiting

    fake_slack.clear_faults()
    time.sleep(2.1)
    drain()
    heads = fake_slack.messages(DEFAULT_CHANNEL)
    assert len(heads) == 5  # exactly one headline per incident
    for incident in incidents:
        row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
        replies = fake_slack.replies(DEFAULT_CHANNEL, row.ts)
        assert len(replies) == 19  # one per message, none twice
        assert len({r["text"] for r in replies}) == 19
        head = fake_slack.message(DEFAULT_CHANNEL, row.ts)
        assert "Update #20" in str(head["blocks"])  # the latest state: timeline row 20 (creation is #1)
    assert fake_slack.topic(DEFAULT_CHANNEL).count("\n") == 4
    # A further run posts nothing.
    before = len(fake_slack.calls)
    for incident in incidents:
        sync_incident.enqueue(incident_id=incident.pk)
    drain()
    assert [c.method for c in fake_slack.calls[before:] if c.method.startswith("chat.post")] == []


@pytest.mark.reliability
def test_rate_limit_is_waited_out_not_hammered(fake_slack):
    fake_slack.rate_limit(retry_after=2, method="chat.postMessage", times=1)
    create()
    run_worker()
    posts = fake_slack.calls_to("chat.postMessage")
    assert [c.http_status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 2.0
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1


@pytest.mark.reliability
def test_permanent_error_is_logged_once_and_not_retried(fake_slack, caplog):
    fake_slack.remove_bot_from(DEFAULT_CHANNEL)
    incident = create()
    with caplog.at_level(logging.ERROR, logger="slackbridge"):
        run_worker()
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("slackbridge")]
    assert len(errors) == 1
    assert "not_in_channel" in errors[0]
    assert "/invite" in errors[0]
    assert queued() == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert not SlackMessage.objects.filter(incident=incident).exists()  # a later sync starts clean


@pytest.mark.reliability
def test_connection_refused_is_retried_later(fake_slack, settings, quick_retries):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    real_url = settings.SLACK_API_URL
    settings.SLACK_API_URL = f"http://127.0.0.1:{port}/api/"  # nothing listens there
    create()
    run_worker()
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"]["attempt"] == 1
    settings.SLACK_API_URL = real_url
    time.sleep(0.1)
    drain()
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1


def test_service_call_returns_fast_while_slack_is_slow(fake_slack):
    fake_slack.delay(2.0)
    started = time.monotonic()
    incident = create()
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Still slow")
    assert time.monotonic() - started < 0.5
    assert fake_slack.calls == []
    assert queued() == 1  # both changes coalesced into one pending sync


def test_without_token_nothing_is_queued_and_it_is_logged_once(settings, caplog):
    from slackbridge import tasks

    settings.SLACK_BOT_TOKEN = ""
    tasks._sync_off_logged = False
    with caplog.at_level(logging.INFO, logger="slackbridge"):
        incident = create()
        services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="x")
    assert queued() == 0
    assert [r.getMessage() for r in caplog.records].count(
        "Slack sync is off: SLACK_BOT_TOKEN is empty, so nothing is posted to Slack."
    ) == 1


def test_display_names_are_resolved_by_the_worker_and_used_by_list(fake_slack, client):
    create(point="U0POINT", contact="U0CONTACT")
    assert client.get("/list").json()["open"][0]["point"] == "Assigned"
    fake_slack.reset_calls()
    run_worker()
    assert dict(Person.objects.values_list("slack_id", "display_name")) == {
        "U0POINT": "Ada Point",
        "U0CONTACT": "Carl Contact",
    }
    fake_slack.reset_calls()
    item = client.get("/list").json()["open"][0]
    assert (item["point"], item["contact"]) == ("Ada Point", "Carl Contact")
    assert fake_slack.calls == []  # never looked up on a public request
    # Fresh names are not looked up again on the next sync.
    incident = Incident.objects.get()
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="more")
    run_worker()
    assert fake_slack.calls_to("users.info") == []


@pytest.mark.reliability
def test_sync_while_another_worker_holds_the_incident_comes_back_shortly(fake_slack):
    from django.utils import timezone

    from slackbridge.sync import lease_acquire, lease_release

    incident = create()
    lease_acquire(f"incident:{incident.pk}", "other-worker")
    run_worker()
    assert fake_slack.messages(DEFAULT_CHANNEL) == []
    retry = DBTaskResult.objects.get(status="READY")
    assert 0 < (retry.run_after - timezone.now()).total_seconds() <= 2.5
    lease_release(f"incident:{incident.pk}", "other-worker")
    time.sleep(max(0.0, (retry.run_after - timezone.now()).total_seconds()) + 0.05)
    drain()
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1


@pytest.mark.reliability
def test_sustained_rate_limit_never_outlives_the_lease_and_posts_nothing_twice(fake_slack, settings):
    settings.SLACK_SYNC_LEASE_SECONDS = 4
    fake_slack.rate_limit(retry_after=3, method="chat.postMessage", times=None)  # Slack keeps saying wait
    incident = create()
    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < settings.SLACK_SYNC_LEASE_SECONDS  # gave up before the lease ran out
    assert not SlackMessage.objects.filter(incident=incident, ts="").exists()  # Slack answered: claim dropped
    assert queued() >= 1  # and it comes back later
    fake_slack.clear_faults()
    fake_slack.post_rate_limit(per_second=2.0, burst=1)  # the real per-channel limit, sped up
    for n in range(4):
        services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message=f"m{n}")
    drain(rounds=100)  # the deferred retry waits out its back-off and each 429's Retry-After
    (head,) = fake_slack.messages(DEFAULT_CHANNEL)
    replies = [m["text"].splitlines()[-1] for m in fake_slack.replies(DEFAULT_CHANNEL, head["ts"])]
    assert replies == ["m0", "m1", "m2", "m3"]
    assert any(c.http_status == 429 for c in fake_slack.calls_to("chat.postMessage"))


@pytest.mark.reliability
def test_missing_scope_names_the_scope_to_add(fake_slack, caplog):
    fake_slack.scopes.discard("channels:write.topic")
    create()
    with caplog.at_level(logging.ERROR, logger="slackbridge"):
        run_worker()
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("slackbridge")]
    assert any("missing_scope" in e and "channels:write.topic" in e for e in errors), errors


@pytest.fixture
def lost_answers(fake_slack, settings, quick_retries):
    """Slack posts, but its answer comes after the worker gave up (the same doubt as a worker killed mid-post)."""
    settings.SLACK_WORKER_TIMEOUT = 0.3
    settings.SLACK_RETRY_ATTEMPTS = 1
    fake_slack.delay(1.0, method="chat.postMessage")
    return fake_slack


def finish_after_lost_answer(fake_slack) -> None:
    time.sleep(1.0)  # the fake completes the post it was answering slowly
    fake_slack.clear_faults()
    drain()


def test_a_reply_whose_answer_was_lost_is_found_in_slack_not_posted_twice(fake_slack, lost_answers, caplog):
    fake_slack.clear_faults()
    incident = create()
    drain()
    fake_slack.delay(1.0, method="chat.postMessage")
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Answer lost")
    run_worker()
    claim = SlackMessage.objects.get(kind=MessageKind.REPLY, ts="")
    finish_after_lost_answer(fake_slack)

    (head,) = fake_slack.messages(DEFAULT_CHANNEL)
    posted = [r for r in fake_slack.replies(DEFAULT_CHANNEL, head["ts"]) if "Answer lost" in r["text"]]
    assert len(posted) == 1
    claim.refresh_from_db()
    assert claim.ts == posted[0]["ts"]
    assert "found it in Slack, not posting it again" in caplog.text


def test_a_headline_whose_answer_was_lost_is_found_in_slack_not_posted_twice(fake_slack, lost_answers, caplog):
    incident = create("Checkout down")
    run_worker()
    claim = SlackMessage.objects.get(kind=MessageKind.HEADLINE, ts="")
    finish_after_lost_answer(fake_slack)

    (head,) = fake_slack.messages(DEFAULT_CHANNEL)
    claim.refresh_from_db()
    assert claim.ts == head["ts"]
    assert "found it in Slack, not posting it again" in caplog.text
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, status="monitoring")
    drain()
    assert fake_slack.edit_count(DEFAULT_CHANNEL, head["ts"]) >= 1  # the found headline is the one kept in line
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1


def test_without_the_history_scope_a_post_in_doubt_is_posted_again(fake_slack, lost_answers, caplog):
    """The app installed before the scope was added: it cannot look, so it posts again (at most one duplicate)."""
    fake_slack.scopes.discard("channels:history")
    create("Wallet down")
    run_worker()
    finish_after_lost_answer(fake_slack)
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 2
    assert "missing_scope" in caplog.text
    assert SlackMessage.objects.filter(ts="").count() == 0
