"""The deployed template, its real tasks and the AWS Backup twin: what happens to a backup.

Each scenario checks what a user would see: copy jobs and recovery points in every account
and Region, the original's lifecycle, and the execution's status and error.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import CopyAction, PlanInfo
from local.stacks import CAPABILITIES, template_url
from local.twin import Twin
from tests.statemachine.conftest import Execution, World, make_world

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
DAY = timedelta(days=1)


def only(executions: list[Execution]) -> Execution:
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
        # Copies keep the original's creation date and are made with its full retention.
        assert copy.creation_date == original.creation_date
        assert copy.lifecycle == {"DeleteAfterDays": 14}
        assert copy.vault_name == world.settings.vault_name
    jobs = world.copy_jobs_of(original)
    assert [j.destination_region for j in jobs] == [BACKUP_REGION, MAIN_REGION]
    assert all(j.state == "COMPLETED" and j.account == RESOURCE_ACCOUNT for j in jobs)

    summary = execution.output
    assert summary["Original"] == original.arn
    assert summary["OldLifecycle"] == {"DeleteAfterDays": 14}
    assert summary["NewLifecycle"] == {"DeleteAfterDays": 8}
    assert {c["RecoveryPointArn"] for c in summary["Copies"]} == {c.arn for c in copies.values()}


def test_each_copy_is_started_with_the_originals_lifecycle_as_it_is_then(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 120, "MoveToColdStorageAfterDays": 20})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    starts = [c for c in world.twin.backup.calls if c.operation == "start_copy_job"]
    assert [c.params["Lifecycle"] for c in starts] == [
        {"DeleteAfterDays": 120, "MoveToColdStorageAfterDays": 20}
    ] * 2
    copied = [
        e["stateExitedEventDetails"]["output"]
        for e in execution.history
        if e["type"] == "TaskStateExited"
        and e["stateExitedEventDetails"]["name"].startswith("CopyTo")
    ]
    # The execution records each copy's lifecycle and when it will expire.
    created = world.recovery_point_of(job).creation_date
    for output in map(json.loads, copied):
        assert output["Lifecycle"]["DeleteAfterDays"] == 120
        assert output["ExpiresAt"] == (created + 120 * DAY).isoformat().replace("+00:00", "Z")


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
    regions = [j.destination_region for j in world.copy_jobs_of(original)]
    assert regions == [MAIN_REGION, BACKUP_REGION]  # alternate first, then this region
    assert original.lifecycle == {"DeleteAfterDays": 8}


def test_copy_1_failed_means_no_copy_2_and_no_cut(world: World) -> None:
    world.twin.backup.on_copy(
        lambda j: j.destination_region == BACKUP_REGION, fail="Insufficient privileges"
    )
    job = world.backup()
    execution = only(world.settle())

    assert (execution.status, execution.error) == ("FAILED", "CopyJobFailed")
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
    assert world.cuts() == []


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
    original_publish = world.twin.router.publish
    delivered: set[str] = set()

    def publish_twice(account: str, region: str, event: dict, bus: str = "default") -> None:
        original_publish(account, region, event, bus)
        completed = (
            event["detail-type"] == "Backup Job State Change"
            and event["detail"]["state"] == "COMPLETED"
        )
        if completed and event["id"] not in delivered:
            delivered.add(event["id"])
            original_publish(account, region, json.loads(json.dumps(event)), bus)

    world.twin.router.publish = publish_twice  # type: ignore[method-assign]
    job = world.backup()
    executions = world.settle()

    assert len(executions) == 2
    assert all(e.status == "SUCCEEDED" for e in executions), [e.cause for e in executions]
    original = world.recovery_point_of(job)
    jobs = world.copy_jobs_of(original)
    assert sorted(j.destination_region for j in jobs) == sorted([BACKUP_REGION, MAIN_REGION])
    assert original.lifecycle == {"DeleteAfterDays": 8}
    # Both may cut at once; the cut is a pure function of the point, so both ask the same.
    assert {json.dumps(c.params["Lifecycle"]) for c in world.cuts()} == {'{"DeleteAfterDays": 8}'}


def plan_destinations(world: World) -> list[str]:
    return [
        world.vault_arn(BACKUP_ACCOUNT, BACKUP_REGION),
        world.vault_arn(BACKUP_ACCOUNT, MAIN_REGION),
    ]


def test_a_plans_copies_arriving_one_at_a_time_first_do_nothing_then_cut(world: World) -> None:
    destinations = plan_destinations(world)
    job = world.backup(plan=PlanInfo(), copy_actions=destinations)
    executions = world.settle()

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


def test_retention_already_short_makes_no_update_call(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 5})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["Retention"] == "unchanged"
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 5}
    assert world.cuts() == []


def test_a_soon_cold_efs_original_has_its_cold_move_cancelled_and_is_cut(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30})
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    original = world.recovery_point_of(job)
    # Cancelled by leaving the field out (AWS nulls it), never by a lone -1 (aws-facts.md §H).
    assert original.lifecycle == {"DeleteAfterDays": 8}
    assert original.move_to_cold_at() is None
    [cut] = world.cuts()
    assert cut.params["Lifecycle"] == {"DeleteAfterDays": 8}


def test_a_cold_original_keeps_ninety_days_of_cold_storage(world: World) -> None:
    """A plan's copy events lost (AWS events are best effort, aws-facts.md §A.1), run late."""
    world.twin.router.drop(lambda e: e["detail-type"] == "Copy Job State Change")
    job = world.backup(
        lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30},
        plan=PlanInfo(),
        copy_actions=plan_destinations(world),
    )
    assert world.settle() == []
    world.twin.clock.advance(40 * 86400)
    lost = [e for e in world.twin.router.dropped if e["detail"]["state"] == "COMPLETED"][-1]
    world.start(lost)
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
    world.backup_client(RESOURCE_ACCOUNT).put_backup_vault_lock_configuration(
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
    rerun = world.start(failed.input)
    world.settle()

    assert world.twin.describe_execution(rerun)["status"] == "SUCCEEDED"
    original = world.recovery_point_of(job)
    by_region: dict[str, list[str]] = {}
    for copy_job in world.copy_jobs_of(original):
        by_region.setdefault(copy_job.destination_region or "", []).append(copy_job.state)
    assert by_region[BACKUP_REGION] == ["COMPLETED"]  # reused, not copied again
    assert sorted(by_region[MAIN_REGION]) == ["COMPLETED", "FAILED"]
    assert original.lifecycle == {"DeleteAfterDays": 8}


def test_a_scheduled_backup_is_copied_when_plans_do_not_copy(twin: Twin) -> None:
    world = make_world(twin, CopyScheduledBackups="true")
    job = world.backup(plan=PlanInfo())
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 8}


