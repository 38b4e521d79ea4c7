"""System checks for settings the data side depends on."""

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from identity import hooks
from syncstore.hooks import DataHooks


@register()
def data_hooks(app_configs, **kwargs):
    """syncstore's hooks are among identity's: without them a merge would leave the guest's
    datasets behind and no device would hear of merges, revocations or deletions."""
    problems: list[CheckMessage] = []
    try:
        installed = hooks.installed()
    except ImproperlyConfigured:
        return problems  # cognate.E007 says what is wrong
    if not any(isinstance(hook, DataHooks) for hook in installed):
        problems.append(
            Error(
                f"{hooks.SETTING} does not name syncstore.hooks.DataHooks: merges would leave "
                "the guest's datasets behind, and devices would not hear of merges, "
                "revocations and deletions.",
                hint="Add syncstore.hooks.DataHooks (it is the default).",
                id="cognate.E008",
            )
        )
    return problems
