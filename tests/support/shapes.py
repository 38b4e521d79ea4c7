"""Inputs built from botocore's service models: a filled-in example of an operation's input
with chosen leaf values, and Hypothesis strategies of well-typed and ill-typed inputs."""

import re
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st

from aws.shapes import _java_to_python, service_model


def operations(service: str) -> list[str]:
    return list(service_model(service).operation_names)


def input_shape(service: str, operation: str) -> Shape | None:
    return service_model(service).operation_model(operation).input_shape


def example(shape: Shape | None, *, text: str, depth: int = 0) -> Any:
    """Every member present, every string `text`, numbers at their minimum."""
    if shape is None:
        return {}
    kind = shape.type_name
    if kind == "structure":
        if depth > 6:
            return {}
        return {
            name: example(member, text=text, depth=depth + 1)
            for name, member in shape.members.items()
            if member.serialization.get("location") is None
        }
    if kind == "list":
        return [example(shape.member, text=text, depth=depth + 1)]
    if kind == "map":
        return {text: example(shape.value, text=text, depth=depth + 1)}
    if kind == "string":
        return shape.enum[0] if shape.enum and text.isascii() and text.isalnum() else text
    if kind in ("integer", "long"):
        return shape.metadata.get("min", 1)
    if kind == "boolean":
        return True
    if kind in ("timestamp", "double", "float"):
        return 1700000000
    return text


# Values of every JSON type, including those AWS services refuse.
_HOSTILE_TEXT = st.sampled_from(
    ["", "a", "\ud800", "\x00", "a\x00b", "\udfff\ud800", "é", "𝄞", "x" * 2000, " ", "\n", "%00"]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    _HOSTILE_TEXT,
)
_ANY_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _valid_text(shape: Shape) -> st.SearchStrategy | None:
    """Strings that satisfy the shape's pattern and length, where Python's re can read the
    pattern; they carry a call past validation into the services."""
    low, high = shape.metadata.get("min", 0), min(shape.metadata.get("max", 64), 64)
    pattern = shape.metadata.get("pattern")
    if not pattern:
        return st.text(min_size=low, max_size=max(low, high))
    try:
        compiled = re.compile(_java_to_python(pattern))
    except re.error:
        return None
    return st.from_regex(compiled, fullmatch=True).filter(lambda text: low <= len(text) <= high)


def strategy(shape: Shape | None, depth: int = 0) -> st.SearchStrategy:
    """Inputs of `shape`: mostly well-typed with hostile values, sometimes of any JSON type,
    members sometimes missing or null."""
    if shape is None:
        return st.just({})
    wrong = _ANY_JSON
    kind = shape.type_name
    if kind == "structure":
        if depth > 5:
            return st.just({})
        members = {
            name: strategy(member, depth + 1)
            for name, member in shape.members.items()
            if member.serialization.get("location") is None
        }
        if not members:
            return st.one_of(st.just({}), wrong)
        required = {name: members[name] for name in shape.required_members if name in members}
        complete = st.fixed_dictionaries(
            required, optional={k: v for k, v in members.items() if k not in required}
        )
        right = st.one_of(complete, complete, st.fixed_dictionaries({}, optional=members))
        return st.one_of(right, right, right, wrong) if depth else right
    if kind == "list":
        right = st.lists(strategy(shape.member, depth + 1), max_size=3)
    elif kind == "map":
        right = st.dictionaries(
            st.one_of(_HOSTILE_TEXT, st.text(max_size=20)),
            strategy(shape.value, depth + 1),
            max_size=3,
        )
    elif kind == "string":
        choices = [st.text(max_size=60), _HOSTILE_TEXT]
        if shape.enum:
            choices += [st.sampled_from(shape.enum)] * 3
        valid = _valid_text(shape)
        if valid is not None:
            choices += [valid] * 3
        right = st.one_of(*choices)
    elif kind in ("integer", "long"):
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 1000)
        right = st.one_of(
            st.integers(min_value=-(2**66), max_value=2**66),
            st.integers(min_value=low, max_value=max(low, high)),
        )
    elif kind == "boolean":
        right = st.booleans()
    elif kind in ("timestamp", "double", "float"):
        right = st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=10))
    else:
        right = wrong
    return st.one_of(right, right, right, wrong)
