"""What every command shares: time windows, Regions and the state machine's address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backup_events.aws import ConfigError, check_region
from backup_events.targets import state_machine_region
from backup_events.times import parse_when, parse_window

NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("now", NOW),
        # No zone means UTC, whatever the zone of the machine running the script.
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T05:00:00Z", datetime(2026, 11, 1, 5, tzinfo=UTC)),
        ("2026-11-01T05:00:00+02:00", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ],
)
def test_a_time_is_iso_8601_or_an_age(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, "--since") == expected


def test_an_unreadable_time_names_the_option_and_the_accepted_forms() -> None:
    with pytest.raises(ConfigError, match=r"--since 'last week'.*ISO-8601.*7d"):
        parse_when("last week", NOW, "--since")


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("1d", "2d", "must be before --until"),
        ("2026-11-20T06:00Z", "2026-11-21", "is in the future"),
        ("3d", "3d", "must be before --until"),
    ],
)
def test_a_bad_window_is_refused(since: str, until: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_window(since, until, NOW)


def test_a_window_includes_its_start_and_excludes_its_end() -> None:
    window = parse_window("1d", "now", NOW)
    assert window.since in window
    assert NOW not in window


def test_the_state_machine_arn_decides_the_region() -> None:
    arn = "arn:aws:states:us-west-2:000022224444:stateMachine:BackupEvents"
    assert state_machine_region(arn, None) == "us-west-2"
    with pytest.raises(ConfigError, match="in us-west-2, not in --region us-east-1"):
        state_machine_region(arn, "us-east-1")
    with pytest.raises(ConfigError, match="is not a state machine ARN"):
        state_machine_region("arn:aws:states:us-west-2:000022224444:execution:X:y", None)


@pytest.mark.parametrize("region", ["us-east-9", "useast1", "US-EAST-1", "us-wset-2"])
def test_an_unknown_region_is_refused(region: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown region '{region}'"):
        check_region(region)


def test_known_regions_pass() -> None:
    assert check_region("eu-west-1") == "eu-west-1"
