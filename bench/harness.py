"""What every benchmark needs: the functions as the template defines them, their first requests and
stubbed data, and a way to run ``bench/child.py`` as Lambda would run the function."""

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any

import boto3

from agentmessage.carriers.receipt_events import event_record
from agentmessage.domain.clock import to_iso
from agentmessage.domain.ids import new_message_id
from agentmessage.domain.message import Message, Mode
from agentmessage.domain.status import Status
from agentmessage.integration.message_items import to_item
from agentmessage.keys.api_keys import generate_key, hash_key
from agentmessage_local.resources import REGION, create_stack
from agentmessage_local.template import functions
from bench.child import FakeAws
from bench.lambda_layout import Layout, build_layout
from tests.support.events import (
    authorizer_context,
    authorizer_event,
    dispatch_body,
    message_event,
    scheduled_event,
    send_event,
    sqs_event,
)

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("child.py")
ORG = "org_bench"
BATCH = 10  # records per SQS event for the dispatcher (the event source mapping's default)
SEND_BODY = {"from": "+15555550100", "to": "+15555550199", "text": "Your AgentMessage code is 482913"}


@dataclass(frozen=True)
class Function:
    """One function, ready to run in a child: its folder, environment, first request and data."""

    name: str
    logical_id: str
    code_dir: Path
    environment: dict[str, str]
    event: dict[str, Any]
    expect: tuple[str, Any]  # a dotted path in the response and the value it must hold
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> item (see FakeAws)
    vary_header: str | None = None  # a header given a fresh value on every warm invocation
    uncompiled_layer: bool = False  # the layer as sam's python3.13 build method ships it

    def child_environment(self, layout: Layout) -> dict[str, str]:
        """Lambda's view: code in /var/task (the function's folder), the layer in /opt/python, the
        runtime's boto3, a read-only file system (no bytecode written), the template's variables,
        credentials in the environment and no AWS config files."""
        layer = layout.layer_uncompiled if self.uncompiled_layer else layout.layer
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join([str(self.code_dir), str(layer), str(layout.runtime)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "AKIABENCHMARKONLY000",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_SESSION_TOKEN": "bench-token",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            **self.environment,
        }

    def route(self, name: str | None = None) -> dict[str, Any]:
        return {
            "name": name or self.name,
            "event": self.event,
            "expect": list(self.expect),
            "vary_header": self.vary_header,
        }


def _environments() -> dict[str, dict[str, str]]:
    """Each function's environment, resolved against a stack created on stubbed AWS."""
    session = boto3.session.Session(
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a fake credential: every call is stubbed
        region_name=REGION,
    )
    FakeAws().register(session.events)
    stack = create_stack(session, prefix="agentmessage-bench")
    return {logical_id: stack.environment(spec) for logical_id, spec in functions().items()}


def _message_item(message: Message) -> dict[str, Any]:
    item = to_item(message)
    item["due_shard"] = {"S": "0"}
    item["due_at"] = {"S": to_iso(message.due_at)}
    return item


def _message(now: datetime, scheduled_at: datetime | None = None) -> Message:
    return Message(
        id=new_message_id(),
        org_id=ORG,
        mode=Mode.TEST,
        from_=SEND_BODY["from"],
        to=SEND_BODY["to"],
        text=SEND_BODY["text"],
        scheduled_at=scheduled_at,
        encoding="GSM-7",
        parts=1,
        created_at=now,
    )


def build_functions() -> dict[str, Function]:
    """Every function of the template with its typical first request, by display name."""
    specs = functions()
    environments = _environments()
    now = datetime.now(UTC)
    context = authorizer_context(org_id=ORG, mode="test", key_id="key_bench")
    key = generate_key(Mode.TEST)
    key_item = {
        "key_hash": {"S": hash_key(key)},
        "key_id": {"S": "key_bench"},
        "org_id": {"S": ORG},
        "scopes": {"SS": ["messages:read", "messages:send"]},
        "mode": {"S": "test"},
        "created_at": {"S": to_iso(now - timedelta(days=30))},
    }
    immediate = _message(now)
    scheduled = _message(now, scheduled_at=now + timedelta(hours=1))

    def make(name: str, logical_id: str, **kwargs: Any) -> Function:
        env = environments[logical_id]
        return Function(
            name=name,
            logical_id=logical_id,
            code_dir=specs[logical_id].code_dir,
            environment=env,
            **kwargs,
        )

    api_keys = environments["AuthorizerFunction"]["API_KEYS_TABLE"]
    messages = environments["GetMessageFunction"]["MESSAGES_TABLE"]
    send = make("SendMessage", "SendMessageFunction", event=send_event(SEND_BODY, authorizer=context),
                expect=("statusCode", 202))  # fmt: skip
    return {
        "Authorizer": make(
            "Authorizer",
            "AuthorizerFunction",
            event=authorizer_event(f"Bearer {key}", method="GET", path=f"/v1/messages/{immediate.id}"),
            expect=("policyDocument.Statement.0.Effect", "Allow"),
            items={api_keys: key_item},
        ),
        "SendMessage": send,
        "SendMessage+Idempotency-Key": replace(
            send,
            name="SendMessage+Idempotency-Key",
            event=send_event(SEND_BODY, authorizer=context, headers={"Idempotency-Key": "bench-key"}),
            vary_header="Idempotency-Key",
        ),
        "GetMessage": make(
            "GetMessage",
            "GetMessageFunction",
            event=message_event("GET", immediate.id, authorizer=context),
            expect=("statusCode", 200),
            items={messages: _message_item(immediate)},
        ),
        "CancelMessage": make(
            "CancelMessage",
            "CancelMessageFunction",
            event=message_event("DELETE", scheduled.id, authorizer=context),
            expect=("statusCode", 200),
            items={messages: _message_item(scheduled)},
        ),
        "Dispatch": make(
            "Dispatch",
            "DispatchFunction",
            event=sqs_event([dispatch_body(ORG, new_message_id()) for _ in range(BATCH)]),
            expect=("batchItemFailures", []),
            items={messages: _message_item(immediate)},
        ),
        "Receipt": make(
            "Receipt",
            "ReceiptFunction",
            event=sqs_event([_receipt_body(now) for _ in range(BATCH)]),
            expect=("batchItemFailures", []),
            items={messages: _message_item(_sent(now))},
        ),
        "Sweep": make(
            "Sweep",
            "SweepFunction",
            event=scheduled_event(),
            expect=("pages", int(environments["SweepFunction"].get("SWEEP_SHARDS", "4"))),
        ),
    }


PROVIDER_ID = "00000000-0000-4000-8000-000000000001"  # the carrier's id of every sent bench message


def _sent(now: datetime) -> Message:
    return replace(
        _message(now), status=Status.SENT, sent_at=now, provider_message_id=PROVIDER_ID, carrier="sandbox"
    )


def _receipt_body(now: datetime) -> str:
    """A final TEXT_DELIVERED event record, as the receipts topic delivers it raw, for a message of
    its own (the stub answers every one as the same sent message, with its id)."""
    return json.dumps(
        event_record(
            event_type="TEXT_DELIVERED",
            final=True,
            at=now,
            provider_message_id=PROVIDER_ID,
            org_id=ORG,
            message_id=new_message_id(),
            origination=SEND_BODY["from"],
            destination=SEND_BODY["to"],
            encoding="GSM-7",
            parts=1,
            status_description="Message has been accepted by phone",
        )
    )


class ChildFailed(RuntimeError):
    pass


@dataclass
class Runner:
    """Runs ``bench/child.py`` on a spec, in a fresh process; specs and results live in ``workdir``."""

    workdir: Path
    layout: Layout
    python: str = sys.executable
    _count: int = 0

    def write_spec(self, spec: dict[str, Any]) -> Path:
        self._count += 1
        path = self.workdir / f"spec-{self._count}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        return path

    def run(
        self, spec_path: Path, function: Function, *, python_flags: tuple[str, ...] = ()
    ) -> tuple[dict[str, Any], float, str]:
        """(the child's result, the process's wall time in ms, its stderr)."""
        result_path = self.workdir / "result.json"
        result_path.unlink(missing_ok=True)
        # -S: no site-packages, so the child sees only Lambda's layout (PYTHONPATH)
        command = [self.python, *python_flags, "-S", "-P", str(CHILD), str(spec_path), str(result_path)]
        began = perf_counter()
        process = subprocess.run(
            command,
            env=function.child_environment(self.layout),
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,  # the functions' logs and metrics, as Lambda would collect them
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall_ms = (perf_counter() - began) * 1000
        if process.returncode != 0 or not result_path.exists():
            raise ChildFailed(f"{function.name}: child exited {process.returncode}\n{process.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        return result, wall_ms, process.stderr


@contextmanager
def runner() -> Iterator[Runner]:
    layout = build_layout()
    with tempfile.TemporaryDirectory(prefix="agentmessage-bench-") as workdir:
        yield Runner(Path(workdir), layout)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        process = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return process.stdout.strip() or "unknown"


def environment() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}",
        "load average at start": " ".join(f"{value:.2f}" for value in load),
        "packages": ", ".join(
            f"{name} {version(name)}" for name in ("boto3", "botocore", "pydantic", "aws-lambda-powertools")
        ),
        "commit": _commit(),
    }
