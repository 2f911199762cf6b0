"""Recovery point lifecycles: validation, updates, and what the clock does to a point.

docs/aws-facts.md §B.4 (UpdateRecoveryPointLifecycle: 1..36500 days, DeleteAfterDays ≥
MoveToColdStorageAfterDays + 90, no cold change once cold, omitted fields become null, locked
vaults and continuous backups refuse it, the two UNCERTAIN behaviours), §B.3 (StorageClass,
CalculatedLifecycle), §B.5 (deletion at a random point within 8 hours after expiry).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import EBS, EFS, RDS, VAULT, Layout, error_of, role

pytestmark = pytest.mark.twin

DAY = timedelta(days=1)


def point(
    layout: Layout,
    lifecycle: dict[str, Any],
    *,
    age: timedelta = timedelta(0),
    resource: str = EFS,
    vault: str = VAULT,
    **kwargs: Any,
) -> str:
    return layout.twin.backup.put_recovery_point(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        vault,
        resource,
        lifecycle=lifecycle,
        created=layout.clock_now - age,
        **kwargs,
    )


def describe(layout: Layout, arn: str, vault: str = VAULT) -> dict[str, Any]:
    described: dict[str, Any] = layout.source.describe_recovery_point(
        BackupVaultName=vault, RecoveryPointArn=arn
    )
    return described


def update(layout: Layout, arn: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
    updated: dict[str, Any] = layout.source.update_recovery_point_lifecycle(
        BackupVaultName=VAULT, RecoveryPointArn=arn, Lifecycle=lifecycle
    )
    return updated


def update_error(layout: Layout, arn: str, lifecycle: dict[str, Any]) -> tuple[str, str]:
    code, message, _ = error_of(
        layout.source.update_recovery_point_lifecycle,
        BackupVaultName=VAULT,
        RecoveryPointArn=arn,
        Lifecycle=lifecycle,
    )
    return code, message


@pytest.mark.parametrize(
    ("lifecycle", "message"),
    [
        ({"DeleteAfterDays": 0}, "DeleteAfterDays cannot be less than 1 or more than 36500 days"),
        (
            {"DeleteAfterDays": 36501},
            "DeleteAfterDays cannot be less than 1 or more than 36500 days",
        ),
        (
            {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 119},
            "DeleteAfterDays cannot be less than 90 days apart from MoveToColdStorageAfterDays",
        ),
    ],
)
def test_invalid_lifecycles_are_refused_with_aws_messages(
    layout: Layout, lifecycle: dict[str, Any], message: str
) -> None:
    """§B.4: the validation messages AWS gives (InvalidParameterValueException, HTTP 400)."""
    arn = point(layout, {"DeleteAfterDays": 35})
    assert update_error(layout, arn, lifecycle) == (
        "InvalidParameterValueException",
        f"Invalid lifecycle. {message}",
    )
    assert describe(layout, arn)["Lifecycle"] == {"DeleteAfterDays": 35}
    # StartCopyJob validates a copy's lifecycle the same way, before any job exists.
    code, text, _ = error_of(
        layout.source.start_copy_job,
        RecoveryPointArn=arn,
        SourceBackupVaultName=VAULT,
        DestinationBackupVaultArn=layout.to_backup_region,
        IamRoleArn=role(),
        Lifecycle=lifecycle,
    )
    assert (code, text) == ("InvalidParameterValueException", f"Invalid lifecycle. {message}")
    assert layout.source.list_copy_jobs()["CopyJobs"] == []


@pytest.mark.parametrize(
    "lifecycle",
    [
        {"DeleteAfterDays": 1},
        {"DeleteAfterDays": 36500},
        {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 120},
        {"DeleteAfterDays": -1, "MoveToColdStorageAfterDays": -1},  # keep forever (§B.4)
    ],
)
def test_the_edges_of_the_valid_range_are_accepted(
    layout: Layout, lifecycle: dict[str, Any]
) -> None:
    """docs/aws-facts.md §B.4: 1..36500 days, cold + 90, and -1 to keep forever."""
    arn = point(layout, {"DeleteAfterDays": 35})
    assert update(layout, arn, lifecycle)["Lifecycle"] == lifecycle
    assert describe(layout, arn)["Lifecycle"] == lifecycle


def test_fields_left_out_of_an_update_become_null(layout: Layout) -> None:
    """§B.4: "Not including them may result in your plan updating with null values"."""
    arn = point(layout, {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 400})
    created = layout.twin.backup.points[arn].creation_date
    updated = update(layout, arn, {"DeleteAfterDays": 365})

    assert updated["Lifecycle"] == {"DeleteAfterDays": 365}
    assert updated["CalculatedLifecycle"] == {"DeleteAt": created + 365 * DAY}
    assert set(updated) == {
        "ResponseMetadata",
        "BackupVaultArn",
        "RecoveryPointArn",
        "Lifecycle",
        "CalculatedLifecycle",
    }
    assert describe(layout, arn)["Lifecycle"] == {"DeleteAfterDays": 365}


def test_the_cold_setting_cannot_change_once_the_point_is_cold(layout: Layout) -> None:
    """§B.4: MoveToColdStorageAfterDays cannot be changed once the recovery point is cold."""
    arn = point(layout, {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 400}, age=40 * DAY)
    assert describe(layout, arn)["StorageClass"] == "COLD"

    for change in (
        {"MoveToColdStorageAfterDays": 60, "DeleteAfterDays": 400},
        {"DeleteAfterDays": 200},  # leaving it out nulls it: a change too
    ):
        code, message = update_error(layout, arn, change)
        assert code == "InvalidRequestException"
        assert "cold storage" in message
    same_cold = {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 200}
    assert update(layout, arn, same_cold)["Lifecycle"] == same_cold


def test_a_locked_vault_and_a_continuous_point_refuse_lifecycle_updates(
    layout: Layout, twin: Twin
) -> None:
    """§B.4: a locked vault rejects lifecycle updates; the operation does not support
    continuous backups."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Locked-Vault", locked=True)
    in_locked = point(layout, {"DeleteAfterDays": 35}, vault="Locked-Vault")
    code, message, _ = error_of(
        layout.source.update_recovery_point_lifecycle,
        BackupVaultName="Locked-Vault",
        RecoveryPointArn=in_locked,
        Lifecycle={"DeleteAfterDays": 8},
    )
    assert code == "InvalidRequestException"
    assert "locked" in message
    assert describe(layout, in_locked, "Locked-Vault")["Lifecycle"] == {"DeleteAfterDays": 35}

    continuous = point(layout, {"DeleteAfterDays": 35}, continuous=True)
    code, message = update_error(layout, continuous, {"DeleteAfterDays": 8})
    assert code == "InvalidRequestException"
    assert "continuous" in message
    assert describe(layout, continuous)["Lifecycle"] == {"DeleteAfterDays": 35}


