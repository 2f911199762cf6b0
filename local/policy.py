"""Just enough IAM resource-policy evaluation for backup vault access policies.

AWS Backup consults the destination vault's policy for `backup:CopyIntoBackupVault` and the
source vault's policy for `backup:CopyFromBackupVault` (aws-facts.md §B.9). The twin evaluates
the statements this project and AWS's samples write: Allow and Deny (Deny wins), `Principal`
"*" or {"AWS": ...}, Action and Resource with `*` wildcards, and the condition operators
String(Not)Equals, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, with the ForAllValues: and
ForAnyValue: set prefixes, and NotAction / NotResource. An unknown operator or element is an
error, never a silent allow or a silently skipped Deny: `check()` finds it when the policy is
put, so the twin refuses what it cannot evaluate instead of guessing.

Missing condition keys follow IAM: a positive operator is false, a negated one true,
`ForAllValues:` is true (nothing fails the test), `ForAnyValue:` false.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Any

RequestContext = Mapping[str, str | list[str]]


class PolicyError(ValueError):
    pass


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    # IAM wildcards: * and ?, case-sensitive.
    return fnmatch.fnmatchcase(value, pattern)


_BASE_OPERATORS = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringLike": lambda expected, actual: _like(expected, actual),
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnLike": lambda expected, actual: _like(expected, actual),
}


def _operator(name: str) -> tuple[str | None, bool, Any]:
    qualifier = None
    if ":" in name:
        qualifier, name = name.split(":", 1)
        if qualifier not in {"ForAllValues", "ForAnyValue"}:
            raise PolicyError(f"unsupported condition qualifier {qualifier}")
    negated = "Not" in name
    base = name.replace("Not", "")
    if base not in _BASE_OPERATORS:
        raise PolicyError(f"unsupported condition operator {name}")
    return qualifier, negated, _BASE_OPERATORS[base]


def _condition_holds(operator_name: str, key: str, expected: Any, context: RequestContext) -> bool:
    qualifier, negated, compare = _operator(operator_name)
    expected_values = [str(v) for v in _as_list(expected)]
    actual = context.get(key)
    if actual is None:
        if qualifier == "ForAllValues":
            return True  # vacuously: no value fails it (a classic trap in Deny statements)
        return negated and qualifier != "ForAnyValue"
    actual_values = _as_list(actual)

    def single(value: str) -> bool:
        matched = any(compare(e, value) for e in expected_values)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(single(v) for v in actual_values)
    if qualifier == "ForAnyValue":
        return any(single(v) for v in actual_values)
    return single(str(actual_values[0]))


def _matches(patterns: Iterable[str], value: str) -> bool:
    return any(_like(pattern, value) for pattern in patterns)


def _principal_matches(principal: Any, principal_arn: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        entries = [str(p) for p in _as_list(principal.get("AWS", []))]
        account = principal_arn.split(":")[4]
        return any(
            entry in {"*", principal_arn, account, f"arn:aws:iam::{account}:root"}
            for entry in entries
        )
    return False


_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}


def check(policy: str) -> None:
    """Raise PolicyError for anything `evaluate` could not evaluate faithfully."""
    document = json.loads(policy)
    if not isinstance(document, Mapping):
        raise PolicyError("a policy is a JSON object")
    for statement in _as_list(document.get("Statement", [])):
        unknown = set(statement) - _STATEMENT_KEYS
        if unknown:
            raise PolicyError(f"unsupported policy element(s) {sorted(unknown)}")
        if statement.get("Effect") not in {"Allow", "Deny"}:
            raise PolicyError(f"Effect must be Allow or Deny, not {statement.get('Effect')!r}")
        if ("Action" in statement) == ("NotAction" in statement):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        for operator in statement.get("Condition", {}):
            _operator(operator)


def _statement_applies(statement: Mapping[str, Any], key: str, value: str) -> bool:
    # `Action` must match; `NotAction` must not (likewise Resource / NotResource).
    if f"Not{key}" in statement:
        return not _matches(_as_list(statement[f"Not{key}"]), value)
    return _matches(_as_list(statement.get(key, "*" if key == "Resource" else [])), value)


def evaluate(
    policy: str | None,
    *,
    action: str,
    resource: str,
    principal_arn: str,
    context: RequestContext,
) -> str:
    """'Allow', 'Deny' (explicit) or 'NoMatch' for one request against one resource policy."""
    if not policy:
        return "NoMatch"
    document = json.loads(policy)
    decision = "NoMatch"
    for statement in _as_list(document.get("Statement", [])):
        if not _statement_applies(statement, "Action", action):
            continue
        if not _statement_applies(statement, "Resource", resource):
            continue
        if not _principal_matches(statement.get("Principal"), principal_arn):
            continue
        conditions = statement.get("Condition", {})
        if not all(
            _condition_holds(operator, key, expected, context)
            for operator, tests in conditions.items()
            for key, expected in tests.items()
        ):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        decision = "Allow"
    return decision
