"""Fixtures shared by every app's tests."""

import pytest

# The `browser` fixture (Playwright + Debian's chromium) for every app's browser tests.
pytest_plugins = ["incidents.tests.browser"]


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def _empty_public_body_cache(settings):
    """Rendered public bodies are cached per ETag; each test starts without another test's bodies.

    Tests write with the ORM and read at once, so the stamp memo is off except where a test
    turns it on (incidents/tests/test_caching.py tests it).
    """
    from django.core.cache import caches

    from incidents.caching import forget_stamp

    # The last-good-body store is shared by processes (a file cache by default): a test's own here.
    settings.CACHES = {
        **settings.CACHES,
        "public-stale": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "stale-test"},
    }
    caches["public"].clear()
    caches["public-stale"].clear()
    settings.PUBLIC_STAMP_TTL = 0
    forget_stamp()
