"""IAM-style policy evaluation: the subset Cognito roles use.

A request (action, resource, principal, condition keys) is allowed when some statement of
the documents allows it and none denies it. Supported: Effect, Action/NotAction,
Resource/NotResource, Principal (for trust policies), policy variables such as
`${cognito-identity.amazonaws.com:sub}`, and the condition operators String(Not)Equals,
String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals/Like, Bool and Null, with the
`ForAnyValue:`/`ForAllValues:` qualifiers and the `IfExists` suffix.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ContextValue = str | list[str]


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str = "*"
    # For trust policies: the principal asking, e.g. {"Federated": "cognito-identity..."}.
    principal: Mapping[str, str] | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)


_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Unresolved(Exception):
    """A policy variable has no value in the request: the pattern cannot match."""


_TOKEN = re.compile(r"\$\{([^}]+)\}|\*|\?|[^$*?]+|\$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def _variable(name: str, context: Mapping[str, ContextValue]) -> str:
    if name in _ESCAPES:
        return _ESCAPES[name]
    name, comma, default = name.partition(",")
    value = context.get(name.strip())
    if value is None and comma:
        return default.strip().strip("'")
    if value is None or isinstance(value, list):
        raise _Unresolved(name)
    return value


def _compile(pattern: str, context: Mapping[str, ContextValue], *, glob: bool) -> str:
    """Turn a policy string into a regex: `*` and `?` are wildcards when `glob`, variables
    are replaced by their (literal) values."""
    parts = []
    for match in _TOKEN.finditer(pattern):
        token = match.group(0)
        if match.group(1) is not None:
            parts.append(re.escape(_variable(match.group(1), context)))
        elif glob and token == "*":
            parts.append(".*")
        elif glob and token == "?":
            parts.append(".")
        else:
            parts.append(re.escape(token))
    return "".join(parts)


def _like(pattern: str, value: str, context: Mapping[str, ContextValue], ignore_case=False):
    try:
        regex = _compile(pattern, context, glob=True)
    except _Unresolved:
        return False
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def _equals(expected: str, value: str, context, ignore_case=False) -> bool:
    try:
        regex = _compile(expected, context, glob=False)
    except _Unresolved:
        return False
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _value_matches(operator: str, expected: list, value: str, context) -> bool:
    """Whether one context value matches any of the policy's values (positive form)."""
    base = operator.removeprefix("String").removeprefix("Arn").replace("Not", "")
    for item in expected:
        item = str(item).lower() if isinstance(item, bool) else str(item)
        if operator == "Bool":
            if item.lower() == value.lower():
                return True
        elif base in ("Like",) or operator.startswith("Arn"):
            if _like(item, value, context):
                return True
        elif base == "EqualsIgnoreCase":
            if _equals(item, value, context, ignore_case=True):
                return True
        elif _equals(item, value, context):
            return True
    return False


def _condition_holds(qualified_operator: str, key: str, expected: Any, context) -> bool:
    qualifier, _, operator = qualified_operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    expected = _as_list(expected)
    present = key in context and context[key] not in (None, [])
    if operator == "Null":
        want_absent = str(expected[0]).lower() == "true" if expected else True
        return want_absent != present
    negated = "Not" in operator
    if not present:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (negated and qualifier != "ForAnyValue")
    values = _as_list(context[key])
    if qualifier == "ForAllValues":
        results = [_value_matches(operator, expected, v, context) for v in values]
        return all((not r) if negated else r for r in results)
    # ForAnyValue, and single-valued keys (a list is read as "any of").
    results = [_value_matches(operator, expected, v, context) for v in values]
    if negated and qualifier != "ForAnyValue":
        return not any(results)
    if negated:
        return any(not r for r in results)
    return any(results)


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, block in conditions.items()
        for key, expected in block.items()
    )


def _principal_matches(principal: Any, asking: Mapping[str, str] | None) -> bool:
    if principal == "*":
        return True
    if asking is None or not isinstance(principal, dict):
        return False
    return any(
        value == "*" or value == asking.get(kind)
        for kind, values in principal.items()
        for value in _as_list(values)
    )


def _matches_any(patterns: Any, value: str, context, *, ignore_case: bool = False) -> bool:
    return any(_like(p, value, context, ignore_case) for p in _as_list(patterns))


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    context = request.context
    targets: tuple[tuple[str, str, Mapping[str, ContextValue], bool], ...] = (
        ("Action", request.action, {}, True),
        ("Resource", request.resource, context, False),
    )
    for key, value, variables, ignore_case in targets:
        if key in statement and not _matches_any(
            statement[key], value, variables, ignore_case=ignore_case
        ):
            return False
        if f"Not{key}" in statement and _matches_any(
            statement[f"Not{key}"], value, variables, ignore_case=ignore_case
        ):
            return False
    if "Principal" in statement and not _principal_matches(
        statement["Principal"], request.principal
    ):
        return False
    return _conditions_hold(statement.get("Condition") or {}, context)


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _as_list(document.get("Statement"))


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    allowed = False
    for document in documents:
        for statement in statements(document):
            if not _statement_applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def is_allowed(documents: Iterable[Mapping[str, Any]], request: Request) -> bool:
    return evaluate(documents, request) is Decision.ALLOW


def document_errors(document: Any, *, trust: bool = False) -> list[str]:
    """Why a policy document is malformed (empty when it is well formed)."""
    if not isinstance(document, dict):
        return ["The policy document must be a JSON object."]
    if "Statement" not in document:
        return ["The policy document has no Statement."]
    raw = document["Statement"]
    items = raw if isinstance(raw, list) else [raw]
    errors = []
    for number, statement in enumerate(items, start=1):
        where = f"Statement {number}"
        if not isinstance(statement, dict):
            errors.append(f"{where} must be a JSON object.")
            continue
        if statement.get("Effect") not in ("Allow", "Deny"):
            errors.append(f'{where}: Effect must be "Allow" or "Deny".')
        if ("Action" in statement) == ("NotAction" in statement):
            errors.append(f"{where} needs exactly one of Action or NotAction.")
        if trust:
            if "Principal" not in statement:
                errors.append(f"{where} of a trust policy needs a Principal.")
        elif ("Resource" in statement) == ("NotResource" in statement):
            errors.append(f"{where} needs exactly one of Resource or NotResource.")
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not all(
                isinstance(v, str) and v for v in _as_list(statement[key])
            ):
                errors.append(f"{where}: {key} must be a string or a list of strings.")
        condition = statement.get("Condition", {})
        if not isinstance(condition, dict) or not all(
            isinstance(block, dict) for block in condition.values()
        ):
            errors.append(f"{where}: Condition must map operators to objects.")
            continue
        for operator in condition:
            name = operator.rpartition(":")[2].removesuffix("IfExists")
            qualifier = operator.rpartition(":")[0]
            if name not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
                errors.append(f"{where}: the condition operator {operator} is not supported.")
    return errors
