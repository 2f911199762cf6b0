"""Each patch the twin makes to moto 5.2.5, proved on a tiny state machine or function.

These fail loudly if a moto upgrade moves what local/stepfunctions.py and local/lambdas.py
patch (requirements.in). The gaps are listed in docs/twin.md §1, §3, §5 and §6; the behaviour each
patch restores is AWS's, cited per test from docs/aws-facts.md.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    current_account,
)
from local.twin import Twin
from tests.twin.helpers import error_of, function

pytestmark = pytest.mark.twin

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_names = itertools.count()


class FlakyError(Exception):
    """A task error whose class name is the error name Step Functions sees (§C.5)."""


def machine(
    twin: Twin, definition: dict[str, Any], account: str = RESOURCE_ACCOUNT
) -> tuple[Any, str]:
    sfn = twin.client("stepfunctions", account, MAIN_REGION)
    arn: str = sfn.create_state_machine(
        name=f"Patch{next(_names)}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{account}:role/StepFunctions",
    )["stateMachineArn"]
    return sfn, arn


def run(
    twin: Twin,
    definition: dict[str, Any],
    execution_input: dict[str, Any] | None = None,
    account: str = RESOURCE_ACCOUNT,
) -> dict[str, Any]:
    sfn, arn = machine(twin, definition, account)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input or {}))
    twin.wait_for_executions(timeout=20)
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution["executionArn"])
    return described


def test_jsonata_variables_and_now_work(twin: Twin) -> None:
    """docs/twin.md §1: stock moto stubs JSONata and every variable read; docs/aws-facts.md §C.8."""
    twin.clock.advance(90)
    described = run(
        twin,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Remember",
            "States": {
                "Remember": {
                    "Type": "Pass",
                    "Assign": {
                        "vault": "{% $states.input.vault %}",
                        "n": "{% $states.input.a + 1 %}",
                    },
                    "Next": "Use",
                },
                "Use": {
                    "Type": "Pass",
                    "Output": {
                        "vault": "{% $vault %}",
                        "sum": "{% $n + $states.input.b %}",
                        "now": "{% $now() %}",
                    },
                    "End": True,
                },
            },
        },
        {"a": 1, "b": 40, "vault": 'Va"ult\\1'},
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["vault"] == 'Va"ult\\1'  # quotes and backslashes survive (moto breaks them)
    assert output["sum"] == 42
    assert output["now"] == "2026-11-20T05:01:30.000Z"  # the virtual clock


def test_jsonata_uuid_returns_a_uuid(twin: Twin) -> None:
    """docs/aws-facts.md §C.8 (JSONata functions Step Functions adds): $uuid() is a v4 UUID."""
    described = run(
        twin,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Id",
            "States": {"Id": {"Type": "Pass", "Output": "{% $uuid() %}", "End": True}},
        },
    )
    assert UUID.match(json.loads(described["output"]))


@pytest.mark.xfail(
    strict=True,
    reason="moto keeps JSON escapes in literal strings of Assign (_inner_string_of); "
    "local/stepfunctions.py does not patch it yet",
)
def test_a_literal_string_in_assign_keeps_its_quotes_and_backslashes(twin: Twin) -> None:
    """docs/aws-facts.md §C.8: Assign stores the string value of the JSON literal."""
    described = run(
        twin,
        {
            "StartAt": "Remember",
            "States": {
                "Remember": {"Type": "Pass", "Assign": {"vault": 'Va"ult'}, "Next": "Use"},
                "Use": {"Type": "Pass", "Parameters": {"vault.$": "$vault"}, "End": True},
            },
        },
    )
    assert json.loads(described["output"]) == {"vault": 'Va"ult'}


def test_a_jsonata_error_is_a_query_evaluation_error(twin: Twin) -> None:
    """docs/aws-facts.md §C.8 / docs/twin.md §1: AWS names it States.QueryEvaluationError."""
    described = run(
        twin,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Broken",
            "States": {
                "Broken": {"Type": "Pass", "Output": "{% $states.input.a + 'x' %}", "End": True}
            },
        },
        {"a": 1},
    )
    assert (described["status"], described["error"]) == ("FAILED", "States.QueryEvaluationError")


def test_retry_and_wait_delays_are_virtual_recorded_and_in_the_history(twin: Twin) -> None:
    """docs/aws-facts.md §C.4: IntervalSeconds, BackoffRate, MaxAttempts; a Lambda error is named
    by its exception class (§C.5). A day of waiting takes milliseconds."""
    attempts: list[int] = []

    def flaky(event: Any, context: Any) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise FlakyError("not yet")
        return {"attempts": len(attempts)}

    arn = function(twin, "Flaky", flaky)
    described = run(
        twin,
        {
            "StartAt": "Nap",
            "States": {
                "Nap": {"Type": "Wait", "Seconds": 86400, "Next": "Call"},
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "Retry": [
                        {
                            "ErrorEquals": ["FlakyError"],
                            "IntervalSeconds": 3,
                            "BackoffRate": 2,
                            "MaxAttempts": 2,
                        }
                    ],
                    "End": True,
                },
            },
        },
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"]) == {"attempts": 3}
    assert [(s.reason, s.seconds) for s in twin.clock.sleeps] == [
        ("wait", 86400),
        ("retry", 3),
        ("retry", 6),
    ]
    assert described["stopDate"] - described["startDate"] == timedelta(days=1, seconds=9)
    history = twin.history(described["executionArn"])
    assert history[0]["timestamp"] == described["startDate"]
    failures = [e for e in history if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failures] == ["FlakyError"] * 2


def test_concurrent_executions_wait_side_by_side_in_virtual_time(twin: Twin) -> None:
    """docs/aws-facts.md §C.4 / local/clock.py: two executions that each wait an hour, started
    together, both end an hour later; each sleep is recorded under its execution."""
    sfn, arn = machine(
        twin, {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    )
    with twin.clock.holding():  # both start at 05:00, as two calls a moment apart would in AWS
        arns = [sfn.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(2)]
    twin.wait_for_executions()
    for execution in arns:
        described = sfn.describe_execution(executionArn=execution)
        assert described["stopDate"] - twin.clock.sleeps[0].at == timedelta(hours=1)
        assert twin.clock.sleeps_of(execution) == [3600.0]


def test_executions_get_uuid_names_and_bad_names_are_refused(twin: Twin) -> None:
    """docs/aws-facts.md §C.2: names are 1-80 characters without whitespace or reserved characters;
    EventBridge starts executions without a name (stock moto names them all "None")."""
    sfn, arn = machine(twin, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert first != second
    assert UUID.match(first.rsplit(":", 1)[1])
    for bad in ("has space", "a:b", "x" * 81):
        assert error_of(sfn.start_execution, stateMachineArn=arn, name=bad)[0] == "InvalidName"
    twin.wait_for_executions()


def test_backup_sdk_errors_are_named_backup_and_catchable(twin: Twin) -> None:
    """docs/aws-facts.md §B.7/§C.6: AWS SDK task errors are `Backup.<Exception>`."""
    described = run(
        twin,
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:backup:describeRecoveryPoint",
                    "Parameters": {
                        "BackupVaultName": "No-Such-Vault",
                        "RecoveryPointArn": f"arn:aws:backup:{MAIN_REGION}::recovery-point:x",
                    },
                    "Catch": [
                        {
                            "ErrorEquals": ["Backup.ResourceNotFoundException"],
                            "ResultPath": "$.error",
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["error"]["Error"] == "Backup.ResourceNotFoundException"


def test_tasks_call_aws_as_the_execution_or_the_credentials_role_account(twin: Twin) -> None:
    """docs/aws-facts.md §C.7: a Task's Credentials.RoleArn makes it call as that role's account
    (same region); without it, a task calls as the state machine's own account."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Resource-Vault")
    twin.create_vault(BACKUP_ACCOUNT, MAIN_REGION, "Backup-Vault")
    list_vaults = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:backup:listBackupVaults",
        "ResultSelector": {"names.$": "$.BackupVaultList[*].BackupVaultName"},
    }
    definition = {
        "StartAt": "Own",
        "States": {
            "Own": {**list_vaults, "ResultPath": "$.own", "Next": "Assumed"},
            "Assumed": {
                **list_vaults,
                "Credentials": {"RoleArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/Reader"},
                "ResultPath": "$.assumed",
                "End": True,
            },
        },
    }
    output = json.loads(run(twin, definition)["output"])
    assert output["own"]["names"] == ["Resource-Vault"]
    assert output["assumed"]["names"] == ["Backup-Vault"]


