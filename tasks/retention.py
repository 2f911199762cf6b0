"""The retention cut: how far an original recovery point's retention may be shortened.

This is the one piece of the product that deletes customer data early on purpose, so it is kept
pure (no boto3, no clock, no I/O) and every rule is a tested property; see docs/design.md §5 and
aws-facts.md §B.3-§B.5. Anything that cannot be decided with certainty is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "COLD_MINIMUM_DAYS",
    "MAX_DAYS",
    "NEVER",
    "CopiesCheck",
    "ExpiryUnknown",
    "Lifecycle",
    "RecoveryPoint",
    "RetentionDecision",
    "age_in_days",
    "copies_outlive",
    "copy_expiry",
    "decide_retention_cut",
    "original_expiry",
]

# AWS Backup's "keep forever" / "never move to cold" value for both day counts.
NEVER = -1
# AWS bills and enforces at least 90 days in cold storage (DeleteAfterDays >= cold day + 90).
COLD_MINIMUM_DAYS = 90
# AWS rejects any lifecycle outside 1..36500 days, so neither input nor output may leave it.
MAX_DAYS = 36500

ELIGIBLE_STATUSES = frozenset({"COMPLETED", "AVAILABLE"})
WARM = "WARM"
COLD = "COLD"

_DAY = timedelta(days=1)

# PascalCase API name -> dataclass field. Kept in one place so from_api and to_api cannot drift.
_API_FIELDS = {
    "DeleteAfterDays": "delete_after_days",
    "MoveToColdStorageAfterDays": "move_to_cold_storage_after_days",
    "OptInToArchiveForSupportedResources": "opt_in_to_archive_for_supported_resources",
    "DeleteAfterEvent": "delete_after_event",
}
# AWS documents DeleteAfterEvent as "Not valid as an input": sending it back would be rejected.
_OUTPUT_ONLY = frozenset({"DeleteAfterEvent"})


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would be silently read as local time, which moves the cut by hours.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    # bool is an int subclass; True would otherwise pass as 1 day.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"Lifecycle.{key} must be an integer, got {value!r}")


def _optional_bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"Lifecycle.{key} must be a boolean, got {value!r}")


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"Lifecycle.{key} must be a string, got {value!r}")


@dataclass(frozen=True)
class Lifecycle:
    """An AWS Backup Lifecycle. None means AWS did not report the field."""

    delete_after_days: int | None = None
    move_to_cold_storage_after_days: int | None = None
    opt_in_to_archive_for_supported_resources: bool | None = None
    delete_after_event: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any] | None) -> Lifecycle:
        if data is None:
            return cls()
        unknown = sorted(set(data) - set(_API_FIELDS))
        if unknown:
            # UpdateRecoveryPointLifecycle nulls every field it is not sent, so a field this
            # class cannot carry back would be erased by the cut. Refuse rather than lose it.
            raise ValueError(f"Lifecycle has fields this code cannot send back: {unknown}")
        return cls(
            delete_after_days=_optional_int(data, "DeleteAfterDays"),
            move_to_cold_storage_after_days=_optional_int(data, "MoveToColdStorageAfterDays"),
            opt_in_to_archive_for_supported_resources=_optional_bool(
                data, "OptInToArchiveForSupportedResources"
            ),
            delete_after_event=_optional_str(data, "DeleteAfterEvent"),
        )

    def to_api(self) -> dict[str, Any]:
        """The Lifecycle argument for UpdateRecoveryPointLifecycle."""
        out: dict[str, Any] = {}
        for api_name, field_name in _API_FIELDS.items():
            value = getattr(self, field_name)
            if value is not None and api_name not in _OUTPUT_ONLY:
                out[api_name] = value
        return out


def _timestamp(value: object, name: str) -> datetime:
    # boto3 gives datetimes in the process's local zone; a state machine passing a described
    # point between tasks gives ISO 8601 text. Both become UTC so day arithmetic and the
    # reasons shown to people do not depend on where the code runs.
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{name} is not an ISO 8601 timestamp: {value!r}") from error
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime or ISO 8601 text, got {value!r}")
    _require_aware(value, name)
    return value.astimezone(UTC)


def _optional_timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    return None if value is None else _timestamp(value, key)


def _required(data: Mapping[str, Any], key: str) -> Any:
    if data.get(key) is None:
        raise ValueError(f"DescribeRecoveryPoint response has no {key}")
    return data[key]


@dataclass(frozen=True)
class RecoveryPoint:
    """The parts of a DescribeRecoveryPoint response the retention cut depends on."""

    arn: str
    status: str
    storage_class: str
    creation_date: datetime
    lifecycle: Lifecycle
    move_to_cold_storage_at: datetime | None
    delete_at: datetime | None
    vault_locked: bool = False

    def __post_init__(self) -> None:
        # Normalised here as well as in from_api so that a point built by hand in another zone
        # compares, prints and decides exactly like the same point built from the API.
        for name in ("creation_date", "move_to_cold_storage_at", "delete_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, name)
                object.__setattr__(self, name, value.astimezone(UTC))

    @property
    def is_continuous(self) -> bool:
        # STOPPED exists only for continuous backups, whatever the ARN looks like.
        return ":recovery-point:continuous:" in self.arn or self.status == "STOPPED"

    @classmethod
    def from_api(cls, described: Mapping[str, Any], vault_locked: bool = False) -> RecoveryPoint:
        calculated = described.get("CalculatedLifecycle") or {}
        return cls(
            arn=str(_required(described, "RecoveryPointArn")),
            status=str(_required(described, "Status")),
            storage_class=str(_required(described, "StorageClass")),
            creation_date=_timestamp(_required(described, "CreationDate"), "CreationDate"),
            lifecycle=Lifecycle.from_api(described.get("Lifecycle")),
            move_to_cold_storage_at=_optional_timestamp(calculated, "MoveToColdStorageAt"),
            delete_at=_optional_timestamp(calculated, "DeleteAt"),
            vault_locked=vault_locked,
        )


@dataclass(frozen=True)
class RetentionDecision:
    action: Literal["update", "unchanged", "ineligible"]
    reason: str
    current: Lifecycle
    new: Lifecycle
    minimum_days: int


def age_in_days(creation_date: datetime, now: datetime) -> int:
    """Whole days since creation, a started day counting as a full one; 0 if not yet created.

    Rounding up is what makes creation + (age + 1) days land at least 24 h after now.
    """
    _require_aware(creation_date, "creation_date")
    _require_aware(now, "now")
    # Ceiling division on exact timedeltas: floats would misround at microsecond edges.
    return max(0, -((creation_date - now) // _DAY))


def _cold_day(point: RecoveryPoint) -> int | None:
    """The day (after creation) the point goes, or went, cold; None if it never does."""
    days = point.lifecycle.move_to_cold_storage_after_days
    if days is not None and days >= 0:
        return days
    if point.move_to_cold_storage_at is not None:
        # Rounded up so a cold move part-way through a day is counted on the later day, which
        # only ever keeps the point longer.
        return age_in_days(point.creation_date, point.move_to_cold_storage_at)
    return None


def _ineligibility(point: RecoveryPoint) -> str | None:
    """Why the point must not be touched at all, or None when it may be."""
    if point.is_continuous:
        return (
            "Continuous (point-in-time recovery) backups do not support lifecycle updates, "
            "so this one is left alone."
        )
    if point.vault_locked:
        return "The vault is locked (Vault Lock) and would reject a lifecycle update."
    if point.status not in ELIGIBLE_STATUSES:
        return (
            f"The recovery point's status is {point.status}, not COMPLETED or AVAILABLE, "
            "so its retention is left alone."
        )
    if point.storage_class not in (WARM, COLD):
        return (
            f"The recovery point's storage class is {point.storage_class}, not WARM or COLD, "
            "so its retention is left alone."
        )
    if point.lifecycle.delete_after_event is not None:
        return (
            f"AWS Backup deletes this recovery point itself "
            f"(DeleteAfterEvent={point.lifecycle.delete_after_event}), "
            "so its retention is left alone."
        )
    if point.storage_class == COLD and _cold_day(point) is None:
        # Without the cold day the 90-day cold minimum cannot be honoured; never guess.
        return (
            "The recovery point is in cold storage but neither its lifecycle nor AWS's "
            "calculated lifecycle says when it went cold, so its retention is left alone."
        )
    return None


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _retention_text(days: int | None) -> str:
    return "no expiry" if days is None or days == NEVER else _days(days)


def decide_retention_cut(
    point: RecoveryPoint, new_delete_after_days: int, now: datetime
) -> RetentionDecision:
    """Decide whether, and to what, the original's DeleteAfterDays should be shortened."""
    if isinstance(new_delete_after_days, bool) or not isinstance(new_delete_after_days, int):
        raise ValueError(f"new_delete_after_days must be an integer, got {new_delete_after_days!r}")
    if not 1 <= new_delete_after_days <= MAX_DAYS:
        raise ValueError(
            f"new_delete_after_days must be between 1 and {MAX_DAYS}, got {new_delete_after_days}"
        )
    _require_aware(now, "now")
    current = point.lifecycle

    refusal = _ineligibility(point)
    if refusal is not None:
        return RetentionDecision("ineligible", refusal, current, current, 0)

    age = age_in_days(point.creation_date, now)
    # The extra day absorbs AWS's deletion window (up to 8 h after expiry) and the rounding
    # of age, so the point outlives now by at least 24 h whatever NewDeleteAfterDays says.
    floor = max(new_delete_after_days + 1, age + 1)
    cold_day = _cold_day(point)
    cancel_cold_move = False
    if cold_day is not None:
        if point.storage_class == WARM and floor <= cold_day:
            # Deleted on or before the day it would go cold: the move can only cost the
            # 90-day cold minimum, so it is cancelled instead of stretching the retention.
            cancel_cold_move = True
        else:
            floor = max(floor, cold_day + COLD_MINIMUM_DAYS + 1)

    kept = current.delete_after_days
    if kept is not None and kept != NEVER and kept <= floor:
        return RetentionDecision(
            "unchanged",
            f"Retention is already {_days(kept)}, no longer than the {floor}-day minimum, "
            "so nothing is written.",
            current,
            current,
            floor,
        )
    if floor > MAX_DAYS:
        return RetentionDecision(
            "unchanged",
            f"The {floor}-day minimum exceeds AWS's limit of {MAX_DAYS} days, "
            f"so the retention ({_retention_text(kept)}) is left as it is.",
            current,
            current,
            floor,
        )
    if point.delete_at is not None and point.delete_at - point.creation_date <= floor * _DAY:
        # The lifecycle and AWS's own schedule disagree; cutting to the floor would push the
        # deletion AWS already plans later, and this code never lengthens retention.
        return RetentionDecision(
            "unchanged",
            f"AWS Backup already plans to delete it at {point.delete_at:%Y-%m-%d %H:%M} UTC, "
            f"no later than the {floor}-day minimum, so nothing is written.",
            current,
            current,
            floor,
        )

    new = replace(current, delete_after_days=floor)
    if current.move_to_cold_storage_after_days == NEVER and point.storage_class == WARM:
        # "Never cold" beside a day count: -1 is documented only for both fields together
        # (aws-facts.md §H), and a field left out means no cold move, which is the same thing.
        # A cold point's setting cannot change any more (§B.4), so it goes back as it was.
        new = replace(new, move_to_cold_storage_after_days=None)
    if cancel_cold_move:
        # The move is cancelled by leaving MoveToColdStorageAfterDays out: AWS sets a field it
        # is not sent to null (aws-facts.md §B.4), and -1 is documented only for both fields
        # together (§H). Should AWS keep the old value instead, it refuses the update
        # (DeleteAfterDays below cold + 90) and nothing changes, which is safe too.
        new = replace(new, move_to_cold_storage_after_days=None)
        if current.opt_in_to_archive_for_supported_resources is not None:
            new = replace(new, opt_in_to_archive_for_supported_resources=False)
        detail = (
            f"and cancelled the cold-storage move planned for day {cold_day}, "
            "which it would no longer live to reach"
        )
    elif cold_day is not None:
        detail = (
            f"keeping its cold-storage move on day {cold_day} "
            f"and at least {COLD_MINIMUM_DAYS} days in cold storage"
        )
    else:
        detail = (
            f"the larger of age {_days(age)} and NewDeleteAfterDays {new_delete_after_days}, "
            "plus one day of margin"
        )
    return RetentionDecision(
        "update",
        f"Cut retention from {_retention_text(kept)} to {_days(floor)}, {detail}.",
        current,
        new,
        floor,
    )


