"""What the twin patches inside moto (and botocore) is still where the patches expect it.

The behaviour tests (test_moto_patches.py and the rest) prove the patches work; this file names
the exact internal every patch replaces, so that after a moto upgrade the first failure says
which patch lost its target instead of a scenario failing somewhere downstream.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from pathlib import Path

import pytest

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"

PARSER = "moto.stepfunctions.parser"
# module → attributes the twin reads or replaces (local/*.py says why for each).
TARGETS: dict[str, tuple[str, ...]] = {
    f"{PARSER}.asl.jsonata.jsonata": (
        "_eval_jsonata",
        "encode_jsonata_variable_declarations",
        "extract_jsonata_variable_references",
    ),
    f"{PARSER}.asl.component.common.string.string_expression": (
        "StringJSONata",
        "StringVariableSample",
    ),
    f"{PARSER}.asl.eval.states": ("encode_jsonata_variable_declarations",),
    f"{PARSER}.asl.eval.variable_store": ("encode_jsonata_variable_declarations",),
    f"{PARSER}.asl.component.common.retry.retrier_decl": ("time",),
    f"{PARSER}.asl.component.state.wait.wait_function.wait_function": ("WaitFunction",),
    f"{PARSER}.asl.eval.event.event_manager": ("datetime",),
    f"{PARSER}.backend.execution": ("datetime", "Execution", "BaseExecutionWorkerCommunication"),
    f"{PARSER}.backend.execution_worker": ("ExecutionWorker",),
    f"{PARSER}.models": ("datetime", "StepFunctionsParserBackend"),
    f"{PARSER}.asl.utils.boto_client": ("boto_client_for",),
    f"{PARSER}.asl.component.state.exec.state_task.lambda_eval_utils": ("boto_client_for",),
    f"{PARSER}.asl.component.state.exec.state_task.service.state_task_service_aws_sdk": (
        "_SERVICE_ERROR_NAMES",
        "boto_client_for",
    ),
    f"{PARSER}.asl.component.program.program": ("threading", "Program"),
    f"{PARSER}.asl.component.state.exec.execute_state": ("Thread", "ExecutionState"),
    f"{PARSER}.mocking.mock_config": (
        "MockedResponseReturn",
        "MockedResponseThrow",
        "MockTestCase",
        "StateMockedResponses",
    ),
    "moto.stepfunctions.models": ("StateMachine",),
    "moto.stepfunctions.responses": ("get_backend", "StepFunctionResponse"),
    "moto.awslambda.models": ("LambdaFunction", "LambdaBackend"),
    "moto.backup.responses": ("BackupResponse",),
    "moto.backup.urls": ("url_paths", "response"),
    "moto.backup.models": ("backup_backends",),
    "moto.cloudformation.parsing": ("get_model_map", "get_name_type_map"),
    "moto.cloudformation.models": (
        "CloudFormationBackend",
        "StackInstance",
        "StackSet",
        "cloudformation_backends",
    ),
    "moto.core.responses": ("BaseResponse",),
    "moto.sts.models": ("STSBackend",),
    "moto.sts.responses": ("TokenResponse",),
    "moto.core.exceptions": ("AccessDeniedError",),
    "moto.iam.models": ("iam_backends",),
    "moto.kms.models": ("KmsBackend", "kms_backends"),
    "moto.ssm.models": ("ssm_backends", "Parameter", "SimpleSystemManagerBackend"),
    "moto.cloudwatch.models": ("cloudwatch_backends",),
    "moto.cloudwatch.responses": ("CloudWatchResponse",),
    f"{PARSER}.asl.component.state.state": ("datetime", "CommonStateField"),
    f"{PARSER}.asl.component.eval_component": ("EvalComponent",),
    f"{PARSER}.asl.utils.encoding": ("to_json_str",),
    "moto.sqs.models": ("sqs_backends",),
    "moto.events.models": ("EventsBackend", "events_backends"),
    "botocore.endpoint": ("time",),
}
METHODS: dict[str, tuple[str, ...]] = {
    f"{PARSER}.asl.component.common.string.string_expression.StringJSONata": ("_eval_body",),
    f"{PARSER}.asl.component.state.wait.wait_function.wait_function.WaitFunction": (
        "_wait_interval",
    ),
    f"{PARSER}.backend.execution.Execution": ("_get_start_execution_worker", "start"),
    f"{PARSER}.backend.execution.BaseExecutionWorkerCommunication": ("_reflect_execution_status",),
    f"{PARSER}.backend.execution_worker.ExecutionWorker": (
        "start",
        "_execution_logic",
        "_get_evaluation_entrypoint",
    ),
    f"{PARSER}.models.StepFunctionsParserBackend": ("start_execution",),
    "moto.stepfunctions.models.StateMachine": (
        "create_from_cloudformation_json",
        "update_from_cloudformation_json",
    ),
    "moto.awslambda.models.LambdaFunction": ("_invoke_lambda", "_get_layers_data", "invoke"),
    "moto.awslambda.models.LambdaBackend": ("invoke",),
    "moto.backup.responses.BackupResponse": ("call_action",),
    "moto.cloudformation.models.StackInstance": ("__init__", "to_dict", "delete"),
    "moto.cloudformation.models.StackSet": ("create_stack_instances", "get_operation"),
    "moto.cloudformation.models.CloudFormationBackend": (
        "create_stack",
        "create_stack_set",
        "update_stack",
        "delete_stack",
    ),
    "moto.core.responses.BaseResponse": ("get_current_account", "get_access_key"),
    "moto.sts.models.STSBackend": ("assume_role",),
    "moto.sts.responses.TokenResponse": ("assume_role",),
    "moto.kms.models.KmsBackend": ("_generate_default_keys", "get_key_id_from_alias"),
    "moto.ssm.models.SimpleSystemManagerBackend": ("get_parameter", "get_parameters"),
    "moto.cloudwatch.responses.CloudWatchResponse": ("describe_alarms",),
    "moto.events.models.EventsBackend": ("put_rule",),
    f"{PARSER}.asl.component.state.state.CommonStateField": ("_eval_body",),
    "moto.stepfunctions.responses.StepFunctionResponse": (
        "describe_execution",
        "list_executions",
        "stepfunction_backend",
    ),
}


def test_moto_is_the_exact_version_the_patches_were_written_for() -> None:
    pinned = next(
        line.split("==")[1].strip()
        for line in LOCK.read_text().splitlines()
        if line.lower().startswith("moto==")
    )
    assert version("moto") == pinned == "5.2.5"


@pytest.mark.parametrize("module", sorted(TARGETS))
def test_every_patched_module_still_has_what_the_twin_replaces(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in TARGETS[module] if not hasattr(loaded, name)]
    assert not missing, f"moto moved {missing} out of {module}: update the matching local/ patch"


@pytest.mark.parametrize("owner", sorted(METHODS))
def test_every_patched_method_still_exists(owner: str) -> None:
    module_name, _, class_name = owner.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    missing = [name for name in METHODS[owner] if not hasattr(cls, name)]
    assert not missing, f"moto removed {missing} from {owner}: update the matching local/ patch"
