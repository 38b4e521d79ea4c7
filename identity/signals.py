"""Configuration kept in process memory (selectors: pools, roles, the pools each access key
may reach) is reloaded everywhere when it changes, whichever code path changed it."""

from django.db import transaction
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from identity import selectors
from identity.models import AccessKey


@receiver(m2m_changed, sender=AccessKey.pools.through, dispatch_uid="cognate.key-pools")
def key_pools_changed(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        transaction.on_commit(selectors.config_changed)
