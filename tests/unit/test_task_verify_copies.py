"""VerifyCopies against the twin: each destination must hold a usable copy, read in the backup
account through its read-only role, not inferred from events or copy job records.

Verification writes nothing; each test asserts so.
"""

from __future__ import annotations

import pytest

from tasks.errors import CopiesNotYetVisible, CopyReaderUnavailable
from tests.unit.conftest import DAY, World


def test_both_copies_are_verified_from_the_copies_themselves(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    known = world.copy_both(original)
    with world.nothing_written():
        result = world.run("VerifyCopies", world.verify_input(original, known))
    assert result == {
        "Verified": True,
        "Copies": [
            {
                "DestinationBackupVaultArn": world.destinations[n],
                "RecoveryPointArn": world.copy_of(original, n),
                "Status": "COMPLETED",
                "Lifecycle": {"DeleteAfterDays": 35},
                "DeleteAt": "2026-12-25T05:00:00Z",
            }
            for n in (0, 1)
        ],
        "Missing": [],
        "Unusable": [],
    }


def test_copies_reads_go_through_the_backup_accounts_reader_role(world: World) -> None:
    original = world.backup()
    known = world.copy_both(original)
    verify = world.verify_input(original, known)
    calls = len(world.twin.backup.calls)
    world.run("VerifyCopies", verify)
    reads = world.twin.backup.calls[calls:]
    assert reads
    assert {(c.account, c.principal) for c in reads} == {
        (world.settings.backup_account, world.reader_role_arn)
    }


def test_a_plans_copies_are_found_from_their_jobs(world: World) -> None:
    # The plan path knows no copies of its own: KnownCopies is empty.
    original = world.backup()
    world.copy_both(original)
    result = world.run("VerifyCopies", world.verify_input(original, []))
    assert result["Verified"] is True


def test_copies_whose_jobs_aws_no_longer_lists_are_found_in_their_vaults(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    copies = [world.copy_of(original, n) for n in (0, 1)]
    world.forget_copy_jobs(original)
    result = world.run("VerifyCopies", world.verify_input(original, []))
    assert result["Verified"] is True
    assert [c["RecoveryPointArn"] for c in result["Copies"]] == copies


@pytest.mark.parametrize("path", ["plan copy", "own copies"])
def test_a_copy_still_on_its_way_is_reported_missing(world: World, path: str) -> None:
    # A plan's second copy can wait in CREATED for hours (one job per resource, aws-facts.md
    # §B.1): the first copy's execution must end waiting for it (design.md §3, branch 2).
    original = world.backup()
    first = world.copy_one(original, 0)
    world.twin.backup.on_copy(hold=True)
    world.run("StartCopyJob", world.copy_input(original, destination=1))
    known = [] if path == "plan copy" else [first]
    with world.nothing_written():
        result = world.run("VerifyCopies", world.verify_input(original, known))
    assert result["Verified"] is False
    assert result["Missing"] == [world.destinations[1]]
    assert result["Unusable"] == []


def test_a_copy_someone_deleted_is_unusable_not_missing(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    deleted = world.copy_of(original, 1)
    world.delete(deleted)
    with world.nothing_written():
        result = world.run("VerifyCopies", world.verify_input(original, []))
    assert result["Verified"] is False
    assert result["Missing"] == []
    assert result["Unusable"] == [f"the copy {deleted} in {world.destinations[1]} no longer exists"]


def test_a_copy_this_execution_saw_complete_moments_ago_but_cannot_read_is_not_yet_visible(
    world: World,
) -> None:
    # AWS's answers can lag a finished job: the state machine retries this for a while.
    original = world.backup()
    known = [world.copy_one(original, 0)]
    copy = world.run("StartCopyJob", world.copy_input(original, 1))
    world.twin.clock.advance(31 * 60)  # the copy takes 30 minutes
    known.append(world.run("DescribeCopyJob", world.wait_input(original, copy, 31 * 60)))
    world.delete(world.copy_of(original, 1))
    with world.nothing_written(), pytest.raises(CopiesNotYetVisible) as raised:
        world.run("VerifyCopies", world.verify_input(original, known))
    assert world.copy_of(original, 1) in str(raised.value)


def test_a_copy_this_execution_saw_complete_long_ago_and_cannot_read_is_gone(
    world: World,
) -> None:
    original = world.backup()
    known = world.copy_both(original)  # the second completed 30 minutes ago
    deleted = world.copy_of(original, 1)
    world.delete(deleted)
    with world.nothing_written():
        result = world.run("VerifyCopies", world.verify_input(original, known))
    assert result["Verified"] is False
    assert result["Unusable"] == [f"the copy {deleted} in {world.destinations[1]} no longer exists"]


def test_a_copy_whose_retention_someone_cut_short_is_unusable_once_expired(
    world: World,
) -> None:
    original = world.backup()
    known = world.copy_both(original)
    world.twin.clock.advance(2 * DAY)
    shortened = world.copy_of(original, 0)
    world.set_lifecycle(shortened, {"DeleteAfterDays": 1})  # older than that: it expires now
    result = world.run("VerifyCopies", world.verify_input(original, known))
    assert result["Verified"] is False
    [problem] = result["Unusable"]
    assert problem.startswith(f"the copy {shortened} is DELETING")


def test_copies_of_another_backup_are_not_this_ones(world: World) -> None:
    copied = world.backup()
    known = world.copy_both(copied)
    uncopied = world.backup()
    with world.nothing_written():
        result = world.run("VerifyCopies", world.verify_input(uncopied, known))
    assert result["Verified"] is False
    assert result["Unusable"] == [
        f"{world.copy_of(copied, n)} is not a copy of {uncopied}" for n in (0, 1)
    ]


def test_copies_that_cannot_be_read_stop_verification_by_name(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    world.forget_copy_jobs(original)
    with (
        world.narrow_reader("backup:DescribeRecoveryPoint"),  # may no longer list the vault
        world.nothing_written(),
        pytest.raises(CopyReaderUnavailable, match="may not list"),
    ):
        world.run("VerifyCopies", world.verify_input(original, []))
