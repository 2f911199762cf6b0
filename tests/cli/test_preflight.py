"""backup-events preflight: each misconfiguration that makes copies fail is found and named.

The deployment is the real template in the twin, the copy role and the backup account's vaults
real twin resources. Three AWS answers the twin does not model yet come from recordings of
AWS's documented response shapes: DescribeGlobalSettings, DescribeRegionSettings, and KMS
DescribeKey for an AWS managed key (KeyManager AWS).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from backup_events.aws import ClientFactory
from backup_events.preflight import aws_managed, opted_out, trusts_backup, vault_admits
from backup_events.sessions import Caller
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
    RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.cli.conftest import VAULT, deployed, factory, run

ORGANIZATION = ORGANIZATION_ID
COPY_ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
BACKUP_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def org_policy(organization: str = ORGANIZATION, **extra: Any) -> dict[str, Any]:
    """AWS's sample destination vault policy: copies in from the organization's accounts."""
    statement = {
        "Sid": "AllowOrganizationCopies",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
        **extra,
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


# -- the pure checks ------------------------------------------------------------------------------


def test_a_copy_role_must_be_trusted_by_aws_backup() -> None:
    assert trusts_backup(BACKUP_TRUST)
    assert trusts_backup(json.dumps(BACKUP_TRUST))
    lambda_trust = json.loads(json.dumps(BACKUP_TRUST).replace("backup.", "lambda."))
    assert not trusts_backup(lambda_trust)
    assert not trusts_backup({"Statement": []})


@pytest.mark.parametrize(
    ("policy", "admitted"),
    [
        (org_policy(), True),
        (org_policy("o-otherorg123"), False),
        (None, False),
        # A Deny wins over the Allow.
        (
            {
                "Statement": [
                    *org_policy()["Statement"],
                    {"Effect": "Deny", "Principal": "*", "Action": "backup:*", "Resource": "*"},
                ]
            },
            False,
        ),
        # The copy role of any account of the organization, as the template's sample vault says.
        (
            org_policy(
                Condition={
                    "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION},
                    "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/service-role/*"},
                }
            ),
            True,
        ),
        # The account itself as principal, no condition.
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{RESOURCE_ACCOUNT}:root"},
                        "Action": "backup:CopyIntoBackupVault",
                        "Resource": "*",
                    }
                ]
            },
            True,
        ),
        # A condition this check does not evaluate: it says it cannot tell.
        (
            org_policy(
                Condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-x/r-y/*"]}}
            ),
            None,
        ),
    ],
)
def test_a_destination_vault_policy_must_admit_the_organizations_copies(
    policy: Any, admitted: bool | None
) -> None:
    verdict, why = vault_admits(
        policy, organization=ORGANIZATION, account=RESOURCE_ACCOUNT, copy_role=COPY_ROLE
    )
    assert verdict is admitted, why


def test_opted_out_resource_types_and_aws_managed_keys() -> None:
    settings = {"ResourceTypeOptInPreference": {"EFS": True, "EBS": False, "RDS": False}}
    assert opted_out(settings, ["EFS", "EBS"]) == ["EBS"]
    assert aws_managed({"KeyMetadata": {"KeyId": "k", "KeyManager": "AWS"}})
    assert not aws_managed({"KeyMetadata": {"KeyId": "k", "KeyManager": "CUSTOMER"}})


# -- the command on the twin ----------------------------------------------------------------------


class Recorded:
    """A twin client, with AWS's answers for the calls the twin does not model yet."""

    def __init__(self, client: Any, answers: dict[str, Callable[..., Any]]) -> None:
        self._client, self._answers = client, answers

    def __getattr__(self, name: str) -> Any:
        return self._answers.get(name) or getattr(self._client, name)


