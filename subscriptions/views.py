"""Subscribe, confirm, manage and unsubscribe pages (SPEC §7).

Every state change is a POST: mail scanners fetch GET links, so a GET only shows a page
with a button. Only the one-click unsubscribe POST of RFC 8058 (body
`List-Unsubscribe=One-Click`, sent by mail clients without a CSRF token) skips the CSRF
check; the unsubscribe form on the page is checked like any other form.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from crashbot.auth import client_ip
from subscriptions import selectors, services
from subscriptions.forms import ManageForm, SubscribeForm
from subscriptions.models import Kind


def _context(**context) -> dict:
    return {"page_name": settings.STATUS_PAGE_NAME, "refresh_seconds": "", "etag": "", **context}


def _base_url(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            if data["website"]:  # the honeypot: answer as if all went well, do nothing
                return redirect("subscriptions:check-inbox")
            kind = data["kind"]
            try:
                services.subscriber_sign_up(
                    kind=kind,
                    address=data["email"] if kind == Kind.EMAIL else data["url"],
                    contact_email=data["contact_email"],
                    components=data["components"],
                    client=client_ip(request),
                    base_url=_base_url(request),
                )
            except services.RateLimited as exc:
                return render(request, "subscriptions/message.html", _context(
                    title="Please try again later", message=str(exc)), status=429)  # fmt: skip
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    target = "url" if field == "url" else field
                    if target == "email" and kind != Kind.EMAIL:
                        target = "contact_email"
                    form.add_error(target if target in form.fields else None, messages)
            else:
                return redirect("subscriptions:check-inbox")
        status = 400
    return render(request, "subscriptions/subscribe.html", _context(form=form), status=status)


@never_cache
@require_safe
def check_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/check_inbox.html", _context())


def _unknown(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "subscriptions/message.html",
        _context(
            title="This link is no longer valid",
            message="The subscription it belonged to does not exist any more (unsubscribed, or never confirmed "
            "within a week). You can subscribe again at any time.",
            subscribe_link=True,
        ),
        status=404,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = selectors.subscriber_by_token(token)
    if subscriber is None:
        return _unknown(request)
    if request.method != "POST":
        return render(request, "subscriptions/confirm.html", _context(subscriber=subscriber))
    newly = services.subscriber_confirm(subscriber=subscriber)
    # The webhook secret is shown once, on the confirmation that enabled the subscription.
    secret = subscriber.secret if newly and subscriber.kind == Kind.WEBHOOK else ""
    return render(request, "subscriptions/confirmed.html", _context(subscriber=subscriber, newly=newly, secret=secret))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = selectors.subscriber_by_token(token)
    if subscriber is None:
        return _unknown(request)
    secret = ""
    saved = ""
    status = 200
    form = ManageForm(initial={"components": list(subscriber.components.all())})
    if request.method == "POST":
        action = request.POST.get("action", "components")
        if action == "rotate" and subscriber.kind == Kind.WEBHOOK:
            secret = services.subscriber_rotate_secret(subscriber=subscriber)
            saved = "A new signing secret was made; the old one no longer signs anything."
        elif action == "resume" and subscriber.disabled:
            services.subscriber_enable(subscriber=subscriber)
            saved = "Notifications are on again."
        elif action == "components":
            form = ManageForm(request.POST)
            if form.is_valid():
                services.subscriber_set_components(subscriber=subscriber, components=form.cleaned_data["components"])
                saved = "Saved."
            else:
                status = 400
        else:
            saved, status = "Nothing to do.", 400
        if not subscriber.confirmed and status == 200:
            services.subscriber_confirm(subscriber=subscriber)  # following a link from the mail proves the address
        subscriber.refresh_from_db()
    return render(
        request,
        "subscriptions/manage.html",
        _context(subscriber=subscriber, form=form, secret=secret, saved=saved),
        status=status,
    )


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        subscriber = selectors.subscriber_by_token(token)
        if subscriber is None:
            return _unknown(request)
        return render(request, "subscriptions/unsubscribe.html", _context(subscriber=subscriber))
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    if not one_click:
        refusal = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})
        if refusal is not None:
            return refusal
    services.subscriber_unsubscribe(token=token)
    # The same answer whether or not the token existed (a repeated one-click POST is fine).
    return render(
        request,
        "subscriptions/message.html",
        _context(title="You are unsubscribed", message="You will not hear from us again.", subscribe_link=True),
    )
