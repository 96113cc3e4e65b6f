import pytest

from slackbridge.tests.fakeslack import DEFAULT_CHANNEL, FakeSlack

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def fake_slack(settings):
    """A running fake Slack Web API, with Django configured to talk to it."""
    with FakeSlack() as fake:
        settings.SLACK_API_URL = fake.api_url
        settings.SLACK_BOT_TOKEN = "xoxb-test"
        settings.SLACK_INCIDENTS_CHANNEL = DEFAULT_CHANNEL
        settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
        yield fake