def test_executions_announce_their_status_on_eventbridge(twin: Twin) -> None:
    """Step Functions sends "Step Functions Execution Status Change" (source aws.states) in
    the execution's account and region; the workflow routes failures with it (docs/design.md §3)."""
    described = run(twin, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    announced = [
        (account, region, e["detail"]["status"])
        for account, region, e in twin.router.events("Step Functions Execution Status Change")
        if e["detail"]["executionArn"] == described["executionArn"]
    ]
    # Sorted: the twin announces RUNNING after the execution thread has started, so a quick
    # execution's SUCCEEDED is sometimes published first (a race in local/stepfunctions.py;
    # EventBridge does not promise order either).
    assert sorted(announced) == [
        (RESOURCE_ACCOUNT, MAIN_REGION, "RUNNING"),
        (RESOURCE_ACCOUNT, MAIN_REGION, "SUCCEEDED"),
    ]


def test_lambda_handlers_run_in_process_as_their_account_with_aws_error_payloads(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §C.5: errorType is the exception class name. A handler's AWS calls are
    its function's account's (docs/twin.md §6)."""

    def handler(event: Any, context: Any) -> Any:
        if event.get("fail"):
            raise FlakyError("asked to fail")
        return {"account": current_account(), "function": context.function_name}

    function(twin, "Who", handler, account=BACKUP_ACCOUNT)
    functions = twin.client("lambda", BACKUP_ACCOUNT, MAIN_REGION)

    def invoke(payload: dict[str, Any]) -> tuple[str | None, Any]:
        answer = functions.invoke(FunctionName="Who", Payload=json.dumps(payload))
        return answer.get("FunctionError"), json.loads(answer["Payload"].read())

    assert invoke({}) == (None, {"account": BACKUP_ACCOUNT, "function": "Who"})
    error, payload = invoke({"fail": True})
    assert error is not None
    assert (payload["errorType"], payload["errorMessage"]) == ("FlakyError", "asked to fail")
    assert twin.lambdas.invocations[-1].error_type == "FlakyError"


def test_a_result_that_is_not_json_is_a_marshal_error(twin: Twin) -> None:
    """docs/aws-facts.md §C.5 (runtime errors): AWS reports Runtime.MarshalError."""
    function(twin, "Odd", lambda event, context: {"when": object()})
    answer = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION).invoke(FunctionName="Odd")
    assert json.loads(answer["Payload"].read())["errorType"] == "Runtime.MarshalError"
    assert twin.lambdas.invocations[-1].error_type == "Runtime.MarshalError"


def test_a_deployment_package_runs_with_its_environment(twin: Twin) -> None:
    """CloudFormation puts inline code in `index` (docs/aws-facts.md §E.1); module-level code reads
    the function's environment, as on Lambda."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr(
            "index.py",
            "import os\nGREETING = os.environ['GREETING']\n"
            "def handler(event, context):\n    return {'greeting': GREETING, 'got': event}\n",
        )
    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    role = iam.create_role(RoleName="Zip", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    functions = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION)
    functions.create_function(
        FunctionName="Zipped",
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": package.getvalue()},
        Environment={"Variables": {"GREETING": "hello"}},
    )
    answer = functions.invoke(FunctionName="Zipped", Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"greeting": "hello", "got": {"n": 1}}


def test_lambda_throttling_is_lambda_too_many_requests_in_step_functions(twin: Twin) -> None:
    """docs/aws-facts.md §C.5: Lambda throttling surfaces as Lambda.TooManyRequestsException."""
    arn = function(twin, "Busy", lambda event, context: {"ok": True})
    twin.lambdas.throttle(1.0)
    functions = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION)
    assert error_of(functions.invoke, FunctionName="Busy")[0] == "TooManyRequestsException"
    described = run(
        twin,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": arn},
                    "End": True,
                }
            },
        },
    )
    assert (described["status"], described["error"]) == (
        "FAILED",
        "Lambda.TooManyRequestsException",
    )
