"""``/oidc/``: Sign in with Slack (slackbridge/oidc.py). Always routed; each view answers 404 while it is off.

The names are mozilla-django-oidc's, which it reverses to build the ``redirect_uri``.
"""

from django.urls import path

from slackbridge import oidc

urlpatterns = [
    path("authenticate/", oidc.SignInView.as_view(), name="oidc_authentication_init"),
    path("callback/", oidc.CallbackView.as_view(), name="oidc_authentication_callback"),
]
