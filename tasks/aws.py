"""The AWS Backup client every task uses, and the one place AWS errors are translated.

Clients are made per region (the state machine tells each task which region to act in), with
botocore's standard retry mode and a small attempt budget: quick retries of throttling stay
inside the Lambda, longer back-off is the state machine's Retry, visible in the execution.
The two reads several tasks share (a recovery point, the copy jobs of one) live here too, so
each is made, paged and translated in one way only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from tasks.errors import (
    AwsError,
    ServiceUnavailableException,
    aws_error_class,
)

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient
else:
    BackupClient = Any

CLIENT_CONFIG = Config(
    # total_max_attempts counts the first try; botocore reads plain `max_attempts` in a Config
    # as retries, so {"max_attempts": 3} would make four attempts, not the standard three.
    retries={"mode": "standard", "total_max_attempts": 3},
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


def copy_jobs_of(
    backup: BackupClient, recovery_point_arn: str, destination: str | None = None
) -> list[Any]:
    """Every copy job of one source recovery point (to one vault) in the client's region.

    All pages, as JSON. ListCopyJobs, not the copy events: AWS Backup's events are best
    effort (aws-facts.md §A.1), its job records are not.
    """
    jobs: list[Any] = []
    kwargs: dict[str, Any] = {"BySourceRecoveryPointArn": recovery_point_arn, "MaxResults": 1000}
    if destination is not None:
        kwargs["ByDestinationVaultArn"] = destination
    while True:
        page = call(backup.list_copy_jobs, **kwargs)
        jobs.extend(json_safe(page.get("CopyJobs", [])))
        token = page.get("NextToken")
        if not token:
            return jobs
        kwargs["NextToken"] = token


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
    except (BotoConnectionError, HTTPClientError) as error:
        # No answer at all (connection refused or reset, timeouts) after botocore's own retries:
        # transient by nature, so it travels under a name the state machine retries.
        raise ServiceUnavailableException(
            f"{operation.__name__}: no response from AWS Backup: {error}",
            operation=operation.__name__,
        ) from error


__all__ = [
    "CLIENT_CONFIG",
    "AwsError",
    "BackupClient",
    "backup_client",
    "call",
    "copy_jobs_of",
    "iso_utc",
    "json_safe",
]