class RecordedSessions:
    """The operator's credentials in the resource account, reaching the backup account too."""

    def __init__(self, twin: Twin, answers: dict[str, dict[str, Callable[..., Any]]]) -> None:
        self._twin, self._answers = twin, answers

    @property
    def default_region(self) -> str | None:
        return MAIN_REGION

    def caller(self) -> Caller:
        return Caller(RESOURCE_ACCOUNT, "aws", f"arn:aws:iam::{RESOURCE_ACCOUNT}:user/operator")

    def clients(self, account: str | None, role: str | None) -> ClientFactory:
        make = factory(self._twin, account or RESOURCE_ACCOUNT)
        return lambda service, region: Recorded(
            make(service, region), self._answers.get(service, {})
        )


ALL_OPTED_IN = {
    "ResourceTypeOptInPreference": {"EFS": True, "EBS": True, "RDS": True, "EC2": True},
    "ResourceTypeManagementPreference": {"EFS": True, "DynamoDB": True},
}


def aws_answers(
    *, cross_account: str = "true", region_settings: dict[str, Any] | None = None
) -> dict[str, dict[str, Callable[..., Any]]]:
    """DescribeGlobalSettings and DescribeRegionSettings as AWS answers them."""
    return {
        "backup": {
            "describe_global_settings": lambda: {
                "GlobalSettings": {"isCrossAccountBackupEnabled": cross_account}
            },
            "describe_region_settings": lambda: region_settings or ALL_OPTED_IN,
        }
    }


@pytest.fixture
def deployment(twin: Twin) -> Twin:
    """A correct deployment: the stack, the backup account's vaults, the copy role, one backup."""
    deployed(twin)
    for region in (MAIN_REGION, BACKUP_REGION):
        twin.client("backup", BACKUP_ACCOUNT, region).put_backup_vault_access_policy(
            BackupVaultName=VAULT, Policy=json.dumps(org_policy())
        )
    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    try:
        iam.update_assume_role_policy(
            RoleName="AWSBackupDefaultServiceRole", PolicyDocument=json.dumps(BACKUP_TRUST)
        )
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(
            RoleName="AWSBackupDefaultServiceRole",
            Path="/service-role/",
            AssumeRolePolicyDocument=json.dumps(BACKUP_TRUST),
        )
    key = twin.client("kms", RESOURCE_ACCOUNT, MAIN_REGION).create_key()["KeyMetadata"]["Arn"]
    twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT,
        f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0",
        encryption_key_arn=key,
    )  # fmt: skip
    twin.run_until_quiet()
    return twin


def preflight(twin: Twin, answers: dict[str, dict[str, Callable[..., Any]]], *more: str) -> int:
    argv = ["preflight", "--stack-name", "BackupEvents", "--region", MAIN_REGION, *more]
    return run(twin, argv, sessions=RecordedSessions(twin, answers))


