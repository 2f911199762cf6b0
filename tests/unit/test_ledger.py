"""The cut ledger (design.md §5, "The cut ledger"): what an earlier cut means for this one.

Every row of the design's table is a case here: a retention someone lengthened after the cut is
never shortened again, a cut whose write may or may not have happened is finished or redone,
never guessed. Records go to DynamoDB and back in its typed JSON; a malformed one is an error,
never a default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tasks.errors import ResourceNotFoundException
from tasks.ledger import (
    CutRecord,
    PriorCut,
    check_prior_cut,
    read_record,
    record_for,
    write_record,
)
from tasks.retention import NEVER, Lifecycle

ARN = "arn:aws:backup:us-east-1:000022224444:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
AT = "2026-11-20T08:00:00Z"


def cut(days: int, old: int | None = 35) -> CutRecord:
    return CutRecord(ARN, "CUT", days, old, AT, "exec-1", 36048)


def cutting(days: int, old: int | None = 35) -> CutRecord:
    return CutRecord(ARN, "CUTTING", days, old, AT, "exec-1", 36048)


def now_kept(days: int | None) -> Lifecycle:
    return Lifecycle(delete_after_days=days)


# --- check_prior_cut: the design's table, row by row ---------------------------------------


def test_never_cut_goes_ahead() -> None:
    assert check_prior_cut(None, now_kept(35)) == PriorCut(True, "No earlier cut is recorded.")


@pytest.mark.parametrize("current", [8, 5, 1])
def test_cut_and_unchanged_or_shortened_further_goes_ahead(current: int) -> None:
    prior = check_prior_cut(cut(8), now_kept(current))
    assert prior.proceed
    assert not prior.finished
    assert "Cut to 8 days on 2026-11-20T08:00:00Z" in prior.reason


@pytest.mark.parametrize(
    ("current", "shown"), [(9, "9 days"), (35, "35 days"), (None, "no expiry")]
)
def test_cut_then_lengthened_by_a_person_stops(current: int | None, shown: str) -> None:
    prior = check_prior_cut(cut(8), now_kept(current))
    assert not prior.proceed
    assert prior.reason == (
        f"This product cut the retention to 8 days on {AT}, and it is now {shown}: someone "
        "lengthened it after the cut, so it is left as it is."
    )


def test_cut_then_set_to_keep_forever_stops() -> None:
    assert not check_prior_cut(cut(8), now_kept(NEVER)).proceed


def test_cutting_whose_write_happened_goes_ahead_and_is_marked_finished() -> None:
    prior = check_prior_cut(cutting(8), now_kept(8))
    assert prior == PriorCut(True, f"The cut to 8 days on {AT} was written.", finished=True)


@pytest.mark.parametrize(("old", "current"), [(35, 35), (None, None), (None, NEVER)])
def test_cutting_whose_write_did_not_happen_cuts_again(
    old: int | None, current: int | None
) -> None:
    prior = check_prior_cut(cutting(8, old=old), now_kept(current))
    assert prior.proceed
    assert not prior.finished
    assert "was not written" in prior.reason


@pytest.mark.parametrize("current", [20, 60, 5, None])
def test_cutting_then_changed_by_a_person_meanwhile_stops(current: int | None) -> None:
    prior = check_prior_cut(cutting(8, old=35), now_kept(current))
    assert not prior.proceed
    assert "from 35 days to 8 days" in prior.reason
    assert "someone changed it since" in prior.reason


def test_cutting_from_no_expiry_names_it_so() -> None:
    prior = check_prior_cut(cutting(8, old=None), now_kept(20))
    assert "A cut from no expiry to 8 days" in prior.reason


# --- record_for --------------------------------------------------------------------------


def test_a_record_carries_the_target_the_old_days_the_time_and_the_execution() -> None:
    record = record_for(
        ARN,
        "CUTTING",
        8,
        Lifecycle(delete_after_days=35, move_to_cold_storage_after_days=None),
        datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        execution="exec-1",
        backup_size_bytes=36048,
    )
    assert record == cutting(8)


@pytest.mark.parametrize("never", [None, NEVER])
def test_a_never_expiring_original_is_recorded_without_old_days(never: int | None) -> None:
    record = record_for(
        ARN,
        "CUT",
        8,
        Lifecycle(delete_after_days=never),
        datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        execution=None,
        backup_size_bytes=None,
    )
    assert record.old_delete_after_days is None
    # ...so a later run that finds "no expiry" again reads it as the write not having happened.
    assert check_prior_cut(replace(record, state="CUTTING"), Lifecycle(never)).proceed


# --- DynamoDB items ------------------------------------------------------------------------


def test_a_record_becomes_a_typed_item_and_back() -> None:
    item = cutting(8).to_item()
    assert item == {
        "RecoveryPointArn": {"S": ARN},
        "State": {"S": "CUTTING"},
        "DeleteAfterDays": {"N": "8"},
        "At": {"S": AT},
        "OldDeleteAfterDays": {"N": "35"},
        "Execution": {"S": "exec-1"},
        "BackupSizeInBytes": {"N": "36048"},
    }
    assert CutRecord.from_item(item) == cutting(8)


def test_optional_fields_are_left_out_of_the_item() -> None:
    record = CutRecord(ARN, "CUT", 8, None, AT)
    assert set(record.to_item()) == {"RecoveryPointArn", "State", "DeleteAfterDays", "At"}
    assert CutRecord.from_item(record.to_item()) == record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"State": {"S": "DONE"}}, "incomplete"),
        ({"State": None}, "incomplete"),
        ({"At": None}, "incomplete"),
        ({"DeleteAfterDays": None}, "incomplete"),
        ({"RecoveryPointArn": {"N": "1"}}, "RecoveryPointArn is not a string attribute"),
        ({"DeleteAfterDays": {"N": "8.5"}}, "DeleteAfterDays is not a whole number"),
        ({"DeleteAfterDays": {"S": "8"}}, "DeleteAfterDays is not a whole number"),
        ({"OldDeleteAfterDays": "35"}, "OldDeleteAfterDays is not a whole number"),
        ({"Execution": {"S": 1}}, "Execution is not a string attribute"),
    ],
)
def test_a_malformed_item_is_an_error_never_a_guess(change: dict[str, Any], message: str) -> None:
    item = {k: v for k, v in {**cutting(8).to_item(), **change}.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        CutRecord.from_item(item)


# --- read_record and write_record against DynamoDB ----------------------------------------

LEDGER_TABLE = "ledger"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """The resource account's ledger table in the twin (its own, shared by this module)."""
    with Twin() as twin:
        dynamodb = twin.client("dynamodb", RESOURCE_ACCOUNT, MAIN_REGION)
        dynamodb.create_table(
            TableName=LEDGER_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "RecoveryPointArn", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "RecoveryPointArn", "KeyType": "HASH"}],
        )
        yield dynamodb


