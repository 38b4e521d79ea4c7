"""Configuration kept in process memory (selectors: pools, roles, the operator keys with
their users, the pools each key may reach) is reloaded everywhere when it changes, whichever
code path changed it: the admin, a management command, the API."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from identity import selectors
from identity.models import AccessKey

User = get_user_model()


def _changed(**kwargs) -> None:
    transaction.on_commit(selectors.config_changed)


@receiver(m2m_changed, sender=AccessKey.pools.through, dispatch_uid="cognate.key-pools")
def key_pools_changed(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        _changed()


@receiver(post_save, sender=AccessKey, dispatch_uid="cognate.key-saved")
@receiver(post_delete, sender=AccessKey, dispatch_uid="cognate.key-deleted")
def key_changed(**kwargs) -> None:
    _changed()


@receiver(post_save, sender=User, dispatch_uid="cognate.key-user-saved")
def key_user_saved(instance, update_fields=None, **kwargs) -> None:
    """A key's user became inactive, lost staff or superuser status…; a sign-in to the site
    (which saves only `last_login`) and users who hold no key change nothing kept."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    if AccessKey.objects.filter(user_id=instance.pk).exists():
        _changed()


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="cognate.user-groups")
@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="cognate.user-perms")
@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="cognate.group-perms")
def permissions_changed(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        _changed()
