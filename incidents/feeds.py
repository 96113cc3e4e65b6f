"""`/history.atom` and `/history.rss`: one entry per public incident update, newest first.

Built with Django's syndication framework from `selectors.public_updates_latest` (one
query, bounded), so feed readers polling during an outage cost little.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from incidents import selectors
from incidents.markup import render_markdown
from incidents.models import Incident, Status
from incidents.services import XML_INVALID_CHARACTERS

FEED_ENTRIES = 50


def xml_safe(text: str) -> str:
    """Drop what XML cannot carry: the services refuse it at input, but older rows may hold it."""
    return XML_INVALID_CHARACTERS.sub("", text)


class HistoryRssFeed(Feed):
    feed_type = Rss201rev2Feed

    def title(self) -> str:
        return f"{settings.STATUS_PAGE_NAME} status — incident history"

    def description(self) -> str:
        return f"Every public update about incidents affecting {settings.STATUS_PAGE_NAME}."

    def link(self) -> str:
        return reverse("incidents:history")

    def items(self) -> list[tuple[Incident, selectors.PublicUpdate]]:
        entries = []
        for update in selectors.public_updates_latest(limit=FEED_ENTRIES):
            shown = selectors.public_update_view(update.incident, update)
            if shown is not None:
                entries.append((update.incident, shown))
        # By when things happened: a backfilled incident is dated when it happened, not entered.
        entries.sort(key=lambda entry: (entry[1].created_at, entry[1].incident_id, entry[1].number), reverse=True)
        return entries

    def item_title(self, item) -> str:
        incident, update = item
        label = Status(update.status).label
        if incident.is_maintenance:
            label = f"Maintenance {label.lower()}"
        return xml_safe(f"{incident.key} {incident.title} — {label}")

    def item_description(self, item) -> str:
        """Sanitised HTML of the update (Markdown rendered, scripts and unsafe links dropped)."""
        _, update = item
        return xml_safe(render_markdown(update.body))

    def item_link(self, item) -> str:
        incident, update = item
        return f"{incident.get_absolute_url()}#update-{update.number}"

    def item_pubdate(self, item):
        return item[1].created_at

    def item_updateddate(self, item):
        return item[1].created_at

    def item_categories(self, item) -> list[str]:
        incident, update = item
        return [update.status, incident.impact]


class HistoryAtomFeed(HistoryRssFeed):
    feed_type = Atom1Feed

    def subtitle(self) -> str:
        return self.description()
