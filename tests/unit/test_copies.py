"""Pure copy decisions: destinations, tokens, reuse, the copy's lifecycle, verification of the
copies themselves, and the wait's outcome.

Copy jobs and recovery points are written here as the tasks hand them in: AWS's answers after
json_safe, so dates are ISO-8601 text in UTC.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.copies import (
    CopyLookup,
    CopyStart,
    Deployment,
    as_recovery_point,
    copy_job_outcome,
    copy_lifecycle,
    idempotency_token,
    job_created,
    judge_copy,
    latest_completed_copy,
    matching_copy,
    plan_copy_start,
    verify,
)
from tasks.errors import CopyJobFailed, CopyJobNotFinished, CopyJobTimedOut, InvalidInput
from tasks.retention import MAX_DAYS, NEVER, Lifecycle, RecoveryPoint, copies_outlive

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


def test_a_completed_copy_that_was_deleted_counts_as_a_failed_attempt() -> None:
    # Someone deleted the copy (or it expired): the job record says COMPLETED, but there is no
    # copy to reuse, and its token must not be reused either (aws-facts.md §B.1).
    done = job("COMPLETED", job_id="gone")
    assert plan_copy_start([done], WEST, gone=[done["DestinationRecoveryPointArn"]]) == (
        CopyStart(reuse=None, attempt=1)
    )


def test_a_completed_copy_that_still_exists_is_reused_over_a_later_deleted_one() -> None:
    kept = job("COMPLETED", created="2026-11-20T05:00:00Z", job_id="kept")
    deleted = job("COMPLETED", created="2026-11-21T05:00:00Z", job_id="deleted")
    start = plan_copy_start([kept, deleted], WEST, gone=[deleted["DestinationRecoveryPointArn"]])
    assert start == CopyStart(reuse=kept, attempt=0)


def test_a_copy_gone_in_another_destination_changes_nothing_here() -> None:
    here = job("COMPLETED", WEST, job_id="here")
    there = job("COMPLETED", EAST, job_id="there")
    start = plan_copy_start([here, there], WEST, gone=[there["DestinationRecoveryPointArn"]])
    assert start == CopyStart(reuse=here, attempt=0)


# --- copy_lifecycle -------------------------------------------------------------------------

CREATED = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def original_point(
    delete_after_days: int | None = 35,
    cold: int | None = None,
    opt_in: bool | None = None,
    delete_at: datetime | None = None,
) -> RecoveryPoint:
    return RecoveryPoint(
        arn=ORIGINAL,
        status="COMPLETED",
        storage_class="WARM",
        creation_date=CREATED,
        lifecycle=Lifecycle(delete_after_days, cold, opt_in),
        move_to_cold_storage_at=None,
        delete_at=delete_at,
    )


@pytest.mark.parametrize(
    ("original", "lifecycle"),
    [
        (original_point(35), {"DeleteAfterDays": 35}),
        (original_point(5), {"DeleteAfterDays": 5}),
        # The cold move and archive flag are copied as they are.
        (
            original_point(365, cold=30, opt_in=True),
            {
                "DeleteAfterDays": 365,
                "MoveToColdStorageAfterDays": 30,
                "OptInToArchiveForSupportedResources": True,
            },
        ),
        (original_point(365, cold=30), {"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 30}),
        # An undocumented lone -1 is never sent (aws-facts.md §H).
        (original_point(35, cold=NEVER, opt_in=False), {"DeleteAfterDays": 35}),
        # AWS's date says later than the day count: kept until the later one, rounded up.
        (
            original_point(35, delete_at=CREATED + timedelta(days=40, hours=2)),
            {"DeleteAfterDays": 41},
        ),
        (original_point(None, delete_at=CREATED + timedelta(days=12)), {"DeleteAfterDays": 12}),
    ],
)
def test_a_new_copy_gets_the_originals_lifecycle_as_it_is_now(
    original: RecoveryPoint, lifecycle: dict[str, Any]
) -> None:
    assert copy_lifecycle(original) == lifecycle


@pytest.mark.parametrize("never", [None, NEVER])
def test_a_copy_of_a_never_expiring_original_is_kept_a_hundred_years(never: int | None) -> None:
    # A copy's own "never" (-1) would mean "whenever the source expires" (aws-facts.md §B.1).
    assert copy_lifecycle(original_point(never, cold=30)) == {"DeleteAfterDays": MAX_DAYS}


@settings(max_examples=200, deadline=None)
@given(
    days=st.one_of(st.none(), st.just(NEVER), st.integers(1, MAX_DAYS)),
    cold=st.one_of(st.none(), st.just(NEVER), st.integers(0, 300)),
    # AWS's calculated date, when it has one, can sit hours off the day count.
    drift=st.one_of(st.none(), st.integers(-48, 48).map(lambda h: timedelta(hours=h))),
    zone=st.integers(-12, 14).map(lambda h: timezone(timedelta(hours=h))),
)
def test_property_a_copy_made_with_its_lifecycle_outlives_the_original_as_it_was(
    days: int | None, cold: int | None, drift: timedelta | None, zone: timezone
) -> None:
    if days not in (None, NEVER) and cold not in (None, NEVER) and days < cold + 90:
        cold = None  # AWS refuses such an original (aws-facts.md §B.4)
    delete_at = None
    if days not in (None, NEVER) and drift is not None:
        # Within what AWS can keep; past it see the test below.
        delete_at = min(CREATED + timedelta(days=days) + drift, CREATED + timedelta(MAX_DAYS))
    original = original_point(days, cold, delete_at=delete_at)
    original = replace(original, creation_date=original.creation_date.astimezone(zone))
    lifecycle = copy_lifecycle(original)
    # AWS accepts it (aws-facts.md §B.4) ...
    kept = lifecycle["DeleteAfterDays"]
    assert 1 <= kept <= MAX_DAYS
    assert lifecycle.get("MoveToColdStorageAfterDays", 0) >= 0
    if "MoveToColdStorageAfterDays" in lifecycle and kept < MAX_DAYS:
        assert kept >= lifecycle["MoveToColdStorageAfterDays"] + 90
    # ... and the copy it makes (same creation date, AWS's date from its day count) is one the
    # cut accepts for the original as it was when copied.
    assert copies_outlive(original, {WEST: made_copy(original)}).safe


def made_copy(original: RecoveryPoint) -> RecoveryPoint:
    """The copy AWS makes with copy_lifecycle(original): same creation date, its own date."""
    kept = copy_lifecycle(original)["DeleteAfterDays"]
    return RecoveryPoint(
        arn=f"{WEST}-copy",
        status="COMPLETED",
        storage_class="WARM",
        creation_date=original.creation_date,
        lifecycle=Lifecycle(delete_after_days=kept),
        move_to_cold_storage_at=None,
        delete_at=original.creation_date + timedelta(days=kept),
    )


# --- job_created ----------------------------------------------------------------------------


def test_job_dates_are_compared_as_time_not_text() -> None:
    assert job_created({"CreationDate": "2026-11-20T06:00:00Z"}) < job_created(
        {"CreationDate": "2026-11-20T06:00:00.500000Z"}
    )
    kiritimati = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=14)))
    assert job_created({"CreationDate": kiritimati}) == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_a_job_without_a_date_sorts_first() -> None:
    assert job_created({}) < job_created({"CreationDate": "2000-01-01T00:00:00Z"})


# --- latest_completed_copy and matching_copy -------------------------------------------------


def test_the_copy_of_the_latest_completed_job_to_that_destination_is_named() -> None:
    jobs = [
        job("COMPLETED", WEST, created="2026-11-20T05:00:00Z", job_id="old"),
        job("COMPLETED", WEST, created="2026-11-21T05:00:00Z", job_id="new"),
        job("RUNNING", WEST, created="2026-11-22T05:00:00Z", job_id="running"),
        job("COMPLETED", EAST, created="2026-11-23T05:00:00Z", job_id="east"),
    ]
    assert latest_completed_copy(jobs, ORIGINAL, WEST) == f"{WEST}-point-new"
    assert latest_completed_copy(jobs, ORIGINAL, EAST) == f"{EAST}-point-east"


@pytest.mark.parametrize(
    "jobs",
    [
        [],
        [job("FAILED"), job("RUNNING", job_id="J2")],
        # COMPLETED without a recovery point is no copy anyone can restore.
        [{**job("COMPLETED"), "DestinationRecoveryPointArn": None}],
        # A copy of another recovery point never stands for this one.
        [job("COMPLETED", SourceRecoveryPointArn=ORIGINAL + "-other")],
    ],
)
def test_no_completed_copy_of_this_original_names_none(jobs: list[dict[str, Any]]) -> None:
    assert latest_completed_copy(jobs, ORIGINAL, WEST) is None


RESOURCE = "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-0a1b2c3d4e5f67890"
SOURCE_VAULT = "arn:aws:backup:us-east-1:000022224444:backup-vault:BackupEvents-Sample"


def listed(arn: str, **changes: Any) -> dict[str, Any]:
    """A point as ListRecoveryPointsByBackupVault lists it in the backup account."""
    return {
        "RecoveryPointArn": arn,
        "ResourceArn": RESOURCE,
        "SourceBackupVaultArn": SOURCE_VAULT,
        "CreationDate": "2026-11-20T05:00:00Z",
        "Status": "COMPLETED",
        "Lifecycle": {"DeleteAfterDays": 35},
        "CalculatedLifecycle": {"DeleteAt": "2026-12-25T05:00:00Z"},
        **changes,
    }


def find(points: list[dict[str, Any]]) -> str | None:
    return matching_copy(
        points, resource_arn=RESOURCE, creation_date=CREATED, source_vault_arn=SOURCE_VAULT
    )


def test_a_copy_is_found_by_resource_creation_date_and_source_vault() -> None:
    # The same resource backed up an hour later, a copy from another vault, another resource:
    # none of them is this original's copy.
    points = [
        listed("later", CreationDate="2026-11-20T06:00:00Z"),
        listed("elsewhere", SourceBackupVaultArn=SOURCE_VAULT.replace("Sample", "Other")),
        listed("other", ResourceArn=RESOURCE + "0"),
        listed("undated", CreationDate=None),
        listed("ours", CreationDate="2026-11-20T19:00:00+14:00"),
    ]
    assert find(points) == "ours"
    assert find(points[:4]) is None


# --- as_recovery_point ------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_a_listed_point_without_a_storage_class_is_warm_until_its_cold_move() -> None:
    # ListRecoveryPointsByBackupVault has no StorageClass; DescribeRecoveryPoint would say COLD
    # once the calculated cold move has passed.
    cold_at = {"MoveToColdStorageAt": "2026-11-21T05:00:00Z", "DeleteAt": "2027-11-20T05:00:00Z"}
    assert as_recovery_point(listed("p"), NOW).storage_class == "WARM"
    assert as_recovery_point(listed("p", CalculatedLifecycle=cold_at), NOW).storage_class == "COLD"
    before = datetime(2026, 11, 21, 4, 59, tzinfo=UTC)
    assert as_recovery_point(listed("p", CalculatedLifecycle=cold_at), before).storage_class == (
        "WARM"
    )


def test_a_described_point_keeps_the_storage_class_aws_gave() -> None:
    assert as_recovery_point(listed("p", StorageClass="DELETED"), NOW).storage_class == "DELETED"


# --- judge_copy and verify --------------------------------------------------------------------


def described(destination: str, **changes: Any) -> dict[str, Any]:
    """A copy as DescribeRecoveryPoint describes it in the backup account."""
    return {**listed(f"{destination}-copy"), "StorageClass": "WARM", **changes}


def found(destination: str, **changes: Any) -> CopyLookup:
    return CopyLookup(destination, f"{destination}-copy", described(destination, **changes))


def test_both_copies_readable_and_alive_are_verified() -> None:
    result = verify([found(WEST), found(EAST)], [WEST, EAST], ORIGINAL, NOW)
    assert result.verified
    assert (result.missing, result.unusable) == ((), ())
    assert set(result.copies) == {WEST, EAST}
    assert result.copies[WEST].lifecycle == Lifecycle(delete_after_days=35)
    assert result.to_output() == {
        "Verified": True,
        "Copies": [
            {
                "DestinationBackupVaultArn": destination,
                "RecoveryPointArn": f"{destination}-copy",
                "Status": "COMPLETED",
                "Lifecycle": {"DeleteAfterDays": 35},
                "DeleteAt": "2026-12-25T05:00:00Z",
            }
            for destination in (WEST, EAST)
        ],
        "Missing": [],
        "Unusable": [],
    }


def test_a_destination_without_any_copy_is_missing() -> None:
    result = verify([found(WEST)], [WEST, EAST], ORIGINAL, NOW)
    assert not result.verified
    assert result.missing == (EAST,)
    assert result.unusable == ()
    assert result.to_output()["Copies"][1] == {
        "DestinationBackupVaultArn": EAST,
        "RecoveryPointArn": None,
        "Problem": f"no copy of {ORIGINAL} in {EAST}",
    }


@pytest.mark.parametrize(
    ("lookup", "problem"),
    [
        (CopyLookup(EAST, f"{EAST}-copy", None), "no longer exists"),
        (found(EAST, Status="DELETING"), "is DELETING (WARM)"),
        (found(EAST, Status="EXPIRED"), "is EXPIRED"),
        (found(EAST, Status="PARTIAL"), "is PARTIAL"),
        (found(EAST, StorageClass="DELETED"), "is COMPLETED (DELETED)"),
        # Past its deletion date by AWS's date, or by its own day count.
        (
            found(EAST, CalculatedLifecycle={"DeleteAt": "2026-11-23T05:00:00Z"}),
            "expired at 2026-11-23T05:00:00Z",
        ),
        (
            found(EAST, Lifecycle={"DeleteAfterDays": 2}, CalculatedLifecycle={}),
            "expired at 2026-11-22T05:00:00Z",
        ),
        (found(EAST, Lifecycle={"DeleteAfterMonths": 1}), "cannot be read"),
        (found(EAST, CreationDate=None), "cannot be read"),
    ],
)
def test_a_copy_that_was_found_but_is_gone_dying_or_unreadable_does_not_count(
    lookup: CopyLookup, problem: str
) -> None:
    result = verify([found(WEST), lookup], [WEST, EAST], ORIGINAL, NOW)
    assert not result.verified
    assert result.missing == ()  # found, so not "on its way": a person must look
    [reason] = result.unusable
    assert reason.startswith(f"the copy {EAST}-copy")
    assert problem in reason


def test_a_copy_whose_expiry_is_unknown_is_verified_and_left_to_the_cut() -> None:
    # Whether it lives long enough is the cut's question (CopyExpiryUnknown), not verification's.
    unknown = found(EAST, Lifecycle={"DeleteAfterDays": NEVER}, CalculatedLifecycle={})
    assert verify([found(WEST), unknown], [WEST, EAST], ORIGINAL, NOW).verified


def test_a_copy_that_expires_later_today_still_counts() -> None:
    soon = found(EAST, CalculatedLifecycle={"DeleteAt": "2026-11-23T05:00:01Z"})
    assert verify([found(WEST), soon], [WEST, EAST], ORIGINAL, NOW).verified


def test_lookups_for_other_vaults_are_ignored() -> None:
    stranger = found(vault("eu-west-1"))
    result = verify([found(WEST), stranger], [WEST, EAST], ORIGINAL, NOW)
    assert result.missing == (EAST,)
    assert set(result.copies) == {WEST}


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
    lookups = [found(d) for d in destinations if d.startswith("arn:")]
    with pytest.raises(InvalidInput, match="Destinations"):
        verify(lookups, destinations, ORIGINAL, NOW)


def test_a_recovery_point_that_is_not_a_copy_of_the_original_does_not_count() -> None:
    # Found under an ARN the input named, but it is another backup's copy (tasks/copy_reader.py
    # compares resource, creation date and source vault).
    stranger = CopyLookup(
        EAST, f"{EAST}-copy", described(EAST), mismatch=f"{EAST}-copy is not a copy of {ORIGINAL}"
    )
    result = verify([found(WEST), stranger], [WEST, EAST], ORIGINAL, NOW)
    assert not result.verified
    assert result.unusable == (f"{EAST}-copy is not a copy of {ORIGINAL}",)
    assert set(result.copies) == {WEST}


def test_judging_one_copy_names_its_vault_and_arn() -> None:
    verdict = judge_copy(found(WEST, Status="DELETING"), ORIGINAL, NOW)
    assert verdict.destination == WEST
    assert verdict.recovery_point_arn == f"{WEST}-copy"
    assert verdict.copy is not None
    assert verdict.copy.status == "DELETING"


# --- copy_job_outcome ----------------------------------------------------------------------

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