def test_with_lifecycle_updates_off_both_copies_are_made_and_the_original_kept(
    twin: Twin,
) -> None:
    world = make_world(twin, EnableUpdateLifecycle="false")
    job = world.backup()
    execution = only(world.settle())

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.path[-1] == "CopiedRetentionKept"
    original = world.recovery_point_of(job)
    assert len(world.copies_of(original)) == 2
    assert original.lifecycle == {"DeleteAfterDays": 14}
    assert world.cuts() == []


# -- the cut never outlives the copies (issue: decide from what each copy really is) ---------


def lengthen(world: World, point_arn: str, lifecycle: dict[str, int]) -> None:
    """A person changes the original's retention in the console."""
    world.backup_client(RESOURCE_ACCOUNT).update_recovery_point_lifecycle(
        BackupVaultName=world.settings.vault_name, RecoveryPointArn=point_arn, Lifecycle=lifecycle
    )


AURORA = f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:cluster:orders"
DYNAMODB = f"arn:aws:dynamodb:{MAIN_REGION}:{RESOURCE_ACCOUNT}:table/orders"


def test_copies_that_expired_before_a_lengthened_original_stop_a_later_run(world: World) -> None:
    """A 5-day Aurora backup is copied (5 days); a person lengthens the original to 60; the
    copies expire on day 5; a re-run on day 8 must not cut 60 days down to 9."""
    job = world.backup(lifecycle={"DeleteAfterDays": 5}, resource=AURORA)
    first = only(world.settle())
    assert first.status == "SUCCEEDED", first.cause
    original = world.recovery_point_of(job)
    lengthen(world, original.arn, {"DeleteAfterDays": 60})
    world.twin.clock.advance(8 * 86400)
    assert world.copies_of(original) == []  # expired and deleted by AWS

    world.start(first.input)
    rerun = world.settle()[-1]

    assert (rerun.status, rerun.error) == ("FAILED", "CopyNoLongerExists")
    assert original.lifecycle == {"DeleteAfterDays": 60}
    assert world.cuts() == []


