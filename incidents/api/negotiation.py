"""Content negotiation of the public API: always JSON, as Statuspage answers.

`Accept` never changes the body, so it is not part of the public cache key
(incidents.caching) and an odd `Accept` gets the JSON instead of a 406.
"""

from rest_framework.negotiation import DefaultContentNegotiation


class JSONOnlyNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
