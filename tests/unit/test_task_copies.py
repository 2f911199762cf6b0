"""StartCopyJob, DescribeCopyJob and VerifyCopies against the twin.

What a user would notice: one copy job per destination however often the task runs, a
failed copy retried under a new token, the copy's failure message in the execution's error,
a copy that never finishes ending the wait, and throttling surfacing under AWS's name only
after botocore has retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tasks import start_copy_job
from tasks.errors import (
    CopyJobFailed,
    CopyJobNotFinished,
    CopyJobTimedOut,
    LimitExceededException,
    ThrottlingException,
)
from tests.unit.conftest import EBS, World

HOUR = 3600.0


def test_a_copy_is_started_to_the_destination_asked_for(world: World) -> None:
    original = world.backup()
    started = world.run("StartCopyJob", world.copy_input(original, destination=0))
    assert started["Started"] is True
    assert started["Attempt"] == 1
    [copy] = world.copy_jobs(original)
    assert copy.job_id == started["CopyJobId"]
    assert copy.destination_vault_arn == world.destinations[0]
    assert copy.iam_role_arn.endswith(":role/service-role/AWSBackupDefaultServiceRole")
    assert copy.idempotency_token is not None


def test_running_the_task_again_reuses_the_copy(world: World) -> None:
    original = world.backup()
    first = world.run("StartCopyJob", world.copy_input(original))
    writes = world.writes()
    again = world.run("StartCopyJob", world.copy_input(original))
    assert again == {
        "CopyJobId": first["CopyJobId"],
        "State": "RUNNING",
        "DestinationBackupVaultArn": world.destinations[0],
        "Started": False,
    }
    assert world.writes() == writes
    assert len(world.copy_jobs(original)) == 1


def test_a_completed_copy_is_reused_rather_than_copied_again(world: World) -> None:
    original = world.backup()
    first = world.run("StartCopyJob", world.copy_input(original))
    world.twin.clock.advance(HOUR)
    again = world.run("StartCopyJob", world.copy_input(original))
    assert (again["CopyJobId"], again["State"], again["Started"]) == (
        first["CopyJobId"],
        "COMPLETED",
        False,
    )


def test_a_duplicate_execution_racing_the_first_still_gets_the_same_job(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = world.backup()
    world.run("StartCopyJob", world.copy_input(original))
    # The duplicate listed the copy jobs before the first one started its copy: only the
    # idempotency token stands between it and a second copy job.
    monkeypatch.setattr(start_copy_job, "copy_jobs_to", lambda *args: [])
    duplicate = world.run("StartCopyJob", world.copy_input(original))
    [copy] = world.copy_jobs(original)
    assert duplicate["CopyJobId"] == copy.job_id
    assert world.copy_jobs(original, world.destinations[1]) == []


def test_each_destination_gets_exactly_one_copy(world: World) -> None:
    original = world.backup()
    for _ in range(2):
        world.copy_both(original)
    jobs = world.copy_jobs(original)
    assert sorted(j.destination_vault_arn or "" for j in jobs) == sorted(world.destinations)
    assert {j.state for j in jobs} == {"COMPLETED"}


def test_after_a_failed_copy_a_new_attempt_starts_with_a_new_token(world: World) -> None:
    original = world.backup()
    rule = world.twin.backup.on_copy(fail="Copy job failed. The KMS key is disabled.")
    first = world.run("StartCopyJob", world.copy_input(original))
    world.twin.clock.advance(HOUR)
    world.twin.backup.copy_rules.remove(rule)

    retry = world.run("StartCopyJob", world.copy_input(original))
    assert retry["Started"] is True
    assert retry["Attempt"] == 2
    assert retry["CopyJobId"] != first["CopyJobId"]
    failed, new = sorted(world.copy_jobs(original), key=lambda j: j.creation_date)
    assert (failed.state, new.state) == ("FAILED", "RUNNING")
    assert failed.idempotency_token != new.idempotency_token
    # ...and the retry, once running, is reused like any other copy.
    assert world.run("StartCopyJob", world.copy_input(original))["CopyJobId"] == new.job_id


def test_an_ebs_snapshot_without_an_account_in_its_arn_is_copied(world: World) -> None:
    original = world.backup(resource=EBS)
    assert original.split(":")[4] == ""
    world.copy_both(original)
    assert [j.state for j in world.copy_jobs(original)] == ["COMPLETED", "COMPLETED"]


def test_throttled_start_reaches_the_caller_as_limit_exceeded_after_botocores_retries(
    world: World, task_logs: Callable[[], str]
) -> None:
    original = world.backup()
    world.twin.backup.throttle(1.0, codes=["LimitExceededException"], operations=["start_copy_job"])
    with pytest.raises(LimitExceededException):
        world.run("StartCopyJob", world.copy_input(original))
    attempts = [c for c in world.twin.backup.calls if c.operation == "start_copy_job"]
    assert [c.error for c in attempts] == ["LimitExceededException"] * 3
    assert world.copy_jobs(original) == []
    # botocore waited between its attempts (on the twin's clock), as it would on Lambda.
    assert len([s for s in world.twin.clock.sleeps if s.reason == "sdk-retry"]) == 2
    # The refused write is logged with what was asked and what AWS said.
    lines = [json.loads(line) for line in task_logs().splitlines()]
    assert [line["message"] for line in lines[-2:]] == [
        "start_copy_job request",
        "start_copy_job refused",
    ]
    assert lines[-1]["aws_error"].startswith("LimitExceededException: start_copy_job: ")
    assert lines[-2]["aws_request"]["RecoveryPointArn"] == original


def test_a_throttle_that_clears_within_botocores_retries_is_invisible(world: World) -> None:
    original = world.backup()
    world.twin.backup.throttle(0.5, codes=["ThrottlingException"], seed=3)
    started = world.run("StartCopyJob", world.copy_input(original))
    assert started["Started"] is True
    assert any(c.error == "ThrottlingException" for c in world.twin.backup.calls)
    assert len(world.copy_jobs(original)) == 1


# --- DescribeCopyJob ------------------------------------------------------------------------


def started_copy(world: World) -> tuple[str, str]:
    original = world.backup()
    return original, world.run("StartCopyJob", world.copy_input(original))["CopyJobId"]


def test_a_completed_copy_is_described(world: World) -> None:
    original, copy_job_id = started_copy(world)
    world.twin.clock.advance(HOUR)
    described = world.run("DescribeCopyJob", world.wait_input(original, copy_job_id, HOUR))
    [copy] = world.copy_jobs(original)
    assert described == {
        "CopyJobId": copy_job_id,
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": copy.destination_recovery_point_arn,
        "CompletionDate": "2026-11-20T06:30:00Z",
    }


def test_a_failed_copy_raises_copy_job_failed_with_aws_message(world: World) -> None:
    message = (
        "Copy job failed. Both source and destination account must be a member of the same "
        "organization."
    )
    world.twin.backup.on_copy(fail=message)
    original, copy_job_id = started_copy(world)
    world.twin.clock.advance(HOUR)
    with pytest.raises(CopyJobFailed) as failed:
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id))
    assert message in str(failed.value)


def test_a_copy_the_vault_policy_refuses_fails_with_the_access_denied_message(
    world: World,
) -> None:
    world.twin.backup.policies.clear()  # the backup account's vaults no longer let copies in
    original, copy_job_id = started_copy(world)
    world.twin.clock.advance(HOUR)
    with pytest.raises(
        CopyJobFailed, match=r"is FAILED: Access denied: .* backup:CopyIntoBackupVault on "
    ):
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id))


def test_a_running_copy_is_not_finished(world: World) -> None:
    original, copy_job_id = started_copy(world)
    world.twin.clock.advance(60)
    with pytest.raises(CopyJobNotFinished, match="is RUNNING"):
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id, waited=60))


def test_a_copy_still_waiting_at_the_limit_times_out(world: World) -> None:
    world.twin.backup.on_copy(hold=True)  # AWS leaves it CREATED (queued or retrying)
    original, copy_job_id = started_copy(world)
    limit = world.settings.copy_wait_limit_hours * HOUR
    world.twin.clock.advance(limit)
    with pytest.raises(CopyJobNotFinished, match="is CREATED"):
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id, waited=limit - 1))
    with pytest.raises(CopyJobTimedOut, match=r"still CREATED after 72\.0 h"):
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id, waited=limit))


def test_a_throttled_describe_reaches_the_caller_as_throttling(world: World) -> None:
    original, copy_job_id = started_copy(world)
    world.twin.backup.throttle(1.0, codes=["ThrottlingException"])
    with pytest.raises(ThrottlingException):
        world.run("DescribeCopyJob", world.wait_input(original, copy_job_id))
    attempts = [c for c in world.twin.backup.calls if c.operation == "describe_copy_job"]
    assert [c.error for c in attempts] == ["ThrottlingException"] * 3


# --- VerifyCopies ---------------------------------------------------------------------------


def test_both_copies_completed_are_verified(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    result = world.run("VerifyCopies", world.verify_input(original))
    assert result["Verified"] is True
    assert result["Missing"] == []
    copies = {c["DestinationBackupVaultArn"]: c for c in result["Copies"]}
    for job in world.copy_jobs(original):
        assert copies[job.destination_vault_arn or ""]["CopyJobId"] == job.job_id
        assert job.destination_recovery_point_arn in world.twin.backup.points


def test_a_copy_still_running_is_reported_missing(world: World) -> None:
    original = world.backup()
    world.run("StartCopyJob", world.copy_input(original, destination=0))
    world.twin.clock.advance(HOUR)
    world.run("StartCopyJob", world.copy_input(original, destination=1))
    result = world.run("VerifyCopies", world.verify_input(original))
    assert result["Verified"] is False
    assert result["Missing"] == [world.destinations[1]]
