"""Creating the template's tables, queues and schedule group on an AWS-compatible endpoint, and
resolving each function's environment (``!Ref``, ``!GetAtt``, ``!Sub``) against what was made.

Creation reuses what already exists under the same names (a second ``agentmessage local`` on the
same external endpoint, or a restart against it): a table or schedule group that is there is
kept as it is, with its data; a queue keeps its messages and gets the template's attributes.
"""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

from agentmessage_local.template import FunctionSpec, load_template, resources, table_definitions

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Stack:
    """Physical ids by logical id: ``refs`` answers ``!Ref``, ``attributes`` answers ``!GetAtt``,
    ``conditions`` the template's conditions as its parameters decide them."""

    prefix: str
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)

    def resolve(self, value: Any) -> str:
        if isinstance(value, str | int | float):
            return str(value)
        if "Ref" in value:
            return self.refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.attributes[(logical_id, attribute)]
        if "Fn::Sub" in value:
            template, names = value["Fn::Sub"], {}
            if isinstance(template, list):
                template, variables = template
                names = {name: self.resolve(variable) for name, variable in variables.items()}
            return re.sub(
                r"\$\{([^}]+)\}",
                lambda match: names.get(match.group(1)) or self._sub(match.group(1)),
                template,
            )
        if "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.conditions[condition] else when_false)
        raise ValueError(f"cannot resolve {value!r} locally")

    def _sub(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.attributes[(logical_id, attribute)]
        return self.refs[name]

    def holds(self, expression: Any, template: dict[str, Any]) -> bool:
        """A condition's value: ``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``."""
        if "Condition" in expression:
            return self.holds(template["Conditions"][expression["Condition"]], template)
        if "Fn::Equals" in expression:
            left, right = expression["Fn::Equals"]
            return self.resolve(left) == self.resolve(right)
        if "Fn::Not" in expression:
            return not self.holds(expression["Fn::Not"][0], template)
        if "Fn::And" in expression:
            return all(self.holds(each, template) for each in expression["Fn::And"])
        if "Fn::Or" in expression:
            return any(self.holds(each, template) for each in expression["Fn::Or"])
        raise ValueError(f"cannot evaluate the condition {expression!r} locally")

    def environment(self, function: FunctionSpec) -> dict[str, str]:
        return {name: self.resolve(value) for name, value in function.environment.items()}

    def to_json(self) -> dict[str, Any]:
        attributes = {f"{logical_id}.{name}": value for (logical_id, name), value in self.attributes.items()}
        return {
            "prefix": self.prefix,
            "refs": dict(self.refs),
            "attributes": attributes,
            "conditions": dict(self.conditions),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Stack":
        attributes = {}
        for key, value in data["attributes"].items():
            logical_id, name = key.split(".", 1)
            attributes[(logical_id, name)] = value
        return cls(
            prefix=data["prefix"],
            refs=dict(data["refs"]),
            attributes=attributes,
            conditions=dict(data.get("conditions", {})),
        )


def _parameters(stack: Stack, template: dict[str, Any], overrides: dict[str, str]) -> None:
    for name, spec in template.get("Parameters", {}).items():
        stack.refs[name] = str(overrides.get(name, spec.get("Default", "")))
    stack.refs.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"})
    stack.refs["AWS::URLSuffix"] = "amazonaws.com"
    for name, expression in template.get("Conditions", {}).items():
        stack.conditions[name] = stack.holds(expression, template)
    # End User Messaging is not emulated: its configuration set is a name only.
    for logical_id, resource in resources("AWS::SMSVOICE::ConfigurationSet", template).items():
        if stack.conditions.get(resource.get("Condition", ""), True):
            stack.refs[logical_id] = stack.resolve(resource["Properties"]["ConfigurationSetName"])


def create_stack(
    session: boto3.session.Session,
    *,
    prefix: str = "agentmessage",
    endpoint_url: str | None = None,
    parameters: dict[str, str] | None = None,
) -> Stack:
    """Create every table, queue and schedule group of the template; returns their physical ids."""
    template = load_template()
    stack = Stack(prefix=prefix)
    _parameters(stack, template, {"Stage": "dev", **(parameters or {})})
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url, region_name=REGION)
    for logical_id, definition in table_definitions(template).items():
        name = f"{prefix}-{logical_id}"
        _ensure_table(dynamodb, name, definition)
        stack.refs[logical_id] = name
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    sqs = session.client("sqs", endpoint_url=endpoint_url, region_name=REGION)
    queues = resources("AWS::SQS::Queue", template)
    # Dead-letter queues first, so redrive policies can name them.
    for logical_id in sorted(queues, key=lambda lid: "RedrivePolicy" in queues[lid].get("Properties", {})):
        props = queues[logical_id].get("Properties", {})
        attributes: dict[Any, str] = {  # botocore's literal attribute names
            key: str(props[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if key in props
        }
        if "RedrivePolicy" in props:
            policy = props["RedrivePolicy"]
            target = stack.resolve(policy["deadLetterTargetArn"])
            attributes["RedrivePolicy"] = (
                f'{{"deadLetterTargetArn":"{target}","maxReceiveCount":"{policy["maxReceiveCount"]}"}}'
            )
        name = f"{prefix}-{logical_id}"
        try:  # the same name and attributes: SQS answers the existing queue
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as exc:  # other attributes: keep the queue, take the template's
            if _error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            if attributes:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        stack.refs[logical_id] = url
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        stack.attributes[(logical_id, "QueueName")] = name
    scheduler = session.client("scheduler", endpoint_url=endpoint_url, region_name=REGION)
    for logical_id in resources("AWS::Scheduler::ScheduleGroup", template):
        name = f"{prefix}-{logical_id}"
        _ensure_schedule_group(scheduler, name)
        stack.refs[logical_id] = name
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}"
    for logical_id in resources("AWS::IAM::Role", template):
        stack.refs[logical_id] = f"{prefix}-{logical_id}"
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:iam::{ACCOUNT}:role/{prefix}-{logical_id}"
    sns = session.client("sns", endpoint_url=endpoint_url, region_name=REGION)
    for logical_id in resources("AWS::SNS::Topic", template):
        # SNS answers an existing topic of the same name
        stack.refs[logical_id] = sns.create_topic(Name=f"{prefix}-{logical_id}")["TopicArn"]
        stack.attributes[(logical_id, "TopicName")] = f"{prefix}-{logical_id}"
    for resource in resources("AWS::SNS::Subscription", template).values():
        _ensure_subscription(sns, stack, resource["Properties"])
    return stack


def _ensure_subscription(sns: Any, stack: Stack, props: dict[str, Any]) -> None:
    """Subscribe the endpoint to the topic, once (a restart against the same endpoint keeps it)."""
    topic, endpoint = stack.resolve(props["TopicArn"]), stack.resolve(props["Endpoint"])
    existing = sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
    if any(each.get("Endpoint") == endpoint for each in existing):
        return
    attributes = {"RawMessageDelivery": "true" if props.get("RawMessageDelivery") else "false"}
    sns.subscribe(TopicArn=topic, Protocol=str(props["Protocol"]), Endpoint=endpoint, Attributes=attributes)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _ensure_table(dynamodb: "DynamoDBClient", name: str, definition: dict[str, Any]) -> None:
    """Create the table, or keep the one of that name (``ResourceInUseException``)."""
    try:
        dynamodb.create_table(TableName=name, **definition["create"])
    except ClientError as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if not definition["ttl"] or current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
    if definition["ttl"]:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=definition["ttl"])


def _ensure_schedule_group(scheduler: "EventBridgeSchedulerClient", name: str) -> None:
    """Create the schedule group, or keep the one of that name (``ConflictException``)."""
    try:
        scheduler.create_schedule_group(Name=name)
    except ClientError as exc:
        if _error_code(exc) != "ConflictException":
            raise


def planned_stack(*, prefix: str = "agentmessage", parameters: dict[str, str] | None = None) -> Stack:
    """The names ``create_stack`` would give, without creating anything (placeholders)."""
    template = load_template()
    stack = Stack(prefix=prefix)
    _parameters(stack, template, {"Stage": "dev", **(parameters or {})})
    arns = {
        "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
        "AWS::Scheduler::ScheduleGroup": "arn:aws:scheduler:{region}:{account}:schedule-group/{name}",
        "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    }
    for kind, arn in arns.items():
        for logical_id in resources(kind, template):
            name = f"{prefix}-{logical_id}"
            stack.refs[logical_id] = name
            stack.attributes[(logical_id, "Arn")] = arn.format(region=REGION, account=ACCOUNT, name=name)
            if kind == "AWS::SQS::Queue":
                stack.refs[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
                stack.attributes[(logical_id, "QueueName")] = name
    for logical_id in resources("AWS::SNS::Topic", template):
        stack.refs[logical_id] = f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-{logical_id}"
        stack.attributes[(logical_id, "TopicName")] = f"{prefix}-{logical_id}"
    return stack
