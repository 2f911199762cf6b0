"""What a copy needs besides vaults: organization and Region settings, and encryption keys.

docs/aws-facts.md §B.1 (cross-account backup must be on for the organization, read with
DescribeGlobalSettings; backups of EBS, EC2, RDS, Aurora under an AWS managed key such as
aws/ebs or aws/rds can never be copied to another account; fully managed types are encrypted
anew) and §B.9 (resource type opt-in per Region, read with DescribeRegionSettings).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from local.accounts import (
    BACKUP_REGION,
    MAIN_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.twin.helpers import EBS, EFS, RDS, VAULT, Layout, error_of, role

pytestmark = pytest.mark.twin


def test_describe_global_settings_follows_the_organization(twin: Twin) -> None:
    """docs/aws-facts.md §B.1: isCrossAccountBackupEnabled, for member accounts."""
    backup = twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION)
    settings = backup.describe_global_settings()["GlobalSettings"]
    assert settings == {"isCrossAccountBackupEnabled": "true"}
    twin.organization.cross_account_backup_enabled = False
    settings = backup.describe_global_settings()["GlobalSettings"]
    assert settings == {"isCrossAccountBackupEnabled": "false"}
    outsider = twin.client("backup", OUTSIDER_ACCOUNT, MAIN_REGION)
    assert error_of(outsider.describe_global_settings)[0] == "InvalidRequestException"


def test_region_settings_are_per_account_and_region_and_gate_backups(twin: Twin) -> None:
    """docs/aws-facts.md §B.9: opt-in is set per Region; an opted-out type is not backed up."""
    here = twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION)
    there = twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION)
    described = here.describe_region_settings()
    assert described["ResourceTypeOptInPreference"]["EFS"] is True
    assert described["ResourceTypeManagementPreference"] == {"DynamoDB": True, "EFS": True}

    here.update_region_settings(ResourceTypeOptInPreference={"EFS": False})
    assert here.describe_region_settings()["ResourceTypeOptInPreference"]["EFS"] is False
    assert there.describe_region_settings()["ResourceTypeOptInPreference"]["EFS"] is True

    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    code, message, _ = error_of(
        here.start_backup_job,
        BackupVaultName=VAULT,
        ResourceArn=EFS,
        IamRoleArn=role(),
    )
    assert code == "InvalidRequestException"
    assert "EFS is not opted in" in message
    assert here.start_backup_job(BackupVaultName=VAULT, ResourceArn=EBS, IamRoleArn=role())


def test_aws_managed_keys_are_labelled_aws_and_customer_keys_customer(twin: Twin) -> None:
    """docs/aws-facts.md §B.1: aws/ebs and aws/rds are AWS managed keys."""
    kms = twin.client("kms", RESOURCE_ACCOUNT, MAIN_REGION)
    for service in ("ebs", "rds"):
        described = kms.describe_key(KeyId=f"alias/aws/{service}")["KeyMetadata"]
        assert described["KeyManager"] == "AWS"
        assert described["Arn"] == twin.aws_managed_key(RESOURCE_ACCOUNT, MAIN_REGION, service)
    customer = kms.create_key()["KeyMetadata"]
    assert customer["KeyManager"] == "CUSTOMER"


@pytest.mark.parametrize(
    ("resource", "key", "copied"),
    [
        (EBS, "aws/ebs", False),
        (RDS, "aws/rds", False),
        (EBS, "customer", True),
        (EFS, "aws/ebs", True),  # fully managed: encrypted anew under the vault's key
    ],
)
def test_a_point_under_an_aws_managed_key_is_never_copied_to_another_account(
    layout: Layout, twin: Twin, resource: str, key: str, copied: bool
) -> None:
    """docs/aws-facts.md §B.1: only customer managed keys can be shared with another account."""
    kms = twin.client("kms", RESOURCE_ACCOUNT, MAIN_REGION)
    key_arn = (
        kms.create_key()["KeyMetadata"]["Arn"]
        if key == "customer"
        else twin.aws_managed_key(RESOURCE_ACCOUNT, MAIN_REGION, key.split("/")[1])
    )
    point = layout.backed_up(resource, encryption_key_arn=key_arn)
    cross_account = layout.start_copy(point, layout.to_backup_region)["CopyJobId"]
    layout.run(timedelta(hours=1))
    job = layout.copy_job(cross_account)
    assert (job["State"] == "COMPLETED") is copied
    if not copied:
        assert "AWS managed KMS key" in job["StatusMessage"]
    assert (
        layout.source.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)[
            "EncryptionKeyArn"
        ]
        == key_arn
    )
    landed = layout.backup_client(BACKUP_REGION).list_recovery_points_by_backup_vault(
        BackupVaultName=VAULT
    )["RecoveryPoints"]
    assert len(landed) == (1 if copied else 0)
