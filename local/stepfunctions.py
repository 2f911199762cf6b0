"""Patches that make moto's Step Functions interpreter (LocalStack's ASL engine) run our workflow.

Each gap is described in docs/twin.md §1 (see docs/aws-facts.md), and each patch has a test
in tests/twin/test_moto_patches.py that fails loudly if a moto upgrade moves what it patches.

- JSONata and variables: moto ships the evaluator as `None`; plug in jsonata-python, with
  `$now()` on the virtual clock, real `$uuid()`, string variables quoted safely, and JSONata
  errors reported as `States.QueryEvaluationError` as in AWS.
- Time: Retry intervals and Wait states sleep on the virtual clock; EnteredTime, execution
  start/stop dates and history timestamps read it.
- Accounts: a task calls AWS as its execution's account and the state machine's role, or as
  the account and role of its `Credentials.RoleArn`.
- Names: an execution started without a name gets a UUID (moto uses the string "None"), and
  names are validated like AWS (1-80 characters, no whitespace or reserved characters).
- `aws-sdk:backup:*` errors are named `Backup.<Code>` as in AWS.
- Executions announce their status changes on EventBridge ("Step Functions Execution Status
  Change", source aws.states), as AWS does, so rules can route failures to a queue.
- A parsed definition is reused by every execution of it (parsing dominates start-up cost).
"""

from __future__ import annotations

import datetime as _real_datetime
import functools
import json
import re
import threading
import types
import uuid
from collections.abc import Callable
from typing import Any

from local.accounts import acting_as, pin_caller
from local.clock import VirtualClock
from local.events import EventRouter

_NAME_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


class StepFunctionsTwin:
    """The executions the twin runs: their clock, their announcements, their mocked cases."""

    def __init__(self, clock: VirtualClock, router: EventRouter) -> None:
        self.clock = clock
        self.router = router
        self.executions: dict[str, Any] = {}
        # Called with (execution, status) at every status change: metrics, for one.
        self.status_listeners: list[Callable[[Any, str], None]] = []
        # AWS's Step Functions Local MockConfigFile, for executions started as "<arn>#<case>".
        self.mock_config: dict[str, Any] = {"StateMachines": {}, "MockedResponses": {}}

    def started(self, execution: Any) -> None:
        self.executions[execution.exec_arn] = execution
        self._changed(execution, "RUNNING")

    def finished(self, execution: Any) -> None:
        self._changed(execution, str(execution.exec_status.value))

    def run(self, worker: Any, logic: Callable[[], None]) -> None:
        """Run an execution's `logic` in its own clock participant thread, as its account and
        the state machine's role, announcing RUNNING before and the outcome after."""
        details = worker._evaluation_details
        arn = details.execution_details.arn
        account = details.aws_execution_details.account
        role_arn = details.aws_execution_details.role_arn
        execution = worker._execution_communication.execution
        self.clock.reserve_participant()
        # Announced before the thread starts, so RUNNING can never follow SUCCEEDED.
        self.started(execution)

        def run() -> None:
            with self.clock.participant(arn, reserved=True), acting_as(account, role_arn):
                try:
                    logic()
                finally:
                    self.finished(execution)

        threading.Thread(target=run, name=f"sfn:{arn.rsplit(':', 1)[-1]}", daemon=True).start()

    def _changed(self, execution: Any, status: str) -> None:
        for listener in self.status_listeners:
            listener(execution, status)
        self._announce(execution, status)

    def _announce(self, execution: Any, status: str) -> None:
        """ "Step Functions Execution Status Change" in the execution's account and region."""

        def millis(value: _real_datetime.datetime | None) -> int | None:
            return None if value is None else int(value.timestamp() * 1000)

        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date),
            "input": json.dumps(execution.input_data),
            "output": (
                execution.output
                if isinstance(execution.output, str) or execution.output is None
                else json.dumps(execution.output)
            ),
            "error": execution.error,
            "cause": execution.cause,
        }
        event = self.router.envelope(
            execution.account_id,
            execution.region_name,
            "aws.states",
            "Step Functions Execution Status Change",
            [execution.exec_arn],
            detail,
        )
        self.router.publish(execution.account_id, execution.region_name, event)


_active: StepFunctionsTwin | None = None


def activate(stepfunctions: StepFunctionsTwin | None) -> None:
    """Run executions on `stepfunctions`' clock and announce them (None: stock moto again)."""
    global _active
    _active = stepfunctions


