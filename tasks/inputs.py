"""Validation of what the state machine hands a task. Anything wrong is an InvalidInput.

Tasks validate everything before the first AWS call, so bad input never writes anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tasks.errors import InvalidInput

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
VAULT_NAME = re.compile(r"^[a-zA-Z0-9\-_]{2,50}$")
VAULT_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):backup:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"backup-vault:(?P<name>[a-zA-Z0-9\-_]{2,50})$"
)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
# Recovery point ARNs differ by resource type; some have no account (aws-facts.md §A.2).
# Other services' backups (DynamoDB, FSx, Redshift, ...) have shapes of their own, so any
# regional ARN is accepted for them. The services above have only the shapes above (EFS
# backups are AWS Backup recovery points): anything else of theirs is a vault, a plan or the
# protected resource itself, a mistake. A global ARN (IAM, ...) is never a recovery point.
RECOVERY_POINT_ARN = re.compile(
    r"^arn:aws[a-z-]*:(backup:[a-z0-9-]+:\d{12}:recovery-point:[\w:.-]+"
    r"|ec2:[a-z0-9-]+:\d{0,12}:(snapshot/snap-|image/ami-)[0-9a-f]+"
    r"|rds:[a-z0-9-]+:\d{12}:(cluster-)?snapshot:[\w:.-]+"
    r"|(?!backup:|ec2:|rds:|elasticfilesystem:)[a-z0-9-]+:[a-z]{2}[a-z0-9-]*-\d:\d{0,12}:[\w:/.-]+)$"
)
COPY_JOB_ID = re.compile(r"^[A-Za-z0-9-]{1,128}$")
EXECUTION_NAME = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}$")


class Fields:
    """Typed access to one input object, naming the field in every error."""

    def __init__(self, data: Any, where: str = "input") -> None:
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{where}: expected a JSON object, got {type(data).__name__}")
        self._data = data
        self._where = where

    def _get(self, name: str, required: bool) -> Any:
        if name not in self._data or self._data[name] is None:
            if required:
                raise InvalidInput(f"{self._where}.{name} is required")
            return None
        return self._data[name]

    def string(self, name: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self._get(name, True)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{self._where}.{name}: expected a non-empty string, got {value!r}")
        # fullmatch: `$` in a pattern would also let a trailing newline through.
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidInput(f"{self._where}.{name}: {value!r} is not valid here")
        return value

    def optional_string(self, name: str, pattern: re.Pattern[str] | None = None) -> str | None:
        if self._get(name, False) is None:
            return None
        return self.string(name, pattern)

    def integer(self, name: str, low: int, high: int) -> int:
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{self._where}.{name}: expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise InvalidInput(f"{self._where}.{name}: {value} is outside {low}..{high}")
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, True)
        if isinstance(value, str) and value in {"true", "false"}:
            # CloudFormation substitutions can only carry strings.
            return value == "true"
        if not isinstance(value, bool):
            raise InvalidInput(f"{self._where}.{name}: expected true or false, got {value!r}")
        return value

    def timestamp(self, name: str) -> datetime:
        value = self.string(name)
        return parse_timestamp(value, f"{self._where}.{name}")

    def strings(self, name: str, pattern: re.Pattern[str], count: int) -> list[str]:
        value = self._get(name, True)
        if not isinstance(value, list) or len(value) != count:
            raise InvalidInput(f"{self._where}.{name}: expected a list of {count}, got {value!r}")
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise InvalidInput(f"{self._where}.{name}: {item!r} is not valid here")
        return list(value)

    def recovery_point(self, name: str, region: str) -> str:
        """A recovery point ARN that lives in `region`, the region the task acts in."""
        arn = self.string(name, RECOVERY_POINT_ARN)
        check_recovery_point_home(arn, f"{self._where}.{name}", region=region)
        return arn

    def object(self, name: str) -> Fields:
        return Fields(self._get(name, True), f"{self._where}.{name}")

    def raw(self, name: str) -> Any:
        return self._get(name, False)


def parse_timestamp(value: str, where: str) -> datetime:
    """ISO-8601 with a zone (Step Functions and AWS Backup write `Z` or `+00:00`)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidInput(f"{where}: {value!r} is not an ISO-8601 timestamp") from error
    if parsed.tzinfo is None:
        raise InvalidInput(f"{where}: {value!r} has no time zone")
    return parsed.astimezone(UTC)


def vault_arn_parts(arn: str, where: str) -> tuple[str, str, str, str]:
    """(partition, region, account, vault name) of a backup vault ARN."""
    match = VAULT_ARN.fullmatch(arn)
    if not match:
        raise InvalidInput(f"{where}: {arn!r} is not a backup vault ARN")
    return match["partition"], match["region"], match["account"], match["name"]


def check_recovery_point_home(
    arn: str, where: str, *, region: str, account: str | None = None
) -> None:
    """Refuse a recovery point of another region, or of another account when the ARN says.

    AWS Backup only acts on recovery points in the caller's own account and region; a foreign
    one would reach AWS only to be refused, or worse, name another backup than the one meant.
    EBS and EC2 recovery point ARNs have no account (aws-facts.md §A.2): only the region counts.
    """
    parts = arn.split(":")
    if parts[3] != region:
        raise InvalidInput(f"{where}: {arn!r} is in region {parts[3]}, not in {region}")
    if account is not None and parts[4] and parts[4] != account:
        raise InvalidInput(f"{where}: {arn!r} belongs to account {parts[4]}, not to {account}")
