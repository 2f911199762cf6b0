"""The AWS Backup client every task uses, and the one place AWS errors are translated.

Clients are made per region (the state machine tells each task which region to act in), with
botocore's standard retry mode and a small attempt budget: quick retries of throttling stay
inside the Lambda, longer back-off is the state machine's Retry, visible in the execution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tasks.errors import AwsError, aws_error_class

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient
else:
    BackupClient = Any

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="backup-events",
)


@cache
def backup_client(region: str) -> BackupClient:
    return boto3.client("backup", region_name=region, config=CLIENT_CONFIG)


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a Z. botocore hands out local-zone datetimes (aws-facts.md §B.3)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: AWS timestamps always carry a zone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_safe(value: Any) -> Any:
    """Responses with datetimes, as JSON a state machine can carry (ISO-8601, UTC)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """json_safe for a mapping, typed as the dict a task returns."""
    return {k: json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}


def call(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a boto3 operation; a ClientError becomes the task error named by its AWS code."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "AwsError")
        message = str(error.response.get("Error", {}).get("Message") or error)
        raise aws_error_class(code)(
            f"{operation.__name__}: {code}: {message}",
            operation=operation.__name__,
            response=error.response.get("Error"),
        ) from error


__all__ = [
    "CLIENT_CONFIG",
    "AwsError",
    "BackupClient",
    "backup_client",
    "call",
    "iso_utc",
    "json_safe",
]
