"""Input validation against botocore's service models, so every operation checks exactly the
constraints AWS publishes (required members, types, lengths, ranges, enums and patterns;
botocore itself does not check patterns, reference §2)."""

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
import regex
from botocore.model import OperationModel, ServiceModel, Shape

from aws.errors import AwsError, SerializationFailed, ValidationFailed, printable

# JSON deeper than this is refused before anything reads it. The deepest input of the models
# (RoleMappings, policies) is under 10 levels.
MAX_JSON_DEPTH = 64
# The only string shape whose values may hold U+0000: record values are stored and returned
# exactly as sent (syncstore/models.py stores them escaped). Everywhere else NUL is refused.
NUL_ALLOWED = {"RecordValue"}


def load_json(
    data: bytes | str,
    *,
    error: type[AwsError] = SerializationFailed,
    too_deep: type[AwsError] | None = None,
    what: str = "request body",
) -> Any:
    """Parse JSON from a client, refusing (with `error`) what no real request holds: invalid
    JSON or UTF-8, and (with `too_deep`, by default `error`) nesting deeper than
    MAX_JSON_DEPTH."""
    deep = (too_deep or error)(f"The {what} nests JSON deeper than {MAX_JSON_DEPTH} levels.")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise error(f"The {what} is not valid JSON.") from None
    except RecursionError:
        raise deep from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise deep
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; AWS doesn't


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


_JAVA_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}


def _java_to_python(pattern: str) -> str:
    """Model patterns are Java regexes, where \\w, \\d and \\s are ASCII-only while \\p{L}
    is Unicode; spell the ASCII classes out so both behave as in Java."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _JAVA_CLASSES:
                body = _JAVA_CLASSES[nxt]
                out.append(body if in_class else f"[{body}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@cache
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(_java_to_python(pattern))


_BITS = {"integer": 32, "long": 64}
_INTEGER_RANGES = {kind: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for kind, bits in _BITS.items()}
# What datetime (and so every database) can hold: 0001-01-01 to 9999-12-31, in epoch seconds.
_EPOCH_RANGE = (-62135596800, 253402300799)


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        shown = "null" if value is None else f"'{_preview(value)}'"
        self.errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")

    def check(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        handler: Callable[[Shape, Any, str], None] = getattr(self, f"_check_{kind}", _accept)
        handler(shape, value, path)

    def _check_structure(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _WrongType(path, "an object")
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "Member must not be null")
        # An explicit null is an absent member, as in AWS's JSON services; members the model
        # does not name are dropped, so nothing unchecked is stored.
        for name in [
            name for name, item in value.items() if item is None or name not in shape.members
        ]:
            del value[name]
        for name, member in shape.members.items():
            if value.get(name) is not None:
                self.check(member, value[name], _join(path, name))

    def _check_string(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _WrongType(path, "a string")
        problem = _text_problem(shape, value)
        if problem:
            self.fail(value, path, problem)
            return
        meta = shape.metadata
        if shape.enum and value not in shape.enum:
            self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        self._check_length(meta, value, path)
        pattern = meta.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _check_length(self, meta: dict, value: Any, path: str) -> None:
        if "min" in meta and len(value) < meta["min"]:
            self.fail(
                value, path, f"Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and len(value) > meta["max"]:
            self.fail(value, path, f"Member must have length less than or equal to {meta['max']}")

    def _check_integer(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _WrongType(path, "an integer")
        if not _INTEGER_RANGES[shape.type_name][0] <= value <= _INTEGER_RANGES[shape.type_name][1]:
            raise _WrongType(path, f"a {shape.type_name} (a {_BITS[shape.type_name]}-bit integer)")
        meta = shape.metadata
        if "min" in meta and value < meta["min"]:
            self.fail(value, path, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            self.fail(value, path, f"Member must have value less than or equal to {meta['max']}")

    _check_long = _check_integer

    def _check_boolean(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise _WrongType(path, "true or false")

    def _check_timestamp(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _WrongType(path, "a number of seconds since the epoch")
        if not _EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]:  # NaN fails this too
            raise _WrongType(path, "a time between the years 1 and 9999, in epoch seconds")

    def _check_double(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _WrongType(path, "a number")
        if not math.isfinite(value):
            raise _WrongType(path, "a finite number")

    _check_float = _check_double

    def _check_list(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _WrongType(path, "a list")
        self._check_length(shape.metadata, value, path)
        for index, item in enumerate(value, start=1):
            if item is None:
                self.fail(None, f"{path}.{index}.member", "Member must not be null")
            else:
                self.check(shape.member, item, f"{path}.{index}.member")

    def _check_map(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _WrongType(path, "an object")
        self._check_length(shape.metadata, value, path)
        for key, item in value.items():
            self.check(shape.key, key, f"{path}.key")
            if item is None:
                self.fail(None, f"{path}.{key}", "Map value must not be null")
            else:
                self.check(shape.value, item, f"{path}.{key}")


def _text_problem(shape: Shape, value: str) -> str | None:
    """Why a string cannot be taken whatever the model says: lone surrogates (not Unicode
    text, so nothing can store or encode it) and NUL (PostgreSQL cannot store it)."""
    if value.isascii() and "\x00" not in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return "Member must be valid Unicode text (it holds a lone surrogate); send UTF-8 text"
    if "\x00" in value and shape.name not in NUL_ALLOWED:
        return "Member must not contain the NUL character (U+0000)"
    return None


def _accept(shape: Shape, value: Any, path: str) -> None:
    return None


class _WrongType(Exception):
    def __init__(self, path: str, expected: str):
        super().__init__(path)
        self.path, self.expected = path, expected


def _join(path: str, name: str) -> str:
    name = lower_first(name)
    return f"{path}.{name}" if path else name


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= 256 else text[:253] + "..."
    return printable(text)


def validate(
    shape: Shape | None,
    params: Any,
    *,
    invalid: type[AwsError] = ValidationFailed,
    wrong_type: type[AwsError] = SerializationFailed,
    path: str = "",
) -> None:
    """Check `params` against an input shape; raise `invalid` listing every constraint broken
    (AWS's "N validation errors detected: ..." message) or `wrong_type` for a value of the
    wrong JSON type."""
    if shape is None:
        return
    checker = _Checker()
    try:
        checker.check(shape, params, path)
    except _WrongType as error:
        where = f"'{error.path}'" if error.path else "the request body"
        raise wrong_type(f"Expected {error.expected} at {where}.") from None
    if checker.errors:
        count = len(checker.errors)
        noun = "error" if count == 1 else "errors"
        raise invalid(f"{count} validation {noun} detected: " + "; ".join(checker.errors))