def _planned_deletion(point: RecoveryPoint) -> tuple[datetime | None, datetime | None]:
    """(deletion by the lifecycle's day count, deletion AWS has calculated); None = none."""
    days = point.lifecycle.delete_after_days
    by_days = None if days is None or days == NEVER else point.creation_date + days * _DAY
    return by_days, point.delete_at


def original_expiry(point: RecoveryPoint) -> datetime | None:
    """When the original would be deleted if nothing were cut; None when it never would.

    Where the lifecycle's day count and AWS's calculated date disagree, the later one counts:
    the copies must outlive the original in either reading.
    """
    known = [moment for moment in _planned_deletion(point) if moment is not None]
    return max(known) if known else None


class ExpiryUnknown(ValueError):
    """A copy's deletion date cannot be known from what AWS reports about it."""


def copy_expiry(copy: RecoveryPoint) -> datetime:
    """When a copy will be deleted, read from the copy itself.

    Never from its copy job or from the original: a copy's retention is fixed when it is made
    and can change afterwards (aws-facts.md §B.1). Only a copy with a day count of its own has
    a date the cut cannot move; where that count and AWS's calculated date disagree, the
    earlier one counts. "Always" (-1) and no day count at all both mean "the source's expiry"
    (§B.1), which is the very date the cut changes, and AWS does not say whether it is read
    again later; a copy deleted by an event (DeleteAfterEvent) has no date either. Each of
    these is unknown, so the cut refuses rather than guess (design.md §5, rule 7).
    """
    days = copy.lifecycle.delete_after_days
    if copy.lifecycle.delete_after_event is not None:
        raise ExpiryUnknown(
            f"{copy.arn} is deleted on an event (DeleteAfterEvent="
            f"{copy.lifecycle.delete_after_event}), not on a date"
        )
    if days is None or days == NEVER:
        kept = "no day count" if days is None else "DeleteAfterDays -1"
        raise ExpiryUnknown(
            f"{copy.arn} keeps the source's retention ({kept}): its deletion date follows the "
            "original's, which the cut would change"
        )
    by_days = copy.creation_date + days * _DAY
    return by_days if copy.delete_at is None else min(by_days, copy.delete_at)


