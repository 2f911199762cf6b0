"""The original product's advanced install: one service-managed StackSet for the organization.

Two accounts (a resource account and the backup account) times two regions (the main region
and the backup region) from a management account, with the quick start's parameters. Each
stack instance must become what a standalone stack in its place would be, and the resource
account's instance in the backup region must copy there to the alternate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.cloudformation import organizational_unit
from local.twin import Twin
from tests.infrastructure.conftest import (
    CAPABILITIES,
    STACK_NAME,
    TASK_FUNCTIONS,
    VAULT_NAME,
    copies_of,
    executions_of,
    module_twin,
    parameter_list,
    template_url,
)

MANAGEMENT_ACCOUNT = "123456789012"
REGIONS = (MAIN_REGION, BACKUP_REGION)
EFS = f"arn:aws:elasticfilesystem:{BACKUP_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f6"


@dataclass
class Installed:
    """What the StackSet made, read before anything ran, and the run of one backup after."""

    operation: dict[str, Any]
    instances: list[tuple[str, str, str]]
    layout: dict[tuple[str, str], dict[str, Any]]
    executions: list[dict[str, Any]]
    original: dict[str, Any]
    copies: dict[str, list[dict[str, Any]]]


def what_lives_in(twin: Twin, account: str, region: str) -> dict[str, Any]:
    def client(service: str) -> Any:
        return twin.client(service, account, region)

    try:  # IAM is global: the reader's name carries the Region (design.md §2).
        client("iam").get_role(RoleName=f"BackupEventsCopyReader-{region}")
        reader = True
    except ClientError:
        reader = False
    return {
        "vaults": [
            v["BackupVaultName"] for v in client("backup").list_backup_vaults()["BackupVaultList"]
        ],
        "copy reader": reader,
        "state machines": len(client("stepfunctions").list_state_machines()["stateMachines"]),
        "functions": len(client("lambda").list_functions()["Functions"]),
        "rules": len(client("events").list_rules()["Rules"]),
        "queues": len(client("sqs").list_queues().get("QueueUrls", [])),
        "tables": len(client("dynamodb").list_tables()["TableNames"]),
    }


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    with module_twin() as twin:
        # What the management account's administrator does (the README's StackSet section).
        unit = organizational_unit(MANAGEMENT_ACCOUNT, [RESOURCE_ACCOUNT, BACKUP_ACCOUNT])
        cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
        cfn.create_stack_set(
            StackSetName=STACK_NAME,
            TemplateURL=template_url(twin, MANAGEMENT_ACCOUNT, MAIN_REGION),
            Parameters=parameter_list({}),
            Capabilities=CAPABILITIES,
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        )
        operation = cfn.create_stack_instances(
            StackSetName=STACK_NAME,
            DeploymentTargets={"OrganizationalUnitIds": [unit]},
            Regions=list(REGIONS),
        )
        described = cfn.describe_stack_set_operation(
            StackSetName=STACK_NAME, OperationId=operation["OperationId"]
        )["StackSetOperation"]
        listed = cfn.list_stack_instances(StackSetName=STACK_NAME)["Summaries"]
        layout = {
            (account, region): what_lives_in(twin, account, region)
            for account in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
            for region in REGIONS
        }

        job = twin.backup.start_backup(
            RESOURCE_ACCOUNT, BACKUP_REGION, VAULT_NAME, EFS, lifecycle={"DeleteAfterDays": 14}
        )
        twin.run_until_quiet()

        original = twin.backup.jobs[job].recovery_point_arn
        machines = twin.client("stepfunctions", RESOURCE_ACCOUNT, BACKUP_REGION)
        (workflow,) = [
            m["stateMachineArn"]
            for m in machines.list_state_machines()["stateMachines"]
            if not m["name"].endswith("-Reconcile")
        ]
        yield Installed(
            operation=described,
            instances=sorted((i["Account"], i["Region"], i["Status"]) for i in listed),
            layout=layout,
            executions=executions_of(twin, workflow),
            original=twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION).describe_recovery_point(
                BackupVaultName=VAULT_NAME, RecoveryPointArn=original
            ),
            copies={region: copies_of(twin, EFS, region) for region in REGIONS},
        )


def test_a_service_managed_stack_set_installs_every_account_and_region(
    installed: Installed,
) -> None:
    assert installed.operation["Status"] == "SUCCEEDED"
    assert installed.instances == sorted(
        (account, region, "CURRENT")
        for account in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
        for region in REGIONS
    )

    workflow = {
        "vaults": [VAULT_NAME],
        "copy reader": False,
        "state machines": 2,  # the workflow and its reconciliation
        "functions": len(TASK_FUNCTIONS),
        "rules": 4,  # backup completed, plan copy completed, failures, the schedule
        "queues": 1,
        "tables": 1,  # the cut ledger
    }
    vaults_and_reader = {
        "vaults": [VAULT_NAME],
        "copy reader": True,
        "state machines": 0,
        "functions": 0,
        "rules": 0,
        "queues": 0,
        "tables": 0,
    }
    for region in REGIONS:
        assert installed.layout[(RESOURCE_ACCOUNT, region)] == workflow, region
        assert installed.layout[(BACKUP_ACCOUNT, region)] == vaults_and_reader, region


def test_a_backup_made_in_the_backup_region_is_copied_to_the_alternate_and_cut(
    installed: Installed,
) -> None:
    (execution,) = installed.executions
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    for region in REGIONS:  # the alternate (main) region and the backup region itself
        assert [c["Status"] for c in installed.copies[region]] == ["COMPLETED"], region
    assert installed.original["Lifecycle"] == {"DeleteAfterDays": 8}
