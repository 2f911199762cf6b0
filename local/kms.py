"""AWS managed KMS keys (`aws/ebs`, `aws/rds`, ...) as AWS labels them.

moto makes the key behind a reserved alias such as `alias/aws/ebs` on first use but labels it
a customer managed key. AWS labels it `KeyManager: AWS`, and that label matters: backups
encrypted under an AWS managed key can never be copied to another account (docs/aws-facts.md
§B.1), which a pre-flight check reads with DescribeKey and the twin's copy jobs enforce.
"""

from __future__ import annotations

from typing import Any


def aws_managed_key(account: str, region: str, service: str) -> str:
    """The ARN of the AWS managed key `aws/<service>` (e.g. "ebs", "rds") of an account."""
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    key_id = backend.get_key_id_from_alias(f"alias/aws/{service}")
    if key_id is None:
        raise KeyError(f"alias/aws/{service} is not an AWS managed key")
    return str(backend.keys[key_id].arn)


def is_aws_managed(key_arn: str | None) -> bool:
    """Whether a key ARN names an AWS managed key (unknown keys are customer managed)."""
    from moto.kms.models import kms_backends

    if not key_arn or not key_arn.startswith("arn:") or ":key/" not in key_arn:
        return False
    region, account = key_arn.split(":")[3:5]
    key = kms_backends[account][region].keys.get(key_arn.rsplit("/", 1)[-1])
    return key is not None and key.key_manager == "AWS"


_active = False


def activate(active: bool) -> None:
    """Label reserved-alias keys AWS managed while a twin runs (False: stock moto)."""
    global _active
    _active = active


def install() -> None:
    from moto.kms.models import KmsBackend

    if getattr(KmsBackend._generate_default_keys, "_twin", False):
        return
    original = KmsBackend._generate_default_keys

    def _generate_default_keys(self: Any, alias_name: str) -> str | None:
        key_id: str | None = original(self, alias_name)
        if key_id is not None and _active:
            self.keys[key_id].key_manager = "AWS"
        return key_id

    _generate_default_keys._twin = True  # type: ignore[attr-defined]
    KmsBackend._generate_default_keys = _generate_default_keys  # type: ignore[method-assign]
