"""``infra/template.yaml`` pinned down: the REST API and its authorizer, the routes, the gateway
responses, the tables, Globals, log groups and the API's access logs, the dispatch queue and the
dispatcher's concurrency, the scheduler role, the sweep's schedule, the alarms, and least
privilege (each function granted exactly its own actions on its own resources).

The dynamic half of least privilege (the actions each function really calls) is in
``tests/integration/test_least_privilege.py``.
"""

import inspect
import json
import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

from agentmessage.api.v1.errors import ERRORS
from agentmessage_local.template import ROOT, TEMPLATE, functions, load_template, resources

API = "MessagesApi"
AUTHORIZER = "AuthorizerFunction"
SEND = "SendMessageFunction"
GET = "GetMessageFunction"
CANCEL = "CancelMessageFunction"
DISPATCH = "DispatchFunction"
SWEEP = "SweepFunction"
RECEIPT = "ReceiptFunction"

# What API Gateway puts in place of $context.requestId (a request id has this shape).
REQUEST_ID = "c0ffee00-1234-4abc-9def-0123456789ab"


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def ref(logical_id: str) -> dict[str, Any]:
    return {"Ref": logical_id}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def api(template: dict[str, Any]) -> dict[str, Any]:
    apis = resources("AWS::Serverless::Api", template)
    assert list(apis) == [API]
    props: dict[str, Any] = apis[API]["Properties"]
    return props


def function_props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = resources("AWS::Serverless::Function", template)[logical_id]["Properties"]
    return props


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the REST API, its authorizer and its routes ----------------------------------------------------


def test_the_apis_default_authorizer_is_the_request_lambda_authorizer(api: dict[str, Any]) -> None:
    auth = api["Auth"]
    # Given the authorizer every route gets unless it says otherwise
    default = auth["DefaultAuthorizer"]
    authorizer = auth["Authorizers"][default]

    # Then it is the authorizer function, REQUEST type, keyed on the Authorization header alone,
    # its result cached 300 s
    assert authorizer["FunctionArn"] == get_att(AUTHORIZER)
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["Identity"] == {"Headers": ["Authorization"], "ReauthorizeEvery": 300}


EXPECTED_ROUTES = {
    ("POST", "/v1/messages"): SEND,
    ("GET", "/v1/messages/{id}"): GET,
    ("DELETE", "/v1/messages/{id}"): CANCEL,
}


