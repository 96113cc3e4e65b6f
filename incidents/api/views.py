from django.conf import settings
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import selectors
from incidents.api.serializers import LegacyIncidentSerializer


class LegacyListView(APIView):
    """`GET /list`: the first version's contract, kept for its status page and data tap."""

    def get(self, request: Request) -> Response:
        self.check_api_key(request)
        open_incidents, closed = selectors.incident_list_legacy()
        context = {"request": request, "names": selectors.display_names(open_incidents + closed)}
        return Response(
            {
                "open": LegacyIncidentSerializer(open_incidents, many=True, context=context).data,
                "closed": LegacyIncidentSerializer(closed, many=True, context=context).data,
            }
        )

    @staticmethod
    def check_api_key(request: Request) -> None:
        expected = settings.LIST_API_KEY
        if expected and not constant_time_compare(request.headers.get("crashbot", ""), expected):
            raise PermissionDenied("Missing or wrong `crashbot` API key header.")
