"""Why a cold start costs what it does, beyond its floor (boto3, the same clients, the same calls).

    uv run python bench/importtime.py [--runs 9] [FUNCTION ...]     # about 5 minutes for all six

The child processes are those of ``bench/run.py`` (same layout, environment, first request and
stubbed AWS). Three views, each robust to a busy machine in its own way:

1. The project's own modules: each module body re-run 21 times in one process (imports excluded):
   what building its classes and pydantic models costs.
2. An import ladder: fresh processes that import boto3, then every pydantic module the function
   loads, then Powertools' package, then the rest of Powertools it loads, then the handler, then
   serve the first request; rungs rotated every round, medians of wall and CPU time, CPU minimum.
3. ``python -X importtime`` on the cold start and on its floor, interleaved, medians per module:
   the self time of every module the function imports and the floor does not, by package, and the
   top 15 imports by "excess cumulative" time (that sum over a module's import subtree, so a
   module that merely triggers boto3's import is not charged for boto3). ``-X importtime`` slows
   imports somewhat; the proportions are what matter.
"""

import argparse
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "layers" / "common", ROOT / "local"):  # run as a script, from any folder
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench.harness import Function, Runner, build_functions, runner  # noqa: E402
from bench.report import markdown_table  # noqa: E402
from bench.run import FUNCTIONS, ColdSeries, prepare_cold  # noqa: E402

PREFIX = "import time:"
PHASE = "bench phase: "
PYDANTIC = {"pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions"}


@dataclass
class Node:
    name: str
    depth: int
    self_us: int
    cumulative_us: int
    phase: str
    children: list["Node"] = field(default_factory=list)


def parse(stderr: str) -> list[Node]:
    """Every import of one run, children linked to their parents (the output is post-order)."""
    nodes: list[Node] = []
    stack: list[Node] = []
    phase = "import"
    for line in stderr.splitlines():
        if line.startswith(PHASE):
            phase = line[len(PHASE) :].strip()
            continue
        if not line.startswith(PREFIX) or "imported package" in line:
            continue
        self_us, cumulative_us, raw_name = line[len(PREFIX) :].split("|")
        stripped = raw_name.rstrip().removeprefix(" ")
        depth = (len(stripped) - len(stripped.lstrip(" "))) // 2
        node = Node(stripped.strip(), depth, int(self_us), int(cumulative_us), phase)
        while stack and stack[-1].depth > depth:
            node.children.insert(0, stack.pop())
        stack.append(node)
        nodes.append(node)
    return nodes