def _clock() -> VirtualClock | None:
    return None if _active is None else _active.clock


class _VirtualDatetime(_real_datetime.datetime):
    """`datetime.datetime` whose now() is the twin's clock while a twin runs."""

    @classmethod
    def now(cls, tz: _real_datetime.tzinfo | None = None) -> Any:  # type: ignore[override]
        clock = _clock()
        if clock is None:
            return _real_datetime.datetime.now(tz)
        current = clock.now()
        if tz is None:
            return current.replace(tzinfo=None)
        return current.astimezone(tz)


def _virtual_datetime_module() -> types.ModuleType:
    module = types.ModuleType("datetime")
    module.__dict__.update(_real_datetime.__dict__)
    module.datetime = _VirtualDatetime  # type: ignore[attr-defined]
    return module


def validate_execution_name(name: str) -> None:
    from moto.stepfunctions.exceptions import InvalidName

    if not 1 <= len(name) <= 80 or _NAME_FORBIDDEN.search(name):
        raise InvalidName(f"Invalid Name: '{name}'")


# -- JSONata --------------------------------------------------------------------------------

_last = threading.local()
_DERIVED = re.compile(r"^\$(exists|type)\((.*)\)$", re.DOTALL)


def _jsonata_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "function"


def evaluate_jsonata(expression: str) -> Any:
    """Evaluate one JSONata expression the way Step Functions would."""
    import jsonata

    # moto validates each result by evaluating `$exists(<same expr>)` and `$type(<same expr>)`
    # again; answer those from the result just computed instead of evaluating three times.
    derived = _DERIVED.match(expression)
    if derived and getattr(_last, "expression", None) == derived.group(2):
        result = _last.result
        if derived.group(1) == "exists":
            return result is not _UNDEFINED
        return _jsonata_type(None if result is _UNDEFINED else result)

    compiled = jsonata.Jsonata(expression)
    clock = _clock()
    if clock is not None:
        compiled.register_lambda("now", lambda: clock.iso_now())
        compiled.register_lambda("millis", lambda: int(clock.now().timestamp() * 1000))
    compiled.register_lambda("uuid", lambda: str(uuid.uuid4()))
    value = compiled.evaluate(None)
    _last.expression = expression
    _last.result = _UNDEFINED if value is None else value
    return value


class _Undefined:
    pass


_UNDEFINED = _Undefined()


def _encode_variable_declarations(bindings: dict[str, Any]) -> str:
    # moto writes string values as f'"{value}"', which breaks on quotes and backslashes;
    # its own encoder (datetimes as ISO strings) does the rest right.
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    return "".join(
        f"{reference}:={to_json_str(value, separators=(',', ':'))};"
        for reference, value in bindings.items()
    )


def _query_evaluation_error(env: Any, expression: str, error: Exception) -> Exception:
    return _evaluation_failure(
        env, f"An error occurred while evaluating the expression '{expression}': {error}"
    )


# Functions moto declares in the expression text itself; expressions using them keep the
# textual path, which carries those declarations.
# ($uuid and $hash are real functions on the bound path; moto declares them as stubs.)
_MOTO_TEXT_FUNCTIONS = {"$partition", "$range", "$randomSeeded", "$parse"}
_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any, algorithm: Any) -> str:
    """Step Functions' JSONata $hash(value, algorithm) (docs/aws-facts.md §C.8)."""
    import hashlib

    if algorithm not in _HASHES:
        raise ValueError(f"$hash: unsupported algorithm {algorithm!r}")
    return hashlib.new(_HASHES[algorithm], str(value).encode()).hexdigest()


_COMPILED: dict[str, Any] = {}
_COMPILED_LOCK = threading.Lock()
_PARSERS: list[Any] = []


def _compiled(expression: str) -> Any:
    """One parsed JSONata program per distinct expression, shared by every execution.

    moto writes each evaluation as new text (every variable's value spliced in as a literal),
    so every evaluation is parsed again, and jsonata-python builds a parser per thread; with one
    thread per execution that dominated run time. A definition has a few dozen expressions:
    parse each once and evaluate it with the values passed as bindings.
    """
    import jsonata

    with _COMPILED_LOCK:
        found = _COMPILED.get(expression)
        if found is not None:
            return found
        # jsonata-python keeps its parser per thread; lend the threads one pooled parser.
        if not _PARSERS:
            _PARSERS.append(jsonata.Jsonata.get_parser())
        jsonata.Jsonata.PARSER.parser = _PARSERS[0]
        compiled = jsonata.Jsonata(expression)
        compiled.set_output_convert_nulls(False)  # tell undefined (None) from null apart

        def now() -> str:
            clock = _clock()
            if clock is not None:
                return clock.iso_now()
            return _real_datetime.datetime.now(_real_datetime.UTC).isoformat()

        compiled.register_lambda("now", now)
        compiled.register_lambda("uuid", lambda: str(uuid.uuid4()))
        compiled.register_lambda("hash", _hash)
        _COMPILED[expression] = compiled
        return compiled


