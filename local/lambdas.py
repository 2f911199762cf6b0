"""An in-process Lambda runtime for moto, shaped like AWS's Python runtime.

Stock moto runs Lambda functions in Docker, which this machine lacks. The twin runs them in
this process instead:

- a handler registered with `register()` (tests), or else the function's own deployment
  package: the `index.py` that CloudFormation builds from an inline `ZipFile` is imported from
  the zip moto stored, so the code that runs is the code that would be deployed;
- while it runs, every AWS call it makes is served by the function's own account, as its
  execution role (credentials it gets from STS AssumeRole are another role's, as in AWS);
- an exception becomes the runtime's error payload, `errorType` = the exception's class name
  (docs/aws-facts.md §C.5), and a result that is not JSON-serialisable becomes
  `Runtime.MarshalError`, as in AWS;
- faults, each by fraction (seeded) and for all or chosen functions:
  `throttle()` refuses invocations with TooManyRequestsException (Step Functions:
  `Lambda.TooManyRequestsException`); `inject("Lambda.ServiceException")` refuses them with
  the service's 500 before the handler runs; `inject("Sandbox.Timedout")` lets the handler
  run, side effects and all, then reports the time-out instead of its result;
  `inject("Runtime.ExitError", after=False|True)` crashes the runtime before the handler
  runs or after it ran (docs/aws-facts.md §C.5, §H).
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import threading
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from types import ModuleType
from typing import Any

from local.accounts import acting_as
from local.clock import VirtualClock

Handler = Callable[[Any, Any], Any]


@dataclass
class Invocation:
    function_name: str
    account: str
    region: str
    event: Any
    error_type: str | None
    result: Any
    ran: bool = True  # whether the handler ran (its side effects happened)


# The runtime errors the twin can inject, and their messages as Lambda writes them.
_RUNTIME_ERRORS = {
    "Sandbox.Timedout": "Task timed out after {timeout} seconds",
    "Runtime.ExitError": "Runtime exited with error: exit status 1",
}
SERVICE_EXCEPTION = "Lambda.ServiceException"


@dataclass
class LambdaFault:
    error: str
    fraction: float
    functions: frozenset[str] | None
    after: bool  # the handler runs first; its result is lost
    rng: random.Random

    def draws(self, function_name: str) -> bool:
        if self.functions is not None and function_name not in self.functions:
            return False
        return self.rng.random() < self.fraction


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "2026/11/20/[$LATEST]twin"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaRuntime:
    def __init__(self, clock: VirtualClock | None = None) -> None:
        # AWS runs concurrent invocations in separate execution environments; here they share
        # one process, and module state (Powertools' metric set and logger keys) would mix.
        # One invocation runs at a time, waiting as the clock's participants wait.
        self._one_at_a_time: Callable[[], AbstractContextManager[Any]]
        if clock is not None:
            self._one_at_a_time = clock.one_at_a_time
        else:
            lock = threading.RLock()
            self._one_at_a_time = lambda: lock
        self._handlers: dict[str, Handler] = {}
        self._modules: dict[str, ModuleType] = {}
        self._import_lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self.throttle_fraction = 0.0
        self._random = random.Random(7)
        self.faults: list[LambdaFault] = []

    def register(self, function_name: str, handler: Handler) -> None:
        """Run `handler(event, context)` whenever a function of this name is invoked."""
        self._handlers[function_name] = handler

    def throttle(self, fraction: float, seed: int = 7) -> None:
        self.throttle_fraction = fraction
        self._random = random.Random(seed)

    def should_throttle(self) -> bool:
        return self.throttle_fraction > 0 and self._random.random() < self.throttle_fraction

    def inject(
        self,
        error: str,
        *,
        fraction: float = 1.0,
        functions: Iterable[str] | None = None,
        after: bool | None = None,
        seed: int = 11,
    ) -> LambdaFault:
        """Fail `fraction` of the invocations (of `functions`, by name) with `error`.

        Lambda.ServiceException is the Invoke API's (the handler never runs);
        Sandbox.Timedout always comes after the handler ran; Runtime.ExitError comes before
        it (default) or, with `after=True`, once it ran.
        """
        if error == SERVICE_EXCEPTION:
            if after:
                raise ValueError("Lambda.ServiceException refuses the invocation: never after")
            after = False
        elif error == "Sandbox.Timedout":
            if after is False:
                raise ValueError("Sandbox.Timedout happens while the handler runs: after=True")
            after = True
        elif error not in _RUNTIME_ERRORS:
            raise ValueError(f"the twin does not inject {error}")
        fault = LambdaFault(
            error,
            fraction,
            frozenset(functions) if functions is not None else None,
            bool(after),
            random.Random(seed),
        )
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()
        self.throttle_fraction = 0.0

    def refuses(self, function_name: str) -> bool:
        """Whether the Invoke API answers this invocation with Lambda's ServiceException."""
        return any(f.draws(function_name) for f in self.faults if f.error == SERVICE_EXCEPTION)

    def _runtime_fault(self, function_name: str) -> LambdaFault | None:
        for fault in self.faults:
            if fault.error != SERVICE_EXCEPTION and fault.draws(function_name):
                return fault
        return None

    def _handler_for(self, function: Any) -> Handler:
        if function.function_name in self._handlers:
            return self._handlers[function.function_name]
        module_name, _, attribute = function.handler.rpartition(".")
        module = self._load_package_module(function, module_name)
        handler: Handler = getattr(module, attribute)
        return handler

    def _load_package_module(self, function: Any, module_name: str) -> ModuleType:
        code: bytes = function.code_bytes
        key = sha256(code).hexdigest()
        with self._import_lock:
            if key not in self._modules:
                with zipfile.ZipFile(io.BytesIO(code)) as package:
                    source = package.read(f"{module_name.replace('.', '/')}.py").decode()
                unique = f"_twin_lambda_{key[:16]}"
                module = ModuleType(unique)
                # Registered before it runs, as an import would: dataclasses look it up.
                sys.modules[unique] = module
                # Module-level code reads the function's environment, as on Lambda.
                with function_environment(function):
                    exec(
                        compile(source, f"<{function.function_name}/index.py>", "exec"),
                        module.__dict__,
                    )
                self._modules[key] = module
            return self._modules[key]

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        context = LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            log_group_name=f"/aws/lambda/{function.function_name}",
        )
        fault = self._runtime_fault(function.function_name)
        ran = fault is None or fault.after
        error_type: str | None = None
        result: Any = None
        payload = ""
        if ran:
            error_type, result, payload = self._run(function, event, context)
        if fault is not None:
            # The runtime failed around the handler: whatever it returned is lost.
            error_type, result = fault.error, None
            message = _RUNTIME_ERRORS[fault.error].format(timeout=f"{float(function.timeout):.2f}")
            payload = json.dumps(
                {
                    "errorMessage": f"RequestId: {context.aws_request_id} Error: {message}",
                    "errorType": fault.error,
                }
            )
        self.invocations.append(
            Invocation(
                function.function_name,
                function.account_id,
                function.region,
                event,
                error_type,
                result,
                ran,
            )
        )
        return payload, error_type is not None, ""

    def _run(
        self, function: Any, event: Any, context: LambdaContext
    ) -> tuple[str | None, Any, str]:
        """Run the handler as the runtime does: (error type or None, result, payload)."""
        with (
            self._one_at_a_time(),
            acting_as(function.account_id, function.role),
            function_environment(function),
        ):
            try:
                result = self._handler_for(function)(event, context)
            except Exception as error:  # the runtime reports every exception the same way
                error_type = type(error).__name__
                return (
                    error_type,
                    None,
                    json.dumps(
                        {
                            "errorMessage": str(error),
                            "errorType": error_type,
                            "requestId": context.aws_request_id,
                            "stackTrace": traceback.format_tb(error.__traceback__),
                        }
                    ),
                )
        try:
            return None, result, json.dumps(result)
        except (TypeError, ValueError) as error:
            # The runtime serialises the result after the handler returns (§C.5).
            return (
                "Runtime.MarshalError",
                result,
                json.dumps(
                    {
                        "errorMessage": f"Unable to marshal response: {error}",
                        "errorType": "Runtime.MarshalError",
                        "requestId": context.aws_request_id,
                        "stackTrace": [],
                    }
                ),
            )


