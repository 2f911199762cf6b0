"""Malformed and foreign inputs, task by task: a named error and not one write call.

Each case starts from a valid input built from a real backup and copy in the twin, and
changes one thing. The error must be one the state machine can name (InvalidInput, or the
AWS error's own name), and AWS Backup must have seen no write call at all: a bad input may
never start a copy or touch a retention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from tasks.events import finish_request
from tests.support import load_event
from tests.unit.conftest import World

BACKUP_EVENT = "backup_job_completed_on_demand_efs.json"
PLAN_COPY = "copy_job_completed_by_plan_to_backup_region.json"


@dataclass(frozen=True)
class Real:
    """What the twin really holds: a backup with both copies done, and its event."""

    world: World
    event: dict[str, Any]
    original: str
    known: list[dict[str, Any]]  # the wait states' outputs: the execution's $copies
    other: str  # another backup, not copied

    @property
    def copy(self) -> dict[str, Any]:
        """The first copy state's output, as the wait state receives it."""
        return {
            "CopyJobId": self.known[0]["CopyJobId"],
            "State": "CREATED",
            "DestinationBackupVaultArn": self.known[0]["DestinationBackupVaultArn"],
        }

    def event_with(self, **changes: Any) -> dict[str, Any]:
        return {**self.event, **changes}

    def detail_with(self, **changes: Any) -> dict[str, Any]:
        return {**self.event, "detail": {**self.event["detail"], **changes}}

    def finishing(self, **changes: Any) -> dict[str, Any]:
        """The "Backup Needs Finishing" event the reconciliation would write for the backup."""
        event = finish_request(
            event_id="756ee994-8f8a-5d05-9e62-cca969e8d0c7",
            account=RESOURCE_ACCOUNT,
            region=MAIN_REGION,
            time="2026-11-21T03:00:00Z",
            recovery_point_arn=self.original,
            vault_arn=self.event["detail"]["backupVaultArn"],
            reason="no verified copy",
        )
        return {**event, **changes}

    def reconcile(self, **changes: Any) -> dict[str, Any]:
        return self.world.reconcile_input(**changes)


@pytest.fixture(scope="module")
def real(shared_world: World) -> Real:
    world = shared_world
    event = world.backup_event()
    original = event["resources"][0]
    known = world.copy_both(original)
    other = world.backup()
    return Real(world, event, original, known, other)


@dataclass(frozen=True)
class Case:
    task: str
    payload: Callable[[Real], Any]
    error: str
    says: str = ""


def describe(real: Real, event: Any = None, **changes: Any) -> Any:
    return real.world.describe_input(real.event if event is None else event, **changes)


def other_region(arn: str) -> str:
    return arn.replace(":us-east-1:", ":us-west-2:")


