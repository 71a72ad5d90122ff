"""Lists that are searches in two steps (Braintree), whole lists without pages, and typed XML.

`IdSearchPagination`: the provider answers a search with every matching id first
(`POST {path}/advanced_search_ids`), then with the objects of at most one page of ids
(`POST {path}/advanced_search`). The kit's cursor is a string a worker checkpoints, so it cannot hold
the ids of a large search; it holds the next `ids_per_cursor` ids (one id search serves that many
objects), the last of them and its offset. When they are used up, the id search is run again and
continues after that last id (or at the offset, should it have gone), so objects created or deleted
meanwhile neither stop the walk nor make it skip what was already listed.

`WholeListPagination`: the provider answers with the whole list at once (Braintree's plans).

`typed_xml_decoder` reads XML whose elements carry their type (`type="array"`, `"integer"`,
`"boolean"`, `nil="true"`: Rails-style XML, Braintree's); `xml_body` writes such XML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from sourcesync.connectors.errors import ConnectorConfigError, ProviderResponseError
from sourcesync.connectors.kit.fields import dig
from sourcesync.connectors.kit.http import Decoder, ParamValue
from sourcesync.connectors.kit.pagination import Headers, JsonObject, PageRequest, Pagination, RawPage

#: Builds a search body from the stream's params (criteria) and the ids of a page (None: the id search).
SearchEncoder = Callable[[Mapping[str, ParamValue], list[str] | None], bytes]


def objects_at(body: Any, items_field: str) -> list[JsonObject]:
    """The objects at `items_field`: a list, a single object (XML lists of one), or nothing."""
    value = dig(body, items_field) if items_field else body
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise ProviderResponseError(f"a list answer without objects at {items_field!r}")


@dataclass(frozen=True)
class IdSearchPagination(Pagination):
    """Search ids, then fetch them a page at a time (`page_size`: the provider's page, 50 for Braintree)."""

    encode: SearchEncoder
    items_field: str = ""
    ids_field: str = "search_results.ids"
    ids_suffix: str = "/advanced_search_ids"
    fetch_suffix: str = "/advanced_search"
    ids_per_cursor: int = 1000

    @staticmethod
    def _state(cursor: str | None) -> dict[str, Any]:
        if cursor is None:
            return {"ids": [], "after": None, "offset": 0, "more": True}
        try:
            state = json.loads(cursor)
        except ValueError as exc:
            raise ConnectorConfigError(f"not an id search cursor: {cursor[:80]!r}") from exc
        if not isinstance(state, dict) or not isinstance(state.get("ids"), list):
            raise ConnectorConfigError(f"not an id search cursor: {cursor[:80]!r}")
        return state

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        ids = self._state(cursor)["ids"]
        if not ids:
            return PageRequest(path + self.ids_suffix, {}, method="POST", body=self.encode(params, None))
        return PageRequest(path + self.fetch_suffix, {}, method="POST", body=self.encode(params, ids[:page_size]))

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        state = self._state(cursor)
        if not state["ids"]:  # the answer of an id search
            found = dig(body, self.ids_field)
            if found is None:
                found = []
            if not isinstance(found, list) or not all(isinstance(i, str | int) for i in found):
                raise ProviderResponseError(f"an id search answer without {self.ids_field!r}")
            every = [str(i) for i in found]
            start = int(state["offset"])
            if state["after"] is not None and state["after"] in every:
                start = every.index(state["after"]) + 1
            chunk = every[start : start + self.ids_per_cursor]
            if not chunk:
                return RawPage([], None, len(every))
            offset = start + len(chunk)
            following = {"ids": chunk, "after": chunk[-1], "offset": offset, "more": offset < len(every)}
            return RawPage([], json.dumps(following, separators=(",", ":")), len(every))
        items = objects_at(body, self.items_field)
        # Objects deleted since the id search are simply absent from their page.
        rest = state["ids"][page_size:]
        if rest or state.get("more"):
            state["ids"] = rest
            return RawPage(items, json.dumps(state, separators=(",", ":")))
        return RawPage(items, None)


@dataclass(frozen=True)
class WholeListPagination(Pagination):
    """The provider answers with the whole list at once: one page, no paging parameters."""

    items_field: str = ""

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        return PageRequest(path, dict(params))

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        return RawPage(objects_at(body, self.items_field), None)


# ------------------------------------------------------------------------------------------ typed XML


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].replace("-", "_")


def _typed(element: Element) -> Any:
    kind = element.get("type")
    children = list(element)
    if kind == "array":
        return [_typed(child) for child in children]
    if element.get("nil") == "true":
        return None
    if not children:
        text = element.text or ""
        if kind == "integer":
            return int(text.strip())
        if kind == "boolean":
            return text.strip() in ("true", "1")
        return text  # strings, decimals, dates and datetimes stay text (the field helpers read them)
    value: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        key, converted = _local(child.tag), _typed(child)
        if key in repeated:
            value[key].append(converted)
        elif key in value:
            value[key] = [value[key], converted]
            repeated.add(key)
        else:
            value[key] = converted
    return value


def typed_xml_decoder() -> Decoder:
    """A decoder of typed XML into `{root: value}`; dashes in names become underscores. Raises
    ValueError for what is not safe XML."""

    def decode(content: bytes) -> Any:
        try:
            root = SafeElementTree.fromstring(content)
        except (SafeElementTree.ParseError, DefusedXmlException) as exc:
            raise ValueError(f"not readable XML: {type(exc).__name__}") from exc
        try:
            return {_local(root.tag): _typed(root)}
        except ValueError as exc:
            raise ValueError("typed XML with a value that does not match its type") from exc

    return decode


def xml_body(value: Any, root: str) -> bytes:
    """`value` as typed XML under `root` (underscores in names become dashes; lists are arrays of
    `item`; True/False booleans; ints integers; datetimes datetimes, in UTC; None nil)."""
    return ("<?xml version='1.0' encoding='UTF-8'?>" + _node(root, value)).encode("utf-8")


def _node(name: str, value: Any) -> str:
    tag = name.replace("_", "-")
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_node(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list | tuple):
        return f'<{tag} type="array">' + "".join(_node("item", v) for v in value) + f"</{tag}>"
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{str(value).lower()}</{tag}>'
    if isinstance(value, datetime):
        return f'<{tag} type="datetime">{value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if value is None:
        return f'<{tag} nil="true"/>'
    return f"<{tag}>{escape(str(value))}</{tag}>"