def test_a_cold_rule_given_after_copying_is_not_cut_below_the_copies(world: World) -> None:
    """A DynamoDB backup kept 5 days is copied; someone gives the original a cold rule (cold
    after 1 day, delete after 120); the cut would set 92 days while the copies keep 5."""
    job = world.backup(lifecycle={"DeleteAfterDays": 5}, resource=DYNAMODB)
    first = only(world.settle())
    original = world.recovery_point_of(job)
    lengthen(world, original.arn, {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 120})
    world.twin.clock.advance(2 * 3600)  # before its cold move: still copyable, still warm

    world.start(first.input)
    rerun = world.settle()[-1]

    assert (rerun.status, rerun.error) == ("FAILED", "CopiesExpireTooSoon")
    assert rerun.path[-1] == "RetentionNotCut"
    assert original.lifecycle == {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 120}
    assert world.cuts() == []


@pytest.mark.parametrize(
    ("original_lifecycle", "copy_days"),
    [
        ({"DeleteAfterDays": 120, "MoveToColdStorageAfterDays": 30}, 14),  # would cut to 92
        ({"DeleteAfterDays": 35}, 5),  # would cut to 8
    ],
)
def test_a_copy_that_keeps_fewer_days_than_the_original_stops_the_cut(
    world: World, original_lifecycle: dict[str, int], copy_days: int
) -> None:
    """An EFS original whose plan copies one destination with its own, shorter lifecycle: the
    copy job reports no lifecycle the runtime's SDK can read, the copy itself does."""
    to_backup_region, to_this_region = plan_destinations(world)
    job = world.backup(
        lifecycle=original_lifecycle,
        plan=PlanInfo(),
        copy_actions=[CopyAction(to_backup_region, {"DeleteAfterDays": copy_days}), to_this_region],
    )
    executions = world.settle()

    assert [e.status for e in executions] == ["SUCCEEDED", "FAILED"]
    failed = executions[1]
    assert (failed.error, failed.path[-1]) == ("CopiesExpireTooSoon", "RetentionNotCut")
    assert to_backup_region in (failed.cause or "")
    assert world.recovery_point_of(job).lifecycle == original_lifecycle
    assert world.cuts() == []


def test_a_copy_deleted_by_someone_before_the_cut_stops_it(world: World) -> None:
    world.twin.backup.on_copy(
        lambda j: j.destination_region == MAIN_REGION, duration=timedelta(hours=6)
    )
    job = world.backup()
    deleted: list[str] = []

    def delete_the_first_copy() -> None:
        # Copy 1 took an hour and is done; copy 2 runs for hours more, and the execution waits.
        [first_copy] = world.copies_of(world.recovery_point_of(job))
        world.backup_client(BACKUP_ACCOUNT, first_copy.region).delete_recovery_point(
            BackupVaultName=world.settings.vault_name, RecoveryPointArn=first_copy.arn
        )
        deleted.append(first_copy.arn)

    world.twin.clock.call_at(world.twin.clock.now() + timedelta(hours=4), delete_the_first_copy)
    execution = only(world.settle())
    original = world.recovery_point_of(job)

    assert len(deleted) == 1
    assert (execution.status, execution.error) == ("FAILED", "CopiesNotVerified")
    assert "no longer exists" in (execution.cause or "")
    assert original.lifecycle == {"DeleteAfterDays": 14}
    assert world.cuts() == []


def test_a_retention_lengthened_after_the_cut_is_never_cut_again(world: World) -> None:
    job = world.backup(lifecycle={"DeleteAfterDays": 30})
    first = only(world.settle())
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 8}
    lengthen(world, original.arn, {"DeleteAfterDays": 20})

    world.start(first.input)  # a re-run
    rerun = world.settle()[-1]
    reconciliation = world.reconcile()  # and the catch-up

    assert (rerun.status, rerun.error) == ("FAILED", "RetentionChangedAfterCut")
    assert reconciliation.status == "SUCCEEDED", reconciliation.cause
    assert reconciliation.output["Counts"]["ToStart"] == 0
    assert original.lifecycle == {"DeleteAfterDays": 20}
    assert len(world.cuts()) == 1


# -- self-healing: nobody at the keyboard --------------------------------------------------


def test_a_lost_backup_event_is_found_and_finished_by_the_reconciliation(world: World) -> None:
    world.twin.router.drop(lambda e: e["detail-type"] == "Backup Job State Change")
    job = world.backup()
    assert world.settle() == []
    world.twin.clock.advance(2 * 3600)

    reconciliation = world.reconcile()

    assert reconciliation.status == "SUCCEEDED", reconciliation.cause
    assert reconciliation.output["Counts"]["Started"] == 1
    execution = only(world.executions())
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.input["detail-type"] == "Backup Needs Finishing"
    original = world.recovery_point_of(job)
    assert len(world.copies_of(original)) == 2
    assert original.lifecycle == {"DeleteAfterDays": 8}
    # A second reconciliation finds nothing left to do.
    again = world.reconcile()
    assert again.output["Counts"]["ToStart"] == 0
    assert len(world.executions()) == 1


