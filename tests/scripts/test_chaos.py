"""make chaos, small: backups under every fault at once, and a judge that can tell a loss.

`make chaos` runs a thousand backups; here a dozen run through the same code with the same
fault mix (throttling, 5xx, Lambda time-outs and crashes after their side effects, failed,
slow and held copies, lost, duplicated, late and reordered events, people deleting and
lengthening originals), with nobody at the keyboard. Then the judge is shown to fail when
it should: a cut that leaves a copy expiring first, and backups whose events were lost with
the self-healing switched off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from local.accounts import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT, acting_as
from local.stacks import deploy_everywhere, quick_start_parameters
from local.twin import Twin
from scripts.chaos import FINISHED, LOST, CutWatch, Faults, Result, copies_of, run

pytestmark = pytest.mark.slow
EFS = f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f67890"


@pytest.fixture(scope="module")
def small_run() -> Result:
    return run(backups=12, days=10, seed=5)


def test_no_backup_is_silently_lost_none_cut_unsafely_and_no_copy_made_twice(
    small_run: Result,
) -> None:
    assert small_run.silently_lost == []
    assert small_run.unsafe_cuts == []
    assert small_run.duplicate_copy_jobs == 0
    assert small_run.passed
    # Every backup reached an end the run can name, and most were finished by the workflow.
    assert sum(small_run.ends.values()) == 12
    assert small_run.ends[FINISHED] >= 6


def test_the_faults_really_happened(small_run: Result) -> None:
    seen = small_run.faults_seen
    throttled = seen["ThrottlingException"] + seen["LimitExceededException"]
    assert throttled > 0
    assert seen["InternalFailure"] + seen["ServiceUnavailable"] > 0
    assert seen["Sandbox.Timedout"] + seen["Runtime.ExitError"] > 0


def test_backups_whose_events_are_lost_are_judged_lost_without_the_reconciliation() -> None:
    everything_lost = replace(
        Faults(**dict.fromkeys(Faults.__dataclass_fields__, 0.0)), events_lost=1.0
    )
    result = run(backups=3, days=3, seed=5, faults=everything_lost, ReconcileEveryHours="0")
    assert [b.end for b in result.backups] == [LOST] * 3
    assert not result.passed


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as twin:
        yield twin


def test_the_watch_names_a_cut_that_leaves_a_copy_expiring_first(twin: Twin) -> None:
    stacks = deploy_everywhere(twin, quick_start_parameters(), [(RESOURCE_ACCOUNT, MAIN_REGION)])
    stack = stacks[(RESOURCE_ACCOUNT, MAIN_REGION)]
    watch = CutWatch(twin)
    job = twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, "BackupEvents-Sample", EFS)
    twin.run_until_quiet()
    original = twin.backup.points[twin.backup.jobs[job].recovery_point_arn or ""]
    assert original.arn in watch.cut  # the workflow's own cut...
    assert watch.unsafe == []  # ...was safe

    # Someone shortens a copy below the original's 8 days, then the cut role cuts again.
    copy = copies_of(twin, original)[0]
    twin.client("backup", BACKUP_ACCOUNT, copy.region).update_recovery_point_lifecycle(
        BackupVaultName=copy.vault_name, RecoveryPointArn=copy.arn, Lifecycle={"DeleteAfterDays": 2}
    )
    role = stack.physical_id("CutRetentionRole")
    with acting_as(RESOURCE_ACCOUNT, f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/backup-events/{role}"):
        twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).update_recovery_point_lifecycle(
            BackupVaultName=original.vault_name,
            RecoveryPointArn=original.arn,
            Lifecycle={"DeleteAfterDays": 7},
        )
    [unsafe] = watch.unsafe
    assert copy.arn in unsafe
