"""Who is calling: every request is served by the backend of the account that made it.

moto keys backends by account and region (docs/twin.md §6); in-process Lambda handlers and
Step Functions tasks share one set of fake credentials, so the twin pins the account with an
`x-moto-account-id` header (`twin.client`) or a per-thread current account (`acting_as`).
The project spans a resource account and a backup account in three regions (docs/design.md §2).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
    Organization,
    acting_as,
    current_account,
)
from local.twin import Twin
from tests.twin.helpers import ALL_REGIONS

pytestmark = pytest.mark.twin

MOTO_DEFAULT_ACCOUNT = "123456789012"


def vault_names(twin: Twin, account: str, region: str) -> list[str]:
    vaults = twin.client("backup", account, region).list_backup_vaults()["BackupVaultList"]
    return sorted(v["BackupVaultName"] for v in vaults)


def test_each_account_and_region_has_its_own_backend(twin: Twin) -> None:
    """docs/twin.md §6: backends are keyed [account][region]; docs/design.md §2 accounts."""
    for region in ALL_REGIONS:
        arn = twin.create_vault(BACKUP_ACCOUNT, region, f"Backup-{region}")
        assert arn == f"arn:aws:backup:{region}:{BACKUP_ACCOUNT}:backup-vault:Backup-{region}"
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Resource-Vault")

    for region in ALL_REGIONS:
        assert vault_names(twin, BACKUP_ACCOUNT, region) == [f"Backup-{region}"]
    assert vault_names(twin, RESOURCE_ACCOUNT, MAIN_REGION) == ["Resource-Vault"]
    assert vault_names(twin, RESOURCE_ACCOUNT, BACKUP_REGION) == []
    assert vault_names(twin, SECOND_RESOURCE_ACCOUNT, MAIN_REGION) == []


def test_acting_as_routes_plain_clients_and_an_explicit_account_wins(twin: Twin) -> None:
    # A plain boto3 client, as task code makes one: only the thread's current account decides.
    """docs/twin.md §6: the header first, then the thread's current account."""
    plain = boto3.client("backup", region_name=OTHER_REGION)
    with acting_as(BACKUP_ACCOUNT):
        plain.create_backup_vault(BackupVaultName="From-Plain-Client")
        # `twin.client` pins its account in a header, which wins over the thread's account.
        twin.client("backup", RESOURCE_ACCOUNT, OTHER_REGION).create_backup_vault(
            BackupVaultName="From-Pinned-Client"
        )
    plain.create_backup_vault(BackupVaultName="Outside-Acting-As")

    assert vault_names(twin, BACKUP_ACCOUNT, OTHER_REGION) == ["From-Plain-Client"]
    assert vault_names(twin, RESOURCE_ACCOUNT, OTHER_REGION) == ["From-Pinned-Client"]
    assert vault_names(twin, MOTO_DEFAULT_ACCOUNT, OTHER_REGION) == ["Outside-Acting-As"]


def test_acting_as_nests_and_belongs_to_one_thread() -> None:
    """docs/twin.md §6: a thread-local current account (handlers and tasks)."""
    assert current_account() is None
    seen_elsewhere: list[str | None] = []
    with acting_as(RESOURCE_ACCOUNT):
        with acting_as(BACKUP_ACCOUNT):
            assert current_account() == BACKUP_ACCOUNT
            other = threading.Thread(target=lambda: seen_elsewhere.append(current_account()))
            other.start()
            other.join()
        assert current_account() == RESOURCE_ACCOUNT
    assert current_account() is None
    # Executions and Lambda handlers run on their own threads, each with its own account.
    assert seen_elsewhere == [None]


def test_backup_calls_are_served_and_recorded_as_the_calling_account(twin: Twin) -> None:
    """docs/aws-facts.md §B.3: a vault belongs to one account and region."""
    twin.create_vault(BACKUP_ACCOUNT, BACKUP_REGION, "Only-Here")
    backup = twin.client("backup", BACKUP_ACCOUNT, BACKUP_REGION)
    backup.list_copy_jobs()
    with pytest.raises(backup.exceptions.ResourceNotFoundException):
        # The same vault name from the resource account: a different backend, no such vault.
        twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION).list_recovery_points_by_backup_vault(
            BackupVaultName="Only-Here"
        )

    recorded = [(c.account, c.region, c.operation) for c in twin.backup.calls]
    assert recorded[-2:] == [
        (BACKUP_ACCOUNT, BACKUP_REGION, "list_copy_jobs"),
        (RESOURCE_ACCOUNT, BACKUP_REGION, "list_recovery_points_by_backup_vault"),
    ]


