"""Lambda's own failures, injected around the real handler (local/lambdas.py).

docs/aws-facts.md §C.5 (service errors are `Lambda.<Name>`, e.g. Lambda.ServiceException; a
function time-out is `Sandbox.Timedout`) and §H (runtime crashes such as Runtime.ExitError are
not in the Lambda.* family; a crash or time-out can come after the handler's side effects).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import error_of, function

pytestmark = pytest.mark.twin


def vaults(twin: Twin) -> list[str]:
    listed = twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).list_backup_vaults()
    return sorted(v["BackupVaultName"] for v in listed["BackupVaultList"])


def deploy(twin: Twin, name: str = "MakesVault") -> str:
    """A function whose side effect is visible: it creates a vault named after its input."""

    def handler(event: Any, context: Any) -> Any:
        twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).create_backup_vault(
            BackupVaultName=event["vault"]
        )
        return {"made": event["vault"]}

    return function(twin, name, handler, Timeout=30)


def invoke(twin: Twin, vault: str, name: str = "MakesVault") -> tuple[str | None, Any]:
    answer = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION).invoke(
        FunctionName=name, Payload=json.dumps({"vault": vault})
    )
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def task_error(twin: Twin, function_arn: str, vault: str) -> str:
    """The error a Step Functions lambda:invoke task of this function ends with."""
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload": {"vault": vault}},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"Call-{vault}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/StepFunctions",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    twin.wait_for_executions()
    return str(sfn.describe_execution(executionArn=execution).get("error"))


def test_a_time_out_comes_after_the_side_effects_and_loses_the_result(twin: Twin) -> None:
    """docs/aws-facts.md §C.5, §H: Sandbox.Timedout; the handler's work is done, its answer lost."""
    arn = deploy(twin)
    twin.lambdas.inject("Sandbox.Timedout")
    error, payload = invoke(twin, "Made-Anyway")
    assert error is not None
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 30.00 seconds" in payload["errorMessage"]
    assert vaults(twin) == ["Made-Anyway"]
    assert (twin.lambdas.invocations[-1].ran, twin.lambdas.invocations[-1].result) == (True, None)
    assert task_error(twin, arn, "From-The-Task") == "Sandbox.Timedout"
    assert "From-The-Task" in vaults(twin)


@pytest.mark.parametrize("after", [False, True])
def test_a_runtime_crash_before_or_after_the_handler(twin: Twin, after: bool) -> None:
    """docs/aws-facts.md §H: Runtime.ExitError, with or without the handler's side effects."""
    arn = deploy(twin)
    twin.lambdas.inject("Runtime.ExitError", after=after)
    error, payload = invoke(twin, "Crashed")
    assert error is not None
    assert payload["errorType"] == "Runtime.ExitError"
    assert ("Crashed" in vaults(twin)) is after
    assert twin.lambdas.invocations[-1].ran is after
    assert task_error(twin, arn, "Crashed-In-Task") == "Runtime.ExitError"


def test_a_service_exception_refuses_the_invocation_before_anything_runs(twin: Twin) -> None:
    """docs/aws-facts.md §C.5: Lambda.ServiceException, the Invoke API's 500."""
    arn = deploy(twin)
    twin.lambdas.inject("Lambda.ServiceException")
    functions = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION)
    code, _, status = error_of(functions.invoke, FunctionName="MakesVault", Payload=b"{}")
    assert (code, status) == ("ServiceException", 500)
    assert task_error(twin, arn, "Never") == "Lambda.ServiceException"
    assert vaults(twin) == []
    assert twin.lambdas.invocations == []


def test_faults_are_drawn_by_fraction_per_chosen_function_and_repeatable(twin: Twin) -> None:
    deploy(twin, "Chosen")
    deploy(twin, "Spared")
    twin.lambdas.inject("Runtime.ExitError", fraction=0.3, functions=["Chosen"], seed=5)
    outcomes = Counter(
        (name, invoke(twin, f"{name}-{n}", name)[0] is not None)
        for n in range(200)
        for name in ("Chosen", "Spared")
    )
    assert outcomes[("Spared", True)] == 0
    assert 40 <= outcomes[("Chosen", True)] <= 80
    twin.lambdas.clear_faults()
    assert invoke(twin, "After-Clearing", "Chosen")[0] is None


def test_a_time_out_before_the_handler_is_refused_as_impossible(twin: Twin) -> None:
    with pytest.raises(ValueError, match="after=True"):
        twin.lambdas.inject("Sandbox.Timedout", after=False)
