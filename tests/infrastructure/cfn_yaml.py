"""Load a CloudFormation / SAM YAML template into plain data, short tags turned into their long forms.

`yaml.safe_load` refuses `!Ref` and friends; aws-sam-translator and our assertions want the JSON form
that CloudFormation itself works on: `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`,
`!Sub "..."` → `{"Fn::Sub": "..."}`, `!Condition C` → `{"Condition": "C"}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Short tag → long key. `Ref` and `Condition` keep their names; every other one is an `Fn::` function.
SHORT_TAGS: dict[str, str] = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}


class CfnYamlLoader(yaml.SafeLoader):
    """A SafeLoader that also understands CloudFormation's short tags (and only those)."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    long_name = SHORT_TAGS.get(tag_suffix)
    if long_name is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Resource.Attribute` (the attribute may itself contain dots: `Endpoint.Address`).
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {long_name: value}


CfnYamlLoader.add_multi_constructor("!", _construct_short_tag)


def loads(text: str) -> Any:
    """Parse a template's text."""
    return yaml.load(text, Loader=CfnYamlLoader)  # a SafeLoader subclass: no arbitrary objects


def load_template(path: Path) -> dict[str, Any]:
    """Parse a template file; it must be a mapping at the top."""
    data = loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template (top level is {type(data).__name__})")
    return data
