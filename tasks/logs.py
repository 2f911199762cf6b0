"""Structured JSON logging (Powertools Logger) shared by the tasks.

Every line carries the execution's name and the original recovery point's ARN, so one
backup's story can be read across all task log groups with a single filter. Each write call
logs the request it made and what AWS answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from tasks.aws import BackupClient, backup_client, call, json_safe
from tasks.inputs import REGION, Fields

SERVICE = "backup-events"


def make_logger() -> Logger:
    return Logger(service=SERVICE)


def bind(logger: Logger, execution: str | None, recovery_point_arn: str | None) -> None:
    """Put the execution and the backup on every line this invocation logs.

    Thread-safe keys: on Lambda one invocation runs at a time per process, so it makes no
    difference there; where several invocations share a process (the local twin runs every
    function in one), each keeps its own backup on its own lines.
    """
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(execution=execution, recovery_point_arn=recovery_point_arn)


@dataclass(frozen=True)
class Task:
    """What a task about one recovery point starts from: its input, the point, a client."""

    fields: Fields
    recovery_point_arn: str
    backup: BackupClient


def start_task(logger: Logger, event: Any) -> Task:
    """Read the fields every recovery point task gets, and bind the log keys at once.

    `Region` and `RecoveryPointArn` come first and must agree: the client acts in that region,
    and a point of another region is refused before any call. Binding before anything else
    is logged puts the execution and the point on every line.
    """
    fields = Fields(event)
    region = fields.string("Region", REGION)
    recovery_point_arn = fields.recovery_point("RecoveryPointArn", region)
    bind(logger, fields.optional_string("Execution"), recovery_point_arn)
    return Task(fields, recovery_point_arn, backup_client(region))


def write_call(logger: Logger, operation: Callable[..., Any], **request: Any) -> Any:
    """Make one write call, logging what was asked and what AWS answered (or refused)."""
    name = getattr(operation, "__name__", "call")
    logger.info(f"{name} request", extra={"aws_request": json_safe(request)})
    try:
        response = call(operation, **request)
    except Exception as error:
        logger.warning(f"{name} refused", extra={"aws_error": f"{type(error).__name__}: {error}"})
        raise
    logger.info(f"{name} response", extra={"aws_response": json_safe(response)})
    return response