def test_a_retention_shorter_than_the_age_expires_the_point_and_deletes_it(
    layout: Layout,
) -> None:
    """§B.4 [UNCERTAIN], modelled as: the point expires at once and is deleted within 8 h
    (§B.5). The workflow never asks for it: it keeps at least the point's age + 1 day."""
    arn = point(layout, {"DeleteAfterDays": 35}, age=20 * DAY)
    updated = update(layout, arn, {"DeleteAfterDays": 10})

    assert updated["CalculatedLifecycle"]["DeleteAt"] < layout.clock_now
    assert describe(layout, arn)["Status"] == "DELETING"
    layout.run(timedelta(hours=8))
    code, _, _ = error_of(
        layout.source.describe_recovery_point, BackupVaultName=VAULT, RecoveryPointArn=arn
    )
    assert code == "ResourceNotFoundException"


def test_a_lone_cold_minus_one_is_refused_by_default_everywhere_a_lifecycle_goes(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §H (Lifecycle -1): AWS documents -1 only for both days together; the twin
    answers the undocumented lone -1 with the strict InvalidParameterValueException."""
    arn = point(layout, {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 400})
    lone = {"MoveToColdStorageAfterDays": -1, "DeleteAfterDays": 200}
    code, message = update_error(layout, arn, lone)
    assert code == "InvalidParameterValueException"
    assert "-1 only with DeleteAfterDays -1" in message
    assert describe(layout, arn)["Lifecycle"]["MoveToColdStorageAfterDays"] == 30
    code, _, _ = error_of(
        layout.source.start_copy_job,
        RecoveryPointArn=arn,
        SourceBackupVaultName=VAULT,
        DestinationBackupVaultArn=layout.to_backup_region,
        IamRoleArn=role(),
        Lifecycle=lone,
    )
    assert code == "InvalidParameterValueException"
    assert layout.source.list_copy_jobs()["CopyJobs"] == []

    forever = {"MoveToColdStorageAfterDays": -1, "DeleteAfterDays": -1}
    assert update(layout, arn, forever)["Lifecycle"] == forever
    # Leaving the cold day out is the documented way to drop it: AWS stores null (§B.4).
    assert update(layout, arn, {"DeleteAfterDays": 200})["Lifecycle"] == {"DeleteAfterDays": 200}


def test_a_lone_cold_minus_one_can_be_accepted_to_play_the_other_outcome(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §B.4 [UNCERTAIN]: the reference cancels a pending cold move with
    MoveToColdStorageAfterDays=-1 alone; `accept_cold_minus_one` plays AWS accepting it."""
    twin.backup.accept_cold_minus_one = True
    arn = point(layout, {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 400})
    lifecycle = {"MoveToColdStorageAfterDays": -1, "DeleteAfterDays": 200}
    updated = update(layout, arn, lifecycle)
    assert updated["Lifecycle"] == lifecycle
    assert "MoveToColdStorageAt" not in updated["CalculatedLifecycle"]


def test_storage_class_and_calculated_lifecycle_follow_the_clock_to_deletion(
    layout: Layout,
) -> None:
    """§B.3, §B.5: WARM → COLD at MoveToColdStorageAt; expired at DeleteAt; gone within 8 h,
    after which the point is ResourceNotFoundException and no longer listed."""
    arn = layout.backed_up(lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 91})
    created: datetime = describe(layout, arn)["CreationDate"]
    expected = {"MoveToColdStorageAt": created + DAY, "DeleteAt": created + 91 * DAY}
    assert describe(layout, arn)["CalculatedLifecycle"] == expected

    layout.twin.clock.advance(to=created + DAY - timedelta(seconds=1))
    assert describe(layout, arn)["StorageClass"] == "WARM"
    layout.run(timedelta(seconds=1))
    assert describe(layout, arn)["StorageClass"] == "COLD"

    layout.twin.clock.advance(to=created + 91 * DAY - timedelta(seconds=1))
    assert describe(layout, arn)["Status"] == "COMPLETED"
    layout.run(timedelta(seconds=1))
    assert describe(layout, arn)["Status"] == "DELETING"
    layout.run(timedelta(hours=8))
    code, _, _ = error_of(
        layout.source.describe_recovery_point, BackupVaultName=VAULT, RecoveryPointArn=arn
    )
    assert code == "ResourceNotFoundException"
    listed = layout.source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
    assert listed["RecoveryPoints"] == []


