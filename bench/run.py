"""AgentMessage benchmark: cold start per function, warm time per route, dispatcher and receipt
function throughput.

    uv run python bench/run.py          # or: make bench   (2 to 4 minutes on 2 busy cores)

Every figure is a ratio against a floor measured in the same run, subject and floor interleaved,
medians throughout, so a noisy shared machine moves both sides together:

1. Cold start: a fresh process per sample, laid out as on Lambda (PYTHONPATH = the function's
   folder, then the layer; the template's environment), that imports the handler and serves one
   typical first request against stubbed AWS (a botocore ``before-send`` hook: requests are
   built, signed and parsed, nothing leaves the process). Timed inside the process from its
   first line (primary) and from the parent (whole process, interpreter start-up included).
   Floor: a fresh process that imports boto3, makes the same clients with the same factories
   and makes the same calls with the same parameters. Aim: at most 1.25 x the floor.
2. Warm: in one process per function, each route's handler invoked N times after a warm-up,
   in blocks alternating with the bare botocore calls one invocation makes (same clients, same
   stub, same parameters). Aim: at most 2 x the bare calls.
3. Dispatcher: SQS events of 10 records through the dispatch handler with the sandbox carrier;
   messages per second beside the bare calls, and AWS calls per message beside the floor of three
   (claim, the carrier's call, record).
4. Receipt function: SQS events of 10 final receipts; receipts per second beside the bare writes,
   and DynamoDB calls per receipt beside the floor of one conditional write.

Results go to stdout and to ``bench/RESULTS.md``. ``bench/importtime.py`` explains a cold start.
"""

import argparse
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "layers" / "common", ROOT / "local"):  # run as a script, from any folder
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from botocore import xform_name  # noqa: E402

from bench.child import check_response  # noqa: E402
from bench.harness import BATCH, Function, Runner, build_functions, environment, runner  # noqa: E402
from bench.report import markdown_table  # noqa: E402

COLD_AIM = 1.25
WARM_AIM = 2.0
# Claim, the carrier's call, record: two conditional writes and one call to the carrier per message
# (the sandbox's publish of the message's receipts stands where a live send calls SendTextMessage).
CALLS_FLOOR = 3
RECEIPT_CALLS_FLOOR = 1  # one conditional write per final receipt
FUNCTIONS = ("Authorizer", "SendMessage", "GetMessage", "CancelMessage", "Dispatch", "Sweep", "Receipt")
# Cold-start rows: every function, and the send function's first request with an Idempotency-Key.
COLD_ROWS = ("Authorizer", "SendMessage", "SendMessage+Idempotency-Key", *FUNCTIONS[2:])
# The same first request with the layer as sam's python3.13 build method ships it: no bytecode,
# so Python compiles the layer at every cold start. Shown for comparison, not held to the aim.
UNCOMPILED = "GetMessage, layer without bytecode"
# (process's function, routes served by it)
WARM_PROCESSES = (
    ("Authorizer", ("Authorizer",)),
    ("SendMessage", ("SendMessage", "SendMessage+Idempotency-Key")),
    ("GetMessage", ("GetMessage",)),
    ("CancelMessage", ("CancelMessage",)),
)
ROUTE_LABELS = {
    "Authorizer": "authorizer (REQUEST, valid key)",
    "SendMessage": "POST /v1/messages",
    "SendMessage+Idempotency-Key": "POST /v1/messages + Idempotency-Key",
    "GetMessage": "GET /v1/messages/{id}",
    "CancelMessage": "DELETE /v1/messages/{id} (scheduled)",
}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    low, _, high = statistics.quantiles(values, n=4)
    return low, high


def calls_label(calls: list[str]) -> str:
    counts = Counter(call.split(".", 1)[1] for call in calls)
    return ", ".join(f"{name} x{count}" if count > 1 else name for name, count in counts.items())


# --- 1. cold start ----------------------------------------------------------------------------


