"""Reading ``infra/template.yaml``: the one source of truth for resources, routes and settings.

A YAML loader that understands CloudFormation's short forms (``!Ref``, ``!GetAtt``, ``!Sub`` ...),
and helpers that read what tests and the local stack need from the template.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short in ("Ref", "Condition"):
    _CfnLoader.add_constructor(f"!{_short}", _tag(_short))
for _short in (
    "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
    "FindInMap", "ImportValue", "GetAZs", "Base64", "Cidr",
):  # fmt: skip
    _CfnLoader.add_constructor(f"!{_short}", _tag(f"Fn::{_short}"))


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def resources(kind: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    template = template or load_template()
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def table_definitions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``CreateTable`` arguments for every table, by logical id (names chosen by the caller)."""
    definitions = {}
    for logical_id, resource in resources("AWS::DynamoDB::Table", template).items():
        props = resource["Properties"]
        request: dict[str, Any] = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "GlobalSecondaryIndexes" in props:
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        definitions[logical_id] = {
            "create": request,
            "ttl": props.get("TimeToLiveSpecification"),
        }
    return definitions


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]
    timeout: int
    events: dict[str, Any]
    memory_size: int = 128
    layer_dirs: tuple[Path, ...] = ()  # each layer's content, as Lambda mounts it under /opt
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions


def functions(template: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    """Every function with its code folder, handler, environment (Globals merged) and events."""
    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    global_env = globals_.get("Environment", {}).get("Variables", {})
    specs = {}
    for logical_id, resource in resources("AWS::Serverless::Function", template).items():
        props = resource["Properties"]
        environment = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(TEMPLATE.parent / props["CodeUri"]).resolve(),
            handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
            environment=environment,
            timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
            events=props.get("Events", {}),
            memory_size=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            layer_dirs=_layer_dirs([*globals_.get("Layers", []), *props.get("Layers", [])], template),
            reserved_concurrency=_optional_int(
                props.get("ReservedConcurrentExecutions", globals_.get("ReservedConcurrentExecutions"))
            ),
        )
    return specs


def _optional_int(value: Any) -> int | None:
    """A plain number from the template; ``None`` when absent or not a literal (a ``!Ref``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _layer_dirs(layers: list[Any], template: dict[str, Any]) -> tuple[Path, ...]:
    """The content folder of each of the template's own layers (``!Ref`` to a LayerVersion)."""
    own = resources("AWS::Serverless::LayerVersion", template)
    dirs = []
    for layer in layers:
        logical_id = layer.get("Ref") if isinstance(layer, dict) else None
        if logical_id in own:
            dirs.append((TEMPLATE.parent / own[logical_id]["Properties"]["ContentUri"]).resolve())
    return tuple(dirs)
