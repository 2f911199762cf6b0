"""Gather, for every original in the watched vault, what tasks/needs.py decides from.

One pass per source, not one call per backup, so a vault of 10,000 recovery points costs a
few dozen calls (design.md §5b): the originals (ListRecoveryPointsByBackupVault), their copy
jobs (ListCopyJobs since the horizon), the copies in each destination (the backup account's
vault listings, through the read-only role), the cut ledger (one Scan), and the executions of
the workflow that are running or failed (ListExecutions, then DescribeExecution for their
inputs). The reconciliation task and the operator's backfill and status commands all call
`survey`, so they judge every backup alike.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tasks.aws import BackupClient, call, json_safe
from tasks.copies import CopyLookup, job_created
from tasks.copy_reader import CopyReader
from tasks.errors import FINAL_ERRORS
from tasks.inputs import RECOVERY_POINT_ARN, vault_arn_parts
from tasks.ledger import CutRecord
from tasks.needs import Facts, Need, Settings, what_it_needs

# RedriveExecution works within 14 days of an execution closing (docs/aws-facts.md §C.3).
REDRIVE_WINDOW = timedelta(days=14)
UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Place:
    partition: str
    account: str
    region: str


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    status: str
    recovery_point_arn: str | None
    error: str | None = None
    redrive_count: int = 0
    stopped: datetime | None = None


@dataclass
class Survey:
    needs: list[Need]
    running: dict[str, str] = field(default_factory=dict)  # recovery point -> execution
    failed: list[Execution] = field(default_factory=list)  # unsuccessful, within 14 days

    def by_action(self, action: str) -> list[Need]:
        return [n for n in self.needs if n.action == action]


def pages(operation: Callable[..., Any], items: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paged AWS listing, as JSON."""
    while True:
        page = call(operation, **kwargs)
        yield from json_safe(page.get(items, []))
        token = page.get("NextToken") or page.get("nextToken")
        if not token:
            return
        kwargs["NextToken" if "NextToken" in page else "nextToken"] = token


def _copy_key(point: Mapping[str, Any]) -> tuple[str, datetime, str]:
    return (
        str(point.get("ResourceArn")),
        job_created(point),
        str(point.get("SourceBackupVaultArn")),
    )


def execution_point(raw_input: str | None) -> str | None:
    """The recovery point an execution's input is about (AWS's events and this product's)."""
    try:
        event = json.loads(raw_input or "")
    except ValueError:
        return None
    resources = event.get("resources") if isinstance(event, dict) else None
    if isinstance(resources, list) and resources and isinstance(resources[0], str):
        return resources[0] if RECOVERY_POINT_ARN.fullmatch(resources[0]) else None
    return None


def executions(sfn: Any, state_machine_arn: str, since: datetime) -> list[Execution]:
    """RUNNING executions, and unsuccessful ones that closed since `since`."""
    found: list[Execution] = []
    for status in ("RUNNING", *UNSUCCESSFUL):
        for listed in pages(
            sfn.list_executions,
            "executions",
            stateMachineArn=state_machine_arn,
            statusFilter=status,
        ):
            stopped = listed.get("stopDate")
            stop = None if stopped is None else job_created({"CreationDate": stopped})
            if stop is not None and stop < since:
                continue
            described = call(sfn.describe_execution, executionArn=listed["executionArn"])
            found.append(
                Execution(
                    arn=listed["executionArn"],
                    name=listed["name"],
                    status=str(described["status"]),
                    recovery_point_arn=execution_point(described.get("input")),
                    error=described.get("error"),
                    redrive_count=int(described.get("redriveCount") or 0),
                    stopped=stop,
                )
            )
    return found


def survey(
    backup: BackupClient,
    reader: CopyReader,
    dynamodb: Any,
    sfn: Any,
    *,
    settings: Settings,
    place: Place,
    state_machine_arn: str,
    ledger_table: str,
    since: datetime,
    now: datetime,
) -> Survey:
    deployment = settings.deployment
    vault_arn = (
        f"arn:{place.partition}:backup:{place.region}:{place.account}:backup-vault:"
        f"{deployment.vault_name}"
    )
    originals = list(
        pages(
            backup.list_recovery_points_by_backup_vault,
            "RecoveryPoints",
            BackupVaultName=deployment.vault_name,
            ByCreatedAfter=since,
        )
    )
    jobs: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for job in pages(
        backup.list_copy_jobs,
        "CopyJobs",
        ByCreatedAfter=since - timedelta(hours=1),
        MaxResults=1000,
    ):
        if job.get("SourceBackupVaultArn") == vault_arn:
            jobs[str(job.get("SourceRecoveryPointArn"))].append(job)
    destinations = deployment.destinations(place.partition, place.region)
    # Without the copies nothing can be judged: CopyReaderUnavailable goes to the caller
    # rather than every backup looking uncopied.
    copies: dict[str, dict[tuple[str, datetime, str], Mapping[str, Any]]] = {}
    for destination in destinations:
        _, region, _, vault_name = vault_arn_parts(destination, "destination")
        copies[destination] = {
            _copy_key(p): p
            for p in pages(
                reader.client(region).list_recovery_points_by_backup_vault,
                "RecoveryPoints",
                BackupVaultName=vault_name,
                ByCreatedAfter=since,
            )
        }
    records = ledger_records(dynamodb, ledger_table)
    listed = executions(sfn, state_machine_arn, since)
    running = {
        e.recovery_point_arn: e.arn
        for e in listed
        if e.status == "RUNNING" and e.recovery_point_arn is not None
    }
    needs: list[Need] = []
    for point in originals:
        arn = str(point["RecoveryPointArn"])
        key = (str(point.get("ResourceArn")), job_created(point), vault_arn)
        lookups = None
        if copies:
            lookups = {}
            for destination in destinations:
                found = copies[destination].get(key)
                lookups[destination] = CopyLookup(
                    destination,
                    None if found is None else str(found["RecoveryPointArn"]),
                    found,
                )
        facts = Facts(
            point=point,
            copy_jobs=tuple(jobs.get(arn, ())),
            copies=lookups,
            record=records.get(arn),
            running=running.get(arn),
        )
        needs.append(
            what_it_needs(facts, settings, partition=place.partition, region=place.region, now=now)
        )
    failed = [e for e in listed if e.status in UNSUCCESSFUL]
    return Survey(needs=needs, running=running, failed=failed)


def ledger_records(dynamodb: Any, table: str) -> dict[str, CutRecord]:
    """The whole cut ledger (one item per original ever cut; a Scan reads 1 MB a page)."""
    records: dict[str, CutRecord] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = call(dynamodb.scan, **kwargs)
        for item in page.get("Items", []):
            record = CutRecord.from_item(item)
            records[record.recovery_point_arn] = record
        if not page.get("LastEvaluatedKey"):
            return records
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def redrivable(execution: Execution, limit: int, now: datetime) -> bool:
    """Failed on a transient error, closed within 14 days, redriven fewer than `limit` times."""
    return (
        execution.error not in FINAL_ERRORS
        and execution.redrive_count < limit
        and (execution.stopped is None or now - execution.stopped <= REDRIVE_WINDOW)
    )
