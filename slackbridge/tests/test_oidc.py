"""Sign in with Slack end to end: the admin login page, the Django views, and real HTTP to the fake Slack's
OpenID Connect endpoints (authorize redirect, openid.connect.token, openid.connect.userInfo, JWKS)."""

import html
import re
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from incidents.models import IncidentUpdate, Person, Source, StaffSlackIdentity, Status
from incidents.tests.factories import admin_form_data, make_incident
from slackbridge.blocks.messages import author_label
from slackbridge.tests.fakeslack import TEAM_ID, OIDCIdentity
from slackbridge.tests.slack_requests import send_command

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = "2141029472.691202649728", "oidc-test-secret"
CALLBACK = "http://testserver/oidc/callback/"
LOGIN_URL = reverse("admin:login")
BACKEND = "slackbridge.oidc.SlackOIDCBackend"


@pytest.fixture
def slack_sign_in(settings, fake_slack):
    """Sign in with Slack switched on, every endpoint pointed at the fake Slack, the app registered there."""
    fake_slack.oidc_client(CLIENT_ID, CLIENT_SECRET, (CALLBACK,))
    settings.SLACK_OIDC_CLIENT_ID = CLIENT_ID
    settings.SLACK_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.SLACK_OIDC_AUTHORIZE_URL = fake_slack.oidc_authorize_url()
    settings.SLACK_OIDC_TOKEN_URL = fake_slack.api_url + "openid.connect.token"
    settings.SLACK_OIDC_USERINFO_URL = fake_slack.api_url + "openid.connect.userInfo"
    settings.SLACK_OIDC_JWKS_URL = fake_slack.oidc_jwks_url()
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    return fake_slack


@pytest.fixture
def bob(django_user_model):
    """A responder (staff, not superuser) whose Slack user is U0BOB."""
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Incident responders"))
    return user


def link(user, slack_user_id="U0BOB"):
    return StaffSlackIdentity.objects.create(user=user, slack_user_id=slack_user_id)


def button_href(client, next_url="/admin/") -> str:
    page = client.get(LOGIN_URL, {"next": next_url})
    assert page.status_code == 200
    match = re.search(r'<a class="button" href="([^"]+)"[^>]*>Sign in with Slack</a>', page.content.decode())
    assert match, "no Sign in with Slack button"
    return html.unescape(match.group(1))


def to_slack_and_back(client, fake, *, next_url="/admin/", tamper=None):
    """Click the button, let the browser (requests, real HTTP) visit Slack's authorize page, and follow
    Slack's redirect back to the callback; ``tamper`` may change the callback's query first."""
    start = client.get(button_href(client, next_url))
    assert start.status_code == 302
    at_slack = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_slack.status_code == 302, at_slack.text
    back = urlsplit(at_slack.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    query = dict(parse_qsl(back.query))
    if tamper:
        query = tamper(query)
    return client.get(back.path, query)


def refusal(response) -> str:
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def signed_in_as(client):
    return client.get(reverse("admin:index")).wsgi_request.user


def test_linked_staff_member_signs_in_with_slack(client, slack_sign_in, bob):
    identity = link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com", name="Bob Builder"))
    target = reverse("admin:incidents_incident_changelist")

    response = to_slack_and_back(client, slack_sign_in, next_url=target)

    assert response.status_code == 302
    assert response["Location"] == target
    assert client.get(target).status_code == 200
    assert signed_in_as(client) == bob
    assert client.session["_auth_user_backend"] == BACKEND
    # What Slack was asked, and that the ID token was checked against the JWKS it publishes.
    (authorize,) = slack_sign_in.calls_to("openid/connect/authorize")
    assert authorize.params["scope"] == "openid email profile"
    assert authorize.params["response_type"] == "code"
    assert authorize.params["redirect_uri"] == CALLBACK
    assert authorize.params["nonce"]
    assert authorize.params["state"]
    (token_call,) = slack_sign_in.calls_to("openid.connect.token")
    assert token_call.response["ok"] is True
    claims = jwt.decode(token_call.response["id_token"], options={"verify_signature": False})
    assert claims["nonce"] == authorize.params["nonce"]
    assert slack_sign_in.calls_to("openid/connect/keys")
    (userinfo,) = slack_sign_in.calls_to("openid.connect.userInfo")
    assert userinfo.token == token_call.response["access_token"]
    identity.refresh_from_db()
    assert identity.last_sign_in_at is not None
    assert identity.slack_team_id == TEAM_ID


def test_off_unless_client_id_and_secret_are_set(client, settings, bob):
    settings.SLACK_OIDC_CLIENT_ID = "only-the-id"
    settings.SLACK_OIDC_CLIENT_SECRET = ""
    page = client.get(LOGIN_URL).content.decode()
    assert 'id="login-form"' in page
    assert "Sign in with Slack" not in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "x", "state": "y"}).status_code == 404


def test_default_settings_have_no_oidc_backend():
    from django.conf import settings

    assert not (settings.SLACK_OIDC_CLIENT_ID and settings.SLACK_OIDC_CLIENT_SECRET)
    assert BACKEND not in settings.AUTHENTICATION_BACKENDS


