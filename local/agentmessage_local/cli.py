"""The ``agentmessage`` command: the local stack, API keys, one-off invocations, the OpenAPI document.

    agentmessage local [--port 3000] [--aws-port 4566] [--endpoint-url URL]
    agentmessage keys create --org ORG --scopes messages:send,messages:read [--mode test|live]
    agentmessage keys list --org ORG
    agentmessage keys revoke --org ORG KEY_ID
    agentmessage invoke <FunctionLogicalId> -e events/<file>.json
    agentmessage openapi

``keys`` and ``invoke`` reach the running local stack with no flags; ``keys`` manages a deployed
stack with ``--table`` or ``--stack-name`` (and ``--region``, ``--profile``, ``--endpoint-url``
or the usual AWS settings).
"""

import argparse
import errno
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmessage_local.state import read_state, state_path

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from agentmessage.keys.api_keys import ApiKeyRecord

EXAMPLE_BODY = '{"from": "+15555550100", "to": "+15555550199", "text": "Hello from AgentMessage"}'


class CommandError(Exception):
    pass


# -- agentmessage local -------------------------------------------------------------------------


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(f"--parameter-overrides takes Name=Value, not {pair!r}")
        parameters[name] = value
    return parameters


def run_local(args: argparse.Namespace) -> int:
    """Start the stack, print how to use it, run until Ctrl-C (SIGINT) or SIGTERM, stop cleanly.

    The signal handlers come first, before the heavy imports: a signal while the stack is still
    starting interrupts the start (what was started is stopped), later ones end the wait; either
    way the command stops quietly, with exit status 0.
    """
    stop = threading.Event()
    starting = [True]

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if starting[0]:
            starting[0] = False  # interrupt the start once; a second signal only asks to stop
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    print("starting the local stack...", file=sys.stderr, flush=True)
    stack: Any = None
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        from agentmessage_local.stack import LocalOptions, LocalStack

        stack = LocalStack(
            LocalOptions(
                state_file=args.state_file,
                port=args.port,
                aws_port=args.aws_port,
                endpoint_url=args.endpoint_url,
                parameters=_parameters(args.parameter_overrides),
            )
        )
        try:
            started = stack.start()  # stops what it started when it fails or is interrupted
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"a port is already in use ({exc}): is another `agentmessage local` running? "
                    "Choose others with --port / --aws-port."
                ) from exc
            raise
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"creating the template's resources failed: {exc}") from exc
        starting[0] = False
    except KeyboardInterrupt:
        starting[0] = False
        if stack is not None:
            stack.stop()
        print("stopped (interrupted while starting)", file=sys.stderr, flush=True)
        return 0
    api = f"{started.gateway_url}/v1"
    aws = f"{started.endpoint_url} ({'embedded moto' if started.embedded else 'external endpoint'})"
    print(
        "\n".join(
            [
                "AgentMessage local stack is up",
                f"  API       {api}   (also {started.gateway_url}/{started.stage}/v1)",
                f"  AWS       {aws}",
                f"  Test key  {started.dev_key}   (org {started.dev_org}: messages:send messages:read)",
                "  Try it:",
                f"    curl -s -X POST {api}/messages -H 'Authorization: Bearer {started.dev_key}' "
                f"-H 'Content-Type: application/json' -d '{EXAMPLE_BODY}'",
                f"  Clock     curl -s -X POST {started.gateway_url}/_local/clock "
                "-d '{\"advance_seconds\": 60}'   (local only: time travel)",
                "Ctrl-C stops it.",
            ]
        ),
        flush=True,
    )
    try:
        stop.wait()
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0


# -- agentmessage keys --------------------------------------------------------------------------


def _deployed_table(args: argparse.Namespace, session: Any) -> str:
    if args.table:
        return str(args.table)
    cloudformation = session.client("cloudformation", endpoint_url=args.endpoint_url)
    stacks = cloudformation.describe_stacks(StackName=args.stack_name)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "ApiKeysTableName":
            return str(output["OutputValue"])
    raise CommandError(f"stack {args.stack_name} has no ApiKeysTableName output")


def key_table(args: argparse.Namespace) -> tuple["DynamoDBClient", str]:
    """The DynamoDB client and ApiKeys table to manage: the local stack's, or a deployed one."""
    import boto3

    if args.table or args.stack_name:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
        return session.client("dynamodb", endpoint_url=args.endpoint_url), _deployed_table(args, session)
    if args.endpoint_url or args.profile or args.region:
        raise CommandError("for a deployed stack, name its table with --table or its stack with --stack-name")
    state = read_state(args.state_file)
    if state is None:
        raise CommandError(
            "no local stack is running (start it with `make run`); "
            "for a deployed stack pass --table or --stack-name (with --region / --profile as needed)"
        )
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local endpoint takes any credentials
        region_name=state.region,
    )
    client = session.client("dynamodb", endpoint_url=state.endpoint_url)
    return client, state.resources().refs["ApiKeysTable"]


def _key_json(record: "ApiKeyRecord") -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "org_id": record.org_id,
        "scopes": list(record.scopes),
        "mode": record.mode.value,
        "created_at": _iso(record.created_at),
        "revoked_at": _iso(record.revoked_at) if record.revoked_at else None,
    }


