"""The original product's advanced install: one service-managed StackSet for the organization.

Two accounts (a resource account and the backup account) times two regions (the main region
and the backup region) from a management account, with the quick start's parameters. Each
stack instance must become what a standalone stack in its place would be, and the resource
account's instance in the backup region must copy there to the alternate.
"""

from __future__ import annotations

from typing import Any

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.cloudformation import organizational_unit
from local.twin import Twin
from tests.infrastructure.conftest import (
    STACK_NAME,
    TASK_FUNCTIONS,
    VAULT_NAME,
    parameter_list,
    template_url,
)

MANAGEMENT_ACCOUNT = "123456789012"
REGIONS = (MAIN_REGION, BACKUP_REGION)
EFS = f"arn:aws:elasticfilesystem:{BACKUP_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f6"


def create_stack_set(twin: Twin) -> Any:
    """What the management account's administrator does (original-readme.md, StackSet)."""
    unit = organizational_unit(MANAGEMENT_ACCOUNT, [RESOURCE_ACCOUNT, BACKUP_ACCOUNT])
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    cfn.create_stack_set(
        StackSetName=STACK_NAME,
        TemplateURL=template_url(twin, MANAGEMENT_ACCOUNT, MAIN_REGION),
        Parameters=parameter_list({}),
        Capabilities=["CAPABILITY_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    operation = cfn.create_stack_instances(
        StackSetName=STACK_NAME,
        DeploymentTargets={"OrganizationalUnitIds": [unit]},
        Regions=list(REGIONS),
    )
    return cfn, operation["OperationId"]


def what_lives_in(twin: Twin, account: str, region: str) -> dict[str, Any]:
    def client(service: str) -> Any:
        return twin.client(service, account, region)

    return {
        "vaults": [
            v["BackupVaultName"] for v in client("backup").list_backup_vaults()["BackupVaultList"]
        ],
        "state machines": len(client("stepfunctions").list_state_machines()["stateMachines"]),
        "functions": len(client("lambda").list_functions()["Functions"]),
        "rules": len(client("events").list_rules()["Rules"]),
        "queues": len(client("sqs").list_queues().get("QueueUrls", [])),
    }


def test_a_service_managed_stack_set_installs_every_account_and_region(twin: Twin) -> None:
    cfn, operation = create_stack_set(twin)

    status = cfn.describe_stack_set_operation(StackSetName=STACK_NAME, OperationId=operation)
    assert status["StackSetOperation"]["Status"] == "SUCCEEDED"
    instances = cfn.list_stack_instances(StackSetName=STACK_NAME)["Summaries"]
    assert sorted((i["Account"], i["Region"], i["Status"]) for i in instances) == sorted(
        (account, region, "CURRENT")
        for account in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
        for region in REGIONS
    )

    workflow = {
        "vaults": [VAULT_NAME],
        "state machines": 1,
        "functions": len(TASK_FUNCTIONS),
        "rules": 3,
        "queues": 1,
    }
    vault_only = {
        "vaults": [VAULT_NAME],
        "state machines": 0,
        "functions": 0,
        "rules": 0,
        "queues": 0,
    }
    for region in REGIONS:
        assert what_lives_in(twin, RESOURCE_ACCOUNT, region) == workflow, region
        assert what_lives_in(twin, BACKUP_ACCOUNT, region) == vault_only, region


def test_a_backup_made_in_the_backup_region_is_copied_to_the_alternate_and_cut(
    twin: Twin,
) -> None:
    create_stack_set(twin)

    job = twin.backup.start_backup(
        RESOURCE_ACCOUNT, BACKUP_REGION, VAULT_NAME, EFS, lifecycle={"DeleteAfterDays": 14}
    )
    twin.run_until_quiet()

    (execution_arn,) = twin.execution_arns()
    assert twin.describe_execution(execution_arn)["status"] == "SUCCEEDED"
    original = twin.backup.jobs[job].recovery_point_arn
    for region in REGIONS:  # the alternate (main) region and the backup region itself
        copies = twin.client("backup", BACKUP_ACCOUNT, region).list_recovery_points_by_backup_vault(
            BackupVaultName=VAULT_NAME
        )["RecoveryPoints"]
        assert [c["ResourceArn"] for c in copies] == [EFS], region
    described = twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION).describe_recovery_point(
        BackupVaultName=VAULT_NAME, RecoveryPointArn=original
    )
    assert described["Lifecycle"] == {"DeleteAfterDays": 8}
