"""CutOriginalRetention against the twin: the one task that deletes data early, on purpose.

It re-checks everything itself (design.md §5): both copies exist and are usable, read in the
backup account; each copy is deleted no earlier than the original would be as it is now; a
retention someone lengthened after a cut is never shortened again; the vault is not locked,
the point not continuous. Whenever it refuses, or has nothing to do, it writes nothing at all:
no AWS Backup write and no ledger change. The issue 11 patterns are here at task level.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from tasks.cut_retention import DeployedCut, deployed_cut
from tasks.errors import (
    CopiesExpireTooSoon,
    CopiesNotVerified,
    CopyExpiryUnknown,
    CopyReaderUnavailable,
    InvalidInput,
    RecoveryPointNotEligible,
    RetentionChangedAfterCut,
    ThrottlingException,
)
from tasks.ledger import CutRecord
from tests.unit.conftest import (
    AURORA,
    DAY,
    DYNAMODB,
    EXECUTION,
    HOUR,
    CopyAction,
    PlanInfo,
    World,
)


def lifecycle_updates(world: World) -> list[dict[str, Any]]:
    return [
        c.params
        for c in world.twin.backup.write_calls()
        if c.operation == "update_recovery_point_lifecycle"
    ]


def cut(world: World, original: str, known: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    return world.run("CutRetention", world.cut_input(original, known, **kw))


def put_record(world: World, record: CutRecord) -> None:
    """What an earlier run left in the ledger."""
    world.twin.client("dynamodb", RESOURCE_ACCOUNT, MAIN_REGION).put_item(
        TableName=world.ledger_table, Item=record.to_item()
    )


# --- The cut -------------------------------------------------------------------------------


def test_with_both_copies_the_original_is_cut_to_the_quick_start_8_days(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    result = cut(world, original, known)
    assert result["Action"] == "update"
    assert result["OldLifecycle"] == {"DeleteAfterDays": 35}
    assert result["NewLifecycle"] == {"DeleteAfterDays": 8}
    assert result["CalculatedLifecycle"] == {"DeleteAt": "2026-11-28T05:00:00Z"}
    assert result["DaysRemoved"] == 27
    assert [c["DestinationBackupVaultArn"] for c in result["Copies"]] == world.destinations
    assert [c["DeleteAt"] for c in result["Copies"]] == ["2026-12-25T05:00:00Z"] * 2
    assert world.lifecycle(original) == {"DeleteAfterDays": 8}
    assert [u["Lifecycle"] for u in lifecycle_updates(world)] == [{"DeleteAfterDays": 8}]


def test_the_cut_is_recorded_in_the_ledger(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    cut(world, original, world.copy_both(original))
    assert CutRecord.from_item(world.ledger()[original]) == CutRecord(
        recovery_point_arn=original,
        state="CUT",
        delete_after_days=8,
        old_delete_after_days=35,
        at="2026-11-20T08:00:00Z",  # the task input's Now
        execution=EXECUTION,
        backup_size_bytes=36048,
    )


def test_a_second_cut_writes_nothing(world: World) -> None:
    original = world.backup()
    known = world.copy_both(original)
    cut(world, original, known)
    with world.nothing_written():
        again = cut(world, original, known)
    assert again["Action"] == "unchanged"
    assert again["OldLifecycle"] == again["NewLifecycle"] == {"DeleteAfterDays": 8}


def test_a_retention_already_short_enough_is_not_written(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 5})
    known = world.copy_both(original)
    with world.nothing_written():
        result = cut(world, original, known)
    assert result["Action"] == "unchanged"
    assert "already 5 days" in result["Reason"]
    assert world.lifecycle(original) == {"DeleteAfterDays": 5}


def test_copies_found_without_the_executions_record_still_count(world: World) -> None:
    # The plan path (and a redrive of an old execution) has no KnownCopies of its own.
    original = world.backup()
    world.copy_both(original)
    assert cut(world, original, [])["Action"] == "update"


def test_an_old_backup_keeps_a_day_past_its_age(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    world.twin.clock.advance(13 * DAY)  # 13 days and a few hours old: age rounds up to 14
    result = cut(world, original, known)
    assert result["NewLifecycle"] == {"DeleteAfterDays": 15}
    point = world.twin.backup.points[original]
    assert point.creation_date + timedelta(days=15) > world.twin.clock.now() + timedelta(days=1)


def test_a_backup_kept_forever_is_cut_once_its_copies_are_kept_a_hundred_years(
    world: World,
) -> None:
    original = world.backup(lifecycle={})
    known = world.copy_both(original)
    assert [world.lifecycle(world.copy_of(original, n)) for n in (0, 1)] == [
        {"DeleteAfterDays": 36500}
    ] * 2
    result = cut(world, original, known)
    assert (result["OldLifecycle"], result["NewLifecycle"]) == ({}, {"DeleteAfterDays": 8})
    assert result["DaysRemoved"] is None  # "forever" minus 8 days is no number of days
    assert CutRecord.from_item(world.ledger()[original]).old_delete_after_days is None


def test_copies_kept_at_least_as_long_as_the_original_let_the_cut_go_ahead(world: World) -> None:
    original = world.backup(
        lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
        copy_actions=tuple(CopyAction(d, {"DeleteAfterDays": 35}) for d in world.destinations),
    )
    world.twin.clock.advance(2 * HOUR)
    result = cut(world, original)
    assert result["Action"] == "update"
    assert world.lifecycle(original) == {"DeleteAfterDays": 8}


# --- Issue 11: copies that would not outlive the original ----------------------------------


def test_issue_11_pattern_1_a_5_day_copy_of_an_original_lengthened_to_60_days(
    world: World,
) -> None:
    original = world.backup(resource=AURORA, lifecycle={"DeleteAfterDays": 5})
    known = world.copy_both(original)  # each copy keeps 5 days
    world.set_lifecycle(original, {"DeleteAfterDays": 60})
    with world.nothing_written(), pytest.raises(CopiesExpireTooSoon) as refused:
        cut(world, original, known)
    assert f"{world.destinations[0]} is deleted at 2026-11-25 05:00 UTC" in str(refused.value)
    assert "before the original (2027-01-19 05:00 UTC)" in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 60}


def test_issue_11_pattern_1_on_day_8_the_expired_copies_are_not_verified(world: World) -> None:
    # The re-run that once verified COMPLETED copy-job records and cut 60 days to 9.
    original = world.backup(resource=AURORA, lifecycle={"DeleteAfterDays": 5})
    known = world.copy_both(original)
    world.set_lifecycle(original, {"DeleteAfterDays": 60})
    world.twin.clock.advance(8 * DAY)
    with world.nothing_written(), pytest.raises(CopiesNotVerified, match="no longer exists"):
        cut(world, original, known)
    assert world.lifecycle(original) == {"DeleteAfterDays": 60}


def test_issue_11_pattern_2_an_original_given_a_cold_rule_after_copying(world: World) -> None:
    original = world.backup(resource=DYNAMODB, lifecycle={"DeleteAfterDays": 5})
    known = world.copy_both(original)
    world.set_lifecycle(original, {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 120})
    world.twin.clock.advance(2 * DAY)  # cold now; the copies keep their 5 days
    with world.nothing_written(), pytest.raises(CopiesExpireTooSoon):
        cut(world, original, known)
    assert world.lifecycle(original) == {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 120}


@pytest.mark.parametrize("copy_days", [14, 5])
def test_issue_11_pattern_3_a_plan_copy_kept_shorter_than_the_original(
    world: World, copy_days: int
) -> None:
    # The plan's copy job reports no lifecycle the runtime's SDK can read; the copy itself says.
    original = world.backup(
        lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
        copy_actions=(
            CopyAction(world.destinations[0], {"DeleteAfterDays": copy_days}),
            world.destinations[1],
        ),
    )
    world.twin.clock.advance(2 * HOUR)
    with world.nothing_written(), pytest.raises(CopiesExpireTooSoon) as refused:
        cut(world, original)
    assert world.destinations[0] in str(refused.value)
    assert world.destinations[1] not in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}


def test_issue_11_pattern_3_a_copy_someone_shortened_in_the_backup_account(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    world.set_lifecycle(world.copy_of(original, 1), {"DeleteAfterDays": 5})
    with world.nothing_written(), pytest.raises(CopiesExpireTooSoon) as refused:
        cut(world, original, known)
    assert world.destinations[1] in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}


def test_a_copy_that_inherits_an_expiry_aws_does_not_report_stops_the_cut(world: World) -> None:
    original = world.backup(
        lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
        copy_actions=(
            CopyAction(world.destinations[0], {"DeleteAfterDays": -1}),
            world.destinations[1],
        ),
    )
    world.twin.clock.advance(2 * HOUR)
    with world.nothing_written(), pytest.raises(CopyExpiryUnknown, match="DeleteAfterDays -1"):
        cut(world, original)


def test_a_short_lived_copy_does_not_matter_when_nothing_is_cut(world: World) -> None:
    original = world.backup(
        lifecycle={"DeleteAfterDays": 5},
        plan=PlanInfo(),
        copy_actions=tuple(CopyAction(d, {"DeleteAfterDays": 3}) for d in world.destinations),
    )
    world.twin.clock.advance(2 * HOUR)
    with world.nothing_written():
        assert cut(world, original)["Action"] == "unchanged"


# --- Copies that are not there --------------------------------------------------------------


@pytest.mark.parametrize("done", [0, 1])
def test_without_both_copies_nothing_is_written(world: World, done: int) -> None:
    original = world.backup()
    known = [world.copy_one(original, d) for d in range(done)]
    with world.nothing_written(), pytest.raises(CopiesNotVerified) as refused:
        cut(world, original, known)
    assert world.destinations[1] in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}


def test_a_copy_still_running_does_not_count(world: World) -> None:
    original = world.backup()
    known = [world.copy_one(original, 0)]
    world.run("StartCopyJob", world.copy_input(original, 1))
    with world.nothing_written(), pytest.raises(CopiesNotVerified):
        cut(world, original, known)


def test_a_copy_deleted_before_the_cut_stops_it(world: World) -> None:
    original = world.backup()
    known = world.copy_both(original)
    deleted = world.copy_of(original, 0)
    world.delete(deleted)
    with world.nothing_written(), pytest.raises(CopiesNotVerified) as refused:
        cut(world, original, known)
    assert f"the copy {deleted} in {world.destinations[0]} no longer exists" in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}


def test_one_copy_named_twice_is_refused_rather_than_verified(world: World) -> None:
    original = world.backup()
    known = [world.copy_one(original, 0)]
    twice = [world.destinations[0]] * 2
    with world.nothing_written(), pytest.raises(InvalidInput, match="two different regions"):
        cut(world, original, known, Destinations=twice)


def test_copies_of_another_backup_never_stand_for_this_ones(world: World) -> None:
    # A task input can carry anything (design.md §3); the cut re-checks what it is given.
    copied = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(copied)
    uncopied = world.backup(lifecycle={"DeleteAfterDays": 30})
    with world.nothing_written(), pytest.raises(CopiesNotVerified):
        cut(world, uncopied, known)


def test_copies_that_cannot_be_read_stop_the_cut(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    world.forget_copy_jobs(original)
    with (
        world.narrow_reader("backup:DescribeRecoveryPoint"),  # may no longer list the vault
        world.nothing_written(),
        pytest.raises(CopyReaderUnavailable),
    ):
        cut(world, original, [])


# --- The ledger: a retention lengthened after the cut stays ------------------------------------


def test_a_retention_lengthened_after_the_cut_is_never_cut_again(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    cut(world, original, known)
    world.set_lifecycle(original, {"DeleteAfterDays": 35})  # a person wants it back
    with world.nothing_written(), pytest.raises(RetentionChangedAfterCut) as refused:
        cut(world, original, known)
    assert "someone lengthened it after the cut" in str(refused.value)
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}


def test_a_cut_whose_update_failed_is_cut_again(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    world.twin.backup.throttle(
        1.0, codes=["ThrottlingException"], operations=["update_recovery_point_lifecycle"]
    )
    with pytest.raises(ThrottlingException):
        cut(world, original, known)
    # CUTTING was written before the update: a crash at any point leaves a readable record.
    record = CutRecord.from_item(world.ledger()[original])
    assert (record.state, record.delete_after_days, record.old_delete_after_days) == (
        "CUTTING",
        8,
        35,
    )
    assert world.lifecycle(original) == {"DeleteAfterDays": 35}
    world.twin.backup.clear_faults()
    assert cut(world, original, known)["Action"] == "update"
    assert CutRecord.from_item(world.ledger()[original]).state == "CUT"
    assert world.lifecycle(original) == {"DeleteAfterDays": 8}


def test_a_cut_written_but_not_marked_is_marked_without_another_write(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    cut(world, original, known)
    put_record(world, CutRecord(original, "CUTTING", 8, 35, "2026-11-20T08:00:00Z", "earlier"))
    writes = world.writes()
    assert cut(world, original, known)["Action"] == "unchanged"
    assert world.writes() == writes
    assert CutRecord.from_item(world.ledger()[original]) == CutRecord(
        original, "CUT", 8, 35, "2026-11-20T08:00:00Z", "earlier"
    )


def test_a_cut_written_but_not_marked_is_marked_even_when_nothing_else_may_be_done(
    world: World,
) -> None:
    # A vault locked since: the point is left alone now, and the earlier cut is still recorded
    # as done, or a person restoring 35 days would later read as a cut never written.
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    cut(world, original, known)
    put_record(world, CutRecord(original, "CUTTING", 8, 35, "2026-11-20T08:00:00Z", "earlier"))
    world.twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).put_backup_vault_lock_configuration(
        BackupVaultName=world.settings.vault_name, MinRetentionDays=1
    )
    with pytest.raises(RecoveryPointNotEligible):
        cut(world, original, known)
    assert CutRecord.from_item(world.ledger()[original]).state == "CUT"


def test_a_retention_changed_while_a_cut_was_in_flight_is_left_alone(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    put_record(world, CutRecord(original, "CUTTING", 8, 35, "2026-11-20T08:00:00Z", "earlier"))
    world.set_lifecycle(original, {"DeleteAfterDays": 20})
    with world.nothing_written(), pytest.raises(RetentionChangedAfterCut, match="changed it since"):
        cut(world, original, known)


# --- The stack as deployed now --------------------------------------------------------------


def test_cuts_turned_off_since_the_execution_started_write_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A redrive runs the execution's old definition, which still says cut; the function's
    # environment is the stack as it is now (design.md §5, rule 10).
    monkeypatch.setenv("CUT_ENABLED", "false")
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    with world.nothing_written():
        result = cut(world, original, known)
    assert result["Action"] == "unchanged"
    assert result["Reason"].startswith("Not cut: EnableUpdateLifecycle is false")
    assert result["NewLifecycle"] == result["OldLifecycle"] == {"DeleteAfterDays": 35}
    assert original not in world.ledger()


def test_more_days_in_the_deployed_stack_than_in_the_execution_win(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEW_DELETE_AFTER_DAYS", "10")
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    cut(world, original, world.copy_both(original), NewDeleteAfterDays=7)
    assert world.lifecycle(original) == {"DeleteAfterDays": 11}


@pytest.mark.parametrize(
    ("environ", "requested", "expected"),
    [
        ({}, 7, DeployedCut(True, 7)),
        ({"CUT_ENABLED": "false", "NEW_DELETE_AFTER_DAYS": "7"}, 7, DeployedCut(False, 7)),
        ({"CUT_ENABLED": "true", "NEW_DELETE_AFTER_DAYS": "14"}, 7, DeployedCut(True, 14)),
        ({"CUT_ENABLED": "true", "NEW_DELETE_AFTER_DAYS": "3"}, 7, DeployedCut(True, 7)),
    ],
)
def test_the_deployed_setting_turns_cuts_off_and_the_longer_day_count_wins(
    environ: dict[str, str], requested: int, expected: DeployedCut
) -> None:
    assert deployed_cut(environ, requested) == expected


@pytest.mark.parametrize(
    "environ",
    [{"CUT_ENABLED": "no"}, {"NEW_DELETE_AFTER_DAYS": "seven"}, {"NEW_DELETE_AFTER_DAYS": "0"}],
)
def test_a_malformed_deployed_setting_is_refused_by_name(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match=next(iter(environ))):
        deployed_cut(environ, 7)


# --- Points that must be left alone ---------------------------------------------------------


def test_a_point_in_a_locked_vault_is_not_eligible(world: World) -> None:
    original = world.backup()
    known = world.copy_both(original)
    world.twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).put_backup_vault_lock_configuration(
        BackupVaultName=world.settings.vault_name, MinRetentionDays=1
    )
    with world.nothing_written(), pytest.raises(RecoveryPointNotEligible, match="Vault Lock"):
        cut(world, original, known)


def test_a_continuous_point_is_not_eligible(world: World) -> None:
    # A plan can copy a continuous backup (as a snapshot); its own retention still cannot be
    # changed (aws-facts.md §B.4), so the cut refuses even with both copies done.
    original = world.backup(
        plan=PlanInfo(), continuous=True, copy_actions=tuple(world.destinations)
    )
    world.twin.clock.advance(2 * HOUR)
    with world.nothing_written(), pytest.raises(RecoveryPointNotEligible, match="Continuous"):
        cut(world, original)


# --- What a person reads --------------------------------------------------------------------


def test_every_write_is_logged_with_its_request_and_answer(
    world: World, task_logs: Callable[[], str]
) -> None:
    original = world.backup()
    known = world.copy_both(original)
    payload = world.cut_input(original, known)
    task_logs()  # only the cut's lines below
    world.run("CutRetention", payload)
    output = task_logs().splitlines()
    lines = [json.loads(line) for line in output if '"level"' in line]
    assert lines
    for line in lines:
        assert line["execution"] == EXECUTION
        assert line["recovery_point_arn"] == original
    [request] = [x for x in lines if x["message"] == "update_recovery_point_lifecycle request"]
    assert request["aws_request"] == {
        "BackupVaultName": world.settings.vault_name,
        "RecoveryPointArn": original,
        "Lifecycle": {"DeleteAfterDays": 8},
    }
    [response] = [x for x in lines if x["message"] == "update_recovery_point_lifecycle response"]
    assert response["aws_response"]["Lifecycle"] == {"DeleteAfterDays": 8}
    # The dashboard's figures (CloudWatch embedded metrics in the same log).
    [figures] = [json.loads(line) for line in output if '"_aws"' in line]
    assert (figures["BackupsCut"], figures["RetentionDaysRemoved"]) == ([1.0], [27.0])


def test_every_task_logs_its_own_execution_and_backup_on_every_line(
    world: World, task_logs: Callable[[], str]
) -> None:
    # One filter on the execution (or the backup) reads one backup's whole story, also when
    # the same warm function served another backup's execution in between.
    first, second = world.backup(), world.backup(resource=AURORA)
    steps: list[tuple[str, Callable[[], Any], tuple[str, str]]] = [
        (
            "DescribeRecoveryPoint",
            lambda: world.describe_input(world.events[first]),
            (EXECUTION, first),
        ),
        ("StartCopyJob", lambda: world.copy_input(first, 0), (EXECUTION, first)),
        (
            "DescribeRecoveryPoint",
            lambda: world.describe_input(world.events[second], Execution="other"),
            ("other", second),
        ),
        ("StartCopyJob", lambda: world.copy_input(first, 1), (EXECUTION, first)),
        ("VerifyCopies", lambda: world.verify_input(first), (EXECUTION, first)),
        ("CutRetention", lambda: world.cut_input(first), (EXECUTION, first)),
    ]
    for task, payload, expected in steps:
        built = payload()
        task_logs()
        world.run(task, built)
        world.twin.clock.advance(HOUR)
        lines = [json.loads(x) for x in task_logs().splitlines() if '"level"' in x]
        assert lines, task
        assert {(x["execution"], x["recovery_point_arn"]) for x in lines} == {expected}, task