def test_a_written_record_is_read_back(dynamodb: Any) -> None:
    record = CutRecord(ARN + "-rw", "CUTTING", 8, 35, AT, "exec-1", 36048)
    write_record(dynamodb, LEDGER_TABLE, record)
    assert read_record(dynamodb, LEDGER_TABLE, record.recovery_point_arn) == record
    # The second phase replaces the first: one item per original.
    write_record(dynamodb, LEDGER_TABLE, replace(record, state="CUT"))
    assert read_record(dynamodb, LEDGER_TABLE, record.recovery_point_arn) == replace(
        record, state="CUT"
    )


def test_an_original_never_cut_has_no_record(dynamodb: Any) -> None:
    assert read_record(dynamodb, LEDGER_TABLE, ARN + "-never") is None


def test_the_record_is_read_consistently(dynamodb: Any) -> None:
    # A cut may have ended a moment ago in another execution; an eventually consistent read
    # could miss it and cut a lengthened retention again.
    asked: dict[str, Any] = {}

    class Recording:
        def get_item(self, **request: Any) -> Any:
            asked.update(request)
            return dynamodb.get_item(**request)

    read_record(Recording(), LEDGER_TABLE, ARN)
    assert asked["ConsistentRead"] is True
    assert asked["Key"] == {"RecoveryPointArn": {"S": ARN}}


def test_a_missing_ledger_table_is_a_named_error(dynamodb: Any) -> None:
    with pytest.raises(ResourceNotFoundException):
        read_record(dynamodb, "NoSuchTable", ARN)
