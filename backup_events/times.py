"""Time windows on the command line: ISO-8601 times (UTC unless zoned) or ages such as 7d."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backup_events.aws import ConfigError

_RELATIVE = re.compile(r"^(?P<count>\d+)\s*(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime, option: str) -> datetime:
    """An ISO-8601 time (UTC if it names no zone), `now`, or an age such as 7d, 12h, 2w."""
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.fullmatch(value)
    if relative:
        delta = timedelta(**{_UNITS[relative["unit"]]: int(relative["count"])})
        return now - delta
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise ConfigError(
            f"{option} {text!r} is neither an ISO-8601 time (2026-11-20T05:00Z) nor an age "
            "such as 7d, 12h or 2w"
        ) from error
    # A time without a zone is read as UTC: AWS shows UTC, and the local zone of whoever runs
    # the command would silently move the window.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def describe(self) -> str:
        return f"{utc_text(self.since)} to {utc_text(self.until)}"


def parse_window(since: str, until: str, now: datetime) -> Window:
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until")
    if start >= end:
        raise ConfigError(f"--since ({utc_text(start)}) must be before --until ({utc_text(end)})")
    if start > now:
        raise ConfigError(f"--since ({utc_text(start)}) is in the future")
    return Window(start, end)


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def add_window_arguments(parser: argparse.ArgumentParser, default_since: str) -> None:
    parser.add_argument(
        "--since",
        default=default_since,
        metavar="WHEN",
        help=f"start of the window: ISO-8601 (UTC unless a zone is given) or an age such as "
        f"7d, 12h, 2w (default: {default_since})",
    )
    parser.add_argument(
        "--until", default="now", metavar="WHEN", help="end of the window (default: now)"
    )
