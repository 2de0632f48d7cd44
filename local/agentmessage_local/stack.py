"""The whole system on one machine: ``agentmessage local``.

An embedded moto server stands in for AWS (or another endpoint is used), the template's tables,
queues and schedule group are created on it (or reused), a development org gets a test key and
the sample events' key is stored, the HTTP gateway serves the API, and the triggers run: the
dispatch queue feeds the dispatcher, due one-time schedules fire, the sweeper runs at its rate.
``stop`` ends all of it.
"""

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from agentmessage.domain.clock import to_iso, utc_now
from agentmessage.domain.message import Mode
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage_local.api_definition import load_api
from agentmessage_local.api_keys import create_key
from agentmessage_local.control_input import ControlInputError, json_object
from agentmessage_local.faults import EmbeddedAws
from agentmessage_local.gateway import ApiGateway, control_error, control_ok, make_server, serve_in_background
from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.resources import REGION, Stack, create_stack
from agentmessage_local.sample_events import sample_key, store_sample_key
from agentmessage_local.sqs_event_source import QueueEventSource, event_maximum_concurrency, poller_count
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.state import LocalState
from agentmessage_local.template import FunctionSpec, functions, load_template, resources
from agentmessage_local.triggers import OneTimeSchedules, RateSchedule, rate_seconds
from agentmessage_local.workers import (
    FunctionWorker,
    ScalingFunction,
    WorkerPool,
    concurrency_limit,
    function_name,
    lambda_environment,
)

DEV_ORG = "org_dev"
DEV_SCOPES = ("messages:send", "messages:read")


@dataclass(frozen=True)
class LocalOptions:
    state_file: Path
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 4566
    endpoint_url: str | None = None  # another AWS-compatible endpoint instead of the embedded one
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides


@dataclass(frozen=True)
class Started:
    gateway_url: str
    endpoint_url: str
    embedded: bool
    stage: str
    dev_org: str
    dev_key: str
    sample_org: str | None  # the org of events/' sample key, stored at start


ControlHandler = Callable[[HttpRequest], HttpResponse]


def _session() -> boto3.session.Session:
    """Credentials for a local endpoint: the environment's when set, dummy ones otherwise."""
    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN", "local"),
        region_name=REGION,
    )


