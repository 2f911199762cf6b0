"""Settings that cannot work are refused before anything is created, with the reason given.

A stack half-created from contradictory settings is worse than none: the user must delete it
before trying again, and meanwhile its rules may already be acting on backups.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.accounts import BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.infrastructure.conftest import STACK_NAME, create_stack, parameter_list, template_url

MANAGEMENT_ACCOUNT = "123456789012"

REFUSED = [
    pytest.param(
        {"BackupRegionAlternate": BACKUP_REGION},
        "BackupRegion and BackupRegionAlternate must be different regions.",
        id="alternate region equals backup region",
    ),
    pytest.param(
        {"EnableCopy": "false"},
        "EnableUpdateLifecycle needs EnableCopy: originals are shortened only after their copies",
        id="cutting retention without copying",
    ),
    pytest.param(
        {"EnableCopy": "false", "EnableUpdateLifecycle": "true"},
        "EnableUpdateLifecycle needs EnableCopy",
        id="cutting retention without copying, both given",
    ),
    pytest.param(
        {"BackupAccountId": "99997777555"},
        "Parameter 'BackupAccountId' must be a 12-digit AWS account ID, got '99997777555'",
        id="backup account id of 11 digits",
    ),
    pytest.param(
        {"BackupAccountId": "9999-7777-5555"},
        "Parameter 'BackupAccountId' must be a 12-digit AWS account ID",
        id="backup account id with dashes",
    ),
    pytest.param(
        {"BackupRegion": "US West (Oregon)"},
        "Parameter 'BackupRegion' must be a region code such as us-west-2",
        id="region name instead of code",
    ),
]


def assert_nothing_created(twin: Twin, account: str, region: str) -> None:
    cfn = twin.client("cloudformation", account, region)
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=STACK_NAME)
    assert twin.client("lambda", account, region).list_functions()["Functions"] == []
    machines = twin.client("stepfunctions", account, region).list_state_machines()
    assert machines["stateMachines"] == []
    vaults = twin.client("backup", account, region).list_backup_vaults()
    assert vaults["BackupVaultList"] == []
    assert twin.client("events", account, region).list_rules()["Rules"] == []
    assert twin.client("sqs", account, region).list_queues().get("QueueUrls", []) == []
    roles = twin.client("iam", account, region).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if STACK_NAME in r["RoleName"]] == []


@pytest.mark.parametrize(("overrides", "reason"), REFUSED)
def test_create_stack_refuses_settings_that_cannot_work(
    twin: Twin, overrides: dict[str, str], reason: str
) -> None:
    with pytest.raises(ClientError) as refused:
        create_stack(twin, RESOURCE_ACCOUNT, MAIN_REGION, **overrides)

    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert reason in error["Message"]
    assert_nothing_created(twin, RESOURCE_ACCOUNT, MAIN_REGION)


def test_create_stack_set_refuses_them_too(twin: Twin) -> None:
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    with pytest.raises(ClientError) as refused:
        cfn.create_stack_set(
            StackSetName=STACK_NAME,
            TemplateURL=template_url(twin, MANAGEMENT_ACCOUNT, MAIN_REGION),
            Parameters=parameter_list({"BackupRegionAlternate": BACKUP_REGION}),
            Capabilities=["CAPABILITY_IAM"],
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        )

    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "must be different regions" in refused.value.response["Error"]["Message"]
    assert cfn.list_stack_sets()["Summaries"] == []


def test_the_same_settings_with_lifecycle_off_are_accepted(twin: Twin) -> None:
    # The control for the rule above: copying off is a valid choice when cutting is off too.
    create_stack(
        twin, RESOURCE_ACCOUNT, MAIN_REGION, EnableCopy="false", EnableUpdateLifecycle="false"
    )
    cfn = twin.client("cloudformation", RESOURCE_ACCOUNT, MAIN_REGION)
    assert cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