def api_routes(template: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, function, event properties) for every Api event of every function."""
    for logical_id, function in resources("AWS::Serverless::Function", template).items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                yield props["Method"].upper(), props["Path"], logical_id, props


def test_each_route_is_its_own_function_behind_the_authorizer(template: dict[str, Any]) -> None:
    routes = list(api_routes(template))
    served = {(method, path): function for method, path, function, _ in routes}

    # The three routes, each on its own function
    assert {route: served.get(route) for route in EXPECTED_ROUTES} == EXPECTED_ROUTES
    assert len(set(EXPECTED_ROUTES.values())) == 3
    # No function serves two routes, no catch-all route, and none is declared twice
    functions_serving = [function for _, _, function, _ in routes]
    assert len(functions_serving) == len(set(functions_serving))
    assert not [path for _, path, _, _ in routes if "+}" in path]
    assert len(served) == len(routes)
    # Every route is on this API, and none opts out of the default authorizer
    for _, _, _, props in routes:
        assert props["RestApiId"] == ref(API)
        assert "Auth" not in props
    # The authorizer itself is no route
    assert AUTHORIZER not in functions_serving


# -- gateway responses: the API's own envelope, whatever API Gateway answers itself ----------------


# Each API error code and the HTTP statuses it is answered with (from the v1 error table).
API_CODES: dict[str, set[int]] = {}
for _entry in ERRORS.values():
    API_CODES.setdefault(_entry.code, set()).add(int(_entry.status))


def rendered(response: dict[str, Any]) -> dict[str, Any]:
    """The body API Gateway sends for this gateway response, with a request id substituted."""
    body = response["ResponseTemplates"]["application/json"].replace("$context.requestId", REQUEST_ID)
    try:
        parsed: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        pytest.fail(f"not JSON once $context.requestId is substituted: {body!r} ({exc})")
    return parsed


# name: (status, code, retry-after); a status of None keeps API Gateway's own 4xx / 5xx
REQUIRED_RESPONSES: dict[str, tuple[int | None, str | None, bool]] = {
    "UNAUTHORIZED": (401, "UNAUTHORIZED", False),
    "ACCESS_DENIED": (403, "FORBIDDEN", False),
    "MISSING_AUTHENTICATION_TOKEN": (404, "NOT_FOUND", False),  # an unknown route
    "THROTTLED": (429, "RATE_LIMITED", True),
    "AUTHORIZER_CONFIGURATION_ERROR": (503, "SERVICE_UNAVAILABLE", True),
    "DEFAULT_4XX": (None, None, False),
    "DEFAULT_5XX": (None, None, False),
}


@pytest.mark.parametrize("name", list(REQUIRED_RESPONSES))
def test_the_required_gateway_responses_exist_with_their_status_and_code(
    api: dict[str, Any], name: str
) -> None:
    status, code, retry_after = REQUIRED_RESPONSES[name]
    response = api["GatewayResponses"][name]

    if status is None:
        # A catch-all keeps the status API Gateway chose
        assert "StatusCode" not in response
    else:
        assert int(response["StatusCode"]) == status
    if code is not None:
        assert rendered(response)["error"]["code"] == code
    headers = response["ResponseParameters"]["Headers"]
    if retry_after:
        # A literal (quoted) number of seconds
        assert re.fullmatch(r"'[1-9][0-9]*'", headers["Retry-After"]), headers
    else:
        assert "Retry-After" not in headers


def gateway_responses() -> list[str]:
    props = resources("AWS::Serverless::Api")[API]["Properties"]
    return list(props["GatewayResponses"])


@pytest.mark.parametrize("name", gateway_responses())
def test_every_gateway_response_renders_the_error_envelope(api: dict[str, Any], name: str) -> None:
    response = api["GatewayResponses"][name]

    # Given API Gateway's rendering of its JSON template for a request
    assert set(response["ResponseTemplates"]) == {"application/json"}
    body = rendered(response)

    # Then it is the API's error envelope, with the request's id
    assert body == {
        "success": False,
        "error": {
            "code": body["error"]["code"],
            "message": body["error"]["message"],
            "request_id": REQUEST_ID,
        },
    }
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    # its code is one of the API's, answered with a status that code has
    code = body["error"]["code"]
    assert code in API_CODES, code
    if "StatusCode" in response:
        assert int(response["StatusCode"]) in API_CODES[code], (name, code)
    elif name == "DEFAULT_4XX":
        assert all(400 <= status < 500 for status in API_CODES[code]), code
    elif name == "DEFAULT_5XX":
        assert all(status >= 500 for status in API_CODES[code]), code
    # and the headers say JSON and name the request (context.requestId: API Gateway's request id)
    headers = response["ResponseParameters"]["Headers"]
    assert headers["Content-Type"] == "'application/json'"
    assert headers["X-Request-Id"] == "context.requestId"


def retryable_responses() -> list[str]:
    """The gateway responses answered 429 or 503."""
    props = resources("AWS::Serverless::Api")[API]["Properties"]
    return [
        name
        for name, response in props["GatewayResponses"].items()
        if int(response.get("StatusCode", 0))
        in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
    ]


@pytest.mark.parametrize("name", retryable_responses())
def test_a_throttled_or_unavailable_gateway_response_says_when_to_retry(
    api: dict[str, Any], name: str
) -> None:
    # As the API's own 429 and 503 do (DESIGN: "Retry-After header")
    headers = api["GatewayResponses"][name]["ResponseParameters"]["Headers"]

    assert re.fullmatch(r"'[1-9][0-9]*'", headers["Retry-After"]), headers


# -- tables -----------------------------------------------------------------------------------------


TABLES = ("MessagesTable", "ApiKeysTable", "IdempotencyTable")


def test_the_three_tables_are_on_demand_with_point_in_time_recovery(template: dict[str, Any]) -> None:
    tables = resources("AWS::DynamoDB::Table", template)

    assert sorted(tables) == sorted(TABLES)
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert "ProvisionedThroughput" not in props, logical_id
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, logical_id
        for index in props.get("GlobalSecondaryIndexes", []):
            assert "ProvisionedThroughput" not in index, (logical_id, index["IndexName"])


def test_idempotency_records_expire_through_the_tables_ttl(template: dict[str, Any]) -> None:
    props = resources("AWS::DynamoDB::Table", template)["IdempotencyTable"]["Properties"]
    # Powertools' DynamoDB persistence layer, as agentmessage.idempotency builds it (its defaults)
    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters

    # The table's TTL attribute is the one Powertools writes the expiry to ...
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": defaults["expiry_attr"].default,
        "Enabled": True,
    }
    # ... and its key is the one Powertools writes
    assert props["KeySchema"] == [{"AttributeName": defaults["key_attr"].default, "KeyType": "HASH"}]


# -- Globals, layer, log groups ---------------------------------------------------------------------


def test_globals_set_runtime_architecture_tracing_powertools_and_the_common_layer(
    template: dict[str, Any],
) -> None:
    globals_ = template["Globals"]["Function"]

    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    assert globals_["Layers"] == [ref("CommonLayer")]
    variables = globals_["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "agentmessage"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "AgentMessage"
    assert variables["POWERTOOLS_LOG_LEVEL"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
    # Events carry keys and message texts: never logged
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_no_function_overrides_the_globals_or_drops_the_common_layer(template: dict[str, Any]) -> None:
    for logical_id, function in resources("AWS::Serverless::Function", template).items():
        props = function["Properties"]
        for name in ("Runtime", "Architectures", "Tracing", "Layers"):
            assert name not in props, (logical_id, name)
        assert functions(template)[logical_id].layer_dirs == (ROOT / "layers" / "common",), logical_id


def test_the_shared_code_is_one_layer_for_python313_on_arm64(template: dict[str, Any]) -> None:
    layers = resources("AWS::Serverless::LayerVersion", template)

    assert list(layers) == ["CommonLayer"]
    props = layers["CommonLayer"]["Properties"]
    assert props["ContentUri"] == "../layers/common"
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["arm64"]


def test_every_function_has_its_own_log_group_with_retention(
    template: dict[str, Any], api: dict[str, Any]
) -> None:
    log_groups = resources("AWS::Logs::LogGroup", template)
    by_name = {json.dumps(group["Properties"]["LogGroupName"]): group for group in log_groups.values()}

    names = sorted(resources("AWS::Serverless::Function", template))
    assert names == sorted([AUTHORIZER, SEND, GET, CANCEL, DISPATCH, SWEEP, RECEIPT])
    for logical_id in names:
        # The name Lambda writes to: /aws/lambda/<the function's physical name>
        group = by_name.get(json.dumps(sub(f"/aws/lambda/${{{logical_id}}}")))
        assert group is not None, f"no log group for {logical_id}"
        retention = group["Properties"]["RetentionInDays"]
        if isinstance(retention, dict):
            parameter = template["Parameters"][retention["Ref"]]
            assert parameter["Type"] == "Number"
            assert parameter["Default"] in parameter["AllowedValues"]
        else:
            assert int(retention) > 0
    # and no log group for anything else but the API's access logs
    access_logs = api["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert access_logs in log_groups
    assert len(log_groups) == len(names) + 1


# -- API access logs --------------------------------------------------------------------------------

CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z_.]+")

# What an operator needs from each line, under these names: who asked what, the answer, how long the
# integration and the authorizer took, and what went wrong.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integration.latency",
    "authorizerError": "$context.authorizer.error",
    "authorizerLatency": "$context.authorizer.latency",
    "errorMessage": "$context.error.message",
}
# Text the client chose: one of these in a line could break its JSON or forge a field.
CLIENT_TEXT = {"$context.path", "$context.identity.userAgent", "$context.identity.caller"}


def test_the_api_writes_its_access_logs_to_a_log_group_of_its_own_with_retention(
    template: dict[str, Any], api: dict[str, Any]
) -> None:
    setting = api["AccessLogSetting"]
    logical_id, attribute = setting["DestinationArn"]["Fn::GetAtt"]

    assert attribute == "Arn"
    group = resources("AWS::Logs::LogGroup", template)[logical_id]["Properties"]
    assert group["RetentionInDays"] == ref("LogRetentionDays")
    # named for the API and its stage, not after any function
    assert group["LogGroupName"] == sub("/aws/apigateway/agentmessage-${Stage}/access")


def test_each_access_log_line_is_json_with_the_fields_an_operator_needs(api: dict[str, Any]) -> None:
    log_format = api["AccessLogSetting"]["Format"]

    # Given the line as written, every variable still in place: one JSON object
    fields = json.loads(log_format)

    # each value exactly one quoted variable, so whatever API Gateway writes there ("-" for none,
    # a number, a message) the line stays JSON
    assert all(CONTEXT_VARIABLE.fullmatch(value) for value in fields.values()), fields
    for stand_in in ("-", "1234", "Unauthorized"):
        assert json.loads(CONTEXT_VARIABLE.sub(stand_in, log_format)).keys() == fields.keys()
    # the fields asked for, under these names
    assert {name: fields.get(name) for name in ACCESS_LOG_FIELDS} == ACCESS_LOG_FIELDS
    # and nothing the client wrote itself
    assert not CLIENT_TEXT & set(fields.values())


# -- the dispatch queue -----------------------------------------------------------------------------


def test_the_dispatch_queue_has_a_dead_letter_queue_and_outlasts_the_dispatcher(
    template: dict[str, Any],
) -> None:
    queues = resources("AWS::SQS::Queue", template)
    queue = queues["DispatchQueue"]["Properties"]
    dispatcher = functions(template)[DISPATCH]

    # Given the queue the dispatcher is triggered by
    [event] = dispatcher.events.values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == get_att("DispatchQueue")

    # Then a message that keeps failing goes to a dead-letter queue of the template
    redrive = queue["RedrivePolicy"]
    target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
    assert target[1] == "Arn"
    assert target[0] in queues
    assert target[0] != "DispatchQueue"
    assert int(redrive["maxReceiveCount"]) >= 1
    # which keeps it longer than the queue would have (the expiry counts from the first enqueue)
    dead_letter = queues[target[0]]["Properties"]
    assert int(dead_letter["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])
    # And the visibility timeout is at least six times the dispatcher's timeout (AWS's guidance)
    assert int(queue["VisibilityTimeout"]) >= 6 * dispatcher.timeout


def test_the_dispatchers_concurrency_is_capped_by_a_parameter_at_the_event_source(
    template: dict[str, Any],
) -> None:
    [event] = functions(template)[DISPATCH].events.values()

    # The SQS event's MaximumConcurrency: a burst waits on the queue rather than being throttled
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": ref("DispatchMaxConcurrency")}
    # within what Lambda accepts (2..1000), by default a handful of batches at once
    parameter = template["Parameters"]["DispatchMaxConcurrency"]
    assert parameter["Type"] == "Number"
    assert (int(parameter["MinValue"]), int(parameter["MaxValue"])) == (2, 1000)
    assert 2 <= int(parameter["Default"]) <= 50
    # and not a reserved concurrency, which would throttle the poller's batches instead
    assert functions(template)[DISPATCH].reserved_concurrency is None
    assert "ReservedConcurrentExecutions" not in function_props(template, DISPATCH)


# -- EventBridge Scheduler: the role the one-time schedules use -------------------------------------


def test_only_eventbridge_scheduler_of_this_account_and_group_may_assume_the_scheduler_role(
    template: dict[str, Any],
) -> None:
    role = resources("AWS::IAM::Role", template)["SchedulerRole"]["Properties"]

    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    conditions = {
        key: value for operator in statement["Condition"].values() for key, value in operator.items()
    }
    assert conditions == {
        "aws:SourceAccount": ref("AWS::AccountId"),
        "aws:SourceArn": get_att("MessageScheduleGroup"),
    }
    assert set(statement["Condition"]) <= {"StringEquals", "ArnEquals"}


def test_the_scheduler_role_may_only_send_to_the_dispatch_queue_and_the_schedules_dead_letters(
    template: dict[str, Any],
) -> None:
    role = resources("AWS::IAM::Role", template)["SchedulerRole"]["Properties"]

    assert "ManagedPolicyArns" not in role
    granted = sorted(
        (action, json.dumps(resource))
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    )
    assert granted == sorted(
        [
            ("sqs:SendMessage", json.dumps(get_att("DispatchQueue"))),
            ("sqs:SendMessage", json.dumps(get_att("ScheduleDeadLetterQueue"))),
        ]
    )
    # and these are the role and dead-letter queue the send function puts on each schedule
    environment = functions(template)[SEND].environment
    assert environment["SCHEDULER_ROLE_ARN"] == get_att("SchedulerRole")
    assert environment["SCHEDULE_DLQ_ARN"] == get_att("ScheduleDeadLetterQueue")
    assert environment["SCHEDULE_GROUP"] == ref("MessageScheduleGroup")


# -- the sweep ----------------------------------------------------------------------------------------


def test_the_sweep_runs_every_minute(template: dict[str, Any]) -> None:
    [event] = functions(template)[SWEEP].events.values()

    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "rate(1 minute)"


# -- alarms -----------------------------------------------------------------------------------------

# A send is promised no later than two minutes after its time (DESIGN, guarantee 3).
PROMISE_SECONDS = 120


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every alarm's properties, by logical id."""
    return {
        logical_id: alarm["Properties"]
        for logical_id, alarm in resources("AWS::CloudWatch::Alarm", template).items()
    }


