"""Reading AWS query-protocol parameters (`Name=value&List.member.1=...`) into the nested
values an operation's input shape describes (reference §1.5)."""

import re
from typing import Any

from botocore.model import Shape

from aws.errors import ValidationFailed
from aws.shapes import lower_first

_MISSING = object()


def parse(shape: Shape | None, form: dict[str, str]) -> dict:
    if shape is None:
        return {}
    return _structure(shape, form, "")


def _structure(shape: Shape, form: dict[str, str], prefix: str) -> dict:
    out = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _member(member, form, key)
        if value is not _MISSING:
            out[name] = value
    return out


def _indexes(form: dict[str, str], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.|$)")
    found = {int(m.group(1)) for k in form if (m := pattern.match(k))}
    return sorted(found)


def _member(shape: Shape, form: dict[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in form):
            return _MISSING
        return _structure(shape, form, key + ".")
    if kind == "list":
        flattened = shape.serialization.get("flattened")
        item_prefix = key if flattened else f"{key}.member"
        indexes = _indexes(form, item_prefix)
        if not indexes:
            return [] if form.get(key) == "" else _MISSING
        return [_member(shape.member, form, f"{item_prefix}.{i}") for i in indexes]
    if kind == "map":
        indexes = _indexes(form, f"{key}.entry")
        if not indexes:
            return _MISSING
        return {
            form.get(f"{key}.entry.{i}.key", ""): form.get(f"{key}.entry.{i}.value", "")
            for i in indexes
        }
    if key not in form:
        return _MISSING
    raw = form[key]
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise ValidationFailed(
                f"1 validation error detected: Value '{raw[:64]}' at '{lower_first(key)}' "
                "failed to satisfy constraint: Member must be a whole number"
            ) from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValidationFailed(
                f"1 validation error detected: Value '{raw[:64]}' at '{lower_first(key)}' "
                "failed to satisfy constraint: Member must be true or false"
            )
        return raw.lower() == "true"
    return raw