@dataclass
class ColdSeries:
    function: Function
    cold_spec: Path
    floor_spec: Path
    clients: list[list[str]]
    calls: list[str]
    modules: list[str]  # every module the function's process has loaded once it has answered
    cold: list[dict[str, float]] = field(default_factory=list)
    floor: list[dict[str, float]] = field(default_factory=list)

    def ratio(self) -> float:
        return median([s["total_ms"] for s in self.cold]) / median([s["total_ms"] for s in self.floor])

    def cpu_ratio(self) -> float:
        return median([s["cpu_ms"] for s in self.cold]) / median([s["cpu_ms"] for s in self.floor])

    def paired_ratios(self) -> list[float]:
        return [c["total_ms"] / f["total_ms"] for c, f in zip(self.cold, self.floor, strict=True)]


def _sample(result: dict[str, Any], wall_ms: float) -> dict[str, float]:
    return {
        "total_ms": result["total_ms"],
        "cpu_ms": result["cpu_ms"],
        "import_ms": result["import_ms"],
        "request_ms": result["total_ms"] - result["import_ms"],
        "wall_ms": wall_ms,
    }


def prepare_cold(run: Runner, function: Function) -> ColdSeries:
    """One calibration run per side (it also fills the bytecode caches): records the calls and the
    clients of the function's first request, which the floor then makes with the same parameters."""
    base = {"event": function.event, "items": function.items}
    calibration = run.write_spec({"mode": "cold", "record": True, **base})
    result, _, _ = run.run(calibration, function)
    check_response(function.route(), result["response"])
    floor_calls = [
        [service, xform_name(operation), params] for service, operation, params in result["recorded"]
    ]
    floor_spec = run.write_spec(
        {"mode": "floor", "items": function.items, "clients": result["clients"], "calls": floor_calls}
    )
    floor_result, _, _ = run.run(floor_spec, function)
    if floor_result["calls"] != result["calls"] or floor_result["clients"] != result["clients"]:
        raise RuntimeError(f"{function.name}: the floor does not make the function's calls: {floor_result}")
    return ColdSeries(
        function=function,
        cold_spec=run.write_spec({"mode": "cold", **base}),
        floor_spec=floor_spec,
        clients=result["clients"],
        calls=result["calls"],
        modules=result["modules"],
    )


def measure_cold(run: Runner, functions: dict[str, Function], runs: int) -> list[ColdSeries]:
    progress("cold start: calibrating (one run per function and per floor)")
    series = [prepare_cold(run, functions[name]) for name in (*COLD_ROWS, UNCOMPILED)]
    for index in range(runs):
        progress(f"cold start: round {index + 1}/{runs}")
        for one in series:
            sides = [("cold", one.cold_spec), ("floor", one.floor_spec)]
            if index % 2:  # alternate which side goes first, so drift within a round cancels out
                sides.reverse()
            for side, spec in sides:
                result, wall_ms, _ = run.run(spec, one.function)
                if side == "cold":
                    check_response(one.function.route(), result["response"])
                    one.cold.append(_sample(result, wall_ms))
                else:
                    one.floor.append(_sample(result, wall_ms))
    return series


def cold_table(series: list[ColdSeries]) -> str:
    rows = []
    for one in series:
        keys = ("total_ms", "import_ms", "request_ms", "wall_ms")
        cold = {key: median([s[key] for s in one.cold]) for key in keys}
        floor = {key: median([s[key] for s in one.floor]) for key in keys}
        low, high = quartiles(one.paired_ratios())
        rows.append(
            [
                one.function.name,
                ", ".join(f"{service} ({limits})" for service, limits in one.clients),
                calls_label(one.calls),
                f"{cold['total_ms']:.0f}",
                f"{floor['total_ms']:.0f}",
                f"**{one.ratio():.2f}x**",
                f"{low:.2f}-{high:.2f}",
                f"{one.cpu_ratio():.2f}x",
                f"{cold['import_ms']:.0f} / {floor['import_ms']:.0f}",
                f"{cold['request_ms']:.0f} / {floor['request_ms']:.0f}",
                f"{cold['wall_ms']:.0f} / {floor['wall_ms']:.0f} ({cold['wall_ms'] / floor['wall_ms']:.2f}x)",
            ]
        )
    return markdown_table(
        [
            "function",
            "clients",
            "AWS calls (first request)",
            "cold ms",
            "floor ms",
            "ratio",
            "paired IQR",
            "CPU-time ratio",
            "import ms fn / floor",
            "then request ms fn / floor",
            "process wall ms fn / floor",
        ],
        rows,
        right=range(3, 11),
    )


