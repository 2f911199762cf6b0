"""Pure copy decisions: destinations, tokens, reuse, verification and the wait's outcome.

Copy jobs are written here as the tasks hand them in: ListCopyJobs/DescribeCopyJob output
after json_safe, so dates are ISO-8601 text in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks.copies import (
    CopyStart,
    Deployment,
    copy_job_outcome,
    idempotency_token,
    plan_copy_start,
    verify,
)
from tasks.errors import CopyJobFailed, CopyJobNotFinished, CopyJobTimedOut, InvalidInput

BACKUP_ACCOUNT = "999977775555"
VAULT = "BackupEvents-Sample"
DEPLOYMENT = Deployment(BACKUP_ACCOUNT, "us-west-2", "us-east-1", VAULT)
ORIGINAL = "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51"


def vault(region: str, account: str = BACKUP_ACCOUNT) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{VAULT}"


WEST, EAST = vault("us-west-2"), vault("us-east-1")


def job(
    state: str,
    destination: str = WEST,
    created: str = "2026-11-20T05:13:02.880Z",
    job_id: str = "J1",
    **extra: Any,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "CopyJobId": job_id,
        "State": state,
        "DestinationBackupVaultArn": destination,
        "SourceRecoveryPointArn": ORIGINAL,
        "CreationDate": created,
    }
    if state == "COMPLETED":
        found["DestinationRecoveryPointArn"] = f"{destination}-point-{job_id}"
        found["CompletionDate"] = "2026-11-20T05:43:02.880Z"
    found.update(extra)
    return found


# --- Deployment.destinations -------------------------------------------------------------


def test_copies_go_to_the_backup_region_first_and_then_to_this_region() -> None:
    assert DEPLOYMENT.destinations("aws", "us-east-1") == (WEST, EAST)
    assert DEPLOYMENT.destinations("aws", "eu-west-1") == (WEST, vault("eu-west-1"))


def test_a_backup_made_in_the_backup_region_copies_to_the_alternate_first() -> None:
    # Otherwise both copies would land in one region and losing it would lose both.
    assert DEPLOYMENT.destinations("aws", "us-west-2") == (EAST, WEST)


def test_destinations_keep_the_partition() -> None:
    gov = Deployment(BACKUP_ACCOUNT, "us-gov-west-1", "us-gov-east-1", VAULT)
    first, second = gov.destinations("aws-us-gov", "us-gov-east-1")
    assert first == f"arn:aws-us-gov:backup:us-gov-west-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
    assert second.startswith("arn:aws-us-gov:backup:us-gov-east-1:")


def test_the_backup_region_and_its_alternate_must_differ() -> None:
    with pytest.raises(InvalidInput, match="must differ"):
        Deployment(BACKUP_ACCOUNT, "us-west-2", "us-west-2", VAULT)


# --- idempotency_token ---------------------------------------------------------------------


def test_the_same_copy_request_always_gets_the_same_token() -> None:
    assert idempotency_token(ORIGINAL, WEST, 0) == idempotency_token(ORIGINAL, WEST, 0)
    # A fixed value: a token that changed between releases would start a second copy for an
    # execution that is re-run across a deployment.
    assert (
        idempotency_token(ORIGINAL, WEST, 0)
        == "backup-events-60dc4271545874ab400cbad5df98b91267897b63"
    )


def test_the_token_changes_per_attempt_destination_and_recovery_point() -> None:
    tokens = {
        idempotency_token(ORIGINAL, WEST, 0),
        idempotency_token(ORIGINAL, WEST, 1),
        idempotency_token(ORIGINAL, WEST, 2),
        idempotency_token(ORIGINAL, EAST, 0),
        idempotency_token(ORIGINAL + "0", WEST, 0),
    }
    assert len(tokens) == 5


def test_tokens_are_short_plain_text() -> None:
    token = idempotency_token(ORIGINAL, WEST, 7)
    assert len(token) <= 64
    assert token.replace("-", "").isalnum()


# --- plan_copy_start -----------------------------------------------------------------------


def test_with_no_copy_yet_the_first_attempt_starts() -> None:
    assert plan_copy_start([], WEST) == CopyStart(reuse=None, attempt=0)


@pytest.mark.parametrize("state", ["CREATED", "RUNNING", "COMPLETED"])
def test_a_copy_in_progress_or_done_is_reused(state: str) -> None:
    found = job(state)
    assert plan_copy_start([found], WEST) == CopyStart(reuse=found, attempt=0)


def test_copies_to_another_destination_do_not_count() -> None:
    assert plan_copy_start([job("COMPLETED", EAST), job("FAILED", EAST)], WEST).reuse is None
    assert plan_copy_start([job("COMPLETED", EAST), job("FAILED", EAST)], WEST).attempt == 0


def test_a_completed_copy_wins_over_a_newer_one_still_running() -> None:
    done = job("COMPLETED", created="2026-11-20T05:00:00Z", job_id="done")
    running = job("RUNNING", created="2026-11-20T07:00:00Z", job_id="running")
    assert plan_copy_start([running, done], WEST).reuse == done


def test_the_latest_of_several_completed_copies_is_reused() -> None:
    # Python writes no fraction for a whole second: compared as text, "06:00:00Z" would sort
    # after "06:00:00.500000Z". Compared as time, the later job wins.
    early = job("COMPLETED", created="2026-11-20T06:00:00Z", job_id="early")
    late = job("COMPLETED", created="2026-11-20T06:00:00.500000Z", job_id="late")
    assert plan_copy_start([early, late], WEST).reuse == late
    assert plan_copy_start([late, early], WEST).reuse == late


@pytest.mark.parametrize("failed", [1, 2, 5])
def test_each_failed_attempt_moves_the_next_one_on(failed: int) -> None:
    jobs = [job("FAILED", job_id=f"F{n}") for n in range(failed)]
    assert plan_copy_start(jobs, WEST) == CopyStart(reuse=None, attempt=failed)


def test_partial_copies_count_as_failed_attempts() -> None:
    assert plan_copy_start([job("PARTIAL"), job("FAILED", job_id="J2")], WEST).attempt == 2


def test_a_retry_already_running_after_a_failure_is_reused() -> None:
    retry = job("RUNNING", job_id="retry", created="2026-11-20T06:00:00Z")
    assert plan_copy_start([job("FAILED"), retry], WEST).reuse == retry


# --- verify --------------------------------------------------------------------------------


def test_both_copies_completed_are_verified() -> None:
    jobs = [job("COMPLETED", WEST, job_id="W"), job("COMPLETED", EAST, job_id="E")]
    result = verify(jobs, [WEST, EAST], ORIGINAL)
    assert result.verified
    assert result.missing == ()
    assert [c["CopyJobId"] for c in result.copies] == ["W", "E"]
    assert result.to_output() == {
        "Verified": True,
        "Copies": [
            {
                "DestinationBackupVaultArn": WEST,
                "CopyJobId": "W",
                "DestinationRecoveryPointArn": f"{WEST}-point-W",
                "CompletionDate": "2026-11-20T05:43:02.880Z",
            },
            {
                "DestinationBackupVaultArn": EAST,
                "CopyJobId": "E",
                "DestinationRecoveryPointArn": f"{EAST}-point-E",
                "CompletionDate": "2026-11-20T05:43:02.880Z",
            },
        ],
        "Missing": [],
    }


@pytest.mark.parametrize(
    "second",
    [
        None,
        job("RUNNING", EAST, job_id="E"),
        job("CREATED", EAST, job_id="E"),
        job("FAILED", EAST, job_id="E"),
        # COMPLETED but without a recovery point is not a copy anyone can restore.
        {**job("COMPLETED", EAST, job_id="E"), "DestinationRecoveryPointArn": None},
        # A completed copy of the same original to some other vault is not the one required.
        job("COMPLETED", vault("us-east-1", "111133335555"), job_id="E"),
    ],
)
def test_a_copy_not_completed_in_its_vault_is_missing(second: dict[str, Any] | None) -> None:
    jobs = [job("COMPLETED", WEST, job_id="W")] + ([second] if second else [])
    result = verify(jobs, [WEST, EAST], ORIGINAL)
    assert not result.verified
    assert result.missing == (EAST,)
    assert [c["CopyJobId"] for c in result.copies] == ["W"]


def test_the_latest_completed_copy_is_reported() -> None:
    jobs = [
        job("COMPLETED", WEST, created="2026-11-20T05:00:00Z", job_id="old"),
        job("COMPLETED", WEST, created="2026-11-21T05:00:00Z", job_id="new"),
        job("COMPLETED", EAST, job_id="E"),
    ]
    assert verify(jobs, [WEST, EAST], ORIGINAL).copies[0]["CopyJobId"] == "new"


def test_a_copy_of_another_recovery_point_never_verifies_this_one() -> None:
    other = "arn:aws:backup:us-east-1:000022224444:recovery-point:0d1e2f3a-another"
    jobs = [
        job("COMPLETED", WEST, job_id="W"),
        job("COMPLETED", EAST, job_id="E", SourceRecoveryPointArn=other),
    ]
    result = verify(jobs, [WEST, EAST], ORIGINAL)
    assert not result.verified
    assert result.missing == (EAST,)


def test_each_copy_keeps_the_lifecycle_aws_reports_for_it() -> None:
    jobs = [
        job(
            "COMPLETED", WEST, job_id="W", DestinationRecoveryPointLifecycle={"DeleteAfterDays": 7}
        ),
        job("COMPLETED", EAST, job_id="E"),
    ]
    west, east = verify(jobs, [WEST, EAST], ORIGINAL).copies
    assert west["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 7}
    assert "DestinationRecoveryPointLifecycle" not in east


@pytest.mark.parametrize(
    "destinations",
    [
        [WEST, WEST],  # one vault named twice would pass with a single copy
        [WEST, vault("us-west-2", "111133335555")],  # two accounts, one region
        [WEST, vault("us-east-1", "111133335555")],  # copies belong in one backup account
        [WEST],
        [WEST, EAST, vault("eu-west-1")],
        [WEST, "BackupEvents-Sample"],
    ],
)
def test_verification_needs_two_vaults_of_one_account_in_two_regions(
    destinations: list[str],
) -> None:
    jobs = [job("COMPLETED", d, job_id=str(n)) for n, d in enumerate(destinations)]
    with pytest.raises(InvalidInput, match="Destinations"):
        verify(jobs, destinations, ORIGINAL)


# --- copy_job_outcome ----------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
LIMIT = 72 * 3600


def outcome(found: dict[str, Any], waited: timedelta) -> dict[str, Any]:
    return copy_job_outcome(found, now=NOW, waiting_since=NOW - waited, limit_seconds=LIMIT)


def test_a_completed_copy_returns_its_summary() -> None:
    assert outcome(job("COMPLETED"), timedelta(hours=1)) == {
        "CopyJobId": "J1",
        "State": "COMPLETED",
        "DestinationBackupVaultArn": WEST,
        "DestinationRecoveryPointArn": f"{WEST}-point-J1",
        "CompletionDate": "2026-11-20T05:43:02.880Z",
    }


def test_a_completed_copy_is_reported_even_past_the_limit() -> None:
    # The copy exists; failing now would leave it unverified and the original uncut.
    assert outcome(job("COMPLETED"), timedelta(hours=100))["State"] == "COMPLETED"


@pytest.mark.parametrize("state", ["FAILED", "PARTIAL", "ABORTED"])
def test_a_failed_copy_raises_copy_job_failed_with_aws_message(state: str) -> None:
    message = "Access denied: not allowed to perform backup:CopyIntoBackupVault."
    with pytest.raises(CopyJobFailed) as raised:
        outcome(job(state, StatusMessage=message), timedelta(hours=1))
    assert str(raised.value) == f"Copy job J1 to {WEST} is {state}: {message}"


def test_a_failed_copy_without_a_message_says_so() -> None:
    with pytest.raises(CopyJobFailed, match="no status message"):
        outcome(job("FAILED"), timedelta(0))


@pytest.mark.parametrize("state", ["CREATED", "RUNNING"])
def test_an_unfinished_copy_raises_not_finished_until_the_limit(state: str) -> None:
    with pytest.raises(CopyJobNotFinished, match=f"is {state}"):
        outcome(job(state), timedelta(seconds=LIMIT) - timedelta(microseconds=1))


@pytest.mark.parametrize("state", ["CREATED", "RUNNING"])
def test_an_unfinished_copy_times_out_exactly_at_the_limit(state: str) -> None:
    with pytest.raises(CopyJobTimedOut, match=r"still .* after 72.0 h \(limit 72.0 h\)"):
        outcome(job(state), timedelta(seconds=LIMIT))


def test_a_clock_behind_the_state_entry_is_not_a_time_out() -> None:
    with pytest.raises(CopyJobNotFinished):
        outcome(job("RUNNING"), -timedelta(minutes=5))


def test_an_unknown_state_fails_rather_than_waits_forever() -> None:
    with pytest.raises(CopyJobFailed, match="unknown state 'PAUSED'"):
        outcome(job("PAUSED"), timedelta(0))


def test_a_copy_job_of_another_recovery_point_is_refused() -> None:
    # Its COMPLETED state must never pass for a copy of the original being waited for.
    with pytest.raises(InvalidInput, match="not the original"):
        copy_job_outcome(
            job("COMPLETED"),
            now=NOW,
            waiting_since=NOW,
            limit_seconds=LIMIT,
            source_recovery_point_arn=ORIGINAL + "-other",
        )
    found = copy_job_outcome(
        job("COMPLETED"),
        now=NOW,
        waiting_since=NOW,
        limit_seconds=LIMIT,
        source_recovery_point_arn=ORIGINAL,
    )
    assert found["State"] == "COMPLETED"
