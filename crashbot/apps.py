from django.apps import AppConfig


class CrashbotConfig(AppConfig):
    """The project package as an app: the scheduler's job table and its ``db_worker`` command.

    Listed before ``django_tasks_db`` in INSTALLED_APPS so that ``manage.py db_worker`` is
    the one in ``crashbot/management/commands`` (the library's worker plus the scheduler).
    """

    name = "crashbot"
    verbose_name = "Operations"
