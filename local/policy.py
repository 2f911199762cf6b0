"""IAM policy evaluation for the twin: identity policies, trust policies and vault policies.

One evaluator serves the three kinds of policy the project writes:

- identity policies of roles (inline and managed), checked on every AWS Backup call and on
  sts:AssumeRole (local/iam.py);
- trust policies (`AssumeRolePolicyDocument`), checked on sts:AssumeRole;
- backup vault access policies, checked when a copy job starts: `backup:CopyIntoBackupVault`
  on the destination vault and `backup:CopyFromBackupVault` on the source (docs/aws-facts.md §B.9).

It evaluates what this project and AWS's samples write: Allow and Deny (an explicit Deny
wins; without an Allow the answer is no), `Principal` "*", {"AWS": ...} or {"Service": ...},
Action / NotAction (case-insensitive, `*` and `?` wildcards), Resource / NotResource
(case-sensitive wildcards), and the condition operators String(Not)Equals,
String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool and Null,
with the `ForAllValues:` and `ForAnyValue:` set prefixes and the `IfExists` suffix. An unknown
operator or element is an error, never a silent allow or a silently skipped Deny: `check()`
finds it when the policy is put, so the twin refuses what it cannot evaluate instead of guessing.

Absent condition keys follow IAM (docs/aws-facts.md §H, set operators): a positive operator is
false and a negated one true; `ForAllValues:` is true (nothing fails it) and `ForAnyValue:`
false, negated or not; `...IfExists` is true; `Null` tests for absence itself.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

RequestContext = Mapping[str, str | list[str]]
Decision = Literal["Allow", "Deny", "NoMatch"]


class PolicyError(ValueError):
    pass


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    # IAM wildcards: * and ?, case-sensitive.
    return fnmatch.fnmatchcase(value, pattern)


_BASE_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": _like,
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnLike": _like,
    "Bool": lambda expected, actual: actual.lower() == expected.lower(),
}


def _operator(name: str) -> tuple[str | None, bool, bool, Callable[[str, str], bool] | None]:
    """(set qualifier, negated, if-exists, comparison) of a condition operator; None: Null."""
    qualifier = None
    if ":" in name:
        qualifier, name = name.split(":", 1)
        if qualifier not in {"ForAllValues", "ForAnyValue"}:
            raise PolicyError(f"unsupported condition qualifier {qualifier}")
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    if base == "Null" and qualifier is None and not if_exists:
        return None, False, False, None
    negated = "Not" in base
    base = base.replace("Not", "")
    if base not in _BASE_OPERATORS:
        raise PolicyError(f"unsupported condition operator {name}")
    return qualifier, negated, if_exists, _BASE_OPERATORS[base]


def _condition_holds(operator_name: str, key: str, expected: Any, context: RequestContext) -> bool:
    qualifier, negated, if_exists, compare = _operator(operator_name)
    expected_values = [
        str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)
    ]
    actual = context.get(key)
    if compare is None:  # Null: "true" asks for the key to be absent, "false" present
        return (actual is None) == (expected_values[0].lower() == "true")
    if actual is None:
        if if_exists or qualifier == "ForAllValues":
            return True  # vacuously: no value fails it (a classic trap in Deny statements)
        return negated and qualifier != "ForAnyValue"
    actual_values = [str(v) for v in _as_list(actual)]

    def single(value: str) -> bool:
        matched = any(compare(e, value) for e in expected_values)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(single(v) for v in actual_values)
    if qualifier == "ForAnyValue":
        return any(single(v) for v in actual_values)
    return single(actual_values[0])


def _principal_matches(principal: Any, caller: str) -> bool:
    """Does a statement's Principal name the caller (a role ARN or a service principal)?"""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if caller.endswith(".amazonaws.com"):  # a service, e.g. events.amazonaws.com
        return caller in [str(p) for p in _as_list(principal.get("Service", []))]
    account = caller.split(":")[4]
    return any(
        entry in {"*", caller, account, f"arn:aws:iam::{account}:root"}
        for entry in [str(p) for p in _as_list(principal.get("AWS", []))]
    )


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


def check(policy: str, *, identity: bool = False) -> None:
    """Raise PolicyError for anything `evaluate` could not evaluate faithfully.

    An identity policy has no Principal; a resource (vault or trust) policy needs one.
    """
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
        if identity and "Principal" in statement:
            raise PolicyError("an identity policy names no Principal")
        for operator in statement.get("Condition", {}):
            _operator(operator)


def _statement_applies(statement: Mapping[str, Any], key: str, value: str) -> bool:
    # `Action` must match; `NotAction` must not (likewise Resource / NotResource). Actions are
    # case-insensitive in IAM, resources are not.
    def matches(patterns: Iterable[str]) -> bool:
        if key == "Action":
            return any(_like(p.lower(), value.lower()) for p in patterns)
        return any(_like(p, value) for p in patterns)

    if f"Not{key}" in statement:
        return not matches(_as_list(statement[f"Not{key}"]))
    return matches(_as_list(statement.get(key, "*" if key == "Resource" else [])))


def evaluate(
    policy: str | None,
    *,
    action: str,
    resource: str,
    context: RequestContext,
    principal_arn: str | None = None,
) -> Decision:
    """'Allow', 'Deny' (explicit) or 'NoMatch' for one request against one policy.

    With `principal_arn` (a role ARN or a service principal) the policy is a resource or trust
    policy and each statement's Principal must name the caller; without, an identity policy.
    """
    if not policy:
        return "NoMatch"
    document = json.loads(policy)
    decision: Decision = "NoMatch"
    for statement in _as_list(document.get("Statement", [])):
        if not _statement_applies(statement, "Action", action):
            continue
        if not _statement_applies(statement, "Resource", resource):
            continue
        if principal_arn is not None and not _principal_matches(
            statement.get("Principal"), principal_arn
        ):
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


def decide(
    policies: Iterable[str],
    *,
    action: str,
    resource: str,
    context: RequestContext,
    principal_arn: str | None = None,
) -> Decision:
    """Several policies together: one explicit Deny wins, else one Allow suffices."""
    decisions = {
        evaluate(
            policy, action=action, resource=resource, context=context, principal_arn=principal_arn
        )
        for policy in policies
    }
    if "Deny" in decisions:
        return "Deny"
    return "Allow" if "Allow" in decisions else "NoMatch"
