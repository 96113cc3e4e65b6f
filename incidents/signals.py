"""Signals the incidents app sends; other apps (slackbridge) listen.

The incidents app never imports its listeners: data flows one way.
"""

from django.dispatch import Signal

# Sent after the transaction that changed an incident has committed.
# Keyword argument: incident_id (int).
incident_changed = Signal()

# Sent after the transaction that changed what monitoring detected for a component has committed
# (SPEC §10). Keyword arguments: component_id (int), old_status and new_status ("" = healthy,
# or a Statuspage component status), note (str, staff-facing: the error that tripped the probe),
# at (datetime: when the change was detected).
component_changed = Signal()
