"""What each backup of one deployment still needs, judged by the workflow's own rules.

tasks/survey.py gathers the facts (the watched vault's originals, their copy jobs, the copies
in the backup account, the cut ledger, the running and failed executions) and tasks/needs.py
decides, for the scheduled reconciliation and for these commands alike. Here they get the
operator's clients: the resource account's, and the backup account's through the same --role
(the operator role is deployed to every account of the organization, the backup account too).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backup_events.aws import ConfigError, check_region
from backup_events.sessions import Sessions, Unreachable, role_arn
from backup_events.targets import StateMachine
from tasks.copies import Deployment
from tasks.copy_reader import CopyReader
from tasks.errors import InvalidInput, TaskError
from tasks.inputs import ACCOUNT_ID, VAULT_NAME
from tasks.needs import Settings
from tasks.retention import MAX_DAYS
from tasks.survey import Place, Survey, survey


def settings_from_stack(parameters: Mapping[str, str]) -> Settings:
    """The deployment's settings: the parameters of the stack that deployed the workflow."""

    def value(key: str) -> str:
        found = parameters.get(key)
        if not found:
            raise ConfigError(f"the stack has no {key} parameter: is it a Backup Events stack?")
        return found

    if not VAULT_NAME.fullmatch(value("VaultName")):
        raise ConfigError(f"VaultName {value('VaultName')!r} is not a vault name")
    if not ACCOUNT_ID.fullmatch(value("BackupAccountId")):
        raise ConfigError(f"BackupAccountId {value('BackupAccountId')!r} is not 12 digits")
    for key in ("BackupRegion", "BackupRegionAlternate"):
        check_region(value(key), key)
    try:
        days = int(value("NewDeleteAfterDays"))
    except ValueError as error:
        raise ConfigError(
            f"NewDeleteAfterDays {value('NewDeleteAfterDays')!r} is not a number"
        ) from error
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"NewDeleteAfterDays must be 1..{MAX_DAYS}, got {days}")
    try:
        deployment = Deployment(
            backup_account=value("BackupAccountId"),
            backup_region=value("BackupRegion"),
            alternate_region=value("BackupRegionAlternate"),
            vault_name=value("VaultName"),
        )
    except InvalidInput as error:
        raise ConfigError(str(error)) from error
    return Settings(
        deployment=deployment,
        new_delete_after_days=days,
        copy_scheduled_backups=parameters.get("CopyScheduledBackups") == "true",
        cut_enabled=parameters.get("EnableUpdateLifecycle") != "false",
    )


class BackupAccountReader(CopyReader):
    """The copies in the backup account's vaults, read through the operator's --role there.

    The tasks read them as the backup account's read-only copy reader role, which trusts only
    the workflow's own roles; the operator reaches the backup account as it reaches the others.
    """

    def __init__(self, sessions: Sessions, account: str, role: str | None) -> None:
        super().__init__(role_arn(sessions.caller().partition, account, role or "-"))
        self._sessions, self._account, self._role = sessions, account, role

    def client(self, region: str) -> Any:
        try:
            return self._sessions.clients(self._account, self._role)("backup", region)
        except Unreachable as error:
            raise ConfigError(f"cannot read the copies in the backup account: {error}") from error


def survey_of(
    clients: Any,
    sessions: Sessions,
    role: str | None,
    state_machine: StateMachine,
    *,
    since: datetime,
    now: datetime,
) -> tuple[Settings, Survey]:
    """Every original created since `since` in the watched vault, and what each still needs."""
    settings = settings_from_stack(state_machine.stack_parameters)
    table = state_machine.stack_outputs.get("CutLedgerTable")
    if not table:
        raise ConfigError(
            f"stack {state_machine.stack_name!r} has no CutLedgerTable output: deploy the "
            "current template"
        )
    region = state_machine.region
    try:
        found = survey(
            clients("backup", region),
            BackupAccountReader(sessions, settings.deployment.backup_account, role),
            clients("dynamodb", region),
            clients("stepfunctions", region),
            settings=settings,
            place=Place(state_machine.partition, state_machine.account, region),
            state_machine_arn=state_machine.arn,
            ledger_table=table,
            since=since,
            now=now,
        )
    except TaskError as error:
        raise ConfigError(
            f"cannot survey the vault {settings.deployment.vault_name}: {error}"
        ) from error
    return settings, found