def run_keys(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from agentmessage.domain.message import Mode
    from agentmessage.integration.api_keys_table import DynamoKeyStore
    from agentmessage_local.api_keys import KeyAdminError, create_key, list_keys, revoke_key

    client, table = key_table(args)
    store = DynamoKeyStore(client, table)
    try:
        if args.keys_command == "create":
            key, record = create_key(store, args.org, args.scopes.split(","), Mode(args.mode))
            if args.json:
                print(json.dumps({"key": key, **_key_json(record)}))
            else:
                print(key)
                print(
                    f"created {record.key_id} for org {record.org_id} ({record.mode.value}; "
                    f"{' '.join(record.scopes)}): the key is shown only this once",
                    file=sys.stderr,
                )
        elif args.keys_command == "list":
            records = list_keys(store, args.org)
            if args.json:
                print(json.dumps([_key_json(record) for record in records]))
            else:
                print(f"{'KEY_ID':<22} {'MODE':<5} {'SCOPES':<28} {'CREATED':<25} REVOKED")
                for record in records:
                    revoked = _iso(record.revoked_at) if record.revoked_at else "-"
                    print(
                        f"{record.key_id:<22} {record.mode.value:<5} {','.join(record.scopes):<28} "
                        f"{_iso(record.created_at):<25} {revoked}"
                    )
        else:
            record = revoke_key(store, args.org, args.key_id)
            assert record.revoked_at is not None
            print(f"revoked {record.key_id} of org {record.org_id} at {_iso(record.revoked_at)}")
    except KeyAdminError as exc:
        raise CommandError(str(exc)) from exc
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"the ApiKeys table {table} could not be reached: {exc}") from exc
    return 0


def _iso(moment: Any) -> str:
    from agentmessage.domain.clock import to_iso

    return to_iso(moment)


# -- agentmessage invoke ------------------------------------------------------------------------


def run_invoke(args: argparse.Namespace) -> int:
    from agentmessage_local.invoke import UnknownFunction, invoke_function

    if args.event and args.event_file:
        raise CommandError("give the event file once: as -e FILE or as the second argument")
    args.event = args.event or args.event_file
    if args.event == "-":
        event = json.load(sys.stdin)
    elif args.event:
        try:
            event = json.loads(Path(args.event).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the event {args.event}: {exc}") from exc
    else:
        event = {}
    try:
        outcome = invoke_function(
            args.function, event, state=read_state(args.state_file), endpoint_url=args.endpoint_url
        )
    except UnknownFunction as exc:
        raise CommandError(str(exc)) from exc
    if outcome.note:
        print(f"note: {outcome.note}", file=sys.stderr)
    invocation = outcome.invocation
    print(f"{args.function}: {invocation.duration_ms:.0f} ms", file=sys.stderr)
    print(json.dumps(invocation.payload()))
    return 0 if invocation.ok else 1


# -- agentmessage openapi -----------------------------------------------------------------------


def run_openapi(_: argparse.Namespace) -> int:
    from agentmessage_local.openapi import openapi_json

    sys.stdout.write(openapi_json())
    return 0


# -- the parser ---------------------------------------------------------------------------------


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("a deployed stack (default: the running local stack)")
    target.add_argument("--table", help="the ApiKeys table name")
    target.add_argument("--stack-name", help="read the table from this CloudFormation stack's outputs")
    target.add_argument("--region", help="AWS region")
    target.add_argument("--profile", help="AWS profile")
    target.add_argument("--endpoint-url", help="an AWS-compatible endpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentmessage", description="AgentMessage: local stack and tools")
    parser.add_argument(
        "--state-file",
        type=Path,
        default=state_path(),
        help="the local stack's state file (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole API on this machine")
    local.add_argument("--port", type=int, default=3000, help="gateway port on 127.0.0.1 (0: any free port)")
    local.add_argument("--aws-port", type=int, default=4566, help="embedded moto port on 127.0.0.1 (0: any)")
    local.add_argument(
        "--endpoint-url",
        default=None,
        help="use this AWS-compatible endpoint instead of starting moto (default: $AWS_ENDPOINT_URL)",
    )
    local.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameters"
    )
    local.set_defaults(handler=run_local)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--org", required=True)
    create.add_argument("--scopes", required=True, help="comma separated: messages:send,messages:read")
    create.add_argument("--mode", choices=["test", "live"], default="test")
    listing = keys.add_parser("list", help="an org's keys (never the keys themselves)")
    listing.add_argument("--org", required=True)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--org", required=True)
    revoke.add_argument("key_id")
    for command in (create, listing, revoke):
        command.add_argument("--json", action="store_true", help="machine-readable output")
        _add_target(command)
        command.set_defaults(handler=run_keys)

    invoke = commands.add_parser("invoke", help="run one function on an event, like `sam local invoke`")
    invoke.add_argument(
        "function", help="the function's logical id in the template, e.g. SendMessageFunction"
    )
    invoke.add_argument("event_file", nargs="?", help="event file (JSON), as an alternative to -e")
    invoke.add_argument("-e", "--event", help="event file (JSON); '-' reads stdin; default {}")
    invoke.add_argument("--endpoint-url", help="AWS-compatible endpoint (default: the running local stack's)")
    invoke.set_defaults(handler=run_invoke)

    openapi = commands.add_parser("openapi", help="print the API's OpenAPI document")
    openapi.set_defaults(handler=run_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script. Ctrl-C ends any command quietly: ``local`` stops its stack and exits 0
    (its way to stop), the others exit 130 (interrupted), never with a traceback."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "local" and args.endpoint_url is None:
            args.endpoint_url = os.environ.get("AWS_ENDPOINT_URL") or None
        code: int = args.handler(args)
    except CommandError as exc:
        print(f"agentmessage: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentmessage: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
