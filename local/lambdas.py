"""An in-process Lambda runtime for moto, shaped like AWS's Python runtime.

Stock moto runs Lambda functions in Docker, which this machine lacks. The twin runs them in
this process instead:

- a handler registered with `register()` (tests), or else the function's own deployment
  package: the `index.py` that CloudFormation builds from an inline `ZipFile` is imported from
  the zip moto stored, so the code that runs is the code that would be deployed;
- while it runs, every AWS call it makes is served by the function's own account, as its
  execution role (credentials it gets from STS AssumeRole are another role's, as in AWS);
- an exception becomes the runtime's error payload, `errorType` = the exception's class name
  (aws-facts.md §C.5), and a result that is not JSON-serialisable becomes
  `Runtime.MarshalError`, as in AWS;
- faults: a chosen fraction of invocations is refused with TooManyRequestsException, which
  Step Functions reports as `Lambda.TooManyRequestsException`.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256
from types import ModuleType
from typing import Any

from local.accounts import acting_as

Handler = Callable[[Any, Any], Any]


@dataclass
class Invocation:
    function_name: str
    account: str
    region: str
    event: Any
    error_type: str | None
    result: Any


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
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._modules: dict[str, ModuleType] = {}
        self._import_lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self.throttle_fraction = 0.0
        self._random = random.Random(7)

    def register(self, function_name: str, handler: Handler) -> None:
        """Run `handler(event, context)` whenever a function of this name is invoked."""
        self._handlers[function_name] = handler

    def throttle(self, fraction: float, seed: int = 7) -> None:
        self.throttle_fraction = fraction
        self._random = random.Random(seed)

    def should_throttle(self) -> bool:
        return self.throttle_fraction > 0 and self._random.random() < self.throttle_fraction

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
                saved = dict(os.environ)
                os.environ.update({k: str(v) for k, v in function.environment_vars.items()})
                try:
                    exec(
                        compile(source, f"<{function.function_name}/index.py>", "exec"),
                        module.__dict__,
                    )
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                self._modules[key] = module
            return self._modules[key]

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        context = LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            log_group_name=f"/aws/lambda/{function.function_name}",
        )
        error_type: str | None = None
        result: Any = None
        with acting_as(function.account_id, function.role):
            try:
                result = self._handler_for(function)(event, context)
            except Exception as error:  # the runtime reports every exception the same way
                error_type = type(error).__name__
                payload = json.dumps(
                    {
                        "errorMessage": str(error),
                        "errorType": error_type,
                        "requestId": context.aws_request_id,
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    }
                )
        if error_type is None:
            try:
                payload = json.dumps(result)
            except (TypeError, ValueError) as error:
                # The runtime serialises the result after the handler returns (§C.5).
                error_type = "Runtime.MarshalError"
                payload = json.dumps(
                    {
                        "errorMessage": f"Unable to marshal response: {error}",
                        "errorType": error_type,
                        "requestId": context.aws_request_id,
                        "stackTrace": [],
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
            )
        )
        return payload, error_type is not None, ""


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

    def backend_invoke(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _active is not None and _active.should_throttle():
            raise LambdaClientError("TooManyRequestsException", "Rate exceeded")
        return original_backend_invoke(self, *args, **kwargs)

    lambda_models.LambdaBackend.invoke = backend_invoke
