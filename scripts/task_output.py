"""What the task functions print while the demo runs: kept, sorted, never shown on the screen.

On AWS each Lambda function's stdout goes to its CloudWatch Logs log group: Powertools Logger
writes one JSON line per log record, and Powertools Metrics writes each invocation's figures
as one line in CloudWatch's embedded metric format (EMF), which CloudWatch turns into metrics
of the function's account and Region. The twin runs every function in this process, so those
lines would land on the demo's screen. `captured()` takes stdout while the twin runs, keeps
every line in order (the demo writes them out as the log a user would read in CloudWatch Logs)
and reads each EMF line as CloudWatch would, with where and when it was written: the account
and Region of the execution whose task printed it, at the virtual time it was printed (the
twin does not turn EMF lines into metrics, and Powertools stamps them with the real clock).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.twin import Twin
from tasks.logs import SERVICE


@dataclass(frozen=True)
class MetricPoint:
    """One value of one metric, as CloudWatch would store it from an EMF line."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    value: float
    when: datetime
    account: str
    region: str


class TaskOutput(io.TextIOBase):
    """A stand-in for stdout: every complete line is kept, EMF lines are read as metrics."""

    def __init__(self, twin: Twin) -> None:
        super().__init__()
        self.twin = twin
        self.lines: list[str] = []
        self.metrics: list[MetricPoint] = []
        self.log_records = 0
        self.emf_lines = 0
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        # print() writes the text and the newline in two calls, and several executions print
        # at once: each thread's partial line is kept apart until its newline arrives.
        ident = threading.get_ident()
        with self._lock:
            pending = self._partial.pop(ident, "") + text
            *complete, rest = pending.split("\n")
            if rest:
                self._partial[ident] = rest
            for line in complete:
                if line.strip():
                    self._keep(line)
        return len(text)

    def _keep(self, line: str) -> None:
        self.lines.append(line)
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        if "_aws" in record:
            self.emf_lines += 1
            self.metrics.extend(self._points(record))
        elif "level" in record:
            self.log_records += 1

    def _points(self, record: dict[str, Any]) -> list[MetricPoint]:
        """EMF: _aws.CloudWatchMetrics names the metrics, the record's keys hold the values."""
        # The twin runs an execution's tasks as that execution's clock participant.
        parts = (self.twin.clock.current_participant() or "").split(":")
        region, account = (parts[3], parts[4]) if len(parts) > 4 else ("?", "?")
        points: list[MetricPoint] = []
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            # Each dimension set names keys of the record; their values are the dimensions.
            keys = sorted({key for keys in directive.get("Dimensions", []) for key in keys})
            dimensions = tuple((key, str(record.get(key))) for key in keys)
            for metric in directive.get("Metrics", []):
                raw = record.get(metric["Name"])
                values = raw if isinstance(raw, list) else [raw]
                points.extend(
                    MetricPoint(
                        namespace=directive["Namespace"],
                        name=metric["Name"],
                        dimensions=dimensions,
                        unit=metric.get("Unit", "None"),
                        value=float(value),
                        when=self.twin.clock.now(),
                        account=account,
                        region=region,
                    )
                    for value in values
                    if value is not None
                )
        return points


@contextmanager
def captured(twin: Twin) -> Iterator[TaskOutput]:
    """Keep what the tasks print (stdout) off the screen while the block runs.

    Powertools Logger writes through a handler that holds the stdout of the moment it was
    first made, which may be before this block (another run in the same process) or inside
    it: both are pointed at the capture for the block and back at the real stdout after it.
    Powertools Metrics warns on stderr when an invocation had no figure to publish; that
    warning is expected here and silenced.
    """
    output = TaskOutput(twin)
    real_stdout = sys.stdout
    handlers = [
        h for h in logging.getLogger(SERVICE).handlers if isinstance(h, logging.StreamHandler)
    ]
    streams = {h: h.stream for h in handlers}
    for handler in handlers:
        handler.setStream(output)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            sys.stdout = output
            try:
                yield output
            finally:
                sys.stdout = real_stdout
    finally:
        for made in logging.getLogger(SERVICE).handlers:
            if isinstance(made, logging.StreamHandler) and made.stream is output:
                made.setStream(streams.get(made, real_stdout))
