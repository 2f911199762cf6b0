"""Fault injection and the call record: what tests use to make AWS misbehave on purpose.

docs/aws-facts.md §B.7 (throttling: LimitExceededException is modelled, a generic
ThrottlingException is likely; botocore retries both), §B.1 (copy jobs can sit in CREATED for
hours and fail with a status message).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from local.accounts import BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import EBS, EFS, VAULT, Layout, error_of

pytestmark = pytest.mark.twin


def outcomes(layout: Layout, calls: int) -> list[str]:
    """Call ListCopyJobs `calls` times; the error code of each call, or "ok"."""
    results = []
    for _ in range(calls):
        try:
            layout.source.list_copy_jobs()
            results.append("ok")
        except layout.source.exceptions.ClientError as error:
            results.append(error.response["Error"]["Code"])
    return results


def test_throttle_refuses_about_that_fraction_with_both_codes_deterministically(
    layout: Layout, twin: Twin
) -> None:
    """§B.7: LimitExceededException (HTTP 400) and ThrottlingException (HTTP 429)."""
    twin.backup.throttle(0.3, seed=5)
    first = outcomes(layout, 400)
    counts = Counter(first)
    assert 0.22 <= (400 - counts["ok"]) / 400 <= 0.38
    assert counts["LimitExceededException"] > 30
    assert counts["ThrottlingException"] > 30

    twin.backup.clear_faults()
    assert set(outcomes(layout, 20)) == {"ok"}
    twin.backup.throttle(0.3, seed=5)
    assert outcomes(layout, 400) == first  # the same seed refuses the same calls

    twin.backup.clear_faults()
    twin.backup.throttle(1.0, codes=["ThrottlingException"])
    code, message, status = error_of(layout.source.list_copy_jobs)
    assert (code, message, status) == ("ThrottlingException", "Rate exceeded", 429)
    twin.backup.clear_faults()
    twin.backup.throttle(1.0, codes=["LimitExceededException"])
    assert error_of(layout.source.list_copy_jobs)[::2] == ("LimitExceededException", 400)


def test_throttle_can_target_operations_and_a_refused_call_does_nothing(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §B.7: a throttled request is refused before it acts."""
    point = layout.backed_up()
    twin.backup.throttle(1.0, operations=["start_copy_job"])
    code, _, _ = error_of(
        layout.source.start_copy_job,
        RecoveryPointArn=point,
        SourceBackupVaultName=VAULT,
        DestinationBackupVaultArn=layout.to_backup_region,
        IamRoleArn="arn:aws:iam::000022224444:role/service-role/AWSBackupDefaultServiceRole",
    )
    assert code in {"LimitExceededException", "ThrottlingException"}
    assert layout.source.list_copy_jobs()["CopyJobs"] == []  # other operations still answer
    refused = twin.backup.calls[-2]
    assert (refused.operation, refused.error) == ("start_copy_job", code)
    assert refused.params["RecoveryPointArn"] == point


def test_on_copy_fails_chosen_copies_with_a_status_message_at_their_end(
    layout: Layout, twin: Twin
) -> None:
    """§B.1: copies fail as jobs (FAILED with a status message), not at StartCopyJob."""
    twin.backup.on_copy(
        lambda job: job.destination_region == BACKUP_REGION, fail="Copy job failed. Quota."
    )
    point = layout.backed_up()
    failing = layout.start_copy(point, layout.to_backup_region)["CopyJobId"]
    layout.run(twin.backup.copy_duration - timedelta(seconds=1))
    assert layout.state(failing) == "RUNNING"
    layout.run(timedelta(hours=1))
    failed = layout.copy_job(failing)
    assert (failed["State"], failed["StatusMessage"]) == ("FAILED", "Copy job failed. Quota.")
    healthy = layout.start_copy(point, layout.to_this_region)["CopyJobId"]
    layout.run(timedelta(hours=1))
    assert layout.state(healthy) == "COMPLETED"


def test_on_copy_duration_and_hold_then_release(layout: Layout, twin: Twin) -> None:
    """§B.1: no SLA for copy completion; a copy can stay CREATED for hours."""
    point, other = layout.backed_up(EFS), layout.backed_up(EBS)
    twin.backup.on_copy(lambda job: job.resource_arn == EBS, duration=timedelta(hours=9))
    slow = layout.start_copy(other)["CopyJobId"]
    twin.backup.on_copy(lambda job: job.resource_arn == EFS, hold=True)
    held = layout.start_copy(point)["CopyJobId"]

    layout.run(timedelta(hours=8, minutes=59))
    assert (layout.state(slow), layout.state(held)) == ("RUNNING", "CREATED")
    layout.run(timedelta(minutes=1))
    assert layout.state(slow) == "COMPLETED"
    assert layout.twin.backup.next_event_time() is None  # nothing more happens by itself

    released_at = layout.clock_now
    twin.backup.release(held)
    assert layout.state(held) == "RUNNING"
    layout.run(twin.backup.copy_duration)
    done = layout.copy_job(held)
    assert done["State"] == "COMPLETED"
    assert done["CompletionDate"] == released_at + twin.backup.copy_duration