def the_alarm(template: dict[str, Any], namespace: str, metric: str, **dimensions: Any) -> dict[str, Any]:
    """The one alarm on this metric with exactly these dimensions."""
    found = [
        props
        for props in alarms(template).values()
        if (props["Namespace"], props["MetricName"]) == (namespace, metric)
        and {dimension["Name"]: dimension["Value"] for dimension in props["Dimensions"]} == dimensions
    ]
    assert len(found) == 1, f"{len(found)} alarms on {namespace} {metric} {dimensions}"
    return found[0]


def threshold_parameter(template: dict[str, Any], alarm: dict[str, Any], name: str) -> dict[str, Any]:
    """The parameter the alarm's threshold is, asserted to be ``name``."""
    assert alarm["Threshold"] == ref(name)
    parameter: dict[str, Any] = template["Parameters"][name]
    assert parameter["Type"] == "Number"
    return parameter


def dead_letter_queues() -> list[str]:
    """The queues no function reads: what reaches one stays there until a person acts."""
    read = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]
        for spec in functions().values()
        for event in spec.events.values()
        if event["Type"] == "SQS"
    }
    return sorted(set(resources("AWS::SQS::Queue")) - read)


def test_every_alarm_notifies_the_alarm_topic_and_takes_no_data_as_healthy(template: dict[str, Any]) -> None:
    topics = resources("AWS::SNS::Topic", template)
    assert sorted(topics) == ["AlarmTopic", "ReceiptsTopic"]

    assert alarms(template)
    for logical_id, alarm in alarms(template).items():
        # Into ALARM and back to OK, both told to the topic
        assert alarm["AlarmActions"] == [ref("AlarmTopic")], logical_id
        assert alarm["OKActions"] == [ref("AlarmTopic")], logical_id
        # An idle stack publishes no data points: that is no alarm
        assert alarm["TreatMissingData"] == "notBreaching", logical_id
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", logical_id
        assert int(alarm["Period"]) % 60 == 0, logical_id
        assert int(alarm["EvaluationPeriods"]) >= 1, logical_id
        assert alarm["AlarmDescription"], logical_id
        # a threshold is a literal or a parameter that cannot go below zero
        if isinstance(alarm["Threshold"], dict):
            parameter = template["Parameters"][alarm["Threshold"]["Ref"]]
            assert parameter["Type"] == "Number", logical_id
            assert float(parameter["MinValue"]) >= 0, logical_id
            assert float(parameter["Default"]) >= float(parameter["MinValue"]), logical_id


