"""Read `template.yaml` the way the local stack needs it: resources, properties, intrinsics.

moto's CloudFormation cannot apply the SAM transform, so the local stack reads the template
itself and resolves the intrinsic functions it uses (Ref, GetAtt, Sub, If, Not, Equals,
Join, Select) against the local resources' physical names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()  # AWS::NoValue: the key or list item disappears


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags (!Ref X) into {"Ref": X}."""


def _tag_constructor(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, overrides: Mapping[str, str] | None = None) -> Template:
        body = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (safe loader subclass)
        defaults = {
            name: str(spec.get("Default", ""))
            for name, spec in (body.get("Parameters") or {}).items()
        }
        unknown = set(overrides or {}) - set(defaults)
        if unknown:
            raise KeyError(f"template.yaml has no parameter(s) {sorted(unknown)}")
        return cls(path, body, {**defaults, **(overrides or {})})

    @property
    def root(self) -> Path:
        return self.path.parent

    def resources(self, type_: str | None = None) -> list[Resource]:
        found = []
        for logical_id, spec in self.body["Resources"].items():
            if type_ is None or spec["Type"] == type_:
                found.append(Resource(logical_id, spec["Type"], spec.get("Properties") or {}))
        return found

    def function_globals(self) -> dict[str, Any]:
        return (self.body.get("Globals") or {}).get("Function") or {}


class Resolver:
    """Evaluates intrinsic functions against known physical ids and attributes."""

    def __init__(
        self,
        template: Template,
        refs: Mapping[str, str],
        attributes: Mapping[tuple[str, str], str],
        pseudo: Mapping[str, str],
    ) -> None:
        self._template = template
        self._refs = {**pseudo, **template.parameters, **refs}
        self._attributes = attributes
        self._conditions = {
            name: bool(self.resolve(expression))
            for name, expression in (template.body.get("Conditions") or {}).items()
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self._refs:
            raise KeyError(f"The local stack cannot resolve Ref {name}")
        return self._refs[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self._attributes[(logical_id, attribute)]
        except KeyError:
            raise KeyError(
                f"The local stack cannot resolve GetAtt {logical_id}.{attribute}"
            ) from None

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        return self._conditions[name]


_INTRINSICS: dict[str, Any] = {
    "Ref": lambda r, arg: r.ref(arg),
    "Fn::GetAtt": lambda r, arg: r.get_att(arg[0], arg[1]),
    "Fn::Sub": lambda r, arg: r.sub(arg),
    "Fn::If": lambda r, arg: r.resolve(arg[1] if r.condition(arg[0]) else arg[2]),
    "Fn::Not": lambda r, arg: not r.resolve(arg[0]),
    "Fn::Equals": lambda r, arg: str(r.resolve(arg[0])) == str(r.resolve(arg[1])),
    "Fn::Join": lambda r, arg: arg[0].join(str(v) for v in r.resolve(arg[1])),
    "Fn::Select": lambda r, arg: r.resolve(arg[1])[int(r.resolve(arg[0]))],
    "Condition": lambda r, arg: r.condition(arg),
}
