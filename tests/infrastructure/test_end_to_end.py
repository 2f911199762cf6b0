"""The quick start, end to end, with nothing but the template: the README's promise, kept.

Three stacks from one template (backup account in its main and backup regions, resource
account in the main region), then an on-demand backup of 14 days. Everything after that
happens by itself: the backup's event, the rule, the execution, the two copies, the cut to
8 days. No handler is registered with the twin, so the code that runs is the template's
inline code, exactly as CloudFormation wrote it into index.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.infrastructure.conftest import (
    TASK_FUNCTIONS,
    VAULT_NAME,
    Stack,
    deploy_quick_start,
    template,
)

EFS = f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f67890"
ORIGINALS_VAULT = f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup-vault:{VAULT_NAME}"
ACCESS_DENIED = (
    "Access denied: the destination vault's access policy does not allow "
    "backup:CopyIntoBackupVault."
)


def on_demand_backup(twin: Twin, days: int = 14) -> str:
    """Quick start step 11: an on-demand EFS backup into the sample vault; returns the job id."""
    return twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT_NAME, EFS, lifecycle={"DeleteAfterDays": days}
    )


def original_of(twin: Twin, job_id: str) -> dict[str, Any]:
    arn = twin.backup.jobs[job_id].recovery_point_arn
    assert arn is not None, "the backup job did not complete"
    described: dict[str, Any] = twin.client(
        "backup", RESOURCE_ACCOUNT, MAIN_REGION
    ).describe_recovery_point(BackupVaultName=VAULT_NAME, RecoveryPointArn=arn)
    return described


def backup_account_points(twin: Twin, region: str) -> list[dict[str, Any]]:
    backup = twin.client("backup", BACKUP_ACCOUNT, region)
    points: list[dict[str, Any]] = backup.list_recovery_points_by_backup_vault(
        BackupVaultName=VAULT_NAME
    )["RecoveryPoints"]
    return points


def error_queue(stack: Stack) -> list[dict[str, Any]]:
    """Every message in the stack's error queue, as the events EventBridge put there."""
    sqs = stack.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=stack.outputs["ErrorQueueUrl"], MaxNumberOfMessages=10
        ).get("Messages", [])
        if not received:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in received)
        sqs.delete_message_batch(
            QueueUrl=stack.outputs["ErrorQueueUrl"],
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
            ],
        )


def published(twin: Twin, detail_type: str, state: str) -> list[dict[str, Any]]:
    return [
        event
        for _, _, event in twin.router.events(detail_type)
        if event["detail"].get("state") == state
    ]


def deployed_code(stack: Stack, function_name: str) -> str:
    # The package CloudFormation built from the inline ZipFile, as the function stores it.
    from moto.awslambda.models import lambda_backends

    function = lambda_backends[stack.account][stack.region].get_function(function_name)
    with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as package:
        return package.read("index.py").decode()


# -- the quick start --------------------------------------------------------------------------


def test_the_quick_start_copies_an_on_demand_backup_twice_then_cuts_it_to_8_days(
    twin: Twin,
) -> None:
    stack = deploy_quick_start(twin, RESOURCE_ACCOUNT)

    job = on_demand_backup(twin)
    twin.run_until_quiet()

    # One execution of this stack's state machine, started by the rule with the event itself.
    (execution_arn,) = twin.execution_arns()
    execution = twin.describe_execution(execution_arn)
    assert execution["stateMachineArn"] == stack.outputs["StateMachineArn"]
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    (completed,) = published(twin, "Backup Job State Change", "COMPLETED")
    assert json.loads(execution["input"]) == completed

    # Two copies in the backup account: the backup region and the original's own region.
    original = original_of(twin, job)
    for region in (BACKUP_REGION, MAIN_REGION):
        (copy,) = backup_account_points(twin, region)
        assert copy["SourceBackupVaultArn"] == ORIGINALS_VAULT, region
        assert copy["ResourceArn"] == EFS, region
        assert copy["Status"] == "COMPLETED", region
        assert copy["CreationDate"] == original["CreationDate"], region
    copy_jobs = stack.client("backup").list_copy_jobs()["CopyJobs"]
    assert sorted(j["DestinationBackupVaultArn"] for j in copy_jobs) == sorted(
        f"arn:aws:backup:{region}:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}"
        for region in (BACKUP_REGION, MAIN_REGION)
    )

    # The original now expires after 8 days (NewDeleteAfterDays 7 plus one day of margin).
    assert original["Lifecycle"] == {"DeleteAfterDays": 8}

    # The functions that ran are the stack's, running the template's inline code.
    functions = {stack.physical_id(name): name for name in TASK_FUNCTIONS}
    invoked = {i.function_name for i in twin.lambdas.invocations}
    assert invoked == set(functions)
    assert {(i.account, i.region) for i in twin.lambdas.invocations} == {
        (RESOURCE_ACCOUNT, MAIN_REGION)
    }
    # CopyJobNotFinished is the wait itself: the describe task's Retry is the polling loop.
    errors = {i.error_type for i in twin.lambdas.invocations} - {None, "CopyJobNotFinished"}
    assert errors == set()
    for function_name, logical_id in functions.items():
        inline = template()["Resources"][logical_id]["Properties"]["Code"]["ZipFile"]
        assert deployed_code(stack, function_name) == inline, logical_id

    assert error_queue(stack) == []