def test_the_alarm_email_is_subscribed_only_when_one_is_given(template: dict[str, Any]) -> None:
    subscription = resources("AWS::SNS::Subscription", template)["AlarmEmailSubscription"]
    parameter = template["Parameters"]["AlarmEmail"]

    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}
    assert subscription["Properties"] == {
        "TopicArn": ref("AlarmTopic"),
        "Protocol": "email",
        "Endpoint": ref("AlarmEmail"),
    }
    # None by default; CloudFormation refuses a value that is not an address
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("ops at example.com")


@pytest.mark.parametrize("logical_id", sorted(resources("AWS::Serverless::Function")))
def test_every_function_has_an_errors_and_a_throttles_alarm(
    template: dict[str, Any], logical_id: str
) -> None:
    errors_alarm = the_alarm(template, "AWS/Lambda", "Errors", FunctionName=ref(logical_id))
    throttles_alarm = the_alarm(template, "AWS/Lambda", "Throttles", FunctionName=ref(logical_id))

    # Errors (an uncaught exception, a timeout) beyond a parameter, by default any, in a minute
    assert (errors_alarm["Statistic"], int(errors_alarm["Period"])) == ("Sum", 60)
    parameter = threshold_parameter(template, errors_alarm, "FunctionErrorsAlarmThreshold")
    assert int(parameter["Default"]) == 0
    # Any throttle: nothing here is meant to be throttled (no reserved concurrency anywhere)
    assert (throttles_alarm["Statistic"], int(throttles_alarm["Period"])) == ("Sum", 60)
    assert int(throttles_alarm["Threshold"]) == 0


