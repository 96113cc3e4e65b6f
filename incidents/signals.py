"""Signals the incidents app sends; other apps (slackbridge) listen.

The incidents app never imports its listeners: data flows one way.
"""

from django.dispatch import Signal

# Sent after the transaction that changed an incident has committed.
# Keyword argument: incident_id (int).
incident_changed = Signal()
