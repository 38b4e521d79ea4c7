from django.apps import AppConfig


class SyncstoreConfig(AppConfig):
    name = "syncstore"
    verbose_name = "Sync store"
