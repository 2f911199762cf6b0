"""The event fixtures keep the documented shapes and quirks of AWS Backup events.

Every workflow test starts from these files, so a fixture that drifts from AWS's shapes
(aws-facts.md §A.2, §A.3) would make the whole suite test the wrong thing.
"""

from __future__ import annotations

import pytest

from tests.support import event_names, load_event

ENVELOPE_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}


@pytest.mark.parametrize("name", event_names())
def test_every_fixture_has_the_eventbridge_envelope(name: str) -> None:
    event = load_event(name)
    assert set(event) == ENVELOPE_KEYS
    assert event["source"] == "aws.backup"
    assert event["detail-type"] in {"Backup Job State Change", "Copy Job State Change"}


def test_completed_backup_job_carries_the_recovery_point_only_in_resources() -> None:
    event = load_event("backup_job_completed_on_demand_efs.json")
    assert len(event["resources"]) == 1
    assert event["resources"][0].startswith("arn:aws:backup:")
    assert not any("recoveryPoint" in key for key in event["detail"])


def test_backup_job_sizes_are_strings_but_copy_job_sizes_are_numbers() -> None:
    backup = load_event("backup_job_completed_on_demand_efs.json")["detail"]
    copy = load_event("copy_job_completed_on_demand.json")["detail"]
    assert isinstance(backup["backupSizeInBytes"], str)
    assert isinstance(backup["bytesTransferred"], str)
    assert isinstance(copy["backupSizeInBytes"], int)


def test_only_plan_jobs_carry_created_by() -> None:
    assert "createdBy" not in load_event("backup_job_completed_on_demand_efs.json")["detail"]
    created_by = load_event("backup_job_completed_by_plan_efs.json")["detail"]["createdBy"]
    # The event says backupPlanRuleId where the API says BackupRuleId.
    assert set(created_by) == {
        "backupPlanId",
        "backupPlanArn",
        "backupPlanVersion",
        "backupPlanRuleId",
    }
    assert "createdBy" not in load_event("copy_job_completed_on_demand.json")["detail"]
    assert "createdBy" in load_event("copy_job_completed_by_plan_to_backup_region.json")["detail"]


def test_ebs_recovery_point_arn_has_no_account() -> None:
    arn = load_event("backup_job_completed_on_demand_ebs.json")["resources"][0]
    assert arn.split(":")[4] == ""


@pytest.mark.parametrize(
    "name", ["backup_job_failed.json", "backup_job_created.json", "backup_job_running.json"]
)
def test_unfinished_or_failed_backup_jobs_have_no_resources(name: str) -> None:
    assert load_event(name)["resources"] == []


def test_created_backup_job_has_only_three_detail_fields() -> None:
    assert set(load_event("backup_job_created.json")["detail"]) == {
        "backupJobId",
        "state",
        "creationDate",
    }


def test_running_backup_job_uses_the_non_iso_completion_date() -> None:
    # One AWS example writes "Jul 15, 2020 9:39:07 PM"; parsers must not assume ISO-8601.
    assert "," in load_event("backup_job_running.json")["detail"]["expectedCompletionDate"]


def test_copy_job_created_has_no_copy_job_id() -> None:
    assert "copyJobId" not in load_event("copy_job_created.json")["detail"]


@pytest.mark.parametrize("name", ["copy_job_running.json", "copy_job_failed.json"])
def test_unfinished_copy_job_destination_is_an_empty_object(name: str) -> None:
    assert load_event(name)["detail"]["destinationRecoveryPointArn"] == {}


def test_completed_copy_job_names_source_in_resources_and_destination_in_detail() -> None:
    event = load_event("copy_job_completed_on_demand.json")
    assert event["resources"][0].startswith("arn:aws:backup:us-east-1:000022224444:")
    assert event["detail"]["destinationRecoveryPointArn"].startswith(
        "arn:aws:backup:us-west-2:999977775555:"
    )
