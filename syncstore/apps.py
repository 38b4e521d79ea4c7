from django.apps import AppConfig


class SyncstoreConfig(AppConfig):
    name = "syncstore"
    verbose_name = "Sync store"

    def ready(self) -> None:
        from syncstore import checks  # noqa: F401  (registers them)
