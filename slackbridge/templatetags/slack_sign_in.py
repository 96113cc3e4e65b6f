"""``{% slack_sign_in_enabled as on %}``: whether the admin login page offers Sign in with Slack."""

from django import template

from slackbridge import oidc

register = template.Library()


@register.simple_tag
def slack_sign_in_enabled() -> bool:
    return oidc.enabled()