def _jsonable(value: Any) -> Any:
    # The context object carries datetimes (Execution.StartTime); AWS shows them as strings.
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, _real_datetime.datetime):
        return value.isoformat()
    return value


def _evaluation_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(
                evaluationFailedEventDetails=EvaluationFailedEventDetails(
                    cause=cause, error=name.error_name
                )
            ),
        )
    )


def _evaluate_with_bindings(self: Any, env: Any) -> None:
    """StringJSONata's evaluation, with values bound rather than spliced into the text."""
    from jsonata.utils import Utils

    states_data = env.states._states_data
    bindings: dict[str, Any] = {
        "states": {**states_data, "context": _jsonable(states_data["context"])}
    }
    store = env.variable_store
    bindings.update(store._outer_scope)
    bindings.update(store._inner_scope)
    result = _compiled(self.expression).evaluate(None, bindings)
    if result is None:
        raise _evaluation_failure(
            env, f"The JSONata expression '{self.expression}' returned nothing (undefined)."
        )
    if callable(result):
        raise _evaluation_failure(
            env, f"The JSONata expression '{self.expression}' returned an unsupported result type."
        )
    env.stack.append(Utils.convert_nulls(result))


def _install_jsonata() -> None:
    from jsonata.jexception import JException
    from moto.stepfunctions.parser.asl.component.common.string import string_expression
    from moto.stepfunctions.parser.asl.eval import states, variable_store
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    moto_jsonata._eval_jsonata = evaluate_jsonata
    for module in (moto_jsonata, states, variable_store):
        module.encode_jsonata_variable_declarations = _encode_variable_declarations  # type: ignore[attr-defined]

    for cls_name in ("StringJSONata", "StringVariableSample"):
        cls = getattr(string_expression, cls_name)
        original = cls._eval_body

        def _eval_body(
            self: Any, env: Any, _original: Any = original, _name: str = cls_name
        ) -> None:
            try:
                references = moto_jsonata.extract_jsonata_variable_references(self.expression)
                if _name == "StringJSONata" and not references & _MOTO_TEXT_FUNCTIONS:
                    _evaluate_with_bindings(self, env)
                else:
                    _original(self, env)
            except JException as error:
                raise _query_evaluation_error(
                    env, getattr(self, "expression", "?"), error
                ) from error

        cls._eval_body = _eval_body


# -- time -----------------------------------------------------------------------------------


def _install_time() -> None:
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.backend import execution as execution_module

    virtual = _virtual_datetime_module()
    for module in (state_module, event_manager, execution_module, parser_models):
        module.datetime = virtual  # type: ignore[attr-defined]

    import time as real_time

    def retry_sleep(seconds: float) -> None:
        clock = _clock()
        if clock is None:
            real_time.sleep(seconds)
        else:
            clock.sleep(seconds, "retry")

    retrier_decl.time = types.SimpleNamespace(sleep=retry_sleep, time=real_time.time)  # type: ignore[attr-defined]

    original_wait = wait_function.WaitFunction._wait_interval

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        clock = _clock()
        if clock is None:
            original_wait(self, env, wait_seconds)
        elif wait_seconds > 0:
            clock.sleep(wait_seconds, "wait")

    wait_function.WaitFunction._wait_interval = _wait_interval


# -- service integrations -------------------------------------------------------------------


@functools.cache
def _input_shape(service: str, action: str) -> Any:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    for operation in model.operation_names:
        if xform_name(operation) == action:
            return model.operation_model(operation).input_shape
    return None


