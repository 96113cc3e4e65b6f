"""Sign in with Slack for staff: OpenID Connect with Slack as the provider (README "Sign in with Slack").

mozilla-django-oidc runs the code flow: ``/oidc/authenticate/`` sends the browser to Slack's authorize page
with a state and a nonce kept in the session; Slack sends it back to ``/oidc/callback/`` with a code, which is
exchanged (``openid.connect.token``) for an RS256 ID token. The token is checked against Slack's JWKS:
signature, ``iss``, ``aud`` (our client id), expiry and nonce; ``openid.connect.userInfo`` then gives the
current email, for the same ``sub``. Who may sign in is decided here (``staff_user_for``): only a staff
account linked to that Slack user, or, with ``SLACK_OIDC_TEAM_ID`` set, the one active non-superuser staff
account with that verified email, which is then linked. Nobody is created, nobody is made staff.

Unlike the rest of slackbridge, these calls do not go through ``client.py``: they are the library's, made
with the app's client id and secret rather than the bot token.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from crashbot.observability import count_slack_error
from incidents import services
from incidents.models import StaffSlackIdentity

logger = logging.getLogger(__name__)

# Slack's claims (https://docs.slack.dev/reference/methods/openid.connect.token, docs/SLACK.md).
USER_ID_CLAIM = "https://slack.com/user_id"
TEAM_ID_CLAIM = "https://slack.com/team_id"
SCOPES = "openid email profile"
TIMEOUT = 10.0
CLOCK_SKEW_SECONDS = 60

NOT_LINKED = (
    "Your Slack account ({slack_user_id}) is not linked to a staff account here. Ask an administrator to "
    "link it (admin → Staff Slack identities), or sign in with your username and password."
)


def enabled() -> bool:
    """Sign in with Slack is on when the Slack app's client id and secret are both set."""
    return bool(settings.SLACK_OIDC_CLIENT_ID and settings.SLACK_OIDC_CLIENT_SECRET)


def _extra_params() -> dict[str, str]:
    # `team` makes Slack skip its workspace picker (Slack's authorize parameters).
    return {"team": settings.SLACK_OIDC_TEAM_ID} if settings.SLACK_OIDC_TEAM_ID else {}


# mozilla-django-oidc's settings, read from ours when asked (so they follow test overrides) or fixed here.
_LIBRARY_SETTINGS = {
    "OIDC_RP_CLIENT_ID": lambda: settings.SLACK_OIDC_CLIENT_ID,
    "OIDC_RP_CLIENT_SECRET": lambda: settings.SLACK_OIDC_CLIENT_SECRET,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": lambda: settings.SLACK_OIDC_AUTHORIZE_URL,
    "OIDC_OP_TOKEN_ENDPOINT": lambda: settings.SLACK_OIDC_TOKEN_URL,
    "OIDC_OP_USER_ENDPOINT": lambda: settings.SLACK_OIDC_USERINFO_URL,
    "OIDC_OP_JWKS_ENDPOINT": lambda: settings.SLACK_OIDC_JWKS_URL,
    "OIDC_RP_IDP_SIGN_KEY": lambda: None,
    "OIDC_RP_SIGN_ALGO": lambda: "RS256",
    "OIDC_RP_SCOPES": lambda: SCOPES,
    "OIDC_USE_NONCE": lambda: True,
    "OIDC_CREATE_USER": lambda: False,
    "OIDC_ALLOW_UNSECURED_JWT": lambda: False,
    "OIDC_VERIFY_KID": lambda: True,
    "OIDC_TIMEOUT": lambda: TIMEOUT,
    "OIDC_STORE_ACCESS_TOKEN": lambda: False,
    "OIDC_STORE_ID_TOKEN": lambda: False,
    "OIDC_AUTH_REQUEST_EXTRA_PARAMS": _extra_params,
    "LOGIN_REDIRECT_URL": lambda: reverse("admin:index"),
    "LOGIN_REDIRECT_URL_FAILURE": lambda: reverse("admin:login"),
}


def oidc_setting(attr: str, *default: Any) -> Any:
    if attr in _LIBRARY_SETTINGS:
        return _LIBRARY_SETTINGS[attr]()
    return import_from_settings(attr, *default)


class SignInRefused(Exception):
    """A Slack user who may not sign in here; the message is shown on the login page."""


def staff_user_for(*, slack_user_id: str, team_id: str, email: str, email_verified: bool):
    """The staff account this Slack user signs in as, linking it by verified email where allowed.

    Refused (SignInRefused): no linked account (and no email match), a deactivated or non-staff account.
    Superusers are never linked by email: an administrator links them explicitly.
    """
    identity = StaffSlackIdentity.objects.select_related("user").filter(slack_user_id=slack_user_id).first()
    if identity is None:
        user = _unlinked_staff_by_email(email=email, email_verified=email_verified, slack_user_id=slack_user_id)
        identity = services.staff_identity_link(
            user_id=user.pk, slack_user_id=slack_user_id, slack_team_id=team_id, via=StaffSlackIdentity.LinkedVia.EMAIL
        )
        logger.info("Sign in with Slack linked %s to staff account %s by verified email", slack_user_id, user)
    user = identity.user
    _check_can_sign_in(user)
    services.staff_identity_signed_in(identity_id=identity.pk, slack_team_id=team_id)
    return user


