"""The figures the dashboard shows, published as CloudWatch metrics in the logs (EMF).

Powertools Metrics writes CloudWatch's embedded metric format to the function's log, so a
figure costs no PutMetricData call (docs/aws-facts.md §F). One namespace for the product, and
only the `service` dimension Powertools adds: every account and Region publishes the same
series, which an organization can add up; nothing unbounded (no recovery point ARN) becomes
a dimension. The template's dashboard names these metrics; a test checks that it names no
metric that nothing publishes.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tasks.logs import SERVICE

NAMESPACE = "BackupEvents"

COPIES_STARTED = "CopiesStarted"
COPY_JOB_SECONDS = "CopyJobSeconds"
BACKUPS_CUT = "BackupsCut"
RETENTION_DAYS_REMOVED = "RetentionDaysRemoved"
STORAGE_GB_DAYS_SAVED = "StorageGBDaysSaved"
ORIGINALS_SURVEYED = "OriginalsSurveyed"
ORIGINALS_AWAITING_CUT = "OriginalsAwaitingCut"
BACKUPS_TO_FINISH = "BackupsToFinish"
BACKUPS_NEEDING_ATTENTION = "BackupsNeedingAttention"
EXECUTIONS_TO_REDRIVE = "ExecutionsToRedrive"

PUBLISHED = frozenset(
    {
        COPIES_STARTED,
        COPY_JOB_SECONDS,
        BACKUPS_CUT,
        RETENTION_DAYS_REMOVED,
        STORAGE_GB_DAYS_SAVED,
        ORIGINALS_SURVEYED,
        ORIGINALS_AWAITING_CUT,
        BACKUPS_TO_FINISH,
        BACKUPS_NEEDING_ATTENTION,
        EXECUTIONS_TO_REDRIVE,
    }
)
COUNT = MetricUnit.Count
SECONDS = MetricUnit.Seconds


def make_metrics() -> Metrics:
    return Metrics(namespace=NAMESPACE, service=SERVICE)


def publish(metrics: Metrics, *figures: tuple[str, MetricUnit, float]) -> None:
    """Write these figures now, as one EMF record.

    Flushed where they are measured rather than by a decorator on every handler, which would
    log "No application metrics to publish" for each invocation that measured nothing.
    """
    for name, unit, value in figures:
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()


def gb_days(size_bytes: int | None, days: int | None) -> float:
    """Storage no longer paid for: gigabytes (10^9 bytes, as AWS bills) times days."""
    if not size_bytes or not days or days < 0:
        return 0.0
    return round(size_bytes / 1e9 * days, 3)