def test_the_dead_letter_queues_are_the_ones_the_template_sends_dead_letters_to(
    template: dict[str, Any],
) -> None:
    queues = resources("AWS::SQS::Queue", template)
    redrive_targets = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue["Properties"]
    }
    schedules_target = functions(template)[SEND].environment["SCHEDULE_DLQ_ARN"]["Fn::GetAtt"][0]

    assert dead_letter_queues() == sorted(redrive_targets | {schedules_target})
    assert dead_letter_queues() == [
        "DispatchDeadLetterQueue",
        "ReceiptsDeadLetterQueue",
        "ScheduleDeadLetterQueue",
    ]


@pytest.mark.parametrize("logical_id", dead_letter_queues())
def test_every_dead_letter_queue_alarms_on_its_first_message(
    template: dict[str, Any], logical_id: str
) -> None:
    alarm = the_alarm(
        template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=get_att(logical_id, "QueueName")
    )

    assert alarm["Statistic"] == "Maximum"
    assert int(alarm["Threshold"]) == 0


def test_a_message_waiting_on_the_dispatch_queue_alarms_before_the_promise_is_broken(
    template: dict[str, Any],
) -> None:
    alarm = the_alarm(
        template, "AWS/SQS", "ApproximateAgeOfOldestMessage", QueueName=get_att("DispatchQueue", "QueueName")
    )

    # The oldest message's age, against a parameter
    assert alarm["Statistic"] == "Maximum"
    parameter = threshold_parameter(template, alarm, "DispatchQueueAgeAlarmSeconds")
    # by default the alarm has fired by the time the oldest message is two minutes old
    waited = int(parameter["Default"]) + int(alarm["Period"]) * int(alarm["EvaluationPeriods"])
    assert waited <= PROMISE_SECONDS


