"""CloudFormation in the twin: the template's resources really come to life.

Stock moto (docs/twin.md §4) skips AWS::Backup::BackupVault, puts state machines in its
non-executing backend and ignores DefinitionSubstitutions, ignores `Rules` and parameter
constraints, and cannot attach the public Powertools layer. The twin closes those gaps:

- AWS::Backup::BackupVault creates the vault in the AWS Backup twin, with its AccessPolicy and
  LockConfiguration; Ref is the name, GetAtt BackupVaultArn/BackupVaultName work.
- AWS::StepFunctions::StateMachine applies DefinitionSubstitutions by plain text replacement
  (as the resource provider does) to DefinitionString or Definition, and creates the machine
  in the executing backend, so events really start it.
- AWS::SQS::QueuePolicy sets the queues' Policy attribute, and AWS::CloudWatch::Alarm puts
  the alarm (metric math included) through the CloudWatch API, so a test reads both back as a
  user would; stock moto skips both types.
- Parameters are checked against AllowedValues, AllowedPattern, MinValue and MaxValue (the
  message is the parameter's ConstraintDescription when it has one, as in AWS), and `Rules`
  assertions are evaluated: a violation fails CreateStack and CreateStackSet with
  ValidationError and the AssertDescription, before any resource is created.
- AWS::Lambda::Function keeps Architectures, Layers and the other properties stock moto's
  model drops, and the public Powertools layer (account 017000801446, published through the
  SSM parameter /aws/service/powertools/python/...) resolves in every region: the twin runs
  Powertools from this environment.
- Templates are parsed once, with libyaml, and cached: stock moto parses a stack's template
  with the pure-Python loader several times, a quarter of a second each for this project's.
- Each StackSet instance is a stack of its own account and Region, `StackSet-<name>-<uuid>`,
  which DescribeStacks and ListStackResources answer for there and whose StackId
  ListStackInstances names; stock moto hides a service-managed instance's stack and makes up
  its StackId.
- `organizational_unit()` builds the OU a service-managed StackSet deploys to, holding the
  twin's accounts under their fixed IDs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import uuid
from collections import Counter
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel

from local.accounts import client

POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_VERSION = 21


def powertools_layer_arn(region: str, runtime: str = "python3.13", arch: str = "arm64") -> str:
    name = f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-{arch}"
    return f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{name}:{POWERTOOLS_VERSION}"


# The commercial Regions where Powertools publishes its layer and these parameters; none in
# GovCloud or China (docs/aws-facts.md §H, Powertools layer Regions).
POWERTOOLS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
POWERTOOLS_PARAMETER_PREFIX = "/aws/service/powertools/"


def publish_powertools_parameters(account: str, region: str) -> None:
    """The public SSM parameters Powertools publishes for its layer (docs/aws-facts.md §E.5), in the
    Regions where it does; elsewhere they do not exist."""
    from datetime import UTC, datetime

    from moto.ssm.models import Parameter, ssm_backends

    if region not in POWERTOOLS_REGIONS:
        return
    parameters = ssm_backends[account][region]._parameters
    for runtime in ("python3.12", "python3.13", "python3.14"):
        for arch in ("arm64", "x86_64"):
            name = f"/aws/service/powertools/python/{arch}/{runtime}/latest"
            if parameters.get(name):
                continue
            parameters[name].append(
                Parameter(
                    account_id=account,
                    name=name,
                    value=powertools_layer_arn(region, runtime, arch),
                    parameter_type="String",
                    description="Powertools for AWS Lambda (Python) layer",
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=datetime.now(UTC),
                    version=1,
                    data_type="text",
                )
            )


def _install_public_parameters() -> None:
    """Public parameters exist for every account of a Region: they appear when first read."""
    from moto.ssm.models import SimpleSystemManagerBackend

    original_get = SimpleSystemManagerBackend.get_parameter
    original_get_many = SimpleSystemManagerBackend.get_parameters

    def publish_for(backend: Any, names: list[str]) -> None:
        if _active and any(str(n).startswith(POWERTOOLS_PARAMETER_PREFIX) for n in names):
            publish_powertools_parameters(backend.account_id, backend.region_name)

    def get_parameter(self: Any, name: str) -> Any:
        publish_for(self, [name])
        return original_get(self, name)

    def get_parameters(self: Any, names: list[str]) -> Any:
        publish_for(self, names)
        return original_get_many(self, names)

    SimpleSystemManagerBackend.get_parameter = get_parameter  # type: ignore[method-assign]
    SimpleSystemManagerBackend.get_parameters = get_parameters  # type: ignore[method-assign]


class _TwinResource(CloudFormationModel):
    """What the twin's CloudFormation models share: a name, an account, a region, attributes.

    Subclasses say their type, the property that names them, and which GetAtt attributes map
    to which of their fields.
    """

    TYPE = ""
    NAME_PROPERTY = ""
    ATTRIBUTES: ClassVar[dict[str, str]] = {}

    def __init__(self, account: str, region: str, name: str) -> None:
        self.account_id = account
        self.region_name = region
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return str(getattr(self, self.ATTRIBUTES[attribute_name]))


class TwinBackupVault(_TwinResource):
    """The CloudFormation model of AWS::Backup::BackupVault, backed by the AWS Backup twin."""

    TYPE = "AWS::Backup::BackupVault"
    NAME_PROPERTY = "BackupVaultName"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"BackupVaultArn": "arn", "BackupVaultName": "name"}

    def __init__(self, account: str, region: str, name: str) -> None:
        super().__init__(account, region, name)
        self.arn = f"arn:aws:backup:{region}:{account}:backup-vault:{name}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TwinBackupVault:
        from moto.backup.models import backup_backends

        properties = cloudformation_json["Properties"]
        name = properties.get("BackupVaultName", resource_name)
        backend = backup_backends[account_id][region_name]
        backend.create_backup_vault(
            backup_vault_name=name,
            backup_vault_tags=properties.get("BackupVaultTags"),
            encryption_key_arn=properties.get("EncryptionKeyArn"),
            creator_request_id=None,
        )
        vault = cls(account_id, region_name, name)
        policy = properties.get("AccessPolicy")
        if policy and _active:
            # Through the API, as CloudFormation does: a policy the twin could not evaluate
            # fails the stack here, loudly, instead of being half-applied later.
            client("backup", account_id, region_name).put_backup_vault_access_policy(
                BackupVaultName=name,
                Policy=policy if isinstance(policy, str) else json.dumps(policy),
            )
        lock = properties.get("LockConfiguration")
        if lock:
            backend.put_backup_vault_lock_configuration(
                name,
                lock.get("MinRetentionDays"),
                lock.get("MaxRetentionDays"),
                lock.get("ChangeableForDays"),
            )
        return vault

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.backup.models import backup_backends

        backup_backends[account_id][region_name].delete_backup_vault(resource_name)


class TwinQueuePolicy(_TwinResource):
    """AWS::SQS::QueuePolicy: the document becomes the Policy attribute of each queue."""

    TYPE = "AWS::SQS::QueuePolicy"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"Id": "name"}

    def __init__(self, account: str, region: str, name: str, queue_urls: list[str]) -> None:
        super().__init__(account, region, name)
        self.queue_urls = queue_urls

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TwinQueuePolicy:
        from moto.sqs.models import sqs_backends

        properties = cloudformation_json["Properties"]
        document = properties["PolicyDocument"]
        policy = document if isinstance(document, str) else json.dumps(document)
        urls = [str(url) for url in properties["Queues"]]
        backend = sqs_backends[account_id][region_name]
        for url in urls:
            # Ref of a queue is its URL; the backend keys queues by name, the URL's last part.
            backend.set_queue_attributes(url.rstrip("/").rsplit("/", 1)[-1], {"Policy": policy})
        return cls(account_id, region_name, resource_name, urls)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[account_id][region_name]
        for url in cloudformation_json["Properties"]["Queues"]:
            name = str(url).rstrip("/").rsplit("/", 1)[-1]
            if name in backend.queues:
                backend.queues[name].policy = None


# CloudFormation gives these alarm properties as numbers or strings; the API wants numbers.
_ALARM_INTEGERS = ("EvaluationPeriods", "DatapointsToAlarm", "Period")
_ALARM_FLOATS = ("Threshold",)


def _alarm_request(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's request from the resource's properties (the same names and shapes)."""
    request = {k: v for k, v in properties.items() if k != "AlarmName"}
    request["AlarmName"] = name
    for key in _ALARM_INTEGERS:
        if key in request:
            request[key] = int(request[key])
    for key in _ALARM_FLOATS:
        if key in request:
            request[key] = float(request[key])
    for query in request.get("Metrics", []):
        if isinstance(query.get("ReturnData"), str):
            query["ReturnData"] = query["ReturnData"].lower() == "true"
        stat = query.get("MetricStat")
        if stat is not None and "Period" in stat:
            stat["Period"] = int(stat["Period"])
    return request


