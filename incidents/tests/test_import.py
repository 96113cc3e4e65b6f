"""`import_crashbot_list`: the first version's /list document brought into this server."""

import copy
import http.server
import io
import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from incidents import services
from incidents.metrics import incident_metrics
from incidents.models import Incident, IncidentUpdate, Source, Status
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_list.json"
DOCUMENT = json.loads(FIXTURE.read_text(encoding="utf-8"))


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_crashbot_list", *args, stdout=out)
    return out.getvalue()


def write(tmp_path, document) -> str:
    path = tmp_path / "list.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def snapshot():
    return (
        list(Incident.objects.order_by("pk").values()),
        list(IncidentUpdate.objects.order_by("pk").values()),
    )


def test_realistic_document_is_imported_with_its_ids():
    output = run(str(FIXTURE))
    assert "Imported 5, skipped 0." in output
    assert sorted(Incident.objects.values_list("pk", flat=True)) == [12, 40, 43, 44, 45]

    realms = Incident.objects.get(pk=44)
    assert realms.status == Status.INVESTIGATING
    assert realms.severity == "sev-1"
    assert realms.reported_at == datetime(2025, 11, 3, 14, 5, tzinfo=UTC)
    assert realms.closed_at is None
    assert realms.acknowledged_at is None
    assert realms.point_name == "Agustina Pérez"
    assert realms.point == ""
    assert realms.contact_name == ""  # "Not assigned"
    assert realms.rca_link == ""
    assert realms.description.startswith("Users report an **infinite loading screen**")
    assert "- Catalysts `peer-ec1`" in realms.description

    wallet = Incident.objects.get(pk=43)
    assert wallet.status == Status.RESOLVED
    assert wallet.title == "Wallet connection fails on Firefox (über-slow MetaMask handshake)"
    assert wallet.reported_at == datetime(2025, 10, 20, 22, 10, tzinfo=UTC)
    assert wallet.closed_at == datetime(2025, 10, 21, 1, 45, tzinfo=UTC)
    assert wallet.rca_link == "https://docs.example.org/rca/2025-10-20-wallet"
    assert (wallet.point_name, wallet.contact_name) == ("José Martínez", "Lucía Fernández")
    assert "🙏" in wallet.description
    assert Incident.objects.get(pk=45).title == "Emotes wheel shows 🎭 placeholder icons"
    assert Incident.objects.get(pk=40).point_name == "Kenji 田中"

    # Exactly one `import` timeline row each, saying where it came from.
    assert IncidentUpdate.objects.count() == 5
    row = wallet.updates.get()
    assert (row.number, row.source, row.author, row.status) == (1, Source.IMPORT, "import", Status.RESOLVED)
    assert row.changes["legacy_id"] == [None, 43]
    assert "Imported from the first version (id 43, 5 update(s)" in row.message
    assert wallet.update_number == 0


def test_list_after_the_import_serves_the_first_versions_times(client, settings):
    """Lossless import (issue 18): every time the source gives is kept, not replaced by the import time."""
    settings.LIST_CLOSED_DAYS = 100 * 365
    run(str(FIXTURE))
    served = {item["id"]: item for name in ("open", "closed") for item in client.get("/list").json()[name]}
    source = [item for name in ("open", "closed") for item in DOCUMENT[name]]
    assert set(served) == {item["id"] for item in source}
    for item in source:
        for key in ("modified_at", "reported_at", "closed_at"):
            if item[key] is None:
                assert served[item["id"]][key] is None
            else:
                assert _instant(served[item["id"]][key]) == _instant(item[key]), (item["id"], key)
        assert (served[item["id"]]["title"], served[item["id"]]["severity"]) == (item["title"], item["severity"])


def test_a_last_change_in_the_future_is_refused(tmp_path):
    document = copy.deepcopy(DOCUMENT)
    document["open"][0]["modified_at"] = "2999-01-01T00:00:00Z"
    with pytest.raises(CommandError, match=r"open\[0\]\.modified_at: The last-change time cannot be in the future"):
        run(write(tmp_path, document))
    assert not Incident.objects.exists()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_running_twice_changes_nothing():
    run(str(FIXTURE))
    before = snapshot()
    output = run(str(FIXTURE))
    assert "Imported 0, skipped 5." in output
    assert "closed[0] id 43: already imported as DCL-43, skipped" in output
    assert snapshot() == before


def test_taken_ids_get_new_ones_and_the_map_is_printed(tmp_path):
    native = make_incident("Native incident")  # takes id 1
    services.incident_create(title="Another", author="U1", source=Source.SLACK, incident_id=43)
    document = copy.deepcopy(DOCUMENT)
    document["closed"][2]["id"] = native.pk
    path = write(tmp_path, document)
    output = run(path)
    assert "Id map (old → new): " in output
    mapped = Incident.objects.get(title="Wallet connection fails on Firefox (über-slow MetaMask handshake)")
    assert mapped.pk not in (43, native.pk)
    assert f"43 → {mapped.pk}" in output
    typo = Incident.objects.get(title="Typo on the landing page")
    assert f"{native.pk} → {typo.pk}" in output
    assert Incident.objects.get(pk=native.pk).title == "Native incident"
    # ... and recognised as imported next time.
    before = snapshot()
    assert "Imported 0, skipped 5." in run(path)
    assert snapshot() == before


