"""AWS errors reach the state machine under their AWS names; AWS data leaves the task as JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks import errors
from tasks.aws import call, iso_utc, json_object, json_safe
from tasks.errors import TRANSIENT_AWS_ERRORS, AwsError, RecoveryPointNotEligible
from tasks.points import describe_point

KIRITIMATI = timezone(timedelta(hours=14))


def refusing(code: str, message: str = "Rate exceeded") -> Any:
    def start_copy_job(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": message}}, "StartCopyJob")

    return start_copy_job


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "LimitExceededException",
        "ServiceUnavailableException",
        "InvalidRequestException",
        "ResourceNotFoundException",
        "InvalidResourceStateException",
    ],
)
def test_a_client_error_is_raised_as_the_class_named_by_its_code(code: str) -> None:
    with pytest.raises(AwsError) as raised:
        call(refusing(code, "the reason"), RecoveryPointArn="x")
    # The Lambda runtime reports the class name as errorType; the ASL matches on it.
    assert type(raised.value).__name__ == code
    assert type(raised.value) is getattr(errors, code)
    assert str(raised.value) == f"start_copy_job: {code}: the reason"
    assert raised.value.operation == "start_copy_job"
    assert isinstance(raised.value.__cause__, ClientError)


def test_an_unforeseen_code_keeps_its_name_and_one_class() -> None:
    with pytest.raises(AwsError) as first:
        call(refusing("Backup.KmsKeyDisabled!"))
    with pytest.raises(AwsError) as second:
        call(refusing("Backup.KmsKeyDisabled!"))
    assert type(first.value).__name__ == "BackupKmsKeyDisabled"
    assert type(first.value) is type(second.value)


def test_every_transient_error_the_state_machine_retries_is_a_named_class() -> None:
    for name in TRANSIENT_AWS_ERRORS:
        assert issubclass(getattr(errors, name), AwsError)


def test_a_successful_call_returns_the_answer() -> None:
    assert call(lambda **kwargs: {"Echo": kwargs}, A=1) == {"Echo": {"A": 1}}


def test_local_zone_datetimes_become_utc_text() -> None:
    # botocore hands out datetimes in the process's zone (aws-facts.md §B.3).
    assert iso_utc(datetime(2026, 11, 20, 19, 0, tzinfo=KIRITIMATI)) == "2026-11-20T05:00:00Z"
    with pytest.raises(ValueError, match="naive datetime"):
        iso_utc(datetime(2026, 11, 20, 5, 0))


def test_responses_become_json_without_response_metadata() -> None:
    response = {
        "CopyJob": {
            "CreationDate": datetime(2026, 11, 20, 19, 0, tzinfo=KIRITIMATI),
            "Dates": [datetime(2026, 11, 20, 5, 0, tzinfo=UTC), date(2026, 11, 20)],
            "ResponseMetadata": {"HTTPStatusCode": 200},
        },
        "ResponseMetadata": {"RequestId": "abc"},
    }
    assert json_safe(response) == {
        "CopyJob": {
            "CreationDate": "2026-11-20T05:00:00Z",
            "Dates": ["2026-11-20T05:00:00Z", "2026-11-20"],
        }
    }
    assert json_object(response) == json_safe(response)


class AnsweringBackup:
    """A Backup client whose DescribeRecoveryPoint answers with a fixed response."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def describe_recovery_point(self, **_: Any) -> dict[str, Any]:
        return self.answer


DESCRIBED = {
    "RecoveryPointArn": "arn:aws:backup:us-east-1:000022224444:recovery-point:1",
    "Status": "COMPLETED",
    "StorageClass": "WARM",
    "CreationDate": datetime(2026, 11, 20, 19, 0, tzinfo=KIRITIMATI),
    "Lifecycle": {"DeleteAfterDays": 35},
}


def test_a_described_point_is_read_in_utc() -> None:
    described, point = describe_point(AnsweringBackup(DESCRIBED), "Vault", "arn")
    assert described is DESCRIBED
    assert point.creation_date == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    assert point.lifecycle.delete_after_days == 35


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({**DESCRIBED, "CreationDate": None}, "has no CreationDate"),
        ({**DESCRIBED, "Lifecycle": {"DeleteAfterDays": "35"}}, "must be an integer"),
        ({**DESCRIBED, "Lifecycle": {"DeleteAfterMonths": 1}}, "cannot send back"),
    ],
)
def test_a_description_the_retention_rules_cannot_read_leaves_the_point_alone(
    answer: dict[str, Any], reason: str
) -> None:
    # A plain ValueError would reach the state machine as "ValueError"; the point is left
    # alone under a name the workflow reports.
    with pytest.raises(RecoveryPointNotEligible, match=f"arn was left alone: .*{reason}"):
        describe_point(AnsweringBackup(answer), "Vault", "arn")


def test_no_answer_from_aws_becomes_a_retried_transient_error() -> None:
    """Connection failures are not ClientErrors; the state machine must still retry them."""
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    from tasks.aws import call
    from tasks.errors import TRANSIENT_AWS_ERRORS, ServiceUnavailableException

    for failure in (
        EndpointConnectionError(endpoint_url="https://backup.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://backup.us-east-1.amazonaws.com"),
    ):

        def list_copy_jobs(error: Exception = failure) -> None:
            raise error

        with pytest.raises(ServiceUnavailableException, match="no response from AWS Backup"):
            call(list_copy_jobs)
    assert "ServiceUnavailableException" in TRANSIENT_AWS_ERRORS