def test_wrong_state_is_refused_before_slack_is_asked(client, slack_sign_in, bob):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))

    response = to_slack_and_back(client, slack_sign_in, tamper=lambda q: {**q, "state": "forged-state"})

    assert "could not be completed" in refusal(response)
    assert not signed_in_as(client).is_authenticated
    assert slack_sign_in.calls_to("openid.connect.token") == []


def test_callback_replayed_is_refused(client, slack_sign_in, bob):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    seen = {}

    def keep(query):
        seen.update(query)
        return query

    assert to_slack_and_back(client, slack_sign_in, tamper=keep)["Location"] == "/admin/"
    client.logout()
    replay = client.get("/oidc/callback/", seen)
    assert "Sign in with Slack" in refusal(replay)
    assert not signed_in_as(client).is_authenticated


def test_code_slack_does_not_accept_is_refused_with_slacks_reason(client, slack_sign_in, bob):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))

    response = to_slack_and_back(client, slack_sign_in, tamper=lambda q: {**q, "code": "1.made-up"})

    assert "Slack did not accept this sign-in (invalid_code)" in refusal(response)
    assert not signed_in_as(client).is_authenticated
    assert slack_sign_in.calls_to("openid.connect.token")[0].response == {"ok": False, "error": "invalid_code"}


@pytest.mark.parametrize(
    ("forge", "claims"),
    [
        (True, {}),  # signed with a key Slack does not publish
        (False, {"aud": "another-app"}),
        (False, {"iss": "https://evil.example"}),
        (False, {"exp": 1_600_000_000, "iat": 1_599_999_700}),
        (False, {"nonce": "not-the-one-sent"}),
        (False, {"nonce": None}),
    ],
    ids=["signature", "audience", "issuer", "expired", "nonce", "no-nonce"],
)
def test_id_token_that_does_not_check_out_is_refused(client, slack_sign_in, bob, forge, claims):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    slack_sign_in.oidc_forge_tokens(forge, **claims)

    assert "could not be completed" in refusal(to_slack_and_back(client, slack_sign_in))
    assert not signed_in_as(client).is_authenticated
    assert slack_sign_in.calls_to("openid.connect.userInfo") == []


def test_token_for_another_app_is_refused(client, slack_sign_in, settings, bob):
    """The ID token's audience is our client id: a token Slack issued to another app does not sign in here."""
    link(bob)
    slack_sign_in.oidc_client("other-app", "other-secret", (CALLBACK,))
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    settings.SLACK_OIDC_CLIENT_ID, settings.SLACK_OIDC_CLIENT_SECRET = "other-app", "other-secret"
    start = client.get(button_href(client))
    settings.SLACK_OIDC_CLIENT_ID, settings.SLACK_OIDC_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    # Our callback would exchange the code as CLIENT_ID: Slack refuses a code issued to another client.
    back = urlsplit(requests.get(start["Location"], allow_redirects=False, timeout=10).headers["Location"])
    response = client.get(back.path, dict(parse_qsl(back.query)))
    assert "invalid_code" in refusal(response)
    assert not signed_in_as(client).is_authenticated


def test_cancelled_at_slack(client, slack_sign_in, bob):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    slack_sign_in.oidc_deny_next()
    assert "cancelled" in refusal(to_slack_and_back(client, slack_sign_in))
    assert not signed_in_as(client).is_authenticated


def test_other_workspace_is_refused_when_one_is_pinned(client, slack_sign_in, settings, bob):
    settings.SLACK_OIDC_TEAM_ID = TEAM_ID
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com", team_id="T0ELSEWHERE"))

    response = to_slack_and_back(client, slack_sign_in)

    assert "another workspace" in refusal(response)
    assert not signed_in_as(client).is_authenticated
    # Slack was asked for the pinned workspace (it skips its workspace picker).
    assert slack_sign_in.calls_to("openid/connect/authorize")[0].params["team"] == TEAM_ID


def test_unlinked_slack_user_is_refused(client, slack_sign_in, bob):
    # Same email as bob, but no workspace is pinned: emails are not trusted to link accounts.
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))

    message = refusal(to_slack_and_back(client, slack_sign_in))

    assert "(U0BOB) is not linked to a staff account" in message
    assert not signed_in_as(client).is_authenticated
    assert not StaffSlackIdentity.objects.exists()


def test_verified_email_links_a_staff_member_once_a_workspace_is_pinned(client, slack_sign_in, settings, bob):
    settings.SLACK_OIDC_TEAM_ID = TEAM_ID
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "BOB@example.com"))

    assert to_slack_and_back(client, slack_sign_in)["Location"] == "/admin/"

    assert signed_in_as(client) == bob
    identity = StaffSlackIdentity.objects.get()
    assert (identity.user, identity.slack_user_id, identity.linked_via) == (bob, "U0BOB", "email")


