"""Backup Events operator command: deploy, re-run, catch up, and watch a whole organization.

`pip install .` gives the `backup-events` command (backup_events.main). Every command reads
before it writes, and the commands that write (deploy, rerun, backfill) write nothing without
--apply.
"""

__version__ = "0.1.0"
