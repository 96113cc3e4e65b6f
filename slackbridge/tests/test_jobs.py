"""The recurring Slack jobs of crashbot/scheduling.py, called directly as the scheduler calls them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Person
from incidents.tests.factories import make_incident
from slackbridge.tasks import refresh_stale_names

pytestmark = pytest.mark.django_db


def test_refresh_stale_names_updates_old_and_missing_names_only(fake_slack, settings):
    settings.SLACK_NAME_MAX_AGE_HOURS = 24
    fake_slack.add_user("U0OLD", "Olga Renamed")
    fake_slack.add_user("U0FRESH", "Fresh New")
    fake_slack.add_user("U0POINT", "Pat Point")
    Person.objects.create(slack_id="U0OLD", display_name="Olga", refreshed_at=timezone.now() - timedelta(days=3))
    Person.objects.create(slack_id="U0FRESH", display_name="Fresh", refreshed_at=timezone.now())
    make_incident(point="U0POINT")  # an open incident's point person with no stored name yet

    assert refresh_stale_names() == {"outcome": "done", "stored": 2}
    names = dict(Person.objects.values_list("slack_id", "display_name"))
    assert names == {"U0OLD": "Olga Renamed", "U0FRESH": "Fresh", "U0POINT": "Pat Point"}
    assert refresh_stale_names() == {"outcome": "done", "stored": 0}


def test_refresh_stale_names_waits_for_the_next_run_when_slack_is_down(fake_slack, settings):
    settings.SLACK_RETRY_BACKOFF = 0.01
    fake_slack.add_user("U0OLD", "Olga Renamed")
    Person.objects.create(slack_id="U0OLD", display_name="Olga", refreshed_at=timezone.now() - timedelta(days=3))
    fake_slack.http_error(503, method="users.info")
    assert refresh_stale_names()["outcome"] == "retry_later"
    assert Person.objects.get(slack_id="U0OLD").display_name == "Olga"


def test_refresh_stale_names_is_off_without_a_bot_token(settings):
    settings.SLACK_BOT_TOKEN = ""
    assert refresh_stale_names() == {"outcome": "off"}