# --- 2. warm, 3. dispatcher ---------------------------------------------------------------------


def measure_warm(
    run: Runner, functions: dict[str, Function], invocations: int, batches: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    routes: list[dict[str, Any]] = []
    for process_name, route_names in WARM_PROCESSES:
        progress(
            f"warm: {', '.join(route_names)} ({invocations} invocations each, interleaved with bare calls)"
        )
        function = functions[process_name]
        items: dict[str, Any] = {}
        for name in route_names:
            items.update(functions[name].items)
        spec = run.write_spec(
            {
                "mode": "warm",
                "items": items,
                "routes": [functions[name].route() for name in route_names],
                "invocations": invocations,
                "warmup": max(50, invocations // 20),
                "block": 20,
            }
        )
        result, _, _ = run.run(spec, function)
        routes.extend(result["routes"])
    queues = {}
    for name in ("Dispatch", "Receipt"):
        progress(f"{name}: {batches} SQS events of {BATCH} records, interleaved with the bare calls")
        function = functions[name]
        spec = run.write_spec(
            {
                "mode": "warm",
                "items": function.items,
                "routes": [function.route()],
                "invocations": batches,
                "warmup": max(10, batches // 20),
                "block": 10,
            }
        )
        result, _, _ = run.run(spec, function)
        queues[name] = result["routes"][0]
    return routes, queues


def warm_table(routes: list[dict[str, Any]]) -> str:
    rows = []
    for route in routes:
        handler, bare = route["handler"], route["bare"]
        rows.append(
            [
                ROUTE_LABELS.get(route["name"], route["name"]),
                calls_label(route["bare_calls"]),
                f"{handler['median_us']:.0f}",
                f"{handler['mean_us']:.0f}",
                f"{bare['median_us']:.0f}",
                f"{bare['mean_us']:.0f}",
                f"**{handler['median_us'] / bare['median_us']:.2f}x**",
                f"{handler['mean_us'] / bare['mean_us']:.2f}x",
            ]
        )
    n = routes[0]["handler"]["n"] if routes else 0
    stub = median([route["stub_us_per_call"] for route in routes]) if routes else 0.0
    return (
        markdown_table(
            [
                "route",
                "bare calls (one invocation's)",
                "handler median us",
                "handler mean us",
                "bare median us",
                "bare mean us",
                "ratio (medians)",
                "ratio (means)",
            ],
            rows,
            right=range(2, 8),
        )
        + f"\n\n{n} invocations per route after a warm-up, in blocks of 20 alternating with the bare calls. "
        f"The stub itself takes {stub:.0f} us per AWS call, on both sides."
    )


def queue_table(dispatch: dict[str, Any], what: str, floor: int, unit: str) -> str:
    handler, bare = dispatch["handler"], dispatch["bare"]
    per_message = dispatch["calls_per_invocation"] / BATCH
    rows = [
        [
            f"{BATCH} records, {what}",
            f"{handler['median_us'] / 1000:.2f}",
            f"{BATCH / (handler['median_us'] / 1e6):,.0f}",
            f"{bare['median_us'] / 1000:.2f}",
            f"{BATCH / (bare['median_us'] / 1e6):,.0f}",
            f"{handler['median_us'] / bare['median_us']:.2f}x",
            f"{per_message:.2f}",
            f"{floor}",
            f"**{per_message / floor:.2f}x**",
        ]
    ]
    return markdown_table(
        [
            "SQS event",
            "handler ms / event",
            f"{unit}s / s",
            "bare calls ms / event",
            f"bare {unit}s / s",
            "time ratio",
            f"AWS calls / {unit}",
            "floor",
            "calls ratio",
        ],
        rows,
        right=range(1, 9),
    ) + (
        f"\n\n{handler['n']} events (medians). Calls per event: {calls_label(dispatch['bare_calls'])}; "
        f"the bare side replays exactly those calls on the same clients. Single process, one event at a time "
        f"(one Lambda instance)."
    )


# --- summary and output -----------------------------------------------------------------------


def summary(
    series: list[ColdSeries], routes: list[dict[str, Any]], queues: dict[str, dict[str, Any]]
) -> list[str]:
    dispatch, receipt = queues["Dispatch"], queues["Receipt"]
    lines = []
    cold = {one.function.name: one.ratio() for one in series if one.function.name != UNCOMPILED}
    worst = max(cold, key=lambda name: cold[name])
    missed = [name for name, ratio in cold.items() if ratio > COLD_AIM]
    figures = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in cold.items())
    status = "met" if not missed else f"NOT MET for {len(missed)} of {len(cold)}"
    lines.append(
        f"- Cold start <= {COLD_AIM}x floor: {status} (worst {worst} {cold[worst]:.2f}x; {figures})."
    )
    by_name = {one.function.name: one for one in series}
    compiled, uncompiled = by_name["GetMessage"], by_name[UNCOMPILED]
    saved = median([s["total_ms"] for s in uncompiled.cold]) - median([s["total_ms"] for s in compiled.cold])
    lines.append(
        f"- The layer's bytecode, compiled at build time: GetMessage's cold start {compiled.ratio():.2f}x "
        f"the floor, against {uncompiled.ratio():.2f}x with the layer as sam's python3.13 build method "
        f"ships it ({saved:.0f} ms saved on every cold start here)."
    )
    warm = {route["name"]: route["handler"]["median_us"] / route["bare"]["median_us"] for route in routes}
    worst = max(warm, key=lambda name: warm[name])
    missed = [name for name, ratio in warm.items() if ratio > WARM_AIM]
    figures = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in warm.items())
    status = "met" if not missed else f"NOT MET for {len(missed)} of {len(warm)}"
    lines.append(
        f"- Warm <= {WARM_AIM}x the bare calls: {status} (worst {worst} {warm[worst]:.2f}x; {figures})."
    )
    per_message = dispatch["calls_per_invocation"] / BATCH
    status = "met" if per_message <= CALLS_FLOOR else "NOT MET"
    throughput = BATCH / (dispatch["handler"]["median_us"] / 1e6)
    lines.append(
        f"- Dispatcher AWS calls per message <= {CALLS_FLOOR} (claim, the carrier, record): {status} "
        f"({per_message:.2f}, {per_message / CALLS_FLOOR:.2f}x the floor); {throughput:,.0f} messages/s "
        f"per instance, {dispatch['handler']['median_us'] / dispatch['bare']['median_us']:.2f}x the time "
        f"of its bare calls."
    )
    per_receipt = receipt["calls_per_invocation"] / BATCH
    status = "met" if per_receipt <= RECEIPT_CALLS_FLOOR else "NOT MET"
    throughput = BATCH / (receipt["handler"]["median_us"] / 1e6)
    lines.append(
        f"- Receipt function DynamoDB calls per receipt <= {RECEIPT_CALLS_FLOOR} (one conditional write): "
        f"{status} ({per_receipt:.2f}, {per_receipt / RECEIPT_CALLS_FLOOR:.2f}x the floor); "
        f"{throughput:,.0f} receipts/s per instance, "
        f"{receipt['handler']['median_us'] / receipt['bare']['median_us']:.2f}x the time of its bare calls."
    )
    return lines


def render(env: dict[str, str], sections: list[tuple[str, str]], lines: list[str], command: str) -> str:
    parts = ["# AgentMessage benchmark results", "", f"Command: `{command}` (`make bench`)", ""]
    parts += [f"- {name}: {value}" for name, value in env.items()]
    parts += ["", "## Summary", "", *lines]
    for title, body in sections:
        parts += ["", f"## {title}", "", body]
    return "\n".join(parts) + "\n"


NOTES = """\
- Stubbed AWS: a botocore `before-send` hook answers every call in-process (no network, no moto);
  botocore still validates, serializes, signs and parses. Both sides pay the same stub.
- Layout: every child runs as on Lambda (`bench/lambda_layout.py`): `python -S` (nothing of the
  development environment), the function's folder, the layer built by `layers/common/Makefile`
  (the target `sam build` runs) and the runtime's boto3 (uv.lock's version, compiled as Lambda ships
  it) on `PYTHONPATH`, and no bytecode written (Lambda's file system is read-only).
- Cold: "cold ms" is timed inside the fresh process from its first line, before any import, to the
  handler's response; "process wall" adds interpreter start-up and exit, timed by the parent.
  Floor: a fresh process that imports `agentmessage.integration.aws_clients` (boto3 and the functions' client
  config only), makes the same clients and replays the first request's calls with the same parameters.
  "paired IQR": quartiles of the per-round ratios (subject and floor run back to back, order alternating).
  "CPU-time ratio": the same ratio in the child's CPU time (user + system) from its first line, which
  other processes competing for the CPUs inflate less than the clock.
- Warm: one process per function; each request a fresh event; bare = the same botocore calls with
  the parameters recorded from one invocation, on the same clients.
- Why a cold start costs what it does: `uv run python bench/importtime.py` (about 5 minutes).
- This machine is not Lambda (arm64, 512 MB, a fraction of a vCPU): absolute figures differ there,
  the ratios are what carries over."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="cold-start samples per function and floor")
    parser.add_argument("--invocations", type=int, default=2000, help="warm invocations per route")
    parser.add_argument(
        "--batches", type=int, default=200, help="dispatcher and receipt function SQS events of 10 records"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 3 runs, 200 invocations, 40 batches"
    )
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--no-results", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.invocations, args.batches = 3, 200, 40
    started = perf_counter()
    env = environment()
    print("# AgentMessage benchmark\n")
    for name, value in env.items():
        print(f"{name:>22}: {value}")
    print(flush=True)
    functions = build_functions()
    functions[UNCOMPILED] = replace(functions["GetMessage"], name=UNCOMPILED, uncompiled_layer=True)
    with runner() as run:
        series = measure_cold(run, functions, args.runs)
        routes, queues = measure_warm(run, functions, args.invocations, args.batches)
    sections = [
        (f"Cold start (median of {args.runs} fresh processes each, interleaved)", cold_table(series)),
        ("Warm, per invocation", warm_table(routes)),
        ("Dispatcher", queue_table(queues["Dispatch"], "sandbox carrier", CALLS_FLOOR, "message")),
        (
            "Receipt function",
            queue_table(queues["Receipt"], "final TEXT_DELIVERED", RECEIPT_CALLS_FLOOR, "receipt"),
        ),
        ("How it is measured", NOTES),
    ]
    lines = summary(series, routes, queues)
    for title, body in sections[:-1]:
        print(f"## {title}\n\n{body}\n")
    print("## Summary\n")
    print("\n".join(lines))
    elapsed = perf_counter() - started
    print(f"\n(took {elapsed:.0f} s)")
    if not args.no_results:
        command = "uv run python bench/run.py" + " ".join(
            f" {arg}" for arg in sys.argv[1:] if not arg.startswith("--results")
        )
        env["run time"] = f"{elapsed:.0f} s"
        args.results.write_text(render(env, sections, lines, command), encoding="utf-8")
        print(f"results written to {args.results}")


if __name__ == "__main__":
    main()
