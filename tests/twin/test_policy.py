"""The vault access policy evaluator (local/policy.py), on the statements AWS Backup reads.

docs/aws-facts.md §B.9: CopyIntoBackupVault is granted in the destination vault's policy (AWS's
sample: Principal "*" with aws:PrincipalOrgID; the reference narrows it with ArnLike
aws:PrincipalArn); CopyFromBackupVault can be denied in the source vault's policy with
backup:CopyTargets (ForAllValues:ArnNotLike). IAM's rules for missing keys and Deny apply.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, ORGANIZATION_ID, RESOURCE_ACCOUNT
from local.policy import PolicyError, check, evaluate
from local.policy import decide as combine

pytestmark = pytest.mark.twin

ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
DEST = f"arn:aws:backup:us-west-2:{BACKUP_ACCOUNT}:backup-vault:BackupEvents-Sample"
IN_ORG = {"aws:PrincipalArn": ROLE, "aws:PrincipalOrgID": ORGANIZATION_ID}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow_into(**condition: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
        **({"Condition": condition} if condition else {}),
    }


def decide(
    document: str | None, context: dict[str, Any], action: str = "backup:CopyIntoBackupVault"
) -> str:
    return evaluate(document, action=action, resource=DEST, principal_arn=ROLE, context=context)


def test_no_policy_or_no_matching_statement_is_no_match() -> None:
    """docs/aws-facts.md §B.9: without a grant there is no CopyIntoBackupVault."""
    assert decide(None, IN_ORG) == "NoMatch"
    assert decide(policy(allow_into()), IN_ORG, action="backup:CopyFromBackupVault") == "NoMatch"


def test_the_organization_and_role_conditions_of_the_sample_vault_policy() -> None:
    """docs/aws-facts.md §B.9: AWS's sample (aws:PrincipalOrgID) narrowed by aws:PrincipalArn."""
    sample = policy(
        allow_into(
            StringEquals={"aws:PrincipalOrgID": ORGANIZATION_ID},
            ArnLike={
                "aws:PrincipalArn": "arn:aws:iam::*:role/service-role/AWSBackupDefaultServiceRole"
            },
        )
    )
    assert decide(sample, IN_ORG) == "Allow"
    assert decide(sample, {**IN_ORG, "aws:PrincipalOrgID": "o-other"}) == "NoMatch"
    assert (
        decide(sample, {**IN_ORG, "aws:PrincipalArn": ROLE.replace("Default", "Other")})
        == "NoMatch"
    )
    assert decide(sample, {"aws:PrincipalArn": ROLE}) == "NoMatch"  # a missing key never matches


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ({"AWS": RESOURCE_ACCOUNT}, "Allow"),
        ({"AWS": f"arn:aws:iam::{RESOURCE_ACCOUNT}:root"}, "Allow"),
        ({"AWS": [ROLE]}, "Allow"),
        ({"AWS": f"arn:aws:iam::{BACKUP_ACCOUNT}:root"}, "NoMatch"),
        ({"Service": "backup.amazonaws.com"}, "NoMatch"),
    ],
)
def test_principals_by_account_root_or_role(principal: dict[str, Any], expected: str) -> None:
    """docs/aws-facts.md §B.9: the source account or role is granted in the destination policy."""
    statement = {**allow_into(), "Principal": principal}
    assert decide(policy(statement), IN_ORG) == expected


def test_an_explicit_deny_wins_over_an_allow() -> None:
    """docs/aws-facts.md §B.9: a Deny in the source vault's policy stops the copy."""
    deny = {**allow_into(), "Effect": "Deny"}
    assert decide(policy(allow_into(), deny), IN_ORG) == "Deny"
    assert decide(policy(deny, allow_into()), IN_ORG) == "Deny"


def test_copy_targets_deny_with_for_all_values_and_a_missing_key() -> None:
    """docs/aws-facts.md §B.9: backup:CopyTargets. ForAllValues is vacuously true when the key is
    missing: a Deny then applies (IAM semantics)."""
    deny_outside = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:CopyFromBackupVault",
            "Resource": "*",
            "Condition": {
                "ForAllValues:ArnNotLike": {
                    "backup:CopyTargets": [f"arn:aws:backup:*:{BACKUP_ACCOUNT}:backup-vault:*"]
                }
            },
        }
    )
    action = "backup:CopyFromBackupVault"
    assert decide(deny_outside, {"backup:CopyTargets": [DEST]}, action) == "NoMatch"
    outside = DEST.replace(BACKUP_ACCOUNT, "111133335555")
    assert decide(deny_outside, {"backup:CopyTargets": [outside]}, action) == "Deny"
    # "All targets are outside" is false for a mixed list: IAM's semantics, not a twin bug.
    assert decide(deny_outside, {"backup:CopyTargets": [DEST, outside]}, action) == "NoMatch"
    assert decide(deny_outside, {}, action) == "Deny"
    any_outside = deny_outside.replace("ForAllValues", "ForAnyValue")
    assert decide(any_outside, {"backup:CopyTargets": [DEST, outside]}, action) == "Deny"
    assert decide(any_outside, {}, action) == "NoMatch"