class LocalStack:
    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.clock = StackClock()
        self._moto: EmbeddedAws | None = None
        self._workers: WorkerPool | None = None
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._schedules: OneTimeSchedules | None = None
        self._rates: list[RateSchedule] = []
        self._state_written = False

    # -- start and stop ------------------------------------------------------------------------

    def start(self) -> Started:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Started:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        endpoint_url = self.options.endpoint_url
        if endpoint_url is None:
            self._moto = EmbeddedAws(self.options.host, self.options.aws_port)
            self._moto.start()
            endpoint_url = self._moto.url
        session = _session()
        stage = str(self.options.parameters.get("Stage") or load_template()["Parameters"]["Stage"]["Default"])
        stack = create_stack(
            session,
            prefix=f"agentmessage-{stage}",
            endpoint_url=endpoint_url,
            parameters={**self.options.parameters, "Stage": stage},
        )
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        keys = DynamoKeyStore(dynamodb, stack.refs["ApiKeysTable"])
        dev_key, _ = create_key(keys, DEV_ORG, DEV_SCOPES, Mode.TEST)
        sample = sample_key()
        if sample is not None:
            store_sample_key(keys, sample, utc_now())

        specs = functions()
        self._workers = WorkerPool(
            {
                logical_id: ScalingFunction(
                    spec,
                    self._worker_factory(spec, stack, endpoint_url),
                    max_concurrency=concurrency_limit(spec),
                )
                for logical_id, spec in specs.items()
            }
        )
        api = load_api(stack)
        gateway = ApiGateway(api, self._workers, self.clock, control=self._control_endpoints())
        self._server = make_server(gateway, self.clock, self.options.host, self.options.port)
        gateway_url = f"http://{self.options.host}:{self._server.server_port}"
        self._threads.append(serve_in_background(self._server))
        self._start_triggers(session, endpoint_url, stack, specs)

        LocalState(
            pid=os.getpid(),
            gateway_url=gateway_url,
            endpoint_url=endpoint_url,
            region=REGION,
            stage=api.stage,
            stack=stack.to_json(),
            embedded=self._moto is not None,
        ).write(self.options.state_file)
        self._state_written = True
        return Started(
            gateway_url=gateway_url,
            endpoint_url=endpoint_url,
            embedded=self._moto is not None,
            stage=api.stage,
            dev_org=DEV_ORG,
            dev_key=dev_key,
            sample_org=sample.org_id if sample is not None else None,
        )

    def _worker_factory(
        self, spec: FunctionSpec, stack: Stack, endpoint_url: str
    ) -> Callable[[], FunctionWorker]:
        """A new execution environment of ``spec``: the template's environment, resolved."""
        name = function_name(spec, stack.prefix)
        environment = lambda_environment(
            spec, stack.environment(spec), name=name, region=REGION, endpoint_url=endpoint_url
        )
        return lambda: FunctionWorker(
            spec, environment, name=name, region=REGION, clock_offset=lambda: self.clock.offset_seconds
        )

    def _start_triggers(
        self, session: boto3.session.Session, endpoint_url: str, stack: Stack, specs: dict[str, FunctionSpec]
    ) -> None:
        """A thread per trigger (an SQS event's pollers run in threads of their own): each
        function's SQS and rate events, and the one-time schedules."""
        assert self._workers is not None
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        queue_urls = {
            stack.attributes[(logical_id, "Arn")]: stack.refs[logical_id]
            for logical_id in resources("AWS::SQS::Queue")
        }
        runners: list[Callable[[threading.Event], None]] = []
        for spec in specs.values():
            worker = self._workers[spec.logical_id]
            for event_id, event in spec.events.items():
                props = event.get("Properties", {})
                if not props.get("Enabled", True) or props.get("State", "ENABLED") != "ENABLED":
                    continue
                if event.get("Type") == "SQS":
                    queue_arn = stack.resolve(props["Queue"])
                    source = QueueEventSource(
                        sqs=sqs,
                        worker=worker,
                        queue_url=queue_urls[queue_arn],
                        queue_arn=queue_arn,
                        batch_size=int(props.get("BatchSize", 10)),
                        batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in props.get("FunctionResponseTypes", []),
                        pollers=poller_count(
                            event_maximum_concurrency(props, stack), concurrency_limit(spec)
                        ),
                    )
                    runners.append(source.run)
                elif event.get("Type") in ("Schedule", "ScheduleV2"):
                    interval = rate_seconds(str(props.get("ScheduleExpression", "")))
                    if interval is None:
                        print(
                            f"local: {spec.logical_id}.{event_id}: only rate() schedules run", file=sys.stderr
                        )
                        continue
                    rate = RateSchedule(
                        worker=worker,
                        interval_seconds=interval,
                        name=stack.resolve(props.get("Name", f"{spec.logical_id}-{event_id}")),
                        source="aws.scheduler" if event["Type"] == "ScheduleV2" else "aws.events",
                        clock=self.clock,
                    )
                    self._rates.append(rate)
                    runners.append(rate.run)
        self._schedules = OneTimeSchedules(
            scheduler=session.client("scheduler", endpoint_url=endpoint_url),
            sqs=sqs,
            groups=[stack.refs[logical_id] for logical_id in resources("AWS::Scheduler::ScheduleGroup")],
            queue_urls=queue_urls,
            clock=self.clock,
        )
        runners.append(self._schedules.run)
        for runner in runners:
            thread = threading.Thread(target=runner, args=(self._stop,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the gateway, the triggers, the workers and moto; remove the state file."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Pollers notice the stop within a long poll; one still waiting on moto is a daemon
        # thread whose request simply fails once moto stops.
        deadline = time.monotonic() + 0.5
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        if self._workers is not None:
            self._workers.stop()
            self._workers = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._state_written:
            self.options.state_file.unlink(missing_ok=True)
            self._state_written = False

    # -- time travel ---------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the stack's clock (and every worker's), then fire due schedules and run the
        rate-scheduled functions (the sweeper) once, so what became due happens now.
        ``ValueError`` (and nothing moved) for a step ``StackClock.advance`` refuses."""
        self.clock.advance(seconds)
        fired = self._schedules.fire_due() if self._schedules is not None else []
        runs = {rate.name: rate.fire().payload() for rate in self._rates}
        return {
            "now": to_iso(self.clock.now()),
            "offset_seconds": self.clock.offset_seconds,
            "fired_schedules": fired,
            "scheduled_runs": runs,
        }

    def _control_endpoints(self) -> dict[tuple[str, str], ControlHandler]:
        """The gateway's ``/_local/`` endpoints; every answer is the API's envelope."""

        def health(request: HttpRequest) -> HttpResponse:
            return control_ok(request, {"status": "ok"})

        def read_clock(request: HttpRequest) -> HttpResponse:
            return control_ok(
                request, {"now": to_iso(self.clock.now()), "offset_seconds": self.clock.offset_seconds}
            )

        def move_clock(request: HttpRequest) -> HttpResponse:
            expected = 'expected {"advance_seconds": <seconds, a finite number >= 0>}'
            try:
                body = json_object(request.body, empty={})  # NaN and Infinity parse: advance() refuses them
            except ControlInputError as exc:
                return control_error(request, exc.status, "BAD_REQUEST", f"{exc}: {expected}")
            unknown = sorted(set(body) - {"advance_seconds"})
            if unknown:
                return control_error(
                    request, 400, "BAD_REQUEST", f"unknown fields: {', '.join(unknown)}: {expected}"
                )
            try:
                return control_ok(request, self.advance_clock(body.get("advance_seconds", 0)))
            except ValueError as exc:
                return control_error(request, 400, "BAD_REQUEST", f"{exc}: {expected}")

        return {
            ("GET", "/_local/health"): health,
            ("GET", "/_local/clock"): read_clock,
            ("POST", "/_local/clock"): move_clock,
        }
