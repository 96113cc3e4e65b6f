"""HTTP caching of the public side: strong ETags from a version stamp, 304 before any work.

During an outage the whole community refreshes the status page at once. Every public
response (JSON, pages, feeds) is cacheable by browsers and CDNs for a short time, and a
revalidation costs one aggregate query (`selectors.public_version_stamp`) instead of
rendering the body: the ETag is derived from what the data *is*, not from the bytes.

A 200 is served from rendered bytes kept per ETag (the `public` cache alias, a per-process
LocMemCache by default): the version stamp stays the source of truth, so a cached body is
never stale, and a full render happens once per change per process instead of on every
request (issue 7 profile: rendering `/list` with 500 items cost ~150 ms each time).
"""

import hashlib
import time
from collections.abc import Callable
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.http import parse_etags

from incidents import selectors

CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
# Bump when a change of code changes what the same data renders to.
REPRESENTATION_VERSION = "1"
CACHE_ALIAS = "public"
# Response headers set by the view that belong to the body; the rest (CORS, security) is added by middleware.
_STORED_HEADERS = ("Content-Type", "Content-Language", "Vary", "Allow")


class _StampMemo:
    """The last version stamp this process read, and when (time.monotonic())."""

    value: str | None = None
    read_at: float = 0.0


def current_stamp() -> str:
    """The version stamp, read at most once per `PUBLIC_STAMP_TTL` seconds per process.

    During an outage every reader revalidates at once; remembering the stamp for a second
    turns thousands of stamp queries per second into one per process, at the price of a
    change made by *another* process showing up to that long later. A change made in this
    process forgets the memo at once (`forget_stamp`, connected to `incident_changed`).
    """
    ttl = settings.PUBLIC_STAMP_TTL
    now = time.monotonic()
    if ttl <= 0 or _StampMemo.value is None or now - _StampMemo.read_at >= ttl:
        _StampMemo.value, _StampMemo.read_at = selectors.public_version_stamp(), now
    return _StampMemo.value


def forget_stamp(**kwargs) -> None:
    _StampMemo.value = None


def public_etag(request: HttpRequest, *, stamp: str) -> str:
    """Strong ETag for this URL's representation of the data fingerprinted by `stamp`.

    Besides the data it covers what else changes the body: the URL (path and query),
    the host and scheme (absolute links), today's UTC date (day-based windows such as
    the 90-day strip), the settings shown publicly, and the code's representation version.
    """
    parts = (
        REPRESENTATION_VERSION,
        stamp,
        request.get_full_path(),
        request.scheme,
        request.get_host(),
        timezone.now().date().isoformat(),
        settings.INCIDENT_PREFIX,
        settings.STATUS_PAGE_NAME,
        settings.PUBLIC_BASE_URL,
        settings.TIME_ZONE,
        str(settings.LIST_CLOSED_DAYS),
        str(settings.LIST_CLOSED_LIMIT),
        str(getattr(settings, "STATUS_PAGE_REFRESH_SECONDS", "")),
    )
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    candidates = parse_etags(header)
    # Weak comparison is what If-None-Match uses (RFC 9110 §13.1.2): W/"x" matches "x".
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


Guard = Callable[[HttpRequest], HttpResponse | None]


def public_cache(view: Callable[..., HttpResponse], *, guard: Guard | None = None) -> Callable[..., HttpResponse]:
    """Decorate a public GET view: ETag + Cache-Control on every answer, 304 before the view runs.

    `guard` runs first and may refuse the request (e.g. `/list`'s API key), so a 304 is
    never a way around it. The view can read the ETag as `request.public_etag` (pages embed
    it for their own refresh). Responses other than 200 (404, 403) get no ETag.
    """

    def answer_early(request: HttpRequest) -> HttpResponse | None:
        """The guard's refusal, a 304 or the cached body; None when the view has to render."""
        if guard is not None and (refusal := guard(request)) is not None:
            return refusal
        etag = public_etag(request, stamp=current_stamp())
        request.public_etag = etag
        if etag_matches(request, etag):
            return _with_cache_headers(HttpResponseNotModified(), etag)
        cached = _cached_body(request, etag)
        return _with_cache_headers(cached, etag) if cached is not None else None

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        if getattr(request, "public_etag", None) is None and (early := answer_early(request)) is not None:
            return early
        response = _render_and_store(view, request, request.public_etag, *args, **kwargs)
        if response.status_code != 200:
            return response
        return _with_cache_headers(response, request.public_etag)

    wrapper.answer_early = answer_early
    return wrapper


class PublicCacheMiddleware:
    """Answer revalidations and repeat reads of public URLs before the rest of the stack.

    Placed before the session, CSRF, auth and messages middleware: a 304 or a cached body
    needs none of them, and skipping them is most of what separates a cached `/list` from a
    static file (docs/BENCHMARKS.md). A miss goes through the whole stack as usual, and the
    view reuses the ETag computed here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
            answer_early = _early_answerer(urlconf, request.path_info)
            if answer_early is not None and (response := answer_early(request)) is not None:
                return response
        return self.get_response(request)


@lru_cache(maxsize=1024)
def _early_answerer(urlconf: str, path: str) -> Guard | None:
    """The `answer_early` of the public view at `path`, if any (URL resolution is remembered per path)."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return getattr(match.func, "answer_early", None)


def _with_cache_headers(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _body_key(request: HttpRequest, etag: str) -> str:
    """The ETag already covers URL, host and data; `Accept` can change the representation (DRF negotiation)."""
    accept = request.headers.get("Accept", "")
    return f"public-body:{etag}:{hashlib.sha256(accept.encode()).hexdigest()[:16]}"


def _cached_body(request: HttpRequest, etag: str) -> HttpResponse | None:
    stored = caches[CACHE_ALIAS].get(_body_key(request, etag))
    if stored is None:
        return None
    content, headers = stored
    response = HttpResponse(content)
    for name, value in headers:
        response[name] = value
    response["Content-Length"] = str(len(content))
    return response


def _render_and_store(view: Callable[..., HttpResponse], request: HttpRequest, etag: str, *args, **kwargs):
    response = view(request, *args, **kwargs)
    if response.status_code != 200 or response.streaming or response.cookies:
        return response
    if callable(getattr(response, "render", None)):
        response.render()  # DRF and template responses render lazily; the body is needed now
    headers = [(name, response[name]) for name in _STORED_HEADERS if response.has_header(name)]
    caches[CACHE_ALIAS].set(_body_key(request, etag), (response.content, headers))
    return response