OTHER_ACCOUNT = "111133335555"
CASES: dict[str, Case] = {
    # -- DescribeRecoveryPoint: the event and the deployment settings -------------------------
    "input is not an object": Case(
        "DescribeRecoveryPoint", lambda r: ["Event"], "InvalidInput", "expected a JSON object"
    ),
    "event is not an object": Case(
        "DescribeRecoveryPoint", lambda r: describe(r, event="{}"), "InvalidInput", "got str"
    ),
    "event missing": Case(
        "DescribeRecoveryPoint",
        lambda r: {k: v for k, v in describe(r).items() if k != "Event"},
        "InvalidInput",
        "expected a JSON object, got NoneType",
    ),
    "wrong detail-type": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(**{"detail-type": "Backup Plan State Change"})),
        "InvalidInput",
        "input.detail-type",
    ),
    "not from aws.backup": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(source="my.backup.script")),
        "InvalidInput",
        "input.source",
    ),
    "bad event time": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(time="Nov 20, 2026 5:39:07 AM")),
        "InvalidInput",
        "input.time",
    ),
    "backup job CREATED": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event("backup_job_created.json")),
        "InvalidInput",
        "CREATED",
    ),
    "backup job FAILED": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event("backup_job_failed.json")),
        "InvalidInput",
        "FAILED",
    ),
    "copy job CREATED without a job id": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event("copy_job_created.json")),
        "InvalidInput",
        "CREATED",
    ),
    "copy job FAILED": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event("copy_job_failed.json")),
        "InvalidInput",
        "FAILED",
    ),
    "copy not started by a plan": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event("copy_job_completed_on_demand.json")),
        "InvalidInput",
        "not started by a backup plan",
    ),
    "plan copy to a foreign destination": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(
            r,
            {
                **load_event(PLAN_COPY),
                "detail": {
                    **load_event(PLAN_COPY)["detail"],
                    "destinationBackupVaultArn": (
                        "arn:aws:backup:us-west-2:444455556666:backup-vault:BackupEvents-Sample"
                    ),
                },
            },
        ),
        "InvalidInput",
        "neither of this deployment's destinations",
    ),
    "event of another account": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(account=OTHER_ACCOUNT)),
        "InvalidInput",
        f"comes from account {OTHER_ACCOUNT}",
    ),
    "event of another region": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(region="us-west-2")),
        "InvalidInput",
        "in us-west-2",
    ),
    "backup in another vault": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.detail_with(backupVaultName="Default")),
        "InvalidInput",
        "vault 'Default'",
    ),
    "vault ARN of another account": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(
            r,
            r.detail_with(
                backupVaultArn=r.event["detail"]["backupVaultArn"].replace(
                    RESOURCE_ACCOUNT, OTHER_ACCOUNT
                )
            ),
        ),
        "InvalidInput",
        "The backup vault is",
    ),
    "recovery point of another region": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(resources=[other_region(r.original)])),
        "InvalidInput",
        "is in region us-west-2",
    ),
    "a vault ARN where the recovery point belongs": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.event_with(resources=[r.event["detail"]["backupVaultArn"]])),
        "InvalidInput",
        "is not a recovery point ARN",
    ),
    "size of the wrong type": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.detail_with(backupSizeInBytes={"bytes": 36048})),
        "InvalidInput",
        "backupSizeInBytes",
    ),
    "CopyScheduledBackups not a boolean": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, CopyScheduledBackups="yes"),
        "InvalidInput",
        "input.CopyScheduledBackups",
    ),
    "Account not an account id": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, Account=int(RESOURCE_ACCOUNT)),
        "InvalidInput",
        "input.Account",
    ),
    "backup region equals its alternate": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, BackupRegionAlternate="us-west-2"),
        "InvalidInput",
        "must differ",
    ),
    "well-formed event of a backup AWS does not have": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, load_event(BACKUP_EVENT)),
        "ResourceNotFoundException",
    ),
    # -- StartCopyJob --------------------------------------------------------------------
    "copy without a destination": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, DestinationBackupVaultArn=None),
        "InvalidInput",
        "input.DestinationBackupVaultArn is required",
    ),
    "copy with a user instead of a role": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(
            r.original, IamRoleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:user/alice"
        ),
        "InvalidInput",
        "input.IamRoleArn",
    ),
    "copy of a vault instead of a recovery point": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, RecoveryPointArn=r.world.destinations[0]),
        "InvalidInput",
        "input.RecoveryPointArn",
    ),
    "copy of a recovery point in another region": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, RecoveryPointArn=other_region(r.original)),
        "InvalidInput",
        "is in region us-west-2, not in us-east-1",
    ),
    "source vault name with a trailing newline": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, BackupVaultName="BackupEvents-Sample\n"),
        "InvalidInput",
        "input.BackupVaultName",
    ),
    "destination that is not a vault ARN": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, DestinationBackupVaultArn="BackupEvents-Sample"),
        "InvalidInput",
        "input.DestinationBackupVaultArn",
    ),
    "copy with a user as the copy reader": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(
            r.original, CopyReaderRoleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:user/alice"
        ),
        "InvalidInput",
        "input.CopyReaderRoleArn",
    ),
    "copy without Now": Case(
        "StartCopyJob",
        lambda r: r.world.copy_input(r.original, Now=None),
        "InvalidInput",
        "input.Now is required",
    ),
    # -- DescribeCopyJob -----------------------------------------------------------------
    "Now without a time zone": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, r.copy, Now="2026-11-20T07:00:00"),
        "InvalidInput",
        "has no time zone",
    ),
    "WaitingSince not a timestamp": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, r.copy, WaitingSince="an hour ago"),
        "InvalidInput",
        "input.WaitingSince",
    ),
    "time limit as text": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, r.copy, TimeLimitSeconds="259200"),
        "InvalidInput",
        "input.TimeLimitSeconds",
    ),
    "copy state output not an object": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, r.copy, Copy="8E9F0A1B"),
        "InvalidInput",
        "input.Copy: expected a JSON object",
    ),
    "copy job id with a slash": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, {**r.copy, "CopyJobId": "../backup-jobs/x"}),
        "InvalidInput",
        "input.Copy.CopyJobId",
    ),
    "copy to a destination that is not a vault": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(
            r.original, {**r.copy, "DestinationBackupVaultArn": "BackupEvents-Sample"}
        ),
        "InvalidInput",
        "input.Copy.DestinationBackupVaultArn",
    ),
    "copy job AWS does not know, of a backup with no copy": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(
            r.other, {**r.copy, "CopyJobId": "8E9F0A1B-2C3D-4E5F-A6B7-C8D9E0F1A2B3"}
        ),
        "CopyJobNotFound",
        "holds no copy of",
    ),
    "copy job AWS does not know, with the original of another backup": Case(
        "DescribeCopyJob",
        lambda r: {
            **r.world.wait_input(
                r.other, {**r.copy, "CopyJobId": "8E9F0A1B-2C3D-4E5F-A6B7-C8D9E0F1A2B3"}
            ),
            "Original": r.world.original(r.original),
        },
        "InvalidInput",
        "Original.RecoveryPointArn is",
    ),
    "wait on a copy job of another recovery point": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.other, r.copy),
        "InvalidInput",
        "not the original",
    ),
    "wait without the recovery point": Case(
        "DescribeCopyJob",
        lambda r: r.world.wait_input(r.original, r.copy, RecoveryPointArn=None),
        "InvalidInput",
        "input.RecoveryPointArn is required",
    ),
    # -- VerifyCopies --------------------------------------------------------------------
    "one destination": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, Destinations=r.world.destinations[:1]),
        "InvalidInput",
        "input.Destinations",
    ),
    "Region not a region": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, Region="N. Virginia"),
        "InvalidInput",
        "input.Region",
    ),
    "verify with the original of another backup": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, Original=r.world.original(r.other)),
        "InvalidInput",
        "Original.RecoveryPointArn is",
    ),
    "verify without the original": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, Original=None),
        "InvalidInput",
        "input.Original is required",
    ),
    "known copies not a list": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, KnownCopies=r.known[0]),
        "InvalidInput",
        "KnownCopies: expected a list",
    ),
    "known copy that is a vault": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(
            r.original,
            [{**r.known[0], "DestinationRecoveryPointArn": r.world.destinations[0]}],
        ),
        "InvalidInput",
        "KnownCopies[].DestinationRecoveryPointArn",
    ),
    "verify with Now not a timestamp": Case(
        "VerifyCopies",
        lambda r: r.world.verify_input(r.original, r.known, Now="now"),
        "InvalidInput",
        "input.Now",
    ),
    # -- CutRetention (both copies exist: only the bad input may stop the cut) ------------
    "cut of a backup that has no copies": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.other),
        "CopiesNotVerified",
        "no copy of",
    ),
    "NewDeleteAfterDays zero": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, NewDeleteAfterDays=0),
        "InvalidInput",
        "input.NewDeleteAfterDays",
    ),
    "NewDeleteAfterDays true": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, NewDeleteAfterDays=True),
        "InvalidInput",
        "input.NewDeleteAfterDays",
    ),
    "cut naming one destination twice": Case(
        "CutRetention",
        lambda r: r.world.cut_input(
            r.original, r.known, Destinations=[r.world.destinations[0]] * 2
        ),
        "InvalidInput",
        "two different regions",
    ),
    "cut with Now not a timestamp": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, Now=1763614800),
        "InvalidInput",
        "input.Now",
    ),
    "cut of a recovery point in another vault": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, BackupVaultName="Default"),
        # The cut's role may read only the deployment's vault: IAM refuses before AWS Backup
        # looks for the vault.
        "AccessDeniedException",
    ),
    "cut of another region's recovery point": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, RecoveryPointArn=other_region(r.original)),
        "InvalidInput",
        "is in region us-west-2",
    ),
    "cut with a ledger table name that is not one": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, LedgerTableName="cut ledger"),
        "InvalidInput",
        "input.LedgerTableName",
    ),
    "cut with a ledger table that does not exist": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, LedgerTableName="NoSuchLedger"),
        "ResourceNotFoundException",
    ),
    "cut with the copy reader missing": Case(
        "CutRetention",
        lambda r: r.world.cut_input(r.original, r.known, CopyReaderRoleArn=None),
        "InvalidInput",
        "input.CopyReaderRoleArn is required",
    ),
    # -- DescribeRecoveryPoint: "Backup Needs Finishing" -------------------------------------
    "finish request not from this product": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.finishing(source="aws.backup")),
        "InvalidInput",
        "input.source: expected 'backup-events'",
    ),
    "finish request without a recovery point": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.finishing(resources=[])),
        "InvalidInput",
        "the recovery point to finish is required",
    ),
    "finish request of another account": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.finishing(account=OTHER_ACCOUNT)),
        "InvalidInput",
        f"comes from account {OTHER_ACCOUNT}",
    ),
    "finish request for another vault": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(
            r,
            r.finishing(
                detail={
                    "backupVaultArn": r.event["detail"]["backupVaultArn"].replace(
                        "BackupEvents-Sample", "Default"
                    ),
                    "backupVaultName": "Default",
                }
            ),
        ),
        "InvalidInput",
        "The backup vault is",
    ),
    "finish request for another region's recovery point": Case(
        "DescribeRecoveryPoint",
        lambda r: describe(r, r.finishing(resources=[other_region(r.original)])),
        "InvalidInput",
        "is in region us-west-2",
    ),
    # -- FindUnfinishedBackups -------------------------------------------------------------
    "reconcile a workflow that is not a state machine": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(WorkflowArn=r.world.destinations[0]),
        "InvalidInput",
        "input.WorkflowArn",
    ),
    "reconcile with no horizon": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(HorizonDays=0),
        "InvalidInput",
        "input.HorizonDays",
    ),
    "reconcile with unbounded redrives": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(MaxRedrives=11),
        "InvalidInput",
        "input.MaxRedrives",
    ),
    "reconcile with NewDeleteAfterDays as text": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(NewDeleteAfterDays="7"),
        "InvalidInput",
        "input.NewDeleteAfterDays",
    ),
    "reconcile with the cut switch misspelt": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(EnableUpdateLifecycle="yes"),
        "InvalidInput",
        "input.EnableUpdateLifecycle",
    ),
    "reconcile with the backup region as its alternate": Case(
        "FindUnfinishedBackups",
        lambda r: r.reconcile(BackupRegionAlternate=r.world.settings.backup_region),
        "InvalidInput",
        "must differ",
    ),
}


