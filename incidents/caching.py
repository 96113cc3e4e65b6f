"""HTTP caching of the public side: strong ETags from a version stamp, 304 before any work.

During an outage the whole community refreshes the status page at once. Every public
response (JSON, pages, feeds) is cacheable by browsers and CDNs for a short time, and a
revalidation costs one aggregate query (`selectors.public_version_stamp`) instead of
rendering the body: the ETag is derived from what the data *is*, not from the bytes.

A 200 is served from rendered bytes kept per ETag (the `public` cache alias, a per-process
LocMemCache by default) beside their gzip and brotli forms, each compressed once per ETag:
the version stamp stays the source of truth, so a cached body is never stale, and a full
render happens once per change per process instead of on every request. With `CACHE_URL` the
bodies are also kept in the `public-shared` store (Redis) that every process and node reads on
a miss of its own copy; the first process to miss claims the render and the others wait briefly
for its body, so a change is rendered about once for all of them (docs/SCALING.md). That store is
an optimisation: when it fails, the process renders as it would without it.

Only what changes the body keys the cache (docs/PUBLIC_API.md): the path, the query
parameters the view reads (normalised by the view's `query` function; others are ignored),
the host and scheme, and the accepted encoding reduced to `br`, `gzip` or identity.

When the database fails, a URL that was served before gets its last body from the
`public-stale` store (shared by every process: `CACHE_URL`, or a file cache on the host)
for up to a day, marked stale; otherwise a 503 (JSON on JSON URLs).
"""

import gzip
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path

import brotli
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

from crashbot.observability import count_public_render
from incidents import selectors

logger = logging.getLogger(__name__)

CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
STALE_CACHE_CONTROL = "public, max-age=30"
CACHE_ALIAS = "public"
SHARED_ALIAS = "public-shared"  # configured only with CACHE_URL
# With a shared store one process renders a new body; the others wait this long for it at most.
RENDER_CLAIM_SECONDS = 5
RENDER_WAIT_SECONDS = 2.0
RENDER_POLL_SECONDS = 0.02
# Request headers longer than this are parsed each time rather than kept in a memo (client-chosen values).
HEADER_MEMO_MAX = 256
STALE_ALIAS = "public-stale"
STALE_MAX_AGE = 86400
COMPRESS_MIN_BYTES = 256
# Brotli above 5 costs much more CPU for little gain on JSON and HTML (SPEC §4: quality ≤ 5).
BROTLI_QUALITY = 4
ENCODING_SUFFIX = {"": "", "gzip": "-gz", "br": "-br"}
# Response headers set by the view that belong to the body; the rest (CORS, security) is added by middleware.
_STORED_HEADERS = ("Content-Type", "Content-Language", "Allow")
# Files whose content shapes public bodies: a deploy that changes any of them changes every ETag.
_REPRESENTATION_SOURCES = (
    ("incidents", "*.py"),
    ("templates", "**/*.html"),
    ("static", "**/*"),
)
_JSON_PATHS = re.compile(r"^/(list$|api/)")


@lru_cache(maxsize=1)
def representation_version() -> str:
    """A digest of the code, templates and static files that render public bodies.

    Derived, not hand-bumped: a deploy that changes how the same data renders changes
    every ETag by itself, so no browser or CDN keeps a 304 of the old page.
    """
    base = Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    for folder, pattern in _REPRESENTATION_SOURCES:
        for path in sorted((base / folder).glob(pattern)):
            if path.is_file() and "tests" not in path.parts:
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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


