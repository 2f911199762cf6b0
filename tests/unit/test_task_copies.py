"""CopyTo... (StartCopyJob) and WaitForCopyTo... (DescribeCopyJob) against the twin.

What a user would notice: one copy job per destination however often the task runs; each new
copy made with the original's lifecycle as it is at that moment, so its expiry is known and
recorded; a failed copy tried again under a new token, but a copy someone deleted (or that
expired) never made again on a guess; a copy found in the destination vault reused when AWS no
longer lists its job; the copy's failure message in the execution's error; a copy that never
finishes ending the wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.accounts import MAIN_REGION
from local.backup import CopyAction
from tasks import start_copy_job
from tasks.errors import (
    CopyHistoryUnknown,
    CopyJobFailed,
    CopyJobNotFinished,
    CopyJobNotFound,
    CopyJobTimedOut,
    CopyNoLongerExists,
    LimitExceededException,
    ServiceUnavailableException,
    ThrottlingException,
)
from tests.unit.conftest import AURORA, DAY, EBS, HOUR, PlanInfo, World


def started_copies(world: World) -> list[dict[str, Any]]:
    return [c.params for c in world.twin.backup.write_calls() if c.operation == "start_copy_job"]


def test_a_copy_is_started_with_the_originals_lifecycle_as_it_is_now(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    started = world.run("StartCopyJob", world.copy_input(original, destination=0))
    assert started == {
        "CopyJobId": started["CopyJobId"],
        "State": "CREATED",
        "CreationDate": "2026-11-20T06:00:00Z",
        "DestinationBackupVaultArn": world.destinations[0],
        "Lifecycle": {"DeleteAfterDays": 35},
        "ExpiresAt": "2026-12-25T05:00:00Z",
        "Attempt": 1,
        "Started": True,
    }
    [request] = started_copies(world)
    assert request["Lifecycle"] == {"DeleteAfterDays": 35}
    assert request["DestinationBackupVaultArn"] == world.destinations[0]
    assert request["IamRoleArn"].endswith(":role/service-role/AWSBackupDefaultServiceRole")
    assert request["IdempotencyToken"].startswith("backup-events-")
    # The copy AWS makes keeps that lifecycle, whatever happens to the original later.
    world.twin.clock.advance(HOUR)
    world.set_lifecycle(original, {"DeleteAfterDays": 60})
    assert world.lifecycle(world.copy_of(original, 0)) == {"DeleteAfterDays": 35}


def test_a_cold_rule_and_archive_flag_are_copied_as_they_are(world: World) -> None:
    lifecycle = {
        "DeleteAfterDays": 365,
        "MoveToColdStorageAfterDays": 30,
        "OptInToArchiveForSupportedResources": True,
    }
    original = world.backup(lifecycle=lifecycle)
    assert world.run("StartCopyJob", world.copy_input(original))["Lifecycle"] == lifecycle


def test_a_copy_of_a_never_expiring_original_is_kept_a_hundred_years(world: World) -> None:
    # A copy's own "never" would mean "whenever the source expires" (aws-facts.md §B.1).
    original = world.backup(lifecycle={})
    started = world.run("StartCopyJob", world.copy_input(original))
    assert started["Lifecycle"] == {"DeleteAfterDays": 36500}
    assert started["ExpiresAt"] == "2126-10-27T05:00:00Z"


def test_an_original_lengthened_before_copying_is_copied_with_its_new_retention(
    world: World,
) -> None:
    original = world.backup(resource=AURORA, lifecycle={"DeleteAfterDays": 5})
    world.set_lifecycle(original, {"DeleteAfterDays": 60})
    assert world.run("StartCopyJob", world.copy_input(original))["Lifecycle"] == {
        "DeleteAfterDays": 60
    }


def test_running_the_task_again_reuses_the_running_copy(world: World) -> None:
    original = world.backup()
    first = world.run("StartCopyJob", world.copy_input(original))
    with world.nothing_written():
        again = world.run("StartCopyJob", world.copy_input(original))
    assert again == {
        "CopyJobId": first["CopyJobId"],
        "State": "RUNNING",
        "DestinationBackupVaultArn": world.destinations[0],
        "Started": False,
    }
    assert len(world.copy_jobs(original)) == 1


def test_a_completed_copy_is_reused_rather_than_copied_again(world: World) -> None:
    original = world.backup()
    first = world.run("StartCopyJob", world.copy_input(original))
    world.twin.clock.advance(HOUR)
    with world.nothing_written():
        again = world.run("StartCopyJob", world.copy_input(original))
    assert again == {
        "CopyJobId": first["CopyJobId"],
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": world.copy_of(original, 0),
        "Started": False,
    }


def test_a_duplicate_execution_racing_the_first_still_gets_the_same_job(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = world.backup()
    world.run("StartCopyJob", world.copy_input(original))
    # The duplicate listed the copy jobs before the first one started its copy: only the
    # idempotency token stands between it and a second copy job (aws-facts.md §B.1).
    monkeypatch.setattr(start_copy_job, "copy_jobs_of", lambda *args, **kwargs: [])
    duplicate = world.run("StartCopyJob", world.copy_input(original))
    [copy] = world.copy_jobs(original)
    assert duplicate["CopyJobId"] == copy.job_id


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
    assert (retry["Started"], retry["Attempt"]) == (True, 2)
    assert retry["CopyJobId"] != first["CopyJobId"]
    failed, new = world.copy_jobs(original)
    assert (failed.state, new.state) == ("FAILED", "RUNNING")
    assert failed.idempotency_token != new.idempotency_token
    # ...and the retry, once running, is reused like any other copy.
    assert world.run("StartCopyJob", world.copy_input(original))["CopyJobId"] == new.job_id


def test_a_completed_copy_someone_deleted_is_not_copied_again_on_a_guess(world: World) -> None:
    # Its job still says COMPLETED, and reusing it would leave no copy at all (issue 11);
    # copying again would undo what a person did, or hide that the copy did not outlive the
    # original. The execution fails by name; a person decides.
    original = world.backup()
    world.copy_one(original, 0)
    deleted = world.copy_of(original, 0)
    world.delete(deleted)
    with world.nothing_written(), pytest.raises(CopyNoLongerExists) as refused:
        world.run("StartCopyJob", world.copy_input(original))
    assert deleted in str(refused.value)
    assert "the original keeps its retention" in str(refused.value)
    assert len(world.copy_jobs(original)) == 1


def test_an_expired_copy_is_not_copied_again_either(world: World) -> None:
    original = world.backup(resource=AURORA, lifecycle={"DeleteAfterDays": 5})
    world.copy_one(original, 0)
    world.set_lifecycle(original, {"DeleteAfterDays": 60})
    world.twin.clock.advance(6 * DAY)  # the 5-day copy is deleted by AWS
    with world.nothing_written(), pytest.raises(CopyNoLongerExists):
        world.run("StartCopyJob", world.copy_input(original))


def test_a_copy_whose_job_aws_no_longer_lists_is_found_in_the_vault(world: World) -> None:
    original = world.backup()
    world.copy_one(original, 0)
    copy = world.copy_of(original, 0)
    world.forget_copy_jobs(original)
    with world.nothing_written():
        found = world.run("StartCopyJob", world.copy_input(original))
    assert found == {
        "CopyJobId": None,
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": copy,
        "Started": False,
    }


def test_a_plans_copy_already_in_the_destination_is_reused(world: World) -> None:
    # "Backup Needs Finishing" for a plan backup: only the missing copy is made (design.md §3).
    original = world.backup(
        plan=PlanInfo(), copy_actions=(CopyAction(world.destinations[0], {"DeleteAfterDays": 35}),)
    )
    world.twin.clock.advance(HOUR)
    with world.nothing_written():
        reused = world.run("StartCopyJob", world.copy_input(original, 0))
    assert (reused["State"], reused["Started"]) == ("COMPLETED", False)
    assert world.run("StartCopyJob", world.copy_input(original, 1))["Started"] is True


def test_an_old_backup_whose_copies_cannot_be_read_is_not_copied_blindly(world: World) -> None:
    # Past AWS's 30 days of job history (aws-facts.md §B.2) a missing job proves nothing: a
    # copy may exist, and a second one would be paid for twice.
    original = world.backup()
    world.twin.clock.advance(31 * DAY)
    with (
        world.narrow_reader("backup:DescribeRecoveryPoint"),  # may no longer list the vault
        world.nothing_written(),
        pytest.raises(CopyHistoryUnknown, match="older than AWS"),
    ):
        world.run("StartCopyJob", world.copy_input(original))


def test_a_young_backup_is_copied_even_when_its_copies_cannot_be_read(world: World) -> None:
    # Its job history is complete, and copying does not depend on the reader; the cut does.
    original = world.backup()
    with world.narrow_reader("backup:DescribeRecoveryPoint"):
        assert world.run("StartCopyJob", world.copy_input(original))["Started"] is True


def test_a_young_backup_is_copied_when_the_reader_role_cannot_be_assumed(world: World) -> None:
    # The backup account's stack was deployed with another organization's id: its reader role
    # trusts nobody here, and STS answers AccessDenied (aws-facts.md §B.9).
    iam = world.twin.client("iam", world.settings.backup_account, MAIN_REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-anotherorg1"}},
            }
        ],
    }
    iam.update_assume_role_policy(
        RoleName=f"BackupEventsCopyReader-{MAIN_REGION}", PolicyDocument=json.dumps(trust)
    )
    original = world.backup()
    assert world.run("StartCopyJob", world.copy_input(original))["Started"] is True


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
    lines = [json.loads(line) for line in task_logs().splitlines() if '"level"' in line]
    assert [line["message"] for line in lines[-2:]] == [
        "start_copy_job request",
        "start_copy_job refused",
    ]
    assert lines[-1]["aws_error"].startswith("LimitExceededException: start_copy_job: ")
    assert lines[-2]["aws_request"]["RecoveryPointArn"] == original
    assert lines[-2]["aws_request"]["Lifecycle"] == {"DeleteAfterDays": 35}


@pytest.mark.parametrize("code", ["InternalFailure", "ServiceUnavailable"])
def test_a_server_error_reaches_the_caller_as_service_unavailable_after_botocores_retries(
    world: World, code: str
) -> None:
    # The state machine retries ServiceUnavailableException; AWS's own code stays in the cause.
    original = world.backup()
    world.twin.backup.server_errors(1.0, codes=[code], operations=["start_copy_job"])
    with pytest.raises(ServiceUnavailableException, match=f"start_copy_job: {code}: "):
        world.run("StartCopyJob", world.copy_input(original))
    attempts = [c for c in world.twin.backup.calls if c.operation == "start_copy_job"]
    assert [c.error for c in attempts] == [code] * 3
    assert world.copy_jobs(original) == []


def test_a_throttle_that_clears_within_botocores_retries_is_invisible(world: World) -> None:
    original = world.backup()
    world.twin.backup.throttle(0.5, codes=["ThrottlingException"], seed=3)
    started = world.run("StartCopyJob", world.copy_input(original))
    assert started["Started"] is True
    assert any(c.error == "ThrottlingException" for c in world.twin.backup.calls)
    assert len(world.copy_jobs(original)) == 1


# --- DescribeCopyJob ------------------------------------------------------------------------


def started_copy(world: World) -> tuple[str, dict[str, Any]]:
    original = world.backup()
    return original, world.run("StartCopyJob", world.copy_input(original))


def test_a_completed_copy_is_described(world: World) -> None:
    original, copy = started_copy(world)
    world.twin.clock.advance(HOUR)
    described = world.run("DescribeCopyJob", world.wait_input(original, copy, HOUR))
    assert described == {
        "CopyJobId": copy["CopyJobId"],
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": world.copy_of(original, 0),
        "CompletionDate": "2026-11-20T06:30:00Z",
    }


def test_a_copy_the_copy_state_found_completed_needs_no_wait(world: World) -> None:
    original = world.backup()
    world.copy_one(original, 0)
    reused = world.run("StartCopyJob", world.copy_input(original))
    wait = world.wait_input(original, reused)
    calls = len(world.twin.backup.calls)
    waited = world.run("DescribeCopyJob", wait)
    assert waited == {
        "CopyJobId": reused["CopyJobId"],
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": world.copy_of(original, 0),
    }
    assert world.twin.backup.calls[calls:] == []


def test_a_failed_copy_raises_copy_job_failed_with_aws_message(world: World) -> None:
    message = (
        "Copy job failed. Both source and destination account must be a member of the same "
        "organization."
    )
    world.twin.backup.on_copy(fail=message)
    original, copy = started_copy(world)
    world.twin.clock.advance(HOUR)
    with pytest.raises(CopyJobFailed) as failed:
        world.run("DescribeCopyJob", world.wait_input(original, copy))
    assert message in str(failed.value)


def test_a_copy_the_vault_policy_refuses_fails_with_the_access_denied_message(
    world: World,
) -> None:
    world.twin.backup.policies.clear()  # the backup account's vaults no longer let copies in
    original, copy = started_copy(world)
    world.twin.clock.advance(HOUR)
    with pytest.raises(
        CopyJobFailed, match=r"is FAILED: Access denied: .* backup:CopyIntoBackupVault on "
    ):
        world.run("DescribeCopyJob", world.wait_input(original, copy))


def test_a_running_copy_is_not_finished(world: World) -> None:
    original, copy = started_copy(world)
    world.twin.clock.advance(60)
    with pytest.raises(CopyJobNotFinished, match="is RUNNING"):
        world.run("DescribeCopyJob", world.wait_input(original, copy, waited=60))


def test_a_copy_still_waiting_at_the_limit_times_out(world: World) -> None:
    world.twin.backup.on_copy(hold=True)  # AWS leaves it CREATED (queued or retrying)
    original, copy = started_copy(world)
    limit = world.settings.copy_wait_limit_hours * HOUR
    world.twin.clock.advance(limit)
    with pytest.raises(CopyJobNotFinished, match="is CREATED"):
        world.run("DescribeCopyJob", world.wait_input(original, copy, waited=limit - 1))
    with pytest.raises(CopyJobTimedOut, match=r"still CREATED after 72\.0 h"):
        world.run("DescribeCopyJob", world.wait_input(original, copy, waited=limit))


def test_a_throttled_describe_reaches_the_caller_as_throttling(world: World) -> None:
    original, copy = started_copy(world)
    wait = world.wait_input(original, copy)
    world.twin.backup.throttle(1.0, codes=["ThrottlingException"])
    with pytest.raises(ThrottlingException):
        world.run("DescribeCopyJob", wait)
    attempts = [c for c in world.twin.backup.calls if c.operation == "describe_copy_job"]
    assert [c.error for c in attempts] == ["ThrottlingException"] * 3


def test_a_copy_job_aws_no_longer_knows_is_settled_by_the_vault(world: World) -> None:
    original, copy = started_copy(world)
    world.twin.clock.advance(HOUR)
    made = world.copy_of(original, 0)
    world.forget_copy_jobs(original)
    waited = world.run("DescribeCopyJob", world.wait_input(original, copy, HOUR))
    assert waited == {
        "CopyJobId": copy["CopyJobId"],
        "State": "COMPLETED",
        "DestinationBackupVaultArn": world.destinations[0],
        "DestinationRecoveryPointArn": made,
    }


def test_a_copy_job_aws_no_longer_knows_with_no_copy_in_the_vault_is_not_found(
    world: World,
) -> None:
    original, copy = started_copy(world)
    world.twin.clock.advance(HOUR)
    world.delete(world.copy_of(original, 0))
    world.forget_copy_jobs(original)
    with pytest.raises(CopyJobNotFound, match="holds no copy of"):
        world.run("DescribeCopyJob", world.wait_input(original, copy, HOUR))