def _unlinked_staff_by_email(*, email: str, email_verified: bool, slack_user_id: str):
    # Only within a pinned workspace: otherwise anyone able to verify that address in any workspace could link.
    if not (settings.SLACK_OIDC_TEAM_ID and email and email_verified):
        raise SignInRefused(NOT_LINKED.format(slack_user_id=slack_user_id))
    candidates = list(
        get_user_model()
        .objects.filter(email__iexact=email, is_superuser=False, slack_identity__isnull=True)
        .order_by("pk")[:2]
    )
    if not candidates:
        raise SignInRefused(NOT_LINKED.format(slack_user_id=slack_user_id))
    if len(candidates) > 1:
        raise SignInRefused(
            f"Several accounts here have the email {email}: ask an administrator to link yours to your Slack "
            f"account ({slack_user_id}) in admin → Staff Slack identities."
        )
    _check_can_sign_in(candidates[0])
    return candidates[0]


def _check_can_sign_in(user) -> None:
    if not user.is_active:
        raise SignInRefused(f"The account {user.get_username()} is deactivated. Ask an administrator.")
    if not user.is_staff:
        raise SignInRefused(f"The account {user.get_username()} is not a staff account, so it cannot use the admin.")


class SlackOIDCBackend(OIDCAuthenticationBackend):
    """Authenticates the callback of Sign in with Slack; never creates a user."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any):
        if not enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_token(self, payload: dict) -> dict:
        answer = super().get_token(payload)
        # Slack answers HTTP 200 with {"ok": false, "error": "invalid_code"} (or bad_redirect_uri, …).
        if answer.get("ok") is False or not answer.get("id_token"):
            error = str(answer.get("error") or "no_id_token")
            count_slack_error(method="openid.connect.token", error=error)
            logger.warning("Sign in with Slack: openid.connect.token refused: %s", error)
            raise SignInRefused(f"Slack did not accept this sign-in ({error}). Please try again.")
        return answer

    def verify_token(self, token: Any, **kwargs: Any) -> dict:
        try:
            return super().verify_token(token, **kwargs)
        except (KeyError, TypeError, ValueError, jwt.PyJWTError) as exc:  # no kid, not a JWT, key not usable, …
            raise SuspiciousOperation(f"ID token not usable: {exc!r}") from exc

    def get_payload_data(self, token: str, key: Any) -> dict:
        """The library checks the signature only; also check who issued the token, for whom, and when."""
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=settings.SLACK_OIDC_CLIENT_ID,
                issuer=settings.SLACK_OIDC_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        info = self.get_userinfo(access_token, id_token, payload)
        if info.get("ok") is False:
            error = str(info.get("error") or "unknown")
            count_slack_error(method="openid.connect.userInfo", error=error)
            raise SignInRefused(f"Slack did not say who you are ({error}). Please try again.")
        # OpenID Connect Core 5.3.2: the userinfo `sub` must be the ID token's.
        if info.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("openid.connect.userInfo answered for another subject")
        slack_user_id = str(payload.get(USER_ID_CLAIM) or payload["sub"])
        team_id = str(payload.get(TEAM_ID_CLAIM) or "")
        if settings.SLACK_OIDC_TEAM_ID and team_id != settings.SLACK_OIDC_TEAM_ID:
            raise SignInRefused(
                "That Slack account belongs to another workspace. Sign in to the organisation's workspace in "
                "Slack, then try again."
            )
        return staff_user_for(
            slack_user_id=slack_user_id,
            team_id=team_id,
            email=str(info.get("email") or ""),
            email_verified=info.get("email_verified") is True,
        )

    def get_user(self, user_id: Any):
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def _back_to_login(request: HttpRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return HttpResponseRedirect(reverse("admin:login"))


class SignInView(OIDCAuthenticationRequestView):
    """``GET /oidc/authenticate/?next=…``: off (404) unless enabled."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Sign in with Slack is not enabled")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """``GET /oidc/callback/?code=…&state=…``: every refusal ends on the login page with its reason."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Sign in with Slack is not enabled")
        try:
            return super().get(request)
        except SignInRefused as refusal:
            logger.warning("Sign in with Slack refused: %s", refusal)
            return _back_to_login(request, str(refusal))
        except SuspiciousOperation as exc:  # unknown state, bad signature/nonce/audience, …
            logger.warning("Sign in with Slack refused: %s", exc)
            return _back_to_login(
                request,
                "Sign in with Slack could not be completed: the answer did not check out (an old or reused "
                "link, or another tab?). Please try again.",
            )
        except requests.RequestException as exc:
            logger.warning("Sign in with Slack: Slack could not be reached: %s", exc)
            return _back_to_login(request, "Slack could not be reached to finish signing in. Please try again.")

    def login_failure(self) -> HttpResponse:
        if self.request.GET.get("error") == "access_denied":
            return _back_to_login(self.request, "Sign in with Slack was cancelled.")
        return _back_to_login(self.request, "Sign in with Slack did not complete. Please try again.")
