"""Validation of task inputs: every wrong value is an InvalidInput that names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks.errors import InvalidInput
from tasks.inputs import (
    ACCOUNT_ID,
    COPY_JOB_ID,
    RECOVERY_POINT_ARN,
    REGION,
    ROLE_ARN,
    VAULT_ARN,
    VAULT_NAME,
    Fields,
    check_recovery_point_home,
    parse_timestamp,
    vault_arn_parts,
)

VAULT = "arn:aws:backup:us-west-2:999977775555:backup-vault:BackupEvents-Sample"
EFS_POINT = (
    "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98"
)


@pytest.mark.parametrize("data", [None, "text", 3, [1], True])
def test_only_a_json_object_is_an_input(data: Any) -> None:
    with pytest.raises(InvalidInput, match=r"input: expected a JSON object"):
        Fields(data)


def test_a_missing_or_null_required_field_is_named() -> None:
    for data in ({}, {"Region": None}):
        with pytest.raises(InvalidInput, match=r"input.Region is required"):
            Fields(data).string("Region")


def test_nested_objects_name_the_whole_path() -> None:
    with pytest.raises(InvalidInput, match=r"input.Event.detail is required"):
        Fields({"Event": {}}).object("Event").object("detail")


@pytest.mark.parametrize("value", ["", 5, ["us-east-1"], {"r": 1}])
def test_a_string_field_refuses_other_types_and_empty_text(value: Any) -> None:
    with pytest.raises(InvalidInput, match=r"input.Region: expected a non-empty string"):
        Fields({"Region": value}).string("Region")


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (ACCOUNT_ID, "000022224444", ["00002222444", "0000222244445", "00002222444a"]),
        (REGION, "us-east-1", ["us-east", "US-EAST-1", "useast1"]),
        (REGION, "us-gov-west-1", ["us-gov-west"]),
        (VAULT_NAME, "BackupEvents-Sample", ["a", "x" * 51, "Backup Events", "vault/1"]),
        (VAULT_ARN, VAULT, [VAULT.replace("999977775555", "9999"), "BackupEvents-Sample"]),
        (
            ROLE_ARN,
            "arn:aws:iam::000022224444:role/service-role/AWSBackupDefaultServiceRole",
            ["arn:aws:iam::000022224444:user/alice", "AWSBackupDefaultServiceRole"],
        ),
        (COPY_JOB_ID, "8E9F0A1B-2C3D-4E5F-A6B7-C8D9E0F1A2B3", ["8E9F/0A1B", "x" * 129]),
    ],
)
def test_patterns_accept_the_real_shape_and_refuse_near_misses(
    pattern: Any, good: str, bad: list[str]
) -> None:
    assert Fields({"F": good}).string("F", pattern) == good
    for value in [*bad, good + "\n"]:
        with pytest.raises(InvalidInput, match=r"input.F: .* is not valid here"):
            Fields({"F": value}).string("F", pattern)


@pytest.mark.parametrize(
    "arn",
    [
        EFS_POINT,
        "arn:aws:backup:us-east-1:000022224444:recovery-point:continuous:db-abc-1a2b3c4d",
        "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788",
        "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890",
        "arn:aws:rds:us-east-1:000022224444:snapshot:awsbackup:job-c4d5e6f7-a8b9-4c0d-9e1f",
        "arn:aws:rds:us-east-1:000022224444:cluster-snapshot:awsbackup:job-c4d5e6f7",
        "arn:aws:dynamodb:us-east-1:000022224444:table/Orders/backup/01700000000000-abcdef12",
        "arn:aws:fsx:us-east-1:000022224444:backup/backup-0123456789abcdef0",
        "arn:aws-us-gov:backup:us-gov-west-1:000022224444:recovery-point:7c3a6e0f",
    ],
)
def test_recovery_point_arns_of_every_resource_type_are_accepted(arn: str) -> None:
    assert RECOVERY_POINT_ARN.fullmatch(arn)


@pytest.mark.parametrize(
    "arn",
    [
        VAULT,  # a vault, not a recovery point in it
        "arn:aws:backup:us-east-1:000022224444:backup-plan:b5e1f7a2",
        "arn:aws:iam::000022224444:role/service-role/AWSBackupDefaultServiceRole",
        "arn:aws:ec2:us-east-1:000022224444:volume/vol-0123456789abcdef0",  # the resource
        "arn:aws:rds:us-east-1:000022224444:db:orders",  # the resource
        "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-0a1b2c3d4e5f67890",
        "7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98",
    ],
)
def test_arns_that_are_not_recovery_points_are_refused(arn: str) -> None:
    assert not RECOVERY_POINT_ARN.fullmatch(arn)


def test_a_recovery_point_field_must_be_in_the_tasks_region() -> None:
    fields = Fields({"RecoveryPointArn": EFS_POINT})
    assert fields.recovery_point("RecoveryPointArn", "us-east-1") == EFS_POINT
    with pytest.raises(InvalidInput, match=r"input.RecoveryPointArn: .* is in region us-east-1"):
        fields.recovery_point("RecoveryPointArn", "us-west-2")


def test_the_home_check_compares_the_account_only_when_the_arn_has_one() -> None:
    ebs = "arn:aws:ec2:us-east-1::snapshot/snap-0f1e2d3c4b5a69788"
    check_recovery_point_home(ebs, "x", region="us-east-1", account="111133335555")
    check_recovery_point_home(EFS_POINT, "x", region="us-east-1", account="000022224444")
    with pytest.raises(InvalidInput, match=r"belongs to account 000022224444, not to 111133335555"):
        check_recovery_point_home(EFS_POINT, "x", region="us-east-1", account="111133335555")


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [(True, 0, 10), ("7", 0, 10), (7.5, 0, 10), (None, 0, 10), (0, 1, 10), (11, 1, 10)],
)
def test_integers_refuse_other_types_and_values_out_of_range(
    value: Any, low: int, high: int
) -> None:
    with pytest.raises(InvalidInput, match=r"input.Days"):
        Fields({"Days": value}).integer("Days", low, high)


def test_integers_in_range_are_returned() -> None:
    assert Fields({"Days": 7}).integer("Days", 1, 36500) == 7


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("true", True), ("false", False)]
)
def test_booleans_also_come_as_cloudformation_strings(value: Any, expected: bool) -> None:
    assert Fields({"Flag": value}).boolean("Flag") is expected


@pytest.mark.parametrize("value", ["True", "yes", 1, 0, None])
def test_other_booleans_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInput, match=r"input.Flag"):
        Fields({"Flag": value}).boolean("Flag")


@pytest.mark.parametrize(
    "text",
    ["2026-11-20T05:00:00Z", "2026-11-20T05:00:00.000Z", "2026-11-20T19:00:00+14:00"],
)
def test_timestamps_with_a_zone_become_utc(text: str) -> None:
    parsed = parse_timestamp(text, "input.Now")
    assert parsed == datetime(2026, 11, 20, 5, tzinfo=UTC)
    assert parsed.utcoffset() is not None
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-20T05:00:00", "has no time zone"),
        ("2026-11-20", "has no time zone"),
        ("Nov 20, 2026 5:00:00 AM", "is not an ISO-8601 timestamp"),
        ("yesterday", "is not an ISO-8601 timestamp"),
    ],
)
def test_bad_timestamps_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"input.Now: .*{message}"):
        Fields({"Now": text}).timestamp("Now")


def test_string_lists_need_the_exact_count_and_the_pattern_for_each_item() -> None:
    other = VAULT.replace("us-west-2", "us-east-1")
    assert Fields({"D": [VAULT, other]}).strings("D", VAULT_ARN, 2) == [VAULT, other]
    for value in ([VAULT], [VAULT, other, VAULT], VAULT, [VAULT, "x"], [VAULT, 3]):
        with pytest.raises(InvalidInput, match=r"input.D"):
            Fields({"D": value}).strings("D", VAULT_ARN, 2)


def test_optional_strings_are_none_when_absent_and_validated_when_present() -> None:
    assert Fields({}).optional_string("Execution") is None
    with pytest.raises(InvalidInput, match=r"input.Execution"):
        Fields({"Execution": 12}).optional_string("Execution")


def test_vault_arn_parts() -> None:
    assert vault_arn_parts(VAULT, "x") == (
        "aws",
        "us-west-2",
        "999977775555",
        "BackupEvents-Sample",
    )
    with pytest.raises(InvalidInput, match=r"Destinations: .* is not a backup vault ARN"):
        vault_arn_parts(VAULT + "\n", "Destinations")
