"""Response decoders, one per stream: JSON (the default, `None`) or XML into dicts.

`xml_decoder` parses with defusedxml (no entity expansion, no external entities: the answer comes
from outside) and turns elements into dicts: an element's attributes and children become keys, a
repeated child becomes a list, text-only elements become their text, and an element declared as a list
(`list_tags`, e.g. `{"Invoices"}` for Xero's `<Invoices><Invoice/>...</Invoices>`) is always a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

Decoder = Callable[[bytes], Any]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # drop an XML namespace


def element_to_value(element: Element, list_tags: frozenset[str]) -> Any:
    """An element as a dict, a list (for `list_tags`) or its text."""
    children = list(element)
    if _local(element.tag) in list_tags:
        return [element_to_value(child, list_tags) for child in children]
    if not children and not element.attrib:
        return (element.text or "").strip() or None
    value: dict[str, Any] = {_local(name): text for name, text in element.attrib.items()}
    for child in children:
        key, converted = _local(child.tag), element_to_value(child, list_tags)
        if key in value:
            existing = value[key]
            value[key] = (
                [*existing, converted]
                if isinstance(existing, list) and key not in list_tags
                else [
                    existing,
                    converted,
                ]
            )
        else:
            value[key] = converted
    text = (element.text or "").strip()
    if text:
        value["#text"] = text
    return value


def xml_decoder(list_tags: Iterable[str] = ()) -> Decoder:
    """A decoder of XML answers: `{root tag: value}`. Raises ValueError for what is not safe XML."""
    tags = frozenset(list_tags)

    def decode(content: bytes) -> Any:
        try:
            root = SafeElementTree.fromstring(content)
        except (SafeElementTree.ParseError, DefusedXmlException) as exc:
            raise ValueError(f"not readable XML: {type(exc).__name__}") from exc
        return {_local(root.tag): element_to_value(root, tags)}

    return decode
