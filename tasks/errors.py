"""The errors tasks raise. Each class name is the error name the state machine sees.

The Lambda Python runtime reports an exception's class `__name__` as `errorType`, and Step
Functions uses that as the error name for Retry and Catch (aws-facts.md §C.5). Renaming a
class here renames an error in statemachines/backup_events.asl.json; a test checks that
every name the definition retries or catches is defined here.
"""

from __future__ import annotations

import re
from typing import Any


class TaskError(Exception):
    """Base of every error a task raises on purpose."""


class InvalidInput(TaskError):
    """The input is malformed or is not an event this deployment handles. Nothing was written."""


class RecoveryPointNotEligible(TaskError):
    """The recovery point must be left alone: continuous, cold, deleted, locked vault, ..."""


class CopyJobFailed(TaskError):
    """AWS Backup reports the copy job FAILED (or ABORTED/PARTIAL); its message is the cause."""


class CopyJobNotFinished(TaskError):
    """The copy job is still CREATED or RUNNING. The state machine retries this to poll."""


class CopyJobTimedOut(TaskError):
    """The copy job did not finish within the deployment's waiting limit."""


class CopiesNotVerified(TaskError):
    """AWS Backup does not show a COMPLETED copy in every required destination vault."""


class CopiesNotYetVisible(TaskError):
    """A copy this execution saw completed is not readable yet; retried for a bounded time."""


class CopiesExpireTooSoon(TaskError):
    """A copy is deleted before the original would be: cutting would leave no copy."""


class CopyExpiryUnknown(TaskError):
    """When a copy is deleted cannot be known from what AWS reports, so nothing is cut."""


class CopyReaderUnavailable(TaskError):
    """The backup account's read-only role for copies cannot be assumed or used."""


class CopyHistoryUnknown(TaskError):
    """Neither AWS Backup's job history nor the destination vault can say if a copy exists."""


class CopyNoLongerExists(TaskError):
    """A copy this backup had was deleted or expired; it is not copied again on a guess."""


class CopyJobNotFound(TaskError):
    """AWS Backup no longer knows the copy job, and no copy is in its destination vault."""


class RetentionChangedAfterCut(TaskError):
    """Someone changed the original's retention after this product cut it; left as it is."""


class AwsError(TaskError):
    """An AWS API error, re-raised under its AWS error code so the ASL can match it by name."""

    code = "AwsError"

    def __init__(self, message: str, *, operation: str = "", response: Any = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.response = response


class ThrottlingException(AwsError):
    code = "ThrottlingException"


class LimitExceededException(AwsError):
    code = "LimitExceededException"


class ServiceUnavailableException(AwsError):
    code = "ServiceUnavailableException"


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class InvalidRequestException(AwsError):
    code = "InvalidRequestException"


class InvalidParameterValueException(AwsError):
    code = "InvalidParameterValueException"


class MissingParameterValueException(AwsError):
    code = "MissingParameterValueException"


class InvalidResourceStateException(AwsError):
    code = "InvalidResourceStateException"


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"


_KNOWN: dict[str, type[AwsError]] = {
    cls.code: cls
    for cls in (
        ThrottlingException,
        LimitExceededException,
        ServiceUnavailableException,
        ResourceNotFoundException,
        InvalidRequestException,
        InvalidParameterValueException,
        MissingParameterValueException,
        InvalidResourceStateException,
        AccessDeniedException,
    )
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")


def aws_error_class(code: str) -> type[AwsError]:
    """The class for an AWS error code; codes we did not foresee still keep their name."""
    if code not in _KNOWN:
        name = _SAFE_NAME.sub("", code) or "AwsError"
        _KNOWN[code] = type(name, (AwsError,), {"code": code, "__module__": __name__})
    return _KNOWN[code]


# Error names the state machine retries as transient (with backoff and full jitter).
TRANSIENT_AWS_ERRORS = (
    "ThrottlingException",
    "LimitExceededException",
    "ServiceUnavailableException",
    "InvalidResourceStateException",
)

# Errors that end an execution in a named Fail state: no retry or redrive can fix them, so the
# reconciliation never retries them; a person looks at them (design.md §3).
FINAL_ERRORS = (
    "InvalidInput",
    "RecoveryPointNotEligible",
    "CopyJobFailed",
    "CopyJobNotFound",
    "CopyNoLongerExists",
    "CopiesNotVerified",
    "CopiesExpireTooSoon",
    "CopyExpiryUnknown",
    "CopyReaderUnavailable",
    "CopyHistoryUnknown",
    "RetentionChangedAfterCut",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "InvalidRequestException",
    "InvalidParameterValueException",
)
