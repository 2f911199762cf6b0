"""Describe a recovery point the way the retention rules read it.

Kept apart from tasks/aws.py so the tasks that never read lifecycles do not carry the
retention rules in their deployed code.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import BackupClient, call
from tasks.errors import RecoveryPointNotEligible
from tasks.retention import RecoveryPoint


def describe_point(
    backup: BackupClient, vault_name: str, recovery_point_arn: str, *, vault_locked: bool = False
) -> tuple[dict[str, Any], RecoveryPoint]:
    """DescribeRecoveryPoint, as AWS answered and as the retention rules read it.

    A response those rules cannot read (a lifecycle field they could not send back, a missing
    date) means the point is left alone, under a name the state machine reports.
    """
    described: dict[str, Any] = call(
        backup.describe_recovery_point,
        BackupVaultName=vault_name,
        RecoveryPointArn=recovery_point_arn,
    )
    try:
        return described, RecoveryPoint.from_api(described, vault_locked=vault_locked)
    except ValueError as error:
        raise RecoveryPointNotEligible(f"{recovery_point_arn} was left alone: {error}") from error