def test_the_apis_5xx_rate_alarms_on_the_rest_api_and_its_stage(
    template: dict[str, Any], api: dict[str, Any]
) -> None:
    # API Gateway's metrics name the REST API by its name, and the stage
    alarm = the_alarm(template, "AWS/ApiGateway", "5XXError", ApiName=api["Name"], Stage=api["StageName"])

    # 5XXError is 0 or 1 per request: its average over the period is the 5xx rate
    assert alarm["Statistic"] == "Average"
    parameter = threshold_parameter(template, alarm, "Api5xxAlarmRate")
    assert (float(parameter["MinValue"]), float(parameter["MaxValue"])) == (0, 1)
    assert 0 < float(parameter["Default"]) < 1


def test_there_is_no_alarm_beyond_these(template: dict[str, Any]) -> None:
    # two per function, one per dead-letter queue, the dispatch queue's age and the API's 5xx rate
    expected = 2 * len(resources("AWS::Serverless::Function", template)) + len(dead_letter_queues()) + 2

    assert len(alarms(template)) == expected


# -- least privilege, statically --------------------------------------------------------------------

MESSAGES = get_att("MessagesTable")
API_KEYS = get_att("ApiKeysTable")
IDEMPOTENCY = get_att("IdempotencyTable")
DUE_INDEX = sub("${MessagesTable.Arn}/index/due-index")
QUEUE = get_att("DispatchQueue")
SCHEDULES = sub(
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${MessageScheduleGroup}/*"
)
SCHEDULER_ROLE = get_att("SchedulerRole")
MEDIA_OBJECTS = sub("${MediaBucket.Arn}/*")

# Exactly what each function may do, and on what: the actions it calls (see the integration test).
EXPECTED_GRANTS: dict[str, list[tuple[str, Any]]] = {
    AUTHORIZER: [("dynamodb:GetItem", API_KEYS)],
    SEND: [
        # The message (alone, or in a transaction with its key's record); its enqueue noted
        ("dynamodb:PutItem", MESSAGES),
        ("dynamodb:UpdateItem", MESSAGES),
        # Powertools idempotency: PutItem (in progress; an existing record comes back with the
        # failed condition, ALL_OLD), UpdateItem (completed), DeleteItem (failed); the key's own
        # record: PutItem (in the transaction), GetItem (read back when the answer lacks it)
        ("dynamodb:PutItem", IDEMPOTENCY),
        ("dynamodb:UpdateItem", IDEMPOTENCY),
        ("dynamodb:DeleteItem", IDEMPOTENCY),
        ("dynamodb:GetItem", IDEMPOTENCY),
        ("sqs:SendMessage", QUEUE),
        ("scheduler:CreateSchedule", SCHEDULES),
        ("iam:PassRole", SCHEDULER_ROLE),
    ],
    GET: [("dynamodb:GetItem", MESSAGES)],
    CANCEL: [("dynamodb:UpdateItem", MESSAGES), ("scheduler:DeleteSchedule", SCHEDULES)],
    DISPATCH: [
        ("dynamodb:UpdateItem", MESSAGES),
        ("sms-voice:SendTextMessage", "*"),
        ("sms-voice:SendMediaMessage", "*"),
        ("s3:PutObject", MEDIA_OBJECTS),
        ("s3:GetObject", MEDIA_OBJECTS),
        ("sns:Publish", ref("ReceiptsTopic")),  # the sandbox's receipts
    ],
    RECEIPT: [("dynamodb:UpdateItem", MESSAGES)],
    SWEEP: [
        ("dynamodb:Query", DUE_INDEX),
        ("dynamodb:UpdateItem", MESSAGES),
        ("sqs:SendMessage", QUEUE),
        ("sqs:GetQueueAttributes", QUEUE),  # the backlog a message known to be queued may be in
    ],
}

# The template's resources each function may name in its policy.
OWN_RESOURCES: dict[str, set[str]] = {
    AUTHORIZER: {"ApiKeysTable"},
    SEND: {"MessagesTable", "IdempotencyTable", "DispatchQueue", "MessageScheduleGroup", "SchedulerRole"},
    GET: {"MessagesTable"},
    CANCEL: {"MessagesTable", "MessageScheduleGroup"},
    DISPATCH: {"MessagesTable", "MediaBucket", "ReceiptsTopic"},
    SWEEP: {"MessagesTable", "DispatchQueue"},
    RECEIPT: {"MessagesTable"},
}


def statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in function_props(template, logical_id).get("Policies", [])
        for statement in policy["Statement"]
    ]


def allow_statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return [statement for statement in statements(template, logical_id) if statement["Effect"] == "Allow"]


def referenced(value: Any) -> set[str]:
    """The template resources (logical ids) a Resource value names; AWS:: pseudo parameters aside."""
    if isinstance(value, str):
        return set()
    if "Ref" in value:
        names = {value["Ref"]}
    elif "Fn::GetAtt" in value:
        names = {value["Fn::GetAtt"][0]}
    elif "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        names = {name.split(".", 1)[0] for name in re.findall(r"\$\{([^}!]+)\}", value["Fn::Sub"])}
    else:
        raise AssertionError(f"a Resource this test cannot read: {value!r}")
    return {name for name in names if not name.startswith("AWS::")}


def test_function_policies_are_inline_statements_only(template: dict[str, Any]) -> None:
    # No managed policy, no SAM policy template, no role of its own: what is granted is all here
    for logical_id in resources("AWS::Serverless::Function", template):
        props = function_props(template, logical_id)
        assert "Role" not in props, logical_id
        for policy in props.get("Policies", []):
            assert isinstance(policy, dict), (logical_id, policy)
            assert set(policy) == {"Statement"}, (logical_id, policy)


@pytest.mark.parametrize("logical_id", list(EXPECTED_GRANTS))
def test_each_function_is_granted_exactly_its_own_actions(template: dict[str, Any], logical_id: str) -> None:
    granted = sorted(
        (action, json.dumps(resource, sort_keys=True))
        for statement in allow_statements(template, logical_id)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    )
    expected = sorted(
        (action, json.dumps(resource, sort_keys=True)) for action, resource in EXPECTED_GRANTS[logical_id]
    )

    beyond = [f"{action} on {resource}" for action, resource in granted if (action, resource) not in expected]
    missing = [
        f"{action} on {resource}" for action, resource in expected if (action, resource) not in granted
    ]
    assert (beyond, missing) == ([], []), (
        f"{logical_id}: granted beyond its table {beyond}; not granted {missing}"
    )
    assert len(granted) == len(set(granted)), f"{logical_id}: a grant written twice"


@pytest.mark.parametrize("logical_id", list(OWN_RESOURCES))
def test_every_grant_names_only_the_functions_own_resources(
    template: dict[str, Any], logical_id: str
) -> None:
    for statement in allow_statements(template, logical_id):
        actions = as_list(statement["Action"])
        # No wildcard actions
        assert not [action for action in actions if "*" in action], statement
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                # The documented exception: End User Messaging on any origination identity, for the
                # dispatcher only (its phone numbers and pools are not resources of this template)
                assert logical_id == DISPATCH, statement
                assert all(action.startswith("sms-voice:") for action in actions), statement
                continue
            names = referenced(resource)
            assert names, f"{logical_id}: {resource!r} names none of the template's resources"
            assert names <= OWN_RESOURCES[logical_id], (logical_id, resource)


def test_passing_the_scheduler_role_is_allowed_only_to_eventbridge_scheduler(
    template: dict[str, Any],
) -> None:
    [statement] = [
        statement
        for statement in statements(template, SEND)
        if "iam:PassRole" in as_list(statement["Action"])
    ]

    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert statement["Resource"] == SCHEDULER_ROLE
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    # No other function may pass any role
    for logical_id in OWN_RESOURCES:
        if logical_id != SEND:
            assert not [
                statement
                for statement in statements(template, logical_id)
                if any(action.startswith("iam:") for action in as_list(statement["Action"]))
            ], logical_id


# -- the template checks' findings: each one suppressed says why ------------------------------------


def test_every_checkov_skip_names_a_check_and_gives_its_reason(template: dict[str, Any]) -> None:
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips
    for logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, (logical_id, skip)
        assert re.fullmatch(r"CKV2?_AWS_[0-9]+", skip["id"]), (logical_id, skip)
        assert len(skip["comment"].split()) >= 8, (logical_id, skip)
    # one skip per check and resource
    assert len({(logical_id, skip["id"]) for logical_id, skip in skips}) == len(skips)


def test_every_check_cfn_lint_ignores_has_its_reason_on_the_line_before() -> None:
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    ignores = [number for number, line in enumerate(lines) if line.strip().startswith("ignore_checks:")]

    assert ignores
    for number in ignores:
        checks = re.findall(r"[EWI]S?[0-9]{4}", lines[number])
        reason = lines[number - 1].strip()
        assert checks, lines[number]
        # "# ES6000: why", for each check ignored
        assert reason.startswith("#"), (number + 1, reason)
        for check in checks:
            assert re.search(rf"\b{check}: \S+( \S+){{7}}", reason), (number + 1, check, reason)


# -- receipts -----------------------------------------------------------------------------------------


def test_live_sends_name_a_configuration_set_whose_events_go_to_the_receipts_topic(
    template: dict[str, Any],
) -> None:
    (configuration_set,) = resources("AWS::SMSVOICE::ConfigurationSet", template).values()
    props = configuration_set["Properties"]

    # Created unless the ConfigurationSetName parameter names an existing one, which live sends use then
    assert configuration_set["Condition"] == "CreatesConfigurationSet"
    assert template["Conditions"]["CreatesConfigurationSet"] == {
        "Fn::Equals": [ref("ConfigurationSetName"), ""]
    }
    assert functions(template)[DISPATCH].environment["CONFIGURATION_SET_NAME"] == {
        "Fn::If": ["CreatesConfigurationSet", ref("MessagingConfigurationSet"), ref("ConfigurationSetName")]
    }
    # One destination: every SMS and MMS event, to the receipts topic
    (destination,) = props["EventDestinations"]
    assert destination["Enabled"] is True
    assert sorted(destination["MatchingEventTypes"]) == ["MEDIA_ALL", "TEXT_ALL"]
    assert destination["SnsDestination"] == {"TopicArn": ref("ReceiptsTopic")}
    assert configuration_set["DependsOn"] == "ReceiptsTopicPolicy"


def test_only_end_user_messaging_may_publish_to_the_receipts_topic_for_this_accounts_set(
    template: dict[str, Any],
) -> None:
    policy = resources("AWS::SNS::TopicPolicy", template)["ReceiptsTopicPolicy"]["Properties"]
    assert policy["Topics"] == [ref("ReceiptsTopic")]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Allow",
        {"Service": "sms-voice.amazonaws.com"},
        "sns:Publish",
    )
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ref("AWS::AccountId")}
    arn = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert (
        arn[0] == "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:configuration-set/${Name}"
    )
    assert arn[1]["Name"]["Fn::If"][0] == "CreatesConfigurationSet"


def test_receipts_reach_their_function_raw_through_a_queue_with_dead_letters(
    template: dict[str, Any],
) -> None:
    subscription = resources("AWS::SNS::Subscription", template)["ReceiptsSubscription"]["Properties"]
    assert subscription["TopicArn"] == ref("ReceiptsTopic")
    assert (subscription["Protocol"], subscription["RawMessageDelivery"]) == ("sqs", True)
    assert subscription["Endpoint"] == get_att("ReceiptsQueue", "Arn")
    queue = resources("AWS::SQS::Queue", template)["ReceiptsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == get_att("ReceiptsDeadLetterQueue", "Arn")
    assert int(queue["VisibilityTimeout"]) >= 6 * int(template["Resources"][RECEIPT]["Properties"]["Timeout"])
    # The topic alone may put records on the queue
    (statement,) = resources("AWS::SQS::QueuePolicy", template)["ReceiptsQueuePolicy"]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": ref("ReceiptsTopic")}}
    # The function takes batches and reports partial failures
    (event,) = template["Resources"][RECEIPT]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == get_att("ReceiptsQueue", "Arn")
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert int(event["Properties"]["BatchSize"]) == 10
