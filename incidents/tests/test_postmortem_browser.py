"""The admin's "Postmortem draft" button in a real browser: it downloads DCL-N-postmortem.md (staff only)."""

import pytest

from incidents import services
from incidents.models import Source
from incidents.tests.browser import CHROMIUM, open_page, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_admin_button_downloads_the_draft(browser, live_server, django_user_model):  # noqa: F811
    django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")
    incident = services.incident_create(title="Marketplace down", author="U0POINT", source=Source.SLACK)
    services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Indexer?")
    services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Fixed")
    change = f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/"
    for scheme, width, name in (("light", 1100, "light"), ("dark", 1100, "dark"), ("light", 390, "phone")):
        page = open_page(browser, f"{live_server.url}/admin/login/?next=/admin/", color_scheme=scheme, width=width)
        page.fill("#id_username", "alice")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(change)
        button = page.get_by_role("link", name="Postmortem draft")
        assert button.is_visible()
        screenshot(page, f"admin-postmortem-button-{name}.png")
        with page.expect_download() as info:
            button.click()
        download = info.value
        assert download.suggested_filename == f"{incident.key}-postmortem.md"
        text = open(download.path(), encoding="utf-8").read()  # noqa: PTH123
        assert text.startswith(f"# Postmortem: {incident.key} Marketplace down")
        assert "internal · Investigating — Indexer?" in text
        page.context.close()