@dataclass(frozen=True)
class CopiesCheck:
    """Whether every copy outlives the original; `unknown` and `too_soon` say why not."""

    too_soon: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def safe(self) -> bool:
        return not self.too_soon and not self.unknown


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def copies_outlive(original: RecoveryPoint, copies: Mapping[str, RecoveryPoint]) -> CopiesCheck:
    """Does every copy expire no earlier than the original would without the cut?

    `copies` maps a name for each copy (its vault) to the copy as AWS describes it. An
    original that never expires needs copies that AWS keeps its maximum of 36,500 days from
    the shared creation date.
    """
    needed = original_expiry(original)
    longest = original.creation_date + MAX_DAYS * _DAY
    if needed is not None and needed > longest:
        # No copy can be kept longer than AWS's maximum from the shared creation date: one kept
        # that long outlives the original as far as AWS lets any copy.
        needed = longest
    too_soon: list[str] = []
    unknown: list[str] = []
    for name, copy in copies.items():
        try:
            expires = copy_expiry(copy)
        except ExpiryUnknown as error:
            unknown.append(f"{name}: {error}")
            continue
        if needed is None:
            if expires - copy.creation_date < MAX_DAYS * _DAY:
                too_soon.append(
                    f"{name} is deleted at {_when(expires)}, but the original never expires"
                )
        elif expires < needed:
            too_soon.append(
                f"{name} is deleted at {_when(expires)}, before the original ({_when(needed)})"
            )
    return CopiesCheck(tuple(too_soon), tuple(unknown))
