"""Which events start the workflow, and what each refused one is told.

An execution can be started by hand with any input, so the workflow re-checks what the
EventBridge rules already filter. Every accepted event is listed with the trigger it gives;
every refusal is an InvalidInput whose message says what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.copies import Deployment
from tasks.errors import InvalidInput
from tasks.events import finish_request
from tasks.inputs import Fields
from tasks.trigger import Trigger, read_deployment, read_trigger
from tests.support import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT, VAULT_NAME, load_event

DEPLOYMENT = Deployment(BACKUP_ACCOUNT, "us-west-2", "us-east-1", VAULT_NAME)
ORIGINAL = (
    "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98"
)
TO_WEST = f"arn:aws:backup:us-west-2:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}"
TO_EAST = f"arn:aws:backup:us-east-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}"


def read(
    raw: Any,
    *,
    account: str = RESOURCE_ACCOUNT,
    region: str = MAIN_REGION,
    copy_scheduled_backups: bool = False,
) -> Trigger:
    return read_trigger(
        raw,
        account=account,
        region=region,
        deployment=DEPLOYMENT,
        copy_scheduled_backups=copy_scheduled_backups,
    )


def moved_to(raw: dict[str, Any], region: str) -> dict[str, Any]:
    """The same event as if it had happened in `region`."""
    text = json.dumps(raw).replace(":us-east-1:", f":{region}:")
    moved: dict[str, Any] = json.loads(text)
    moved["region"] = region
    return moved


# --- Accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "point"),
    [
        ("backup_job_completed_on_demand_efs.json", ORIGINAL),
        (
            "backup_job_completed_on_demand_ebs.json",
            "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788",
        ),
        (
            "backup_job_completed_on_demand_rds.json",
            "arn:aws:rds:us-east-1:000022224444:snapshot:awsbackup:job-c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f",
        ),
    ],
)
def test_an_on_demand_backup_starts_both_copies(name: str, point: str) -> None:
    raw = load_event(name)
    assert read(raw) == Trigger(
        kind="BackupJob",
        job_id=raw["detail"]["backupJobId"],
        recovery_point_arn=point,
        vault_name=VAULT_NAME,
        region=MAIN_REGION,
        destinations=(TO_WEST, TO_EAST),
    )


def test_a_plan_backup_is_copied_when_the_deployment_copies_scheduled_backups() -> None:
    trigger = read(load_event("backup_job_completed_by_plan_efs.json"), copy_scheduled_backups=True)
    assert trigger.kind == "BackupJob"
    assert trigger.recovery_point_arn == ORIGINAL


@pytest.mark.parametrize(
    "name",
    [
        "copy_job_completed_by_plan_to_backup_region.json",
        "copy_job_completed_by_plan_to_this_region.json",
    ],
)
def test_a_completed_plan_copy_to_either_destination_checks_the_original(name: str) -> None:
    assert read(load_event(name)) == Trigger(
        kind="PlanCopyJob",
        job_id="8E9F0A1B-2C3D-4E5F-A6B7-C8D9E0F1A2B3",
        recovery_point_arn=ORIGINAL,
        vault_name=VAULT_NAME,
        region=MAIN_REGION,
        destinations=(TO_WEST, TO_EAST),
    )


def test_a_backup_in_the_backup_region_copies_to_the_alternate_and_to_itself() -> None:
    raw = moved_to(load_event("backup_job_completed_on_demand_efs.json"), "us-west-2")
    trigger = read(raw, region="us-west-2")
    assert trigger.destinations == (TO_EAST, TO_WEST)
    assert trigger.region == "us-west-2"


def test_a_plan_copy_in_the_backup_region_to_the_alternate_is_ours() -> None:
    raw = moved_to(load_event("copy_job_completed_by_plan_to_this_region.json"), "us-west-2")
    raw["detail"]["destinationBackupVaultArn"] = TO_EAST  # the alternate
    assert read(raw, region="us-west-2").destinations == (TO_EAST, TO_WEST)


# --- Refused -------------------------------------------------------------------------------


def edited(name: str, **detail: Any) -> dict[str, Any]:
    raw = load_event(name)
    for key, value in detail.items():
        if value is None:
            raw["detail"].pop(key, None)
        else:
            raw["detail"][key] = value
    return raw


OTHER_ACCOUNT_VAULT = f"arn:aws:backup:us-east-1:111133335555:backup-vault:{VAULT_NAME}"
REFUSED: list[tuple[str, Any, dict[str, Any], str]] = [
    # (what, event, read_trigger overrides, message)
    ("backup CREATED", load_event("backup_job_created.json"), {}, "The job is CREATED"),
    ("backup RUNNING", load_event("backup_job_running.json"), {}, "The job is RUNNING"),
    ("backup FAILED", load_event("backup_job_failed.json"), {}, "The job is FAILED"),
    ("copy CREATED", load_event("copy_job_created.json"), {}, "The job is CREATED"),
    ("copy RUNNING", load_event("copy_job_running.json"), {}, "The job is RUNNING"),
    ("copy FAILED", load_event("copy_job_failed.json"), {}, "The job is FAILED"),
    (
        "on-demand copy",
        load_event("copy_job_completed_on_demand.json"),
        {},
        "not started by a backup plan",
    ),
    (
        "plan backup, plans keep their own copies",
        load_event("backup_job_completed_by_plan_efs.json"),
        {},
        "CopyScheduledBackups is false",
    ),
    (
        "another account's event",
        load_event("backup_job_completed_on_demand_efs.json"),
        {"account": "111133335555"},
        "comes from account 000022224444 in us-east-1",
    ),
    (
        "another region's event",
        load_event("copy_job_completed_by_plan_to_backup_region.json"),
        {"region": "eu-west-1"},
        "this deployment serves account 000022224444 in eu-west-1",
    ),
    (
        "another vault's backup",
        edited("backup_job_completed_on_demand_efs.json", backupVaultName="Default"),
        {},
        "The backup is in vault 'Default'",
    ),
    (
        "vault ARN of another account",
        edited("backup_job_completed_on_demand_efs.json", backupVaultArn=OTHER_ACCOUNT_VAULT),
        {},
        f"The backup vault is {OTHER_ACCOUNT_VAULT}",
    ),
    (
        "no vault ARN",
        edited("backup_job_completed_on_demand_efs.json", backupVaultArn=None),
        {},
        "backupVaultArn is required",
    ),
    (
        "completed backup without a recovery point",
        {**load_event("backup_job_completed_on_demand_efs.json"), "resources": []},
        {},
        "must name its recovery point",
    ),
    (
        "recovery point of another region",
        {
            **load_event("backup_job_completed_on_demand_efs.json"),
            "resources": [ORIGINAL.replace("us-east-1", "us-west-2")],
        },
        {},
        "is in region us-west-2, not in us-east-1",
    ),
    (
        "recovery point of another account",
        {
            **load_event("copy_job_completed_by_plan_to_backup_region.json"),
            "resources": [ORIGINAL.replace("000022224444", "111133335555")],
        },
        {},
        "belongs to account 111133335555",
    ),
    (
        "plan copy from another vault",
        edited(
            "copy_job_completed_by_plan_to_backup_region.json",
            sourceBackupVaultArn=OTHER_ACCOUNT_VAULT,
        ),
        {},
        f"The copy comes from {OTHER_ACCOUNT_VAULT}",
    ),
    (
        "plan copy to a foreign destination",
        edited(
            "copy_job_completed_by_plan_to_backup_region.json",
            destinationBackupVaultArn=f"arn:aws:backup:us-west-2:444455556666:backup-vault:{VAULT_NAME}",
        ),
        {},
        "neither of this deployment's destinations",
    ),
    (
        "plan copy to a third region",
        edited(
            "copy_job_completed_by_plan_to_backup_region.json",
            destinationBackupVaultArn=f"arn:aws:backup:eu-west-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}",
        ),
        {},
        "neither of this deployment's destinations",
    ),
    (
        "completed plan copy without a job id",
        edited("copy_job_completed_by_plan_to_backup_region.json", copyJobId=None),
        {},
        "must name its job and source recovery point",
    ),
    (
        "another kind of event",
        {
            **load_event("backup_job_completed_on_demand_efs.json"),
            "detail-type": "Restore Job State Change",
        },
        {},
        "input.detail-type",
    ),
    ("not an object", "Backup Job State Change", {}, "input: expected a JSON object, got str"),
]


@pytest.mark.parametrize(
    ("raw", "overrides", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_events_say_why(raw: Any, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(raw, **overrides)
    assert message in str(refused.value)


# --- "Backup Needs Finishing" -------------------------------------------------------------

SOURCE_VAULT = f"arn:aws:backup:us-east-1:{RESOURCE_ACCOUNT}:backup-vault:{VAULT_NAME}"


def finishing(point: str = ORIGINAL, vault: str = SOURCE_VAULT, **changes: Any) -> dict[str, Any]:
    event = finish_request(
        event_id="756ee994-8f8a-5d05-9e62-cca969e8d0c7",
        account=RESOURCE_ACCOUNT,
        region=MAIN_REGION,
        time="2026-11-21T03:00:00Z",
        recovery_point_arn=point,
        vault_arn=vault,
        reason="lost event",
    )
    return {**event, **changes}


def test_a_backup_to_finish_takes_the_on_demand_path_to_both_destinations() -> None:
    assert read(finishing()) == Trigger(
        kind="Finish",
        job_id="756ee994-8f8a-5d05-9e62-cca969e8d0c7",
        recovery_point_arn=ORIGINAL,
        vault_name=VAULT_NAME,
        region=MAIN_REGION,
        destinations=(TO_WEST, TO_EAST),
    )


def test_a_plan_backup_to_finish_is_taken_whatever_copy_scheduled_backups_says() -> None:
    # The reconciliation finishes plan backups too: a plan's second copy may have lost its event.
    assert read(finishing(), copy_scheduled_backups=False).kind == "Finish"


def test_a_backup_to_finish_in_the_backup_region_copies_to_the_alternate_first() -> None:
    raw = moved_to(finishing(), "us-west-2")
    assert read(raw, region="us-west-2").destinations == (TO_EAST, TO_WEST)


def test_an_ebs_snapshot_to_finish_is_taken_though_its_arn_has_no_account() -> None:
    snapshot = "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788"
    assert read(finishing(snapshot)).recovery_point_arn == snapshot


@pytest.mark.parametrize(
    ("raw", "overrides", "message"),
    [
        (finishing(), {"account": "111133335555"}, "comes from account 000022224444"),
        (finishing(), {"region": "eu-west-1"}, "serves account 000022224444 in eu-west-1"),
        (
            finishing(vault=SOURCE_VAULT.replace(VAULT_NAME, "Default")),
            {},
            "The backup vault is arn:aws:backup:us-east-1:000022224444:backup-vault:Default",
        ),
        (finishing(vault=OTHER_ACCOUNT_VAULT), {}, f"The backup vault is {OTHER_ACCOUNT_VAULT}"),
        (
            finishing(ORIGINAL.replace("000022224444", "111133335555")),
            {},
            "belongs to account 111133335555",
        ),
        (
            finishing(ORIGINAL.replace("us-east-1", "us-west-2")),
            {},
            "is in region us-west-2, not in us-east-1",
        ),
    ],
    ids=[
        "another account",
        "another region",
        "another vault",
        "another account's vault",
        "another account's recovery point",
        "another region's recovery point",
    ],
)
def test_a_foreign_finish_request_is_refused(
    raw: Any, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(raw, **overrides)
    assert message in str(refused.value)


# --- read_deployment -----------------------------------------------------------------------

SETTINGS = {
    "BackupAccountId": BACKUP_ACCOUNT,
    "BackupRegion": "us-west-2",
    "BackupRegionAlternate": "us-east-1",
    "VaultName": VAULT_NAME,
}


def test_the_deployment_is_read_from_the_task_input() -> None:
    assert read_deployment(Fields(SETTINGS)) == DEPLOYMENT


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("BackupAccountId", "9999-7777-5555", "input.BackupAccountId"),
        ("BackupRegion", "Oregon", "input.BackupRegion"),
        ("BackupRegionAlternate", None, "input.BackupRegionAlternate is required"),
        ("VaultName", "Backup Events", "input.VaultName"),
        (
            "BackupRegionAlternate",
            "us-west-2",
            "BackupRegion and BackupRegionAlternate must differ",
        ),
    ],
)
def test_bad_deployment_settings_are_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_deployment(Fields({**SETTINGS, field: value}))
    assert message in str(refused.value)
