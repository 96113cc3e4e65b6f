"""Security headers of the public side: Content-Security-Policy, Permissions-Policy and X-Frame-Options.

Pages carry no inline script or style (static/status/*), so `default-src 'self'` holds on
every page; only the API docs viewer (Redoc) needs inline styles and a blob: worker.
Django admin keeps its own defaults (its widgets use inline scripts).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)
API_DOCS_PREFIX = "/api/docs/"


class SecurityHeadersMiddleware:
    """Adds the policies to every response (cached public bodies included) outside the admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/admin/"):
            return response
        policy = API_DOCS_CSP if request.path.startswith(API_DOCS_PREFIX) else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Here rather than Django's XFrameOptionsMiddleware alone, which sits after the public cache.
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response
