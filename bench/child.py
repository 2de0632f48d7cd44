"""The process ``bench/run.py`` starts for every measurement, and the stubbed AWS it runs against.

Run as ``python -P bench/child.py SPEC.json RESULT.json`` with ``PYTHONPATH`` set as Lambda sets it
(the function's folder, then the layer), so the handler module is ``app`` as on Lambda. The clock
starts on the first line below, before any import; every import this file makes is one that
botocore makes anyway, so the harness adds nothing that a function would not pay for.

Modes (``spec["mode"]``):

- ``cold``: import the handler, stub AWS, serve one request; report the time from the first line.
- ``floor``: import boto3 (through ``agentmessage.aws_clients``, the same factories and config as
  the functions), create the same clients, make the same calls with the same parameters.
- ``imports``: run a list of import statements and stop (``bench/importtime.py``'s ladder).
- ``bodies``: the cost of each of the function's own modules, beyond its imports.
- ``warm``: per route, invoke the handler N times after a warm-up, interleaved in blocks with the
  bare botocore calls one invocation makes; report per-invocation times.

"Stubbed AWS" is a ``before-send`` hook on boto3's default session: botocore builds, validates,
signs and serializes every request and parses the canned answer, but nothing leaves the process.
"""

from time import perf_counter, perf_counter_ns, process_time

T0 = perf_counter()
C0 = process_time()  # CPU time (user + system) too: steadier than the clock on a busy machine

import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator, Mapping  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402
from xml.sax.saxutils import escape  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"

Call = tuple[str, str, dict[str, Any]]  # service, client method, parameters

_CONTENT_TYPES = {"scheduler": "application/json"}  # rest-json; the others here speak awsJson 1.0
_IF_NOT_EXISTS_PLUS = re.compile(r"^if_not_exists\(\s*([\w#]+)\s*,\s*(:\w+)\s*\)\s*\+\s*(:\w+)$")


