"""Staff side: subscriber list and filters, re-enable, CSV import and export, the delivery log."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents.tests.factories import make_component, make_incident
from subscriptions.models import Delivery, Kind, Subscriber
from subscriptions.tests.factories import make_subscriber
from subscriptions.tests.util import drain

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/subscriptions/subscriber/"


def test_list_filters_by_kind_confirmed_and_disabled(staff_client):
    make_subscriber("ann@example.com")
    make_subscriber("https://hooks.example.com/x", kind=Kind.WEBHOOK, disabled=True)
    make_subscriber("new@example.com", confirmed=False, confirmed_at=None)
    page = staff_client.get(CHANGELIST)
    assert page.status_code == 200
    for address in ("ann@example.com", "https://hooks.example.com/x", "new@example.com"):
        assert address in page.content.decode()
    webhook_only = staff_client.get(CHANGELIST + "?kind__exact=webhook").content.decode()
    assert "ann@example.com" not in webhook_only
    assert "hooks.example.com" in webhook_only
    unconfirmed = staff_client.get(CHANGELIST + "?confirmed__exact=0").content.decode()
    assert "new@example.com" in unconfirmed
    assert "ann@example.com" not in unconfirmed
    disabled = staff_client.get(CHANGELIST + "?disabled__exact=1").content.decode()
    assert "hooks.example.com" in disabled
    assert "ann@example.com" not in disabled


def test_re_enable_action(staff_client, smtp):
    hook = make_subscriber("ann@example.com", disabled=True, failures_in_row=20, disabled_reason="x")
    response = staff_client.post(CHANGELIST, {"action": "re_enable", "_selected_action": [hook.pk]})
    assert response.status_code == 302
    hook.refresh_from_db()
    assert (hook.disabled, hook.failures_in_row, hook.disabled_reason) == (False, 0, "")
    make_incident("Catalyst down")
    drain()
    assert len(smtp.to("ann@example.com")) == 1


def test_csv_import_marks_imported_and_sends_nothing_then_export_round_trips(staff_client, smtp):
    make_component("Marketplace", slug="marketplace")
    make_subscriber("ann@example.com")
    text = "email,components\nAnn@Example.com,\nbob@example.com,marketplace\ncarol@example.com,\n"
    page = staff_client.get(CHANGELIST + "import/")
    assert page.status_code == 200
    response = staff_client.post(
        CHANGELIST + "import/", {"file": SimpleUploadedFile("list.csv", text.encode(), "text/csv")}, follow=True
    )
    assert "Imported 2 subscriber(s); 1 were already subscribed." in response.content.decode()
    bob = Subscriber.objects.get(address="bob@example.com")
    assert (bob.imported, bob.confirmed) == (True, True)
    assert [c.slug for c in bob.components.all()] == ["marketplace"]
    drain()
    assert smtp.messages == []  # opted in elsewhere: no confirmation mail
    export = staff_client.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": list(Subscriber.objects.values_list("pk", flat=True))}
    )
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {r["address"] for r in rows} == {"ann@example.com", "bob@example.com", "carol@example.com"}
    assert next(r for r in rows if r["address"] == "bob@example.com")["components"] == "marketplace"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("name\nann\n", "needs a header row"),
        ("email\nnot-an-address\n", "line 2: Enter a valid email address."),
        ("email\nok@example.com\nnoreply@example.com\n", "line 3"),
        ("email,components\nok@example.com,nosuch\n", "unknown component(s) nosuch"),
        ("kind,address\npigeon,x@example.com\n", "unknown kind"),
    ],
)
def test_csv_import_refuses_a_bad_file_whole(staff_client, text, error):
    response = staff_client.post(CHANGELIST + "import/", {"file": SimpleUploadedFile("l.csv", text.encode())})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Subscriber.objects.exists()


def test_csv_import_refuses_non_utf8(staff_client):
    response = staff_client.post(CHANGELIST + "import/", {"file": SimpleUploadedFile("l.csv", b"email\n\xff\xfe\n")})
    assert "not UTF-8" in response.content.decode()


def test_delivery_log_is_read_only(staff_client, smtp):
    make_subscriber("ann@example.com")
    make_incident("Catalyst down")
    drain()
    row = Delivery.objects.get()
    page = staff_client.get("/admin/subscriptions/delivery/")
    assert page.status_code == 200
    assert "ann@example.com" in page.content.decode()
    assert staff_client.get(f"/admin/subscriptions/delivery/{row.pk}/change/").status_code == 200
    assert staff_client.post(f"/admin/subscriptions/delivery/{row.pk}/change/", {"attempts": 9}).status_code == 403


def test_admin_needs_staff(client):
    assert client.get(CHANGELIST + "import/").status_code == 302
