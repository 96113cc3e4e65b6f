"""Markdown → safe HTML for everything people typed (descriptions, update messages).

Incident text comes from Slack and admin and is never trusted as HTML: Markdown is
rendered, then nh3 (ammonia) keeps only a small set of tags and attributes, drops
`javascript:` and other non-web link schemes, and marks links `rel="noopener nofollow"`.
"""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr",
    "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_INPUT = 20_000


def render_markdown(text: str) -> SafeString:
    """Sanitised HTML of `text` (Markdown); empty input gives an empty string."""
    if not text:
        return mark_safe("")  # noqa: S308 - constant empty string
    html = markdown.markdown(text[:MAX_INPUT], extensions=["fenced_code", "tables", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - nh3 output is sanitised
