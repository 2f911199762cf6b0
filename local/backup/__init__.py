"""An AWS Backup twin on top of moto's backup service, in moto's own shape.

- models.py: vaults (moto's), recovery points, jobs, plans' copy actions, lifecycle rules,
  and the store that holds them;
- jobs.py: the job scheduler on the virtual clock, and AWS's checks when a copy starts;
- announcements.py: the job state change events sent to EventBridge;
- faults.py: throttling and copy job faults injected on purpose;
- responses.py: the AWS Backup operations moto lacks;
- wiring.py: how they plug into moto, and the record of every call;
- service.py: `BackupTwin`, what tests hold as `twin.backup`.
"""

from local.backup.models import CopyAction, Job, PlanInfo, RecoveryPoint
from local.backup.service import BackupTwin, Call
from local.backup.wiring import activate, install

__all__ = [
    "BackupTwin",
    "Call",
    "CopyAction",
    "Job",
    "PlanInfo",
    "RecoveryPoint",
    "activate",
    "install",
]
