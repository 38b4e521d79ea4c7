from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from identity import accounts, checks, hooks, signals  # noqa: F401  (checks, receivers)