class _Raw(io.BytesIO):
    """The body botocore reads through ``raw.stream()``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def apply_update(
    item: Mapping[str, Any], expression: str, names: Mapping[str, str], values: Mapping[str, Any]
) -> dict[str, Any]:
    """``item`` after a DynamoDB ``SET ... REMOVE ...`` expression (the forms this project writes)."""
    result = dict(item)
    set_part, _, remove_part = expression.partition(" REMOVE ")
    set_part = set_part.strip()
    if set_part.upper().startswith("SET "):
        for assignment in _split_top_level(set_part[4:]):
            target, _, source = assignment.partition("=")
            name = names.get(target.strip(), target.strip())
            source = source.strip()
            if source in values:
                result[name] = values[source]
                continue
            counter = _IF_NOT_EXISTS_PLUS.match(source)
            if counter:
                base = result.get(names.get(counter[1], counter[1])) or values[counter[2]]
                result[name] = {"N": str(int(base["N"]) + int(values[counter[3]]["N"]))}
    for removed in remove_part.split(","):
        result.pop(names.get(removed.strip(), removed.strip()), None)
    return result


class FakeAws:
    """Canned AWS answers, given from a ``before-send`` hook; counts every call it answers.

    ``items`` maps a table name to the item ``GetItem`` answers and that ``UpdateItem`` (with
    ``ReturnValues=ALL_NEW``) updates; every conditional write succeeds.
    """

    def __init__(self, items: Mapping[str, dict[str, Any]] | None = None) -> None:
        from botocore.awsrequest import AWSResponse

        self._response = AWSResponse
        self.items = dict(items or {})
        self.calls: list[str] = []
        self.recorded: list[tuple[str, str, dict[str, Any]]] = []
        self.recording = False
        self.stub_ns = 0  # time spent in the stub itself, to show what it adds to every call

    def register(self, events: Any) -> None:
        events.register("before-send", self.before_send)
        events.register("before-parameter-build", self._record)

    def install_on_default_session(self) -> None:
        """Answer every client made from boto3's default session (``boto3.client``) from now on."""
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        self.register(boto3.DEFAULT_SESSION.events)

    def _record(self, params: dict[str, Any], model: Any, event_name: str, **_: Any) -> None:
        if self.recording:
            self.recorded.append((event_name.split(".")[1], model.name, params))

    def recorded_calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The recorded calls, their parameters copied (to replay them later or elsewhere)."""
        return [
            (service, operation, json.loads(json.dumps(params)))
            for service, operation, params in self.recorded
        ]

    def before_send(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        began = perf_counter_ns()
        _, service, operation = event_name.split(".", 2)
        self.calls.append(f"{service}.{operation}")
        if service == "sns":  # the query protocol: a form in, XML out
            body = _sns(operation, request.body)
            content_type = "text/xml"
        else:
            body = json.dumps(self._answer(service, operation, request)).encode()
            content_type = _CONTENT_TYPES.get(service, "application/x-amz-json-1.0")
        headers: Any = {
            "Content-Type": content_type,
            "x-amzn-RequestId": "00000000-0000-4000-8000-000000000000",
        }
        response = self._response(request.url, 200, headers, _Raw(body))
        self.stub_ns += perf_counter_ns() - began
        return response

    def _answer(self, service: str, operation: str, request: Any) -> dict[str, Any]:
        params: dict[str, Any] = json.loads(request.body) if request.body else {}
        if service == "dynamodb":
            return self._dynamodb(operation, params)
        if service == "sqs":
            return _sqs(operation, params)
        if service == "scheduler":
            name = request.url.rsplit("/", 1)[-1]
            if operation == "CreateSchedule":
                return {"ScheduleArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{name}"}
            if operation == "CreateScheduleGroup":
                return {"ScheduleGroupArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}"}
            return {}
        if operation in {"SendTextMessage", "SendMediaMessage"}:
            return {"MessageId": "00000000-0000-4000-8000-000000000001"}
        return {}

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        table = params.get("TableName", "")
        if operation == "GetItem":
            item = self.items.get(table)
            return {"Item": {**item, **params["Key"]}} if item else {}
        if operation == "UpdateItem":
            base = self.items.get(table)
            if base is None or params.get("ReturnValues") != "ALL_NEW":
                return {}
            updated = apply_update(
                {**base, **params["Key"]},
                params.get("UpdateExpression", ""),
                params.get("ExpressionAttributeNames", {}),
                params.get("ExpressionAttributeValues", {}),
            )
            return {"Attributes": updated}
        if operation == "PutItem":  # kept as the table's item, as the next write on it would find it
            self.items.setdefault(table, params["Item"])
            return {}
        if operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    self.items.setdefault(action["Put"]["TableName"], action["Put"]["Item"])
            return {}
        if operation == "Query":
            return {"Items": [], "Count": 0, "ScannedCount": 0}
        if operation == "CreateTable":
            return {"TableDescription": {"TableName": table, "TableStatus": "ACTIVE"}}
        if operation == "UpdateTimeToLive":
            return {"TimeToLiveSpecification": params.get("TimeToLiveSpecification", {})}
        return {}  # PutItem, DeleteItem: the write succeeded


def _sns(operation: str, body: Any) -> bytes:
    """The answer to an SNS call: the topic, subscription and publish calls the functions and the
    stack's creation make."""
    form = parse_qs(body.decode() if isinstance(body, bytes) else (body or ""))
    topic = form.get("TopicArn", [f"arn:aws:sns:{REGION}:{ACCOUNT}:{form.get('Name', ['topic'])[0]}"])[0]
    if operation == "CreateTopic":
        result = f"<TopicArn>{topic}</TopicArn>"
    elif operation == "Subscribe":
        result = f"<SubscriptionArn>{topic}:00000000-0000-4000-8000-000000000002</SubscriptionArn>"
    elif operation == "ListSubscriptionsByTopic":
        result = "<Subscriptions/>"
    elif operation == "PublishBatch":
        ids = [values[0] for key, values in form.items() if key.endswith(".Id")]
        members = "".join(
            f"<member><Id>{escape(each)}</Id><MessageId>00000000-0000-4000-8000-{index:012d}</MessageId></member>"
            for index, each in enumerate(ids)
        )
        result = f"<Successful>{members}</Successful><Failed/>"
    else:
        result = ""
    return (
        f'<{operation}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<{operation}Result>{result}</{operation}Result>"
        f"<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _sqs(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    if operation == "SendMessage":
        return {
            "MessageId": "00000000-0000-4000-8000-000000000002",
            "MD5OfMessageBody": _md5(params["MessageBody"]),
        }
    if operation == "SendMessageBatch":
        return {
            "Successful": [
                {"Id": entry["Id"], "MessageId": entry["Id"], "MD5OfMessageBody": _md5(entry["MessageBody"])}
                for entry in params["Entries"]
            ],
            "Failed": [],
        }
    if operation == "CreateQueue":
        return {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{params['QueueName']}"}
    return {}


class LambdaContext:
    """What Lambda passes as ``context`` (the attributes Powertools reads)."""

    function_name = "bench-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench-function"
    log_stream_name = "stream"

    remaining_ms = 60_000  # a fresh invocation of the longest function timeout in the template

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def created_clients() -> list[list[str]]:
    """The clients this process has made through ``aws_clients``: [service, limits' name] each."""
    from agentmessage.integration import aws_clients, time_budget

    names = {
        value: name for name, value in vars(time_budget).items() if isinstance(value, time_budget.CallLimits)
    }
    return [[service, names[limits]] for service, limits in aws_clients.made()]


def make_clients(clients: list[list[str]]) -> None:
    """The clients ``created_clients`` listed, made again with the same factory and limits."""
    from agentmessage.integration import aws_clients, time_budget

    for service, limits in clients:
        aws_clients._client(service, getattr(time_budget, limits))


def bound_calls(calls: list[Call]) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    """Each recorded call as (bound client method, parameters), on a client the function made for
    that service."""
    from agentmessage.integration import aws_clients

    first: dict[str, Any] = {}
    for service, limits in aws_clients.made():
        first.setdefault(service, aws_clients._client(service, limits))
    return [(getattr(first[service], method), params) for service, method, params in calls]


def _phase(name: str) -> None:
    """Under ``-X importtime``, a marker between the import phase and the request phase."""
    if "importtime" in sys._xoptions:
        print(f"bench phase: {name}", file=sys.stderr, flush=True)


def _handler() -> Callable[[dict[str, Any], Any], Any]:
    module = __import__("app")
    handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
    return handler


def cold(spec: dict[str, Any]) -> dict[str, Any]:
    handler = _handler()
    imported = perf_counter()
    _phase("request")
    fake = FakeAws(spec["items"])
    fake.install_on_default_session()
    fake.recording = spec.get("record", False)
    response = handler(spec["event"], LambdaContext())
    done, cpu = perf_counter(), process_time()
    return {
        "total_ms": (done - T0) * 1000,
        "cpu_ms": (cpu - C0) * 1000,
        "import_ms": (imported - T0) * 1000,
        "response": response,
        "calls": fake.calls,
        "clients": created_clients(),
        "recorded": fake.recorded_calls(),
        "modules": sorted(sys.modules) if fake.recording else [],
    }


def floor(spec: dict[str, Any]) -> dict[str, Any]:
    from agentmessage.integration import aws_clients  # noqa: F401 - boto3, as the functions import it

    imported = perf_counter()
    _phase("request")
    fake = FakeAws(spec["items"])
    fake.install_on_default_session()
    make_clients(spec["clients"])
    for method, params in bound_calls(spec["calls"]):
        method(**params)
    done, cpu = perf_counter(), process_time()
    return {
        "total_ms": (done - T0) * 1000,
        "cpu_ms": (cpu - C0) * 1000,
        "import_ms": (imported - T0) * 1000,
        "calls": fake.calls,
        "clients": created_clients(),
    }


def imports(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the import statements ``spec["statements"]`` in order and stop: one rung of a ladder."""
    namespace: dict[str, Any] = {}
    for statement in spec["statements"]:
        exec(compile(statement, "<bench ladder>", "exec"), namespace)  # noqa: S102 - our own import lines
    return {"total_ms": (perf_counter() - T0) * 1000, "cpu_ms": (process_time() - C0) * 1000}


def bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """Import the handler, then re-run the body of each of its own modules ``spec["repeats"]`` times
    in a fresh namespace: what the module costs beyond its imports (class and model building, ...),
    measured many times in one process rather than once per process."""
    import statistics

    _handler()
    costs: dict[str, float] = {}
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.split(".")[0] not in spec["packages"] or not path or not path.endswith(".py"):
            continue
        with open(path, encoding="utf-8") as handle:
            code = compile(handle.read(), path, "exec")
        samples = []
        for _ in range(spec["repeats"]):
            namespace = {"__name__": name, "__file__": path, "__package__": module.__package__}
            began = perf_counter_ns()
            exec(code, namespace)  # noqa: S102 - the project's own module, as its import ran it
            samples.append(perf_counter_ns() - began)
        costs[name] = statistics.median(samples) / 1e6
    return {"bodies_ms": costs}


def _summary(samples_ns: list[int]) -> dict[str, float]:
    import statistics

    ordered = sorted(samples_ns)
    quartiles = statistics.quantiles(ordered, n=4)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "mean_us": statistics.fmean(ordered) / 1000,
        "p25_us": quartiles[0] / 1000,
        "p75_us": quartiles[2] / 1000,
        "n": len(ordered),
    }


def check_response(route: Mapping[str, Any], response: Any) -> None:
    """Raise unless ``response`` holds ``route["expect"]``: a dotted path and the value found there."""
    path, expected = route["expect"]
    found = response
    for step in path.split("."):
        if isinstance(found, list) and step.isdigit() and int(step) < len(found):
            found = found[int(step)]
        elif isinstance(found, dict) and step in found:
            found = found[step]
        else:
            found = None
            break
    if found != expected:
        raise RuntimeError(f"{route['name']}: expected {path} == {expected!r}, got {str(response)[:600]}")


def warm_route(
    handler: Callable[[dict[str, Any], Any], Any], fake: FakeAws, route: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Any]:
    context = LambdaContext()
    template = json.dumps(route["event"])
    vary = route.get("vary_header")

    def events(count: int) -> list[dict[str, Any]]:
        made: list[dict[str, Any]] = []
        for index in range(count):
            event = json.loads(template)  # a fresh event per invocation, as Lambda gives
            if vary:
                event["headers"][vary] = event["multiValueHeaders"][vary][0] = f"bench-{index:08d}-{id(made)}"
            made.append(event)
        return made

    # The calls one invocation makes, recorded to be replayed bare on the same clients.
    fake.recording, fake.recorded = True, []
    before = len(fake.calls)
    check_response(route, handler(events(1)[0], context))
    fake.recording = False
    calls_per_invocation = len(fake.calls) - before
    bare = bound_calls(
        [(service, _snake(operation), params) for service, operation, params in fake.recorded_calls()]
    )

    def run_bare() -> None:
        for method, params in bare:
            method(**params)

    for event in events(spec["warmup"]):
        handler(event, context)
        run_bare()

    handler_ns: list[int] = []
    bare_ns: list[int] = []
    stub_ns, calls = fake.stub_ns, len(fake.calls)
    block = spec["block"]
    for start in range(0, spec["invocations"], block):
        batch = events(min(block, spec["invocations"] - start))
        for event in batch:
            began = perf_counter_ns()
            response = handler(event, context)
            handler_ns.append(perf_counter_ns() - began)
            check_response(route, response)
        for _ in batch:
            began = perf_counter_ns()
            run_bare()
            bare_ns.append(perf_counter_ns() - began)
    return {
        "name": route["name"],
        "stub_us_per_call": (fake.stub_ns - stub_ns) / 1000 / max(1, len(fake.calls) - calls),
        "handler": _summary(handler_ns),
        "bare": _summary(bare_ns),
        "calls_per_invocation": calls_per_invocation,
        "bare_calls": [f"{service}.{method}" for service, method, _ in fake.recorded_calls()],
    }


def _snake(operation: str) -> str:
    from botocore import xform_name

    name: str = xform_name(operation)
    return name


def warm(spec: dict[str, Any]) -> dict[str, Any]:
    handler = _handler()
    fake = FakeAws(spec["items"])
    fake.install_on_default_session()
    return {"routes": [warm_route(handler, fake, route, spec) for route in spec["routes"]]}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec: dict[str, Any] = json.load(handle)
    modes = {"cold": cold, "floor": floor, "warm": warm, "imports": imports, "bodies": bodies}
    result = modes[spec["mode"]](spec)
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main()
