"""Pure Block Kit builders: modals.py (inbound forms and replies), messages.py (headline and thread)."""
