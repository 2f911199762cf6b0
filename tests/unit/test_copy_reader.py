"""Reading the copies themselves in the backup account (tasks/copy_reader.py), against the twin.

Where a copy is looked for, in order: the copy this execution saw complete, the copy of the
latest COMPLETED job AWS still lists, then the destination vault by what copies keep of their
original (resource, creation date, source vault). Every test here only reads; one twin serves
the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT, acting_as
from tasks.aws import backup_client
from tasks.copy_reader import (
    CopyReader,
    Original,
    known_copies,
    look_up_copies,
    original_from,
    original_of,
)
from tasks.errors import CopyReaderUnavailable, InvalidInput
from tasks.inputs import Fields
from tests.unit.conftest import World


@dataclass(frozen=True)
class Held:
    """What the module's twin holds, made once."""

    world: World
    copied: str  # both copies made by the workflow's tasks
    copies: tuple[str, str]
    forgotten: str  # both copies made, their jobs gone from AWS's history
    forgotten_copies: tuple[str, str]
    uncopied: str


@pytest.fixture(scope="module")
def held(shared_world: World) -> Held:
    world = shared_world
    copied = world.backup()
    world.copy_both(copied)
    forgotten = world.backup()
    world.copy_both(forgotten)
    forgotten_copies = (world.copy_of(forgotten, 0), world.copy_of(forgotten, 1))
    world.forget_copy_jobs(forgotten)
    return Held(
        world,
        copied,
        (world.copy_of(copied, 0), world.copy_of(copied, 1)),
        forgotten,
        forgotten_copies,
        world.backup(),
    )


@pytest.fixture
def as_task(held: Held) -> Iterator[None]:
    """Run as the task functions do, and check that reading wrote nothing."""
    with (
        acting_as(RESOURCE_ACCOUNT, held.world.role_of("VerifyCopies")),
        held.world.nothing_written(),
    ):
        yield


def original(held: Held, arn: str) -> Original:
    """The original as the workflow's DescribeRecoveryPoint task hands it to the others."""
    with acting_as(RESOURCE_ACCOUNT, held.world.role_of("DescribeRecoveryPoint")):
        described = backup_client(MAIN_REGION).describe_recovery_point(
            BackupVaultName=held.world.settings.vault_name, RecoveryPointArn=arn
        )
    return original_of(described)


def look_up(held: Held, arn: str, known: dict[str, str] | None = None) -> list[Any]:
    return look_up_copies(
        backup_client(MAIN_REGION),
        CopyReader(held.world.reader_role_arn),
        original(held, arn),
        held.world.destinations,
        known,
    )


@pytest.mark.usefixtures("as_task")
def test_copies_are_found_from_their_completed_jobs(held: Held) -> None:
    found = look_up(held, held.copied)
    assert [(x.destination, x.recovery_point_arn) for x in found] == list(
        zip(held.world.destinations, held.copies, strict=True)
    )
    assert [x.described["Lifecycle"] for x in found] == [{"DeleteAfterDays": 35}] * 2
    # Read in the backup account, where the copies are.
    assert {x.described["BackupVaultArn"] for x in found} == set(held.world.destinations)


@pytest.mark.usefixtures("as_task")
def test_copies_whose_jobs_are_forgotten_are_found_in_their_vaults(held: Held) -> None:
    found = look_up(held, held.forgotten)
    assert tuple(x.recovery_point_arn for x in found) == held.forgotten_copies
    assert all(x.described is not None for x in found)


@pytest.mark.usefixtures("as_task")
def test_the_copy_this_execution_saw_is_the_one_read(held: Held) -> None:
    calls = len(held.world.twin.backup.calls)
    found = look_up(held, held.copied, dict(zip(held.world.destinations, held.copies, strict=True)))
    assert tuple(x.recovery_point_arn for x in found) == held.copies
    # Nothing else was asked: no job listing, no vault listing.
    assert [c.operation for c in held.world.twin.backup.calls[calls:]] == [
        "describe_recovery_point",  # the original, by this test
        "describe_recovery_point",
        "describe_recovery_point",
    ]


@pytest.mark.usefixtures("as_task")
def test_a_recorded_copy_that_is_gone_gives_way_to_the_copy_in_the_vault(held: Held) -> None:
    # A copy the execution recorded no longer answers, but the vault holds the original's copy.
    gone = held.copies[0].rsplit(":", 1)[0] + ":00000000-0000-4000-8000-000000000000"
    found = look_up(held, held.copied, {held.world.destinations[0]: gone})
    assert found[0].recovery_point_arn == held.copies[0]
    assert found[0].described is not None


