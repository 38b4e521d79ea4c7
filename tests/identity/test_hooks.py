"""The hooks identity tells of merges, revocations and deletions (COGNATE_IDENTITY_HOOKS): a
path that cannot be used is a start-up error that names it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from identity import hooks
from identity.checks import identity_hooks


def test_the_default_hooks_pass_the_check():
    assert identity_hooks(None) == []


def test_a_hook_that_cannot_be_imported_or_is_no_hook_is_named(settings):
    settings.COGNATE_IDENTITY_HOOKS = ["nowhere.Hooks", "identity.models.Identity"]
    problems = identity_hooks(None)
    assert [problem.id for problem in problems] == ["cognate.E007", "cognate.E007"]
    assert "'nowhere.Hooks' cannot be imported" in problems[0].msg
    assert "'identity.models.Identity' is not a subclass of" in problems[1].msg
    with pytest.raises(ImproperlyConfigured, match=r"nowhere\.Hooks"):
        hooks.installed()


def test_a_changed_setting_is_loaded_again(settings):
    settings.COGNATE_IDENTITY_HOOKS = ["identity.hooks.IdentityHooks"]
    assert [type(hook) for hook in hooks.installed()] == [hooks.IdentityHooks]
    settings.COGNATE_IDENTITY_HOOKS = []
    assert hooks.installed() == ()


def test_identity_imports_nothing_of_syncstore():
    """The hooks are the only way identity reaches the data side: no module of identity
    imports syncstore, at its top or inside a function."""
    import ast
    from pathlib import Path

    root = Path(hooks.__file__).parent
    crossing = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            crossing += [
                f"{path.relative_to(root.parent)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] == "syncstore"
            ]
    assert crossing == []