@pytest.fixture
def no_writes(real: Real) -> Iterator[None]:
    before = real.world.writes()
    yield
    assert real.world.writes() == before, "a malformed input led to a write call"


def test_there_are_enough_cases_and_every_task_has_some() -> None:
    assert len(CASES) >= 40
    assert {case.task for case in CASES.values()} == {
        "DescribeRecoveryPoint",
        "StartCopyJob",
        "DescribeCopyJob",
        "VerifyCopies",
        "CutRetention",
        "FindUnfinishedBackups",
    }


@pytest.mark.usefixtures("no_writes")
@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_input_fails_by_name_without_writing(real: Real, name: str) -> None:
    case = CASES[name]
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the name is what is checked
        real.world.run(case.task, case.payload(real))
    assert type(raised.value).__name__ == case.error
    assert case.says in str(raised.value)


def test_the_valid_inputs_these_cases_start_from_do_succeed(real: Real) -> None:
    # Without this, a case could pass because its base input was broken to begin with.
    world = real.world
    with world.nothing_written():
        described = world.run("DescribeRecoveryPoint", describe(real))
        assert described["RecoveryPointArn"] == real.original
        finishing = world.run("DescribeRecoveryPoint", describe(real, real.finishing()))
        assert finishing["Trigger"] == "Finish"
        assert world.run("StartCopyJob", world.copy_input(real.original))["Started"] is False
        waited = world.run("DescribeCopyJob", world.wait_input(real.original, real.copy))
        assert waited["State"] == "COMPLETED"
        verified = world.run("VerifyCopies", world.verify_input(real.original, real.known))
        assert verified["Verified"] is True
        assert world.run("FindUnfinishedBackups", real.reconcile())["Counts"]["Originals"] == 2
    # The cut is the one valid input that writes; it runs last, on this module's own twin.
    assert world.run("CutRetention", world.cut_input(real.original, real.known))["Action"] == (
        "update"
    )
