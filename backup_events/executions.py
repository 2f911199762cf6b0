"""Reading a state machine's executions: which recovery point each is about, where it ended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.exceptions

from backup_events.aws import error_code, pages
from backup_events.targets import StateMachine, input_resource


def listed(sfn: Any, state_machine_arn: str, status: str) -> Iterator[dict[str, Any]]:
    """ListExecutions with one status filter, newest first (as AWS returns them)."""
    yield from pages(
        sfn.list_executions,
        "executions",
        stateMachineArn=state_machine_arn,
        statusFilter=status,
        maxResults=1000,
    )


def running_points(sfn: Any, state_machine_arn: str) -> dict[str, str]:
    """Recovery point ARN -> name of a RUNNING execution whose input is about that point."""
    running: dict[str, str] = {}
    for execution in listed(sfn, state_machine_arn, "RUNNING"):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        point = input_resource(described.get("input"))
        if point is not None:
            running.setdefault(point, str(execution["name"]))
    return running


def fail_state_of(sfn: Any, execution_arn: str) -> str | None:
    """The Fail state an execution ended in, or None if it ended elsewhere.

    AWS returns the newest events first with reverseOrder; moto ignores it and returns the
    whole history. Either way the entered state with the highest event id is the last one.
    """
    page = sfn.get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=20, includeExecutionData=False
    )
    entered = [e for e in page.get("events") or [] if str(e.get("type")).endswith("StateEntered")]
    if not entered:
        return None
    last = max(entered, key=lambda e: int(e.get("id") or 0))
    if last["type"] != "FailStateEntered":
        return None
    return str((last.get("stateEnteredEventDetails") or {}).get("name") or "?")


def status_of(sfn: Any, state_machine: StateMachine, name: str) -> dict[str, Any] | None:
    """DescribeExecution of the execution with this name, or None if there is none."""
    try:
        found: dict[str, Any] = sfn.describe_execution(
            executionArn=state_machine.execution_arn(name)
        )
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise
    return found
