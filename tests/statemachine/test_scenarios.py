"""The real definition, the real tasks and the AWS Backup twin: what happens to a backup.

Each scenario checks what a user would see: copy jobs and recovery points in every account
and region, the original's lifecycle, and the execution's status and error.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import CopyAction, PlanInfo
from local.twin import Twin
from local.workflow import Settings
from tests.statemachine.conftest import World, make_world

pytestmark = [pytest.mark.statemachine, pytest.mark.twin]

HAPPY_PATH = [
    "WhichJobCompleted?",
    "DescribeOriginalBackup",
    "CopyToBackupRegion",
    "WaitForCopyToBackupRegion",
    "CopyToThisRegion",
    "WaitForCopyToThisRegion",
    "VerifyCopies",
    "AreBothCopiesVerified?",
    "CutOriginalRetention",
    "Done",
]


def only(executions: list) -> object:
    assert len(executions) == 1, [e.status for e in executions]
    return executions[0]


def test_happy_path_copies_to_both_regions_then_cuts_the_original_to_8_days(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 14})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.path == HAPPY_PATH
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 8}  # the quick-start check
    assert original.delete_at() == original.creation_date + timedelta(days=8)

    copies = {(c.account, c.region): c for c in world.copies_of(original)}
    assert set(copies) == {(BACKUP_ACCOUNT, BACKUP_REGION), (BACKUP_ACCOUNT, MAIN_REGION)}
    for copy in copies.values():
        # Copies keep the original's creation date and its full, uncut retention.
        assert copy.creation_date == original.creation_date
        assert copy.lifecycle == {"DeleteAfterDays": 14}
        assert copy.vault_name == world.settings.vault_name
    jobs = world.copy_jobs_of(original)
    assert [j.destination_region for j in sorted(jobs, key=lambda j: j.creation_date)] == [
        BACKUP_REGION,
        MAIN_REGION,
    ]
    assert all(j.state == "COMPLETED" and j.account == RESOURCE_ACCOUNT for j in jobs)

    summary = execution.output
    assert summary["Original"] == original.arn
    assert summary["OldLifecycle"] == {"DeleteAfterDays": 14}
    assert summary["NewLifecycle"] == {"DeleteAfterDays": 8}
    assert {c["DestinationRecoveryPointArn"] for c in summary["Copies"]} == {
        c.arn for c in copies.values()
    }


@pytest.mark.parametrize(("copy_hours", "budget"), [(1, 25), (24, 40)])
def test_waiting_for_copies_stays_within_the_transition_budget(
    world: World, copy_hours: int, budget: int
) -> None:
    world.twin.backup.copy_duration = timedelta(hours=copy_hours)
    world.backup()
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.transitions <= budget
    # Polls are the task's own retries: each one a single billed transition.
    polls = [s.seconds for s in world.twin.clock.sleeps if s.reason == "retry"]
    assert polls[:4] == [300, 600, 1200, 2400]
    assert max(polls) <= world.settings.poll_max_interval_seconds


def test_in_the_backup_region_the_first_copy_goes_to_the_alternate(twin: Twin) -> None:
    world = make_world(twin, region=BACKUP_REGION)
    job = world.backup()
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    original = world.recovery_point_of(job)
    regions = [
        j.destination_region
        for j in sorted(world.copy_jobs_of(original), key=lambda j: j.creation_date)
    ]
    assert regions == [MAIN_REGION, BACKUP_REGION]  # alternate first, then this region
    assert original.lifecycle == {"DeleteAfterDays": 8}


def test_copy_1_failed_means_no_copy_2_and_no_cut(world: World) -> None:
    world.twin.backup.on_copy(
        lambda j: j.destination_region == BACKUP_REGION, fail="Insufficient privileges"
    )
    job = world.backup()
    execution = only(world.settle())

    assert execution.status == "FAILED"
    assert execution.error == "CopyJobFailed"
    assert "Insufficient privileges" in (execution.cause or "")
    assert execution.path[-1] == "CopyingFailed"
    original = world.recovery_point_of(job)
    assert [j.destination_region for j in world.copy_jobs_of(original)] == [BACKUP_REGION]
    assert original.lifecycle == {"DeleteAfterDays": 14}


def test_copy_2_failed_means_no_cut(world: World) -> None:
    world.twin.backup.on_copy(lambda j: j.destination_region == MAIN_REGION, fail="Quota exceeded")
    job = world.backup()
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "CopyJobFailed")
    original = world.recovery_point_of(job)
    assert sorted(j.state for j in world.copy_jobs_of(original)) == ["COMPLETED", "FAILED"]
    assert original.lifecycle == {"DeleteAfterDays": 14}
    assert not any(
        c.operation == "update_recovery_point_lifecycle" for c in world.twin.backup.calls
    )


def test_a_copy_stuck_in_created_past_the_limit_times_out_without_a_cut(world: World) -> None:
    world.twin.backup.on_copy(hold=True)
    job = world.backup()
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "CopyJobTimedOut")
    assert execution.path[-1] == "WaitForCopyToBackupRegion"  # redrive resumes here
    original = world.recovery_point_of(job)
    assert [j.state for j in world.copy_jobs_of(original)] == ["CREATED"]
    assert original.lifecycle == {"DeleteAfterDays": 14}
    waited = sum(s.seconds for s in world.twin.clock.sleeps if s.reason == "retry")
    limit = world.settings.copy_wait_limit_hours * 3600
    assert limit <= waited < limit + world.settings.poll_max_interval_seconds


def test_half_of_all_backup_calls_throttled_still_succeeds(world: World) -> None:
    world.twin.backup.throttle(0.5, seed=11)
    job = world.backup()
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    throttled = [
        c
        for c in world.twin.backup.calls
        if c.error in {"ThrottlingException", "LimitExceededException"}
    ]
    assert len(throttled) > 10
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 8}
    assert len(world.copy_jobs_of(original)) == 2


def test_the_same_event_twice_makes_one_copy_per_destination(world: World) -> None:
    def duplicate(account: str, region: str, event: dict) -> None:
        if (
            event["detail-type"] == "Backup Job State Change"
            and event["detail"]["state"] == "COMPLETED"
        ):
            world.twin.router.publish(account, region, json.loads(json.dumps(event)))

    original_publish = world.twin.router.publish
    delivered: list[str] = []

    def publish_twice(account: str, region: str, event: dict, bus: str = "default") -> None:
        original_publish(account, region, event, bus)
        if event["id"] not in delivered:
            delivered.append(event["id"])
            duplicate(account, region, event)

    world.twin.router.publish = publish_twice  # type: ignore[method-assign]
    job = world.backup()
    executions = world.settle()

    assert len(executions) == 2
    assert all(e.status == "SUCCEEDED" for e in executions), [e.cause for e in executions]
    original = world.recovery_point_of(job)
    jobs = world.copy_jobs_of(original)
    assert sorted(j.destination_region for j in jobs) == sorted([BACKUP_REGION, MAIN_REGION])
    assert original.lifecycle == {"DeleteAfterDays": 8}
    # Both executions may cut at the same moment; the cut is a pure function of the point's
    # state, so both ask for the same lifecycle and the second write changes nothing.
    updates = [
        c for c in world.twin.backup.calls if c.operation == "update_recovery_point_lifecycle"
    ]
    assert {json.dumps(c.params["Lifecycle"]) for c in updates} == {'{"DeleteAfterDays": 8}'}


def test_a_plans_copies_arriving_one_at_a_time_first_do_nothing_then_cut(world: World) -> None:
    destinations = [
        world.vault_arn(BACKUP_ACCOUNT, BACKUP_REGION),
        world.vault_arn(BACKUP_ACCOUNT, MAIN_REGION),
    ]
    job = world.backup(plan=PlanInfo(), copy_actions=destinations)
    executions = sorted(world.settle(), key=lambda e: e.history[0]["timestamp"])

    # The plan's backup job itself starts nothing: its plan copies it (CopyScheduledBackups=false).
    assert [e.status for e in executions] == ["SUCCEEDED", "SUCCEEDED"]
    first, second = executions
    assert first.path[-1] == "WaitingForTheOtherCopy"
    assert first.output["Missing"] == [destinations[1]]
    assert second.path[-1] == "Done"
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 8}
    jobs = world.copy_jobs_of(original)
    assert len(jobs) == 2
    assert all(j.created_by for j in jobs)


def test_a_plan_copy_kept_shorter_than_the_original_stops_the_cut_by_name(world: World) -> None:
    """A plan whose copy to the backup Region keeps 7 days, for an original kept 35.

    Cutting the original would leave the data 7 days in one Region where the user asked for
    35, so the execution fails at RetentionNotCut and the original keeps its retention.
    """
    to_backup_region = world.vault_arn(BACKUP_ACCOUNT, BACKUP_REGION)
    job = world.backup(
        lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
        copy_actions=[
            CopyAction(to_backup_region, {"DeleteAfterDays": 7}),
            world.vault_arn(BACKUP_ACCOUNT, MAIN_REGION),
        ],
    )
    executions = sorted(world.settle(), key=lambda e: e.history[0]["timestamp"])

    assert [e.status for e in executions] == ["SUCCEEDED", "FAILED"]
    failed = executions[1]
    assert (failed.error, failed.path[-1]) == ("CopiesExpireTooSoon", "RetentionNotCut")
    assert "kept 7 days, shorter than the original's 35 days" in (failed.cause or "")
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 35}
    assert not any(
        c.operation == "update_recovery_point_lifecycle" for c in world.twin.backup.calls
    )


def test_retention_already_short_makes_no_update_call(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 5})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["Retention"] == "unchanged"
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 5}
    assert not any(
        c.operation == "update_recovery_point_lifecycle" for c in world.twin.backup.calls
    )


def test_a_soon_cold_efs_original_has_its_cold_move_cancelled_and_is_cut(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    original = world.recovery_point_of(job)
    assert original.lifecycle["DeleteAfterDays"] == 8
    assert original.lifecycle.get("MoveToColdStorageAfterDays") == -1
    assert original.move_to_cold_at() is None


def test_a_cold_original_keeps_ninety_days_of_cold_storage(world: World) -> None:
    """A plan copy event delivered late (AWS events are best effort, facts §A.1)."""
    destinations = [
        world.vault_arn(BACKUP_ACCOUNT, BACKUP_REGION),
        world.vault_arn(BACKUP_ACCOUNT, MAIN_REGION),
    ]
    world.twin.router.drop(lambda e: e["detail-type"] == "Copy Job State Change")
    job = world.backup(
        lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30},
        plan=PlanInfo(),
        copy_actions=destinations,
    )
    assert world.settle() == []
    world.twin.clock.advance(40 * 86400)
    lost = [e for e in world.twin.router.dropped if e["detail"]["state"] == "COMPLETED"][-1]
    sfn = world.twin.client("stepfunctions")
    sfn.start_execution(stateMachineArn=world.deployed.state_machine_arn, input=json.dumps(lost))
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    original = world.recovery_point_of(job)
    assert original.storage_class(world.twin.clock.now()) == "COLD"
    assert original.lifecycle == {"DeleteAfterDays": 121, "MoveToColdStorageAfterDays": 30}


def test_a_continuous_backup_is_left_alone_before_any_write(world: World) -> None:
    writes_before = len(world.twin.backup.write_calls())
    job = world.backup(continuous=True)
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "RecoveryPointNotEligible")
    assert "continuous" in (execution.cause or "")
    assert len(world.twin.backup.write_calls()) == writes_before
    assert world.copy_jobs_of(world.recovery_point_of(job)) == []


def test_a_locked_source_vault_keeps_its_copies_and_refuses_the_cut_by_name(world: World) -> None:
    world.twin.client("backup").put_backup_vault_lock_configuration(
        BackupVaultName=world.settings.vault_name, MinRetentionDays=1
    )
    job = world.backup()
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "RecoveryPointNotEligible")
    assert "locked" in (execution.cause or "")
    assert execution.path[-1] == "RetentionNotCut"
    original = world.recovery_point_of(job)
    assert len(world.copies_of(original)) == 2
    assert original.lifecycle == {"DeleteAfterDays": 14}


def test_rerunning_a_failed_execution_finishes_without_a_second_copy_job(world: World) -> None:
    rule = world.twin.backup.on_copy(
        lambda j: j.destination_region == MAIN_REGION, fail="Transient"
    )
    job = world.backup()
    failed = only(world.settle())
    assert failed.error == "CopyJobFailed"

    world.twin.backup.copy_rules.remove(rule)
    sfn = world.twin.client("stepfunctions")
    event = json.loads(world.twin.describe_execution(failed.arn)["input"])
    rerun_arn = sfn.start_execution(
        stateMachineArn=world.deployed.state_machine_arn, input=json.dumps(event)
    )["executionArn"]
    world.settle()

    assert world.twin.describe_execution(rerun_arn)["status"] == "SUCCEEDED"
    original = world.recovery_point_of(job)
    by_region: dict[str, list[str]] = {}
    for copy_job in world.copy_jobs_of(original):
        by_region.setdefault(copy_job.destination_region or "", []).append(copy_job.state)
    assert by_region[BACKUP_REGION] == ["COMPLETED"]  # reused, not copied again
    assert sorted(by_region[MAIN_REGION]) == ["COMPLETED", "FAILED"]
    assert original.lifecycle == {"DeleteAfterDays": 8}


def test_a_scheduled_backup_is_copied_when_plans_do_not_copy(twin: Twin) -> None:
    world = make_world(twin, Settings(copy_scheduled_backups=True))
    job = world.backup(plan=PlanInfo())
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 8}


def test_with_lifecycle_updates_off_both_copies_are_made_and_the_original_kept(
    twin: Twin,
) -> None:
    world = make_world(twin, Settings(enable_update_lifecycle=False))
    job = world.backup()
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.path[-1] == "CopiedRetentionKept"
    original = world.recovery_point_of(job)
    assert len(world.copies_of(original)) == 2
    assert original.lifecycle == {"DeleteAfterDays": 14}
    assert not any(
        c.operation == "update_recovery_point_lifecycle" for c in world.twin.backup.calls
    )


def test_if_aws_refused_a_lone_cold_minus_one_the_cut_fails_safely_by_name(world: World) -> None:
    """aws-facts.md §B.4 marks the cancel-a-cold-move request UNCERTAIN: if AWS refuses it,
    the execution fails with AWS's error and the original keeps its whole lifecycle."""
    world.twin.backup.accept_cold_minus_one = False
    job = world.backup(lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30})
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "InvalidParameterValueException")
    assert execution.path[-1] == "RetentionNotCut"
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30}
    assert len(world.copies_of(original)) == 2