def group(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "aws_lambda_powertools":
        if len(parts) > 2 and parts[1] in {"utilities", "shared"}:
            return ".".join(parts[:3])
        return ".".join(parts[:2])
    if parts[0] in PYDANTIC:
        return "pydantic (+ pydantic_core, annotated_types, typing_*)"
    if parts[0] == "agentmessage":
        return "agentmessage (own code, incl. its pydantic models)"
    if parts[0] == "app":
        return "app (the handler module)"
    return parts[0]


@dataclass
class Profile:
    """Medians over runs, per module."""

    self_us: dict[str, float]
    cumulative_us: dict[str, float]
    excess_us: dict[str, float]  # self time of non-floor modules in the module's subtree
    phase: dict[str, str]
    total_ms: float  # in-process time of the run (under -X importtime)


def _excess(node: Node, floor: set[str], out: dict[str, int]) -> int:
    value = (0 if node.name in floor else node.self_us) + sum(
        _excess(child, floor, out) for child in node.children
    )
    out[node.name] = value
    return value


def profile(runs: list[tuple[list[Node], float]], floor: set[str]) -> Profile:
    self_us: dict[str, list[int]] = defaultdict(list)
    cumulative_us: dict[str, list[int]] = defaultdict(list)
    excess_us: dict[str, list[int]] = defaultdict(list)
    phase: dict[str, str] = {}
    for nodes, _ in runs:
        excess: dict[str, int] = {}
        for root in (node for node in nodes if node.depth == 0):
            _excess(root, floor, excess)
        for node in nodes:
            self_us[node.name].append(node.self_us)
            cumulative_us[node.name].append(node.cumulative_us)
            excess_us[node.name].append(excess[node.name])
            phase[node.name] = node.phase
    return Profile(
        self_us={name: statistics.median(values) for name, values in self_us.items()},
        cumulative_us={name: statistics.median(values) for name, values in cumulative_us.items()},
        excess_us={name: statistics.median(values) for name, values in excess_us.items()},
        phase=phase,
        total_ms=statistics.median(total for _, total in runs),
    )


def measure(run: Runner, series: ColdSeries, runs: int) -> tuple[Profile, Profile]:
    flags = ("-X", "importtime")
    subject: list[tuple[list[Node], float]] = []
    floor: list[tuple[list[Node], float]] = []
    for index in range(runs):
        sides = [(subject, series.cold_spec), (floor, series.floor_spec)]
        if index % 2:
            sides.reverse()
        for samples, spec in sides:
            result, _, stderr = run.run(spec, series.function, python_flags=flags)
            samples.append((parse(stderr), result["total_ms"]))
    floor_modules = {node.name for nodes, _ in floor for node in nodes}
    return profile(subject, floor_modules), profile(floor, floor_modules)


def excess_by_group(subject: Profile, floor: Profile) -> dict[str, dict[str, float]]:
    """Group -> phase -> ms, for modules the floor does not import."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, self_us in subject.self_us.items():
        if name not in floor.self_us:
            table[group(name)][subject.phase[name]] += self_us / 1000
    return table


def report_function(function: Function, subject: Profile, floor: Profile) -> str:
    imports = sum(subject.self_us.values()) / 1000
    floor_imports = sum(floor.self_us.values()) / 1000
    by_phase: dict[str, float] = defaultdict(float)
    for name, self_us in subject.self_us.items():
        if name not in floor.self_us:
            by_phase[subject.phase[name]] += self_us / 1000
    lines = [
        f"### {function.name}",
        "",
        f"In-process cold start under -X importtime: {subject.total_ms:.0f} ms "
        f"(floor {floor.total_ms:.0f} ms). Imports: {imports:.0f} ms (floor {floor_imports:.0f} ms); "
        "imports beyond the floor: "
        f"{by_phase['import']:.0f} ms while importing the handler, {by_phase['request']:.0f} ms during the "
        f"first request (lazy imports).",
        "",
    ]
    top = sorted(
        (name for name in subject.excess_us if name not in floor.self_us),
        key=lambda name: subject.excess_us[name],
        reverse=True,
    )[:15]
    rows = [
        [
            name,
            subject.phase[name],
            f"{subject.excess_us[name] / 1000:.1f}",
            f"{subject.cumulative_us[name] / 1000:.1f}",
            f"{subject.self_us[name] / 1000:.1f}",
        ]
        for name in top
    ]
    lines.append(
        markdown_table(
            ["top 15 imports beyond the floor", "phase", "excess cumulative ms", "cumulative ms", "self ms"],
            rows,
            right=range(2, 5),
        )
    )
    return "\n".join(lines)


def matrix(results: dict[str, dict[str, dict[str, float]]]) -> str:
    names = list(results)
    totals: dict[str, float] = defaultdict(float)
    for per_group in results.values():
        for name, phases in per_group.items():
            totals[name] += sum(phases.values())
    groups = sorted(totals, key=lambda name: totals[name], reverse=True)
    rows = []
    for name in groups:
        cells = []
        for function in names:
            phases = results[function].get(name, {})
            value = sum(phases.values())
            lazy = phases.get("request", 0.0)
            cells.append(
                "" if value < 0.05 else f"{value:.1f}" + (f" ({lazy:.1f} lazy)" if lazy >= 0.05 else "")
            )
        rows.append([name, *cells])
    rows.append(
        [
            "total beyond the floor",
            *(f"{sum(sum(p.values()) for p in results[f].values()):.1f}" for f in names),
        ]
    )
    return markdown_table(
        ["module group (ms beyond the floor)", *names], rows, right=range(1, len(names) + 1)
    )


# The import ladder: fresh processes importing ever more of what a function loads (no -X importtime).
POWERTOOLS = "aws_lambda_powertools"


def rungs_for(series: ColdSeries) -> list[tuple[str, list[str]]]:
    """(label, modules imported at that rung and every rung before), from the modules the function's
    process had loaded after its first request: each rung charges one family of dependencies."""

    def family(*tops: str) -> list[str]:
        return [name for name in series.modules if name.split(".")[0] in tops]

    powertools = [name for name in family(POWERTOOLS) if name != POWERTOOLS]
    return [
        ("import boto3", ["boto3"]),
        ("+ pydantic: every pydantic module the function loads, no model built", family(*PYDANTIC)),
        ("+ aws_lambda_powertools (its __init__: Logger, Metrics, Tracer)", [POWERTOOLS]),
        (f"+ the {len(powertools)} other Powertools modules the function loads", powertools),
        ("+ import app (agentmessage: own code, its pydantic models built)", ["app"]),
    ]


def ladder(run: Runner, series: ColdSeries, runs: int) -> str:
    """Each rung in fresh processes, the rungs rotated every round. Medians of wall time and of CPU
    time (user + system, which waiting for a busy CPU does not inflate), and the CPU minimum."""
    function = series.function
    rungs: list[tuple[str, Path]] = []
    statements: list[str] = []
    for label, modules in rungs_for(series):
        statements = [*statements, *(f"import {name}" for name in modules)]
        rungs.append((label, run.write_spec({"mode": "imports", "statements": statements})))
    rungs.append(("+ the first request (= the cold start)", series.cold_spec))
    rungs.append(("floor: boto3, the same clients, the same calls", series.floor_spec))
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for index in range(runs):
        shift = index % len(rungs)
        for label, spec in rungs[shift:] + rungs[:shift]:
            result, _, _ = run.run(spec, function)
            wall[label].append(result["total_ms"])
            cpu[label].append(result["cpu_ms"])
    figures = {
        label: (statistics.median(wall[label]), statistics.median(cpu[label]), min(cpu[label]))
        for label, _ in rungs
    }
    rows = []
    previous = (0.0, 0.0, 0.0)
    for label, _ in rungs[:-1]:
        now = figures[label]
        rows.append(
            [
                label,
                *(
                    f"{value:.0f} ({value - before:+.0f})"
                    for value, before in zip(now, previous, strict=True)
                ),
            ]
        )
        previous = now
    floor_label, cold_label = rungs[-1][0], rungs[-2][0]
    floor, cold = figures[floor_label], figures[cold_label]
    rows.append([floor_label, *(f"{value:.0f}" for value in floor)])
    rows.append(["cold / floor", *(f"{c / f:.2f}x ({c - f:+.0f})" for c, f in zip(cold, floor, strict=True))])
    rows.append(["budget at 1.25x the floor", *(f"{1.25 * f:.0f} ({0.25 * f:+.0f})" for f in floor)])
    return markdown_table(
        [
            f"{function.name}: a fresh process that runs ...",
            "wall ms, median (incr.)",
            "CPU ms, median (incr.)",
            "CPU ms, min (incr.)",
        ],
        rows,
        right=range(1, 4),
    )


def module_bodies(run: Runner, functions: dict[str, Function], chosen: list[str], repeats: int) -> str:
    """The project's own modules, each body re-run in-process: median ms, and the functions loading it."""
    costs: dict[str, list[float]] = defaultdict(list)
    users: dict[str, list[str]] = defaultdict(list)
    for name in chosen:
        spec = run.write_spec({"mode": "bodies", "packages": ["agentmessage", "app"], "repeats": repeats})
        result, _, _ = run.run(spec, functions[name])
        for module, ms in result["bodies_ms"].items():
            key = f"app ({name})" if module == "app" else module
            costs[key].append(ms)
            users[key].append(name)
    rows = [
        [module, f"{statistics.median(values):.2f}", ", ".join(users[module])]
        for module, values in sorted(costs.items(), key=lambda item: -statistics.median(item[1]))
    ]
    per_function = {
        name: sum(statistics.median(costs[m]) for m in costs if name in users[m]) for name in chosen
    }
    total = ", ".join(f"{name} {ms:.0f} ms" for name, ms in per_function.items())
    return (
        markdown_table(["module (body only, imports excluded)", "ms", "loaded by"], rows, right=(1,))
        + f"\n\nSum per function: {total}. A first run also pays one-time lazy imports (pydantic's)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("functions", nargs="*", help=f"default: {' '.join(FUNCTIONS)}")
    parser.add_argument("--runs", type=int, default=9, help="runs per function, floor and ladder rung")
    parser.add_argument("--no-ladder", action="store_true", help="only the -X importtime analysis")
    parser.add_argument("--no-tree", action="store_true", help="no -X importtime analysis")
    parser.add_argument("--no-bodies", action="store_true", help="no module body costs")
    args = parser.parse_args()
    functions = build_functions()
    chosen = args.functions or list(FUNCTIONS)
    results: dict[str, dict[str, dict[str, float]]] = {}
    sections: list[str] = []
    ladders: list[str] = []
    with runner() as run:
        for name in chosen:
            series = prepare_cold(run, functions[name])
            if not args.no_ladder:
                print(f"ladder: {name} ({args.runs} runs per rung)", file=sys.stderr, flush=True)
                ladders.append(ladder(run, series, args.runs))
            if not args.no_tree:
                print(f"importtime: {name} ({args.runs} runs each side)", file=sys.stderr, flush=True)
                subject, floor = measure(run, series, args.runs)
                results[name] = excess_by_group(subject, floor)
                sections.append(report_function(functions[name], subject, floor))
        bodies = "" if args.no_bodies else module_bodies(run, functions, chosen, repeats=21)
    if bodies:
        print("## The project's own modules: body cost beyond imports (median of 21 in-process runs)\n")
        print(bodies)
        print()
    if ladders:
        print("## Import ladder (in-process ms from the first line, no -X importtime)\n")
        print("\n\n".join(ladders))
        print()
    if results:
        print("## Imports beyond the floor, by module group (-X importtime, median self time, ms)\n")
        print(matrix(results))
        print()
        print("\n\n".join(sections))


if __name__ == "__main__":
    main()