def _install_request_normalisation() -> None:
    """Service integrations take AWS's PascalCase parameter names, as Step Functions does.

    Step Functions maps `{"StateMachineArn": ...}` onto Step Functions' own camelCase
    `stateMachineArn` (and likewise for every service). moto's interpreter keeps the mapping
    code but never calls it, so a `states:startExecution` or `aws-sdk:sfn:redriveExecution`
    task fails inside botocore with a KeyError. Here the mapping runs before the call.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
    )

    base = state_task_service.StateTaskService

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = _input_shape(
            self._get_boto_service_name(boto_service_name),
            self._get_boto_service_action(service_action_name),
        )
        if shape is not None:
            self._to_boto_request(parameters, shape)

    base._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]


# -- executions -----------------------------------------------------------------------------


class _InlineThread:
    """A Thread that runs its target in the caller's thread when `start()` is called."""

    def __init__(
        self,
        group: Any = None,
        target: Any = None,
        name: str | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        self._target, self._args, self._kwargs = target, args, kwargs or {}

    def start(self) -> None:
        self._target(*self._args, **self._kwargs)

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False


def _thread_factory(*args: Any, **kwargs: Any) -> Any:
    if _active is None:
        return threading.Thread(*args, **kwargs)
    return _InlineThread(*args, **kwargs)


def _install_inline_evaluation() -> None:
    """Run each execution in its own (participant) thread, without moto's helper threads.

    moto evaluates the program, and every Task with a TimeoutSeconds, in extra threads, and
    waits for them with a real-time timeout. Those threads are not the execution's clock
    participant, so their Retry sleeps would move the shared clock for everyone, and a slow
    test machine could hit a Task timeout that AWS, counting virtual seconds, never would.
    Under the twin both run inline: tasks take no virtual time, so their TimeoutSeconds cannot
    expire, and all waiting happens on the virtual clock.
    """
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    execute_state.Thread = _thread_factory  # type: ignore[attr-defined]
    program.threading = types.SimpleNamespace(Thread=_thread_factory)  # type: ignore[attr-defined]
    # A Map's inline iterations too: in a thread of their own they would act as no account
    # (the execution's account is the participant thread's) and sleep outside the clock.
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
    )

    inline_iteration_component.threading = types.SimpleNamespace(  # type: ignore[attr-defined]
        Thread=_thread_factory
    )


_PARSED: dict[str, Any] = {}
_PARSED_LOCK = threading.Lock()