class TwinAlarm(_TwinResource):
    """AWS::CloudWatch::Alarm, put through the twin's CloudWatch API in the stack's account."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"Arn": "arn"}

    def __init__(self, account: str, region: str, name: str) -> None:
        super().__init__(account, region, name)
        self.arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TwinAlarm:
        from copy import deepcopy

        request = _alarm_request(resource_name, deepcopy(cloudformation_json["Properties"]))
        client("cloudwatch", account_id, region_name).put_metric_alarm(**request)
        return cls(account_id, region_name, resource_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        client("cloudwatch", account_id, region_name).delete_alarms(AlarmNames=[resource_name])


# -- parameters and rules ---------------------------------------------------------------------


def _validation_error(message: str) -> Exception:
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(message=message)


def _constraint_error(name: str, slot: dict[str, Any], generic: str, value: str) -> Exception:
    # As in AWS, a ConstraintDescription replaces the generic text of whichever constraint
    # failed, so the message says what the value must be in the template's own words.
    return _validation_error(
        f"Parameter '{name}' {slot.get('ConstraintDescription') or generic}, got {value!r}"
    )


def validate_parameters(template: dict[str, Any], values: dict[str, Any]) -> None:
    """CloudFormation's parameter constraints, on the values a stack would get."""
    for name, slot in template.get("Parameters", {}).items():
        if name not in values or str(slot.get("Type", "")).startswith("AWS::SSM::"):
            continue
        text = str(values[name])
        allowed = slot.get("AllowedValues")
        if allowed is not None and text not in [str(a) for a in allowed]:
            raise _constraint_error(name, slot, f"must be one of AllowedValues {allowed}", text)
        pattern = slot.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            raise _constraint_error(name, slot, f"must match pattern {pattern}", text)
        if slot.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError as error:
                raise _constraint_error(name, slot, "must be a number", text) from error
            if "MinValue" in slot and number < float(slot["MinValue"]):
                raise _constraint_error(name, slot, f"must be >= {slot['MinValue']}", text)
            if "MaxValue" in slot and number > float(slot["MaxValue"]):
                raise _constraint_error(name, slot, f"must be <= {slot['MaxValue']}", text)


