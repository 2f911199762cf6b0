"""The one place AWS is called: errors reach the state machine under names it can act on, AWS data
leaves the task as JSON, copy jobs are listed in a way the Lambda runtime's own SDK accepts,
and the backup account's reader role is assumed once, not per call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

import tasks.aws
from tasks import errors
from tasks.aws import (
    assumed_backup_client,
    call,
    copy_jobs_of,
    iso_utc,
    json_object,
    json_safe,
)
from tasks.errors import (
    FINAL_ERRORS,
    TRANSIENT_AWS_ERRORS,
    AwsError,
    InvalidRequestException,
    RecoveryPointNotEligible,
    ServiceUnavailableException,
    ThrottlingException,
)
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
    for failure in (
        EndpointConnectionError(endpoint_url="https://backup.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://backup.us-east-1.amazonaws.com"),
    ):

        def list_copy_jobs(error: Exception = failure) -> None:
            raise error

        with pytest.raises(ServiceUnavailableException, match="list_copy_jobs: no response"):
            call(list_copy_jobs)
    assert "ServiceUnavailableException" in TRANSIENT_AWS_ERRORS


# --- Throttling and server errors travel under the names the state machine retries ---------


def answering(code: str, status: int, message: str = "the reason") -> Any:
    def list_copy_jobs(**_: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "ListCopyJobs",
        )

    return list_copy_jobs


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("ThrottledException", 400),
        ("RequestThrottledException", 400),
        ("TooManyRequestsException", 429),
        ("RequestLimitExceeded", 400),
        ("RequestThrottled", 400),
        ("SlowDown", 503),
        ("ProvisionedThroughputExceededException", 400),
    ],
)
def test_every_throttling_code_is_retried_as_throttling(code: str, status: int) -> None:
    # botocore's standard retry mode treats these as throttling (aws-facts.md §B.7).
    with pytest.raises(ThrottlingException) as raised:
        call(answering(code, status, "Rate exceeded"))
    # The console still shows what AWS said.
    assert str(raised.value) == f"list_copy_jobs: {code}: Rate exceeded"
    assert "ThrottlingException" in TRANSIENT_AWS_ERRORS


@pytest.mark.parametrize(
    "code", ["InternalFailure", "ServiceUnavailable", "InternalServerError", "Backup.Oops"]
)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_every_server_error_is_retried_as_service_unavailable(code: str, status: int) -> None:
    with pytest.raises(ServiceUnavailableException) as raised:
        call(answering(code, status))
    assert str(raised.value) == f"list_copy_jobs: {code}: the reason"
    assert raised.value.response == {"Code": code, "Message": "the reason"}


@pytest.mark.parametrize("code", ["LimitExceededException", "InvalidResourceStateException"])
def test_a_server_error_already_named_transient_keeps_its_name(code: str) -> None:
    with pytest.raises(AwsError) as raised:
        call(answering(code, 503))
    assert type(raised.value).__name__ == code
    assert code in TRANSIENT_AWS_ERRORS


@pytest.mark.parametrize("code", ["AccessDeniedException", "InvalidParameterValueException"])
def test_a_client_error_is_not_mistaken_for_a_transient_one(code: str) -> None:
    with pytest.raises(AwsError) as raised:
        call(answering(code, 400))
    assert type(raised.value).__name__ == code
    assert code in FINAL_ERRORS
    assert code not in TRANSIENT_AWS_ERRORS


def test_an_error_without_a_status_is_taken_as_a_client_error() -> None:
    def refuse(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "InvalidRequestException"}}, "StartCopyJob")

    with pytest.raises(InvalidRequestException):
        call(refuse)


# --- Copy jobs, listed as the runtime's SDK allows ------------------------------------------

# ListCopyJobs' parameters in botocore 1.35, the runtime floor (design.md §4; aws-facts.md
# §B.2). BySourceRecoveryPointArn came later: an SDK that does not know a parameter refuses
# the whole call.
FLOOR_LIST_COPY_JOBS = frozenset(
    {
        "ByAccountId",
        "ByCompleteAfter",
        "ByCompleteBefore",
        "ByCreatedAfter",
        "ByCreatedBefore",
        "ByDestinationVaultArn",
        "ByMessageCategory",
        "ByParentJobId",
        "ByResourceArn",
        "ByResourceType",
        "ByState",
        "MaxResults",
        "NextToken",
    }
)
SOURCE = "arn:aws:backup:us-east-1:000022224444:recovery-point:1"
RESOURCE = "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-1"
WEST = "arn:aws:backup:us-west-2:999977775555:backup-vault:BackupEvents-Sample"
CREATED = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


class FloorBackup:
    """ListCopyJobs as a botocore-1.35 client answers it: refuses parameters it does not know,
    pages two jobs at a time, dates as datetimes in the local zone."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.requests: list[dict[str, Any]] = []

    def list_copy_jobs(self, **request: Any) -> dict[str, Any]:
        unknown = sorted(set(request) - FLOOR_LIST_COPY_JOBS)
        if unknown:
            raise ParamValidationError(report=f'Unknown parameter in input: "{unknown[0]}"')
        self.requests.append(request)
        start = int(request.get("NextToken") or 0)
        page: dict[str, Any] = {"CopyJobs": self.jobs[start : start + 2]}
        if start + 2 < len(self.jobs):
            page["NextToken"] = str(start + 2)
        return page


