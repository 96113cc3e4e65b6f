from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import services
from incidents.models import Incident, IncidentUpdate, Person, Severity, Source, Status, Visibility
from incidents.signals import incident_changed
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed_ids():
    received = []

    def listener(sender, incident_id, **kwargs):
        received.append(incident_id)

    incident_changed.connect(listener)
    yield received
    incident_changed.disconnect(listener)


def timeline(incident):
    return list(IncidentUpdate.objects.filter(incident=incident).order_by("number"))


def test_create_writes_incident_and_first_timeline_row(django_capture_on_commit_callbacks, changed_ids):
    component = make_component("Marketplace")
    with django_capture_on_commit_callbacks(execute=True):
        incident = services.incident_create(
            title="  Marketplace down  ",
            author="U0REPORTER",
            source=Source.SLACK,
            severity=Severity.SEV2,
            description="Orders **fail**",
            components=[component],
            message="We are looking into it",
        )
    assert incident.title == "Marketplace down"
    assert incident.update_number == 0
    assert incident.status == Status.INVESTIGATING
    assert incident.acknowledged_at is None
    rows = timeline(incident)
    assert [r.number for r in rows] == [1]
    assert rows[0].changes["title"] == [None, "Marketplace down"]
    assert rows[0].changes["components"] == [[], ["Marketplace"]]
    assert rows[0].message == "We are looking into it"
    assert rows[0].source == Source.SLACK
    assert changed_ids == [incident.pk]


def test_signal_is_not_sent_when_the_transaction_rolls_back(django_capture_on_commit_callbacks, changed_ids):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):  # noqa: PT012
        with transaction.atomic():
            make_incident()
            raise RuntimeError("boom")
    assert changed_ids == []
    assert Incident.objects.count() == 0


def test_update_records_old_and_new_values_and_counts(changed_ids, django_capture_on_commit_callbacks):
    incident = make_incident(severity=Severity.SEV3)
    with django_capture_on_commit_callbacks(execute=True):
        updated = services.incident_update(
            incident_id=incident.pk,
            author="U0LEAD",
            source=Source.SLACK,
            severity=Severity.SEV1,
            status=Status.IDENTIFIED,
            message="Root cause found",
        )
    assert updated.update_number == 1
    assert updated.modified_by == "U0LEAD"
    assert updated.acknowledged_at is not None, "leaving investigating acknowledges"
    row = timeline(incident)[-1]
    assert row.number == 2
    assert row.changes["severity"] == ["sev-3", "sev-1"]
    assert row.changes["status"] == ["investigating", "identified"]
    assert "acknowledged_at" in row.changes
    assert row.status == Status.IDENTIFIED
    assert row.message == "Root cause found"
    assert changed_ids == [incident.pk]


def test_message_only_update_keeps_status_and_bumps_number():
    incident = make_incident()
    updated = services.incident_update(
        incident_id=incident.pk, author="U0X", source=Source.SLACK, message="Still on it"
    )
    assert updated.update_number == 1
    row = timeline(incident)[-1]
    assert row.changes == {}
    assert row.status == Status.INVESTIGATING
    assert row.visibility == Visibility.PUBLIC


def test_update_with_nothing_to_change_writes_nothing():
    incident = make_incident(severity=Severity.SEV2)
    same = services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, severity=Severity.SEV2)
    assert same.update_number == 0
    assert len(timeline(incident)) == 1


def test_monitoring_then_resolve_then_reopen_maintains_timestamps():
    incident = make_incident()
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, status=Status.MONITORING)
    incident.refresh_from_db()
    monitoring_at = incident.monitoring_at
    assert monitoring_at is not None
    services.incident_resolve(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="Fixed")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.closed_at is not None
    services.incident_reopen(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="It is back")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.closed_at is None
    assert incident.monitoring_at == monitoring_at, "monitoring_at records the first move only"
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, status=Status.MONITORING)
    incident.refresh_from_db()
    assert incident.monitoring_at == monitoring_at
    assert [r.number for r in timeline(incident)] == [1, 2, 3, 4, 5]
    assert incident.update_number == 4


def test_reopen_refuses_a_closed_status():
    incident = make_incident(status=Status.RESOLVED)
    with pytest.raises(ValidationError, match="reopened"):
        services.incident_reopen(incident_id=incident.pk, author="U0X", source=Source.SLACK, status=Status.RESOLVED)


def test_mark_invalid_clears_closed_at():
    incident = make_incident(status=Status.RESOLVED)
    services.incident_mark_invalid(incident_id=incident.pk, author="U0X", source=Source.SLACK)
    incident.refresh_from_db()
    assert incident.status == Status.INVALID
    assert incident.closed_at is None


