"""Helpers shared by the test modules: event fixtures and a stand-in Lambda context."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent / "events"

# The fixtures' accounts, regions and vault; the twin's default layout uses the same values.
RESOURCE_ACCOUNT = "000022224444"
BACKUP_ACCOUNT = "999977775555"
MAIN_REGION = "us-east-1"
BACKUP_REGION = "us-west-2"
VAULT_NAME = "BackupEvents-Sample"


@dataclass(frozen=True)
class StackSettings:
    """A deployment's parameters, typed, as tests read them (defaults as the template's)."""

    parameters: dict[str, str]

    def _int(self, name: str, default: int) -> int:
        return int(self.parameters.get(name, default))

    @property
    def vault_name(self) -> str:
        return self.parameters.get("VaultName", VAULT_NAME)

    @property
    def backup_account(self) -> str:
        return self.parameters["BackupAccountId"]

    @property
    def backup_region(self) -> str:
        return self.parameters["BackupRegion"]

    @property
    def alternate_region(self) -> str:
        return self.parameters["BackupRegionAlternate"]

    @property
    def new_delete_after_days(self) -> int:
        return self._int("NewDeleteAfterDays", 7)

    @property
    def poll_max_interval_seconds(self) -> int:
        return self._int("PollMaxIntervalSeconds", 14400)

    @property
    def copy_wait_limit_hours(self) -> int:
        return self._int("CopyWaitLimitHours", 72)


@cache
def _read_event(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<name>, safe for the caller to modify."""
    return copy.deepcopy(json.loads(_read_event(name)))


def event_names() -> list[str]:
    return sorted(p.name for p in EVENTS_DIR.glob("*.json"))


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' inject_lambda_context reads from a real context."""

    function_name: str = "BackupEvents-test"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = (
        f"arn:aws:lambda:{MAIN_REGION}:{RESOURCE_ACCOUNT}:function:BackupEvents-test"
    )
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/BackupEvents-test"
    log_stream_name: str = "2026/11/20/[$LATEST]0123456789abcdef"
    remaining_ms: int = field(default=60_000)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