@pytest.mark.parametrize(
    ("identity", "make_superuser"),
    [
        (OIDCIdentity("U0BOB", "bob@example.com", email_verified=False), False),
        (OIDCIdentity("U0BOB", "bob@example.com"), True),  # superusers are only ever linked by hand
    ],
)
def test_email_never_links_unverified_addresses_or_superusers(
    client, slack_sign_in, settings, bob, identity, make_superuser
):
    settings.SLACK_OIDC_TEAM_ID = TEAM_ID
    bob.is_superuser = make_superuser
    bob.save()
    slack_sign_in.oidc_sign_in_as(identity)

    assert "is not linked to a staff account" in refusal(to_slack_and_back(client, slack_sign_in))
    assert not signed_in_as(client).is_authenticated
    assert not StaffSlackIdentity.objects.exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"is_active": False}, "is deactivated"), ({"is_staff": False}, "is not a staff account")],
)
def test_inactive_or_non_staff_accounts_are_refused_with_the_reason(client, slack_sign_in, bob, change, reason):
    link(bob)
    for field, value in change.items():
        setattr(bob, field, value)
    bob.save()
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))

    response = to_slack_and_back(client, slack_sign_in)

    assert f"The account bob {reason}" in refusal(response)
    assert not signed_in_as(client).is_authenticated
    assert client.get(LOGIN_URL).status_code == 200  # the message is shown there, no 500 anywhere


def test_deactivating_a_signed_in_account_ends_its_session(client, slack_sign_in, bob):
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    to_slack_and_back(client, slack_sign_in)
    assert signed_in_as(client) == bob
    bob.is_active = False
    bob.save()
    assert not signed_in_as(client).is_authenticated


def test_slack_command_and_admin_edit_by_the_same_person_show_the_same_author(client, slack_sign_in, bob):
    """U0BOB updates an incident from Slack, then (signed in with Slack) edits it in admin: one person."""
    Person.objects.create(slack_id="U0BOB", display_name="Bob Builder")
    link(bob)
    incident = make_incident("Login fails")
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))

    reply = send_command(client, "update_incident_one_line", user_id="U0BOB", text=f"{incident.key} identified")
    assert reply.status_code == 200
    to_slack_and_back(client, slack_sign_in)
    incident.refresh_from_db()
    change = client.post(
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        admin_form_data(incident, status=Status.MONITORING, update_message="Fix deployed"),
    )
    assert change.status_code == 302, change.content.decode()[:2000]

    from_slack, from_admin = IncidentUpdate.objects.filter(incident=incident).order_by("number")[1:]
    assert (from_slack.source, from_admin.source) == (Source.SLACK, Source.ADMIN)
    assert from_slack.author == from_admin.author == "U0BOB"
    # The Slack thread mentions the same user for both; the admin timeline names the same person.
    assert author_label(from_slack.author) == author_label(from_admin.author) == "<@U0BOB>"
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert "Bob Builder (Slack)" in page
    assert "Bob Builder (Admin)" in page


def test_unlinked_staff_edits_stay_attributed_to_their_username(staff_client):
    incident = make_incident("Login fails")
    changelist = reverse("admin:incidents_incident_changelist")
    staff_client.post(changelist, {"action": "resolve_selected", "_selected_action": [incident.pk]})
    assert incident.updates.order_by("-number").first().author == "staff:alice"


def test_superuser_links_a_staff_member_in_admin(staff_client, bob, django_user_model):
    add_url = reverse("admin:incidents_staffslackidentity_add")
    response = staff_client.post(add_url, {"user": bob.pk, "slack_user_id": " U0BOB "})
    assert response.status_code == 302, response.content.decode()[:2000]
    identity = StaffSlackIdentity.objects.get()
    assert (identity.user, identity.slack_user_id, identity.linked_via) == (bob, "U0BOB", "admin")

    carol = django_user_model.objects.create_user("carol", "carol@example.com", "pw", is_staff=True)
    taken = staff_client.post(add_url, {"user": carol.pk, "slack_user_id": "U0BOB"})
    assert taken.status_code == 200
    assert "slack_user_id" in taken.context["adminform"].form.errors
    malformed = staff_client.post(add_url, {"user": carol.pk, "slack_user_id": "bob"})
    assert "slack_user_id" in malformed.context["adminform"].form.errors
    assert StaffSlackIdentity.objects.count() == 1


def test_responders_cannot_link_identities(client, bob):
    client.force_login(bob)
    assert client.get(reverse("admin:incidents_staffslackidentity_changelist")).status_code == 403


def test_a_client_locked_out_for_failed_passwords_cannot_sign_in_with_slack_either(
    client, slack_sign_in, settings, bob
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3
    link(bob)
    slack_sign_in.oidc_sign_in_as(OIDCIdentity("U0BOB", "bob@example.com"))
    for n in range(3):
        client.post(LOGIN_URL, {"username": f"guess{n}", "password": "wrong", "next": "/admin/"})

    response = to_slack_and_back(client, slack_sign_in)

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert slack_sign_in.calls_to("openid.connect.token") == []  # refused before the code is exchanged
    assert not signed_in_as(client).is_authenticated