class _Unresolved(Exception):
    """A rule names a pseudo parameter (AWS::Region, ...) that is known only per stack."""


def _rule_value(node: Any, values: dict[str, Any], conditions: dict[str, Any] | None = None) -> Any:
    """The value of a Rules or Conditions expression; `conditions` resolves `Condition: name`."""

    def value(argument: Any) -> Any:
        return _rule_value(argument, values, conditions)

    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function in {"Condition", "Fn::Condition"} and conditions is not None:
            # Named conditions may refer to each other (the YAML tag loader spells it either way).
            return bool(value(conditions[argument]))
        if function == "Ref":
            if str(argument).startswith("AWS::") and argument not in values:
                raise _Unresolved(argument)
            return values.get(argument, argument)
        if function == "Fn::Equals":
            left, right = (value(a) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not value(argument[0])
        if function == "Fn::And":
            return all(value(a) for a in argument)
        if function == "Fn::Or":
            return any(value(a) for a in argument)
        if function == "Fn::Contains":
            haystack, needle = (value(a) for a in argument)
            return str(needle) in [str(h) for h in haystack]
        raise NotImplementedError(f"rule function {function} is not modelled by the twin")
    return node


def validate_rules(template: dict[str, Any], values: dict[str, Any]) -> None:
    for name, rule in template.get("Rules", {}).items():
        try:
            condition = rule.get("RuleCondition")
            if condition is not None and not _rule_value(condition, values):
                continue
            failed = [a for a in rule.get("Assertions", []) if not _rule_value(a["Assert"], values)]
        except _Unresolved:
            continue  # a StackSet: AWS checks this rule as each instance's stack is created
        for assertion in failed:
            raise _validation_error(
                f"Template error: rule {name}: {assertion.get('AssertDescription', 'failed')}"
            )


def resources_to_create(template: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The logical IDs of the resources whose Condition holds for these values."""
    conditions = template.get("Conditions", {})
    return [
        logical_id
        for logical_id, resource in template.get("Resources", {}).items()
        if "Condition" not in resource
        or _rule_value({"Condition": resource["Condition"]}, values, conditions)
    ]


def validate_not_empty(template: dict[str, Any], values: dict[str, Any]) -> None:
    """CloudFormation refuses a stack with nothing to create (docs/aws-facts.md §H)."""
    if not resources_to_create(template, values):
        raise _validation_error(
            "Template format error: At least one Resources member must be defined "
            "(every resource's Condition is false for these parameters)."
        )


def _effective_values(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    values = {
        name: slot.get("Default")
        for name, slot in template.get("Parameters", {}).items()
        if "Default" in slot
    }
    values.update(given)
    return values


@functools.lru_cache(maxsize=8)
def _parsed_template(template_body: str) -> dict[str, Any]:
    """The template as a dict, short-form tags as Fn:: keys (shared: callers only read it).

    Cached because every stack of a test deploys the same 200 KB body, and parsed with libyaml
    when present: the pure-Python loader takes a quarter of a second for this template.
    """
    import yaml
    from moto.cloudformation.utils import yaml_tag_constructor

    try:
        loaded: dict[str, Any] = json.loads(template_body)
        return loaded
    except ValueError:
        pass

    class TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    # The tag constructor moto uses for the stack itself, so both read the same template.
    TemplateLoader.add_multi_constructor("", yaml_tag_constructor)
    parsed: dict[str, Any] = yaml.load(template_body, Loader=TemplateLoader)
    return parsed


def check_template(
    template_body: str,
    parameters: list[dict[str, Any]] | dict[str, Any],
    pseudo: dict[str, str] | None = None,
) -> None:
    """Validate parameter values and Rules for one stack (or stack instance).

    `pseudo` holds the stack's AWS::AccountId, AWS::Region and AWS::Partition, which Rules
    may name; a StackSet has none until its instances are made.
    """
    template = _parsed_template(template_body)
    if isinstance(parameters, list):
        given = {p["ParameterKey"]: p.get("ParameterValue") for p in parameters}
    else:
        given = dict(parameters)
    values = {**_effective_values(template, given), **(pseudo or {})}
    validate_parameters(template, values)
    validate_rules(template, values)
    if pseudo is not None:  # a stack, or a StackSet's instance: its conditions can be decided
        validate_not_empty(template, values)


# -- StackSets --------------------------------------------------------------------------------


def organizational_unit(
    management_account: str, members: list[str], name: str = "Workloads"
) -> str:
    """An OU in `management_account`'s AWS Organizations that holds `members`; returns its id.

    Service-managed StackSets deploy to OUs, not to listed accounts (docs/aws-facts.md §E.3), and
    moto's StackSets resolve an OU through moto's Organizations. moto makes up the ID of every
    account it creates, so each account made here is given the twin's fixed ID instead, and
    stack instances land in the same accounts the tests read.
    """
    from moto.organizations.models import organizations_backends

    organizations = client("organizations", management_account, "us-east-1")
    with contextlib.suppress(organizations.exceptions.AlreadyInOrganizationException):
        organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    unit: str = organizations.create_organizational_unit(ParentId=root, Name=name)[
        "OrganizationalUnit"
    ]["Id"]
    backend = organizations_backends[management_account]["aws"]
    for member in members:
        made = organizations.create_account(
            AccountName=f"twin-{member}", Email=f"{member}@example.com"
        )
        account = backend.get_account_by_id(made["CreateAccountStatus"]["AccountId"])
        organizations_backends.master_accounts[member] = organizations_backends.master_accounts.pop(
            account.id
        )
        account.id = member
        organizations.move_account(AccountId=member, SourceParentId=root, DestinationParentId=unit)
    return unit


# -- installation -----------------------------------------------------------------------------


def _install_state_machine() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    from statemachines.definition import substitute_text

    original = StateMachine.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        if not _active:
            return original(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        properties = cloudformation_json["Properties"]
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition_of(properties),
            roleArn=properties.get("RoleArn", ""),
            loggingConfiguration=properties.get("LoggingConfiguration"),
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    def definition_of(properties: dict[str, Any]) -> str:
        definition = properties.get("DefinitionString")
        if definition is None:
            definition = json.dumps(properties.get("Definition", {}))
        substitutions = properties.get("DefinitionSubstitutions") or {}
        return substitute_text(definition, dict(substitutions))

    original_update = StateMachine.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        if not _active:
            return original_update(
                cls,
                original_resource,
                new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        backend = get_backend(account_id, region_name)
        if name != original_resource.name:
            # A new name means a new state machine (CloudFormation replaces it).
            replacement = create_from_cloudformation_json(
                cls, name, cloudformation_json, account_id, region_name
            )
            backend.delete_state_machine(original_resource.arn)
            return replacement
        return backend.update_state_machine(
            original_resource.arn,
            definition=definition_of(properties),
            role_arn=properties.get("RoleArn"),
            logging_configuration=properties.get("LoggingConfiguration"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    StateMachine.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)  # type: ignore[method-assign,assignment]


# Function properties moto's CloudFormation model drops (it passes a fixed list of seven), but
# its CreateFunction honours: without them every function would be x86_64 and layer-less.
_FUNCTION_PROPERTIES = (
    "Description",
    "MemorySize",
    "Publish",
    "Timeout",
    "VpcConfig",
    "Environment",
    "ReservedConcurrentExecutions",
    "Architectures",
    "Layers",
    "TracingConfig",
    "EphemeralStorage",
    "KmsKeyArn",
    "DeadLetterConfig",
)


def _install_function_properties() -> None:
    import base64

    from moto.awslambda import models as lambda_models

    function_class = lambda_models.LambdaFunction
    original = function_class.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def packaged(code: dict[str, Any]) -> dict[str, Any]:
        # CloudFormation writes inline code to index.py (docs/aws-facts.md §E.1).
        if "ZipFile" not in code:
            return dict(code)
        inline = function_class._create_zipfile_from_plaintext_code(code["ZipFile"])
        return {**code, "ZipFile": base64.b64encode(inline)}

    def create_from_cloudformation_json(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        if not _active:
            return original(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        properties = cloudformation_json["Properties"]
        spec = {
            "Code": packaged(properties["Code"]),
            "FunctionName": resource_name,
            "Handler": properties.get("Handler"),
            "Role": properties["Role"],
            "Runtime": properties.get("Runtime"),
            **{k: properties[k] for k in _FUNCTION_PROPERTIES if k in properties},
        }
        return lambda_models.lambda_backends[account_id][region_name].create_function(spec)

    function_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]

    original_update = function_class.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        # Stock moto takes an updated inline ZipFile for a base64 zip and breaks the function:
        # an update writes index.py again, as a create does.
        if _active and "Code" in cloudformation_json["Properties"]:
            properties = cloudformation_json["Properties"]
            properties = {**properties, "Code": packaged(properties["Code"])}
            cloudformation_json = {**cloudformation_json, "Properties": properties}
        return original_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )

    function_class.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _install_layers() -> None:
    from moto.awslambda import models as lambda_models

    original = lambda_models.LambdaFunction._get_layers_data

    def _get_layers_data(self: Any, layers_versions_arns: list[str]) -> Any:
        public = [arn for arn in layers_versions_arns if f":{POWERTOOLS_ACCOUNT}:layer:" in arn]
        rest = [arn for arn in layers_versions_arns if arn not in public]
        found = original(self, rest) if rest else []
        return [{"Arn": arn, "CodeSize": 4_000_000} for arn in public] + found

    lambda_models.LambdaFunction._get_layers_data = _get_layers_data


def _install_template_parsing() -> None:
    """moto parses a stack's template with the pure-Python YAML loader, several times per
    stack; the twin hands it a private copy of the cached libyaml parse instead (identical
    result, a fraction of the time for a 200 KB template)."""
    import copy

    from moto.cloudformation import models as cfn_models

    original = cfn_models.Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        if not _active:
            return original(template)
        # A deep copy: moto fills in and rewrites parts of the dict as it creates resources.
        return copy.deepcopy(_parsed_template(template))

    cfn_models.Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]


def _install_no_value() -> None:
    """`!Ref AWS::NoValue` removes a list element, as CloudFormation does; stock moto keeps a
    null there (an IAM policy statement `!If [Cond, {...}, !Ref AWS::NoValue]` became null)."""
    from moto.cloudformation import parsing

    original = parsing.clean_json
    if getattr(original, "_twin", False):
        return

    def no_value(given: Any, resources_map: Any) -> bool:
        """Does this element stand for AWS::NoValue (itself, or the branch an Fn::If takes)?"""
        if not isinstance(given, dict):
            return False
        if given == {"Ref": "AWS::NoValue"}:
            return True
        if "Fn::If" in given:
            condition, when_true, when_false = given["Fn::If"]
            chosen = when_true if resources_map.lazy_condition_map[condition] else when_false
            return no_value(chosen, resources_map)
        return False

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        cleaned = original(resource_json, resources_map)
        if _active and isinstance(resource_json, list) and isinstance(cleaned, list):
            return [
                item
                for item, given in zip(cleaned, resource_json, strict=True)
                if not no_value(given, resources_map)
            ]
        return cleaned

    clean_json._twin = True  # type: ignore[attr-defined]
    # clean_json calls itself through the module's name, so nested lists are cleaned too.
    parsing.clean_json = clean_json


def _pseudo(backend: Any) -> dict[str, str]:
    return _pseudo_of(str(backend.account_id), str(backend.region_name))


def _pseudo_of(account: str, region: str) -> dict[str, str]:
    partition = (
        "aws-cn"
        if region.startswith("cn-")
        else ("aws-us-gov" if region.startswith("us-gov-") else "aws")
    )
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": partition,
    }


def _install_validation() -> None:
    from moto.cloudformation import models as cfn_models

    backend = cfn_models.CloudFormationBackend
    original_stack = backend.create_stack
    original_set = backend.create_stack_set

    def create_stack(
        self: Any, name: str, template: str, parameters: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if _active:
            check_template(template, parameters, _pseudo(self))
        return original_stack(self, name, template, parameters, *args, **kwargs)

    def create_stack_set(
        self: Any, name: str, template: str, parameters: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if _active:
            check_template(template, parameters)
        return original_set(self, name, template, parameters, *args, **kwargs)

    original_update = backend.update_stack

    def update_stack(
        self: Any,
        name: str,
        template: str,
        role_arn: str | None,
        parameters: list[dict[str, Any]],
        tags: dict[str, str] | None,
    ) -> Any:
        if _active:
            check_template(template, parameters, _pseudo(self))
            stack = self.get_stack(name)
            given = {p["ParameterKey"]: p.get("ParameterValue") for p in parameters}
            current = {k: v for k, v in stack.parameters.items() if k in given}
            if template == stack.template and {k: str(v) for k, v in given.items()} == {
                k: str(v) for k, v in current.items()
            }:
                # AWS refuses an update that changes nothing, and scripts rely on that answer.
                raise _validation_error("No updates are to be performed.")
        return original_update(self, name, template, role_arn, parameters, tags)

    backend.create_stack = create_stack
    backend.create_stack_set = create_stack_set
    backend.update_stack = update_stack


def _install_stack_instances() -> None:
    """Each StackSet instance is a stack of its own account and Region, as in AWS.

    CloudFormation creates it there under the name `StackSet-<name>-<uuid>` (docs/aws-facts.md
    §E.3): DescribeStacks and ListStackResources answer for it in that account, its exports
    are that Region's, and ListStackInstances and DescribeStackInstance name its StackId.
    Stock moto keeps a service-managed instance's stack out of every account and makes up a
    new StackId at each listing. An instance whose stack CloudFormation would refuse (a Rule,
    an empty stack) fails by itself: OUTDATED with the reason, no stack and so no StackId, its
    operation FAILED; the other instances are made.
    """
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.exceptions import ValidationError

    instance_class = cfn_models.StackInstance
    original_init = instance_class.__init__
    original_to_dict = instance_class.to_dict
    original_delete = instance_class.delete

    def init(
        self: Any,
        account_id: str,
        region_name: str,
        stackset_id: str,
        stack_name: str,
        name: str,
        template: str,
        parameters: Any,
        permission_model: str,
    ) -> None:
        if not _active:
            original_init(
                self,
                account_id,
                region_name,
                stackset_id,
                stack_name,
                name,
                template,
                parameters,
                permission_model,
            )
            return
        self.account_id, self.region_name = account_id, region_name
        self.stackset_id, self.stack_name, self.name = stackset_id, stack_name, name
        self.template, self.parameters = template, parameters or []
        self.permission_model, self.stack, self.twin_failure = permission_model, None, None
        values = (
            {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
            if isinstance(parameters, list)
            else dict(parameters or {})
        )
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        try:
            # CreateStack in the member account, with its checks (Rules, an empty stack).
            self.stack = backend.create_stack(
                name=_instance_stack_name(name, account_id, region_name),
                template=template,
                parameters=values,
            )
        except ValidationError as refused:
            self.twin_failure = refused.message

    def to_dict(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = original_to_dict(self)
        if not hasattr(self, "twin_failure"):  # made by stock moto, while no twin ran
            return described
        if self.stack is None:
            del described["StackId"]  # CloudFormation refused the stack: there is none
            described.update(
                Status="OUTDATED",
                StatusReason=self.twin_failure,
                StackInstanceStatus={"DetailedStatus": "FAILED"},
            )
        else:
            described["StackId"] = self.stack.stack_id
        return described

    def delete(self: Any) -> None:
        if not hasattr(self, "twin_failure"):
            original_delete(self)
        elif self.stack is not None:
            backend = cfn_models.cloudformation_backends[self.account_id][self.region_name]
            backend.delete_stack(self.stack.stack_id)

    instance_class.__init__ = init  # type: ignore[method-assign]
    instance_class.to_dict = to_dict  # type: ignore[method-assign]
    instance_class.delete = delete  # type: ignore[method-assign]

    stack_set_class = cfn_models.StackSet
    original_create = stack_set_class.create_stack_instances

    def create_stack_instances(self: Any, *args: Any, **kwargs: Any) -> str:
        before = {id(i) for i in self.instances.stack_instances}
        operation_id: str = original_create(self, *args, **kwargs)
        made = [i for i in self.instances.stack_instances if id(i) not in before]
        if any(getattr(i, "twin_failure", None) for i in made):
            self.get_operation(operation_id)["Status"] = "FAILED"
        return operation_id

    stack_set_class.create_stack_instances = create_stack_instances  # type: ignore[method-assign]


def _instance_stack_name(stack_set: str, account: str, region: str) -> str:
    """`StackSet-<name>-<uuid>`, the name of an instance's stack (docs/aws-facts.md §E.3).

    AWS's UUID is random. Here it comes from the StackSet, the place and how many instances
    of that StackSet the place had in this twin's life, so that two twins name the same
    instance alike, and with it every resource name derived from the stack name
    (`_install_resource_names`).
    """
    _instance_stacks[(stack_set, account, region)] += 1
    seed = f"{stack_set}/{account}/{region}/{_instance_stacks[(stack_set, account, region)]}"
    digest = hashlib.sha256(seed.encode()).digest()[:16]
    return f"StackSet-{stack_set}-{uuid.UUID(bytes=digest, version=4)}"


_INSTALLED = False
_active = False


_generated_names: Counter[tuple[str, str]] = Counter()
_instance_stacks: Counter[tuple[str, str, str]] = Counter()


def activate(active: bool) -> None:
    """Whether the patches serve a running twin (False: stock moto's CloudFormation again)."""
    global _active
    _active = active
    _generated_names.clear()
    _instance_stacks.clear()


def _install_resource_names() -> None:
    """Names CloudFormation makes up are repeatable within a twin's life.

    AWS adds a random suffix (`<stack>-<logical id>-<suffix>`); here the suffix comes from
    the stack, the resource and how many such names this twin made before, so two twins that
    deploy the same stacks get the same names, and the same state machine definitions, whose
    parse (the slow part of CreateStateMachine) is then reused.
    """
    from moto.cloudformation import parsing

    original = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = original(resource_type, stack_name, logical_id)
        if not _active or resource_type in ("AWS::IAM::Policy", "AWS::S3::Bucket"):
            return name
        _generated_names[(stack_name, logical_id)] += 1
        seed = f"{stack_name}/{logical_id}/{_generated_names[(stack_name, logical_id)]}"
        suffix = hashlib.sha256(seed.encode()).hexdigest()[:12].upper()
        return f"{stack_name}-{logical_id}-{suffix}"

    parsing.generate_resource_name = generate_resource_name


_DYNAMIC_SSM = re.compile(r"\{\{resolve:ssm:(?P<name>[^:}]+)(?::(?P<version>\d+))?\}\}")


def _install_dynamic_references() -> None:
    """`{{resolve:ssm:NAME}}` in a resource property reads the SSM parameter, as AWS does.

    The template takes the public Powertools layer parameter this way (docs/aws-facts.md
    §E.5); stock moto leaves the reference text in place. A missing parameter fails the
    stack, naming it.
    """
    from moto.cloudformation import parsing
    from moto.ssm.models import ssm_backends

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if _active and isinstance(resource_json, str) and "{{resolve:ssm:" in resource_json:

            def value(match: re.Match[str]) -> str:
                backend = ssm_backends[resources_map._account_id][resources_map._region_name]
                found = backend.get_parameter(match["name"])
                if found is None:
                    raise _validation_error(f"Parameters: [ssm:{match['name']}] cannot be found.")
                return str(found.value)

            return _DYNAMIC_SSM.sub(value, resource_json)
        return original(resource_json, resources_map)

    parsing.clean_json = clean_json


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.cloudformation import parsing

    model_map = parsing.get_model_map()
    name_types = parsing.get_name_type_map()
    for model in (TwinBackupVault, TwinQueuePolicy, TwinAlarm):
        model_map[model.cloudformation_type()] = model
        name_types[model.cloudformation_type()] = model.cloudformation_name_type()
    _install_state_machine()
    _install_function_properties()
    _install_layers()
    _install_validation()
    _install_stack_instances()
    _install_public_parameters()
    _install_template_parsing()
    _install_no_value()
    _install_dynamic_references()
    _install_resource_names()
    _INSTALLED = True
