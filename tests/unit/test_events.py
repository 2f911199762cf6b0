"""The typed event models read every fixture, AWS's documented quirks included (§A.2, §A.3),
and the "Backup Needs Finishing" event this product writes itself.

The fixtures are AWS's published examples re-addressed to the twin's accounts; each test
below names the quirk it holds the parser to. Malformed events must fail with InvalidInput
naming the field, because that message is what a person reads in the failed execution.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tasks.errors import InvalidInput
from tasks.events import (
    BackupJobEvent,
    CopyJobEvent,
    Envelope,
    FinishRequest,
    PlanCreator,
    finish_request,
    parse_backup_job_event,
    parse_copy_job_event,
    parse_event,
    parse_finish_request,
)
from tests.support import RESOURCE_ACCOUNT, event_names, load_event

ORIGINAL = (
    "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98"
)
SOURCE_VAULT = "arn:aws:backup:us-east-1:000022224444:backup-vault:BackupEvents-Sample"
BACKUP_REGION_VAULT = "arn:aws:backup:us-west-2:999977775555:backup-vault:BackupEvents-Sample"

# What each fixture must parse to: (class, state, recovery point, size, plan job?)
EXPECTED: dict[str, tuple[type, str, str | None, int | None, bool]] = {
    "backup_job_completed_by_plan_efs.json": (BackupJobEvent, "COMPLETED", ORIGINAL, 36048, True),
    "backup_job_completed_on_demand_ebs.json": (
        BackupJobEvent,
        "COMPLETED",
        "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788",
        8589934592,
        False,
    ),
    "backup_job_completed_on_demand_efs.json": (
        BackupJobEvent,
        "COMPLETED",
        ORIGINAL,
        36048,
        False,
    ),
    "backup_job_completed_on_demand_rds.json": (
        BackupJobEvent,
        "COMPLETED",
        "arn:aws:rds:us-east-1:000022224444:snapshot:awsbackup:job-c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f",
        21474836480,
        False,
    ),
    "backup_job_created.json": (BackupJobEvent, "CREATED", None, None, False),
    "backup_job_failed.json": (BackupJobEvent, "FAILED", None, 0, False),
    "backup_job_running.json": (BackupJobEvent, "RUNNING", None, 0, False),
    "copy_job_completed_by_plan_to_backup_region.json": (
        CopyJobEvent,
        "COMPLETED",
        ORIGINAL,
        36048,
        True,
    ),
    "copy_job_completed_by_plan_to_this_region.json": (
        CopyJobEvent,
        "COMPLETED",
        ORIGINAL,
        36048,
        True,
    ),
    "copy_job_completed_on_demand.json": (CopyJobEvent, "COMPLETED", ORIGINAL, 36048, False),
    "copy_job_created.json": (CopyJobEvent, "CREATED", ORIGINAL, None, False),
    "copy_job_failed.json": (CopyJobEvent, "FAILED", ORIGINAL, 36048, False),
    "copy_job_running.json": (CopyJobEvent, "RUNNING", ORIGINAL, 36048, False),
}


def test_the_table_covers_every_fixture() -> None:
    assert sorted(EXPECTED) == event_names()


@pytest.mark.parametrize("name", event_names())
def test_every_fixture_parses_to_its_typed_model(name: str) -> None:
    kind, state, point, size, by_plan = EXPECTED[name]
    raw = load_event(name)
    event = parse_event(raw)
    assert type(event) is kind
    assert event.state == state
    assert event.size_bytes == size
    assert event.on_demand is not by_plan
    assert event.envelope.account == RESOURCE_ACCOUNT
    assert event.envelope.region == "us-east-1"
    assert event.envelope.event_id == raw["id"]
    if isinstance(event, BackupJobEvent):
        assert event.recovery_point_arn == point
        assert event.job_id == raw["detail"]["backupJobId"]
    else:
        assert event.source_recovery_point_arn == point
        assert event.source_vault_arn == SOURCE_VAULT


def test_backup_job_sizes_are_read_from_strings() -> None:
    event = parse_backup_job_event(load_event("backup_job_completed_on_demand_efs.json"))
    assert event.size_bytes == 36048


def test_copy_job_sizes_are_read_from_numbers_even_when_written_as_floats() -> None:
    raw = load_event("copy_job_completed_on_demand.json")
    raw["detail"]["backupSizeInBytes"] = 36048.0
    assert parse_copy_job_event(raw).size_bytes == 36048


@pytest.mark.parametrize("name", ["copy_job_running.json", "copy_job_failed.json"])
def test_an_empty_object_destination_recovery_point_means_none_yet(name: str) -> None:
    assert parse_copy_job_event(load_event(name)).destination_recovery_point_arn is None


def test_a_completed_copy_names_its_destination_recovery_point() -> None:
    event = parse_copy_job_event(load_event("copy_job_completed_by_plan_to_backup_region.json"))
    assert event.destination_recovery_point_arn == (
        "arn:aws:backup:us-west-2:999977775555:recovery-point:0d4e5f6a-7b8c-4d9e-af01-b2c3d4e5f6a7"
    )
    assert event.destination_vault_arn == BACKUP_REGION_VAULT
    assert event.copy_job_id == "8E9F0A1B-2C3D-4E5F-A6B7-C8D9E0F1A2B3"


def test_a_created_copy_job_has_no_job_id_but_still_parses() -> None:
    event = parse_copy_job_event(load_event("copy_job_created.json"))
    assert event.copy_job_id is None
    assert event.destination_vault_arn == BACKUP_REGION_VAULT
    assert event.resource_type is None


def test_a_created_backup_job_carries_only_its_id_and_state() -> None:
    event = parse_backup_job_event(load_event("backup_job_created.json"))
    assert event.job_id == "F3E8A1C2-5B6D-4E7F-8091-A2B3C4D5E6F7"
    assert (event.vault_name, event.vault_arn, event.resource_arn) == (None, None, None)


def test_plan_jobs_carry_the_plan_under_the_events_own_spelling() -> None:
    event = parse_backup_job_event(load_event("backup_job_completed_by_plan_efs.json"))
    assert event.created_by == PlanCreator(
        backup_plan_id="b5e1f7a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        backup_plan_arn=(
            "arn:aws:backup:us-east-1:000022224444:backup-plan:b5e1f7a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        ),
        backup_plan_version="ZGQ1NWI0YjQtZDY3Ni00YzRkLWI2OWEtNDM3ZDk3OWE2ZWI5",
        backup_plan_rule_id="6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d",
    )


def test_on_demand_jobs_have_no_creator() -> None:
    assert parse_event(load_event("backup_job_completed_on_demand_efs.json")).created_by is None
    assert parse_event(load_event("copy_job_completed_on_demand.json")).created_by is None


def test_ebs_recovery_point_arns_without_an_account_are_accepted() -> None:
    event = parse_backup_job_event(load_event("backup_job_completed_on_demand_ebs.json"))
    assert event.recovery_point_arn is not None
    assert event.recovery_point_arn.split(":")[4] == ""
    assert event.resource_type == "EBS"


def test_ec2_image_recovery_points_are_accepted() -> None:
    raw = load_event("backup_job_completed_on_demand_ebs.json")
    raw["resources"] = ["arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890"]
    assert parse_event(raw).envelope.resources == (raw["resources"][0],)


def test_the_non_iso_expected_completion_date_of_a_running_job_is_not_read() -> None:
    # AWS writes it as "Jul 15, 2020 9:39:07 PM"; the workflow never needs it, so it must not
    # make a RUNNING event unreadable.
    assert parse_event(load_event("backup_job_running.json")).state == "RUNNING"


def test_a_failed_job_keeps_aws_status_message() -> None:
    event = parse_event(load_event("copy_job_failed.json"))
    assert event.status_message is not None
    assert "CopyIntoBackupVault" in event.status_message


# --- Malformed events ----------------------------------------------------------------------

DELETE = object()


def changed(name: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """The fixture with the value at `path` replaced (or deleted)."""
    raw = load_event(name)
    parent: Any = raw
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return raw


BACKUP = "backup_job_completed_on_demand_efs.json"
COPY = "copy_job_completed_by_plan_to_backup_region.json"


@pytest.mark.parametrize(
    ("name", "path", "value", "message"),
    [
        (BACKUP, ("detail-type",), "Restore Job State Change", "input.detail-type"),
        (BACKUP, ("detail-type",), DELETE, "input.detail-type"),
        (BACKUP, ("source",), "aws.ec2", "input.source"),
        (BACKUP, ("account",), "12345", "input.account"),
        (BACKUP, ("region",), "US East", "input.region"),
        (BACKUP, ("id",), DELETE, "input.id"),
        (BACKUP, ("time",), "Nov 20, 2026 5:12:41 AM", "input.time"),
        (BACKUP, ("time",), "2026-11-20T05:12:41", "input.time"),
        (
            BACKUP,
            ("resources",),
            "arn:aws:backup:us-east-1:000022224444:recovery-point:x",
            "input.resources",
        ),
        (BACKUP, ("resources",), [SOURCE_VAULT], "input.resources[0]"),
        (BACKUP, ("resources",), [7], "input.resources"),
        (BACKUP, ("detail",), DELETE, "input.detail"),
        (BACKUP, ("detail",), "COMPLETED", "input.detail"),
        (BACKUP, ("detail", "state"), "DONE", "input.detail.state"),
        (BACKUP, ("detail", "state"), DELETE, "input.detail.state"),
        (BACKUP, ("detail", "backupJobId"), "", "input.detail.backupJobId"),
        (BACKUP, ("detail", "backupSizeInBytes"), "lots", "input.detail.backupSizeInBytes"),
        (BACKUP, ("detail", "backupSizeInBytes"), "3²", "input.detail.backupSizeInBytes"),
        (BACKUP, ("detail", "backupSizeInBytes"), True, "input.detail.backupSizeInBytes"),
        (BACKUP, ("detail", "backupSizeInBytes"), -1, "input.detail.backupSizeInBytes"),
        (BACKUP, ("detail", "backupSizeInBytes"), 1.5, "input.detail.backupSizeInBytes"),
        (BACKUP, ("detail", "backupVaultName"), "a", "input.detail.backupVaultName"),
        (
            BACKUP,
            ("detail", "backupVaultArn"),
            "BackupEvents-Sample",
            "input.detail.backupVaultArn",
        ),
        (BACKUP, ("detail", "createdBy"), {"backupPlanArn": "x"}, "detail.createdBy.backupPlanId"),
        (COPY, ("detail", "state"), "ABORTED", "input.detail.state"),
        (COPY, ("detail", "sourceBackupVaultArn"), DELETE, "input.detail.sourceBackupVaultArn"),
        (
            COPY,
            ("detail", "destinationBackupVaultArn"),
            "x",
            "input.detail.destinationBackupVaultArn",
        ),
        (
            COPY,
            ("detail", "destinationRecoveryPointArn"),
            {"arn": "x"},
            "destinationRecoveryPointArn",
        ),
        (
            COPY,
            ("detail", "destinationRecoveryPointArn"),
            SOURCE_VAULT,
            "destinationRecoveryPointArn",
        ),
        (COPY, ("detail", "backupSizeInBytes"), float("nan"), "input.detail.backupSizeInBytes"),
        (COPY, ("detail", "copyJobId"), 42, "input.detail.copyJobId"),
    ],
)
def test_malformed_events_are_invalid_input_naming_the_field(
    name: str, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_event(changed(name, path, value))


@pytest.mark.parametrize("raw", [None, "event", 7, ["not", "an", "object"]])
def test_an_event_that_is_not_an_object_is_invalid_input(raw: Any) -> None:
    with pytest.raises(InvalidInput, match=r"expected a JSON object"):
        parse_event(raw)


def test_a_trailing_newline_does_not_pass_as_an_account() -> None:
    # A pattern ending in `$` also matches before a final newline; the account must not.
    with pytest.raises(InvalidInput, match=r"input.account"):
        parse_event(changed(BACKUP, ("account",), RESOURCE_ACCOUNT + "\n"))


# --- "Backup Needs Finishing": this product's own event (design.md §3, branch 3) -------------

FINISH_EVENT_ID = "756ee994-8f8a-5d05-9e62-cca969e8d0c7"


def finishing(**changes: Any) -> dict[str, Any]:
    """The event the reconciliation writes for one unfinished backup."""
    event = finish_request(
        event_id=FINISH_EVENT_ID,
        account=RESOURCE_ACCOUNT,
        region="us-east-1",
        time="2026-11-21T03:00:00Z",
        recovery_point_arn=ORIGINAL,
        vault_arn=SOURCE_VAULT,
        reason="no verified copy in the backup region",
    )
    return {**event, **changes}


def test_a_finish_request_is_shaped_like_an_eventbridge_event() -> None:
    # So every execution's input reads the same way and can be started again by hand.
    assert finishing() == {
        "version": "0",
        "id": FINISH_EVENT_ID,
        "detail-type": "Backup Needs Finishing",
        "source": "backup-events",
        "account": RESOURCE_ACCOUNT,
        "time": "2026-11-21T03:00:00Z",
        "region": "us-east-1",
        "resources": [ORIGINAL],
        "detail": {
            "backupVaultArn": SOURCE_VAULT,
            "backupVaultName": "BackupEvents-Sample",
            "reason": "no verified copy in the backup region",
        },
    }


def test_a_finish_request_is_read_back() -> None:
    event = parse_event(finishing())
    assert event == FinishRequest(
        envelope=Envelope(
            event_id=FINISH_EVENT_ID,
            account=RESOURCE_ACCOUNT,
            region="us-east-1",
            time="2026-11-21T03:00:00Z",
            resources=(ORIGINAL,),
        ),
        recovery_point_arn=ORIGINAL,
        vault_name="BackupEvents-Sample",
        vault_arn=SOURCE_VAULT,
        reason="no verified copy in the backup region",
    )
    # Only completed backups are ever found unfinished.
    assert event.state == "COMPLETED"
    assert parse_finish_request(finishing()) == event


def test_a_finish_request_without_a_reason_is_read() -> None:
    raw = finishing()
    del raw["detail"]["reason"]
    assert parse_finish_request(raw).reason is None


def test_an_ebs_snapshot_can_be_finished() -> None:
    snapshot = "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788"
    assert parse_finish_request(finishing(resources=[snapshot])).recovery_point_arn == snapshot


@pytest.mark.parametrize(
    ("changes", "detail", "message"),
    [
        # Shaped like this product's event, but from elsewhere: someone else's script, or AWS.
        ({"source": "aws.backup"}, {}, "input.source: expected 'backup-events'"),
        ({"source": "backup-events.reconciliation"}, {}, "input.source"),
        ({"resources": []}, {}, "the recovery point to finish is required"),
        ({"resources": [SOURCE_VAULT]}, {}, "input.resources[0]"),
        ({"resources": ORIGINAL}, {}, "input.resources"),
        ({"time": "tomorrow"}, {}, "input.time"),
        ({"account": "0000-2222-4444"}, {}, "input.account"),
        ({"detail": "finish it"}, {}, "input.detail"),
        ({}, {"backupVaultArn": None}, "input.detail.backupVaultArn is required"),
        ({}, {"backupVaultArn": "BackupEvents-Sample"}, "input.detail.backupVaultArn"),
        ({}, {"backupVaultName": "a b"}, "input.detail.backupVaultName"),
        ({}, {"reason": 7}, "input.detail.reason"),
    ],
)
def test_a_malformed_finish_request_is_invalid_input_naming_the_field(
    changes: dict[str, Any], detail: dict[str, Any], message: str
) -> None:
    raw = finishing(**changes)
    if detail:
        raw["detail"] = {**raw["detail"], **detail}
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_event(raw)


def test_the_kinds_of_event_are_named_when_none_matches() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_event(finishing(**{"detail-type": "Backup Needs Copying"}))
    for kind in ("Backup Job State Change", "Copy Job State Change", "Backup Needs Finishing"):
        assert kind in str(refused.value)