def _install_executions() -> None:
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend import execution_worker

    state_task_service_aws_sdk._SERVICE_ERROR_NAMES["backup"] = "Backup"
    _install_request_normalisation()

    # moto's DescribeExecution passes a str output through as if it were JSON text already,
    # so an execution whose output is a JSON string showed it unquoted. Keep it as JSON text.
    # And an output holding datetimes could not be shown at all (docs/twin.md §1).
    from moto.stepfunctions.parser.backend import execution as execution_module

    communication = execution_module.BaseExecutionWorkerCommunication
    original_reflect = communication._reflect_execution_status

    def _reflect_execution_status(self: Any) -> None:
        from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

        original_reflect(self)
        if _active is None:
            return
        output = self.execution.output
        if isinstance(output, str):
            self.execution.output = json.dumps(output)
        elif output is not None:
            # An AWS SDK task's answer can hold timestamps (RedriveExecution's redriveDate),
            # which moto's DescribeExecution and the status event could not serialise: they
            # become ISO-8601 text, as Step Functions shows them.
            self.execution.output = json.loads(to_json_str(output))

    communication._reflect_execution_status = _reflect_execution_status

    worker_class = execution_worker.ExecutionWorker
    original_start = worker_class.start

    def _get_evaluation_entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with _PARSED_LOCK:
            if definition not in _PARSED:
                _PARSED[definition] = AmazonStateLanguageParser.parse(definition)[0]
            return _PARSED[definition]

    worker_class._get_evaluation_entrypoint = _get_evaluation_entrypoint

    # CreateStateMachine validates by parsing too; each test deploys the same definitions, so
    # the parse is kept for the executions (and the next stack) to reuse.

    original_validate = parser_models.StepFunctionsParserBackend._validate_definition

    def _validate_definition(definition: str) -> None:
        with _PARSED_LOCK:
            if definition in _PARSED:
                return
        original_validate(definition)
        with _PARSED_LOCK:
            _PARSED.setdefault(definition, AmazonStateLanguageParser.parse(definition)[0])

    parser_models.StepFunctionsParserBackend._validate_definition = staticmethod(  # type: ignore[method-assign]
        _validate_definition
    )

    def start(self: Any) -> None:
        twin = _active
        if twin is None:
            original_start(self)
            return
        twin.run(self, self._execution_logic)

    worker_class.start = start

    original_start_execution = parser_models.StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        name = name or str(uuid.uuid4())
        validate_execution_name(name)
        return original_start_execution(
            self, state_machine_arn, name, execution_input, trace_header
        )

    parser_models.StepFunctionsParserBackend.start_execution = start_execution

    original_client_for = boto_client.boto_client_for
    clients: dict[tuple[str, str, str | None], Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto makes a new client for every task; creating one costs far more than the call.
        # Clients are thread-safe, and the account is chosen per request (thread or header).
        role_arn = getattr(state_credentials, "role_arn", None)
        key = (region, service, role_arn)
        with clients_lock:
            if key in clients:
                return clients[key]
        client = original_client_for(region, service, state_credentials)
        if role_arn:
            client.meta.events.register(
                "before-sign.*.*", pin_caller(role_arn.split(":")[4], role_arn)
            )
        with clients_lock:
            return clients.setdefault(key, client)

    for module_name in (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    ):
        module = __import__(module_name, fromlist=["boto_client_for"])
        if hasattr(module, "boto_client_for"):
            module.boto_client_for = boto_client_for
    boto_client.boto_client_for = boto_client_for


# -- Step Functions Local mock configuration (MockConfigFile) --------------------------------

_pending_mock = threading.local()


def mock_test_case(config: dict[str, Any], state_machine_name: str, test_case: str) -> Any:
    """Build moto's MockTestCase from AWS's MockConfigFile format.

    moto carries the classes but no loader (`load_mock_test_case_for` returns None); this reads
    the documented JSON: StateMachines.<name>.TestCases.<case> maps state names to entries of
    MockedResponses, each a map from an attempt range ("0", "1-2") to a Return or a Throw.
    """
    from moto.stepfunctions.parser.mocking.mock_config import (
        MockedResponseReturn,
        MockedResponseThrow,
        MockTestCase,
        StateMockedResponses,
    )

    try:
        cases = config["StateMachines"][state_machine_name]["TestCases"]
        states = cases[test_case]
    except KeyError as missing:
        raise KeyError(f"no test case {test_case!r} for {state_machine_name!r}") from missing
    per_state = []
    for state_name, response_name in states.items():
        responses = []
        for attempts, body in config["MockedResponses"][response_name].items():
            first, _, last = attempts.partition("-")
            start, end = int(first), int(last or first)
            if "Return" in body:
                responses.append(MockedResponseReturn(start, end, body["Return"]))
            else:
                throw = body["Throw"]
                responses.append(MockedResponseThrow(start, end, throw["Error"], throw["Cause"]))
        per_state.append(StateMockedResponses(state_name, response_name, responses))
    return MockTestCase(state_machine_name, test_case, per_state)


def _install_mock_config() -> None:
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.backend import execution as execution_module

    original_worker = execution_module.Execution._get_start_execution_worker

    def _get_start_execution_worker(self: Any) -> Any:
        worker = original_worker(self)
        case = getattr(_pending_mock, "case", None)
        if case is not None:
            worker._mock_test_case = case
        return worker

    execution_module.Execution._get_start_execution_worker = _get_start_execution_worker

    patched_start = parser_models.StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        # Step Functions Local selects a test case with "<state machine ARN>#<test case>".
        arn, _, test_case = state_machine_arn.partition("#")
        twin = _active
        if not test_case or twin is None:
            return patched_start(self, state_machine_arn, *args, **kwargs)
        name = arn.rsplit(":", 1)[-1]
        _pending_mock.case = mock_test_case(twin.mock_config, name, test_case)
        try:
            return patched_start(self, arn, *args, **kwargs)
        finally:
            _pending_mock.case = None

    parser_models.StepFunctionsParserBackend.start_execution = start_execution


_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    _install_jsonata()
    _install_time()
    _install_executions()
    _install_inline_evaluation()
    _install_mock_config()
    _INSTALLED = True


# -- reading executions ---------------------------------------------------------------------

# Billing counts a transition per state entered and per retry attempt (docs/aws-facts.md §C.1).
_ENTERED = re.compile(r"StateEntered$")
_SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled"}


def count_state_transitions(events: list[dict[str, Any]]) -> int:
    """State transitions as billed, from an execution history (GetExecutionHistory events)."""
    entered = 0
    attempts_in_state = 0
    retries = 0
    for event in events:
        kind = event["type"]
        if _ENTERED.search(kind):
            entered += 1
            attempts_in_state = 0
        elif kind in _SCHEDULED:
            attempts_in_state += 1
            if attempts_in_state > 1:
                retries += 1
    return entered + retries
