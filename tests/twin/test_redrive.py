"""RedriveExecution with AWS's rules (local/redrive.py).

docs/aws-facts.md §C.3: Standard workflows only; FAILED, TIMED_OUT or ABORTED; within 14 days of
closing; same execution ARN; resumes at the unsuccessful state with its retry counters reset,
successful states not run again; redriveCount and redriveDate in DescribeExecution and
ListExecutions; ExecutionNotRedrivable otherwise; clientToken makes it idempotent.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import error_of, function

pytestmark = pytest.mark.twin


class Broken(Exception):
    """The error the function raises while it is broken (its class name is the error)."""


class Service:
    """A function that fails while `failures` is above zero, counting every run."""

    def __init__(self) -> None:
        self.failures = 0
        self.runs: list[Any] = []

    def handler(self, event: Any, context: Any) -> Any:
        self.runs.append(event)
        if self.failures > 0:
            self.failures -= 1
            raise Broken("not yet")
        return {"seen": event}


def deploy(
    twin: Twin, service: Service, retry: list[dict[str, Any]] | None = None, kind: str = "STANDARD"
) -> tuple[Any, str]:
    flaky = function(twin, "Flaky", service.handler)
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Remember",
        "States": {
            "Remember": {
                "Type": "Pass",
                "Assign": {"note": "{% 'kept from before the failure' %}"},
                "Next": "Call",
            },
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": flaky, "Payload": {"note": "{% $note %}"}},
                "Output": "{% $states.result.Payload %}",
                **({"Retry": retry} if retry else {}),
                "End": True,
            },
        },
    }
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    machine: str = sfn.create_state_machine(
        name="Redrivable",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/StepFunctions",
        type=kind,
    )["stateMachineArn"]
    return sfn, machine


def failed_execution(twin: Twin, sfn: Any, machine: str) -> str:
    arn: str = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    twin.wait_for_executions()
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    return arn


def test_a_redrive_resumes_at_the_failed_state_with_the_same_arn_and_variables(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §C.3: successful states are not run again; the failed one is."""
    service = Service()
    service.failures = 1
    sfn, machine = deploy(twin, service)
    arn = failed_execution(twin, sfn, machine)
    described = sfn.describe_execution(executionArn=arn)
    assert (described["error"], described["redriveCount"]) == ("Broken", 0)
    assert described["redriveStatus"] == "REDRIVABLE"
    history_before = len(twin.history(arn))

    twin.clock.advance(timedelta(hours=1).total_seconds())
    redriven_at = sfn.redrive_execution(executionArn=arn)["redriveDate"]
    twin.wait_for_executions()

    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert (described["redriveCount"], described["redriveDate"]) == (1, redriven_at)
    assert redriven_at == twin.clock.now()
    assert json.loads(described["output"]) == {"seen": {"note": "kept from before the failure"}}
    assert len(service.runs) == 2  # the failed attempt and the redriven one
    history = twin.history(arn)
    types = [e["type"] for e in history[history_before:]]
    assert types[0] == "ExecutionRedriven"
    assert "PassStateEntered" not in types  # Remember succeeded: it is not run again
    assert types[-1] == "ExecutionSucceeded"
    assert [e["status"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [
        "SUCCEEDED"
    ]


def test_retry_counters_start_again_at_zero(twin: Twin) -> None:
    """docs/aws-facts.md §C.3: the redriven state's retriers count their attempts afresh."""
    service = Service()
    service.failures = 3
    retry = [{"ErrorEquals": ["Broken"], "MaxAttempts": 1, "IntervalSeconds": 1}]
    sfn, machine = deploy(twin, service, retry)
    arn = failed_execution(twin, sfn, machine)
    assert len(service.runs) == 2  # one attempt and its one retry
    sfn.redrive_execution(executionArn=arn)
    twin.wait_for_executions()
    assert len(service.runs) == 4  # two more: the counter started again
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_what_cannot_be_redriven_is_refused_by_name(twin: Twin) -> None:
    """docs/aws-facts.md §C.3: ExecutionNotRedrivable; ExecutionDoesNotExist for an unknown ARN."""
    service = Service()
    sfn, machine = deploy(twin, service)
    succeeded: str = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    twin.wait_for_executions()
    code, message, _ = error_of(sfn.redrive_execution, executionArn=succeeded)
    assert code == "ExecutionNotRedrivable"
    assert "SUCCEEDED" in message
    assert sfn.describe_execution(executionArn=succeeded)["redriveStatus"] == "NOT_REDRIVABLE"
    missing = succeeded.rsplit(":", 1)[0] + ":no-such-execution"
    assert error_of(sfn.redrive_execution, executionArn=missing)[0] == "ExecutionDoesNotExist"


def test_a_redrive_is_refused_14_days_after_the_execution_closed(twin: Twin) -> None:
    service = Service()
    service.failures = 1
    sfn, machine = deploy(twin, service)
    arn = failed_execution(twin, sfn, machine)
    twin.clock.advance(timedelta(days=14, minutes=1).total_seconds())
    code, message, _ = error_of(sfn.redrive_execution, executionArn=arn)
    assert (code, "14 days" in message) == ("ExecutionNotRedrivable", True)
    described = sfn.describe_execution(executionArn=arn)
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    assert "14 days" in described["redriveStatusReason"]


def test_express_executions_cannot_be_redriven(twin: Twin) -> None:
    service = Service()
    service.failures = 1
    sfn, machine = deploy(twin, service, kind="EXPRESS")
    arn: str = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    twin.wait_for_executions()
    code, message, _ = error_of(sfn.redrive_execution, executionArn=arn)
    assert (code, "Standard" in message) == ("ExecutionNotRedrivable", True)


def test_a_client_token_makes_the_call_idempotent_and_the_list_filters_redrives(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §C.3: clientToken; ListExecutions' redriveFilter."""
    service = Service()
    service.failures = 2
    sfn, machine = deploy(twin, service)
    arn = failed_execution(twin, sfn, machine)
    first = sfn.redrive_execution(executionArn=arn, clientToken="reconcile-1")["redriveDate"]
    twin.wait_for_executions()
    again = sfn.redrive_execution(executionArn=arn, clientToken="reconcile-1")["redriveDate"]
    twin.wait_for_executions()
    assert again == first
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    other = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    twin.wait_for_executions()

    def listed(redrive_filter: str) -> list[str]:
        page = sfn.list_executions(stateMachineArn=machine, redriveFilter=redrive_filter)
        return [e["executionArn"] for e in page["executions"]]

    assert listed("REDRIVEN") == [arn]
    assert listed("NOT_REDRIVEN") == [other]


def test_a_state_machine_can_redrive_through_the_sdk_integration(twin: Twin) -> None:
    """docs/aws-facts.md §C.6: aws-sdk:sfn:redriveExecution, as a reconciliation would call it."""
    service = Service()
    service.failures = 1
    sfn, machine = deploy(twin, service)
    arn = failed_execution(twin, sfn, machine)
    redriver = sfn.create_state_machine(
        name="Redriver",
        definition=json.dumps(
            {
                "QueryLanguage": "JSONata",
                "StartAt": "Redrive",
                "States": {
                    "Redrive": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:sfn:redriveExecution",
                        "Arguments": {"ExecutionArn": "{% $states.input.arn %}"},
                        "End": True,
                    }
                },
            }
        ),
        roleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/StepFunctions",
    )["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=redriver, input=json.dumps({"arn": arn}))
    twin.wait_for_executions()
    assert sfn.describe_execution(executionArn=run["executionArn"])["status"] == "SUCCEEDED"
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["redriveCount"]) == ("SUCCEEDED", 1)
