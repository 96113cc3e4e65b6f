import pytest

from slackbridge.tests.fakeslack import DEFAULT_CHANNEL, FakeSlack

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def fake_slack(settings):
    """A running fake Slack Web API, with Django configured to talk to it."""
    from slackbridge.management.commands.slack_manifest import BOT_SCOPES

    # The token has exactly the scopes the manifest asks for: the suite proves they suffice.
    with FakeSlack(scopes=set(BOT_SCOPES)) as fake:
        settings.SLACK_API_URL = fake.api_url
        settings.SLACK_BOT_TOKEN = "xoxb-test"
        settings.SLACK_INCIDENTS_CHANNEL = DEFAULT_CHANNEL
        settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
        yield fake