def test_rca_link_can_be_added_after_close_and_must_be_a_url():
    incident = make_incident(status=Status.RESOLVED)
    services.incident_set_rca_link(
        incident_id=incident.pk, author="U0X", source=Source.SLACK, rca_link="https://docs.example.com/rca/1"
    )
    incident.refresh_from_db()
    assert incident.rca_link == "https://docs.example.com/rca/1"
    assert incident.status == Status.RESOLVED
    with pytest.raises(ValidationError) as exc:
        services.incident_set_rca_link(incident_id=incident.pk, author="U0X", source=Source.SLACK, rca_link="not a url")
    assert "rca_link" in exc.value.message_dict


def test_acknowledge_sets_point_and_time_once():
    incident = make_incident()
    acked = services.incident_acknowledge(incident_id=incident.pk, author="U0LEAD", source=Source.SLACK)
    assert acked.point == "U0LEAD"
    first = acked.acknowledged_at
    assert first is not None
    again = services.incident_acknowledge(incident_id=incident.pk, author="U0OTHER", source=Source.SLACK)
    assert again.point == "U0LEAD"
    assert again.acknowledged_at == first
    assert again.update_number == 1, "a second acknowledgement changes nothing"


def test_assigning_a_point_person_acknowledges():
    incident = make_incident()
    updated = services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, point="U0LEAD")
    assert updated.acknowledged_at is not None


def test_internal_note_is_an_internal_timeline_row():
    incident = make_incident()
    services.incident_add_note(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="DB creds rotated")
    row = timeline(incident)[-1]
    assert row.visibility == Visibility.INTERNAL
    assert row.message == "DB creds rotated"
    with pytest.raises(ValidationError):
        services.incident_add_note(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="  ")


def test_components_change_is_recorded_by_name():
    a, b = make_component("API"), make_component("Website")
    incident = make_incident(components=[a])
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, components=[a, b])
    assert timeline(incident)[-1].changes["components"] == [["API"], ["API", "Website"]]
    assert set(incident.components.values_list("name", flat=True)) == {"API", "Website"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"description": "x" * 4001}, "description"),
        ({"severity": "sev-9"}, "severity"),
        ({"status": "closed"}, "status"),
        ({"visibility": "secret"}, "visibility"),
        ({"point": "not a user"}, "point"),
        ({"rca_link": "javascript:alert(1)"}, "rca_link"),
        ({"rca_link": "ftp://files.example.com/rca.pdf"}, "rca_link"),
        ({"message": "x" * 4001}, "message"),
    ],
)
def test_invalid_input_is_refused_with_the_field_named(fields, field):
    incident = make_incident()
    with pytest.raises(ValidationError) as exc:
        services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, **fields)
    assert field in exc.value.message_dict
    incident.refresh_from_db()
    assert incident.update_number == 0
    assert len(timeline(incident)) == 1, "nothing half-written"


def test_create_refuses_future_report_and_close_before_report():
    with pytest.raises(ValidationError) as exc:
        make_incident(reported_at=timezone.now() + timedelta(days=1))
    assert "reported_at" in exc.value.message_dict
    now = timezone.now()
    with pytest.raises(ValidationError) as exc:
        make_incident(status=Status.RESOLVED, reported_at=now - timedelta(hours=1), closed_at=now - timedelta(hours=2))
    assert "closed_at" in exc.value.message_dict
    assert Incident.objects.count() == 0


def test_backfill_keeps_past_times_and_marks_the_timeline():
    reported = timezone.now() - timedelta(days=30)
    closed = reported + timedelta(hours=3)
    incident = services.incident_create(
        title="Old outage",
        author="staff:alice",
        source=Source.ADMIN,
        status=Status.RESOLVED,
        reported_at=reported,
        closed_at=closed,
    )
    incident.refresh_from_db()
    assert incident.reported_at == reported
    assert incident.closed_at == closed
    assert incident.acknowledged_at <= closed, "a backfilled incident was acknowledged by the time it closed"
    row = timeline(incident)[0]
    assert row.changes["backfill"] == [None, True]
    assert row.message == "Backfilled."


def test_unknown_incident_raises_does_not_exist():
    with pytest.raises(Incident.DoesNotExist):
        services.incident_update(incident_id=999, author="U0X", source=Source.SLACK, message="hello")


def test_person_display_name_is_upserted():
    services.person_set_display_name(slack_id="U0LEAD", display_name="Ada")
    services.person_set_display_name(slack_id="U0LEAD", display_name="Ada Lovelace")
    assert Person.objects.get(slack_id="U0LEAD").display_name == "Ada Lovelace"
