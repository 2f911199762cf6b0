"""The AWS Backup client every task uses, and the one place AWS errors are translated.

Clients are made per region (the state machine tells each task which region to act in), with
botocore's standard retry mode and a small attempt budget: quick retries of throttling stay
inside the Lambda, longer back-off is the state machine's Retry, visible in the execution.
The two reads several tasks share (a recovery point, the copy jobs of one) live here too, so
each is made, paged and translated in one way only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from tasks.errors import (
    TRANSIENT_AWS_ERRORS,
    AccessDeniedException,
    AwsError,
    ServiceUnavailableException,
    ThrottlingException,
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


@cache
def dynamodb_client(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, config=CLIENT_CONFIG)


@cache
def states_client(region: str) -> Any:
    return boto3.client("stepfunctions", region_name=region, config=CLIENT_CONFIG)


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
    backup: BackupClient,
    recovery_point_arn: str,
    *,
    resource_arn: str,
    created: datetime,
    destination: str | None = None,
) -> list[Any]:
    """Every copy job of one source recovery point (to one vault) in the client's region.

    All pages, as JSON. ListCopyJobs, not the copy events: AWS Backup's events are best
    effort (aws-facts.md §A.1), its job records are not. The jobs are listed by protected
    resource and filtered here by source: the Lambda runtime's own botocore may predate the
    BySourceRecoveryPointArn filter, and rejects a parameter it does not know (§B.2). A copy
    job is created after its source, so jobs older than the source are not asked for.
    """
    jobs: list[Any] = []
    kwargs: dict[str, Any] = {
        "ByResourceArn": resource_arn,
        "ByCreatedAfter": created - timedelta(hours=1),
        "MaxResults": 1000,
    }
    if destination is not None:
        kwargs["ByDestinationVaultArn"] = destination
    while True:
        page = call(backup.list_copy_jobs, **kwargs)
        jobs.extend(
            job
            for job in json_safe(page.get("CopyJobs", []))
            if job.get("SourceRecoveryPointArn") == recovery_point_arn
        )
        token = page.get("NextToken")
        if not token:
            return jobs
        kwargs["NextToken"] = token


# Codes botocore's standard retry mode treats as throttling (aws-facts.md §B.7); whichever of
# them AWS Backup answers, it reaches the state machine as the one name it retries.
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)


def _error_class(code: str, status: int) -> type[AwsError]:
    """The task error for an AWS answer: its own code, except the transient families.

    AWS errors keep their code as their name, so the console shows AWS's own words. Throttling
    under any of its codes, and every server-side failure (HTTP 5xx: InternalFailure,
    ServiceUnavailable, ...), travel under the two names the state machine retries; the
    message keeps the code AWS sent (aws-facts.md §B.7, §H).
    """
    if code in _THROTTLING_CODES:
        return ThrottlingException
    if code == "AccessDenied":  # STS's and IAM's spelling of AWS Backup's AccessDeniedException
        return AccessDeniedException
    if status >= 500 and code not in TRANSIENT_AWS_ERRORS:
        return ServiceUnavailableException
    return aws_error_class(code)


def call(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a boto3 operation; a ClientError becomes the task error named by its AWS code."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "AwsError")
        message = str(error.response.get("Error", {}).get("Message") or error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
        raise _error_class(code, status)(
            f"{operation.__name__}: {code}: {message}",
            operation=operation.__name__,
            response=error.response.get("Error"),
        ) from error
    except (BotoConnectionError, HTTPClientError) as error:
        # No answer at all (connection refused or reset, timeouts) after botocore's own retries:
        # transient by nature, so it travels under a name the state machine retries.
        raise ServiceUnavailableException(
            f"{operation.__name__}: no response from AWS: {error}",
            operation=operation.__name__,
        ) from error


@dataclass(frozen=True)
class _Assumed:
    expires: datetime
    clients: dict[str, BackupClient]
    credentials: dict[str, str]


_assumed: dict[str, _Assumed] = {}
_assumed_lock = threading.Lock()


def assumed_backup_client(role_arn: str, region: str, session_name: str) -> BackupClient:
    """An AWS Backup client acting as `role_arn` (another account's role) in `region`.

    Credentials are kept while they have more than five minutes left, so a warm function
    assumes the role about once an hour, not once per call.
    """
    with _assumed_lock:
        held = _assumed.get(role_arn)
        if held is None or held.expires - datetime.now(UTC) < timedelta(minutes=5):
            sts = boto3.client("sts", region_name=region, config=CLIENT_CONFIG)
            raw = call(sts.assume_role, RoleArn=role_arn, RoleSessionName=session_name)[
                "Credentials"
            ]
            held = _Assumed(
                expires=raw["Expiration"],
                clients={},
                credentials={
                    "aws_access_key_id": raw["AccessKeyId"],
                    "aws_secret_access_key": raw["SecretAccessKey"],
                    "aws_session_token": raw["SessionToken"],
                },
            )
            _assumed[role_arn] = held
        if region not in held.clients:
            creds = held.credentials
            session = boto3.session.Session(
                aws_access_key_id=creds["aws_access_key_id"],
                aws_secret_access_key=creds["aws_secret_access_key"],
                aws_session_token=creds["aws_session_token"],
            )
            held.clients[region] = session.client(
                "backup", region_name=region, config=CLIENT_CONFIG
            )
        return held.clients[region]


__all__ = [
    "CLIENT_CONFIG",
    "AwsError",
    "BackupClient",
    "assumed_backup_client",
    "backup_client",
    "call",
    "copy_jobs_of",
    "dynamodb_client",
    "iso_utc",
    "json_safe",
    "states_client",
]
