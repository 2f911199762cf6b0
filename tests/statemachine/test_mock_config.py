"""The control-flow scenarios as AWS Step Functions Local test cases (MockConfigFile.json).

Every task answer is canned in MockConfigFile.json, in the format Step Functions Local reads,
so the same file drives these tests in the twin and, unchanged, a Step Functions Local run:
start an execution of the state machine named "BackupEvents" with the ARN suffix
`#<TestCase>` and the event in tests/events/ named below. No AWS Backup call is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stacks import STACK_NAME as STATE_MACHINE_NAME
from local.twin import Twin
from statemachines.definition import EXAMPLE_SUBSTITUTIONS, render
from tests.support import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.twin]

MOCK_CONFIG = json.loads((Path(__file__).parent / "MockConfigFile.json").read_text())
ON_DEMAND = "backup_job_completed_on_demand_efs.json"
PLAN_COPY = "copy_job_completed_by_plan_to_backup_region.json"

# test case → (event fixture, status, error, last state)
EXPECTED = {
    "HappyPath": (ON_DEMAND, "SUCCEEDED", None, "Done"),
    "TransientErrorsAreRetried": (ON_DEMAND, "SUCCEEDED", None, "Done"),
    "CopyToBackupRegionFails": (ON_DEMAND, "FAILED", "CopyJobFailed", "CopyingFailed"),
    # Uncaught on purpose: the execution fails at the waiting step, so a redrive waits again.
    "CopyToBackupRegionTimesOut": (
        ON_DEMAND,
        "FAILED",
        "CopyJobTimedOut",
        "WaitForCopyToBackupRegion",
    ),
    "CopiesReportedDoneButNotListed": (
        ON_DEMAND,
        "FAILED",
        "CopiesNotVerified",
        "CopiesNotVerified",
    ),
    "LockedVault": (ON_DEMAND, "FAILED", "RecoveryPointNotEligible", "RetentionNotCut"),
    "PlanFirstCopyWaitsForTheSecond": (PLAN_COPY, "SUCCEEDED", None, "WaitingForTheOtherCopy"),
    "PlanSecondCopyCuts": (PLAN_COPY, "SUCCEEDED", None, "Done"),
}


@pytest.fixture
def mocked() -> Iterator[tuple[Twin, str]]:
    with Twin() as twin:
        twin.mock_config = MOCK_CONFIG
        sfn = twin.client("stepfunctions")
        arn = sfn.create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=json.dumps(render("backup_events", EXAMPLE_SUBSTITUTIONS)),
            roleArn="arn:aws:iam::000022224444:role/BackupEvents",
        )["stateMachineArn"]
        yield twin, arn


def test_every_test_case_in_the_file_has_an_expected_outcome() -> None:
    assert set(MOCK_CONFIG["StateMachines"][STATE_MACHINE_NAME]["TestCases"]) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_mocked_scenario(mocked: tuple[Twin, str], case: str) -> None:
    twin, arn = mocked
    fixture, status, error, last_state = EXPECTED[case]
    execution = twin.client("stepfunctions").start_execution(
        stateMachineArn=f"{arn}#{case}", input=json.dumps(load_event(fixture))
    )["executionArn"]
    twin.wait_for_executions()

    described = twin.describe_execution(execution)
    assert described["status"] == status, described.get("cause")
    assert described.get("error") == error
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in twin.history(execution)
        if e["type"].endswith("StateEntered")
    ]
    assert entered[-1] == last_state
    assert twin.backup.calls == []  # canned answers only: the twin's AWS Backup was never asked


def test_retries_in_the_mocked_happy_path_are_the_ones_the_file_scripts(
    mocked: tuple[Twin, str],
) -> None:
    twin, arn = mocked
    twin.client("stepfunctions").start_execution(
        stateMachineArn=f"{arn}#TransientErrorsAreRetried", input=json.dumps(load_event(ON_DEMAND))
    )
    twin.wait_for_executions()
    reasons = [s.reason for s in twin.clock.sleeps]
    # 2 Lambda throttles + 3 Backup throttles (full jitter) + 2 polls of the first copy.
    assert reasons.count("retry") == 7
