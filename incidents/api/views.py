from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import selectors
from incidents.api.serializers import LegacyListSerializer, list_context

API_KEY_MESSAGE = "Missing or wrong `crashbot` API key header."


class LegacyListView(APIView):
    """`GET /list`: the first version's contract, kept for its status page and data tap.

    Cached like every public response (`incidents.caching.public_cache` in `incidents.urls`,
    with `api_key_guard` so that a 304 never skips the key check).
    """

    @extend_schema(
        operation_id="legacy_list",
        description=(
            "Open and recently closed public incidents in the first Crashbot's format (kept for its status page "
            "and data tap): `open` by severity, `closed` newest first. `update_number` and `modified_at` count "
            "public changes only. Send the ETag back in If-None-Match to get a 304 while nothing changed."
        ),
        parameters=[
            OpenApiParameter(
                "crashbot",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="API key (when LIST_API_KEY is set)",
            )
        ],
        responses={200: LegacyListSerializer, 403: OpenApiResponse(description="Missing or wrong API key")},
    )
    def get(self, request: Request) -> Response:
        self.check_api_key(request)
        open_incidents, closed = selectors.incident_list_legacy()
        context = list_context(request=request, incidents=open_incidents + closed)
        return Response(LegacyListSerializer({"open": open_incidents, "closed": closed}, context=context).data)

    @staticmethod
    def check_api_key(request: Request) -> None:
        expected = settings.LIST_API_KEY
        if expected and not constant_time_compare(request.headers.get("crashbot", ""), expected):
            raise PermissionDenied(API_KEY_MESSAGE)


def api_key_guard(request: HttpRequest) -> JsonResponse | None:
    """The `LIST_API_KEY` check as a plain Django guard, run before the ETag comparison."""
    expected = settings.LIST_API_KEY
    if expected and not constant_time_compare(request.headers.get("crashbot", ""), expected):
        return JsonResponse({"detail": API_KEY_MESSAGE}, status=403)
    return None
