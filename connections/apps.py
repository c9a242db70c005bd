from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Host connections"

    def ready(self) -> None:
        from connections import signals  # noqa: F401 - registers the audit receivers