def test_on_copy_also_applies_to_copies_already_waiting(layout: Layout, twin: Twin) -> None:
    point = layout.backed_up()
    running = layout.start_copy(point, layout.to_backup_region)["CopyJobId"]
    waiting = layout.start_copy(point, layout.to_this_region)["CopyJobId"]
    assert layout.state(waiting) == "CREATED"  # one job per resource (§B.1)

    twin.backup.on_copy(fail="Injected after the fact.")
    layout.run(timedelta(hours=2))
    assert layout.state(running) == "COMPLETED"  # already running: not affected
    assert layout.copy_job(waiting)["StatusMessage"] == "Injected after the fact."


def test_every_call_is_recorded_and_write_calls_counts_writes(layout: Layout, twin: Twin) -> None:
    """docs/design.md §5: tests count write calls (no write when nothing is to be cut)."""
    start = len(twin.backup.calls)
    point = layout.backed_up()  # the control API is not an AWS call: nothing recorded
    assert len(twin.backup.calls) == start
    writes_before = len(twin.backup.write_calls())

    layout.start_copy(point)
    layout.source.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)
    layout.source.list_copy_jobs(ByState="RUNNING")
    layout.source.update_recovery_point_lifecycle(
        BackupVaultName=VAULT, RecoveryPointArn=point, Lifecycle={"DeleteAfterDays": 30}
    )
    error_of(layout.source.describe_copy_job, CopyJobId="NO-SUCH-JOB")

    recorded = [(c.account, c.region, c.operation, c.error) for c in twin.backup.calls[start:]]
    assert recorded == [
        (RESOURCE_ACCOUNT, MAIN_REGION, "start_copy_job", None),
        (RESOURCE_ACCOUNT, MAIN_REGION, "describe_recovery_point", None),
        (RESOURCE_ACCOUNT, MAIN_REGION, "list_copy_jobs", None),
        (RESOURCE_ACCOUNT, MAIN_REGION, "update_recovery_point_lifecycle", None),
        (RESOURCE_ACCOUNT, MAIN_REGION, "describe_copy_job", "ResourceNotFoundException"),
    ]
    # Parameters as the caller sent them, from the body, the path and the query string.
    assert twin.backup.calls[start + 1].params == {
        "BackupVaultName": VAULT,
        "RecoveryPointArn": point,
    }
    assert twin.backup.calls[start + 2].params == {"ByState": "RUNNING"}
    assert twin.backup.calls[start + 3].params["Lifecycle"] == {"DeleteAfterDays": 30}
    writes = [c.operation for c in twin.backup.write_calls()[writes_before:]]
    assert writes == ["start_copy_job", "update_recovery_point_lifecycle"]


def test_server_errors_answer_500_and_503_by_fraction_and_for_chosen_operations(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §B.7: besides throttling, AWS APIs answer InternalFailure (500) and
    ServiceUnavailable (503); botocore's standard mode retries both."""
    twin.backup.server_errors(1.0, codes=["InternalFailure"], operations=["list_copy_jobs"])
    code, _, status = error_of(layout.source.list_copy_jobs)
    assert (code, status) == ("InternalFailure", 500)
    assert layout.source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)

    twin.backup.clear_faults()
    twin.backup.server_errors(1.0, codes=["ServiceUnavailable"])
    assert error_of(layout.source.list_copy_jobs)[::2] == ("ServiceUnavailable", 503)

    twin.backup.clear_faults()
    twin.backup.server_errors(0.2, seed=3)
    counts = Counter(outcomes(layout, 500))
    assert 0.14 <= (500 - counts["ok"]) / 500 <= 0.26
    assert counts["InternalFailure"] > 30
    assert counts["ServiceUnavailable"] > 30


def test_the_sdks_own_retries_see_every_server_error(layout: Layout, twin: Twin) -> None:
    """docs/aws-facts.md §B.7: standard retry mode retries a 5xx; 3 attempts in all by default."""
    from local.accounts import client

    retrying = client(
        "backup",
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    twin.backup.server_errors(1.0, codes=["ServiceUnavailable"])
    before = len(twin.backup.calls)
    assert error_of(retrying.list_copy_jobs)[0] == "ServiceUnavailable"
    assert [c.error for c in twin.backup.calls[before:]] == ["ServiceUnavailable"] * 3
    assert twin.clock.sleeps[-1].reason == "sdk-retry"  # the back-off waited virtual time