def test_negated_operators_and_not_action() -> None:
    """docs/aws-facts.md §B.9: Deny with negated conditions (e.g. outside the organization)."""
    not_org = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": "backup:Describe*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
        }
    )
    assert decide(not_org, {**IN_ORG, "aws:PrincipalOrgID": "o-other"}) == "Deny"
    assert decide(not_org, {"aws:PrincipalArn": ROLE}) == "Deny"  # missing key: negation holds
    assert decide(not_org, IN_ORG) == "NoMatch"
    assert decide(not_org, {}, action="backup:DescribeRecoveryPoint") == "NoMatch"


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({**allow_into(), "NotPrincipal": {"AWS": "*"}}, "NotPrincipal"),
        (allow_into(NumericLessThan={"aws:MultiFactorAuthAge": "3600"}), "NumericLessThan"),
        (allow_into(**{"ForEachValue:StringEquals": {"a": "b"}}), "ForEachValue"),
        ({**allow_into(), "Effect": "Maybe"}, "Effect"),
        ({k: v for k, v in allow_into().items() if k != "Action"}, "Action"),
    ],
)
def test_what_cannot_be_evaluated_is_refused_not_guessed(
    statement: dict[str, Any], problem: str
) -> None:
    """docs/aws-facts.md §B.9: a guessed policy result would hide a real copy failure."""
    with pytest.raises(PolicyError, match=problem):
        check(policy(statement))


COPY_FROM = "backup:CopyFromBackupVault"
ORG_VAULTS = f"arn:aws:backup:*:{BACKUP_ACCOUNT}:backup-vault:*"


def deny_copy_unless(operator: str, *extra: tuple[str, dict[str, Any]]) -> str:
    condition: dict[str, Any] = {operator: {"backup:CopyTargets": [ORG_VAULTS]}}
    for name, test in extra:
        condition[name] = test
    return policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": COPY_FROM,
            "Resource": "*",
            "Condition": condition,
        }
    )


@pytest.mark.parametrize(
    ("operator", "targets", "expected"),
    [
        # ForAnyValue: false without the key, so this Deny fails open (docs/aws-facts.md §H).
        ("ForAnyValue:ArnNotLike", None, "NoMatch"),
        ("ForAnyValue:ArnNotLike", [DEST], "NoMatch"),
        ("ForAnyValue:ArnNotLike", [DEST.replace(BACKUP_ACCOUNT, "111133335555")], "Deny"),
        # ForAllValues: true without the key, so this Deny fails closed.
        ("ForAllValues:ArnNotLike", None, "Deny"),
        ("ForAllValues:ArnNotLike", [DEST], "NoMatch"),
        ("ForAllValues:ArnNotLike", [DEST.replace(BACKUP_ACCOUNT, "111133335555")], "Deny"),
    ],
)
def test_set_operators_on_a_present_or_absent_copy_targets_key(
    operator: str, targets: list[str] | None, expected: str
) -> None:
    """docs/aws-facts.md §H (set operators on absent keys) and §B.9 (backup:CopyTargets)."""
    context = {} if targets is None else {"backup:CopyTargets": targets}
    assert decide(deny_copy_unless(operator), context, COPY_FROM) == expected


def test_null_tests_whether_a_key_is_there() -> None:
    """docs/aws-facts.md §H: a Null condition covers the absent key explicitly: with it, even a
    ForAnyValue Deny fails closed."""
    null_true = deny_copy_unless("ForAnyValue:ArnNotLike", ("Null", {"backup:CopyTargets": "true"}))
    # Both conditions must hold: Null true (absent) and ForAnyValue (false when absent).
    assert decide(null_true, {}, COPY_FROM) == "NoMatch"
    absent_deny = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": COPY_FROM,
            "Resource": "*",
            "Condition": {"Null": {"backup:CopyTargets": "true"}},
        }
    )
    assert decide(absent_deny, {}, COPY_FROM) == "Deny"
    assert decide(absent_deny, {"backup:CopyTargets": [DEST]}, COPY_FROM) == "NoMatch"
    present = absent_deny.replace('"true"', '"false"')
    assert decide(present, {"backup:CopyTargets": [DEST]}, COPY_FROM) == "Deny"
    assert decide(present, {}, COPY_FROM) == "NoMatch"


def test_if_exists_and_bool_and_ignore_case() -> None:
    """docs/aws-facts.md §T.1: ...IfExists holds when the key is absent; Bool compares
    true/false."""
    statement = allow_into(
        StringEqualsIfExists={"aws:PrincipalOrgID": ORGANIZATION_ID},
        Bool={"aws:SecureTransport": True},
        StringEqualsIgnoreCase={"aws:PrincipalArn": ROLE.upper()},
    )
    document = policy(statement)
    secure = {"aws:PrincipalArn": ROLE, "aws:SecureTransport": "true"}
    assert decide(document, secure) == "Allow"
    assert decide(document, {**secure, "aws:PrincipalOrgID": "o-other"}) == "NoMatch"
    assert decide(document, {**secure, "aws:SecureTransport": "false"}) == "NoMatch"


def test_identity_policies_have_no_principal_and_several_combine() -> None:
    """docs/aws-facts.md §T.1: identity policies name no Principal; one Deny among a principal's
    policies wins over the Allows of the others."""
    allow = json.dumps({"Statement": [{"Effect": "Allow", "Action": "backup:*", "Resource": "*"}]})
    deny = json.dumps(
        {"Statement": [{"Effect": "Deny", "Action": "backup:Update*", "Resource": "*"}]}
    )
    check(allow, identity=True)
    with pytest.raises(PolicyError, match="Principal"):
        check(policy(allow_into()), identity=True)
    action = "backup:UpdateRecoveryPointLifecycle"
    assert decide_all([allow], action) == "Allow"
    assert decide_all([allow, deny], action) == "Deny"
    assert decide_all([deny], "backup:DescribeRecoveryPoint") == "NoMatch"


def decide_all(documents: list[str], action: str) -> str:
    return combine(documents, action=action, resource=DEST, context={})