@pytest.mark.usefixtures("as_task")
def test_a_recorded_copy_that_is_gone_with_nothing_in_the_vault_is_named_gone(held: Held) -> None:
    gone = held.copies[0].rsplit(":", 1)[0] + ":00000000-0000-4000-8000-000000000000"
    found = look_up(held, held.uncopied, {held.world.destinations[0]: gone})
    assert (found[0].recovery_point_arn, found[0].described) == (gone, None)
    assert (found[1].recovery_point_arn, found[1].described) == (None, None)


@pytest.mark.usefixtures("as_task")
def test_a_recorded_copy_of_another_backup_is_named_as_not_a_copy(held: Held) -> None:
    # An input can name any recovery point; a copy keeps its original's resource and creation
    # date and names its source vault (aws-facts.md §B.1), so a stranger is recognised.
    found = look_up(held, held.uncopied, {held.world.destinations[0]: held.copies[0]})
    assert found[0].recovery_point_arn == held.copies[0]
    assert found[0].mismatch == f"{held.copies[0]} is not a copy of {held.uncopied}"
    assert found[1].mismatch is None


@pytest.mark.usefixtures("as_task")
def test_a_backup_never_copied_has_no_copies(held: Held) -> None:
    found = look_up(held, held.uncopied)
    assert [(x.recovery_point_arn, x.described) for x in found] == [(None, None), (None, None)]


@pytest.mark.usefixtures("as_task")
def test_a_copy_the_reader_may_not_describe_is_named_by_the_reader(held: Held) -> None:
    with (
        held.world.narrow_reader("backup:ListRecoveryPointsByBackupVault"),
        pytest.raises(CopyReaderUnavailable, match="may not read"),
    ):
        CopyReader(held.world.reader_role_arn).describe(held.world.destinations[0], held.copies[0])


# --- Inputs ----------------------------------------------------------------------------------

ARN = "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51"
VAULT = "arn:aws:backup:us-east-1:000022224444:backup-vault:BackupEvents-Sample"
WEST = "arn:aws:backup:us-west-2:999977775555:backup-vault:BackupEvents-Sample"
DESCRIBED = {
    "RecoveryPointArn": ARN,
    "BackupVaultArn": VAULT,
    "ResourceArn": "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-1",
    "CreationDate": "2026-11-20T05:00:00Z",
}
EXPECTED = Original(ARN, VAULT, DESCRIBED["ResourceArn"], datetime(2026, 11, 20, 5, 0, tzinfo=UTC))


def test_the_original_is_read_from_aws_answer_or_from_the_state_machine() -> None:
    assert original_of(DESCRIBED) == EXPECTED
    local = datetime(2026, 11, 20, 19, 0, tzinfo=timezone(timedelta(hours=14)))
    assert original_of({**DESCRIBED, "CreationDate": local}) == EXPECTED
    assert original_from(Fields(DESCRIBED, "input.Original"), ARN) == EXPECTED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"RecoveryPointArn": ARN + "0"}, "is .*0, not "),
        ({"BackupVaultArn": "BackupEvents-Sample"}, "input.Original.BackupVaultArn"),
        ({"ResourceArn": None}, "input.Original.ResourceArn is required"),
        ({"CreationDate": "yesterday"}, "input.Original.CreationDate"),
    ],
)
def test_an_original_of_another_backup_or_malformed_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        original_from(Fields({**DESCRIBED, **changes}, "input.Original"), ARN)


def test_known_copies_are_the_completed_ones_the_execution_collected() -> None:
    copy = "arn:aws:backup:us-west-2:999977775555:recovery-point:11111111-2222"
    collected = [
        {"DestinationBackupVaultArn": WEST, "DestinationRecoveryPointArn": copy},
        {"DestinationBackupVaultArn": WEST.replace("us-west-2", "us-east-1")},  # not done
    ]
    assert known_copies(collected) == {WEST: copy}
    assert known_copies(None) == {}
    assert known_copies([]) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "KnownCopies: expected a list"),
        (["x"], "KnownCopies\\[\\]: expected a JSON object"),
        ([{"DestinationRecoveryPointArn": WEST}], "not valid here"),
        (
            [{"DestinationRecoveryPointArn": ARN, "DestinationBackupVaultArn": "vault"}],
            "DestinationBackupVaultArn",
        ),
    ],
)
def test_malformed_known_copies_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        known_copies(value)