def test_the_organization_holds_the_project_accounts_and_not_the_outsider() -> None:
    """docs/aws-facts.md §B.1: cross-account copies need both accounts in one organization."""
    organization = Organization()
    assert organization.same_organization(RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
    assert organization.same_organization(SECOND_RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
    assert not organization.same_organization(RESOURCE_ACCOUNT, OUTSIDER_ACCOUNT)
    assert organization.cross_account_backup_enabled


COPY_READER = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup-events/BackupEventsCopyReader-us-east-1"
TASK_ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/backup-events/Task"


def assumed_client(service: str, role_arn: str, region: str = MAIN_REGION) -> Any:
    """What task code does to reach another account: STS AssumeRole, then a client with the
    temporary credentials (plain boto3, as in a handler)."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName="twin-test"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_assumed_role_credentials_are_the_roles_account_even_inside_another_account(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §C.7: credentials of an assumed role act in the role's account, whichever
    account the code runs in (a resource-account Lambda reading the backup account)."""
    twin.create_vault(BACKUP_ACCOUNT, MAIN_REGION, "Copies")
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Originals")
    with acting_as(RESOURCE_ACCOUNT, TASK_ROLE):
        reader = assumed_client("backup", COPY_READER)
        own = boto3.client("backup", region_name=MAIN_REGION)
        assert [v["BackupVaultName"] for v in reader.list_backup_vaults()["BackupVaultList"]] == [
            "Copies"
        ]
        assert [v["BackupVaultName"] for v in own.list_backup_vaults()["BackupVaultList"]] == [
            "Originals"
        ]
    # Outside any account the same credentials still belong to the role; default keys do not.
    assert reader.list_backup_vaults()["BackupVaultList"][0]["BackupVaultName"] == "Copies"
    recorded = [(c.account, c.principal) for c in twin.backup.calls[-3:]]
    assert recorded == [
        (BACKUP_ACCOUNT, COPY_READER),
        (RESOURCE_ACCOUNT, TASK_ROLE),
        (BACKUP_ACCOUNT, COPY_READER),
    ]
    assert vault_names(twin, MOTO_DEFAULT_ACCOUNT, MAIN_REGION) == []


def test_a_lambda_handler_calls_as_its_execution_role_and_a_sdk_task_as_the_machine_role(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §C.7: a task's calls are made with the execution role's permissions; a
    handler's with its function's execution role. Test clients stay unknown (None)."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Originals")
    role_arn = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION).create_role(
        RoleName="Handler", AssumeRolePolicyDocument="{}", Path="/backup-events/"
    )["Role"]["Arn"]

    def handler(event: Any, context: Any) -> Any:
        boto3.client("backup", region_name=MAIN_REGION).list_backup_vaults()
        assumed_client("backup", COPY_READER).list_backup_vaults()
        return {}

    twin.lambdas.register("Lister", handler)
    functions = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION)
    functions.create_function(
        FunctionName="Lister",
        Runtime="python3.13",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": b"registered in the twin"},
    )
    machine_role = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/backup-events/StateMachine"
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    definition = {
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:backup:listBackupVaults",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="Lists", definition=json.dumps(definition), roleArn=machine_role
    )["stateMachineArn"]

    functions.invoke(FunctionName="Lister", Payload=b"{}")
    sfn.start_execution(stateMachineArn=machine)
    twin.wait_for_executions()
    twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).list_backup_vaults()

    recorded = [(c.account, c.principal) for c in twin.backup.calls[-4:]]
    assert recorded == [
        (RESOURCE_ACCOUNT, role_arn),
        (BACKUP_ACCOUNT, COPY_READER),
        (RESOURCE_ACCOUNT, machine_role),
        (RESOURCE_ACCOUNT, None),
    ]
