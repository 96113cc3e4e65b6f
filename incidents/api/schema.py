"""OpenAPI schema of the public API only (drf-spectacular preprocessing hook)."""

PUBLIC_PREFIXES = ("/list", "/api/v2/")


def public_endpoints_only(endpoints):
    """Keep `/list` and `/api/v2/*`: the schema documents what outside clients may rely on."""
    return [e for e in endpoints if e[0].startswith(PUBLIC_PREFIXES)]
