"""AWS plumbing every command shares: errors, paging, Regions, and AWS's text formats."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
import botocore.exceptions

# (service, region) -> boto3 client for one account. Tests pass one that returns twin clients.
ClientFactory = Callable[[str, str], Any]

# Codes that mean the credentials themselves are wrong, whatever the call.
_CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
}


class ConfigError(Exception):
    """The command cannot run as asked; the message is the one line the operator sees."""


# -- errors -------------------------------------------------------------------------------------


def error_code(error: BaseException) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def error_text(error: BaseException) -> str:
    """One line: the AWS error code and message."""
    if isinstance(error, botocore.exceptions.ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "")
        return f"{error_code(error)}: {message}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run "
    "`aws configure` / `aws sso login`"
)


@contextmanager
def aws_setup_errors() -> Iterator[None]:
    """Credential and connection problems, wherever they surface, are configuration errors."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as error:
        raise ConfigError(NO_CREDENTIALS) from error
    except botocore.exceptions.EndpointConnectionError as error:
        raise ConfigError(f"cannot reach AWS: {error}") from error
    except botocore.exceptions.ClientError as error:
        if error_code(error) in _CREDENTIAL_CODES:
            raise ConfigError(f"AWS rejected the credentials: {error_text(error)}") from error
        raise


# -- paging -------------------------------------------------------------------------------------


def pages(operation: Callable[..., Any], items: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated List call; Step Functions says nextToken, most others NextToken."""
    while True:
        page = operation(**kwargs)
        yield from page.get(items) or []
        token = page.get("nextToken") or page.get("NextToken")
        if not token:
            return
        kwargs["nextToken" if "nextToken" in page else "NextToken"] = token


# -- Regions ------------------------------------------------------------------------------------


@cache
def _endpoints() -> dict[str, Any]:
    # botocore's own endpoint data: the Regions of every partition, as the installed SDK knows
    # them. A Region launched after this botocore release is unknown until botocore is upgraded.
    loader = boto3.session.Session()._session.get_component("data_loader")
    data: dict[str, Any] = loader.load_data("endpoints")
    return data


@cache
def regions_by_partition() -> dict[str, frozenset[str]]:
    return {
        str(partition["partition"]): frozenset(partition.get("regions") or {})
        for partition in _endpoints()["partitions"]
    }


def partition_of(region: str) -> str | None:
    for partition, regions in regions_by_partition().items():
        if region in regions:
            return partition
    return None


def check_region(region: str, what: str = "region") -> str:
    """A Region code botocore knows, else a ConfigError that names the typo."""
    if partition_of(region) is None:
        raise ConfigError(
            f"unknown {what} {region!r}: not a Region of any AWS partition this botocore knows "
            "(check for a typo, e.g. us-west-2)"
        )
    return region


# -- AWS text formats ---------------------------------------------------------------------------


def iso_z(moment: datetime, *, millis: bool = False) -> str:
    """ISO-8601 in UTC with a Z, in the forms AWS Backup events use (aws-facts.md §A.2)."""
    moment = moment.astimezone(UTC)
    if millis:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def aware(value: Any) -> datetime | None:
    """A timestamp from boto3 (local zone, aws-facts.md §B.3) or JSON text, as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-able parts: deterministic names and tokens."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
