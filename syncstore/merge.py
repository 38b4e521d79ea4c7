"""How two identities' datasets meet when one is merged into the other (DESIGN §3): the
decision, as a pure function of the records, for each merge policy. `syncstore.services`
applies it. Whatever the policy, no value is lost: every value either stays in (or comes to)
the root dataset or is kept in a dataset named `<name>.<identity id>`, which ListRecords of
`<name>` reports in MergedDatasetNames.

- `merge` (default): keys only the merged identity had are added; where both had a key with
  different values, the survivor's value stays and the other is kept in `<name>.<mergedId>`.
- `newest`: as `merge`, but the value with the newer device time stays in the root and the
  other goes to `<name>.<loserId>`.
- `cognito`: no key-level merge; every dataset of the merged identity reappears as
  `<name>.<mergedId>`, as Cognito Sync does.
- `custom`: the function named by COGNATE_MERGE_RESOLVER decides per dataset; a decision that
  would lose a value is replaced by `merge`'s.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

MAX_NAME = 128


@dataclass(frozen=True)
class Value:
    """A live record's value and when it was written, in epoch seconds (by the device's
    clock when known, else the server's)."""

    value: str
    written: float


@dataclass
class Plan:
    """What to write: values into the survivor's root dataset, and values to keep in other
    datasets of the survivor, by dataset name."""

    root: dict[str, str] = field(default_factory=dict)
    kept: dict[str, dict[str, str]] = field(default_factory=dict)

    def keep(self, dataset: str, key: str, value: str) -> None:
        self.kept.setdefault(dataset, {})[key] = value


Resolver = Callable[..., Plan]


def merged_name(name: str, identity_id: str) -> str:
    """`<name>.<identity id>`, the root name shortened if the whole would pass 128."""
    suffix = f".{identity_id}"
    return name[: MAX_NAME - len(suffix)] + suffix


def _merge(name, survivor, merged, survivor_id, merged_id) -> Plan:
    plan = Plan()
    for key, theirs in merged.items():
        ours = (survivor or {}).get(key)
        if ours is None:
            plan.root[key] = theirs.value
        elif ours.value != theirs.value:
            plan.keep(merged_name(name, merged_id), key, theirs.value)
    return plan


def _newest(name, survivor, merged, survivor_id, merged_id) -> Plan:
    plan = Plan()
    for key, theirs in merged.items():
        ours = (survivor or {}).get(key)
        if ours is None:
            plan.root[key] = theirs.value
        elif ours.value != theirs.value:
            if theirs.written > ours.written:
                plan.root[key] = theirs.value
                plan.keep(merged_name(name, survivor_id), key, ours.value)
            else:
                plan.keep(merged_name(name, merged_id), key, theirs.value)
    return plan


def _cognito(name, survivor, merged, survivor_id, merged_id) -> Plan:
    plan = Plan()
    for key, theirs in merged.items():
        plan.keep(merged_name(name, merged_id), key, theirs.value)
    return plan


def loses_nothing(plan: Plan, survivor: dict | None, merged: dict) -> bool:
    """Whether every value of both sides is somewhere after the plan is applied."""
    final = {key: value.value for key, value in (survivor or {}).items()}
    final.update(plan.root)
    for side in (survivor or {}, merged):
        for key, value in side.items():
            if final.get(key) == value.value:
                continue
            if not any(kept.get(key) == value.value for kept in plan.kept.values()):
                return False
    return True


def plan_dataset(
    name: str,
    survivor: dict[str, Value] | None,
    merged: dict[str, Value],
    *,
    policy: str,
    survivor_id: str,
    merged_id: str,
) -> Plan:
    """Where the merged identity's records of dataset `name` go. `survivor` holds the
    survivor's live records of that dataset (None if it has no such dataset)."""
    if policy == "custom":
        resolver: Resolver = import_string(settings.COGNATE_MERGE_RESOLVER)
        plan = resolver(name, survivor, merged, survivor_id=survivor_id, merged_id=merged_id)
        if isinstance(plan, Plan) and loses_nothing(plan, survivor, merged):
            return plan
        logger.warning("merge resolver would lose values of %s; merging instead", name)
        policy = "merge"
    decide = {"merge": _merge, "newest": _newest, "cognito": _cognito}[policy]
    return decide(name, survivor, merged, survivor_id, merged_id)