def test_with_enable_copy_false_a_backup_is_left_alone(twin: Twin) -> None:
    stack = deploy_quick_start(
        twin, RESOURCE_ACCOUNT, EnableCopy="false", EnableUpdateLifecycle="false"
    )
    events = stack.client("events")
    for rule in ("BackupCompletedRule", "PlanCopyCompletedRule"):
        assert events.describe_rule(Name=stack.physical_id(rule))["State"] == "DISABLED"

    job = on_demand_backup(twin)
    twin.run_until_quiet()

    assert published(twin, "Backup Job State Change", "COMPLETED"), "the backup did complete"
    assert twin.execution_arns() == []
    assert twin.lambdas.invocations == []
    copy_jobs = stack.client("backup").list_copy_jobs()["CopyJobs"]
    assert copy_jobs == []
    assert backup_account_points(twin, BACKUP_REGION) == []
    assert backup_account_points(twin, MAIN_REGION) == []
    assert original_of(twin, job)["Lifecycle"] == {"DeleteAfterDays": 14}


def test_a_failed_copy_and_its_failed_execution_land_in_the_error_queue(twin: Twin) -> None:
    stack = deploy_quick_start(twin, RESOURCE_ACCOUNT)
    twin.backup.on_copy(fail=ACCESS_DENIED)

    job = on_demand_backup(twin)
    twin.run_until_quiet()

    (execution_arn,) = twin.execution_arns()
    execution = twin.describe_execution(execution_arn)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "CopyJobFailed"
    # Nothing was cut: without both copies the original keeps its full retention.
    assert original_of(twin, job)["Lifecycle"] == {"DeleteAfterDays": 14}

    (failed_copy,) = published(twin, "Copy Job State Change", "FAILED")
    queued = sorted(error_queue(stack), key=lambda event: str(event["detail-type"]))
    assert [event["detail-type"] for event in queued] == [
        "Copy Job State Change",
        "Step Functions Execution Status Change",
    ]
    copy_event, execution_event = queued
    assert copy_event == failed_copy
    assert copy_event["detail"]["statusMessage"] == ACCESS_DENIED
    assert execution_event["detail"]["executionArn"] == execution_arn
    assert execution_event["detail"]["status"] == "FAILED"
    assert execution_event["detail"]["error"] == "CopyJobFailed"


def test_the_sample_vault_refuses_a_copy_to_any_other_destination(twin: Twin) -> None:
    # Someone with the resource account's credentials copies an original to a vault of their
    # choosing, here one in the backup account's third region that would itself accept it.
    stack = deploy_quick_start(twin, RESOURCE_ACCOUNT)
    elsewhere = twin.create_vault(
        BACKUP_ACCOUNT,
        OTHER_REGION,
        VAULT_NAME,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
                }
            ],
        },
    )
    job = on_demand_backup(twin)
    twin.run_until_quiet()
    assert error_queue(stack) == []

    stack.client("backup").start_copy_job(
        RecoveryPointArn=original_of(twin, job)["RecoveryPointArn"],
        SourceBackupVaultName=VAULT_NAME,
        DestinationBackupVaultArn=elsewhere,
        IamRoleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole",
    )
    twin.run_until_quiet()

    assert backup_account_points(twin, OTHER_REGION) == []
    (queued,) = error_queue(stack)
    assert queued["detail-type"] == "Copy Job State Change"
    assert queued["detail"]["state"] == "FAILED"
    assert queued["detail"]["destinationBackupVaultArn"] == elsewhere
    assert "backup:CopyFromBackupVault" in queued["detail"]["statusMessage"]