def test_dry_run_writes_nothing_and_says_what_it_would_do():
    make_incident("Native incident", incident_id=40)
    before = snapshot()
    output = run(str(FIXTURE), "--dry-run")
    assert snapshot() == before
    assert "open[0] id 44: would create DCL-44" in output
    assert "closed[1] id 40: id taken, would create with a new id" in output
    assert "Would import 5, skip 0 (dry run: nothing written)." in output


def test_a_normal_create_after_an_import_gets_a_fresh_id():
    """On PostgreSQL this needs the id sequence reset after the explicit ids."""
    run(str(FIXTURE))
    incident = make_incident("After the import")
    assert incident.pk > 45
    assert Incident.objects.count() == 6


def test_imported_closed_incidents_count_for_mttr_but_not_mtta():
    run(str(FIXTURE))
    m = incident_metrics(since=date(2025, 10, 1), until=date(2025, 10, 31))
    assert m.total.count == 1
    assert m.total.mttr.count == 1
    assert m.total.mttr.median == 3 * 3600 + 35 * 60
    assert m.total.mtta.count == 0


def broken(mutate):
    document = copy.deepcopy(DOCUMENT)
    mutate(document)
    return document


MALFORMED = {
    "missing key": (lambda d: d["closed"][2].pop("severity"), "closed[2]: missing key 'severity'"),
    "wrong type": (lambda d: d["closed"][1].update(id="40"), "closed[1].id: expected a number, got a string"),
    "boolean id": (lambda d: d["open"][1].update(id=True), "open[1].id: expected a number, got a boolean"),
    "null title": (lambda d: d["open"][0].update(title=None), "open[0].title: expected a string, got null"),
    "bad severity": (lambda d: d["closed"][2].update(severity="sev-9"), "closed[2].severity: expected one of sev-1"),
    "bad date": (
        lambda d: d["closed"][2].update(reported_at="15/03/2024 17:00"),
        "closed[2].reported_at: '15/03/2024 17:00' is not an ISO 8601 date and time",
    ),
    "bad closed date": (lambda d: d["closed"][0].update(closed_at="yesterday"), "closed[0].closed_at: 'yesterday'"),
    "bad status": (lambda d: d["open"][0].update(status="invalid"), "open[0].status: expected 'open' or 'closed'"),
    "status in the wrong array": (lambda d: d["open"][1].update(status="closed"), "open[1].status: 'closed' in the"),
    "duplicate id": (lambda d: d["closed"][2].update(id=44), "closed[2].id: 44 appears twice (also open[0])"),
    "item not an object": (lambda d: d["closed"].append("DCL-3"), "closed[3]: expected an object, got a string"),
    "no closed array": (lambda d: d.pop("closed"), 'The document has no "closed" array'),
    "title too long": (
        lambda d: d["closed"][2].update(title="x" * 121),
        "closed[2].title: Ensure this value has at most 120",
    ),
    "description too long": (lambda d: d["closed"][2].update(description="y" * 4001), "closed[2].description:"),
    "future report": (
        lambda d: d["open"][1].update(reported_at="2999-01-01T00:00:00Z"),
        "open[1].reported_at: The report",
    ),
    "closed before reported": (
        lambda d: d["closed"][2].update(closed_at="2024-03-15T16:00:00Z"),
        "closed[2].closed_at: The incident cannot close before it was reported",
    ),
    "bad rca link": (lambda d: d["closed"][2].update(rca_link="not a url"), "closed[2].rca_link: Enter a valid URL"),
}


@pytest.mark.parametrize("case", MALFORMED.keys())
def test_malformed_documents_are_refused_with_nothing_written(tmp_path, case):
    mutate, expected = MALFORMED[case]
    make_incident("Already here")
    before = snapshot()
    with pytest.raises(CommandError) as excinfo:
        run(write(tmp_path, broken(mutate)))
    assert expected in str(excinfo.value)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"open": [], "closed": [}', "Not valid JSON: line 1 column 25"),
        (b"[]", "must be a JSON object"),
        (b'{"open": {}, "closed": []}', '"open" must be an array'),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_documents_are_refused(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=expected):
        run(str(path))
    assert Incident.objects.count() == 0


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Could not read"):
        run(str(tmp_path / "nope.json"))


def test_other_url_schemes_are_refused():
    with pytest.raises(CommandError, match="Only http"):
        run("file:///etc/passwd")


class _ListHandler(http.server.BaseHTTPRequestHandler):
    body = json.dumps(DOCUMENT).encode()
    seen_keys: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _ListHandler.seen_keys.append(self.headers.get("crashbot"))
        if self.path != "/list":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def legacy_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ListHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_from_a_url_sends_the_api_key(legacy_server):
    _ListHandler.seen_keys.clear()
    output = run(f"{legacy_server}/list", "--api-key", "s3cret")
    assert "Imported 5, skipped 0." in output
    assert _ListHandler.seen_keys == ["s3cret"]
    assert Incident.objects.count() == 5


def test_url_errors_are_reported(legacy_server):
    with pytest.raises(CommandError, match="HTTP 404"):
        run(f"{legacy_server}/nothing-here")
    with pytest.raises(CommandError, match="Could not fetch"):
        run("http://127.0.0.1:9/list")
