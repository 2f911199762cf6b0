"""Structured JSON logging (Powertools Logger) shared by the tasks.

Every line carries the execution's name and the original recovery point's ARN, so one
backup's story can be read across all task log groups with a single filter. Each write call
logs the request it made and what AWS answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from tasks.aws import call, json_safe

SERVICE = "backup-events"


def make_logger() -> Logger:
    return Logger(service=SERVICE)


def bind(logger: Logger, execution: str | None, recovery_point_arn: str | None) -> None:
    logger.append_keys(execution=execution, recovery_point_arn=recovery_point_arn)


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