def public_etag(request: HttpRequest, *, stamp: str, query: str = "") -> str:
    """Strong ETag for this URL's representation of the data fingerprinted by `stamp`.

    Besides the data it covers what else changes the body: the path and the query as the
    view reads it (`query`, already normalised; unknown parameters never reach it), the
    host and scheme (absolute links), today's UTC date (day-based windows such as the
    90-day strip), the settings shown publicly, and the code's representation version.
    """
    parts = (
        representation_version(),
        stamp,
        request.path,
        query,
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


def accepted_encoding(request: HttpRequest) -> str:
    """`br`, `gzip` or `` (identity): the one variant served for this `Accept-Encoding`."""
    header = request.META.get("HTTP_ACCEPT_ENCODING", "")
    # The memo is for the handful of values browsers send; an odd, long one is parsed, not remembered.
    return _encoding_for(header) if len(header) <= HEADER_MEMO_MAX else _encoding_for.__wrapped__(header)


@lru_cache(maxsize=256)
def _encoding_for(header: str) -> str:
    """Parsed once per distinct header value (browsers send a handful), not on every request."""
    accepted: dict[str, float] = {}
    for item in header.lower().split(","):
        name, _, params = item.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        accepted[name.strip()] = quality
    wildcard = accepted.get("*", 0.0)
    for encoding in ("br", "gzip"):
        if accepted.get(encoding, wildcard) > 0:
            return encoding
    return ""


def _variant_etag(etag: str, encoding: str) -> str:
    return etag[:-1] + ENCODING_SUFFIX[encoding] + '"'


def etag_matches(request: HttpRequest, etag: str) -> bool:
    """Whether `If-None-Match` names this representation (any encoding of it); `*` is left to the view."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    named = _etags_named(header) if len(header) <= HEADER_MEMO_MAX else _etags_named.__wrapped__(header)
    return any(_variant_etag(etag, encoding) in named for encoding in ENCODING_SUFFIX)


@lru_cache(maxsize=1024)
def _etags_named(header: str) -> frozenset[str]:
    """The entity tags an `If-None-Match` value names, weak ones as strong (RFC 9110 §13.1.2: weak
    comparison, W/"x" matches "x"); parsed once per distinct value (revalidations repeat them)."""
    return frozenset(c.removeprefix("W/") for c in parse_etags(header))


def _wants_any(request: HttpRequest) -> bool:
    """`If-None-Match: *` matches only a representation that exists: decided after the view ran."""
    return "*" in parse_etags(request.headers.get("If-None-Match", ""))


Guard = Callable[[HttpRequest], HttpResponse | None]


def public_cache(
    view: Callable[..., HttpResponse],
    *,
    guard: Guard | None = None,
    query: Callable[[HttpRequest], str] | None = None,
) -> Callable[..., HttpResponse]:
    """Decorate a public GET view: ETag + Cache-Control on every answer, 304 before the view runs.

    `guard` runs first and may refuse the request (e.g. `/list`'s API key), so a 304 is
    never a way around it. `query` returns the query string as the view reads it (e.g. the
    history's page number, normalised); without it every query parameter is ignored, so
    random parameters neither bypass nor multiply the cache. Responses other than 200
    (404, 403) get no ETag and are not stored.
    """

    def canonical_query(request: HttpRequest) -> str:
        return query(request) if query is not None else ""

    def answer_early(request: HttpRequest) -> HttpResponse | None:
        """The guard's refusal, a 304, the cached body or the stale one; None when the view has to render."""
        if guard is not None and (refusal := guard(request)) is not None:
            return refusal
        try:
            etag = public_etag(request, stamp=current_stamp(), query=canonical_query(request))
        except DatabaseError:
            return _unavailable(request, canonical_query(request))
        request.public_etag = etag
        if etag_matches(request, etag):
            return _not_modified(request, etag)
        if _wants_any(request):
            return None
        entry = caches[CACHE_ALIAS].get(_body_key(etag))
        if entry is None and (entry := _shared_get(_body_key(etag))) is not None:
            caches[CACHE_ALIAS].set(_body_key(etag), entry)
        return _respond(request, entry, etag) if entry is not None else None

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        if getattr(request, "public_etag", None) is None and (early := answer_early(request)) is not None:
            return early
        etag = request.public_etag
        if not _wants_any(request) and (entry := _peer_render(etag)) is not None:
            caches[CACHE_ALIAS].set(_body_key(etag), entry)
            return _respond(request, entry, etag)
        try:
            response, entry = _render_and_store(view, request, etag, *args, **kwargs)
        except DatabaseError:
            return _unavailable(request, canonical_query(request))
        if response.status_code != 200:
            return response
        if entry is None:
            return _with_cache_headers(response, etag)
        caches[STALE_ALIAS].set(_stale_key(request, canonical_query(request)), entry, STALE_MAX_AGE)
        if _wants_any(request):
            return _not_modified(request, etag)
        return _respond(request, entry, etag)

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


def _not_modified(request: HttpRequest, etag: str) -> HttpResponse:
    response = _with_cache_headers(HttpResponseNotModified(), _variant_etag(etag, accepted_encoding(request)))
    response.headers["Vary"] = "Accept-Encoding"  # a fresh response: nothing to merge with
    return response


def _body_key(etag: str) -> str:
    """The ETag covers path, normalised query, host and data (DRF answers JSON whatever `Accept` says)."""
    return f"public-body:{etag}"


def _stale_key(request: HttpRequest, query: str) -> str:
    """The URL as the cache sees it: the same body whatever the ETag (data) was."""
    url = "\x1f".join((request.scheme, request.get_host(), request.path, query))
    return f"public-stale:{hashlib.sha256(url.encode()).hexdigest()[:32]}"


def _respond(request: HttpRequest, entry: dict, etag: str | None) -> HttpResponse:
    """The stored body in the encoding the client accepts (compressed once per ETag, then reused)."""
    encoding = accepted_encoding(request) if len(entry["content"]) >= COMPRESS_MIN_BYTES else ""
    if encoding and encoding not in entry:
        entry[encoding] = _compress(entry["content"], encoding)
        if etag is not None:
            caches[CACHE_ALIAS].set(_body_key(etag), entry)
    response = HttpResponse(entry[encoding] if encoding else entry["content"])
    for name, value in entry["headers"]:
        response[name] = value
    if encoding:
        response["Content-Encoding"] = encoding
    response["Content-Length"] = str(len(response.content))
    patch_vary_headers(response, ("Accept-Encoding",))
    if etag is not None:
        _with_cache_headers(response, _variant_etag(etag, encoding))
    return response


def _compress(content: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(content, quality=BROTLI_QUALITY)
    return gzip.compress(content, compresslevel=6, mtime=0)


def _render_and_store(view: Callable[..., HttpResponse], request: HttpRequest, etag: str, *args, **kwargs):
    """The view's response, and the stored entry (raw body, headers, gzip form) when it is a cacheable 200."""
    response = view(request, *args, **kwargs)
    if response.status_code != 200 or response.streaming or response.cookies:
        return response, None
    if callable(getattr(response, "render", None)):
        response.render()  # DRF and template responses render lazily; the body is needed now
    count_public_render(request)
    headers = [(name, response[name]) for name in _STORED_HEADERS if response.has_header(name)]
    entry = {"content": response.content, "headers": headers, "stored_at": time.time()}
    if len(entry["content"]) >= COMPRESS_MIN_BYTES:
        entry["gzip"] = _compress(entry["content"], "gzip")
    caches[CACHE_ALIAS].set(_body_key(etag), entry)
    _shared_set(_body_key(etag), entry)
    return response, entry


def _peer_render(etag: str) -> dict | None:
    """With a shared store: the body of `etag` rendered by whichever process claimed it first.

    The first process to miss claims the render (an atomic `add` of a short-lived key); the others
    wait up to `RENDER_WAIT_SECONDS` for its body instead of rendering the same bytes. None means
    "render it here": no shared store, this process holds the claim, or the claimant was too slow
    (it died or the store failed), so a reader never waits longer than that for a body.
    """
    if SHARED_ALIAS not in settings.CACHES:
        return None
    key = _body_key(etag)
    try:
        if caches[SHARED_ALIAS].add(f"public-render:{etag}", os.getpid(), timeout=RENDER_CLAIM_SECONDS):
            return None
    except Exception:  # noqa: BLE001 - Redis down or slow: render here, as without a shared store
        logger.warning("shared public body store unavailable; rendering in this process", exc_info=True)
        return None
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(RENDER_POLL_SECONDS)
        if (entry := _shared_get(key)) is not None:
            return entry
    return None


def _shared_get(key: str) -> dict | None:
    """The body another process or node rendered, when a shared store is configured."""
    if SHARED_ALIAS not in settings.CACHES:
        return None
    try:
        return caches[SHARED_ALIAS].get(key)
    except Exception:  # noqa: BLE001 - Redis down or slow: render here, as without a shared store
        logger.warning("shared public body store unavailable; rendering in this process", exc_info=True)
        return None


def _shared_set(key: str, entry: dict) -> None:
    if SHARED_ALIAS not in settings.CACHES:
        return
    try:
        caches[SHARED_ALIAS].set(key, entry)
    except Exception:  # noqa: BLE001 - the body is served anyway; the next process renders its own
        logger.warning("shared public body store unavailable; body kept in this process only", exc_info=True)


def _unavailable(request: HttpRequest, query: str) -> HttpResponse:
    """Database down: the last body this URL was served with (up to a day old), or a 503."""
    logger.warning("database unavailable for public %s", request.path, exc_info=True)
    try:
        entry = caches[STALE_ALIAS].get(_stale_key(request, query))
    except Exception:  # noqa: BLE001 - the shared store may be down too; a 503 is still the answer
        logger.exception("stale store unavailable")
        entry = None
    if entry is not None:
        response = _respond(request, entry, None)
        age = max(0, int(time.time() - entry["stored_at"]))
        response["Age"] = str(age)
        response["Warning"] = '110 - "Response is Stale"'
        response["X-Crashbot-Stale"] = "true"
        response["Cache-Control"] = STALE_CACHE_CONTROL
        return response
    return service_unavailable(request)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 in the URL's own language: JSON for the APIs, the branded page otherwise."""
    if _JSON_PATHS.match(request.path):
        response = JsonResponse(
            {"error": "unavailable", "detail": "The status service cannot reach its database; try again shortly."},
            status=503,
        )
    else:
        html = render_to_string(
            "status/error.html",
            {
                "page_name": settings.STATUS_PAGE_NAME,
                "title": "Status temporarily unavailable",
                "message": "The status page cannot reach its database right now. Please try again in a minute.",
            },
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = "30"
    response["Cache-Control"] = "no-store"
    return response