def listed_job(n: int, source: str = SOURCE) -> dict[str, Any]:
    return {
        "CopyJobId": f"J{n}",
        "SourceRecoveryPointArn": source,
        "ResourceArn": RESOURCE,
        "DestinationBackupVaultArn": WEST,
        "State": "COMPLETED",
        "CreationDate": (CREATED + timedelta(hours=n)).astimezone(KIRITIMATI),
    }


def test_copy_jobs_are_listed_by_resource_and_filtered_by_source() -> None:
    other = "arn:aws:backup:us-east-1:000022224444:recovery-point:2"
    backup = FloorBackup([listed_job(1), listed_job(2, other), listed_job(3), listed_job(4)])
    jobs = copy_jobs_of(backup, SOURCE, resource_arn=RESOURCE, created=CREATED)
    assert [j["CopyJobId"] for j in jobs] == ["J1", "J3", "J4"]  # every page, this source only
    assert jobs[0]["CreationDate"] == "2026-11-20T06:00:00Z"  # as JSON, in UTC
    assert backup.requests[0] == {
        "ByResourceArn": RESOURCE,
        "ByCreatedAfter": CREATED - timedelta(hours=1),
        "MaxResults": 1000,
    }
    assert backup.requests[1]["NextToken"] == "2"
    assert all("BySourceRecoveryPointArn" not in r for r in backup.requests)


def test_copy_jobs_to_one_destination_are_asked_for_by_vault() -> None:
    backup = FloorBackup([listed_job(1)])
    copy_jobs_of(backup, SOURCE, resource_arn=RESOURCE, created=CREATED, destination=WEST)
    assert backup.requests == [
        {
            "ByResourceArn": RESOURCE,
            "ByCreatedAfter": CREATED - timedelta(hours=1),
            "MaxResults": 1000,
            "ByDestinationVaultArn": WEST,
        }
    ]


def test_the_floor_client_really_refuses_the_newer_filter() -> None:
    # Without this, the tests above could pass against a client that accepts anything.
    with pytest.raises(ParamValidationError, match="BySourceRecoveryPointArn"):
        FloorBackup([]).list_copy_jobs(BySourceRecoveryPointArn=SOURCE)


# --- The reader role's credentials -------------------------------------------------------------


class Sts:
    def __init__(self, expires_in: timedelta) -> None:
        self.expires_in = expires_in
        self.assumed: list[dict[str, Any]] = []

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.assumed.append(request)
        n = len(self.assumed)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": "secret",
                "SessionToken": f"token-{n}",
                "Expiration": datetime.now(UTC) + self.expires_in,
            }
        }


class Sessions:
    """boto3 as the tasks use it: `client("sts")` and `session.Session(...).client("backup")`."""

    def __init__(self, sts: Sts) -> None:
        self.sts = sts
        self.made: list[tuple[str, str]] = []
        self.session = SimpleNamespace(Session=self._session)

    def client(self, service: str, **_: Any) -> Sts:
        assert service == "sts"
        return self.sts

    def _session(self, **credentials: str) -> Any:
        def client(service: str, region_name: str, **_: Any) -> Any:
            self.made.append((credentials["aws_session_token"], region_name))
            return SimpleNamespace(service=service, region=region_name, credentials=credentials)

        return SimpleNamespace(client=client)


READER = "arn:aws:iam::999977775555:role/backup-events/BackupEventsCopyReader-us-east-1"


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], Sessions]:
    def make(expires_in: timedelta) -> Sessions:
        fake = Sessions(Sts(expires_in))
        monkeypatch.setattr(tasks.aws, "boto3", fake)
        monkeypatch.setattr(tasks.aws, "_assumed", {})
        return fake

    return make


def test_the_reader_role_is_assumed_once_for_every_region_and_call(
    sessions: Callable[[timedelta], Sessions],
) -> None:
    fake = sessions(timedelta(hours=1))
    west = assumed_backup_client(READER, "us-west-2", "backup-events")
    assert assumed_backup_client(READER, "us-west-2", "backup-events") is west
    east = assumed_backup_client(READER, "us-east-1", "backup-events")
    assert (west.region, east.region) == ("us-west-2", "us-east-1")
    assert fake.sts.assumed == [{"RoleArn": READER, "RoleSessionName": "backup-events"}]
    assert fake.made == [("token-1", "us-west-2"), ("token-1", "us-east-1")]


def test_credentials_about_to_expire_are_renewed(
    sessions: Callable[[timedelta], Sessions],
) -> None:
    fake = sessions(timedelta(minutes=4))  # less than the five minutes a call may need
    assumed_backup_client(READER, "us-west-2", "backup-events")
    renewed = assumed_backup_client(READER, "us-west-2", "backup-events")
    assert len(fake.sts.assumed) == 2
    assert renewed.credentials["aws_session_token"] == "token-2"


def test_an_assume_role_refused_is_raised_under_its_aws_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refusing:
        def assume_role(self, **_: Any) -> Any:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": "not authorized"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "AssumeRole",
            )

    monkeypatch.setattr(tasks.aws, "boto3", SimpleNamespace(client=lambda *a, **k: Refusing()))
    monkeypatch.setattr(tasks.aws, "_assumed", {})
    with pytest.raises(AwsError, match="assume_role: AccessDenied: not authorized"):
        assumed_backup_client(READER, "us-west-2", "backup-events")