@contextmanager
def function_environment(function: Any) -> Iterator[None]:
    """The function's environment variables while its code runs, as Lambda sets them.

    The twin's functions share one process; invocations take turns (`_one_at_a_time`), so
    setting them for one run and restoring them after affects no other function. That holds
    for one running twin per process, as the tests and scripts run it; a handler a test calls
    directly sees the test's own environment.
    """
    variables = {k: str(v) for k, v in (function.environment_vars or {}).items()}
    # Only these keys change: other threads (the test, the clock) keep reading the rest.
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _service_exception() -> Exception:
    from moto.core.exceptions import JsonRESTError

    refused = JsonRESTError(
        "ServiceException", "The AWS Lambda service encountered an internal error."
    )
    refused.code = 500
    return refused


_active: LambdaRuntime | None = None


def activate(runtime: LambdaRuntime | None) -> None:
    """Run invoked functions in `runtime` (None: stock moto's Docker runtime again)."""
    global _active
    _active = runtime


def install() -> None:
    from moto.awslambda import models as lambda_models
    from moto.awslambda.exceptions import LambdaClientError

    function_class = lambda_models.LambdaFunction
    if getattr(function_class._invoke_lambda, "_twin", False):
        return
    original_invoke = function_class._invoke_lambda

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if _active is None:
            return original_invoke(self, event)  # type: ignore[no-any-return]
        return _active.invoke(self, {} if event is None else event)

    _invoke_lambda._twin = True  # type: ignore[attr-defined]
    function_class._invoke_lambda = _invoke_lambda

    original_backend_invoke = lambda_models.LambdaBackend.invoke

    def backend_invoke(self: Any, function_name: str, *args: Any, **kwargs: Any) -> Any:
        if _active is not None:
            if _active.should_throttle():
                raise LambdaClientError("TooManyRequestsException", "Rate exceeded")
            name = function_name.split(":function:")[-1].split(":")[0]
            if _active.refuses(name):
                raise _service_exception()
        return original_backend_invoke(self, function_name, *args, **kwargs)

    lambda_models.LambdaBackend.invoke = backend_invoke