@pytest.mark.usefixtures("wide")
def test_a_correct_deployment_passes(deployment: Twin, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert preflight(deployment, aws_answers()) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "cross-account backup is enabled" in out
    assert "exists and is trusted by backup.amazonaws.com" in out

    assert preflight(deployment, aws_answers(), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    (place,) = report["places"]
    assert (place["account"], place["region"], place["result"]) == (
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        "ok",
    )
    assert place["stateMachineArn"].endswith(":stateMachine:BackupEvents")
    assert {c["severity"] for c in place["checks"]} == {"ok"}
    assert {
        "resource": f"AWS Backup settings of {RESOURCE_ACCOUNT} {MAIN_REGION}",
        "severity": "ok",
        "finding": "cross-account backup is enabled",
        "fix": None,
    } in place["checks"]
    assert place["severities"] == {"error": 0, "warning": 0, "ok": len(place["checks"])}
    assert report["totals"]["severities"] == place["severities"]
    assert (report["totals"]["unreachable"], report["exitCode"]) == ([], 0)


def no_cross_account(twin: Twin) -> dict[str, Any]:
    return aws_answers(cross_account="false")


def copy_role_missing(twin: Twin) -> dict[str, Any]:
    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    for policy in iam.list_attached_role_policies(RoleName="AWSBackupDefaultServiceRole")[
        "AttachedPolicies"
    ]:
        iam.detach_role_policy(
            RoleName="AWSBackupDefaultServiceRole", PolicyArn=policy["PolicyArn"]
        )
    iam.delete_role(RoleName="AWSBackupDefaultServiceRole")
    return aws_answers()


def copy_role_untrusted(twin: Twin) -> dict[str, Any]:
    twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION).update_assume_role_policy(
        RoleName="AWSBackupDefaultServiceRole",
        PolicyDocument=json.dumps(BACKUP_TRUST).replace("backup.", "lambda."),
    )
    return aws_answers()


def vault_missing(twin: Twin) -> dict[str, Any]:
    backup = twin.client("backup", BACKUP_ACCOUNT, BACKUP_REGION)
    backup.delete_backup_vault_access_policy(BackupVaultName=VAULT)
    backup.delete_backup_vault(BackupVaultName=VAULT)
    return aws_answers()


def vault_policy_of_another_organization(twin: Twin) -> dict[str, Any]:
    twin.client("backup", BACKUP_ACCOUNT, MAIN_REGION).put_backup_vault_access_policy(
        BackupVaultName=VAULT, Policy=json.dumps(org_policy("o-otherorg123"))
    )
    return aws_answers()


def ebs_opted_out(twin: Twin) -> dict[str, Any]:
    return aws_answers(region_settings={"ResourceTypeOptInPreference": {"EBS": False}})


def aws_managed_key(twin: Twin) -> dict[str, Any]:
    def describe_key(KeyId: str) -> dict[str, Any]:  # noqa: N803 (boto3's parameter name)
        return {"KeyMetadata": {"KeyId": KeyId, "Arn": KeyId, "KeyManager": "AWS"}}

    return {**aws_answers(), "kms": {"describe_key": describe_key}}


@pytest.mark.usefixtures("wide")
@pytest.mark.parametrize(
    ("break_it", "resource", "finding"),
    [
        (no_cross_account, f"AWS Backup settings of {RESOURCE_ACCOUNT}", "not enabled"),
        (copy_role_missing, "IAM role service-role/AWSBackupDefaultServiceRole", "does not exist"),
        (copy_role_untrusted, "IAM role service-role/AWSBackupDefaultServiceRole", "trust policy"),
        (vault_missing, f"vault {VAULT} in {BACKUP_ACCOUNT} {BACKUP_REGION}", "does not exist"),
        (
            vault_policy_of_another_organization,
            f"vault {VAULT} in {BACKUP_ACCOUNT} {MAIN_REGION}",
            f"does not admit {RESOURCE_ACCOUNT}",
        ),
        (ebs_opted_out, f"resource type opt-in in {RESOURCE_ACCOUNT}", "not opted in to EBS"),
        (aws_managed_key, "recovery point", "AWS managed key"),
    ],
)
def test_each_misconfiguration_is_found_with_its_fix_and_fails_the_run(
    deployment: Twin,
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[Twin], dict[str, Any]],
    resource: str,
    finding: str,
) -> None:
    answers = break_it(deployment)
    capsys.readouterr()
    writes = len(deployment.backup.write_calls())

    assert preflight(deployment, answers) == 1

    failures = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert len(failures) >= 1
    assert any(resource in line and finding in line for line in failures), failures

    # The same finding, and the same exit code, for a script.
    assert preflight(deployment, answers, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    (place,) = report["places"]
    errors = [c for c in place["checks"] if c["severity"] == "error"]
    assert any(resource in c["resource"] and finding in c["finding"] and c["fix"] for c in errors)
    assert (place["result"], place["severities"]["error"], report["exitCode"]) == (
        "failed",
        len(errors),
        1,
    )
    assert len(deployment.backup.write_calls()) == writes  # read-only