def test_a_plan_backup_whose_second_copy_event_was_lost_is_cut_by_the_reconciliation(
    world: World,
) -> None:
    destinations = plan_destinations(world)
    dropped: list[str] = []

    def second_copy_done(event: dict) -> bool:
        if event["detail-type"] != "Copy Job State Change":
            return False
        if event["detail"]["state"] != "COMPLETED":
            return False
        if event["detail"]["destinationBackupVaultArn"] != destinations[1]:
            return False
        dropped.append(event["id"])
        return True

    world.twin.router.drop(second_copy_done)
    job = world.backup(plan=PlanInfo(), copy_actions=destinations)
    waiting = only(world.settle())
    assert waiting.path[-1] == "WaitingForTheOtherCopy"
    assert dropped
    world.twin.clock.advance(2 * 3600)

    world.reconcile()

    finished = world.executions()[-1]
    assert finished.status == "SUCCEEDED", finished.cause
    assert finished.path[-1] == "Done"
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 8}
    assert len(world.copy_jobs_of(world.recovery_point_of(job))) == 2  # no third copy


def test_an_execution_that_failed_on_a_transient_error_is_redriven(world: World) -> None:
    world.twin.backup.throttle(1.0, operations=["start_copy_job"])
    job = world.backup()
    failed = only(world.settle())
    assert (failed.status, failed.error) == ("FAILED", "LimitExceededException") or (
        failed.status,
        failed.error,
    ) == ("FAILED", "ThrottlingException")
    assert failed.path[-1] == "CopyToBackupRegion"  # failed at the task, not a Fail state
    world.twin.backup.clear_faults()
    world.twin.clock.advance(2 * 3600)

    world.reconcile()

    described = world.twin.describe_execution(failed.arn)
    assert described["status"] == "SUCCEEDED"
    assert described.get("redriveCount") == 1
    assert len(world.executions()) == 1  # redriven, not started again
    assert world.recovery_point_of(job).lifecycle == {"DeleteAfterDays": 8}


def test_a_redrive_after_cuts_were_turned_off_copies_but_does_not_cut(world: World) -> None:
    # A redrive runs the definition the execution started with (aws-facts.md §C.3), which
    # still cuts; the stack as deployed now says not to (design.md §5, rule 10).
    world.twin.backup.throttle(1.0, operations=["update_recovery_point_lifecycle"])
    job = world.backup()
    failed = only(world.settle())
    assert (failed.status, failed.path[-1]) == ("FAILED", "CutOriginalRetention")
    world.twin.backup.clear_faults()
    parameters = {**world.settings.parameters, "EnableUpdateLifecycle": "false"}
    world.stack.client("cloudformation").update_stack(
        StackName=world.stack.name,
        TemplateURL=template_url(world.twin, world.account, world.region),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )

    world.stack.client("stepfunctions").redrive_execution(executionArn=failed.arn)
    world.settle()

    redriven = world.twin.describe_execution(failed.arn)
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    assert json.loads(redriven["output"])["Retention"] == "unchanged"
    original = world.recovery_point_of(job)
    assert original.lifecycle == {"DeleteAfterDays": 14}
    assert len(world.copies_of(original)) == 2


def test_a_failed_plan_copy_nobody_heard_of_is_reported_with_its_backup(world: World) -> None:
    destinations = plan_destinations(world)
    world.twin.backup.on_copy(
        lambda j: j.destination_vault_arn == destinations[1], fail="KMS key disabled"
    )
    world.twin.router.drop(lambda e: e["detail-type"] == "Copy Job State Change")
    job = world.backup(plan=PlanInfo(), copy_actions=destinations)
    assert world.settle() == []
    assert world.error_queue() == []  # no AWS event ever said it failed
    world.twin.clock.advance(2 * 3600)

    reconciliation = world.reconcile()

    assert reconciliation.output["Counts"]["NeedAttention"] == 1
    [report] = world.error_queue()
    assert report["recoveryPointArn"] == world.recovery_point_of(job).arn
    assert "KMS key disabled" in report["problem"]
    assert world.executions() == []  # a final failure is reported, never retried
