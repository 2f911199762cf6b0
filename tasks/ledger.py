"""The cut ledger: a durable note, per original, of the retention this product gave it.

A cut is marked in a DynamoDB table of the resource account and Region, not in the recovery
point's tags: AWS Backup tags only recovery points whose ARN is an AWS Backup ARN, not the EBS,
EC2 or RDS snapshots it also keeps (aws-facts.md §B.10). The mark is written in two phases:
CUTTING with the target before UpdateRecoveryPointLifecycle, CUT after. Whatever a crash
leaves behind, the next run can tell "not written yet", "written" and "changed by someone
since", and only the last stops it (design.md §5, rule 8).

Items use DynamoDB's typed JSON (`{"S": ...}`, `{"N": ...}`), as the low-level client reads
and writes them; the two calls at the end take the client as an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tasks.aws import call
from tasks.retention import NEVER, Lifecycle

State = Literal["CUTTING", "CUT"]
STATES: tuple[State, ...] = ("CUTTING", "CUT")
KEY = "RecoveryPointArn"


@dataclass(frozen=True)
class CutRecord:
    """What the ledger holds for one original. None as a day count means "never expires"."""

    recovery_point_arn: str
    state: State
    delete_after_days: int
    old_delete_after_days: int | None
    at: str
    execution: str | None = None
    backup_size_bytes: int | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            KEY: {"S": self.recovery_point_arn},
            "State": {"S": self.state},
            "DeleteAfterDays": {"N": str(self.delete_after_days)},
            "At": {"S": self.at},
        }
        if self.old_delete_after_days is not None:
            item["OldDeleteAfterDays"] = {"N": str(self.old_delete_after_days)}
        if self.execution is not None:
            item["Execution"] = {"S": self.execution}
        if self.backup_size_bytes is not None:
            item["BackupSizeInBytes"] = {"N": str(self.backup_size_bytes)}
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CutRecord:
        """Read an item back; anything malformed is an error, never a guess."""

        def text(name: str) -> str | None:
            value = item.get(name)
            if value is None:
                return None
            if not isinstance(value, Mapping) or not isinstance(value.get("S"), str):
                raise ValueError(f"ledger item {name} is not a string attribute: {value!r}")
            return str(value["S"])

        def number(name: str) -> int | None:
            value = item.get(name)
            if value is None:
                return None
            raw = value.get("N") if isinstance(value, Mapping) else None
            if not isinstance(raw, str) or not raw.lstrip("-").isdecimal():
                raise ValueError(f"ledger item {name} is not a whole number: {value!r}")
            return int(raw)

        arn, state, at = text(KEY), text("State"), text("At")
        days = number("DeleteAfterDays")
        if arn is None or state not in STATES or at is None or days is None:
            raise ValueError(f"ledger item is incomplete: {dict(item)!r}")
        return cls(
            recovery_point_arn=arn,
            state="CUT" if state == "CUT" else "CUTTING",
            delete_after_days=days,
            old_delete_after_days=number("OldDeleteAfterDays"),
            at=at,
            execution=text("Execution"),
            backup_size_bytes=number("BackupSizeInBytes"),
        )


def _retained_days(lifecycle: Lifecycle) -> int | None:
    days = lifecycle.delete_after_days
    return None if days is None or days == NEVER else days


@dataclass(frozen=True)
class PriorCut:
    """What an earlier cut means for this one: go ahead (maybe finishing it), or stop."""

    proceed: bool
    reason: str
    finished: bool = False  # a CUTTING record whose write did happen: mark it CUT


def check_prior_cut(record: CutRecord | None, current: Lifecycle) -> PriorCut:
    """Never shorten again a retention someone lengthened after this product cut it.

    CUT to D: a current retention of at most D is the cut itself (or someone shortened it
    further); anything longer was lengthened by a person. CUTTING to D from O: the write may or
    may not have happened; D means it did, O that it did not, anything else that someone
    changed it in between, which is treated like a lengthening.
    """
    if record is None:
        return PriorCut(True, "No earlier cut is recorded.")
    now_days, target = _retained_days(current), record.delete_after_days
    if record.state == "CUT":
        if now_days is not None and now_days <= target:
            return PriorCut(True, f"Cut to {target} days on {record.at}; unchanged since.")
        return PriorCut(
            False,
            f"This product cut the retention to {target} days on {record.at}, and it is now "
            f"{_retained_text(now_days)}: someone lengthened it after the cut, so it is left "
            "as it is.",
        )
    if now_days == target:
        return PriorCut(True, f"The cut to {target} days on {record.at} was written.", True)
    if now_days == record.old_delete_after_days:
        return PriorCut(True, f"The cut to {target} days started on {record.at} was not written.")
    return PriorCut(
        False,
        f"A cut from {_retained_text(record.old_delete_after_days)} to {target} days started on "
        f"{record.at}, and the retention is now {_retained_text(now_days)}: someone changed it "
        "since, so it is left as it is.",
    )


def _retained_text(days: int | None) -> str:
    return "no expiry" if days is None else f"{days} days"


def record_for(
    recovery_point_arn: str,
    state: State,
    target: int,
    old: Lifecycle,
    at: datetime,
    *,
    execution: str | None,
    backup_size_bytes: int | None,
) -> CutRecord:
    return CutRecord(
        recovery_point_arn=recovery_point_arn,
        state=state,
        delete_after_days=target,
        old_delete_after_days=_retained_days(old),
        at=at.isoformat().replace("+00:00", "Z"),
        execution=execution,
        backup_size_bytes=backup_size_bytes,
    )


def read_record(dynamodb: Any, table: str, recovery_point_arn: str) -> CutRecord | None:
    """The ledger's record of one original (strongly consistent: a cut may have just ended)."""
    answer = call(
        dynamodb.get_item,
        TableName=table,
        Key={KEY: {"S": recovery_point_arn}},
        ConsistentRead=True,
    )
    item = answer.get("Item")
    return None if item is None else CutRecord.from_item(item)


def write_record(dynamodb: Any, table: str, record: CutRecord) -> None:
    call(dynamodb.put_item, TableName=table, Item=record.to_item())
