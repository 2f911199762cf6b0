"""Read the copies themselves, in the backup account, through its read-only role.

The cut must know what each copy really is: whether it still exists and when AWS will delete
it. Copy job records cannot say (a copy can be deleted or re-timed later, and the Lambda
runtime's botocore may not even read a job's destination lifecycle, aws-facts.md §B.2), so the
tasks assume the backup account's `BackupEventsCopyReader-<region>` role, which may only list
and describe recovery points (design.md §2), and read the copy in its own vault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.aws import BackupClient, assumed_backup_client, call, copy_jobs_of, json_safe
from tasks.copies import CopyLookup, job_created, latest_completed_copy, matching_copy
from tasks.errors import (
    AccessDeniedException,
    CopyReaderUnavailable,
    InvalidInput,
    ResourceNotFoundException,
)
from tasks.inputs import RECOVERY_POINT_ARN, VAULT_ARN, Fields, parse_timestamp, vault_arn_parts

SESSION_NAME = "backup-events"


@dataclass(frozen=True)
class Original:
    """What identifies an original's copies: copies keep its resource and creation date."""

    recovery_point_arn: str
    vault_arn: str
    resource_arn: str
    creation_date: datetime


class CopyReader:
    """The backup account's copies, read as its read-only role, one client per Region."""

    def __init__(self, role_arn: str) -> None:
        self.role_arn = role_arn

    def client(self, region: str) -> BackupClient:
        try:
            return assumed_backup_client(self.role_arn, region, SESSION_NAME)
        except AccessDeniedException as error:
            raise CopyReaderUnavailable(
                f"Cannot assume {self.role_arn} to read the copies: {error}. Deploy the Backup "
                "Events template in the backup account in this Region; it creates that role."
            ) from error

    def describe(self, destination: str, recovery_point_arn: str) -> dict[str, Any] | None:
        """The copy as AWS describes it, or None when it no longer exists."""
        _, region, _, vault_name = vault_arn_parts(destination, "destination")
        try:
            described: dict[str, Any] = json_safe(
                call(
                    self.client(region).describe_recovery_point,
                    BackupVaultName=vault_name,
                    RecoveryPointArn=recovery_point_arn,
                )
            )
        except ResourceNotFoundException:
            return None
        except AccessDeniedException as error:
            raise CopyReaderUnavailable(
                f"{self.role_arn} may not read {destination}: {error}"
            ) from error
        return described

    def find(self, destination: str, original: Original) -> str | None:
        """The original's copy in the destination vault, found by what copies keep."""
        _, region, _, vault_name = vault_arn_parts(destination, "destination")
        kwargs: dict[str, Any] = {
            "BackupVaultName": vault_name,
            "ByResourceArn": original.resource_arn,
            "ByCreatedAfter": original.creation_date - timedelta(seconds=1),
            "ByCreatedBefore": original.creation_date + timedelta(seconds=1),
        }
        client = self.client(region)
        while True:
            try:
                page = call(client.list_recovery_points_by_backup_vault, **kwargs)
            except AccessDeniedException as error:
                raise CopyReaderUnavailable(
                    f"{self.role_arn} may not list {destination}: {error}"
                ) from error
            found = matching_copy(
                json_safe(page.get("RecoveryPoints", [])),
                resource_arn=original.resource_arn,
                creation_date=original.creation_date,
                source_vault_arn=original.vault_arn,
            )
            if found is not None or not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]


def look_up_copies(
    backup: BackupClient,
    reader: CopyReader,
    original: Original,
    destinations: Iterable[str],
    known: Mapping[str, str] | None = None,
) -> list[CopyLookup]:
    """Find and describe the original's copy in each destination.

    Where to look, in order: the copy this execution saw its job complete (`known`), the copy
    of the latest COMPLETED copy job AWS Backup still lists, and the destination vault itself
    (job records are not kept forever, aws-facts.md §B.2).
    """
    known = dict(known or {})
    jobs: list[Any] | None = None
    lookups: list[CopyLookup] = []
    for destination in destinations:
        arn = known.get(destination)
        if arn is None:
            if jobs is None:
                jobs = copy_jobs_of(
                    backup,
                    original.recovery_point_arn,
                    resource_arn=original.resource_arn,
                    created=original.creation_date,
                )
            arn = latest_completed_copy(jobs, original.recovery_point_arn, destination)
        described = None if arn is None else reader.describe(destination, arn)
        if described is None:
            # Nothing recorded, or the recorded copy is gone: the vault may still hold another
            # copy of this original (a plan's and this workflow's, say).
            found = reader.find(destination, original)
            if found is not None and found != arn:
                arn, described = found, reader.describe(destination, found)
            elif arn is None:
                arn = found
                described = None if found is None else reader.describe(destination, found)
        lookups.append(
            CopyLookup(destination, arn, described, _not_a_copy_of(original, arn, described))
        )
    return lookups


def _not_a_copy_of(
    original: Original, arn: str | None, described: Mapping[str, Any] | None
) -> str | None:
    """Why the recovery point found is not a copy of the original, or None when it is.

    A task's input can name any recovery point (an execution can be started by hand), and a
    copy keeps the original's resource and creation date and names its source vault (§B.1).
    """
    if described is None:
        return None
    created = described.get("CreationDate")
    same = (
        described.get("ResourceArn") == original.resource_arn
        and created is not None
        and job_created({"CreationDate": created}) == original.creation_date
        and described.get("SourceBackupVaultArn") in (None, original.vault_arn)
    )
    return None if same else f"{arn} is not a copy of {original.recovery_point_arn}"


def original_of(described: Mapping[str, Any]) -> Original:
    """The identity of an original, from DescribeRecoveryPoint (as AWS answered, or as JSON)."""
    created = described["CreationDate"]
    return Original(
        recovery_point_arn=str(described["RecoveryPointArn"]),
        vault_arn=str(described["BackupVaultArn"]),
        resource_arn=str(described["ResourceArn"]),
        creation_date=(
            created.astimezone(UTC)
            if isinstance(created, datetime)
            else parse_timestamp(created, "CreationDate")
        ),
    )


def original_from(fields: Fields, recovery_point_arn: str) -> Original:
    """The original as the state machine hands it over (the DescribeOriginal state's output)."""
    arn = fields.string("RecoveryPointArn", RECOVERY_POINT_ARN)
    if arn != recovery_point_arn:
        raise InvalidInput(f"Original.RecoveryPointArn is {arn}, not {recovery_point_arn}")
    return Original(
        recovery_point_arn=arn,
        vault_arn=fields.string("BackupVaultArn", VAULT_ARN),
        resource_arn=fields.string("ResourceArn"),
        creation_date=fields.timestamp("CreationDate"),
    )


def known_copies(value: Any) -> dict[str, str]:
    """{destination vault: copy} from the copy states' outputs the execution collected."""
    return {destination: arn for destination, (arn, _) in known_copy_details(value).items()}


def known_copy_details(value: Any) -> dict[str, tuple[str, datetime | None]]:
    """{destination vault: (copy, when its job completed)} from the copy states' outputs."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InvalidInput(f"KnownCopies: expected a list, got {value!r}")
    known: dict[str, tuple[str, datetime | None]] = {}
    for item in value:
        fields = Fields(item, "KnownCopies[]")
        arn = fields.optional_string("DestinationRecoveryPointArn", RECOVERY_POINT_ARN)
        if arn is not None:
            completed = fields.raw("CompletionDate")
            when = None if completed is None else fields.timestamp("CompletionDate")
            known[fields.string("DestinationBackupVaultArn", VAULT_ARN)] = (arn, when)
    return known
