import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Incident, IncidentUpdate, Status
from incidents.selectors import parse_incident_key
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db


def test_key_uses_the_prefix(settings):
    incident = make_incident()
    assert incident.key == f"DCL-{incident.pk}"
    settings.INCIDENT_PREFIX = "OPS"
    assert incident.key == f"OPS-{incident.pk}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DCL-12", 12),
        ("dcl-12", 12),
        ("12", 12),
        ("#12", 12),
        (" DCL-7 ", 7),
        ("XYZ-12", None),
        ("DCL-", None),
        ("", None),
    ],
)
def test_parse_incident_key(text, expected):
    assert parse_incident_key(text) == expected


def test_closed_at_is_only_allowed_when_resolved():
    incident = make_incident()
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(closed_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(status=Status.RESOLVED)


def test_bad_choices_are_refused_by_the_database():
    incident = make_incident()
    for field, value in [("severity", "sev-0"), ("status", "open"), ("visibility", "secret"), ("title", "")]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Incident.objects.filter(pk=incident.pk).update(**{field: value})


def test_timeline_number_is_unique_per_incident():
    incident = make_incident()
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentUpdate.objects.create(incident=incident, number=1, author="x", source="slack", status="investigating")


def test_timeline_rows_cannot_be_edited():
    row = make_incident().updates.get()
    row.message = "rewritten history"
    with pytest.raises(ValueError, match="append-only"):
        row.save()
