"""Every write to subscribers goes through here: the pages, admin and the CSV import call these.

Mail is never sent from here: a service that needs one queues a task on commit
(`subscriptions.tasks`), so no web request waits on SMTP.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Component
from subscriptions.models import URL_KINDS, Delivery, DeliveryState, Kind, Subscriber, Throttle, new_secret
from subscriptions.urlcheck import UnsafeURL, check_url

THROTTLE_WINDOW = timedelta(hours=1)
UNCONFIRMED_DAYS = 7
# Addresses that never read mail: subscribing them would mail a machine (a bounce loop).
NO_MAIL_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|bounce-.*|abuse|nobody|devnull)$", re.IGNORECASE
)
SLACK_WEBHOOK_HOSTS = ("hooks.slack.com",)


@dataclass
class SignUp:
    """What a sign-up did, for the page to answer with (always the same answer to the visitor)."""

    subscriber: Subscriber | None = None
    mail: str = ""  # "confirm", "manage" or "" (nothing sent: honeypot or limit)
    reasons: list[str] = field(default_factory=list)


def normalise_email(address: str) -> str:
    return (address or "").strip().lower()


def email_validate(address: str, *, field_name: str = "email") -> str:
    address = normalise_email(address)
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValidationError({field_name: "Enter a valid email address."}) from exc
    local = address.rsplit("@", 1)[0].split("+", 1)[0]
    own = normalise_email(settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">"))
    if NO_MAIL_LOCAL_PARTS.match(local) or address == own:
        raise ValidationError({field_name: "This address does not receive mail (a bounce or no-reply address)."})
    return address


def url_validate(url: str, *, kind: str) -> str:
    url = (url or "").strip()
    if len(url) > Subscriber._meta.get_field("address").max_length:
        raise ValidationError({"url": "This URL is too long."})
    try:
        target = check_url(url)
    except UnsafeURL as exc:
        raise ValidationError({"url": str(exc)}) from exc
    if kind == Kind.SLACK and not settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS and target.host not in SLACK_WEBHOOK_HOSTS:
        raise ValidationError({"url": "A Slack incoming-webhook URL starts with https://hooks.slack.com/."})
    return url


def throttle_allow(*, bucket: str, limit: int, window: timedelta = THROTTLE_WINDOW) -> bool:
    """Count one action in `bucket` unless `limit` were already counted in `window`; shared by all processes."""
    now = timezone.now()
    with transaction.atomic():
        if Throttle.objects.filter(bucket=bucket, at__gt=now - window).count() >= limit:
            return False
        Throttle.objects.create(bucket=bucket, at=now)
    return True


def _bucket(prefix: str, value: str) -> str:
    return f"{prefix}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def subscriber_sign_up(
    *,
    kind: str,
    address: str,
    contact_email: str = "",
    components: Iterable[Component | int] = (),
    client: str = "",
    base_url: str = "",
) -> SignUp:
    """Sign up (double opt-in): a new address gets a confirmation mail, a known one a manage link.

    The caller answers the same whatever happened, so the page never tells whether an
    address is subscribed. Raises ValidationError for bad input and `RateLimited` when this
    client signed up too often.
    """
    if kind not in Kind.values:
        raise ValidationError({"kind": "Choose email, webhook or Slack."})
    if kind == Kind.EMAIL:
        address = email_validate(address)
        contact_email = ""
    else:
        address = url_validate(address, kind=kind)
        contact_email = email_validate(contact_email, field_name="contact_email")
    component_ids = _component_ids(components)
    limit = settings.SUBSCRIPTIONS_RATE_LIMIT
    if client and not throttle_allow(bucket=_bucket("client", client), limit=limit):
        raise RateLimited("Too many sign-ups from your network in the last hour. Please try again later.")
    if not throttle_allow(bucket=_bucket("address", f"{kind}:{address}"), limit=limit):
        return SignUp(reasons=["address rate limit"])
    with transaction.atomic():
        existing = Subscriber.objects.select_for_update().filter(kind=kind, address=address).first()
        if existing is not None and existing.confirmed:
            _queue_mail(existing.pk, "manage", base_url)
            return SignUp(subscriber=existing, mail="manage")
        if existing is None:
            try:
                with transaction.atomic():
                    existing = Subscriber.objects.create(kind=kind, address=address, contact_email=contact_email)
            except IntegrityError:  # signed up at the same moment by another request
                existing = Subscriber.objects.get(kind=kind, address=address)
        else:
            existing.contact_email = contact_email
            existing.save(update_fields=["contact_email"])
        existing.components.set(component_ids)
        _queue_mail(existing.pk, "confirm", base_url)
    return SignUp(subscriber=existing, mail="confirm")


class RateLimited(Exception):
    pass


def subscriber_confirm(*, subscriber: Subscriber) -> bool:
    """Confirm (double opt-in done); returns False when it already was."""
    with transaction.atomic():
        updated = Subscriber.objects.filter(pk=subscriber.pk, confirmed=False).update(
            confirmed=True, confirmed_at=timezone.now()
        )
    subscriber.refresh_from_db()
    return bool(updated)


def subscriber_set_components(*, subscriber: Subscriber, components: Iterable[Component | int]) -> Subscriber:
    subscriber.components.set(_component_ids(components))
    return subscriber


def subscriber_rotate_secret(*, subscriber: Subscriber) -> str:
    if subscriber.kind not in URL_KINDS:
        raise ValidationError("Only webhook and Slack subscriptions have a signing secret.")
    subscriber.secret = new_secret()
    subscriber.save(update_fields=["secret"])
    return subscriber.secret


def subscriber_unsubscribe(*, token: str) -> bool:
    """Delete the subscriber (and its delivery log): unsubscribing forgets the address (SPEC §7)."""
    deleted, _ = Subscriber.objects.filter(token=token).delete()
    return bool(deleted)


def subscriber_enable(*, subscriber: Subscriber) -> Subscriber:
    """Start sending again (admin action, or the subscriber's manage page) with a clean failure streak."""
    Subscriber.objects.filter(pk=subscriber.pk).update(
        disabled=False,
        disabled_at=None,
        disabled_reason="",
        failing_since=None,
        failures_in_row=0,
        contact_told_at=None,
    )
    subscriber.refresh_from_db()
    return subscriber


def subscriber_disable(*, subscriber_id: int, reason: str) -> bool:
    """Stop sending; its pending deliveries are skipped. True when this call disabled it."""
    now = timezone.now()
    with transaction.atomic():
        changed = Subscriber.objects.filter(pk=subscriber_id, disabled=False).update(
            disabled=True, disabled_at=now, disabled_reason=reason[:300]
        )
        Delivery.objects.filter(subscriber_id=subscriber_id, state=DeliveryState.PENDING).update(
            state=DeliveryState.SKIPPED, last_error="subscription disabled", lease_until=None
        )
    return bool(changed)


def _queue_mail(subscriber_id: int, purpose: str, base_url: str) -> None:
    from subscriptions import tasks  # tasks import the app registry's task backend

    transaction.on_commit(
        lambda: tasks.send_account_mail.enqueue(subscriber_id=subscriber_id, purpose=purpose, base_url=base_url)
    )


def _component_ids(components: Iterable[Component | int]) -> list[int]:
    ids = sorted({c.pk if isinstance(c, Component) else int(c) for c in components})
    known = set(Component.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if len(known) != len(ids):
        raise ValidationError({"components": "Unknown component."})
    return ids


# -- CSV import and export (admin) -------------------------------------------------------------------------
CSV_COLUMNS = ("kind", "address", "contact_email", "components", "confirmed", "created_at", "confirmed_at")


@dataclass
class ImportResult:
    created: int = 0
    existing: int = 0
    errors: list[str] = field(default_factory=list)


def subscribers_import_csv(*, text: str) -> ImportResult:
    """Import subscribers who opted in elsewhere: confirmed at once, marked `imported`, no mail sent.

    Columns: `address` (or `email`) required; optional `kind` (default email), `contact_email`,
    `components` (slugs separated by spaces or `|`). The whole file is checked first and
    nothing is written if any row is wrong; addresses already subscribed are left as they are.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not fields & {"address", "email"}:
        return ImportResult(errors=["The CSV needs a header row with an `address` (or `email`) column."])
    slugs = dict(Component.objects.values_list("slug", "pk"))
    rows: list[tuple[str, str, str, list[int]]] = []
    result = ImportResult()
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        kind = row.get("kind") or Kind.EMAIL
        address = row.get("address") or row.get("email") or ""
        try:
            if kind not in Kind.values:
                raise ValidationError(f"unknown kind “{kind}”")
            if kind == Kind.EMAIL:
                address, contact = email_validate(address), ""
            else:
                address = url_validate(address, kind=kind)
                contact = email_validate(row.get("contact_email", ""), field_name="contact_email")
            wanted = [s for s in re.split(r"[\s|]+", row.get("components", "")) if s]
            unknown = [s for s in wanted if s not in slugs]
            if unknown:
                raise ValidationError(f"unknown component(s) {', '.join(unknown)}")
        except ValidationError as exc:
            result.errors.append(f"line {line}: {'; '.join(exc.messages)}")
            continue
        rows.append((kind, address, contact, [slugs[s] for s in wanted]))
    if result.errors:
        return result
    now = timezone.now()
    with transaction.atomic():
        for kind, address, contact, component_ids in rows:
            subscriber, created = Subscriber.objects.get_or_create(
                kind=kind,
                address=address,
                defaults={"contact_email": contact, "confirmed": True, "confirmed_at": now, "imported": True},
            )
            if created:
                subscriber.components.set(component_ids)
                result.created += 1
            else:
                result.existing += 1
    return result


def subscribers_export_csv(subscribers: Iterable[Subscriber]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for s in subscribers:
        writer.writerow(
            [
                s.kind,
                s.address,
                s.contact_email,
                " ".join(c.slug for c in s.components.all()),
                "yes" if s.confirmed else "no",
                s.created_at.isoformat(),
                s.confirmed_at.isoformat() if s.confirmed_at else "",
            ]
        )
    return out.getvalue()


def housekeeping(*, now=None) -> dict:
    """Forget sign-ups never confirmed within a week and throttle counts older than their window."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=UNCONFIRMED_DAYS)
    stale, _ = Subscriber.objects.filter(confirmed=False, created_at__lt=cutoff).delete()
    counts, _ = Throttle.objects.filter(at__lt=now - THROTTLE_WINDOW).delete()
    return {"unconfirmed_deleted": stale, "throttle_deleted": counts}