def test_expired_points_are_deleted_at_random_moments_within_8_hours(layout: Layout) -> None:
    """§B.5: "at a randomly chosen point over the following 8 hours"."""
    arns = [point(layout, {"DeleteAfterDays": 1}) for _ in range(8)]
    delete_at = layout.clock_now + DAY
    layout.twin.clock.advance(to=delete_at - timedelta(seconds=1))

    gone_after: dict[str, int] = {}
    for half_hours in range(17):
        listed = layout.source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
        present = {p["RecoveryPointArn"] for p in listed["RecoveryPoints"]}
        for arn in arns:
            if arn not in present:
                gone_after.setdefault(arn, half_hours)
        layout.twin.clock.advance(to=delete_at + timedelta(minutes=30 * half_hours))

    assert set(gone_after) == set(arns)  # all deleted within 8 h
    assert min(gone_after.values()) >= 1  # none before DeleteAt
    assert len(set(gone_after.values())) > 2  # not all at one moment


def test_cold_settings_apply_only_to_types_that_can_go_cold(layout: Layout) -> None:
    """§B.4: the lifecycle's cold setting is ignored for types that cannot go cold; EBS goes
    to the archive tier only with OptInToArchiveForSupportedResources (UNCERTAIN there)."""
    cold = {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 100}
    rds = point(layout, cold, age=2 * DAY, resource=RDS)
    ebs = point(layout, cold, age=2 * DAY, resource=EBS)
    ebs_archived = point(
        layout, {**cold, "OptInToArchiveForSupportedResources": True}, age=2 * DAY, resource=EBS
    )
    assert ebs.startswith(f"arn:aws:ec2:{MAIN_REGION}::snapshot/snap-")  # §A.2 ARN forms
    assert rds.startswith(f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:snapshot:awsbackup:")

    for arn in (rds, ebs):
        described = describe(layout, arn)
        assert described["StorageClass"] == "WARM"
        assert set(described["CalculatedLifecycle"]) == {"DeleteAt"}
    assert describe(layout, ebs_archived)["StorageClass"] == "COLD"
